//! Shared set-up for the feedwire benches and the allocation-budget test: the frames they measure (from
//! `testdata/`) and sessions already connected and subscribed, so a measurement sees only the path it names.
#![forbid(unsafe_code)]
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin; nothing else reads it

use std::time::Instant;

use feedwire_core::{Frame, Session};

/// Drains everything a session queued.
pub fn drain<S: Session>(s: &mut S) {
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
}

/// Pusher frames and sessions.
pub mod pusher {
    use super::*;
    use feedwire_pusher::client::{Client, Config};

    /// The 417-byte BitSkins `listed` channel event.
    pub const LISTED: &str =
        include_str!("../../crates/feedwire-pusher/testdata/frames/server_bitskins_listed.json");

    /// The hosted service's `pusher:connection_established`.
    pub const ESTABLISHED: &str = include_str!(
        "../../crates/feedwire-pusher/testdata/frames/server_connection_established_hosted.json"
    );

    /// A client for the BitSkins configuration, `inventory_changes` wanted, its connection open and waiting
    /// for `pusher:connection_established`.
    pub fn opened_client() -> Client {
        let now = Instant::now();
        let mut c = Client::new(Config::bitskins());
        c.connect(now);
        c.subscribe("inventory_changes").unwrap_or_else(|e| panic!("{e}"));
        drain(&mut c);
        c.handle_open(now, None);
        c
    }

    /// A client connected to the BitSkins configuration and subscribed to `inventory_changes`.
    pub fn connected_client() -> Client {
        let now = Instant::now();
        let mut c = opened_client();
        c.handle_frame(now, Frame::from(ESTABLISHED.trim_end().to_owned()));
        c.handle_frame(
            now,
            Frame::from(r#"{"event":"pusher_internal:subscription_succeeded","channel":"inventory_changes","data":"{}"}"#),
        );
        drain(&mut c);
        c
    }
}

/// ActionCable frames and sessions.
pub mod actioncable {
    use super::*;
    use feedwire_actioncable::client::{Client, Config};
    use feedwire_actioncable::identifier::Identifier;

    /// The ~320-byte data frame with an escaped identifier.
    pub const DATA: &str = include_str!(
        "../../crates/feedwire-actioncable/testdata/frames/server_message_escaped_identifier_320b.json"
    );
    /// The confirmation of the subscription in [`DATA`].
    pub const CONFIRM: &str = r#"{"identifier":"{\"channel\":\"ChatChannel\",\"room\":\"\u003cb\u003eR\u0026D\u003c/b\u003e\"}","type":"confirm_subscription"}"#;

    /// The identifier of [`DATA`]'s subscription.
    pub fn room() -> Identifier {
        Identifier::builder("ChatChannel")
            .param("room", "<b>R&D</b>")
            .unwrap_or_else(|e| panic!("{e}"))
            .build()
    }

    /// A client welcomed and confirmed on [`room`].
    pub fn connected_client() -> Client {
        let now = Instant::now();
        let mut c = Client::new(Config::new("ws://127.0.0.1:28080/cable"));
        c.subscribe(now, room()).unwrap_or_else(|e| panic!("{e}"));
        c.connect(now);
        drain(&mut c);
        c.handle_open(now, Some("actioncable-v1-json"));
        c.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
        c.handle_frame(now, Frame::from(CONFIRM));
        drain(&mut c);
        c
    }
}
