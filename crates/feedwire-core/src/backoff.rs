//! Capped exponential backoff with seeded jitter.

use std::time::Duration;

/// How a [`Backoff`] grows.
///
/// The delay before reconnect attempt `n` (counting from 0 since the last [`Backoff::reset`]) is
///
/// ```text
/// base(n)  = min(max, initial * multiplier^n)
/// delay(n) = base(n) * (1 + jitter * r),   r uniform in [0, 1) from the seeded generator
/// ```
///
/// so every delay lies in `[base(n), base(n) * (1 + jitter))`, and never reaches `max * (1 + jitter)`.
/// Upward jitter is what @rails/actioncable uses (`6 s * 1.15^min(n,10) * (1 + jitter)`); with
/// `initial = 6 s`, `multiplier = 1.15`, `max = 6 s * 1.15^10` and `jitter = 0.15` this is its formula.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The base delay of the first attempt (default 1 s).
    pub initial: Duration,
    /// The cap on the base delay (default 60 s).
    pub max: Duration,
    /// The growth factor per attempt, at least 1 (default 2).
    pub multiplier: f64,
    /// The jitter fraction in `[0, 1]` (default 0.2).
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl BackoffConfig {
    /// Sets the first base delay.
    pub fn with_initial(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }
    /// Sets the cap on the base delay.
    pub fn with_max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }
    /// Sets the growth factor (values below 1 or not finite are treated as 1).
    pub fn with_multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }
    /// Sets the jitter fraction (clamped to `[0, 1]`; not finite is treated as 0).
    pub fn with_jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }

    /// The smallest and largest delay this configuration can produce.
    pub fn bounds(&self) -> (Duration, Duration) {
        let (initial, max, _, jitter) = self.sanitized();
        (initial, max.mul_f64(1.0 + jitter))
    }

    fn sanitized(&self) -> (Duration, Duration, f64, f64) {
        let initial = self.initial;
        let max = self.max.max(initial);
        let multiplier = if self.multiplier.is_finite() && self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (initial, max, multiplier, jitter)
    }
}

/// Capped exponential backoff with jitter drawn from a caller-given seed: the same seed gives the same
/// sequence, so every test is deterministic. See [`BackoffConfig`] for the formula.
///
/// ```
/// use std::time::Duration;
/// use feedwire_core::{Backoff, BackoffConfig};
///
/// let config = BackoffConfig::default().with_jitter(0.0);
/// let mut b = Backoff::new(config, 42);
/// assert_eq!(b.next_delay(), Duration::from_secs(1));
/// assert_eq!(b.next_delay(), Duration::from_secs(2));
/// assert_eq!(b.next_delay(), Duration::from_secs(4));
/// b.reset(); // after a connection that worked
/// assert_eq!(b.next_delay(), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff at attempt 0 with jitter drawn from `seed`.
    pub fn new(config: BackoffConfig, seed: u64) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// How many delays were handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The base delay (without jitter) of the next attempt.
    pub fn next_base(&self) -> Duration {
        let (initial, max, multiplier, _) = self.config.sanitized();
        let exp = self.attempt.min(1024) as i32;
        let secs = initial.as_secs_f64() * multiplier.powi(exp);
        if !secs.is_finite() || secs >= max.as_secs_f64() {
            max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// The delay before the next attempt; advances the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let jitter = self.config.sanitized().3;
        self.next_delay_with_jitter(jitter)
    }

    /// Like [`Backoff::next_delay`] with another jitter fraction for this one attempt (clamped to `[0, 1]`);
    /// @rails/actioncable, for example, uses a full `[0, 1)` jitter on the first attempt only.
    pub fn next_delay_with_jitter(&mut self, jitter: f64) -> Duration {
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let base = self.next_base();
        self.attempt = self.attempt.saturating_add(1);
        let r = self.rng.f64();
        base.mul_f64(1.0 + jitter * r)
    }

    /// Back to attempt 0, after a connection that worked. The jitter generator keeps its state.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn grows_exponentially_then_caps() {
        let cfg = BackoffConfig::default()
            .with_max(Duration::from_secs(10))
            .with_jitter(0.0);
        let mut b = Backoff::new(cfg, 1);
        let seq: Vec<f64> = (0..8).map(|_| secs(b.next_delay())).collect();
        assert_eq!(seq, vec![1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]);
        assert_eq!(b.attempt(), 8);
    }

    #[test]
    fn stays_within_bounds_with_jitter() {
        let cfg = BackoffConfig::default()
            .with_max(Duration::from_secs(30))
            .with_jitter(0.5);
        let (lo, hi) = cfg.bounds();
        assert_eq!((lo, hi), (Duration::from_secs(1), Duration::from_secs(45)));
        for seed in 0..50 {
            let mut b = Backoff::new(cfg, seed);
            for n in 0..40u32 {
                let base = b.next_base();
                let d = b.next_delay();
                assert!(
                    d >= base && d < base.mul_f64(1.5),
                    "seed {seed} n {n}: {d:?} vs base {base:?}"
                );
                assert!(d >= lo && d < hi);
            }
        }
    }

    #[test]
    fn reset_starts_over() {
        let cfg = BackoffConfig::default().with_jitter(0.0);
        let mut b = Backoff::new(cfg, 9);
        for _ in 0..5 {
            let _ = b.next_delay();
        }
        assert_eq!(b.next_base(), Duration::from_secs(32));
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let cfg = BackoffConfig::default();
        let run = |seed| {
            let mut b = Backoff::new(cfg, seed);
            (0..10).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn rails_formula() {
        // 6 s * 1.15^min(n, 10) * (1 + jitter)
        let cap = Duration::from_secs_f64(6.0 * 1.15f64.powi(10));
        let cfg = BackoffConfig::default()
            .with_initial(Duration::from_secs(6))
            .with_multiplier(1.15)
            .with_max(cap)
            .with_jitter(0.15);
        let mut b = Backoff::new(cfg, 3);
        for n in 0..15 {
            let expected = 6.0 * 1.15f64.powi(n.min(10));
            let d = secs(b.next_delay());
            assert!(
                d >= expected - 1e-6 && d < expected * 1.15 + 1e-6,
                "n={n} d={d} expected~{expected}"
            );
        }
    }

    #[test]
    fn bad_config_is_sanitized() {
        let cfg = BackoffConfig::default()
            .with_initial(Duration::from_secs(5))
            .with_max(Duration::from_secs(1)) // below initial: initial wins
            .with_multiplier(f64::NAN)
            .with_jitter(7.0);
        let mut b = Backoff::new(cfg, 0);
        for _ in 0..100 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_secs(5) && d < Duration::from_secs(10),
                "{d:?}"
            );
        }
        let mut huge = Backoff::new(BackoffConfig::default().with_multiplier(1e300), 0);
        for _ in 0..2000 {
            assert!(huge.next_delay() <= Duration::from_secs(72));
        }
    }
}
