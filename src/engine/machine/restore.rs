//! Building a machine for a run: its stored step records replayed into a fresh state (new,
//! resumed and retried runs alike).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::effect::Effect;
use super::input::Now;
use super::state::{Phase, RunMachine, WHEN_FALSE};
use crate::engine::context::RunContext;
use crate::spec::{Dag, Finish, ReadySet, Workflow};
use crate::store::{RunId, StepOutput, StepRecord, StepStatus, StepTable};

impl RunMachine {
    /// The machine of run `run` of `wf`, from what the store holds. Ended steps keep their
    /// results; the others start over, and non-idempotent steps that were running ask an
    /// operator first. Returns the records replaying changed (the history must say so), and the
    /// process groups a previous owner left, to stop.
    pub fn restore(
        wf: Arc<Workflow>,
        run: RunId,
        stored: StepTable,
        ctx: RunContext,
        concurrency: usize,
        now: Now,
    ) -> (RunMachine, Vec<Effect>) {
        let dag = Dag::new(&wf);
        let n = wf.steps.len();
        let mut m = RunMachine {
            ready: ReadySet::for_workflow(&wf, &dag),
            records: Vec::with_capacity(n),
            terminal: vec![false; n],
            done: 0,
            ctx,
            phase: Phase::Running,
            stop: None,
            concurrency: concurrency.max(1),
            in_flight: 0,
            gates: HashMap::new(),
            held: Vec::new(),
            running_since: vec![None; n],
            recovery: HashSet::new(),
            failed: None,
            store_error: None,
            ended: false,
            handlers: super::handlers::Handlers::of(&wf),
            out: Vec::new(),
            fans: Default::default(),
            wf,
            run,
        };
        let StepTable { steps, outputs } = stored;
        let mut by_id: HashMap<_, StepRecord> =
            steps.into_iter().map(|r| (r.step.clone(), r)).collect();
        let mut changed = Vec::new();
        for i in 0..n {
            let planned = StepRecord::planned(&m.wf, &dag, i);
            let before = by_id.remove(&planned.step);
            let rec = m.replay(i, planned, before.as_ref(), &outputs);
            if before.is_some_and(|b| b != rec) {
                changed.push(i);
            }
            m.terminal[i] = rec.status.is_terminal();
            m.records.push(rec);
        }
        m.done = m.terminal.iter().filter(|t| **t).count();
        for i in changed {
            m.put(i);
        }
        // Steps a restored failure blocks, if the store was cut off before their skips landed.
        for (i, reason) in m.ready.settle() {
            m.record_skip(i, reason, now);
        }
        m.failed = m
            .records
            .iter()
            .zip(&m.wf.steps)
            .find(|(r, s)| r.status == StepStatus::Failed && !s.continue_on_error)
            .map(|(r, _)| format!("step `{}` failed", r.step));
        let effects = std::mem::take(&mut m.out);
        (m, effects)
    }

    /// Step `i`'s stored record (if any) on the planned one, fed to the ready set and context.
    fn replay(
        &mut self,
        i: usize,
        planned: StepRecord,
        before: Option<&StepRecord>,
        outputs: &HashMap<crate::spec::StepId, StepOutput>,
    ) -> StepRecord {
        let Some(before) = before else {
            return planned;
        };
        let mut rec = StepRecord {
            index: planned.index,
            level: planned.level,
            kind: planned.kind,
            name: planned.name,
            depends_on: planned.depends_on,
            ..before.clone()
        };
        let output = outputs.get(&rec.step);
        let finish = match rec.status {
            StepStatus::Succeeded => Some((Finish::Succeeded, output)),
            StepStatus::Cached => Some((Finish::Cached, output)),
            StepStatus::Failed => Some((Finish::Failed, output)),
            StepStatus::Cancelled => Some((Finish::Cancelled, None)),
            StepStatus::Skipped => {
                let by_condition = rec
                    .skip_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(WHEN_FALSE));
                let how = if by_condition {
                    Finish::Skipped
                } else {
                    Finish::SkippedUpstream
                };
                Some((how, None))
            }
            StepStatus::Running | StepStatus::Retrying | StepStatus::Paused => {
                // The sweep at the store's open stopped these already; this catches a group
                // recorded since (the same owner restarting a run it lost).
                if let Some((pid, spawned_at)) = rec.process.take() {
                    self.out.push(Effect::StopLeftover {
                        idx: i,
                        pid,
                        spawned_at,
                    });
                }
                if let Some(process) = rec.remote.take() {
                    self.out.push(Effect::StopRemoteLeftover {
                        idx: i,
                        process: Box::new(process),
                    });
                }
                if !self.wf.steps[i].idempotent {
                    self.recovery.insert(i);
                }
                rec.status = StepStatus::Pending;
                rec.retry_at = None;
                None
            }
            StepStatus::Pending | StepStatus::WaitingApproval => {
                rec.status = StepStatus::Pending;
                None
            }
        };
        if let Some((how, output)) = finish {
            self.ctx.set_step(&rec, output);
            self.ready.restore(i, how);
        } else {
            self.restore_items(i, &mut rec, outputs);
        }
        rec
    }
}
