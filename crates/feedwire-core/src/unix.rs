//! The one way a session turns an `Instant` into Unix time.

use std::time::{Duration, Instant};

/// Maps a session's `Instant`s to Unix time: `unix_ms` was the Unix time in milliseconds at `instant`.
///
/// Sans-IO sessions never read a clock; protocols that put Unix time on the wire (Doshii and Igratech pings,
/// AnyCable's history `since`, Pusher's HTTP API timestamps) take one anchor at construction, read once by
/// the caller, and derive every later Unix time from the `Instant`s they are given. The same inputs give the
/// same outputs, in tests as in production.
///
/// ```
/// use std::time::{Duration, Instant};
/// use feedwire_core::UnixAnchor;
/// # #[allow(clippy::disallowed_methods)]
/// let t0 = Instant::now(); // a driver reads its clock once, here, and passes instants in
/// let anchor = UnixAnchor::new(t0, 1_700_000_000_000);
/// assert_eq!(anchor.unix_ms(t0 + Duration::from_millis(1500)), 1_700_000_001_500);
/// assert_eq!(anchor.unix_secs(t0 + Duration::from_millis(1500)), 1_700_000_001);
/// assert_eq!(anchor.unix_ms(t0 - Duration::from_secs(1)), 1_699_999_999_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnixAnchor {
    /// The instant of the anchor.
    pub instant: Instant,
    /// Unix milliseconds at `instant`.
    pub unix_ms: u64,
}

impl UnixAnchor {
    /// An anchor saying that `instant` is `unix_ms` milliseconds after the Unix epoch.
    pub const fn new(instant: Instant, unix_ms: u64) -> Self {
        UnixAnchor { instant, unix_ms }
    }

    /// An anchor at `instant` whose Unix time is zero: for tests and for protocols where only differences
    /// matter.
    pub const fn epoch_at(instant: Instant) -> Self {
        UnixAnchor { instant, unix_ms: 0 }
    }

    /// Unix milliseconds at `now` (saturating at 0 and `u64::MAX`).
    #[inline]
    pub fn unix_ms(&self, now: Instant) -> u64 {
        // whole milliseconds without a u128 division (this runs for every event of some protocols)
        let ms = |d: Duration| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        };
        if now >= self.instant {
            self.unix_ms.saturating_add(ms(now.duration_since(self.instant)))
        } else {
            self.unix_ms.saturating_sub(ms(self.instant.duration_since(now)))
        }
    }

    /// Unix seconds at `now`, rounded down.
    #[inline]
    pub fn unix_secs(&self, now: Instant) -> u64 {
        self.unix_ms(now) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's origin instant
    fn saturates_both_ways() {
        let t0 = Instant::now();
        let a = UnixAnchor::new(t0, 500);
        assert_eq!(a.unix_ms(t0 - Duration::from_secs(1)), 0);
        let b = UnixAnchor::new(t0, u64::MAX - 1);
        assert_eq!(b.unix_ms(t0 + Duration::from_secs(1)), u64::MAX);
        assert_eq!(
            UnixAnchor::epoch_at(t0).unix_secs(t0 + Duration::from_millis(2999)),
            2
        );
    }
}
