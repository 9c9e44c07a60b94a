//! A time budget that stops running while a run is paused: the timeout of a frozen step must
//! not expire while the operator has it paused.

use std::time::Duration;

use tokio::time::Instant;

/// A budget of running time with a pause switch. Pure: every method takes `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PausableDeadline {
    budget: Option<Duration>,
    used: Duration,
    running_since: Option<Instant>,
}

impl PausableDeadline {
    /// Starts the clock at `now` (no budget: never expires).
    pub fn start(budget: Option<Duration>, now: Instant) -> PausableDeadline {
        PausableDeadline {
            budget,
            used: Duration::ZERO,
            running_since: Some(now),
        }
    }

    /// Stops the clock.
    pub fn pause(&mut self, now: Instant) {
        if let Some(since) = self.running_since.take() {
            self.used += now.saturating_duration_since(since);
        }
    }

    /// Starts the clock again.
    pub fn resume(&mut self, now: Instant) {
        if self.running_since.is_none() {
            self.running_since = Some(now);
        }
    }

    /// Running time used so far.
    pub fn used(&self, now: Instant) -> Duration {
        self.used
            + self
                .running_since
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// When the budget runs out if the clock keeps running; `None` if paused or unlimited.
    pub fn expires_at(&self, now: Instant) -> Option<Instant> {
        let budget = self.budget?;
        self.running_since?;
        Some(now + budget.saturating_sub(self.used(now)))
    }

    /// The budget is spent.
    pub fn expired(&self, now: Instant) -> bool {
        self.budget.is_some_and(|b| self.used(now) >= b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_time_does_not_count() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut d = PausableDeadline::start(Some(s(10)), t0);
        d.pause(t0 + s(4));
        assert_eq!(d.expires_at(t0 + s(100)), None);
        assert!(!d.expired(t0 + s(100)));
        d.resume(t0 + s(100));
        assert_eq!(d.expires_at(t0 + s(100)), Some(t0 + s(106)));
        assert!(d.expired(t0 + s(106)));
        assert_eq!(d.used(t0 + s(105)), s(9));
    }

    #[test]
    fn no_budget_never_expires() {
        let t0 = Instant::now();
        let d = PausableDeadline::start(None, t0);
        assert!(!d.expired(t0 + Duration::from_secs(1_000_000)));
        assert_eq!(d.expires_at(t0), None);
    }
}
