//! The machine's state and its control transitions: start, pause, resume, cancel, interrupt,
//! scheduling of ready steps (with `when:`) and the run's end. Step reports are in `steps.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::effect::{Effect, Signal};
use super::input::{Input, Now, StepEnd, WhenEval};
use crate::engine::context::RunContext;
use crate::spec::{Finish, OnTimeout, ReadySet, Workflow};
use crate::store::{RunId, RunState, StepRecord, StepStatus, Timestamp};

/// Prefix of the skip reason of a step whose `when` was false (dependents still run).
pub const WHEN_FALSE: &str = "`when` was false";

/// Whether scheduling goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Running,
    Paused,
}

/// A gate waiting for a decision.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gate {
    pub(super) requested_at: Timestamp,
    pub(super) on_timeout: OnTimeout,
}

/// One run's state: its steps' records, what is ready, what runs, what waits. It performs no
/// I/O and reads no clock: [`RunMachine::apply`] turns an [`Input`] into [`Effect`]s.
pub struct RunMachine {
    pub(super) wf: Arc<Workflow>,
    pub(super) run: RunId,
    pub(super) records: Vec<StepRecord>,
    /// Which records are terminal, and how many.
    pub(super) terminal: Vec<bool>,
    pub(super) done: usize,
    pub(super) ready: ReadySet,
    pub(super) ctx: RunContext,
    pub(super) phase: Phase,
    /// Set by a cancel or an interrupt: nothing more starts, the run ends so.
    pub(super) stop: Option<RunState>,
    pub(super) concurrency: usize,
    pub(super) in_flight: usize,
    pub(super) gates: HashMap<usize, Gate>,
    /// Results that arrived while paused, applied at resume.
    pub(super) held: Vec<(usize, StepEnd)>,
    /// Since when each step has been running (monotonic), while it is.
    pub(super) running_since: Vec<Option<Duration>>,
    /// Steps to gate before they run again (see [`Effect::Start`]).
    pub(super) recovery: HashSet<usize>,
    /// Why the run fails, once a step failed without `continue_on_error`.
    pub(super) failed: Option<String>,
    /// Why the store cannot be written, once it cannot.
    pub(super) store_error: Option<String>,
    pub(super) ended: bool,
    /// The handlers' phase (see `handlers.rs`).
    pub(super) handlers: super::handlers::Handlers,
    pub(super) out: Vec<Effect>,
    /// Fanned-out steps' items (`items.rs`).
    pub(super) fans: super::items::Fans,
}

impl RunMachine {
    /// Applies one input at `now`; returns what to do, in order.
    pub fn apply(&mut self, input: Input, now: Now, when: &dyn WhenEval) -> Vec<Effect> {
        if self.ended {
            return Vec::new();
        }
        match input {
            Input::Begin => self.begin(),
            Input::Pause => self.pause(now),
            Input::Resume => self.resume(now),
            Input::Cancel => self.stop(RunState::Cancelled, now),
            Input::Interrupt => self.stop(RunState::Interrupted, now),
            Input::StoreFailed(why) => self.store_failed(why, now),
            Input::Attempt { idx, n } => self.attempt(idx, n, now),
            Input::Retrying {
                idx,
                at,
                error,
                exit_code,
            } => self.retrying(idx, at, error, exit_code, now),
            Input::Spawned { idx, pid } => self.spawned(idx, pid, now),
            Input::RemoteSpawned { idx, process } => self.remote_spawned(idx, *process),
            Input::ChildRun { idx, run } => self.child_run(idx, run),
            Input::GateOpened { idx, on_timeout } => self.open_gate(idx, on_timeout, now),
            Input::Decide { idx, decision } => self.decide(idx, decision, now),
            Input::GateTimeout { idx, requested_at } => self.gate_timeout(idx, requested_at, now),
            Input::Done { idx, end } => self.done(idx, end, now),
            Input::Finish => self.finish(now),
            Input::Items { idx, items } => self.items(idx, items, now),
            Input::Item { idx, item, report } => self.item_report(idx, item, report, now),
        }
        if !self.ended {
            self.schedule_items(now);
            self.schedule(now, when);
            self.unstick(now);
            self.run_handlers(now, when);
        }
        std::mem::take(&mut self.out)
    }

