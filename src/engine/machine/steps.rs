//! What the machine does with a step task's reports: attempts, retries, process groups, gates,
//! and the step's end with the skips it causes downstream.

use indexmap::IndexMap;

use super::effect::Effect;
use super::input::{Now, StepEnd};
use super::state::{Gate, Phase, RunMachine};
use crate::spec::{Finish, OnTimeout};
use crate::store::{Decision, RunState, StepStatus, Timestamp};

impl RunMachine {
    pub(super) fn attempt(&mut self, idx: usize, n: u32, now: Now) {
        if idx >= self.records.len() {
            return;
        }
        let paused = self.phase == Phase::Paused;
        let rec = &mut self.records[idx];
        rec.attempt = n;
        rec.retry_at = None;
        rec.status = if paused {
            StepStatus::Paused
        } else {
            StepStatus::Running
        };
        self.running_since[idx].get_or_insert(now.mono);
        self.put(idx);
    }

    pub(super) fn retrying(
        &mut self,
        idx: usize,
        at: Timestamp,
        error: String,
        exit_code: Option<i32>,
        now: Now,
    ) {
        if idx >= self.records.len() {
            return;
        }
        self.stop_clock(idx, now);
        let rec = &mut self.records[idx];
        rec.status = StepStatus::Retrying;
        rec.retry_at = Some(at);
        rec.error = Some(error);
        rec.exit_code = exit_code;
        self.put(idx);
    }

    pub(super) fn spawned(&mut self, idx: usize, pid: u32, now: Now) {
        if idx >= self.records.len() {
            return;
        }
        self.records[idx].process = Some((pid, now.wall));
        self.put(idx);
        // Durable, so that after a crash the next owner can stop this group.
        self.out.push(Effect::Durable);
    }

    pub(super) fn remote_spawned(&mut self, idx: usize, process: crate::store::RemoteProcess) {
        if idx >= self.records.len() {
            return;
        }
        self.records[idx].remote = Some(process);
        self.put(idx);
        // Durable, so that after a crash the next owner can stop this group on its host.
        self.out.push(Effect::Durable);
    }

    pub(super) fn child_run(&mut self, idx: usize, run: crate::store::RunId) {
        if idx >= self.records.len() {
            return;
        }
        self.records[idx].child_run = Some(run);
        self.put(idx);
    }

    pub(super) fn open_gate(&mut self, idx: usize, on_timeout: OnTimeout, now: Now) {
        if idx >= self.records.len() || self.stop.is_some() {
            // A stopped run opens no gate: the driver drops the request, which cancels it.
            return;
        }
        self.stop_clock(idx, now);
        let requested_at = now.wall;
        self.gates.insert(
            idx,
            Gate {
                requested_at,
                on_timeout,
            },
        );
        self.records[idx].status = StepStatus::WaitingApproval;
        self.put(idx);
        self.out.push(Effect::GateOpened { idx, requested_at });
        self.out.push(Effect::Durable);
    }

    pub(super) fn decide(&mut self, idx: usize, decision: Decision, now: Now) {
        let Some(gate) = self.gates.remove(&idx) else {
            return;
        };
        let rec = &mut self.records[idx];
        rec.approval_wait_ms += decision.at.millis_since(gate.requested_at);
        rec.status = StepStatus::Running;
        self.running_since[idx] = Some(now.mono);
        self.put(idx);
        self.out.push(Effect::GateDecided { idx, decision });
        self.out.push(Effect::Durable);
    }

    pub(super) fn gate_timeout(&mut self, idx: usize, requested_at: Timestamp, now: Now) {
        let Some(gate) = self.gates.get(&idx) else {
            return;
        };
        if gate.requested_at != requested_at {
            // A timer of an earlier opening.
            return;
        }
        let approved = gate.on_timeout == OnTimeout::Approve;
        let decision = Decision {
            approved,
            by: "timeout".into(),
            uid: None,
            at: now.wall,
            comment: Some(format!(
                "no decision in time; `on_timeout: {}`",
                if approved { "approve" } else { "reject" }
            )),
            inputs: IndexMap::new(),
        };
        self.decide(idx, decision, now);
    }

