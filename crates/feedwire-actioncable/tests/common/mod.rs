//! What several of this crate's test files share: a client that is welcomed and subscribed.
#![allow(dead_code)] // each test file uses its own part

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config};
use feedwire_actioncable::identifier::Identifier;
use feedwire_core::{Frame, Session};

/// The identifier most tests subscribe to.
pub const ROOM: &str = r#"{"channel":"ChatChannel","id":42}"#;

/// `ROOM` as the server spells it inside a frame (a JSON string).
pub const ROOM_IN_FRAME: &str = r#"{\"channel\":\"ChatChannel\",\"id\":42}"#;

/// A client made with `config`, welcomed and subscribed to `room`, whose confirmation spells the identifier
/// `spelled` (as it stands in a frame's JSON string); its queues are drained.
pub fn confirmed(now: Instant, config: Config, room: &Identifier, spelled: &str) -> Client {
    let mut c = Client::new(config);
    c.subscribe(now, room.clone()).unwrap();
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, Some("actioncable-v1-json"));
    c.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
    c.handle_frame(
        now,
        Frame::from(format!(
            r#"{{"identifier":"{spelled}","type":"confirm_subscription"}}"#
        )),
    );
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    assert!(c.is_confirmed(room));
    c
}

/// A client made with `config`, welcomed and subscribed to [`ROOM`] (confirmed); its queues are drained.
pub fn in_room(now: Instant, config: Config) -> (Client, Identifier) {
    let room = Identifier::from_raw(ROOM).unwrap();
    (confirmed(now, config, &room, ROOM_IN_FRAME), room)
}
