//! An allocation-free JSON scanner for the server envelope: it validates the whole frame (RFC 8259 grammar,
//! nesting limited to 128) and hands out the exact text of each top-level member's value.
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
        if !self.eat(b'"') {
            return Err(self.err("a string"));
        }
        loop {
            match self.peek() {
                None => return Err(self.err("a closing quote")),
                Some(b'"') => {
                    self.pos += 1;
                    return self.slice(start);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            for _ in 0..4 {
                                if !self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                                    return Err(self.err("four hex digits"));
                                }
                                self.pos += 1;
                            }
                        }
                        _ => return Err(self.err("an escape")),
                    }
                }
                Some(0..=0x1f) => return Err(self.err("no control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn digits(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn number(&mut self) -> Result<(), DecodeError> {
        self.eat(b'-');
        if !self.eat(b'0') && !self.digits() {
            return Err(self.err("a digit"));
        }
        if self.eat(b'.') && !self.digits() {
            return Err(self.err("a digit after the decimal point"));
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return Err(self.err("an exponent"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static str) -> Result<(), DecodeError> {
        if self
            .text
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err(word))
        }
    }

    /// One value; returns its exact text. Leading whitespace is skipped first.
    pub(crate) fn value(&mut self, depth: u32) -> Result<&'a str, DecodeError> {
        self.ws();
        let start = self.pos;
        match self.peek() {
            Some(b'{') => self.members(depth + 1, |_, _| Ok(()))?,
            Some(b'[') => self.elements(depth + 1, |_| Ok(()))?,
            Some(b'"') => {
                self.string()?;
            }
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            _ => return Err(self.err("a value")),
        }
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
