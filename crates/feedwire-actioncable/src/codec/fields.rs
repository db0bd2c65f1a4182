//! Reading envelope fields (raw member texts) and writing them: the helpers both directions share.

use std::borrow::Cow;

use feedwire_core::json::{self, JsonStr};
use serde_json::value::RawValue;

use super::error::DecodeError;
use super::ident::IdentifierStr;

/// Whether a member is absent or `null`.
pub(super) fn is_null(v: Option<&str>) -> bool {
    matches!(v, None | Some("null"))
}

/// An optional string member (absent or `null` is `None`).
pub(super) fn opt_string<'a>(
    v: Option<&'a str>,
    field: &'static str,
) -> Result<Option<Cow<'a, str>>, DecodeError> {
    if is_null(v) {
        return Ok(None);
    }
    v.and_then(JsonStr::from_literal)
        .map(|s| Some(s.to_cow()))
        .ok_or(DecodeError::WrongType {
            field,
            expected: "a string",
        })
}

/// An optional boolean member (absent or `null` is `None`).
pub(super) fn opt_bool(v: Option<&str>, field: &'static str) -> Result<Option<bool>, DecodeError> {
    match v {
        None | Some("null") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(DecodeError::WrongType {
            field,
            expected: "a boolean",
        }),
    }
}

/// The required `identifier` member, a string literal.
#[inline]
pub(super) fn req_ident(v: Option<&str>) -> Result<IdentifierStr<'_>, DecodeError> {
    let v = v.ok_or(DecodeError::MissingField("identifier"))?;
    JsonStr::from_literal(v)
        .map(IdentifierStr::from_literal)
        .ok_or(DecodeError::NotAString("identifier"))
}

/// An optional `identifier` member, kept only when it is a string.
pub(super) fn opt_ident(v: Option<&str>) -> Option<IdentifierStr<'_>> {
    v.and_then(JsonStr::from_literal).map(IdentifierStr::from_literal)
}

/// A required member's scanned text as a borrowed `&RawValue`.
#[inline]
pub(super) fn raw_of<'a>(v: Option<&'a str>, field: &'static str) -> Result<&'a RawValue, DecodeError> {
    Ok(json::raw_value(v.ok_or(DecodeError::MissingField(field))?)?)
}

/// Writes the members of one JSON object, commas included.
// CORE-CANDIDATE: every encoder writes envelopes member by member around `json::write_string`; one object
// writer in `feedwire_core::json` would keep the commas and key quoting in one place.
pub(super) struct ObjectWriter<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    /// Opens an object on `out`.
    pub(super) fn new(out: &'o mut String) -> Self {
        out.push('{');
        ObjectWriter { out, first: true }
    }

    /// Starts a member: its key (a plain ASCII name) and the colon; the caller writes the value into the
    /// returned string.
    pub(super) fn key(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(name);
        self.out.push_str("\":");
        self.out
    }

    /// Starts a member whose key is any text (escaped as JSON needs).
    pub(super) fn key_escaped(&mut self, name: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        json::write_string(self.out, name);
        self.out.push(':');
        self.out
    }

    /// A member whose value is raw JSON text.
    pub(super) fn raw(&mut self, name: &str, value: &str) {
        self.key(name).push_str(value);
    }

    /// A member whose value is a string.
    pub(super) fn string(&mut self, name: &str, value: &str) {
        json::write_string(self.key(name), value);
    }

    /// A member whose value is an identifier.
    pub(super) fn ident(&mut self, name: &str, value: &IdentifierStr<'_>) {
        value.write(self.key(name));
    }

    /// Closes the object.
    pub(super) fn finish(self) {
        self.out.push('}');
    }
}
