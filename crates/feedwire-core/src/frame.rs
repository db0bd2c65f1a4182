//! One WebSocket text frame.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

/// Why bytes could not become a [`Frame`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The payload is not valid UTF-8; `valid_up_to` bytes were valid.
    #[error("frame is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        /// How many leading bytes were valid UTF-8.
        valid_up_to: usize,
    },
    /// The payload is larger than the configured limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length in bytes.
        len: usize,
        /// The limit in force.
        max: usize,
    },
}

/// One WebSocket text frame: UTF-8 text backed by [`Bytes`], so slices of it can be handed out without copying.
///
/// ```
/// use feedwire_core::{Bytes, Frame};
///
/// let frame = Frame::from(r#"{"event":"pusher:ping","data":{}}"#);
/// assert_eq!(frame.len(), 33);
///
/// let owned: Frame = String::from("hello").into(); // no copy
/// assert_eq!(owned.as_str(), "hello");
///
/// assert!(Frame::try_from(Bytes::from_static(b"\xff")).is_err()); // invalid UTF-8 is rejected
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Frame {
    text: ByteString,
}

impl Frame {
    /// Validates `bytes` as UTF-8 and checks it against `max_len`.
    pub fn from_bytes_limited(bytes: Bytes, max_len: usize) -> Result<Self, FrameError> {
        if bytes.len() > max_len {
            return Err(FrameError::TooLarge {
                len: bytes.len(),
                max: max_len,
            });
        }
        Self::try_from(bytes)
    }

    /// How many bytes of an undecodable frame a session's `Malformed` event keeps.
    pub const MALFORMED_KEEP: usize = 256;

