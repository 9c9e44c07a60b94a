//! What follows a failed attempt: another after a backoff, or the step fails. Decided here,
//! without I/O, from the step's retry policy, the failure, the moment (passed in) and a random
//! draw (passed in), so the local driver's step tasks and a deterministic workflow runtime
//! decide alike and the rule is tested without sleeping.

use std::time::Duration;

use crate::spec::RetryPolicy;
use crate::time::Timestamp;

/// What a failed attempt tells about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptFailure {
    /// The attempt's number (1-based).
    pub attempt: u32,
    /// A shell attempt's exit code.
    pub exit_code: Option<i32>,
    /// Whether trying again could help (a bad request or a refused call could not).
    pub retryable: bool,
    /// It ended because the run was cancelled.
    pub cancelled: bool,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterFailure {
    /// Attempt `next` starts after `delay`, at `at`.
    Retry {
        /// Its number.
        next: u32,
        /// How long to wait.
        delay: Duration,
        /// When it starts (for the record and the console).
        at: Timestamp,
    },
    /// The step fails with this attempt's failure.
    GiveUp,
}

/// Decides what follows `failure` under `policy`, at `now`, given a random `unit` in [0, 1)
/// for the jitter.
pub fn after_failure(
    policy: &RetryPolicy,
    failure: AttemptFailure,
    now: Timestamp,
    unit: f64,
) -> AfterFailure {
    if failure.cancelled
        || !may_retry(
            policy,
            failure.attempt,
            failure.exit_code,
            failure.retryable,
        )
    {
        return AfterFailure::GiveUp;
    }
    let next = failure.attempt + 1;
    let delay = backoff_delay(policy, next, unit);
    let at = Timestamp(now.0.saturating_add(delay.as_millis() as u64));
    AfterFailure::Retry { next, delay, at }
}

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
fn may_retry(policy: &RetryPolicy, attempt: u32, exit_code: Option<i32>, retryable: bool) -> bool {
    if !retryable || attempt >= policy.max_attempts {
        return false;
    }
    if policy.on_exit_codes.is_empty() {
        return true;
    }
    exit_code.is_some_and(|c| policy.on_exit_codes.contains(&c))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::time::Dur;

    fn policy(max_attempts: u32, jitter: bool, on_exit_codes: Vec<i32>) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial: Dur(Duration::from_secs(1)),
            max: Dur(Duration::from_secs(5)),
            multiplier: 2.0,
            jitter,
            on_exit_codes,
        }
    }

    fn failed(attempt: u32, exit_code: i32) -> AttemptFailure {
        AttemptFailure {
            attempt,
            exit_code: Some(exit_code),
            retryable: true,
            cancelled: false,
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = policy(5, false, vec![]);
        let d: Vec<u64> = (2..=6)
            .map(|n| backoff_delay(&p, n, 0.0).as_secs())
            .collect();
        assert_eq!(d, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        let p = policy(5, true, vec![]);
        assert_eq!(backoff_delay(&p, 3, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 3, 1.0), Duration::from_secs(2));
    }

    #[test]
    fn a_retry_starts_its_delay_after_now() {
        let p = policy(3, false, vec![]);
        let now = Timestamp(1_000_000);
        assert_eq!(
            after_failure(&p, failed(1, 1), now, 0.5),
            AfterFailure::Retry {
                next: 2,
                delay: Duration::from_secs(1),
                at: Timestamp(1_001_000),
            }
        );
        assert_eq!(
            after_failure(&p, failed(3, 1), now, 0.5),
            AfterFailure::GiveUp
        );
    }

    #[test]
    fn only_the_listed_exit_codes_are_retried() {
        let p = policy(5, false, vec![75]);
        let now = Timestamp(0);
        assert!(matches!(
            after_failure(&p, failed(1, 75), now, 0.0),
            AfterFailure::Retry { .. }
        ));
        assert_eq!(
            after_failure(&p, failed(1, 1), now, 0.0),
            AfterFailure::GiveUp
        );
        let no_code = AttemptFailure {
            exit_code: None,
            ..failed(1, 0)
        };
        assert_eq!(after_failure(&p, no_code, now, 0.0), AfterFailure::GiveUp);
    }

    proptest! {
        /// Whatever the policy and the failures: never past `max_attempts`, never a retry of a
        /// cancelled or unretryable attempt, every delay within [cap-limited d/2, cap], and
        /// without jitter the delays never shrink.
        #[test]
        fn the_retry_rule_holds_for_any_policy_and_failures(
            max_attempts in 1u32..8,
            initial_ms in 0u64..5_000,
            max_ms in 0u64..20_000,
            multiplier in 0.0f64..4.0,
            jitter: bool,
            codes in proptest::collection::vec(0i32..4, 0..3),
            failures in proptest::collection::vec((0i32..4, any::<bool>(), any::<bool>(), 0.0f64..1.0), 1..10),
        ) {
            let p = RetryPolicy {
                max_attempts,
                initial: Dur(Duration::from_millis(initial_ms)),
                max: Dur(Duration::from_millis(max_ms)),
                multiplier,
                jitter,
                on_exit_codes: codes.clone(),
            };
            let mut attempt = 1;
            let mut last = Duration::ZERO;
            for (code, retryable, cancelled, unit) in failures {
                let f = AttemptFailure { attempt, exit_code: Some(code), retryable, cancelled };
                match after_failure(&p, f, Timestamp(attempt as u64), unit) {
                    AfterFailure::Retry { next, delay, at } => {
                        prop_assert!(attempt < max_attempts);
                        prop_assert!(retryable && !cancelled);
                        prop_assert!(codes.is_empty() || codes.contains(&code));
                        prop_assert_eq!(next, attempt + 1);
                        prop_assert!(delay <= Duration::from_millis(max_ms));
                        prop_assert_eq!(at.0, attempt as u64 + delay.as_millis() as u64);
                        if !jitter {
                            prop_assert!(delay >= last);
                            last = delay;
                        }
                        attempt = next;
                    }
                    AfterFailure::GiveUp => {
                        prop_assert!(
                            attempt >= max_attempts
                                || !retryable
                                || cancelled
                                || !(codes.is_empty() || codes.contains(&code))
                        );
                        break;
                    }
                }
            }
        }
    }
}
