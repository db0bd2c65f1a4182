//! An identifier as a frame carries it: the literal received, or the text to send.

use std::borrow::Cow;
use std::fmt;

use feedwire_core::json::{JsonStr, write_string};

use crate::identifier::{Identifier, fmt_redacted};

/// A channel identifier inside a frame, borrowed: either the JSON string literal a decoder found (quotes and
/// escapes included, as received) or the plain text an encoder is to write.
///
/// ActionCable identifiers always carry escapes (`\"`, and Rails' `\u003c` for `<`), so decoding them into a
/// `String` would allocate on every frame. A decoded `IdentifierStr` keeps the literal and compares it with
/// [`eq_str`](IdentifierStr::eq_str) by unescaping on the fly, byte for byte, without allocating;
/// [`to_cow`](IdentifierStr::to_cow) gives the decoded text. Encoding writes a literal as it was received and
/// plain text with feedwire's one string writer.
///
/// `Debug` redacts the values of secret-looking params (metasmoke echoes its API key in every frame). Equality
/// compares the decoded texts.
///
/// ```
/// use feedwire_actioncable::codec::IdentifierStr;
/// use feedwire_core::json::JsonStr;
///
/// let received = IdentifierStr::from_literal(JsonStr::from_literal(r#""{\"channel\":\"A\u003cB\"}""#).unwrap());
/// assert!(received.eq_str(r#"{"channel":"A<B"}"#));
/// assert_eq!(received, IdentifierStr::new(r#"{"channel":"A<B"}"#));
/// assert_eq!(received.literal(), Some(r#""{\"channel\":\"A\u003cB\"}""#));
/// ```
#[derive(Clone, Copy)]
pub struct IdentifierStr<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    /// A string literal as received.
    Literal(JsonStr<'a>),
    /// Plain text (the decoded identifier).
    Text(&'a str),
}

impl<'a> IdentifierStr<'a> {
    /// The identifier `text` (decoded, as [`Identifier::as_str`] holds it), for encoding.
    pub fn new(text: &'a str) -> Self {
        IdentifierStr(Repr::Text(text))
    }

    /// A string literal as a decoder found it.
    pub fn from_literal(literal: JsonStr<'a>) -> Self {
        IdentifierStr(Repr::Literal(literal))
    }

    /// The string literal as received (quotes and escapes included); `None` for text given to
    /// [`new`](IdentifierStr::new).
    pub fn literal(&self) -> Option<&'a str> {
        match self.0 {
            Repr::Literal(l) => Some(l.raw()),
            Repr::Text(_) => None,
        }
    }

    /// Whether the decoded identifier equals `text`, byte for byte. Does not allocate.
    #[inline]
    pub fn eq_str(&self, text: &str) -> bool {
        match self.0 {
            Repr::Literal(l) => l.eq_str(text),
            Repr::Text(t) => t == text,
        }
    }

    /// The decoded identifier: borrowed unless the literal holds escapes.
    pub fn to_cow(&self) -> Cow<'a, str> {
        match self.0 {
            Repr::Literal(l) => l.to_cow(),
            Repr::Text(t) => Cow::Borrowed(t),
        }
    }

    /// Appends the identifier to `out` as a JSON string literal.
    pub(crate) fn write(&self, out: &mut String) {
        match self.0 {
            Repr::Literal(l) => out.push_str(l.raw()),
            Repr::Text(t) => write_string(out, t),
        }
    }

    /// About how many bytes [`write`](IdentifierStr::write) appends.
    pub(crate) fn len_hint(&self) -> usize {
        match self.0 {
            Repr::Literal(l) => l.raw().len(),
            Repr::Text(t) => t.len() + 16,
        }
    }
}

impl<'a> From<&'a Identifier> for IdentifierStr<'a> {
    fn from(id: &'a Identifier) -> Self {
        IdentifierStr::new(id.as_str())
    }
}

impl<'a> From<JsonStr<'a>> for IdentifierStr<'a> {
    fn from(literal: JsonStr<'a>) -> Self {
        IdentifierStr::from_literal(literal)
    }
}

impl PartialEq for IdentifierStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (_, Repr::Text(t)) => self.eq_str(t),
            (Repr::Text(t), _) => other.eq_str(t),
            (Repr::Literal(a), Repr::Literal(b)) => a.raw() == b.raw() || b.eq_str(&a.to_cow()),
        }
    }
}

impl Eq for IdentifierStr<'_> {}

impl fmt::Debug for IdentifierStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentifierStr(")?;
        fmt_redacted(&self.to_cow(), f)?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> IdentifierStr<'_> {
        IdentifierStr::from_literal(JsonStr::from_literal(s).unwrap())
    }

    #[test]
    fn compares_after_unescaping_and_writes_as_received() {
        let s = lit(r#""{\"channel\":\"A\u003cB\",\"x\":\"\ud83d\ude00\"}""#);
        assert!(s.eq_str("{\"channel\":\"A<B\",\"x\":\"😀\"}"));
        assert!(!s.eq_str("{\"channel\":\"A<B\",\"x\":\"😀\"} "));
        assert!(!s.eq_str("{\"channel\":\"A<B\""));
        assert_eq!(s.to_cow(), "{\"channel\":\"A<B\",\"x\":\"😀\"}");
        assert!(matches!(lit(r#""abc""#).to_cow(), Cow::Borrowed("abc")));
        let lone = lit(r#""a\ud800b\u00e9""#);
        assert_eq!(lone.to_cow(), "a\u{FFFD}bé");
        assert!(lone.eq_str(&lone.to_cow()));

        let mut out = String::new();
        s.write(&mut out);
        assert_eq!(out, r#""{\"channel\":\"A\u003cB\",\"x\":\"\ud83d\ude00\"}""#);
        out.clear();
        IdentifierStr::new("a\"b\n").write(&mut out);
        assert_eq!(out, r#""a\"b\n""#);

        assert_eq!(s, lit(r#""{\"channel\":\"A<B\",\"x\":\"😀\"}""#));
        assert_eq!(s, IdentifierStr::new("{\"channel\":\"A<B\",\"x\":\"😀\"}"));
        assert_ne!(s, IdentifierStr::new("{}"));
    }

    #[test]
    fn debug_redacts_keys() {
        let s = lit(r#""{\"channel\":\"ApiChannel\",\"key\":\"s3cr3t\"}""#);
        assert_eq!(
            format!("{s:?}"),
            r#"IdentifierStr({"channel":"ApiChannel","key":"[redacted]"})"#
        );
        assert!(!format!("{:?}", IdentifierStr::new(r#"{"key":"s3cr3t"}"#)).contains("s3cr3t"));
    }
}
