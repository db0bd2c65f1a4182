//! Bad input of the kinds users hit (malformed JSON, wrong types, oversize frames, nesting beyond serde_json's
//! recursion limit, huge numbers, invalid escapes, empty frames): each gives one clear `Malformed` event
//! carrying the frame (its first 256 bytes), nothing is sent or closed, and the session goes on (a valid event is still delivered).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

mod common;

use std::time::Instant;

use feedwire_core::testing::bad_input::{self, DEEP};
use feedwire_core::{Frame, Limits, Session};
use feedwire_pusher::DecodeError;
use feedwire_pusher::client::{Client, Config, Event};

const MAX: usize = 64 * 1024;

fn connected() -> (Client, Instant) {
    let now = Instant::now();
    let config = Config::new("key")
        .with_host("127.0.0.1")
        .with_limits(Limits::default().with_max_frame_size(MAX));
    (common::subscribed(now, config, "c"), now)
}

/// Feeds `bad`, returns its events after checking the session goes on (a valid event is delivered).
fn feed(bad: &str) -> Vec<Event> {
    bad_input::feed(
        connected(),
        bad,
        r#"{"event":"after","channel":"c","data":"{\"ok\":true}"}"#,
        |after| matches!(after, [Event::Message { event, .. }] if &**event == "after"),
    )
}

/// `bad` gives exactly one `Malformed` carrying the frame; returns the error's text.
fn rejected(bad: &str) -> String {
    bad_input::one_malformed(bad, feed(bad), |event| match event {
        Event::Malformed { error, frame } => Some((error, frame)),
        _ => None,
    })
    .to_string()
}

#[test]
fn malformed_json() {
    for bad in bad_input::NOT_JSON.into_iter().chain([
        r#"{"event":"listed","#,
        r#"{"event":"listed" "channel":"c"}"#,
        r#"{"event":"listed","channel":"c","data":"{}"}}"#,
        "{'event':'listed'}",
    ]) {
        rejected(bad);
    }
}

#[test]
fn wrong_types() {
    for bad in bad_input::NOT_OBJECTS.into_iter().chain([
        r#""pusher:ping""#,
        r#"{"event":5,"channel":"c","data":"{}"}"#,
        r#"{"event":"listed","channel":["c"],"data":"{}"}"#,
        r#"{"channel":"c","data":"{}"}"#,
    ]) {
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
        matches!(&events[..], [Event::Malformed { error: DecodeError::TooLarge { len, max: MAX }, frame }] if *len == text.len() && frame.as_str() == bad_input::first_256(&text)),
        "{:?}",
        events.first().map(std::mem::discriminant)
    );
    // garbage beyond the limit is refused before any parsing
    let events = feed(&bad_input::open_brackets(MAX + 1));
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
    rejected(&bad_input::open_brackets(DEEP));
    rejected(&format!(r#"{{"event":{}"#, bad_input::open_brackets(DEEP)));
    rejected(&bad_input::nested(DEEP));
    // where the session parses a typed value (presence data), the depth is an error
    let presence = format!(
        r#"{{"event":"pusher_internal:subscription_succeeded","channel":"presence-p","data":{{"presence":{}}}}}"#,
        bad_input::nested(DEEP)
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
        r#"{{"event":"listed","channel":"c","data":{}}}"#,
        bad_input::nested(DEEP)
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
    for bad in bad_input::BLANK.into_iter().chain(["{}"]) {
        rejected(bad);
    }
}
