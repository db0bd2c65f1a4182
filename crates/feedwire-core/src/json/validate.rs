//! A fast JSON validator for payloads a decoder keeps raw.
//!
//! Receive paths that hand the application an unparsed payload ([`RawJson`](crate::RawJson)) still have to
//! prove it is JSON. serde_json's way (`from_str::<&RawValue>`) is a general deserializer skipping a value;
//! this is a validator and nothing else: one loop over the bytes, an explicit stack of one bit per open
//! container, and strings scanned eight bytes at a time. It accepts exactly what serde_json accepts for
//! `&RawValue` (RFC 8259 grammar, no depth limit, any `\u` escape including lone surrogates, surrounding
//! whitespace); the differential tests and the fuzz targets hold it to that.

use serde_json::value::RawValue;

use super::raw::borrowed_raw_value;

/// Where and why text is not one JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {at}: expected {expected}")]
pub struct JsonSyntaxError {
    /// Byte offset of the first offending byte (the length of the text when it ended early).
    pub at: usize,
    /// What the grammar allowed there.
    pub expected: &'static str,
}

/// `text`, which must be exactly one JSON value with optional surrounding whitespace, as a borrowed
/// `&RawValue` of the value itself (whitespace trimmed, as serde_json does), without copying.
///
/// The same answer as `serde_json::from_str::<&RawValue>(text)`. Alone in a loop it is only a little faster
/// (60 ns against 63 ns on Doshii's 130-byte order payload); inside a receive path, where the branch
/// predictor also serves the rest of the code, it saved 24 of Doshii's 158 ns per event
/// (`cargo bench -p feedwire-benches --bench doshii`).
///
/// ```
/// let raw = feedwire_core::json::validate_raw_value(r#" {"id":"1234","n":[1,2.5e3,null]} "#).unwrap();
/// assert_eq!(raw.get(), r#"{"id":"1234","n":[1,2.5e3,null]}"#);
/// let err = feedwire_core::json::validate_raw_value(r#"{"id":01}"#).unwrap_err();
/// assert_eq!(err.at, 7);
/// ```
pub fn validate_raw_value(text: &str) -> Result<&RawValue, JsonSyntaxError> {
    let (start, end) = validate(text.as_bytes())?;
    let value = text.get(start..end).ok_or(JsonSyntaxError {
        at: start,
        expected: "a value",
    })?;
    match borrowed_raw_value(value) {
        Some(raw) => Ok(raw),
        // serde_json changed its raw-value token (see borrowed_raw_value): parse instead, still correct
        None => serde_json::from_str(value).map_err(|_| JsonSyntaxError {
            at: start,
            expected: "a value",
        }),
    }
}

/// The bytes that end a run of plain string content: `"`, `\\` and control characters.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The open containers, one bit each (1 = object), the innermost in the lowest bit; `spill` keeps the bits
/// of containers nested more than 64 deep, so depth is unlimited (as serde_json's is for `&RawValue`).
struct Stack {
    bits: u64,
    depth: usize,
    spill: Vec<u64>,
}

