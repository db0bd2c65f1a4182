//! JSON string literals: compared and decoded without allocating, and written with one escape style.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

/// A JSON string literal exactly as received, quotes and escapes included.
///
/// Decoders keep identifiers, event names and channel names as `JsonStr` instead of decoding them, since a
/// `String` would allocate on every frame. [`eq_str`](JsonStr::eq_str) compares the decoded text with a
/// plain string byte for byte, unescaping on the fly without allocating; [`to_cow`](JsonStr::to_cow) gives
/// the decoded text (borrowed when the literal has no escapes).
///
/// ```
/// use feedwire_core::json::JsonStr;
/// let s = JsonStr::from_literal(r#""a\u0062c\n""#).unwrap();
/// assert!(s.eq_str("abc\n"));
/// assert!(!s.eq_str("abc"));
/// assert_eq!(s.to_cow(), "abc\n");
/// assert_eq!(JsonStr::from_literal(r#""plain""#).unwrap().to_cow(), "plain"); // borrowed
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JsonStr<'a> {
    raw: &'a str,
}

impl<'a> JsonStr<'a> {
    /// Wraps a raw JSON value if it is a string literal.
    pub fn from_raw(raw: &'a RawValue) -> Option<Self> {
        Self::from_literal(raw.get())
    }

    /// Wraps a string literal's text (with its quotes). The caller has validated it as JSON (a scanner of
    /// this module or serde_json did); an invalid escape reads as U+FFFD.
    pub fn from_literal(raw: &'a str) -> Option<Self> {
        (raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"')).then_some(JsonStr { raw })
    }

    /// The literal as received, with its quotes.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The literal without its quotes, escapes still in.
    fn inner(&self) -> &'a str {
        self.raw.get(1..self.raw.len().saturating_sub(1)).unwrap_or("")
    }

    /// Whether the literal holds no escape (then its inner text is the decoded text).
    pub fn is_plain(&self) -> bool {
        !self.inner().contains('\\')
    }

    /// The decoded text: borrowed when the literal has no escapes.
    pub fn to_cow(&self) -> Cow<'a, str> {
        let inner = self.inner();
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        // Invalid escapes and lone surrogates become U+FFFD, as `eq_str` reads them.
        Cow::Owned(Unescape::new(inner).collect())
    }

    /// Whether the decoded text equals `text`, byte for byte. Does not allocate.
    pub fn eq_str(&self, text: &str) -> bool {
        // Compare the runs between escapes as bytes; decode each escape on its own.
        let mut rest = self.inner();
        let mut want = text.as_bytes();
        loop {
            let Some(i) = rest.find('\\') else {
                return rest.as_bytes() == want;
            };
            let (run, esc) = rest.split_at(i);
            let Some(tail) = want.strip_prefix(run.as_bytes()) else {
                return false;
            };
            let mut un = Unescape::new(esc);
            let Some(c) = un.next() else { return false };
            let mut buf = [0u8; 4];
            let Some(tail) = tail.strip_prefix(c.encode_utf8(&mut buf).as_bytes()) else {
                return false;
            };
            want = tail;
            rest = un.rest.as_str();
        }
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonStr({:?})", self.to_cow())
    }
}

/// Whether a key literal (with quotes, as a scanner hands it out) names `name`. Does not allocate.
///
/// ```
/// assert!(feedwire_core::json::key_is(r#""type""#, "type"));
/// assert!(feedwire_core::json::key_is(r#""t\u0079pe""#, "type"));
/// assert!(!feedwire_core::json::key_is(r#""typ""#, "type"));
/// ```
#[inline]
pub fn key_is(literal: &str, name: &str) -> bool {
    match literal.get(1..literal.len().saturating_sub(1)) {
        Some(inner) if !inner.contains('\\') => inner == name,
        _ => JsonStr::from_literal(literal).is_some_and(|s| s.eq_str(name)),
    }
}

