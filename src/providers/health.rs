//! Health of one provider: a latency moving average, the error rate over a time window, and a
//! circuit breaker with a half-open probe.
//!
//! Pure: every method takes `now`, so the policy is tested without clocks. The breaker opens
//! after `failures_to_open` failures in a row (or when at least `min_samples` calls in the
//! window failed at `open_error_rate` or more); while open the provider is skipped; after
//! `open_for` one probe call is let through (half-open): success closes the breaker, failure
//! opens it again.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Breaker and window settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    /// Consecutive failures that open the breaker.
    pub failures_to_open: u32,
    /// How long the breaker stays open before a probe.
    pub open_for: Duration,
    /// The error-rate window.
    pub window: Duration,
    /// Calls in the window before the error rate alone may open the breaker.
    pub min_samples: usize,
    /// Error rate (0..=1) that opens the breaker once `min_samples` is reached.
    pub open_error_rate: f64,
    /// Weight of the newest latency in the moving average.
    pub latency_alpha: f64,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            failures_to_open: 3,
            open_for: Duration::from_secs(30),
            window: Duration::from_secs(300),
            min_samples: 10,
            open_error_rate: 0.5,
            latency_alpha: 0.3,
        }
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Breaker {
    /// Calls go through.
    Closed,
    /// Calls are refused until `until`.
    Open {
        /// When a probe may be sent.
        until: Instant,
    },
    /// One probe is in flight (started at `since`); other calls are refused.
    HalfOpen {
        /// When the probe started.
        since: Instant,
    },
}

/// Whether a call may go to this provider now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Go ahead as the half-open probe: one attempt only, its outcome decides the breaker.
    Probe,
    /// Skip this provider; it may be tried again after this long.
    Refused {
        /// Until the next probe.
        retry_in: Duration,
    },
}

/// A summary for listings.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSnapshot {
    /// `closed`, `open` or `half-open`.
    pub state: &'static str,
    /// Moving average of successful call latency.
    pub latency: Option<Duration>,
    /// Failed share of the calls in the window (0 when there were none).
    pub error_rate: f64,
    /// Calls in the window.
    pub samples: usize,
    /// Failures in a row.
    pub consecutive_failures: u32,
}

/// What one process tells the next about a provider: its last call and the breaker after it
/// (see `health_file.rs`). Times are wall-clock milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LastCall {
    /// When the call ended.
    pub at: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// Why it failed: the error's class and status (never the provider's words, which could
    /// quote a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The latency average after it, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Failures in a row after it.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// While the breaker is open: when it lets a probe through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_until: Option<u64>,
}

/// One provider's health.
#[derive(Debug, Clone)]
pub struct Health {
    policy: HealthPolicy,
    breaker: Breaker,
    consecutive_failures: u32,
    outcomes: VecDeque<(Instant, bool)>,
    latency_ms: Option<f64>,
}

impl Health {
    /// A provider with no history: closed breaker.
    pub fn new(policy: HealthPolicy) -> Self {
        Health {
            policy,
            breaker: Breaker::Closed,
            consecutive_failures: 0,
            outcomes: VecDeque::new(),
            latency_ms: None,
        }
    }

    /// Takes over what an earlier process saw: failures in a row, the latency average, and a
    /// breaker still open (it stays open for what is left of its time).
    pub fn resume_from(&mut self, last: &LastCall, now: Instant, now_ms: u64) {
        self.consecutive_failures = last.consecutive_failures;
        self.latency_ms = last.latency_ms.map(|ms| ms as f64);
        if let Some(until) = last.open_until.filter(|&u| u > now_ms) {
            let left = Duration::from_millis(until - now_ms).min(self.policy.open_for);
            self.breaker = Breaker::Open { until: now + left };
        }
    }

    /// What to tell the next process after a call that ended at `now` (`now_ms` on the wall
    /// clock); `error` is why it failed, if it did.
    pub fn last_call(&self, now: Instant, now_ms: u64, error: Option<String>) -> LastCall {
        LastCall {
            at: now_ms,
            ok: error.is_none(),
            error,
            latency_ms: self.latency_ms.map(|ms| ms.max(0.0).round() as u64),
            consecutive_failures: self.consecutive_failures,
            open_until: match self.breaker {
                Breaker::Open { until } if until > now => {
                    Some(now_ms + (until - now).as_millis() as u64)
                }
                _ => None,
            },
        }
    }

