//! What the protocol crates' bad-input tests share: the corpora every protocol refuses alike, and the checks
//! that a session survives a bad frame and reports it as one `Malformed` event.
//!
//! A crate's `tests/bad_input.rs` keeps its own protocol-specific frames and its own `Malformed` variant; the
//! loops, the "the session goes on" checks and the cut of the reported frame live here once.

use std::fmt::{Debug, Display};
use std::time::Instant;

use crate::frame::Frame;
use crate::lifecycle::Lifecycle;

/// Text that is not JSON at all.
pub const NOT_JSON: [&str; 2] = ["not json", "\u{0}"];

/// Valid JSON that is not an object, so no protocol's envelope.
pub const NOT_OBJECTS: [&str; 3] = ["[]", "42", "null"];

/// Frames with nothing in them.
pub const BLANK: [&str; 3] = ["", " ", "\n"];

/// How deep the nesting corpora go: far beyond serde_json's recursion limit (128).
pub const DEEP: usize = 10_000;

/// `levels` opening brackets, never closed: nesting beyond any recursion limit, and not JSON.
pub fn open_brackets(levels: usize) -> String {
    "[".repeat(levels)
}

/// `levels` brackets opened, then closed: valid JSON nested `levels` deep.
pub fn nested(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

/// The first 256 bytes of `s` (fewer, to end on a character boundary): what a `Malformed` event keeps of a
/// frame.
pub fn first_256(s: &str) -> &str {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The first 100 characters of `s`, for failure messages.
pub fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Feeds `bad` to `session`, open at `now`, and returns the events it gave, after checking that the session
/// sent nothing for it, is still open and not stopped, and that `valid` fed next gives events that `delivered`
/// accepts (the session goes on).
pub fn feed<S: Lifecycle>(
    (mut session, now): (S, Instant),
    bad: &str,
    valid: &str,
    delivered: impl FnOnce(&[S::Event]) -> bool,
) -> Vec<S::Event>
where
    S::Event: Debug,
{
    session.handle_frame(now, Frame::from(bad.to_owned()));
    let events: Vec<S::Event> = std::iter::from_fn(|| session.poll_event()).collect();
    let sent: Vec<_> = std::iter::from_fn(|| session.poll_transmit()).collect();
    assert!(sent.is_empty(), "nothing sent for bad input: {sent:?}");
    assert!(session.is_open() && !session.is_stopped(), "still open");
    session.handle_frame(now, Frame::from(valid.to_owned()));
    let after: Vec<S::Event> = std::iter::from_fn(|| session.poll_event()).collect();
    assert!(
        delivered(&after),
        "a valid frame after {:?} is delivered: {after:?}",
        short(bad)
    );
    events
}

/// Checks that `events`, what `bad` gave, are exactly one `Malformed` event (which `malformed` takes apart into
/// its error and the frame it carries, `None` for another event) with a reason to show and the frame's first
/// 256 bytes; returns the error.
pub fn one_malformed<E: Debug, R: Display>(
    bad: &str,
    mut events: Vec<E>,
    malformed: impl FnOnce(E) -> Option<(R, Frame)>,
) -> R {
    let got = format!("{events:?}");
    let one = if events.len() == 1 {
        events.pop().and_then(malformed)
    } else {
        None
    };
    let Some((error, frame)) = one else {
        panic!("{:?}: expected one Malformed, got {}", short(bad), short(&got));
    };
    assert_eq!(
        frame.as_str(),
        first_256(bad),
        "the error carries the frame, cut to 256 bytes"
    );
    assert!(!error.to_string().is_empty(), "{:?}: an empty reason", short(bad));
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_256_cuts_on_a_character_boundary() {
        assert_eq!(first_256("abc"), "abc");
        let long = format!("{}é", "x".repeat(255));
        assert_eq!(first_256(&long), "x".repeat(255));
        assert_eq!(first_256(&"y".repeat(300)), "y".repeat(256));
    }

    /// A stand-in event: `Ok` is a `Malformed` with its reason and frame.
    fn take(event: Result<(&'static str, &'static str), u8>) -> Option<(&'static str, Frame)> {
        event.ok().map(|(reason, frame)| (reason, Frame::from(frame)))
    }

    #[test]
    fn one_malformed_returns_the_error_of_the_one_malformed_event() {
        assert_eq!(one_malformed("bad", vec![Ok(("why", "bad"))], take), "why");
    }

    #[test]
    #[should_panic(expected = "expected one Malformed")]
    fn one_malformed_refuses_another_event() {
        one_malformed("bad", vec![Err(1)], take);
    }

    #[test]
    #[should_panic(expected = "expected one Malformed")]
    fn one_malformed_refuses_more_events() {
        one_malformed("bad", vec![Ok(("why", "bad")), Ok(("why", "bad"))], take);
    }

    #[test]
    #[should_panic(expected = "cut to 256 bytes")]
    fn one_malformed_checks_the_frame() {
        one_malformed("bad", vec![Ok(("why", "other"))], take);
    }

    #[test]
    fn the_nesting_corpora() {
        assert_eq!(open_brackets(3), "[[[");
        assert_eq!(nested(2), "[[]]");
        assert!(serde_json::from_str::<serde_json::Value>(&nested(DEEP)).is_err());
    }
}
