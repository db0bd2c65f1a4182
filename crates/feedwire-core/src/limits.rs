//! Bounds every session and hub keeps.

/// Bounds on what a session or hub accepts and buffers.
///
/// Sessions reject a frame larger than `max_frame_size` with an error event and go on; queues that the
/// application or the peer could grow without bound are capped at `max_queued`.
///
/// ```
/// use feedwire_core::Limits;
/// let l = Limits::default().with_max_frame_size(64 * 1024);
/// assert_eq!(l.max_frame_size, 65_536);
/// assert_eq!(l.max_queued, Limits::DEFAULT_MAX_QUEUED);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest text frame accepted, in bytes (default 1 MiB).
    pub max_frame_size: usize,
    /// The most items any internal queue (events not yet polled, frames waiting to be sent) may hold.
    pub max_queued: usize,
}

impl Limits {
    /// 1 MiB.
    pub const DEFAULT_MAX_FRAME_SIZE: usize = 1 << 20;
    /// 65,536 items.
    pub const DEFAULT_MAX_QUEUED: usize = 1 << 16;

    /// Sets the largest frame accepted.
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the queue bound.
    pub fn with_max_queued(mut self, items: usize) -> Self {
        self.max_queued = items;
        self
    }

    /// Whether a frame of `len` bytes is within the limit.
    pub fn frame_fits(&self, len: usize) -> bool {
        len <= self.max_frame_size
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: Self::DEFAULT_MAX_FRAME_SIZE,
            max_queued: Self::DEFAULT_MAX_QUEUED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_mebibyte() {
        let l = Limits::default();
        assert_eq!(l.max_frame_size, 1_048_576);
        assert!(l.frame_fits(1_048_576));
        assert!(!l.frame_fits(1_048_577));
        assert!(!l.with_max_frame_size(10).frame_fits(11));
    }
}
