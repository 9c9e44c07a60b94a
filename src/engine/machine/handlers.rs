//! The handlers' phase of a run: once its own steps have ended (or a cancel stopped them), the
//! steps of `on_success:` or `on_failure:`, then of `on_exit:`, run one after another with the
//! outcome in their context (`run.status`, `run.failed_steps`, `run.error`).
//!
//! The run ends in the outcome of its own steps: a handler that fails is recorded and named in
//! the run's reason, but does not turn a succeeded run into a failed one (its handlers already
//! saw `run.status == "succeeded"`). A cancel during the handlers stops them; an interrupt
//! leaves the unfinished ones to run on resume, while the finished ones keep their records.

use super::effect::{Effect, Signal};
use super::input::{Now, WhenEval};
use super::state::{Phase, RunMachine};
use crate::spec::{Finish, Handler, Workflow};
use crate::store::{RunState, StepStatus};

/// Where a run stands with its handlers.
#[derive(Debug, Clone, Default)]
pub(super) struct Handlers {
    /// Index of the first handler's step; `None` when the workflow has none.
    first: Option<usize>,
    /// How the run's own steps ended, once they have: the handlers then run.
    outcome: Option<RunState>,
    /// A cancel or an interrupt reached the handlers: none starts any more.
    stopped: bool,
}

impl Handlers {
    /// The handlers of `wf` (its handlers' steps come last).
    pub(super) fn of(wf: &Workflow) -> Handlers {
        Handlers {
            first: wf.steps.iter().position(|s| s.handler.is_some()),
            ..Handlers::default()
        }
    }
}

/// Whether `handler` runs after steps that ended in `outcome`.
pub(super) fn applies(handler: Handler, outcome: RunState) -> bool {
    match handler {
        Handler::OnSuccess => outcome == RunState::Succeeded,
        Handler::OnFailure => outcome == RunState::Failed,
        Handler::OnExit => true,
    }
}

impl RunMachine {
    /// The number of the run's own steps (those before the handlers').
    pub(super) fn own_steps(&self) -> usize {
        self.handlers.first.unwrap_or(self.records.len())
    }

    /// Whether step `idx` is a handler's (scheduled here, not by the ready set's order).
    pub(super) fn is_handler(&self, idx: usize) -> bool {
        idx >= self.own_steps()
    }

    /// Handlers are still to run before the run may end.
    pub(super) fn handlers_pending(&self) -> bool {
        let Some(first) = self.handlers.first else {
            return false;
        };
        if self.handlers.stopped || self.stop == Some(RunState::Interrupted) {
            return false;
        }
        self.handlers.outcome.is_none() || self.terminal[first..].iter().any(|t| !t)
    }

    /// The state a run with handlers ends in (that of its own steps), unless interrupted.
    pub(super) fn handled_state(&self) -> Option<RunState> {
        if self.stop == Some(RunState::Interrupted) {
            return None;
        }
        self.handlers.outcome
    }

    /// A cancel or interrupt while the handlers run: they stop (an interrupted one runs again
    /// on resume). Returns whether it applied.
    pub(super) fn stop_handlers(&mut self, state: RunState) -> bool {
        if self.handlers.outcome.is_none() || self.handlers.stopped {
            return false;
        }
        self.handlers.stopped = true;
        if self.stop.is_none() || state == RunState::Interrupted {
            self.stop = Some(state);
        }
        self.out.push(Effect::Signal(Signal::Stop {
            interrupt: self.stop == Some(RunState::Interrupted),
        }));
        self.gates.clear();
        true
    }

    /// Starts the handlers' phase when the run's own steps are over, then its steps one by one.
    pub(super) fn run_handlers(&mut self, now: Now, when: &dyn WhenEval) {
        let Some(first) = self.handlers.first else {
            return;
        };
        let blocked = self.handlers.stopped
            || self.phase != Phase::Running
            || self.stop == Some(RunState::Interrupted)
            || self.in_flight > 0;
        if blocked {
            return;
        }
        if self.handlers.outcome.is_none() {
            let own_over = self.terminal[..first].iter().all(|t| *t);
            if !own_over && self.stop.is_none() {
                return;
            }
            self.begin_handlers(now);
        }
        for i in first..self.records.len() {
            if self.in_flight > 0 {
                return;
            }
            if !self.terminal[i] {
                self.ready.start(i);
                self.launch(i, now, when);
            }
        }
    }

    fn begin_handlers(&mut self, now: Now) {
        let first = self.own_steps();
        let cancelled = self.stop.is_some()
            || self.records[..first]
                .iter()
                .any(|r| r.status == StepStatus::Cancelled);
        let outcome = if self.failed.is_some() {
            RunState::Failed
        } else if cancelled {
            RunState::Cancelled
        } else {
            RunState::Succeeded
        };
        self.handlers.outcome = Some(outcome);
        if self.stop.is_some() {
            // What the cancel left unstarted is cancelled now, so that a resume after a crash
            // during the handlers does not start it; the handlers' tasks must not see the stop.
            for i in 0..first {
                if !self.terminal[i] {
                    self.records[i].status = StepStatus::Cancelled;
                    self.records[i].finished_at = Some(now.wall);
                    self.put(i);
                }
            }
            self.out.push(Effect::Signal(Signal::Resume));
        }
        for i in first..self.records.len() {
            let Some(handler) = self.wf.steps[i].handler else {
                continue;
            };
            if !self.terminal[i] && !applies(handler, outcome) {
                let reason = format!("`{}`: the run {outcome}", handler.key());
                self.record_skip(i, reason, now);
                self.ready.finish(i, Finish::Skipped);
            }
        }
        let failed: Vec<String> = self.records[..first]
            .iter()
            .filter(|r| r.status == StepStatus::Failed)
            .map(|r| r.step.0.clone())
            .collect();
        let error = match outcome {
            RunState::Failed => self.failed.clone(),
            RunState::Cancelled => Some("cancelled by an operator".to_string()),
            _ => None,
        };
        self.ctx
            .set_outcome(outcome.as_str(), &failed, error.as_deref());
        self.out.push(Effect::Durable);
    }

    /// The run's reason with the handlers that failed named after it.
    pub(super) fn with_handler_failures(&self, reason: Option<String>) -> Option<String> {
        let first = self.own_steps();
        let failures: Vec<String> = self.records[first..]
            .iter()
            .filter(|r| r.status == StepStatus::Failed)
            .map(|r| {
                let why = r.error.as_deref().unwrap_or("unknown error");
                format!("handler `{}` failed: {why}", r.step)
            })
            .collect();
        if failures.is_empty() {
            return reason;
        }
        let failures = failures.join("; ");
        Some(match reason {
            Some(r) => format!("{r}; {failures}"),
            None => failures,
        })
    }
}
