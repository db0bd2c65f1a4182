//! Bad input of the kinds users hit (malformed JSON, wrong types, oversize frames, nesting beyond serde_json's
//! recursion limit, huge numbers, invalid escapes, empty frames): each gives one clear `Malformed` event
//! carrying the frame (its first 256 bytes), nothing is sent or closed, and the session goes on (a valid
//! broadcast is still delivered).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

mod common;

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config, Event};
use feedwire_actioncable::codec::DecodeError;
use feedwire_actioncable::identifier::Identifier;
use feedwire_core::testing::bad_input::{self, DEEP};
use feedwire_core::{Frame, Limits, Session};

const MAX: usize = 64 * 1024;

fn connected() -> (Client, Instant) {
    let now = Instant::now();
    let config = Config::new("ws://h/cable").with_limits(Limits::default().with_max_frame_size(MAX));
    (common::in_room(now, config).0, now)
}

/// Feeds `bad`, returns its events after checking the session goes on (a valid broadcast is delivered).
fn feed(bad: &str) -> Vec<Event> {
    bad_input::feed(
        connected(),
        bad,
        r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"ok":true}}"#,
        |after| matches!(after, [Event::Message { message, .. }] if message.as_str() == r#"{"ok":true}"#),
    )
}

/// `bad` gives exactly one `Malformed` carrying the frame (cut to 256 bytes); returns the error.
fn rejected(bad: &str) -> DecodeError {
    bad_input::one_malformed(bad, feed(bad), |event| match event {
        Event::Malformed { error, frame } => Some((error, frame.expose().clone())),
        _ => None,
    })
}

#[test]
fn malformed_json() {
    for bad in bad_input::NOT_JSON.into_iter().chain([
        r#"{"type":"ping","#,
        r#"{"type":"ping" "message":1}"#,
        r#"{"type":"ping","message":1}}"#,
        "{'type':'ping'}",
    ]) {
        rejected(bad);
    }
}

#[test]
fn wrong_types() {
    for bad in bad_input::NOT_OBJECTS.into_iter().chain([
        r#""welcome""#,
        r#"{"type":5}"#,
        r#"{"identifier":5,"message":{}}"#,
        r#"{"identifier":{"channel":"ChatChannel"},"message":{}}"#,
    ]) {
        rejected(bad);
    }
}

#[test]
fn a_ping_with_a_bad_time_still_counts_as_a_ping() {
    // @rails/actioncable records a ping whatever its `message`; so does the client (liveness only): no event,
    // nothing sent, the session goes on
    for bad in [
        r#"{"type":"ping","message":"soon"}"#,
        r#"{"type":"ping","message":1180591620717411303424}"#,
        r#"{"type":"ping","message":1e400}"#,
        r#"{"type":"ping"}"#,
    ] {
        let events = feed(bad);
        assert!(events.is_empty(), "{bad}: {events:?}");
    }
}

#[test]
fn oversize_frames() {
    let text = format!(
        r#"{{"identifier":"{{\"channel\":\"ChatChannel\",\"id\":42}}","message":"{}"}}"#,
        "x".repeat(MAX)
    );
    // and garbage beyond the limit, refused before any parsing
    for text in [text, bad_input::open_brackets(MAX + 1)] {
        let error = rejected(&text);
        assert!(
            matches!(error, DecodeError::TooLarge { len, max: MAX } if len == text.len()),
            "{error}"
        );
    }
}

