//! The part of a bad frame an error event keeps.

use feedwire_core::Frame;

/// The most bytes of a frame that an error event keeps.
pub(crate) const MAX_EXCERPT: usize = 256;

// CORE-CANDIDATE: every protocol's `Malformed` event keeps at most 256 bytes of the frame, cut the same way.
/// `frame` cut to its first [`MAX_EXCERPT`] bytes, on a character boundary. A longer frame is copied, so the
/// event does not keep a large buffer alive.
pub(crate) fn excerpt(frame: Frame) -> Frame {
    let text = frame.as_str();
    if text.len() <= MAX_EXCERPT {
        return frame;
    }
    let mut end = MAX_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Frame::from(text.get(..end).unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_short_frames_and_cuts_long_ones_on_a_char_boundary() {
        let short = Frame::from("x".repeat(MAX_EXCERPT));
        assert_eq!(excerpt(short.clone()), short);
        let long = format!("{}é{}", "x".repeat(MAX_EXCERPT - 1), "y".repeat(10));
        let cut = excerpt(Frame::from(long.clone()));
        assert_eq!(cut.as_str(), &long[..MAX_EXCERPT - 1]);
        assert!(long.starts_with(cut.as_str()));
    }
}
