//! Inputs the fuzzers (and the chaos suite) found, kept as regression tests.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{Frame, Session, Transmit};
use feedwire_pusher::client::{Client, Config, Event};
use feedwire_pusher::codec::ClientMessage;

/// The server's handshake (activity timeout 30 s).
const ESTABLISHED: &str =
    r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":30}"}"#;

/// The server's answer to a sign-in as user 7.
const SIGNIN_SUCCESS: &str =
    r#"{"event":"pusher:signin_success","data":"{\"user_data\":\"{\\\"id\\\":\\\"7\\\"}\"}"}"#;

/// A client whose connection just opened (no handshake yet), the time, and the channels it sent subscribes
/// for so far.
fn opened() -> (Client, Instant, Vec<String>) {
    let now = Instant::now();
    let mut c = Client::new(Config::new("key").with_host("127.0.0.1"));
    c.connect(now);
    let mut sent = Vec::new();
    subscribes_sent(&mut c, &mut sent);
    c.handle_open(now, None);
    (c, now, sent)
}

/// A connected client signed in as user 7, which sent the subscribe for its user channel; the time, and the
/// channels it sent subscribes for.
fn signed_in() -> (Client, Instant, Vec<String>) {
    let (mut c, now, mut sent) = opened();
    c.handle_frame(now, Frame::from(ESTABLISHED));
    c.handle_frame(now, Frame::from(SIGNIN_SUCCESS));
    subscribes_sent(&mut c, &mut sent);
    assert_eq!(sent, ["#server-to-user-7"]);
    (c, now, sent)
}

/// The channels of the `SubscriptionFailed` events `c` reports now.
fn failed_channels(c: &mut Client) -> Vec<Option<String>> {
    std::iter::from_fn(|| c.poll_event())
        .filter_map(|ev| match ev {
            Event::SubscriptionFailed { channel, .. } => Some(channel),
            _ => None,
        })
        .collect()
}

fn subscribes_sent(c: &mut Client, out: &mut Vec<String>) {
    while let Some(t) = c.poll_transmit() {
        if let Transmit::Send(f) = t
            && let Ok(ClientMessage::Subscribe { channel, .. }) = ClientMessage::decode(&f)
        {
            out.push(channel.to_string());
        }
    }
}

/// Found by the chaos suite (`fuzzing::session`, input `[0,0,5,20,0,6,0,20,0,207,0,0,154,20,0,14]`): a
/// `pusher:signin_success` that arrives before `pusher:connection_established` makes the client send
/// `pusher:subscribe` for `#server-to-user-7` at once, and `connection_established` then sends it again: two
/// subscribes in flight for one channel. Fixed in `client.rs`: a `signin_success` before the connection is
/// established answers nothing of ours and is surfaced as `Event::Unknown`.
#[test]
fn early_signin_success_does_not_double_subscribe_the_user_channel() {
    let (mut c, now, mut sent) = opened();
    c.handle_frame(now, Frame::from(SIGNIN_SUCCESS));
    c.handle_frame(now, Frame::from(ESTABLISHED));
    subscribes_sent(&mut c, &mut sent);
    let n = sent.iter().filter(|s| *s == "#server-to-user-7").count();
    assert!(n <= 1, "{n} subscribes in flight for #server-to-user-7: {sent:?}");
}

/// Found by the chaos suite (`fuzzing::session`, input
/// `[0,0,39,0,0,89,0,0,16,5,78,119,0,70,0,202,98,0,89,62,0,0,0,218]`): a `pusher:subscription_error` that names
/// a channel the client never subscribed to is pinned on the only pending subscription (here the user channel
/// `#server-to-user-7`, just sent after `signin_success`): the application is told that channel failed, the
/// channel is dropped locally while its subscribe is still in flight, and the next `signin_success` sends a
/// second subscribe for it. Fixed in `client.rs` (`on_subscription_error`): inference applies only when
/// the error names no channel; a named channel that is not ours drops nothing.
#[test]
fn a_subscription_error_for_an_unknown_channel_is_not_pinned_on_the_pending_one() {
    let (mut c, now, mut sent) = signed_in();
    c.handle_frame(
        now,
        Frame::from(
            r#"{"event":"pusher:subscription_error","channel":"inventory_changes","data":{"type":"AuthError","error":"no","status":401}}"#,
        ),
    );
    let failed = failed_channels(&mut c);
    assert!(
        !failed.contains(&Some("#server-to-user-7".to_owned())),
        "the error named inventory_changes, not the user channel: {failed:?}"
    );
    c.handle_frame(now, Frame::from(SIGNIN_SUCCESS));
    subscribes_sent(&mut c, &mut sent);
    assert_eq!(
        sent,
        ["#server-to-user-7"],
        "one subscribe in flight for the user channel"
    );
}

/// Found by CI's fuzz smoke run (`pusher_client`, kept as `testdata/fuzz/pusher_client/crash-5b7dc172`): a
/// subscription error pinned on the only pending subscription, the user channel `#server-to-user-7` just sent
/// after `signin_success`, dropped the channel but kept it marked as the user channel, so its later events
/// were taken for user events of a channel the client no longer had. Fixed in `registry.rs`: every removal
/// goes through `remove_channel`, which clears the mark; the user channel's failure is reported like any
/// other's.
#[test]
fn a_failed_user_channel_is_no_longer_the_user_channel() {
    let (mut c, now, _) = signed_in();
    // poxa's shape: an error naming no channel, pinned on the one pending subscription
    c.handle_frame(
        now,
        Frame::from(
            r#"{"event":"pusher:subscription_error","data":{"type":"AuthError","error":"no","status":401}}"#,
        ),
    );
    let failed = failed_channels(&mut c);
    assert_eq!(failed, [Some("#server-to-user-7".to_owned())]);
    c.check_invariants().unwrap();
    c.handle_frame(
        now,
        Frame::from(r##"{"event":"x","channel":"#server-to-user-7","data":"{}"}"##),
    );
    let user_events = std::iter::from_fn(|| c.poll_event())
        .filter(|ev| matches!(ev, Event::UserEvent { .. }))
        .count();
    assert_eq!(
        user_events, 0,
        "an event on a channel that failed is not a user event"
    );
    c.check_invariants().unwrap();
}

/// Every crash input kept under `testdata/fuzz/pusher_client/` replays through `fuzzing::session` (which
/// asserts the session's invariants) without a panic.
#[test]
fn kept_crash_inputs_replay_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz/pusher_client");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        feedwire_pusher::fuzzing::session(&data);
        n += 1;
    }
    assert!(n > 0, "no inputs in {}", dir.display());
}
