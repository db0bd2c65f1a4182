//! Heartbeats: `{"doshii":{"ping"|"pong":..}}`, their stamps, and the legacy Primus strings.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use feedwire_core::json::{validate_raw_value, write_string};
use feedwire_core::{Frame, RawJson};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::DecodeError;

/// The JSON string the server sends before closing on purpose: do not reconnect.
pub const PRIMUS_SERVER_CLOSE: &str = "\"primus::server::close\"";

pub(super) const PRIMUS_PING_PREFIX: &str = "primus::ping::";
pub(super) const PRIMUS_PONG_PREFIX: &str = "primus::pong::";
pub(super) const PRIMUS_SERVER_CLOSE_TEXT: &str = "primus::server::close";

/// A heartbeat timestamp, kept as received so an answer can carry exactly the same value.
///
/// For `{"doshii":{"ping":..}}` it is the JSON text of the value (normally Unix milliseconds such as
/// `1539144663417`); for the Primus strings it is the text after `primus::ping::`.
///
/// ```
/// use feedwire_doshii::codec::Stamp;
/// let s = Stamp::from_millis(1539144663417);
/// assert_eq!(s.as_str(), "1539144663417");
/// assert_eq!(s.millis(), Some(1539144663417));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Stamp(ByteString);

impl Stamp {
    /// A stamp with any text (a Primus stamp, or the JSON text of a heartbeat's value).
    pub fn new(text: impl Into<String>) -> Stamp {
        Stamp(ByteString::from(text.into()))
    }

    /// A stamp of `ms` Unix milliseconds.
    pub fn from_millis(ms: u64) -> Stamp {
        Stamp(ByteString::from(ms.to_string()))
    }

    /// A stamp whose text shares a received frame's buffer.
    pub(super) fn shared(text: ByteString) -> Stamp {
        Stamp(text)
    }

    /// The stamp's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stamp as whole milliseconds, when it is a non-negative number (fractions are dropped).
    pub fn millis(&self) -> Option<u64> {
        let s = self.as_str().trim();
        if let Ok(v) = s.parse::<u64>() {
            return Some(v);
        }
        match s.parse::<f64>() {
            Ok(f) if (0.0..1.8e19).contains(&f) => Some(f as u64),
            _ => None,
        }
    }

    /// The stamp as the JSON text of a heartbeat's value: itself when it is one JSON value (true for every
    /// stamp of a received `{"doshii":..}` heartbeat), `None` otherwise (then it is sent as a string).
    fn json_text(&self) -> Option<&str> {
        let s = self.as_str();
        if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0') {
            return Some(s); // Unix milliseconds, the normal case
        }
        validate_raw_value(s).ok().map(|raw| raw.get())
    }
}

impl fmt::Debug for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stamp({})", self.as_str())
    }
}

/// A `{"doshii":{"ping"|"pong":..}}` heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Heartbeat {
    /// The timestamp (Unix milliseconds on the wire).
    pub stamp: Stamp,
    /// `version` as received (a JSON value, normally a string such as `"3.2.123"`).
    pub version: Option<RawJson>,
    /// A POS's `status` object (`{"database":"online","processor":"offline"}`), as received.
    pub status: Option<RawJson>,
}

impl Heartbeat {
    /// A heartbeat of `ms` Unix milliseconds with no version and no status.
    pub fn new(ms: u64) -> Heartbeat {
        Heartbeat::from_stamp(Stamp::from_millis(ms))
    }

    /// A heartbeat carrying `stamp` (to answer a ping with the same value), with no version and no status.
    pub fn from_stamp(stamp: Stamp) -> Heartbeat {
        Heartbeat {
            stamp,
            version: None,
            status: None,
        }
    }

    /// Sets the version string.
    pub fn with_version(mut self, version: &str) -> Heartbeat {
        self.version = Some(version_json(version));
        self
    }

    /// Sets the POS status.
    pub fn with_status(mut self, status: &PosStatus) -> Heartbeat {
        self.status = Some(status.to_json());
        self
    }