    /// Nothing is in flight, and either the run was stopped or every step has ended (a paused
    /// run waits for its resume): the driver may [`Input::Finish`] once its writes are durable.
    pub fn is_over(&self) -> bool {
        if self.ended || self.in_flight > 0 || self.handlers_pending() {
            return false;
        }
        self.stop.is_some() || (self.phase == Phase::Running && self.done == self.records.len())
    }

    /// The run will end failed: a step failed and nobody stopped it.
    pub fn failing(&self) -> bool {
        self.stop.is_none() && self.failed.is_some()
    }

    /// The step records as they stand.
    pub fn records(&self) -> &[StepRecord] {
        &self.records
    }

    /// When step `idx`'s gate opened, while it waits for a decision.
    pub fn gate_since(&self, idx: usize) -> Option<Timestamp> {
        self.gates.get(&idx).map(|g| g.requested_at)
    }

    /// Steps in a terminal state.
    pub fn steps_done(&self) -> u32 {
        self.done as u32
    }

    /// Journals step `i`'s record as it stands: the one place a record change is announced.
    pub(super) fn put(&mut self, i: usize) {
        let now = self.records[i].status.is_terminal();
        if now != self.terminal[i] {
            self.terminal[i] = now;
            if now {
                self.done += 1;
            } else {
                self.done -= 1;
            }
        }
        self.out
            .push(Effect::Step(Box::new(self.records[i].clone())));
    }

    pub(super) fn set_run_state(&mut self, state: RunState, reason: Option<String>) {
        let steps_done = self.done as u32;
        self.out.push(Effect::Run {
            state,
            reason,
            steps_done,
        });
        self.out.push(Effect::Durable);
    }

    fn begin(&mut self) {
        self.set_run_state(RunState::Running, None);
    }

    fn pause(&mut self, now: Now) {
        if self.phase != Phase::Running || self.stop.is_some() {
            return;
        }
        self.phase = Phase::Paused;
        self.out.push(Effect::Signal(Signal::Pause));
        for i in 0..self.records.len() {
            if self.records[i].status == StepStatus::Running {
                self.stop_clock(i, now);
                self.records[i].status = StepStatus::Paused;
                self.put(i);
            }
        }
        self.set_run_state(RunState::Paused, None);
    }

    fn resume(&mut self, now: Now) {
        if self.phase != Phase::Paused {
            return;
        }
        self.phase = Phase::Running;
        self.out.push(Effect::Signal(Signal::Resume));
        for i in 0..self.records.len() {
            if self.records[i].status == StepStatus::Paused {
                self.records[i].status = StepStatus::Running;
                self.running_since[i] = Some(now.mono);
                self.put(i);
            }
        }
        self.set_run_state(RunState::Running, None);
        self.release_held(now);
    }

    /// Stops every step; the run ends in `state` once they have reported.
    fn stop(&mut self, state: RunState, now: Now) {
        if !self.stop_handlers(state) {
            if self.stop.is_some() {
                return;
            }
            self.stop = Some(state);
            self.out.push(Effect::Signal(Signal::Stop {
                interrupt: state == RunState::Interrupted,
            }));
            // The driver drops the waiting gates' replies: they end cancelled.
            self.gates.clear();
        }
        if self.phase == Phase::Paused {
            // Nothing is frozen any more: let held results land.
            self.phase = Phase::Running;
            self.release_held(now);
        }
    }

    fn store_failed(&mut self, why: String, now: Now) {
        if self.store_error.is_some() {
            return;
        }
        self.store_error = Some(why);
        self.stop(RunState::Interrupted, now);
        self.stop = Some(RunState::Interrupted);
    }

    fn release_held(&mut self, now: Now) {
        for (idx, end) in std::mem::take(&mut self.held) {
            self.done(idx, end, now);
        }
    }