#[test]
fn nesting_beyond_the_recursion_limit() {
    rejected(&bad_input::open_brackets(DEEP));
    rejected(&bad_input::nested(DEEP));
    rejected(&format!(r#"{{"type":{}"#, bad_input::open_brackets(DEEP)));
    rejected(&format!(
        r#"{{"type":"ping","message":{}}}"#,
        bad_input::nested(DEEP)
    ));
    // deep inside a broadcast's message: the codec's own scanner refuses it too
    let deep = format!(
        r#"{{"identifier":"{{\"channel\":\"ChatChannel\",\"id\":42}}","message":{}}}"#,
        bad_input::nested(DEEP)
    );
    let error = rejected(&deep);
    assert!(error.to_string().contains("nesting"), "{error}");
}

/// The nesting bound is 128 levels of arrays and objects, the envelope included (serde_json's own limit): a
/// broadcast whose `message` nests 127 deep is delivered, one level more is refused.
#[test]
fn nesting_bound_counts_the_envelope() {
    let frame = |levels: usize| {
        format!(
            r#"{{"identifier":"{{\"channel\":\"ChatChannel\",\"id\":42}}","message":{}}}"#,
            bad_input::nested(levels)
        )
    };
    match &feed(&frame(127))[..] {
        [Event::Message { message, .. }] => assert_eq!(message.as_str().len(), 2 * 127),
        other => panic!("127 levels in the message: {other:?}"),
    }
    let error = rejected(&frame(128));
    assert!(error.to_string().contains("nesting"), "{error}");
}

#[test]
fn huge_numbers() {
    rejected(r#"{"type":1e400}"#);
    rejected(r#"{"identifier":1180591620717411303424,"message":{}}"#);
    // an AnyCable stream offset of 2^70 cannot be a u64
    rejected(
        r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{},"stream_id":"s","epoch":"e","offset":1180591620717411303424}"#,
    );
    // in an opaque message, a huge number is valid JSON: delivered untouched, as @rails/actioncable does
    match &feed(
        r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"x":1e400,"y":1180591620717411303424}}"#,
    )[..]
    {
        [Event::Message { message, .. }] => assert!(message.as_str().contains("1e400")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_escapes() {
    for bad in [
        r#"{"type":"\uZZZZ"}"#,
        r#"{"type":"ping\q","message":1}"#,
        r#"{"identifier":"{\"channel\":\"ChatChannel\",\"id\":42}","message":{"x":"\uZZ"}}"#,
    ] {
        rejected(bad);
    }
    // a lone surrogate in an identifier decodes (lossily) to an identifier no subscription has: `Unmatched`,
    // carrying the frame, as @rails/actioncable finds no subscription for it
    assert!(matches!(
        &feed(r#"{"identifier":"\ud800","message":{}}"#)[..],
        [Event::Unmatched { .. }]
    ));
}

#[test]
fn empty_frames() {
    for bad in bad_input::BLANK {
        rejected(bad);
    }
}

/// The client remembers how the server spells an identifier (to match later frames with one comparison);
/// any other spelling of the same identifier still matches, a near miss never does, and after a reconnect a
/// server's new spelling is learned afresh.
#[test]
fn every_spelling_of_an_identifier_matches_and_only_that_identifier() {
    let now = Instant::now();
    let room = Identifier::builder("ChatChannel")
        .param("room", "<b>R&D</b>")
        .unwrap()
        .build();
    let mut c = Client::new(Config::new("ws://h/cable"));
    c.subscribe(now, room.clone()).unwrap();
    c.connect(now);
    let open = |c: &mut Client| {
        while c.poll_transmit().is_some() {}
        c.handle_open(now, Some("actioncable-v1-json"));
        c.handle_frame(now, Frame::from(r#"{"type":"welcome"}"#));
    };
    let rails = r#"{\"channel\":\"ChatChannel\",\"room\":\"\u003cb\u003eR\u0026D\u003c/b\u003e\"}"#;
    let plain = r#"{\"channel\":\"ChatChannel\",\"room\":\"<b>R&D</b>\"}"#;
    let odd = r#"{\"channel\":\"ChatChannel\",\"room\":\"\u003Cb>R\u0026D</b\u003e\"}"#;
    let near = r#"{\"channel\":\"ChatChannel\",\"room\":\"\u003cb\u003eR\u0026D\u003c/b\u003f\"}"#;
    let data = |id: &str, n: u32| Frame::from(format!(r#"{{"identifier":"{id}","message":{{"n":{n}}}}}"#));
    let delivered = |c: &mut Client| -> Vec<String> {
        std::iter::from_fn(|| c.poll_event())
            .map(|e| match e {
                Event::Message { message, .. } => message.as_str().to_owned(),
                Event::Unmatched { .. } => "unmatched".to_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    };
    let confirm = |c: &mut Client, id: &str| {
        c.handle_frame(
            now,
            Frame::from(format!(
                r#"{{"identifier":"{id}","type":"confirm_subscription"}}"#
            )),
        );
        assert!(c.is_confirmed(&room));
    };
    open(&mut c);
    confirm(&mut c, rails);
    let _ = delivered(&mut c);
    for (n, id) in [rails, plain, odd, rails, near, plain].into_iter().enumerate() {
        c.handle_frame(now, data(id, n as u32));
    }
    assert_eq!(
        delivered(&mut c),
        [
            r#"{"n":0}"#,
            r#"{"n":1}"#,
            r#"{"n":2}"#,
            r#"{"n":3}"#,
            "unmatched",
            r#"{"n":5}"#
        ]
    );
    // a new connection to a server that spells it plainly
    c.handle_close(now, None);
    let _ = delivered(&mut c);
    c.handle_timeout(now + std::time::Duration::from_secs(60));
    // the backoff has passed: the client dialed again
    open(&mut c);
    confirm(&mut c, plain);
    let _ = delivered(&mut c);
    c.handle_frame(now, data(plain, 6));
    c.handle_frame(now, data(rails, 7));
    assert_eq!(delivered(&mut c), [r#"{"n":6}"#, r#"{"n":7}"#]);
}
