//! WebSocket close: code and reason.

use std::borrow::Cow;
use std::fmt;

/// A WebSocket close status code (RFC 6455 section 7.4), with names for the standard ones.
///
/// Protocol codes (Pusher's 4000-4399, for example) are plain values of this type; their meaning lives in the
/// protocol crates.
///
/// ```
/// use feedwire_core::CloseCode;
/// assert_eq!(CloseCode::NORMAL.0, 1000);
/// assert_eq!(CloseCode(1001).name(), Some("going away"));
/// assert!(CloseCode(4201).is_private_use());
/// assert_eq!(CloseCode(4201).name(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: unsupported data (a binary frame to a text-only endpoint).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1004: reserved.
    pub const RESERVED: CloseCode = CloseCode(1004);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed abnormally, without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: invalid frame payload data (for example non-UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: internal server error.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: service restart.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: TLS handshake failure (never sent on the wire).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// The standard name of a 1000-1015 code, `None` for any other.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1004 => "reserved",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid frame payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal server error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            _ => return None,
        })
    }

    /// Whether the code is one of the standard 1000-1015 codes.
    pub fn is_standard(self) -> bool {
        self.name().is_some()
    }

    /// Whether the code is in 4000-4999, the range applications and protocols define.
    pub fn is_private_use(self) -> bool {
        (4000..=4999).contains(&self.0)
    }

    /// Whether an endpoint may put this code in a close frame (1005, 1006 and 1015 are local-only).
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(c: u16) -> Self {
        CloseCode(c)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A close: code and reason, as received in (or to be sent as) a WebSocket close frame.
///
/// `handle_close(now, None)` means the transport ended without a close frame (connection reset, dial failure,
/// handshake failure); `Some(Close)` means a close frame arrived.
///
/// ```
/// use feedwire_core::{Close, CloseCode};
/// let c = Close::new(4201, "Pong reply not received");
/// assert_eq!(c.code, CloseCode(4201));
/// assert_eq!(c.to_string(), "4201: Pong reply not received");
/// assert_eq!(Close::normal().code, CloseCode::NORMAL);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Close {
    /// The close code.
    pub code: CloseCode,
    /// The reason text (at most 123 bytes on the wire; longer reasons are truncated by [`Close::new`]).
    pub reason: Cow<'static, str>,
}

/// The largest close reason that fits a control frame (125 bytes minus the 2-byte code).
const MAX_REASON: usize = 123;

impl Close {
    /// A close with `code` and `reason`; the reason is cut (on a character boundary) to fit a control frame.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<Cow<'static, str>>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_REASON {
            let mut end = MAX_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason = Cow::Owned(reason[..end].to_owned());
        }
        Close {
            code: code.into(),
            reason,
        }
    }

    /// 1000 with an empty reason.
    pub fn normal() -> Self {
        Close::new(CloseCode::NORMAL, "")
    }

    /// 1001 with an empty reason.
    pub fn going_away() -> Self {
        Close::new(CloseCode::GOING_AWAY, "")
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code.0, self.reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_standard_code() {
        for c in 1000..=1015u16 {
            assert!(CloseCode(c).is_standard(), "{c}");
        }
        assert!(!CloseCode(999).is_standard());
        assert!(!CloseCode(1016).is_standard());
        assert_eq!(CloseCode::MESSAGE_TOO_BIG.name(), Some("message too big"));
        assert_eq!(CloseCode(1006).to_string(), "1006 (abnormal closure)");
    }

    #[test]
    fn local_only_codes_are_not_sendable() {
        for c in [1004u16, 1005, 1006, 1015, 999, 2000, 5000] {
            assert!(!CloseCode(c).is_sendable(), "{c}");
        }
        for c in [1000u16, 1001, 1011, 3000, 4000, 4999] {
            assert!(CloseCode(c).is_sendable(), "{c}");
        }
    }

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        let c = Close::new(1000, "é".repeat(100));
        assert!(c.reason.len() <= MAX_REASON);
        assert_eq!(c.reason.len(), 122);
        assert_eq!(Close::new(1000, "short").reason, "short");
    }
}