    /// The frame cut to at most `max` bytes on a character boundary. Sessions keep
    /// `truncated(Frame::MALFORMED_KEEP)` of a frame they could not decode, so that a flood of megabyte-sized
    /// garbage never piles up in their events: a frame that is cut is copied (a few hundred bytes), so the
    /// excerpt does not keep the large buffer alive; one that fits is shared.
    ///
    /// ```
    /// use feedwire_core::Frame;
    /// let f = Frame::from("héllo");
    /// assert_eq!(f.truncated(2).as_str(), "h"); // 'é' is two bytes: cut before it
    /// assert_eq!(f.truncated(100).as_str(), "héllo");
    /// ```
    pub fn truncated(&self, max: usize) -> Frame {
        let text = self.as_str();
        if text.len() <= max {
            return self.clone();
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Frame::from(text.get(..end).unwrap_or("").to_owned())
    }

    /// The frame's text.
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The frame's bytes (cheap clone of the shared buffer).
    #[inline]
    pub fn bytes(&self) -> &Bytes {
        self.text.as_bytes()
    }

    /// Consumes the frame, returning the shared buffer.
    #[inline]
    pub fn into_bytes(self) -> Bytes {
        self.text.into_bytes()
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether the frame is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// A zero-copy [`Frame`] of `part`, which must be a sub-slice of this frame's text; otherwise `part` is
    /// copied into a new buffer (still correct, just not free).
    pub fn slice_ref(&self, part: &str) -> Frame {
        if is_subslice(self.as_str(), part) {
            Frame {
                text: self.text.slice_ref(part),
            }
        } else {
            Frame {
                text: ByteString::from(part.to_owned()),
            }
        }
    }

    /// The frame as a [`ByteString`] (shares the buffer).
    pub fn as_byte_string(&self) -> &ByteString {
        &self.text
    }

    /// The frame as its [`ByteString`], without touching the reference count.
    pub fn into_byte_string(self) -> ByteString {
        self.text
    }
}

/// Whether `part` lies inside `whole` (by address), so `Bytes::slice_ref` will not panic.
pub(crate) fn is_subslice(whole: &str, part: &str) -> bool {
    let w = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    p >= w && p + part.len() <= w + whole.len()
}

impl TryFrom<Bytes> for Frame {
    type Error = FrameError;

    /// Validates UTF-8; does not copy.
    fn try_from(bytes: Bytes) -> Result<Self, FrameError> {
        ByteString::try_from(bytes.clone())
            .map(|text| Frame { text })
            .map_err(|_| {
                let valid_up_to = match std::str::from_utf8(&bytes) {
                    Err(e) => e.valid_up_to(),
                    Ok(_) => bytes.len(),
                };
                FrameError::InvalidUtf8 { valid_up_to }
            })
    }
}

impl TryFrom<Vec<u8>> for Frame {
    type Error = FrameError;

    fn try_from(bytes: Vec<u8>) -> Result<Self, FrameError> {
        Frame::try_from(Bytes::from(bytes))
    }
}

impl From<String> for Frame {
    /// Takes ownership of the string's buffer; does not copy the text. Spare capacity is given back first
    /// (a shrink the allocator normally does in place): `Bytes` would otherwise allocate a separate header to
    /// keep track of a buffer whose length and capacity differ, and an encoded frame would cost two
    /// allocations instead of one.
    fn from(mut s: String) -> Self {
        if s.len() != s.capacity() {
            s.shrink_to_fit();
        }
        Frame {
            text: ByteString::from(s),
        }
    }
}

impl From<&'static str> for Frame {
    /// Points at the static string; does not copy.
    fn from(s: &'static str) -> Self {
        Frame {
            text: ByteString::from_static(s),
        }
    }
}

impl From<ByteString> for Frame {
    fn from(text: ByteString) -> Self {
        Frame { text }
    }
}

impl From<Frame> for Bytes {
    fn from(f: Frame) -> Bytes {
        f.into_bytes()
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl AsRef<str> for Frame {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::ops::Deref for Frame {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Frames can be large; keep Debug output readable.
        const MAX: usize = 256;
        let s = self.as_str();
        if s.len() <= MAX {
            write!(f, "Frame({s:?})")
        } else {
            let mut end = MAX;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            write!(f, "Frame({:?}... {} bytes)", &s[..end], s.len())
        }
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_utf8_with_position() {
        let err = Frame::try_from(Bytes::from_static(b"ab\xffcd")).unwrap_err();
        assert_eq!(err, FrameError::InvalidUtf8 { valid_up_to: 2 });
        // a truncated multi-byte sequence
        let err = Frame::try_from(vec![b'x', 0xE2, 0x82]).unwrap_err();
        assert_eq!(err, FrameError::InvalidUtf8 { valid_up_to: 1 });
    }

    #[test]
    fn accepts_multibyte_utf8() {
        let f = Frame::try_from(Bytes::from("ünïcödé €".as_bytes().to_vec())).unwrap();
        assert_eq!(f.as_str(), "ünïcödé €");
    }

    #[test]
    fn rejects_oversize_input() {
        let b = Bytes::from(vec![b'a'; 11]);
        assert_eq!(
            Frame::from_bytes_limited(b.clone(), 10).unwrap_err(),
            FrameError::TooLarge { len: 11, max: 10 }
        );
        assert_eq!(Frame::from_bytes_limited(b, 11).unwrap().len(), 11);
    }

    #[test]
    fn conversions_do_not_copy() {
        let s = String::from("payload text");
        let ptr = s.as_ptr();
        let f = Frame::from(s);
        assert_eq!(f.as_str().as_ptr(), ptr, "From<String> must reuse the allocation");

        static TEXT: &str = "static text";
        let f = Frame::from(TEXT);
        assert_eq!(
            f.as_str().as_ptr(),
            TEXT.as_ptr(),
            "From<&'static str> must point at the static"
        );

        let b = Bytes::from(b"bytes text".to_vec());
        let bptr = b.as_ptr();
        let f = Frame::try_from(b).unwrap();
        assert_eq!(f.as_str().as_ptr(), bptr, "TryFrom<Bytes> must not copy");
        assert_eq!(f.clone().into_bytes().as_ptr(), bptr);
    }

    #[test]
    fn slice_ref_shares_or_copies() {
        let f = Frame::from(String::from("{\"a\":[1,2,3]}"));
        let inner = &f.as_str()[5..12];
        let sub = f.slice_ref(inner);
        assert_eq!(sub.as_str(), "[1,2,3]");
        assert_eq!(sub.as_str().as_ptr(), inner.as_ptr());
        let foreign = String::from("[1,2,3]");
        let copied = f.slice_ref(&foreign);
        assert_eq!(copied.as_str(), "[1,2,3]");
        assert_ne!(copied.as_str().as_ptr(), foreign.as_ptr());
    }

    #[test]
    fn debug_truncates_long_frames_on_char_boundary() {
        let long = "é".repeat(300);
        let d = format!("{:?}", Frame::from(long));
        assert!(d.contains("600 bytes"), "{d}");
        assert!(d.len() < 400);
    }
}
