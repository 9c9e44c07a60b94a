//! A run's clock: the time it was under way, leaving out the time it stood still (paused, or
//! stopped until a resume or a retry), so a clock on screen never jumps.

use serde::{Deserialize, Serialize};

use super::{RunRecord, RunState, Timestamp};

/// The time a run stood still: what its clock leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stopped {
    /// Milliseconds stood still before the current stop.
    #[serde(default)]
    pub ms: u64,
    /// When the current pause began, while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

impl Stopped {
    pub(super) fn is_zero(&self) -> bool {
        self.ms == 0 && self.since.is_none()
    }
}

impl RunRecord {
    /// Moves the run to `state` at `now`, keeping its clock: a pause stops the clock, going on
    /// from a pause or from a stop (interrupted, failed, cancelled: a resume or retry) leaves
    /// the time stood still out of it.
    pub fn enter_state(&mut self, state: RunState, now: Timestamp) {
        if state == RunState::Paused {
            self.stopped.since.get_or_insert(now);
        } else if state.is_active() {
            let since = self.stopped.since.take().or(self.finished_at);
            if let Some(since) = since.filter(|_| self.started_at.is_some()) {
                self.stopped.ms += now.millis_since(since);
            }
            self.finished_at = None;
        }
        if state == RunState::Running && self.started_at.is_none() {
            self.started_at = Some(now);
        }
        if state.is_terminal() || state == RunState::Interrupted {
            self.finished_at = Some(now);
        }
        self.state = state;
    }

    /// How long it has been under way at `now` (not counting time stood still), once started.
    pub fn elapsed_ms(&self, now: Timestamp) -> Option<u64> {
        let start = self.started_at?;
        let end = self.stopped.since.or(self.finished_at).unwrap_or(now);
        Some(end.millis_since(start).saturating_sub(self.stopped.ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunId;

    fn run() -> RunRecord {
        RunRecord {
            id: RunId("r".into()),
            workflow: "w".into(),
            workflow_path: None,
            source: String::new(),
            params: Default::default(),
            workdir: None,
            state: RunState::Pending,
            created_at: Timestamp(0),
            started_at: None,
            finished_at: None,
            owner: None,
            reason: None,
            steps_total: 1,
            steps_done: 0,
            stopped: Stopped::default(),
            parent: None,
        }
    }

    #[test]
    fn a_paused_run_clock_stands_still_and_goes_on_from_where_it_stopped() {
        let mut r = run();
        assert_eq!(r.elapsed_ms(Timestamp(500)), None);
        r.enter_state(RunState::Running, Timestamp(1_000));
        assert_eq!(r.elapsed_ms(Timestamp(4_000)), Some(3_000));
        r.enter_state(RunState::Paused, Timestamp(4_000));
        assert_eq!(r.elapsed_ms(Timestamp(60_000)), Some(3_000));
        // A second pause signal while paused keeps the first pause's start.
        r.enter_state(RunState::Paused, Timestamp(30_000));
        r.enter_state(RunState::Running, Timestamp(61_000));
        assert_eq!(r.elapsed_ms(Timestamp(61_000)), Some(3_000));
        assert_eq!(r.elapsed_ms(Timestamp(62_000)), Some(4_000));
        r.enter_state(RunState::Succeeded, Timestamp(63_000));
        assert_eq!(r.elapsed_ms(Timestamp(99_000)), Some(5_000));
    }

    #[test]
    fn the_time_between_a_stop_and_a_resume_is_left_out() {
        let mut r = run();
        r.enter_state(RunState::Running, Timestamp(0));
        r.enter_state(RunState::Interrupted, Timestamp(2_000));
        assert_eq!(r.elapsed_ms(Timestamp(50_000)), Some(2_000));
        r.enter_state(RunState::Pending, Timestamp(50_000));
        r.enter_state(RunState::Running, Timestamp(50_100));
        assert_eq!(r.finished_at, None);
        assert_eq!(r.elapsed_ms(Timestamp(51_000)), Some(3_000));
        // Cancelled while paused: the clock shows the time up to the pause.
        r.enter_state(RunState::Paused, Timestamp(52_000));
        r.enter_state(RunState::Cancelled, Timestamp(70_000));
        assert_eq!(r.elapsed_ms(Timestamp(80_000)), Some(4_000));
    }

    #[test]
    fn a_record_stored_before_the_clock_existed_still_reads() {
        let mut r = run();
        r.enter_state(RunState::Running, Timestamp(0));
        let mut json = serde_json::to_value(&r).unwrap_or_default();
        assert!(
            json.get("stopped").is_none(),
            "nothing stood still: nothing stored"
        );
        if let Some(o) = json.as_object_mut() {
            o.remove("stopped");
        }
        let back: Result<RunRecord, _> = serde_json::from_value(json);
        assert!(back.is_ok_and(|b| b.stopped == Stopped::default()));
    }
}
