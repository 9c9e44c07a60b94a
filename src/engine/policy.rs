//! Pure policies of the engine: retry backoff and rate-limit buckets. Time and randomness are
//! passed in, so each is testable without sleeping.

use std::time::Duration;

use crate::spec::RetryPolicy;

/// The delay before attempt `next_attempt` (2 for the first retry), given a random `unit` in
/// [0, 1). Exponential from `initial`, capped at `max`; with jitter, uniform in [d/2, d].
pub fn backoff_delay(policy: &RetryPolicy, next_attempt: u32, unit: f64) -> Duration {
    let retries_before = next_attempt.saturating_sub(2) as i32;
    let initial = policy.initial.get().as_secs_f64();
    let cap = policy.max.get().as_secs_f64();
    let factor = if policy.multiplier.is_finite() && policy.multiplier >= 1.0 {
        policy.multiplier
    } else {
        1.0
    };
    let mut delay = (initial * factor.powi(retries_before)).min(cap);
    if !delay.is_finite() || delay < 0.0 {
        delay = cap;
    }
    if policy.jitter {
        delay *= 0.5 + 0.5 * unit.clamp(0.0, 1.0);
    }
    Duration::from_secs_f64(delay)
}

/// Whether a failed attempt may be retried under `policy`.
pub fn may_retry(
    policy: &RetryPolicy,
    attempt: u32,
    exit_code: Option<i32>,
    retryable: bool,
) -> bool {
    if !retryable || attempt >= policy.max_attempts {
        return false;
    }
    if policy.on_exit_codes.is_empty() {
        return true;
    }
    exit_code.is_some_and(|c| policy.on_exit_codes.contains(&c))
}

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
    use crate::time::Dur;

    fn policy(jitter: bool) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial: Dur(Duration::from_secs(1)),
            max: Dur(Duration::from_secs(5)),
            multiplier: 2.0,
            jitter,
            on_exit_codes: vec![],
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = policy(false);
        let d: Vec<u64> = (2..=6)
            .map(|n| backoff_delay(&p, n, 0.0).as_secs())
            .collect();
        assert_eq!(d, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        let p = policy(true);
        assert_eq!(backoff_delay(&p, 3, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 3, 1.0), Duration::from_secs(2));
        let mut j = Jitter::from_entropy();
        for _ in 0..1000 {
            let u = j.next_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn retry_respects_attempts_and_exit_codes() {
        let mut p = policy(false);
        assert!(may_retry(&p, 1, Some(1), true));
        assert!(!may_retry(&p, 5, Some(1), true));
        assert!(!may_retry(&p, 1, Some(1), false));
        p.on_exit_codes = vec![75];
        assert!(may_retry(&p, 1, Some(75), true));
        assert!(!may_retry(&p, 1, Some(1), true));
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