    /// Starts ready steps up to the run's concurrency; a `when:` that is false skips its step
    /// (which can make others ready at once).
    fn schedule(&mut self, now: Now, when: &dyn WhenEval) {
        if self.phase != Phase::Running || self.stop.is_some() {
            return;
        }
        while self.in_flight < self.concurrency {
            let Some(idx) = self.ready.next_ready() else {
                return;
            };
            if self.is_handler(idx) {
                // They come last: the run's own steps are all started; `run_handlers` goes on.
                return;
            }
            self.ready.start(idx);
            self.launch(idx, now, when);
        }
    }

    /// Starts step `idx` (taken from the ready set), or skips it when its `when:` is false.
    pub(super) fn launch(&mut self, idx: usize, now: Now, when: &dyn WhenEval) {
        let Some(expr) = self.wf.steps[idx].when.clone() else {
            self.start(idx, now);
            return;
        };
        let ctx = self.ctx.value(self.wf.steps[idx].reads.as_deref());
        match when.eval_when(&expr, &ctx) {
            Ok(true) => self.start(idx, now),
            Ok(false) => {
                self.record_skip(idx, format!("{WHEN_FALSE}: {expr}"), now);
                let more = self.ready.finish(idx, Finish::Skipped);
                self.apply_skips(more, now);
                self.out.push(Effect::Durable);
            }
            Err(e) => {
                let rec = &mut self.records[idx];
                rec.status = StepStatus::Failed;
                rec.error = Some(format!("when: {e}"));
                rec.finished_at = Some(now.wall);
                self.after_failure(idx, Finish::Failed, now);
            }
        }
    }

    fn start(&mut self, idx: usize, now: Now) {
        // Recorded (and announced) when its first attempt reports in, right after.
        let rec = &mut self.records[idx];
        rec.status = StepStatus::Running;
        rec.started_at.get_or_insert(now.wall);
        rec.error = None;
        rec.exit_code = None;
        self.running_since[idx] = Some(now.mono);
        self.in_flight += 1;
        let ctx = self.ctx.value(self.wf.steps[idx].reads.as_deref());
        if self.wf.steps[idx].for_each.is_some() {
            return self.start_fan(idx, ctx, now);
        }
        self.out.push(Effect::Start {
            idx,
            ctx,
            recovery_gate: self.recovery.remove(&idx),
        });
    }

    /// Nothing runs, nothing is ready, yet steps have not ended: say so instead of hanging.
    fn unstick(&mut self, now: Now) {
        if self.in_flight > 0 || self.stop.is_some() || self.phase != Phase::Running {
            return;
        }
        let own = self.own_steps();
        let own_ready = self.ready.next_ready().is_some_and(|i| i < own);
        if own_ready || self.terminal[..own].iter().all(|t| *t) {
            return;
        }
        for i in 0..own {
            if !self.records[i].status.is_terminal() {
                self.record_skip(i, "its dependencies can never be satisfied".into(), now);
            }
        }
    }

    /// Writes how the run ended: steps that did not end are cancelled (an interrupted run keeps
    /// them for its resume), then the run's final state and why.
    fn finish(&mut self, now: Now) {
        if !self.is_over() {
            return;
        }
        let state = self.handled_state().unwrap_or(match self.stop {
            Some(RunState::Interrupted) => RunState::Interrupted,
            Some(_) => RunState::Cancelled,
            None if self.failed.is_some() => RunState::Failed,
            None => RunState::Succeeded,
        });
        if state != RunState::Interrupted {
            for i in 0..self.records.len() {
                if !self.records[i].status.is_terminal() {
                    self.records[i].status = StepStatus::Cancelled;
                    self.records[i].finished_at = Some(now.wall);
                    self.put(i);
                }
            }
        }
        let reason = match state {
            RunState::Failed => self.failed.clone(),
            RunState::Cancelled => Some("cancelled by an operator".to_string()),
            RunState::Interrupted => Some(match &self.store_error {
                Some(why) => format!("{why}; then `baton resume {}` continues it", self.run),
                None => "stopped when baton quit; `baton resume` continues it".to_string(),
            }),
            _ => None,
        };
        let reason = self.with_handler_failures(reason);
        self.set_run_state(state, reason);
        self.out.push(Effect::Ended(state));
        self.ended = true;
    }
}
