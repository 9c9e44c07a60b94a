//! Pure policies of the engine: rate-limit buckets and the jitter source (retry decisions are
//! the run machine's, `machine::retry`). Time is passed in, so each is testable without
//! sleeping.

use std::time::Duration;

/// A token bucket: `max` starts per `per`, refilled continuously.
#[derive(Debug, Clone, PartialEq)]
pub struct RateBucket {
    max: f64,
    per: Duration,
    tokens: f64,
    last: Duration,
}

impl RateBucket {
    /// A full bucket at time `now` (any monotonic origin).
    pub fn new(max: u32, per: Duration, now: Duration) -> RateBucket {
        RateBucket {
            max: f64::from(max.max(1)),
            per: if per.is_zero() {
                Duration::from_millis(1)
            } else {
                per
            },
            tokens: f64::from(max.max(1)),
            last: now,
        }
    }

    /// Takes a token at `now`, or says how long until one is available.
    pub fn take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = now.max(self.last);
        let rate = self.max / self.per.as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.max);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// A small xorshift generator for jitter; no need for cryptographic randomness.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded from the clock and the pid.
    pub fn from_entropy() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    /// A number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_units_stay_in_the_unit_interval() {
        let mut j = Jitter::from_entropy();
        for _ in 0..1000 {
            let u = j.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn bucket_refills_over_time() {
        let s = Duration::from_secs;
        let mut b = RateBucket::new(2, s(10), s(0));
        assert!(b.take(s(0)).is_ok());
        assert!(b.take(s(0)).is_ok());
        let wait = b.take(s(0)).unwrap_err();
        assert_eq!(wait, s(5));
        assert!(b.take(s(5)).is_ok());
    }
}