    /// The breaker's state.
    pub fn breaker(&self) -> Breaker {
        self.breaker
    }

    /// Decides whether a call may start now; a `Probe` answer marks the probe as in flight.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.breaker {
            Breaker::Closed => Admission::Allowed,
            Breaker::Open { until } if now >= until => {
                self.breaker = Breaker::HalfOpen { since: now };
                Admission::Probe
            }
            Breaker::Open { until } => Admission::Refused {
                retry_in: until - now,
            },
            // A probe whose caller vanished (a cancelled step) must not block the provider
            // forever: after `open_for` another probe may go.
            Breaker::HalfOpen { since } if now >= since + self.policy.open_for => {
                self.breaker = Breaker::HalfOpen { since: now };
                Admission::Probe
            }
            Breaker::HalfOpen { since } => Admission::Refused {
                retry_in: (since + self.policy.open_for) - now,
            },
        }
    }

    /// Records a successful call.
    pub fn record_success(&mut self, now: Instant, latency: Duration) {
        self.push(now, true);
        self.consecutive_failures = 0;
        self.breaker = Breaker::Closed;
        let ms = latency.as_secs_f64() * 1000.0;
        let a = self.policy.latency_alpha;
        self.latency_ms = Some(match self.latency_ms {
            Some(avg) => a * ms + (1.0 - a) * avg,
            None => ms,
        });
    }

    /// Records a failed call (a provider-side failure, not a rejected request).
    pub fn record_failure(&mut self, now: Instant) {
        self.push(now, false);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let (rate, samples) = self.error_rate(now);
        let trip = match self.breaker {
            Breaker::HalfOpen { .. } => true,
            Breaker::Open { .. } => false,
            Breaker::Closed => {
                self.consecutive_failures >= self.policy.failures_to_open
                    || (samples >= self.policy.min_samples && rate >= self.policy.open_error_rate)
            }
        };
        if trip {
            self.breaker = Breaker::Open {
                until: now + self.policy.open_for,
            };
        }
    }

    /// Failed share of the calls in the window, and how many calls that is.
    pub fn error_rate(&self, now: Instant) -> (f64, usize) {
        let recent: Vec<bool> = self
            .outcomes
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= self.policy.window)
            .map(|(_, ok)| *ok)
            .collect();
        if recent.is_empty() {
            return (0.0, 0);
        }
        let failed = recent.iter().filter(|ok| !**ok).count();
        (failed as f64 / recent.len() as f64, recent.len())
    }

    /// A summary for listings.
    pub fn snapshot(&self, now: Instant) -> HealthSnapshot {
        let (error_rate, samples) = self.error_rate(now);
        HealthSnapshot {
            state: match self.breaker {
                Breaker::Closed => "closed",
                Breaker::Open { until } if now < until => "open",
                Breaker::Open { .. } | Breaker::HalfOpen { .. } => "half-open",
            },
            latency: self
                .latency_ms
                .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0)),
            error_rate,
            samples,
            consecutive_failures: self.consecutive_failures,
        }
    }

    fn push(&mut self, now: Instant, ok: bool) {
        self.outcomes.push_back((now, ok));
        while let Some((at, _)) = self.outcomes.front() {
            if now.saturating_duration_since(*at) > self.policy.window || self.outcomes.len() > 1000
            {
                self.outcomes.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn an_open_breaker_and_its_failures_carry_over_to_the_next_process() {
        let t0 = Instant::now();
        let mut before = Health::new(HealthPolicy::default());
        for _ in 0..3 {
            before.record_failure(t0);
        }
        let last = before.last_call(t0, 1_000_000, Some("auth (HTTP 401)".into()));
        assert_eq!(last.open_until, Some(1_030_000));
        assert_eq!(last.consecutive_failures, 3);
        assert!(!last.ok);
        // Ten seconds later, in another process: still open for twenty more.
        let t1 = Instant::now();
        let mut after = Health::new(HealthPolicy::default());
        after.resume_from(&last, t1, 1_010_000);
        assert_eq!(after.admit(t1), Admission::Refused { retry_in: secs(20) });
        assert_eq!(after.admit(t1 + secs(20)), Admission::Probe);
        // Once its time has passed, the breaker starts closed.
        let mut later = Health::new(HealthPolicy::default());
        later.resume_from(&last, t1, 1_040_000);
        assert_eq!(later.admit(t1), Admission::Allowed);
        assert_eq!(later.snapshot(t1).consecutive_failures, 3);
    }

    #[test]
    fn three_failures_in_a_row_open_the_breaker_and_refuse_calls() {
        let t0 = Instant::now();
        let mut h = Health::new(HealthPolicy::default());
        for i in 0..2 {
            h.record_failure(t0 + secs(i));
            assert_eq!(h.admit(t0 + secs(i)), Admission::Allowed);
        }
        h.record_failure(t0 + secs(2));
        assert_eq!(
            h.admit(t0 + secs(12)),
            Admission::Refused { retry_in: secs(20) }
        );
        assert_eq!(h.snapshot(t0 + secs(12)).state, "open");
    }

    #[test]
    fn after_open_for_one_probe_goes_through_and_its_success_closes_the_breaker() {
        let t0 = Instant::now();
        let mut h = Health::new(HealthPolicy::default());
        for _ in 0..3 {
            h.record_failure(t0);
        }
        assert_eq!(h.admit(t0 + secs(30)), Admission::Probe);
        assert!(
            matches!(h.admit(t0 + secs(31)), Admission::Refused { .. }),
            "one probe at a time"
        );
        h.record_success(t0 + secs(31), Duration::from_millis(100));
        assert_eq!(h.admit(t0 + secs(31)), Admission::Allowed);
        assert_eq!(h.snapshot(t0 + secs(31)).state, "closed");
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let t0 = Instant::now();
        let mut h = Health::new(HealthPolicy::default());
        for _ in 0..3 {
            h.record_failure(t0);
        }
        assert_eq!(h.admit(t0 + secs(30)), Admission::Probe);
        h.record_failure(t0 + secs(30));
        assert_eq!(
            h.admit(t0 + secs(40)),
            Admission::Refused { retry_in: secs(20) }
        );
    }

    #[test]
    fn an_abandoned_probe_does_not_block_the_provider_forever() {
        let t0 = Instant::now();
        let mut h = Health::new(HealthPolicy::default());
        for _ in 0..3 {
            h.record_failure(t0);
        }
        assert_eq!(h.admit(t0 + secs(30)), Admission::Probe);
        assert_eq!(h.admit(t0 + secs(60)), Admission::Probe);
    }

    #[test]
    fn a_high_error_rate_opens_the_breaker_even_without_a_streak() {
        let t0 = Instant::now();
        let mut h = Health::new(HealthPolicy::default());
        for i in 0..10 {
            if i % 2 == 0 {
                h.record_success(t0, Duration::from_millis(5));
            } else {
                h.record_failure(t0);
            }
        }
        assert_eq!(h.error_rate(t0), (0.5, 10));
        assert!(matches!(h.admit(t0), Admission::Refused { .. }));
    }

    #[test]
    fn old_outcomes_leave_the_window_and_latency_is_a_moving_average() {
        let t0 = Instant::now();
        let mut h = Health::new(HealthPolicy::default());
        h.record_failure(t0);
        h.record_success(t0 + secs(1), Duration::from_millis(100));
        h.record_success(t0 + secs(2), Duration::from_millis(200));
        assert_eq!(h.error_rate(t0 + secs(2)).1, 3);
        assert_eq!(h.error_rate(t0 + secs(301)), (0.0, 2));
        let avg = h.snapshot(t0 + secs(2)).latency.unwrap().as_millis();
        assert_eq!(avg, 130, "0.3 * 200 + 0.7 * 100");
    }
}
