//! Bad input of the kinds users hit (malformed JSON, wrong types, oversize frames, nesting beyond serde_json's
//! recursion limit, huge numbers, invalid escapes, empty frames): each gives one clear `Malformed` event
//! carrying the frame (its first 256 bytes), nothing is sent or closed, and the session goes on (a valid event is still delivered).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{Frame, Limits, Session, Transmit};
use feedwire_pusher::DecodeError;
use feedwire_pusher::client::{Client, Config, Event};

const MAX: usize = 64 * 1024;

fn connected() -> (Client, Instant) {
    let now = Instant::now();
    let mut c = Client::new(
        Config::new("key")
            .with_host("127.0.0.1")
            .with_limits(Limits::default().with_max_frame_size(MAX)),
    );
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, None);
    c.handle_frame(
        now,
        Frame::from(
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#,
        ),
    );
    c.subscribe("c").unwrap();
    c.handle_frame(
        now,
        Frame::from(r#"{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}"}"#),
    );
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    assert!(c.is_open());
    (c, now)
}

/// Feeds `bad`, returns its events after checking the session goes on.
fn feed(bad: &str) -> Vec<Event> {
    let (mut c, now) = connected();
    c.handle_frame(now, Frame::from(bad.to_owned()));
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    let sent: Vec<Transmit> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert!(sent.is_empty(), "nothing sent for bad input: {sent:?}");
    assert!(c.is_open(), "still connected");
    c.handle_frame(
        now,
        Frame::from(r#"{"event":"after","channel":"c","data":"{\"ok\":true}"}"#),
    );
    let after: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        matches!(&after[..], [Event::Message { event, .. }] if &**event == "after"),
        "a valid event after {bad:.80?} is delivered: {after:?}"
    );
    events
}

/// The first 256 bytes of `s` (fewer, to end on a character boundary): what `Malformed` keeps of a frame.
fn first_256(s: &str) -> &str {
    let end = (0..=s.len().min(256))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap();
    &s[..end]
}

/// `bad` gives exactly one `Malformed` carrying the frame; returns the error's text.
fn rejected(bad: &str) -> String {
    let events = feed(bad);
    match &events[..] {
        [Event::Malformed { error, frame }] => {
            assert_eq!(frame.as_str(), first_256(bad), "the error carries the frame");
            let text = error.to_string();
            assert!(!text.is_empty());
            text
        }
        other => panic!(
            "{bad:.80?}: expected one Malformed, got {:.300}",
            format!("{other:?}")
        ),
    }
}

#[test]
fn malformed_json() {
    for bad in [
        "not json",
        r#"{"event":"listed","#,
        r#"{"event":"listed" "channel":"c"}"#,
        r#"{"event":"listed","channel":"c","data":"{}"}}"#,
        "{'event':'listed'}",
        "\u{0}",
    ] {
        rejected(bad);
    }
}

#[test]
fn wrong_types() {
    for bad in [
        "[]",
        "42",
        "null",
        r#""pusher:ping""#,
        r#"{"event":5,"channel":"c","data":"{}"}"#,
        r#"{"event":"listed","channel":["c"],"data":"{}"}"#,
        r#"{"channel":"c","data":"{}"}"#,
    ] {
        rejected(bad);
    }
}

#[test]
fn oversize_frames() {
    let text = format!(
        r#"{{"event":"listed","channel":"c","data":"{}"}}"#,
        "x".repeat(MAX)
    );
    let events = feed(&text);
    assert!(
        matches!(&events[..], [Event::Malformed { error: DecodeError::TooLarge { len, max: MAX }, frame }] if *len == text.len() && frame.as_str() == first_256(&text)),
        "{:?}",
        events.first().map(std::mem::discriminant)
    );
    // garbage beyond the limit is refused before any parsing
    let events = feed(&"[".repeat(MAX + 1));
    assert!(matches!(
        &events[..],
        [Event::Malformed {
            error: DecodeError::TooLarge { .. },
            ..
        }]
    ));
}

#[test]
fn nesting_beyond_the_recursion_limit() {
    // at the top level the envelope refuses the first `[` (not an object) before any depth is reached
    rejected(&"[".repeat(10_000));
    rejected(&format!(r#"{{"event":{}"#, "[".repeat(10_000)));
    let balanced = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    rejected(&balanced);
    // where the session parses a typed value (presence data), the depth is an error
    let presence = format!(
        r#"{{"event":"pusher_internal:subscription_succeeded","channel":"presence-p","data":{{"presence":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (mut c, now) = connected();
    c.subscribe("presence-p").unwrap();
    c.provide_auth(
        "presence-p",
        feedwire_pusher::client::ChannelAuth::new("key:sig").with_channel_data(r#"{"user_id":"1"}"#),
    )
    .unwrap();
    while c.poll_event().is_some() {}
    c.handle_frame(now, Frame::from(presence));
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Malformed { .. } | Event::SubscriptionFailed { .. })),
        "{:.300}",
        format!("{events:?}")
    );
    // deep inside the opaque payload of a channel event: valid JSON (the grammar has no depth limit), which
    // serde_json skips iteratively as a raw value (no stack risk): delivered raw, and the application's own
    // parse of it gets serde_json's recursion error, not a stack overflow
    let payload = format!(
        r#"{{"event":"listed","channel":"c","data":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let events = feed(&payload);
    match &events[..] {
        [Event::Message { data: Some(d), .. }] => {
            let err = d.raw().parse::<serde_json::Value>().unwrap_err();
            assert!(err.to_string().contains("recursion"), "{err}");
        }
        other => panic!("{:.300}", format!("{other:?}")),
    }
}

#[test]
fn huge_numbers() {
    // where a number is a string's place or an integer is expected
    for bad in [
        r#"{"event":1e400,"channel":"c","data":"{}"}"#,
        r#"{"event":"listed","channel":1180591620717411303424,"data":"{}"}"#,
    ] {
        rejected(bad);
    }
    // a subscription count of 2^70 cannot be a u64
    rejected(
        r#"{"event":"pusher_internal:subscription_count","channel":"c","data":"{\"subscription_count\":1180591620717411303424}"}"#,
    );
    // in an opaque payload, a huge number is valid JSON: delivered untouched, as pusher-js does
    let events = feed(r#"{"event":"big","channel":"c","data":{"x":1e400,"y":1180591620717411303424}}"#);
    assert!(
        matches!(&events[..], [Event::Message { data: Some(d), .. }] if d.raw().as_str().contains("1e400")),
        "{events:?}"
    );
}

#[test]
fn invalid_escapes() {
    for bad in [
        r#"{"event":"\uZZZZ","channel":"c","data":"{}"}"#,
        r#"{"event":"listed","channel":"\ud800","data":"{}"}"#,
        r#"{"event":"listed\q","channel":"c","data":"{}"}"#,
        r#"{"event":"listed","channel":"c","data":{"x":"\uZZ"}}"#,
    ] {
        rejected(bad);
    }
}

#[test]
fn a_lone_surrogate_in_an_opaque_payload_is_delivered_raw() {
    // the payload is the application's: kept byte for byte (serde_json's raw values check escapes' hex digits,
    // not surrogate pairing), and reading it as text does not panic
    let events = feed(r#"{"event":"listed","channel":"c","data":"\ud800"}"#);
    match &events[..] {
        [Event::Message { data: Some(d), .. }] => {
            assert_eq!(d.raw().as_str(), r#""\ud800""#);
            let _ = d.text();
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_frames() {
    for bad in ["", " ", "\n", "{}"] {
        rejected(bad);
    }
}
