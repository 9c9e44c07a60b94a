//! Client-side rate limits per provider: requests per minute and tokens per minute, as token
//! buckets with reservation.
//!
//! A call *reserves* what it needs at once, which may leave the bucket in debt, and is told how
//! long to wait before it may go; the next caller then queues behind it. Time is passed in.

use std::time::Duration;

use tokio::time::Instant;

/// A bucket holding up to `capacity` units, refilled at `capacity` per minute.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    level: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket of `per_minute` units.
    pub fn per_minute(per_minute: u32, now: Instant) -> Self {
        let capacity = f64::from(per_minute.max(1));
        TokenBucket {
            capacity,
            per_second: capacity / 60.0,
            level: capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.at = now.max(self.at);
    }

    /// Takes `units` (at most a full bucket's worth, so an oversized request still goes once
    /// the bucket is full) and returns how long the caller must wait before using them.
    pub fn reserve(&mut self, units: u64, now: Instant) -> Duration {
        self.refill(now);
        let units = (units as f64).min(self.capacity);
        self.level -= units;
        if self.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.level / self.per_second)
        }
    }

    /// Gives back (positive) or takes more (negative) units after the real cost is known.
    pub fn adjust(&mut self, units: i64, now: Instant) {
        self.refill(now);
        self.level = (self.level + units as f64).min(self.capacity);
    }

    /// Units available now.
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_within_the_limit_go_at_once_and_the_next_waits_for_a_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(2, t0);
        assert_eq!(b.reserve(1, t0), Duration::ZERO);
        assert_eq!(b.reserve(1, t0), Duration::ZERO);
        assert_eq!(b.reserve(1, t0), Duration::from_secs(30));
        assert_eq!(
            b.reserve(1, t0),
            Duration::from_secs(60),
            "queues behind the previous"
        );
    }

    #[test]
    fn the_bucket_refills_over_time_up_to_its_capacity() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(60, t0);
        b.reserve(60, t0);
        assert_eq!(b.available(t0 + Duration::from_secs(10)), 10.0);
        assert_eq!(b.available(t0 + Duration::from_secs(600)), 60.0);
    }

    #[test]
    fn an_oversized_request_goes_once_the_bucket_is_full() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(100, t0);
        assert_eq!(b.reserve(5000, t0), Duration::ZERO);
        assert_eq!(b.reserve(50, t0), Duration::from_secs(30));
    }

    #[test]
    fn adjusting_after_the_real_cost_moves_the_level() {
        let t0 = Instant::now();
        let mut b = TokenBucket::per_minute(100, t0);
        b.reserve(50, t0);
        b.adjust(-30, t0);
        assert_eq!(b.available(t0), 20.0);
        b.adjust(500, t0);
        assert_eq!(b.available(t0), 100.0);
    }
}