    /// A step task ended; while paused its result is held until the resume.
    pub(super) fn done(&mut self, idx: usize, end: StepEnd, now: Now) {
        if idx >= self.records.len() {
            return;
        }
        if self.phase == Phase::Paused {
            self.held.push((idx, end));
            return;
        }
        self.out.push(Effect::StepOver(idx));
        self.in_flight = self.in_flight.saturating_sub(1);
        self.records[idx].process = None;
        self.records[idx].remote = None;
        self.stop_clock(idx, now);
        self.gates.remove(&idx);
        match end {
            StepEnd::Succeeded {
                output,
                exit_code,
                cached,
                metrics,
            } => {
                let rec = &mut self.records[idx];
                rec.status = if cached {
                    StepStatus::Cached
                } else {
                    StepStatus::Succeeded
                };
                rec.exit_code = exit_code;
                rec.error = None;
                rec.retry_at = None;
                rec.finished_at = Some(now.wall);
                rec.metrics = metrics;
                self.ctx.set_step(rec, Some(&output));
                self.out.push(Effect::Output(rec.step.clone(), output));
                self.put(idx);
                let how = if cached {
                    Finish::Cached
                } else {
                    Finish::Succeeded
                };
                let skipped = self.ready.finish(idx, how);
                self.apply_skips(skipped, now);
            }
            StepEnd::Failed { cancelled, .. }
                if cancelled && self.stop == Some(RunState::Interrupted) =>
            {
                // Stopped by an interrupt: it runs again when the run is resumed.
                let rec = &mut self.records[idx];
                rec.status = StepStatus::Pending;
                rec.retry_at = None;
                self.put(idx);
            }
            StepEnd::Failed {
                error,
                exit_code,
                cancelled,
                output,
            } => self.failed(idx, error, exit_code, cancelled, output, now),
        }
        self.out.push(Effect::Durable);
    }

    fn failed(
        &mut self,
        idx: usize,
        error: String,
        exit_code: Option<i32>,
        cancelled: bool,
        output: Option<crate::store::StepOutput>,
        now: Now,
    ) {
        let rec = &mut self.records[idx];
        rec.status = if cancelled {
            StepStatus::Cancelled
        } else {
            StepStatus::Failed
        };
        rec.exit_code = exit_code.or(rec.exit_code);
        rec.retry_at = None;
        rec.finished_at = Some(now.wall);
        let output = output.filter(|_| !cancelled);
        self.ctx.set_step(rec, output.as_ref());
        if let Some(output) = output {
            self.out.push(Effect::Output(rec.step.clone(), output));
        }
        self.out.push(Effect::Log {
            idx,
            text: format!("failed: {error}"),
        });
        self.records[idx].error = Some(error);
        let how = if cancelled {
            Finish::Cancelled
        } else {
            Finish::Failed
        };
        self.after_failure(idx, how, now);
    }

    pub(super) fn after_failure(&mut self, idx: usize, how: Finish, now: Now) {
        self.put(idx);
        if how == Finish::Failed && !self.wf.steps[idx].continue_on_error && self.failed.is_none() {
            let rec = &self.records[idx];
            self.failed = Some(format!(
                "step `{}` failed: {}",
                rec.step,
                rec.error.as_deref().unwrap_or("unknown error")
            ));
        }
        let skipped = self.ready.finish(idx, how);
        self.apply_skips(skipped, now);
        self.out.push(Effect::Durable);
    }

    /// Records step `i` as skipped, with why: its record, its place in the context.
    pub(super) fn record_skip(&mut self, i: usize, reason: String, now: Now) {
        let rec = &mut self.records[i];
        rec.status = StepStatus::Skipped;
        rec.skip_reason = Some(reason);
        rec.finished_at = Some(now.wall);
        self.ctx.set_step(rec, None);
        self.put(i);
    }

    pub(super) fn apply_skips(&mut self, skipped: Vec<(usize, String)>, now: Now) {
        if self.stop.is_some() {
            // A cancel or interrupt: what did not run is cancelled (or left to resume), not skipped.
            return;
        }
        for (i, reason) in skipped {
            self.record_skip(i, reason, now);
        }
    }

    pub(super) fn stop_clock(&mut self, idx: usize, now: Now) {
        if let Some(since) = self.running_since[idx].take() {
            let rec = &mut self.records[idx];
            let ran = now.mono.saturating_sub(since).as_millis() as u64;
            rec.duration_ms = Some(rec.duration_ms.unwrap_or(0) + ran);
        }
    }
}
