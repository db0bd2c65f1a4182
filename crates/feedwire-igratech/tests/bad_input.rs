//! Bad input of the kinds users hit (malformed JSON, wrong types, oversize frames, nesting beyond serde_json's
//! recursion limit, huge numbers, invalid escapes, empty frames): a broken envelope gives one `Malformed` event
//! carrying the frame (its first 256 bytes); a payload of the wrong shape is delivered raw (parsed on demand, where the application's
//! parse gives the error) or, with `checked_payloads`, gives one `Mismatch`. Nothing is sent or closed, and
//! the session goes on (a valid bet is still delivered).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::testing::bad_input::{self, DEEP, short};
use feedwire_core::{Limits, Session};
use feedwire_igratech::client::{Client, Config, Event};

const MAX: usize = 64 * 1024;

fn connected(checked: bool) -> (Client, Instant) {
    let now = Instant::now();
    let mut c = Client::new(
        Config::default()
            .with_checked_payloads(checked)
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

/// Feeds `bad`, returns its events after checking the session goes on (a valid bet is delivered).
fn feed(bad: &str, checked: bool) -> Vec<Event> {
    bad_input::feed(
        connected(checked),
        bad,
        r#"{"event":"bet","data":{"gameId":"ok","bets":[]}}"#,
        |after| matches!(after, [Event::Bet(p)] if p.parse().is_ok()),
    )
}

/// `bad` gives exactly one `Malformed` carrying the frame (cut to its first 256 bytes), checked or not;
/// returns the reason.
fn malformed(bad: &str) -> String {
    let [_, reason] = [false, true].map(|checked| {
        bad_input::one_malformed(bad, feed(bad, checked), |event| match event {
            Event::Malformed { error, frame } => Some((error, frame)),
            _ => None,
        })
    });
    reason
}

/// A well-formed envelope whose bet payload does not fit the model: delivered raw (the application's parse
/// fails with a clear error), or one `Mismatch` with `checked_payloads`.
fn misfit(text: &str) -> String {
    match &feed(text, false)[..] {
        [Event::Bet(p)] => assert!(p.parse().is_err(), "{}", short(text)),
        other => panic!(
            "{:?}: expected a raw Bet, got {}",
            short(text),
            short(&format!("{other:?}"))
        ),
    }
    match &feed(text, true)[..] {
        [Event::Mismatch { reason, .. }] => reason.clone(),
        other => panic!(
            "{:?}: expected one Mismatch, got {}",
            short(text),
            short(&format!("{other:?}"))
        ),
    }
}

#[test]
fn malformed_json() {
    for bad in bad_input::NOT_JSON.into_iter().chain([
        r#"{"event":"bet","#,
        r#"{"event":"bet" "data":{}}"#,
        r#"{"event":"bet","data":{}}}"#,
        "{'event':'bet'}",
    ]) {
        malformed(bad);
    }
}

#[test]
fn wrong_types() {
    for bad in
        bad_input::NOT_OBJECTS
            .into_iter()
            .chain([r#""bet""#, r#"{"event":5,"data":{}}"#, r#"{"data":{}}"#])
    {
        malformed(bad);
    }
    misfit(r#"{"event":"bet","data":{"gameId":[1],"bets":5}}"#);
    misfit(r#"{"event":"bet"}"#);
}

#[test]
fn oversize_frames() {
    let text = format!(
        r#"{{"event":"bet","data":{{"gameId":"{}","bets":[]}}}}"#,
        "x".repeat(MAX)
    );
    assert!(malformed(&text).contains(&MAX.to_string()));
    malformed(&bad_input::open_brackets(MAX + 1));
}

#[test]
fn nesting_beyond_the_recursion_limit() {
    malformed(&bad_input::open_brackets(DEEP));
    malformed(&bad_input::nested(DEEP));
    malformed(&format!(r#"{{"event":{}"#, bad_input::open_brackets(DEEP)));
    // deep inside the payload: valid JSON (the grammar has no depth limit), which serde_json skips
    // iteratively as a raw value (no stack risk); the typed parse refuses it (before any stack is at risk)
    misfit(&format!(
        r#"{{"event":"bet","data":{{"gameId":1,"bets":{}}}}}"#,
        bad_input::nested(DEEP)
    ));
}

#[test]
fn huge_numbers() {
    malformed(r#"{"event":1e400,"data":{}}"#);
    malformed(r#"{"event":1180591620717411303424,"data":{}}"#);
    // a game id of 2^70 fits neither an i64 nor a string
    misfit(r#"{"event":"bet","data":{"gameId":1180591620717411303424,"bets":[]}}"#);
}

#[test]
fn invalid_escapes() {
    for bad in [
        r#"{"event":"\uZZZZ","data":{}}"#,
        r#"{"event":"bet\q","data":{}}"#,
        r#"{"event":"\ud800","data":{}}"#,
        r#"{"event":"bet","data":{"gameId":"\uZZ","bets":[]}}"#,
    ] {
        malformed(bad);
    }
    // a lone surrogate inside the payload passes the raw-value check (hex digits only): the typed parse
    // refuses it
    misfit(r#"{"event":"bet","data":{"gameId":"\ud800","bets":[]}}"#);
}

#[test]
fn empty_frames() {
    for bad in bad_input::BLANK.into_iter().chain(["{}"]) {
        malformed(bad);
    }
}