/// Decodes the escapes of a JSON string body, one `char` at a time (invalid escapes yield U+FFFD).
struct Unescape<'a> {
    rest: std::str::Chars<'a>,
}

impl<'a> Unescape<'a> {
    fn new(s: &'a str) -> Self {
        Unescape { rest: s.chars() }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v * 16 + self.rest.next()?.to_digit(16)?;
        }
        Some(v)
    }
}

impl Iterator for Unescape<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match self.rest.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => match self.hex4() {
                Some(hi @ 0xD800..=0xDBFF) => {
                    let save = self.rest.clone();
                    if self.rest.next() == Some('\\')
                        && self.rest.next() == Some('u')
                        && let Some(lo @ 0xDC00..=0xDFFF) = self.hex4()
                    {
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return Some(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    self.rest = save;
                    '\u{FFFD}'
                }
                Some(cp) => char::from_u32(cp).unwrap_or('\u{FFFD}'),
                None => '\u{FFFD}',
            },
            _ => '\u{FFFD}',
        })
    }
}

/// Appends `s` to `out` as a JSON string literal: quotes, `\"`, `\\`, `\n`, `\r`, `\t`, and `\u00XX` for the
/// other control characters; everything else as is (the escapes serde_json writes, so output is
/// byte-identical to `serde_json::to_string(s)`). The one string writer of every feedwire encoder.
///
/// ```
/// let mut out = String::new();
/// feedwire_core::json::write_string(&mut out, "say \"hi\"\n\u{1}é");
/// assert_eq!(out, r#""say \"hi\"\n\u0001é""#);
/// assert_eq!(out, serde_json::to_string("say \"hi\"\n\u{1}é").unwrap());
/// ```
#[inline]
pub fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries
        out.push_str(s.get(start..i).unwrap_or(""));
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

/// `s` as a JSON string literal (see [`write_string`]).
pub fn to_string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compares_after_unescaping() {
        let s = JsonStr::from_literal(r#""\u003cb\u003e \ud83d\ude00 \/""#).unwrap();
        assert!(s.eq_str("<b> \u{1F600} /"));
        assert!(!s.eq_str("<b> \u{1F600} "));
        assert!(!s.eq_str("<b> \u{1F600} /x"));
        assert_eq!(s.to_cow(), "<b> \u{1F600} /");
        assert!(JsonStr::from_literal("x").is_none());
        assert!(JsonStr::from_literal("\"").is_none());
        // a lone surrogate reads as U+FFFD, in both forms
        let lone = JsonStr::from_literal(r#""\ud800x""#).unwrap();
        assert!(lone.eq_str("\u{FFFD}x"));
        assert_eq!(lone.to_cow(), "\u{FFFD}x");
    }

    proptest! {
        #[test]
        fn writer_matches_serde_json_and_round_trips(s in any::<String>()) {
            let lit = to_string_literal(&s);
            prop_assert_eq!(&lit, &serde_json::to_string(&s).unwrap());
            let j = JsonStr::from_literal(&lit).unwrap();
            prop_assert!(j.eq_str(&s));
            prop_assert_eq!(j.to_cow(), s.as_str());
            prop_assert!(key_is(&lit, &s));
        }

        #[test]
        fn eq_str_reads_every_escape_form(s in any::<String>(), other in any::<String>()) {
            // every character escaped as \uXXXX (surrogate pairs beyond the BMP), as some servers write
            let mut lit = String::from("\"");
            for unit in s.encode_utf16() {
                lit.push_str(&format!("\\u{unit:04x}"));
            }
            lit.push('"');
            prop_assert_eq!(serde_json::from_str::<String>(&lit).unwrap(), s.as_str());
            let j = JsonStr::from_literal(&lit).unwrap();
            prop_assert!(j.eq_str(&s));
            prop_assert_eq!(j.eq_str(&other), s == other);
            prop_assert_eq!(j.to_cow(), s.as_str());
        }
    }
}
