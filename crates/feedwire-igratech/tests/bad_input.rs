//! Bad input of the kinds users hit (malformed JSON, wrong types, oversize frames, nesting beyond serde_json's
//! recursion limit, huge numbers, invalid escapes, empty frames): a broken envelope gives one `Malformed` event
//! carrying the frame (its first 256 bytes); a payload of the wrong shape is delivered raw (parsed on demand, where the application's
//! parse gives the error) or, with `checked_payloads`, gives one `Mismatch`. Nothing is sent or closed, and
//! the session goes on (a valid bet is still delivered).
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{Frame, Limits, Session, Transmit};
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

/// The first 100 characters, for failure messages.
fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Feeds `bad`, returns its events after checking the session goes on.
fn feed(bad: &str, checked: bool) -> Vec<Event> {
    let (mut c, now) = connected(checked);
    c.handle_frame(now, Frame::from(bad.to_owned()));
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    let sent: Vec<Transmit> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert!(sent.is_empty(), "nothing sent for bad input: {sent:?}");
    assert!(c.is_open() && !c.is_stopped(), "still open");
    c.handle_frame(
        now,
        Frame::from(r#"{"event":"bet","data":{"gameId":"ok","bets":[]}}"#),
    );
    let after: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        matches!(&after[..], [Event::Bet(p)] if p.parse().is_ok()),
        "a valid bet after {:?} is delivered: {after:?}",
        short(bad)
    );
    events
}

/// `bad` gives exactly one `Malformed` carrying the frame (cut to its first 256 bytes), checked or not;
/// returns the reason.
fn malformed(bad: &str) -> String {
    let mut reason = String::new();
    for checked in [false, true] {
        match &feed(bad, checked)[..] {
            [Event::Malformed { error: r, frame }] => {
                let kept = &bad[..bad.len().min(256)];
                assert_eq!(
                    frame.as_str(),
                    kept,
                    "the error carries the frame (its first 256 bytes)"
                );
                assert!(!r.is_empty());
                reason = r.clone();
            }
            other => panic!(
                "{:?}: expected one Malformed, got {}",
                short(bad),
                short(&format!("{other:?}"))
            ),
        }
    }
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
    for bad in [
        "not json",
        r#"{"event":"bet","#,
        r#"{"event":"bet" "data":{}}"#,
        r#"{"event":"bet","data":{}}}"#,
        "{'event':'bet'}",
        "\u{0}",
    ] {
        malformed(bad);
    }
}

#[test]
fn wrong_types() {
    for bad in [
        "[]",
        "42",
        "null",
        r#""bet""#,
        r#"{"event":5,"data":{}}"#,
        r#"{"data":{}}"#,
    ] {
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
    malformed(&"[".repeat(MAX + 1));
}

#[test]
fn nesting_beyond_the_recursion_limit() {
    malformed(&"[".repeat(10_000));
    malformed(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)));
    malformed(&format!(r#"{{"event":{}"#, "[".repeat(10_000)));
    // deep inside the payload: valid JSON (the grammar has no depth limit), which serde_json skips
    // iteratively as a raw value (no stack risk); the typed parse refuses it (before any stack is at risk)
    misfit(&format!(
        r#"{{"event":"bet","data":{{"gameId":1,"bets":{}{}}}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
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
    for bad in ["", " ", "\n", "{}"] {
        malformed(bad);
    }
}
