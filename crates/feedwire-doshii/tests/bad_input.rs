//! Bad input of the kinds users hit (malformed JSON, wrong types, oversize frames, nesting beyond serde_json's
//! recursion limit, huge numbers, invalid escapes, empty frames): each gives one clear `Malformed` event
//! carrying (the start of) the frame, nothing is sent or closed, and the session goes on (a valid event is
//! still delivered).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::testing::bad_input::{self, DEEP, short};
use feedwire_core::{Frame, Limits, Session, Transmit, UnixAnchor};
use feedwire_doshii::client::{Client, Config, Event};
use feedwire_doshii::codec::DecodeError;

const MAX: usize = 64 * 1024;

fn connected() -> (Client, Instant) {
    let now = Instant::now();
    let mut c = Client::new(
        Config::app("client-id", UnixAnchor::new(now, 1_700_000_000_000))
            .with_limits(Limits::default().with_max_frame_size(MAX)),
    );
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, None);
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    assert!(c.is_open());
    (c, now)
}

/// Feeds `bad`, returns its events after checking the session goes on (a valid event is delivered).
fn feed(bad: &str) -> Vec<Event> {
    bad_input::feed(
        connected(),
        bad,
        r#"{"emit":["order_updated",{"id":"ok"}]}"#,
        |after| matches!(after, [Event::Doshii(e)] if e.data.id().as_deref() == Some("ok")),
    )
}

/// `bad` gives exactly one `Malformed` carrying the frame (its first 256 bytes, cut at a character boundary,
/// when it is longer); returns the error.
fn rejected(bad: &str) -> DecodeError {
    bad_input::one_malformed(bad, feed(bad), |event| match event {
        Event::Malformed { error, frame } => Some((error, frame)),
        _ => None,
    })
}

/// `text` gives exactly one `Unknown` event carrying it whole: valid JSON of a shape the codec does not know is
/// kept and surfaced, never an error.
fn unknown(text: &str) {
    match &feed(text)[..] {
        [Event::Unknown(raw)] => assert_eq!(raw.as_str(), text),
        other => panic!(
            "{:?}: expected Unknown, got {}",
            short(text),
            short(&format!("{other:?}"))
        ),
    }
}

#[test]
fn malformed_json() {
    for bad in bad_input::NOT_JSON.into_iter().chain([
        r#"{"emit":["order_updated","#,
        r#"{"emit" ["order_updated",{}]}"#,
        r#"{"emit":["order_updated",{}]}}"#,
        "{'emit':['order_updated']}",
        r#""primus::ping::"#,
    ]) {
        rejected(bad);
    }
}

#[test]
fn wrong_types() {
    for bad in [
        r#"{"emit":"order_updated"}"#,
        r#"{"emit":[5,{}]}"#,
        r#"{"emit":[]}"#,
        r#"{"emit":{"order_updated":{}}}"#,
    ] {
        rejected(bad);
    }
    // valid JSON of another shape is kept and surfaced as `Unknown` (the crate's rule for unknown shapes)
    for text in bad_input::NOT_OBJECTS
        .into_iter()
        .chain([r#""""#, r#"{"doshii":"pong"}"#])
    {
        unknown(text);
    }
}

#[test]
fn heartbeat_stamps_are_echoed_whatever_they_hold() {
    // a pong's or a Primus ping's stamp is opaque: a non-numeric stamp still counts as liveness (a pong) or
    // is echoed back (a ping), and is never parsed as a number
    for text in [
        r#"{"doshii":{"pong":"soon"}}"#,
        r#"{"doshii":{"pong":1180591620717411303424}}"#,
        r#"{"doshii":{"pong":1e400}}"#,
    ] {
        assert!(matches!(&feed(text)[..], [Event::Pong { .. }]), "{text}");
    }
    let (mut c, now) = connected();
    c.handle_frame(now, Frame::from(r#""primus::ping::1180591620717411303424""#));
    assert!(matches!(c.poll_event(), Some(Event::ServerPing { .. })));
    match c.poll_transmit() {
        Some(Transmit::Send(f)) => assert_eq!(f.as_str(), r#""primus::pong::1180591620717411303424""#),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversize_frames() {
    let text = format!(r#"{{"emit":["order_updated",{{"id":"{}"}}]}}"#, "x".repeat(MAX));
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
    rejected(&format!(r#"{{"emit":{}"#, bad_input::open_brackets(DEEP)));
    rejected(&format!(r#"{{"emit":[{}]}}"#, bad_input::nested(DEEP)));
    // balanced, it is valid JSON (the grammar has no depth limit) that serde_json skips iteratively as a raw
    // value, so no stack is at risk: an unknown shape, surfaced whole
    unknown(&bad_input::nested(DEEP));
}

#[test]
fn deep_nesting_in_an_opaque_payload_is_delivered_raw() {
    // valid JSON (the grammar has no depth limit), which serde_json skips iteratively as a raw value (no stack
    // risk): delivered raw, and the application's own parse of it gets serde_json's recursion error
    let deep = format!(
        r#"{{"emit":["order_updated",{{"id":"d","x":{}}}]}}"#,
        bad_input::nested(DEEP)
    );
    match &feed(&deep)[..] {
        [Event::Doshii(e)] => {
            assert_eq!(e.data.id().as_deref(), Some("d"));
        }
        [Event::Malformed { error, .. }] => assert!(error.to_string().contains("recursion"), "{error}"),
        other => panic!("{:.300}", format!("{other:?}")),
    }
}

#[test]
fn huge_numbers() {
    // where the event name belongs
    rejected(r#"{"emit":[1e400,{}]}"#);
    rejected(r#"{"emit":[1180591620717411303424,{}]}"#);
    // in an event's payload, a huge number is valid JSON: delivered untouched
    match &feed(r#"{"emit":["order_updated",{"id":"n","x":1e400,"y":1180591620717411303424}]}"#)[..] {
        [Event::Doshii(e)] => assert_eq!(e.data.id().as_deref(), Some("n")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_escapes() {
    for bad in [
        r#"{"emit":["\uZZZZ",{}]}"#,
        r#"{"emit":["order_updated\q",{}]}"#,
        r#"{"emit":["order_updated",{"id":"\uZZ"}]}"#,
        r#"{"emit":["\ud800",{}]}"#,
    ] {
        rejected(bad);
    }
}

#[test]
fn empty_frames() {
    for bad in bad_input::BLANK {
        rejected(bad);
    }
}
