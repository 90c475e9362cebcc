//! Exponential backoff with full jitter between reconnect attempts.
//!
//! The delay before attempt `n` (1-based) is uniform in `[0, min(cap, base * 2^(n-1))]`
//! ("full jitter"): many clients disconnected at once by a venue spread their reconnects over
//! the whole window instead of arriving together. A small xorshift generator, seeded per
//! connection, keeps it allocation-free and deterministic under a fixed seed.

use std::time::Duration;

use crate::config::BackoffConfig;

/// Backoff state of one connection.
#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    /// Failed attempts since the last success.
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A fresh backoff with `seed` for its jitter (any value; zero is remapped).
    pub fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt, and that attempt's number (1-based); `None` when
    /// `max_attempts` is exhausted.
    pub fn next_delay(&mut self) -> Option<(Duration, u32)> {
        if let Some(max) = self.config.max_attempts {
            if self.attempt >= max {
                return None;
            }
        }
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = self.ceiling(self.attempt);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        let delay = if nanos == 0 {
            0
        } else {
            // Uniform in [0, nanos] (modulo bias is irrelevant at these magnitudes).
            self.next_u64() % (nanos + 1)
        };
        Some((Duration::from_nanos(delay), self.attempt))
    }

    /// Like [`Backoff::next_delay`], but the delay is at least `floor` (a server's
    /// `Retry-After`): `floor` plus the usual jittered delay, so clients refused together
    /// still come back spread out.
    pub fn next_delay_after(&mut self, floor: Duration) -> Option<(Duration, u32)> {
        let (d, n) = self.next_delay()?;
        Some((floor.saturating_add(d), n))
    }

    /// Upper bound of the delay before attempt `n` (1-based).
    pub fn ceiling(&self, n: u32) -> Duration {
        let shift = n.saturating_sub(1);
        if shift >= 32 {
            return self.config.cap;
        }
        self.config
            .base
            .checked_mul(1u32 << shift)
            .unwrap_or(self.config.cap)
            .min(self.config.cap)
    }

    /// Failed attempts since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Forgets past failures (call once a connection is live).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: Option<u32>) -> BackoffConfig {
        BackoffConfig {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
            max_attempts: max,
        }
    }

    #[test]
    fn delays_stay_within_the_doubling_window_and_cap() {
        for seed in 0..50u64 {
            let mut b = Backoff::new(cfg(None), seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for n in 1..=100u32 {
                let (d, attempt) = b.next_delay().unwrap();
                assert_eq!(attempt, n);
                let window = Duration::from_millis(100)
                    .saturating_mul(1 << (n - 1).min(20))
                    .min(Duration::from_secs(5));
                assert!(d <= window, "attempt {n}: {d:?} > {window:?}");
                assert!(d <= Duration::from_secs(5));
            }
        }
    }

    #[test]
    fn jitter_spreads_over_the_window() {
        let mut b = Backoff::new(cfg(None), 7);
        let mut lo = 0;
        let mut hi = 0;
        for _ in 0..2000 {
            b.reset();
            let (d, _) = b.next_delay().unwrap();
            if d < Duration::from_millis(25) {
                lo += 1;
            }
            if d > Duration::from_millis(75) {
                hi += 1;
            }
        }
        // Uniform on [0, 100 ms]: about 500 in each quarter.
        assert!((350..650).contains(&lo), "{lo}");
        assert!((350..650).contains(&hi), "{hi}");
    }

    #[test]
    fn max_attempts_and_reset() {
        let mut b = Backoff::new(cfg(Some(3)), 1);
        assert!(b.next_delay().is_some());
        assert!(b.next_delay().is_some());
        assert!(b.next_delay().is_some());
        assert_eq!(b.next_delay(), None);
        assert_eq!(b.attempts(), 3);
        b.reset();
        assert_eq!(b.next_delay().map(|(_, n)| n), Some(1));
    }

    #[test]
    fn a_floor_is_always_waited_and_jitter_comes_on_top() {
        let mut b = Backoff::new(cfg(Some(5)), 3);
        let floor = Duration::from_secs(25);
        for n in 1..=5u32 {
            let (d, attempt) = b.next_delay_after(floor).unwrap();
            assert_eq!(attempt, n);
            assert!(d >= floor, "attempt {n}: {d:?}");
            assert!(d <= floor + Duration::from_secs(5), "attempt {n}: {d:?}");
        }
        assert_eq!(b.next_delay_after(floor), None);
    }

    #[test]
    fn huge_attempt_numbers_saturate_at_cap() {
        let b = Backoff::new(cfg(None), 1);
        assert_eq!(b.ceiling(40), Duration::from_secs(5));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(5));
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(400));
    }
}
