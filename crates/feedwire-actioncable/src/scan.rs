//! An allocation-free JSON scanner for the server envelope: it validates the whole frame (RFC 8259 grammar,
//! nesting limited to 128) and hands out the exact text of each top-level member's value. Strings and member
//! values are scanned by feedwire-core's validator (eight bytes at a time inside strings).
//!
//! serde_json allocates its scratch buffer when it skips a nested value or unescapes a string; the data-frame
//! path must not allocate, so the envelope is scanned here and payloads become `&RawValue` without a copy.

use serde_json::value::RawValue;

use crate::codec::DecodeError;

const MAX_DEPTH: u32 = 128;

pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    fn err(&self, expected: &'static str) -> DecodeError {
        DecodeError::Syntax {
            at: self.pos,
            expected,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn slice(&self, start: usize) -> Result<&'a str, DecodeError> {
        self.text.get(start..self.pos).ok_or(DecodeError::Syntax {
            at: start,
            expected: "a value",
        })
    }

    /// A string literal (with its quotes); the scanner is at the opening quote.
    fn string(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        self.pos = feedwire_core::scan_json_string(self.text, start)?;
        self.slice(start)
    }

    /// One value; returns its exact text. Leading whitespace is skipped first. Containers count toward the
    /// nesting limit from `depth`.
    pub(crate) fn value(&mut self, depth: u32) -> Result<&'a str, DecodeError> {
        let room = MAX_DEPTH.saturating_sub(depth) as usize;
        let (start, end) = feedwire_core::scan_json_value(self.text, self.pos, room)?;
        self.pos = end;
        self.slice(start)
    }

    /// An object; `f` gets each member's key literal and value text.
    pub(crate) fn members(
        &mut self,
        depth: u32,
        mut f: impl FnMut(&'a str, &'a str) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        self.ws();
        if !self.eat(b'{') {
            return Err(self.err("an object"));
        }
        self.ws();
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if !self.eat(b':') {
                return Err(self.err("a colon"));
            }
            let value = self.value(depth)?;
            f(key, value)?;
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(());
            }
            return Err(self.err("a comma or a closing brace"));
        }
    }

    /// An array; `f` gets each element's text.
    pub(crate) fn elements(
        &mut self,
        depth: u32,
        mut f: impl FnMut(&'a str) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        self.ws();
        if !self.eat(b'[') {
            return Err(self.err("an array"));
        }
        self.ws();
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            let v = self.value(depth)?;
            f(v)?;
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                return Ok(());
            }
            return Err(self.err("a comma or a closing bracket"));
        }
    }

    /// Only whitespace may follow.
    pub(crate) fn finish(mut self) -> Result<(), DecodeError> {
        self.ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(self.err("the end of the frame"))
        }
    }
}

/// Whether a key literal (with quotes) names `name`.
pub(crate) fn key_is(raw: &str, name: &str) -> bool {
    match raw.get(1..raw.len().saturating_sub(1)) {
        Some(inner) if !inner.contains('\\') => inner == name,
        _ => crate::codec::JsonStr::from_literal(raw).is_some_and(|s| s.eq_str(name)),
    }
}

/// `text`, which the scanner validated as one JSON value, as a borrowed `&RawValue` without copying or
/// re-parsing it ([`feedwire_core::borrowed_raw_value`]); falls back to parsing (always correct, may allocate)
/// should that ever stop working.
pub(crate) fn raw_value(text: &str) -> Result<&RawValue, DecodeError> {
    match feedwire_core::borrowed_raw_value(text) {
        Some(raw) => Ok(raw),
        None => Ok(serde_json::from_str(text)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(s: &str) -> bool {
        let mut sc = Scanner::new(s);
        sc.value(0).is_ok() && sc.finish().is_ok()
    }

    #[test]
    fn agrees_with_serde_json() {
        for s in [
            "{}",
            "[]",
            "1",
            "-0",
            "0.5e-3",
            "1E+2",
            "\"a\\u00e9\\n\"",
            "true",
            "null",
            " [1, {\"a\":[null]}] ",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"\u{1}\"",
            "tru",
            "{\"a\" 1}",
            "[1 2]",
            "{} x",
            "",
            "\"\\u12g4\"",
            "{\"a\":{\"b\":[1,2,{\"c\":\"\\\"\"}]}}",
        ] {
            assert_eq!(
                validate(s),
                serde_json::from_str::<serde_json::Value>(s).is_ok(),
                "{s:?}"
            );
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(!validate(&deep));
    }

    #[test]
    fn raw_value_borrows() {
        let text = "{\"a\":[1,2]}";
        let raw = raw_value(text).unwrap();
        assert_eq!(raw.get().as_ptr(), text.as_ptr());
        assert!(key_is("\"type\"", "type"));
        assert!(key_is("\"t\\u0079pe\"", "type"));
        assert!(!key_is("\"typ\"", "type"));
    }
}