impl Stack {
    #[inline]
    fn push(&mut self, object: bool) {
        if self.depth > 0 && self.depth.is_multiple_of(64) {
            self.spill.push(self.bits);
            self.bits = 0;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.depth += 1;
    }

    #[inline]
    fn pop(&mut self) {
        self.depth -= 1;
        self.bits >>= 1;
        if self.depth > 0 && self.depth.is_multiple_of(64) {
            self.bits = self.spill.pop().unwrap_or(0);
        }
    }

    #[inline]
    fn in_object(&self) -> bool {
        self.bits & 1 == 1
    }
}

/// A string's end (the index after its closing quote) from `i`, just after its opening quote; or where and
/// why it is not a JSON string. Not inlined into [`scan`]: there, register pressure spilled this loop's
/// state to the stack on every step (the Pusher receive path was 1.4x slower than with this loop on its own).
#[inline(never)]
fn string_end(b: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    let stop = |c: u8| STOP[usize::from(c)];
    loop {
        // up to the first quote, backslash or control character, four bytes a step. A table lookup per
        // byte, not a word mask: BitSkins' string-encoded payloads hold a `\"` every few bytes, and on them
        // the mask's per-escape bookkeeping made the Pusher codec_decode bench 1.29x serde_json's
        // IgnoredAny where this loop (the Pusher codec's own before issue 16) makes it about 1.0x
        while let Some(&[c0, c1, c2, c3]) = b.get(i..i + 4) {
            if stop(c0) | stop(c1) | stop(c2) | stop(c3) {
                break;
            }
            i += 4;
        }
        while b.get(i).is_some_and(|&c| !stop(c)) {
            i += 1;
        }
        match b.get(i) {
            Some(b'"') => break Ok(i + 1),
            Some(b'\\') => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => match b.get(i + 2..i + 6) {
                    Some(h) if h.iter().all(u8::is_ascii_hexdigit) => i += 6,
                    _ => {
                        // the error points at the first byte that is not a hex digit
                        let mut at = i + 2;
                        while at < i + 6 && b.get(at).is_some_and(u8::is_ascii_hexdigit) {
                            at += 1;
                        }
                        break Err((at, "four hex digits"));
                    }
                },
                _ => break Err((i + 1, "an escape")),
            },
            Some(_) => break Err((i, "no control character in a string")),
            None => break Err((i, "a closing quote")),
        }
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    #[inline]
    fn err(&self, expected: &'static str) -> JsonSyntaxError {
        JsonSyntaxError { at: self.i, expected }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// A string; the cursor is on its opening quote.
    #[inline(always)]
    fn string(&mut self) -> Result<(), JsonSyntaxError> {
        match string_end(self.b, self.i + 1) {
            Ok(e) => {
                self.i = e;
                Ok(())
            }
            Err((at, expected)) => {
                self.i = at;
                Err(self.err(expected))
            }
        }
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<(), JsonSyntaxError> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.err("no leading zero"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("a digit after the decimal point"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("a digit in the exponent"));
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonSyntaxError> {
        if self.b.get(self.i..).is_some_and(|rest| rest.starts_with(word)) {
            self.i += word.len();
            Ok(())
        } else {
            // point at the first byte that differs
            let same = self.b[self.i.min(self.b.len())..]
                .iter()
                .zip(word)
                .take_while(|(a, b)| a == b)
                .count();
            self.i += same;
            Err(self.err(match word {
                b"true" => "true",
                b"false" => "false",
                _ => "null",
            }))
        }
    }

    /// An object key and its colon; the cursor is at the key (whitespace skipped).
    #[inline]
    fn key(&mut self) -> Result<(), JsonSyntaxError> {
        if self.peek() != Some(b'"') {
            return Err(self.err("a string key"));
        }
        self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.err("a colon"));
        }
        self.i += 1;
        Ok(())
    }
}

/// The byte range of the one value in `b`.
fn validate(b: &[u8]) -> Result<(usize, usize), JsonSyntaxError> {
    let (start, end) = scan(b, 0, usize::MAX)?;
    let mut c = Cursor { b, i: end };
    c.ws();
    if c.i == b.len() {
        Ok((start, end))
    } else {
        Err(c.err("the end of the text"))
    }
}

/// Validates the JSON value that starts at byte `from` of `text` (after optional whitespace) and returns
/// its byte range; what follows the value is not looked at. For scanners of an envelope that hand each
/// member's value over as raw text: the grammar of [`validate_raw_value`], with at most `max_depth` nested
/// arrays and objects (`usize::MAX` for no limit, as serde_json's `&RawValue`; serde_json parses at most 127
/// into typed values or `serde_json::Value`).
///
/// ```
/// let text = r#"{"a":[1,"x"],"b":2}"#;
/// assert_eq!(feedwire_core::json::scan_json_value(text, 5, usize::MAX), Ok((5, 12)));
/// assert_eq!(&text[5..12], r#"[1,"x"]"#);
/// assert!(feedwire_core::json::scan_json_value(text, 4, usize::MAX).is_err()); // ':' starts no value
/// assert!(feedwire_core::json::scan_json_value(text, 0, 1).is_err()); // two levels deep
/// ```
pub fn scan_json_value(text: &str, from: usize, max_depth: usize) -> Result<(usize, usize), JsonSyntaxError> {
    scan(text.as_bytes(), from, max_depth)
}

/// The end (one past the closing quote) of the JSON string literal whose opening quote is at byte `from`
/// of `text`, checking its escapes and that it holds no control character.
///
/// ```
/// let text = r#"["a\"b", 1]"#;
/// assert_eq!(feedwire_core::json::scan_json_string(text, 1), Ok(7));
/// assert!(feedwire_core::json::scan_json_string(text, 0).is_err()); // not at a quote
/// ```
pub fn scan_json_string(text: &str, from: usize) -> Result<usize, JsonSyntaxError> {
    let mut c = Cursor {
        b: text.as_bytes(),
        i: from,
    };
    if c.peek() != Some(b'"') {
        return Err(c.err("a string"));
    }
    c.string()?;
    Ok(c.i)
}

/// The byte range of the value starting at `from` (after whitespace).
fn scan(b: &[u8], from: usize, max_depth: usize) -> Result<(usize, usize), JsonSyntaxError> {
    let mut c = Cursor { b, i: from };
    let mut stack = Stack {
        bits: 0,
        depth: 0,
        spill: Vec::new(),
    };
    c.ws();
    let start = c.i;
    'value: loop {
        // a value is expected here (whitespace skipped)
        match c.peek() {
            Some(b'"') => c.string()?,
            Some(b'{' | b'[') if stack.depth >= max_depth => return Err(c.err("less nesting")),
            Some(b'{') => {
                c.i += 1;
                c.ws();
                if c.peek() == Some(b'}') {
                    c.i += 1;
                } else {
                    stack.push(true);
                    c.key()?;
                    c.ws();
                    continue 'value;
                }
            }
            Some(b'[') => {
                c.i += 1;
                c.ws();
                if c.peek() == Some(b']') {
                    c.i += 1;
                } else {
                    stack.push(false);
                    continue 'value;
                }
            }
            Some(b'-' | b'0'..=b'9') => c.number()?,
            Some(b't') => c.literal(b"true")?,
            Some(b'f') => c.literal(b"false")?,
            Some(b'n') => c.literal(b"null")?,
            _ => return Err(c.err("a value")),
        }
        // after a value: close containers until one continues with a comma
        loop {
            if stack.depth == 0 {
                return Ok((start, c.i));
            }
            c.ws();
            let object = stack.in_object();
            match c.peek() {
                Some(b',') => {
                    c.i += 1;
                    c.ws();
                    if object {
                        c.key()?;
                        c.ws();
                    }
                    continue 'value;
                }
                Some(b'}') if object => {
                    c.i += 1;
                    stack.pop();
                }
                Some(b']') if !object => {
                    c.i += 1;
                    stack.pop();
                }
                _ if object => return Err(c.err("a comma or a closing brace")),
                _ => return Err(c.err("a comma or a closing bracket")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agrees(text: &str) {
        let ours = validate_raw_value(text).map(RawValue::get);
        let theirs = serde_json::from_str::<&RawValue>(text).map(RawValue::get);
        assert_eq!(ours.ok(), theirs.ok(), "{text:?}: ours {ours:?}");
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        for t in [
            // bytes right after a special byte that Mycroft's mask flags by borrow propagation
            r##""a\"#b""##,
            r##""\\]x""##,
            "\"\u{1}!\"",
            r##""x\"#\"#\"#\"#\"#\"#""##,
            r##"["\"#","#\"","\\]\\]\\]"]"##,
            // escapes that run across an eight-byte word
            r##""abcdef\u00e9gh""##,
            r##""abcdefg\"hij""##,
            r##""abcdefgh\\""##,
            r##""ab\"c\"d\"e\"f\"g\"h\"i\"j\"k""##,
            "",
            " ",
            "{}",
            "[]",
            " {} ",
            "\t[ ]\n",
            "{ }",
            "[ 1 , 2 ]",
            "[1,]",
            "[,1]",
            "{,}",
            r#"{"a":}"#,
            r#"{"a"}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{1:2}"#,
            "[1 2]",
            "{]",
            "[}",
            "[[]]",
            "[[]",
            "[]]",
            "0",
            "-0",
            "-",
            "01",
            "-01",
            "1.",
            "1.5",
            ".5",
            "1e",
            "1e+",
            "1E-7",
            "1e5x",
            "2.5e3",
            "1x",
            "true",
            "tru",
            "truex",
            "false",
            "fals",
            "null",
            "nul",
            "nulll",
            r#""""#,
            r#"""#,
            r#""\""#,
            r#""\"""#,
            r#""\\""#,
            r#""\/\b\f\n\r\t""#,
            r#""\u00e9""#,
            r#""\uD800""#,
            r#""\u12""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            "\"tab\there\"",
            "\"é ü 漢字 🎉\"",
            "é",
            "[é]",
            "{\"é\":\"ü\"}",
            "1 2",
            "{} {}",
            r#"{"a":[1,{"b":[null,true,false,"x"]}],"c":{}}"#,
            "[\"aaaaaaaaaaaaaaaaaaaa\\\"bbbbbbbb\"]",
            "\"0123456789abcdef0123456789\"",
            "\"0123456789abcd\u{1f}\"",
            "[1e400]",
            "[-1e-400]",
            "123456789012345678901234567890",
            "[\"\\u0000\"]",
            "\u{feff}{}",
        ] {
            agrees(t);
        }
    }

    #[test]
    fn any_depth_like_serde_json() {
        for depth in [1, 63, 64, 65, 127, 128, 129, 200, 10_000] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            agrees(&arrays);
            let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
            agrees(&objects);
            let mixed: String = (0..depth)
                .map(|i| if i % 3 == 0 { r#"{"k":"# } else { "[" })
                .collect();
            let close: String = (0..depth)
                .rev()
                .map(|i| if i % 3 == 0 { "}" } else { "]" })
                .collect();
            agrees(&format!("{mixed}0{close}"));
            agrees(&format!("{mixed}0{close}]")); // one too many
            agrees(&format!("{mixed}0{}", &close[1..])); // one too few
        }
    }

    #[test]
    fn depth_limit_counts_every_container_like_serde_json_value() {
        for depth in [1, 127, 128, 129, 130] {
            for inner in ["0", "[]", "{}"] {
                let text = format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth));
                let ours = scan_json_value(&text, 0, 127).is_ok();
                let theirs = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                assert_eq!(ours, theirs, "{depth} {inner}");
            }
        }
    }

    #[test]
    fn borrows_the_trimmed_value() {
        let text = "  [1, 2]\n";
        let raw = validate_raw_value(text).unwrap();
        assert_eq!(raw.get(), "[1, 2]");
        assert_eq!(raw.get().as_ptr(), text[2..].as_ptr());
    }

    #[test]
    fn errors_say_where() {
        let e = validate_raw_value(r#"{"a":[1,2}"#).unwrap_err();
        assert_eq!((e.at, e.expected), (9, "a comma or a closing bracket"));
        let e = validate_raw_value(r#"["abc"#).unwrap_err();
        assert_eq!((e.at, e.expected), (5, "a closing quote"));
        let e = validate_raw_value("[nulx]").unwrap_err();
        assert_eq!((e.at, e.expected), (4, "null"));
        assert_eq!(e.to_string(), "invalid JSON at byte 4: expected null");
    }

    mod differential {
        use proptest::prelude::*;

        /// JSON-ish text: real JSON pieces glued together, so most inputs are near-valid.
        fn jsonish() -> impl Strategy<Value = String> {
            let atom = prop::sample::select(vec![
                "{",
                "}",
                "[",
                "]",
                ",",
                ":",
                " ",
                "\n",
                "\"",
                "\\",
                "\\u",
                "\\uD83D",
                "\\n",
                "\"k\"",
                "\"v\"",
                "0",
                "1",
                "-",
                ".",
                "e",
                "E",
                "+",
                "12",
                "0.5",
                "true",
                "false",
                "null",
                "tr",
                "é",
                "\u{1}",
                "\"a long string of some twenty bytes\"",
                "x",
            ]);
            prop::collection::vec(atom, 0..40).prop_map(|v| v.concat())
        }

        fn valid() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                Just("null".to_owned()),
                any::<bool>().prop_map(|b| b.to_string()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| f.to_string()),
                ".{0,30}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            ];
            leaf.prop_recursive(6, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(","))),
                    prop::collection::vec((".{0,12}", inner), 0..8).prop_map(|v| {
                        let members: Vec<String> = v
                            .into_iter()
                            .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                            .collect();
                        format!("{{{}}}", members.join(" , "))
                    }),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn jsonish_text(t in jsonish()) { super::agrees(&t); }

            #[test]
            fn valid_json_and_every_truncation(t in valid(), cut in any::<prop::sample::Index>()) {
                super::agrees(&t);
                let at = cut.index(t.len() + 1);
                if let Some(prefix) = t.get(..at) {
                    super::agrees(prefix);
                }
            }
        }
    }
}
