//! An allocation-free scanner for a frame's envelope: members of an object, elements of an array, each
//! handed out as its exact text.

use serde_json::value::RawValue;

use super::validate::{JsonSyntaxError, scan_json_string, scan_json_value};

/// Walks one JSON document, validating as it goes (RFC 8259, exactly serde_json's verdicts) and handing out
/// the exact text of each member or element, so that a decoder can pick the envelope's fields and keep the
/// payload as a zero-copy `&RawValue` ([`raw_value`]). It never allocates: serde_json allocates its scratch
/// buffer whenever it skips a nested payload or unescapes a string, which a receive path that must not
/// allocate cannot afford.
///
/// `max_depth` bounds the nesting of arrays and objects, counted from the document's top (ActionCable uses
/// 128, serde_json's own limit for typed values; `usize::MAX` for none).
///
/// ```
/// use feedwire_core::json::{Scanner, key_is};
/// let text = r#"{"event":"listed","data":{"id":1},"channel":"c"}"#;
/// let mut sc = Scanner::new(text, 128);
/// let mut data = None;
/// sc.members::<feedwire_core::JsonSyntaxError>(0, |key, value| {
///     if key_is(key, "data") { data = Some(value); }
///     Ok(())
/// }).unwrap();
/// sc.finish().unwrap();
/// assert_eq!(data, Some(r#"{"id":1}"#));
/// ```
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    max_depth: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub fn new(text: &'a str, max_depth: usize) -> Self {
        Scanner {
            text,
            pos: 0,
            max_depth,
        }
    }

    /// The byte offset the scanner is at.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn err(&self, expected: &'static str) -> JsonSyntaxError {
        JsonSyntaxError {
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

    fn slice(&self, start: usize) -> Result<&'a str, JsonSyntaxError> {
        self.text.get(start..self.pos).ok_or(JsonSyntaxError {
            at: start,
            expected: "a value",
        })
    }

    /// A string literal (with its quotes); the scanner is at the opening quote.
    fn string(&mut self) -> Result<&'a str, JsonSyntaxError> {
        let start = self.pos;
        self.pos = scan_json_string(self.text, start)?;
        self.slice(start)
    }

    /// One value at nesting `depth` (0 for the document itself); returns its exact text. Leading whitespace
    /// is skipped first.
    pub fn value(&mut self, depth: usize) -> Result<&'a str, JsonSyntaxError> {
        let room = self.max_depth.saturating_sub(depth);
        let (start, end) = scan_json_value(self.text, self.pos, room)?;
        self.pos = end;
        self.slice(start)
    }

    /// An object at nesting `depth`; `f` gets each member's key literal (quotes included; compare it with
    /// [`key_is`](super::key_is)) and value text, in order.
    pub fn members<E: From<JsonSyntaxError>>(
        &mut self,
        depth: usize,
        mut f: impl FnMut(&'a str, &'a str) -> Result<(), E>,
    ) -> Result<(), E> {
        if depth >= self.max_depth {
            return Err(self.err("less nesting").into());
        }
        self.ws();
        if !self.eat(b'{') {
            return Err(self.err("an object").into());
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
                return Err(self.err("a colon").into());
            }
            let value = self.value(depth + 1)?;
            f(key, value)?;
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(());
            }
            return Err(self.err("a comma or a closing brace").into());
        }
    }

    /// An array at nesting `depth`; `f` gets each element's text, in order.
    pub fn elements<E: From<JsonSyntaxError>>(
        &mut self,
        depth: usize,
        mut f: impl FnMut(&'a str) -> Result<(), E>,
    ) -> Result<(), E> {
        if depth >= self.max_depth {
            return Err(self.err("less nesting").into());
        }
        self.ws();
        if !self.eat(b'[') {
            return Err(self.err("an array").into());
        }
        self.ws();
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            let v = self.value(depth + 1)?;
            f(v)?;
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                return Ok(());
            }
            return Err(self.err("a comma or a closing bracket").into());
        }
    }

    /// Only whitespace may follow.
    pub fn finish(mut self) -> Result<(), JsonSyntaxError> {
        self.ws();
        if self.pos == self.text.len() {
            Ok(())
        } else {
            Err(self.err("the end of the text"))
        }
    }
}

/// `text`, which a [`Scanner`] (or [`validate_raw_value`](super::validate_raw_value)) validated as one JSON
/// value, as a borrowed `&RawValue` without copying or re-parsing it; falls back to parsing (always correct)
/// should the borrowing trick ever stop working (see [`borrowed_raw_value`](super::borrowed_raw_value)).
pub fn raw_value(text: &str) -> Result<&RawValue, serde_json::Error> {
    match super::raw::borrowed_raw_value(text) {
        Some(raw) => Ok(raw),
        None => serde_json::from_str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(s: &str) -> bool {
        let mut sc = Scanner::new(s, 128);
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
    fn members_and_elements_hand_out_exact_text() {
        let text = r#" { "a" : [1, {"b":2}] , "c\u0064" : "x" } "#;
        let mut seen = Vec::new();
        let mut sc = Scanner::new(text, 128);
        sc.members::<JsonSyntaxError>(0, |k, v| {
            seen.push((k, v));
            Ok(())
        })
        .unwrap();
        sc.finish().unwrap();
        assert_eq!(
            seen,
            vec![(r#""a""#, r#"[1, {"b":2}]"#), (r#""c\u0064""#, r#""x""#)]
        );
        assert!(super::super::key_is(seen[1].0, "cd"));

        let mut items = Vec::new();
        let mut sc = Scanner::new(seen[0].1, 128);
        sc.elements::<JsonSyntaxError>(1, |v| {
            items.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(items, vec!["1", r#"{"b":2}"#]);
        let raw = raw_value(items[1]).unwrap();
        assert_eq!(raw.get().as_ptr(), items[1].as_ptr());
    }

    #[test]
    fn depth_is_bounded_from_the_top() {
        let two = r#"{"a":{"b":1}}"#;
        let mut sc = Scanner::new(two, 2);
        assert!(sc.members::<JsonSyntaxError>(0, |_, _| Ok(())).is_ok());
        let mut sc = Scanner::new(two, 1);
        assert!(sc.members::<JsonSyntaxError>(0, |_, _| Ok(())).is_err());
    }
}
