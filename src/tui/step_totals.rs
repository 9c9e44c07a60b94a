//! The open run's step counts and sums (ended, failed, time, retries, tokens…), kept up to
//! date as step records change, so a frame reads them instead of walking every step.

use crate::store::{StepRecord, StepStatus};

/// Counts and sums over the steps of the open run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepTotals {
    /// Steps in a terminal status.
    pub ended: u32,
    /// Steps that failed.
    pub failed: u32,
    /// Steps skipped.
    pub skipped: u32,
    /// Steps cancelled.
    pub cancelled: u32,
    /// Sum of the steps' durations.
    pub total_ms: u64,
    /// Attempts beyond the first, over all steps.
    pub retries: u64,
    /// Time spent waiting at gates.
    pub waited_ms: u64,
    /// Tokens sent to models.
    pub tokens_in: u64,
    /// Tokens received from models.
    pub tokens_out: u64,
    /// The longest step duration (at least 1, to scale bars by).
    pub max_ms: u64,
}

impl StepTotals {
    /// The totals of `steps`.
    pub fn of(steps: &[StepRecord]) -> StepTotals {
        let mut t = StepTotals {
            max_ms: 1,
            ..StepTotals::default()
        };
        for s in steps {
            t.add(s);
        }
        t
    }

    /// Replaces `old` (none for a new step) with `new` in the totals; `steps` (already
    /// holding `new`) is read again only when the longest step got shorter.
    pub fn replace(&mut self, old: Option<&StepRecord>, new: &StepRecord, steps: &[StepRecord]) {
        if let Some(old) = old {
            self.remove(old);
            let old_ms = old.duration_ms.unwrap_or(0);
            if old_ms >= self.max_ms && new.duration_ms.unwrap_or(0) < old_ms {
                *self = StepTotals::of(steps);
                return;
            }
        }
        self.add(new);
    }

    fn add(&mut self, s: &StepRecord) {
        self.apply(s, 1);
        self.max_ms = self.max_ms.max(s.duration_ms.unwrap_or(0));
    }

    fn remove(&mut self, s: &StepRecord) {
        self.apply(s, -1);
    }

    fn apply(&mut self, s: &StepRecord, sign: i64) {
        fn bump(n: &mut u64, by: u64, sign: i64) {
            *n = if sign > 0 {
                n.saturating_add(by)
            } else {
                n.saturating_sub(by)
            };
        }
        let one = |n: &mut u32, yes: bool| {
            if yes {
                *n = if sign > 0 {
                    n.saturating_add(1)
                } else {
                    n.saturating_sub(1)
                };
            }
        };
        one(&mut self.ended, s.status.is_terminal());
        one(&mut self.failed, s.status == StepStatus::Failed);
        one(&mut self.skipped, s.status == StepStatus::Skipped);
        one(&mut self.cancelled, s.status == StepStatus::Cancelled);
        bump(&mut self.total_ms, s.duration_ms.unwrap_or(0), sign);
        bump(
            &mut self.retries,
            u64::from(s.attempt.saturating_sub(1)),
            sign,
        );
        bump(&mut self.waited_ms, s.approval_wait_ms, sign);
        bump(&mut self.tokens_in, s.metrics.tokens_in.unwrap_or(0), sign);
        bump(
            &mut self.tokens_out,
            s.metrics.tokens_out.unwrap_or(0),
            sign,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::StepId;

    fn step(id: &str, status: StepStatus, ms: Option<u64>, attempt: u32) -> StepRecord {
        let mut s = StepRecord::pending(StepId(id.into()), 3);
        s.status = status;
        s.duration_ms = ms;
        s.attempt = attempt;
        s.approval_wait_ms = 5;
        s.metrics.tokens_in = Some(10);
        s
    }

    /// Whatever order records change in, the kept totals equal the totals counted afresh.
    #[test]
    fn kept_totals_equal_a_fresh_count_after_every_change() {
        let statuses = [
            StepStatus::Pending,
            StepStatus::Running,
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped,
            StepStatus::Cancelled,
        ];
        let mut steps: Vec<StepRecord> = (0..6)
            .map(|i| step(&format!("s{i}"), StepStatus::Pending, None, 1))
            .collect();
        let mut totals = StepTotals::of(&steps);
        // A deterministic walk: every step through every status, durations going up and down
        // (the longest one shrinking included), attempts growing.
        for round in 0..40u64 {
            let i = (round * 7 % 6) as usize;
            let ms = if round % 5 == 0 {
                None
            } else {
                Some((round * 37) % 900)
            };
            let new = step(
                &format!("s{i}"),
                statuses[(round % 6) as usize],
                ms,
                1 + (round % 3) as u32,
            );
            let old = std::mem::replace(&mut steps[i], new.clone());
            totals.replace(Some(&old), &new, &steps);
            assert_eq!(totals, StepTotals::of(&steps), "after change {round}");
        }
        let added = step("s6", StepStatus::Failed, Some(2_000), 2);
        steps.push(added.clone());
        totals.replace(None, &added, &steps);
        assert_eq!(totals, StepTotals::of(&steps));
        assert_eq!(totals.max_ms, 2_000);
    }
}