    /// The version as text: a string's content, or any other value's JSON text.
    pub fn version(&self) -> Option<Cow<'_, str>> {
        self.version
            .as_ref()
            .map(|v| v.as_json_string().unwrap_or(Cow::Borrowed(v.as_str())))
    }

    /// The POS status, typed.
    pub fn pos_status(&self) -> Option<Result<PosStatus, serde_json::Error>> {
        self.status.as_ref().map(|s| s.parse())
    }

    /// Writes `{"doshii":{"<which>":<stamp>,"version":..,"status":..}}`: one allocation, sized up front.
    pub(super) fn encode(&self, which: &str) -> Frame {
        let stamp = self.stamp.json_text();
        let raw_len = |r: &Option<RawJson>| r.as_ref().map_or(0, |r| r.as_str().len() + 12);
        let stamp_len = stamp.map_or(self.stamp.as_str().len() * 6 + 2, str::len);
        let mut out = String::with_capacity(
            16 + which.len() + stamp_len + raw_len(&self.version) + raw_len(&self.status),
        );
        out.push_str("{\"doshii\":{\"");
        out.push_str(which);
        out.push_str("\":");
        match stamp {
            Some(json) => out.push_str(json),
            // only a stamp built by hand from a Primus string can be other text: sent as a JSON string
            None => write_string(&mut out, self.stamp.as_str()),
        }
        if let Some(v) = &self.version {
            out.push_str(",\"version\":");
            out.push_str(v.as_str());
        }
        if let Some(s) = &self.status {
            out.push_str(",\"status\":");
            out.push_str(s.as_str());
        }
        out.push_str("}}");
        Frame::from(out)
    }
}

/// `version` as the JSON string a heartbeat carries (the client encodes its version once).
pub(crate) fn version_json(version: &str) -> RawJson {
    let mut out = String::with_capacity(version.len() + 2);
    write_string(&mut out, version);
    // a string literal written by the one writer is valid JSON; the fallback is never taken
    RawJson::from_json_str(&out).unwrap_or_else(|_| RawJson::null())
}

/// The health a POS reports in its pings: `{"database":"online","processor":"offline"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PosStatus {
    /// The POS database, such as `"online"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The payment processor, such as `"offline"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor: Option<String>,
}

impl PosStatus {
    /// Sets the database state.
    pub fn with_database(mut self, s: impl Into<String>) -> Self {
        self.database = Some(s.into());
        self
    }
    /// Sets the processor state.
    pub fn with_processor(mut self, s: impl Into<String>) -> Self {
        self.processor = Some(s.into());
        self
    }

    /// The status as the JSON object a ping carries.
    ///
    /// ```
    /// use feedwire_doshii::codec::PosStatus;
    /// let s = PosStatus::default().with_database("online").with_processor("offline");
    /// assert_eq!(s.to_json().as_str(), r#"{"database":"online","processor":"offline"}"#);
    /// ```
    pub fn to_json(&self) -> RawJson {
        let mut out = String::from("{");
        for (key, value) in [("database", &self.database), ("processor", &self.processor)] {
            if let Some(v) = value {
                if out.len() > 1 {
                    out.push(',');
                }
                write_string(&mut out, key);
                out.push(':');
                write_string(&mut out, v);
            }
        }
        out.push('}');
        // an object of string literals written by the one writer is valid JSON; the fallback is never taken
        RawJson::from_json_str(&out).unwrap_or_else(|_| RawJson::empty_object())
    }
}

/// A Primus control string, `"<prefix><stamp>"`, as its JSON string literal.
pub(super) fn encode_primus(prefix: &str, stamp: &Stamp) -> Frame {
    let mut out = String::with_capacity(prefix.len() + stamp.as_str().len() + 2);
    write_string(&mut out, stamp.as_str());
    // the prefixes need no escape: put them right after the opening quote
    out.insert_str(1, prefix);
    Frame::from(out)
}

/// Which heartbeat a `{"doshii":{..}}` object is.
pub(super) enum Beat {
    Ping(Heartbeat),
    Pong(Heartbeat),
}

#[derive(Deserialize)]
struct DoshiiInner<'a> {
    #[serde(borrow, default)]
    ping: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pong: Option<&'a RawValue>,
    #[serde(borrow, default)]
    version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
}

/// The heartbeat in the value of a `doshii` member (borrowed from `frame`); `None` when the value is not an
/// object with `ping` or `pong`.
pub(super) fn decode_heartbeat(frame: &Frame, d: &RawValue) -> Result<Option<Beat>, DecodeError> {
    if !d.get().starts_with('{') {
        return Ok(None);
    }
    let inner: DoshiiInner<'_> = serde_json::from_str(d.get())?;
    let make = |stamp: &RawValue| Heartbeat {
        stamp: Stamp::shared(frame.slice_ref(stamp.get()).into_byte_string()),
        version: inner.version.map(|v| RawJson::from_raw_in(frame, v)),
        status: inner.status.map(|v| RawJson::from_raw_in(frame, v)),
    };
    Ok(match (inner.ping, inner.pong) {
        (Some(p), _) => Some(Beat::Ping(make(p))),
        (None, Some(p)) => Some(Beat::Pong(make(p))),
        (None, None) => None,
    })
}
