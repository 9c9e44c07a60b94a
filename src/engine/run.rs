//! The run actor: one task per active run, the only writer of that run's records.
//!
//! It schedules ready steps, records what their tasks report, opens and decides gates, and
//! applies pause/resume/cancel. It handles messages in batches so that many steps finishing
//! at once share one flush (see `commit`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::context::RunContext;
use super::pipeline::{GateRequest, Outcome, StepJob, StepMsg, run_step};
use super::run_log::RunLog;
use super::secrets::RunSecrets;
use super::shared::EngineShared;
use crate::secrets::{Redactor, StreamMask};
use crate::spec::{Dag, Finish, ReadySet};
use crate::spec::{OnTimeout, StepId, Workflow};
use crate::steps::{Control, LogSink};
use crate::store::{
    ApprovalRecord, Decision, Event, EventKind, LogStream, RunRecord, RunState, StepOutput,
    StepRecord, StepStatus, StepTable, Timestamp,
};

/// Prefix of the skip reason of a step whose `when` was false (dependents still run).
pub const WHEN_FALSE: &str = "`when` was false";

/// What a client or a timer asks of a run actor.
#[derive(Debug)]
pub enum RunMsg {
    /// Freeze.
    Pause,
    /// Unfreeze.
    Resume,
    /// Stop everything; the run ends cancelled.
    Cancel,
    /// Stop everything; the run ends interrupted (to be resumed later).
    Interrupt,
    /// A write to the store failed (said why): nothing more can be recorded, so the run stops
    /// interrupted and announces nothing it could not store.
    StoreFailed(String),
    /// Decide a gate.
    Decide {
        /// The gated step.
        step: StepId,
        /// The decision.
        decision: Decision,
    },
    /// A gate's timeout fired.
    GateTimeout {
        /// Step index.
        idx: usize,
        /// Which opening of the gate the timer was for.
        requested_at: Timestamp,
    },
}

struct PendingGate {
    reply: oneshot::Sender<Decision>,
    on_timeout: OnTimeout,
    requested_at: Timestamp,
}

/// The state of one active run.
pub struct RunActor {
    engine: Arc<EngineShared>,
    wf: Arc<Workflow>,
    run: RunRecord,
    records: Vec<StepRecord>,
    index: HashMap<StepId, usize>,
    ready: ReadySet,
    ctx: RunContext,
    inbox: mpsc::UnboundedReceiver<RunMsg>,
    inbox_tx: mpsc::UnboundedSender<RunMsg>,
    step_rx: mpsc::UnboundedReceiver<StepMsg>,
    step_tx: mpsc::UnboundedSender<StepMsg>,
    control: watch::Sender<Control>,
    in_flight: usize,
    concurrency: usize,
    gates: HashMap<usize, PendingGate>,
    held: Vec<StepMsg>,
    event_seq: u64,
    running_since: Vec<Option<Instant>>,
    recovery: HashSet<usize>,
    failed: Option<String>,
    stop: Option<RunState>,
    pending_events: Vec<(u64, Event)>,
    /// When the run record was last written.
    run_written: Instant,
    /// Step outputs to write at the next commit.
    outputs: Vec<(StepId, Option<StepOutput>)>,
    /// Flushes under way, each with the events that wait for it.
    durable: std::collections::VecDeque<(crate::store::FlushTicket, Vec<Event>)>,
    /// Which steps' recorded states are terminal, and how many.
    terminal: Vec<bool>,
    done: usize,
    need_flush: bool,
    workdir: Option<PathBuf>,
    log: Arc<RunLog>,
    /// The engine's secrets and this run's: applied to everything before it is recorded.
    redactor: Arc<Redactor>,
    /// Whether the workflow has template statements (see [`StepJob::templates_may_loop`]).
    templates_may_loop: bool,
    /// Why the store cannot be written, once a write or flush has failed.
    store_error: Option<String>,
}

impl RunActor {
    /// Prepares an actor for a run whose records are in the store (new, resumed or retried).
    /// Terminal steps keep their results; the others start over, and non-idempotent steps that
    /// were running ask the operator first.
    pub fn restore(
        engine: Arc<EngineShared>,
        wf: Arc<Workflow>,
        mut run: RunRecord,
        stored: StepTable,
        secrets: RunSecrets,
        (inbox, inbox_tx): (
            mpsc::UnboundedReceiver<RunMsg>,
            mpsc::UnboundedSender<RunMsg>,
        ),
    ) -> anyhow::Result<RunActor> {
        // Only statements (`{% for %}`, macros) can loop; a workflow without any renders its
        // steps' templates in place, without a trip to a blocking thread. Unknown: assume so.
        let templates_may_loop = run.source.is_empty() || run.source.contains("{%");
        // The source is stored already; the actor rewrites its record often and needs no copy.
        run.source = String::new();
        let dag = Dag::new(&wf);
        let mut ready = ReadySet::for_workflow(&wf, &dag);
        let mut ctx = RunContext::new(&wf, &run, &secrets);
        let redactor = Arc::new(engine.redactor.with(secrets.0.into_values()));
        let StepTable {
            steps: stored,
            outputs,
        } = stored;
        let mut by_id: HashMap<StepId, StepRecord> =
            stored.into_iter().map(|r| (r.step.clone(), r)).collect();
        let mut records = Vec::with_capacity(wf.steps.len());
        let mut recovery = HashSet::new();
        // Records that restoring changes: the history must say so.
        let mut changed = Vec::new();
        for (i, step) in wf.steps.iter().enumerate() {
            let planned = StepRecord::planned(&wf, &dag, i);
            let before = by_id.remove(&step.id);
            let mut rec = match &before {
                Some(r) => StepRecord {
                    index: planned.index,
                    level: planned.level,
                    kind: planned.kind,
                    depends_on: planned.depends_on,
                    ..r.clone()
                },
                None => planned,
            };
            match rec.status {
                StepStatus::Succeeded | StepStatus::Cached => {
                    ctx.set_step(&rec, outputs.get(&step.id));
                    ready.restore(
                        i,
                        if rec.status == StepStatus::Cached {
                            Finish::Cached
                        } else {
                            Finish::Succeeded
                        },
                    );
                }
                StepStatus::Skipped => {
                    ctx.set_step(&rec, None);
                    let by_condition = rec
                        .skip_reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with(WHEN_FALSE));
                    ready.restore(
                        i,
                        if by_condition {
                            Finish::Skipped
                        } else {
                            Finish::SkippedUpstream
                        },
                    );
                }
                StepStatus::Failed => {
                    ctx.set_step(&rec, outputs.get(&step.id));
                    ready.restore(i, Finish::Failed);
                }
                StepStatus::Cancelled => {
                    ctx.set_step(&rec, None);
                    ready.restore(i, Finish::Cancelled);
                }
                StepStatus::Running | StepStatus::Retrying | StepStatus::Paused => {
                    // The sweep at the store's open stopped these already; this catches a
                    // group recorded since (the same owner restarting a run it lost).
                    if let Some((pid, spawned_at)) = rec.process.take()
                        && !crate::process_group::stop_leftovers(
                            &[(pid, spawned_at)],
                            engine.config.grace,
                        )
                        .is_empty()
                    {
                        tracing::warn!(
                            "run {}: stopped process group {pid} of step `{}` left by the previous owner",
                            run.id,
                            step.id
                        );
                    }
                    if !step.idempotent {
                        recovery.insert(i);
                    }
                    rec.status = StepStatus::Pending;
                    rec.retry_at = None;
                }
                StepStatus::Pending | StepStatus::WaitingApproval => {
                    rec.status = StepStatus::Pending;
                }
            }
            if before.is_some_and(|b| b != rec) {
                changed.push(i);
            }
            records.push(rec);
        }
        // Steps a restored failure blocks, if the store was cut off before their skips landed.
        for (i, reason) in ready.settle() {
            records[i].mark_skipped(reason);
            ctx.set_step(&records[i], None);
            changed.push(i);
        }
        let failed = records
            .iter()
            .zip(&wf.steps)
            .find(|(r, s)| r.status == StepStatus::Failed && !s.continue_on_error)
            .map(|(r, _)| format!("step `{}` failed", r.step));
        let (step_tx, step_rx) = mpsc::unbounded_channel();
        let (control, _) = watch::channel(Control::Running);
        let event_seq = engine.store.last_event_seq(&run.id)?;
        let on_failure = inbox_tx.clone();
        let log = RunLog::new(
            engine.store.clone(),
            run.id.clone(),
            engine.config.logs,
            engine.store.last_log_seq(&run.id)?,
            Box::new(move |why| {
                let _ = on_failure.send(RunMsg::StoreFailed(why));
            }),
        );
        let concurrency = wf
            .concurrency
            .unwrap_or(engine.config.run_concurrency)
            .max(1);
        let index = wf
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let workdir = run.workdir.as_ref().map(PathBuf::from);
        let terminal: Vec<bool> = records.iter().map(|r| r.status.is_terminal()).collect();
        let done = terminal.iter().filter(|t| **t).count();
        let mut actor = RunActor {
            redactor,
            templates_may_loop,
            outputs: Vec::new(),
            run_written: Instant::now(),
            durable: std::collections::VecDeque::new(),
            terminal,
            done,
            log,
            running_since: vec![None; wf.steps.len()],
            engine,
            wf,
            run,
            records,
            index,
            ready,
            ctx,
            inbox,
            inbox_tx,
            step_rx,
            step_tx,
            control,
            in_flight: 0,
            concurrency,
            gates: HashMap::new(),
            held: Vec::new(),
            event_seq,
            recovery,
            failed,
            stop: None,
            pending_events: Vec::new(),
            need_flush: false,
            workdir,
            store_error: None,
        };
        for i in changed {
            let rec = actor.records[i].clone();
            actor.put_step(&rec);
        }
        Ok(actor)
    }

    /// Drives the run to its end; returns its final state.
    pub async fn run(mut self) -> RunState {
        self.log.spawn_writer();
        self.run.owner = Some(self.engine.store.owner());
        if self.run.started_at.is_none() {
            self.run.started_at = Some(Timestamp::now());
        }
        self.set_run_state(RunState::Running, None);
        self.need_flush = true;
        loop {
            if self.run.state == RunState::Running && self.stop.is_none() {
                self.schedule();
                self.unstick();
            }
            self.commit();
            if self.is_over() {
                break;
            }
            let wake = {
                let flushing = self.durable.front_mut().map(|(ticket, _)| ticket);
                tokio::select! {
                    Some(m) = self.inbox.recv() => Wake::Control(m),
                    Some(m) = self.step_rx.recv() => Wake::Step(m),
                    r = async {
                        match flushing {
                            Some(ticket) => ticket.await,
                            None => std::future::pending().await,
                        }
                    } => Wake::Flushed(r),
                }
            };
            match wake {
                Wake::Control(m) => self.on_control(m),
                Wake::Step(m) => self.on_step(m),
                Wake::Flushed(r) => self.flushed(r),
            }
            // Take whatever else has arrived, so one flush covers the whole batch.
            for _ in 0..4096 {
                match self.step_rx.try_recv() {
                    Ok(m) => self.on_step(m),
                    Err(_) => break,
                }
            }
            while let Ok(m) = self.inbox.try_recv() {
                self.on_control(m);
            }
        }
        self.finish().await
    }

    fn is_over(&self) -> bool {
        if self.in_flight > 0 || !self.durable.is_empty() {
            return false;
        }
        if self.stop.is_some() {
            return true;
        }
        if self.run.state == RunState::Paused {
            return false;
        }
        self.done == self.records.len()
    }

    fn schedule(&mut self) {
        // A skipped step can make others ready at once, so go round until nothing changes.
        loop {
            if self.in_flight >= self.concurrency {
                return;
            }
            let candidates = self.ready.ready();
            if candidates.is_empty() {
                return;
            }
            let mut progressed = false;
            for idx in candidates {
                if self.in_flight >= self.concurrency {
                    break;
                }
                progressed = true;
                let step = &self.wf.steps[idx];
                if let Some(expr) = &step.when {
                    match self.engine.templates.eval_when(expr, &self.ctx_value(idx)) {
                        Ok(true) => {}
                        Ok(false) => {
                            self.ready.start(idx);
                            let reason = format!("{WHEN_FALSE}: {expr}");
                            self.skip(idx, reason, Finish::Skipped);
                            continue;
                        }
                        Err(e) => {
                            self.ready.start(idx);
                            let rec = &mut self.records[idx];
                            rec.status = StepStatus::Failed;
                            rec.error = Some(format!("when: {e}"));
                            rec.finished_at = Some(Timestamp::now());
                            self.after_failure(idx, Finish::Failed);
                            continue;
                        }
                    }
                }
                self.ready.start(idx);
                self.spawn(idx);
            }
            if !progressed {
                return;
            }
        }
    }

    /// Nothing runs, nothing is ready, yet steps are pending: report instead of hanging.
    fn unstick(&mut self) {
        if self.in_flight > 0 || self.stop.is_some() || self.run.state != RunState::Running {
            return;
        }
        if !self.ready.ready().is_empty() {
            return;
        }
        let stuck: Vec<usize> = (0..self.records.len())
            .filter(|&i| !self.records[i].status.is_terminal())
            .collect();
        for i in stuck {
            tracing::error!(
                "run {}: step `{}` can never start",
                self.run.id,
                self.records[i].step
            );
            self.record_skip(i, "its dependencies can never be satisfied".into());
        }
    }

    fn ctx_value(&self, idx: usize) -> Arc<serde_json::Value> {
        self.ctx.value(self.wf.steps[idx].reads.as_ref())
    }

    fn spawn(&mut self, idx: usize) {
        let now = Timestamp::now();
        // Recorded (and announced) when its first attempt reports in, right after.
        let rec = &mut self.records[idx];
        rec.status = StepStatus::Running;
        rec.started_at.get_or_insert(now);
        rec.error = None;
        rec.exit_code = None;
        self.running_since[idx] = Some(Instant::now());
        self.in_flight += 1;
        let job = StepJob {
            run: self.run.id.clone(),
            idx,
            workflow: self.wf.clone(),
            ctx: self.ctx_value(idx),
            workdir: self.workdir.clone(),
            recovery_gate: self.recovery.remove(&idx),
            tx: self.step_tx.clone(),
            control: self.control.subscribe(),
            log: self.log_sink(&self.wf.steps[idx].id),
            redactor: self.redactor.clone(),
            templates_may_loop: self.templates_may_loop,
            engine: self.engine.clone(),
        };
        tokio::spawn(run_step(job));
    }

    fn log_sink(&self, step: &StepId) -> LogSink {
        let engine = self.engine.clone();
        let run = self.run.id.clone();
        let step = step.clone();
        let log = self.log.clone();
        let redactor = self.redactor.clone();
        // Per stream, what the last line left open: a secret cut by a line break is masked on
        // both sides of it.
        let masks: std::sync::Mutex<[StreamMask; 3]> = Default::default();
        Arc::new(move |stream: LogStream, text: &str| {
            let text = {
                let mut masks = masks.lock().unwrap_or_else(|e| e.into_inner());
                let i = match stream {
                    LogStream::Stdout => 0,
                    LogStream::Stderr => 1,
                    LogStream::System => 2,
                };
                mask_cut_line(&redactor, &mut masks[i], text)
            };
            if log.is_broken() {
                // The run is stopping: a line that cannot be stored is not shown either.
                return;
            }
            let line = log.record(&step, stream, &text);
            if log.is_broken() {
                return;
            }
            let _ = engine.events.send(Event {
                run: run.clone(),
                ts: line.ts,
                kind: EventKind::Log { line },
            });
        })
    }

    fn system_log(&self, step: &StepId, text: &str) {
        (self.log_sink(step))(LogStream::System, text);
    }

    fn on_step(&mut self, msg: StepMsg) {
        match msg {
            StepMsg::Attempt { idx, n } => {
                let paused = self.run.state == RunState::Paused;
                let rec = &mut self.records[idx];
                rec.attempt = n;
                rec.retry_at = None;
                rec.status = if paused {
                    StepStatus::Paused
                } else {
                    StepStatus::Running
                };
                self.running_since[idx].get_or_insert_with(Instant::now);
                let rec = rec.clone();
                self.put_step(&rec);
            }
            StepMsg::Retrying {
                idx,
                n: _,
                at,
                error,
                exit_code,
            } => {
                self.stop_clock(idx);
                let rec = &mut self.records[idx];
                rec.status = StepStatus::Retrying;
                rec.retry_at = Some(at);
                rec.error = Some(error);
                rec.exit_code = exit_code;
                let rec = rec.clone();
                self.put_step(&rec);
            }
            StepMsg::Spawned { idx, pid } => {
                let rec = &mut self.records[idx];
                rec.process = Some((pid, Timestamp::now()));
                let rec = rec.clone();
                self.put_step(&rec);
                // Durable, so that after a crash the next owner can stop this group.
                self.need_flush = true;
            }
            StepMsg::Gate(request) => self.open_gate(*request),
            StepMsg::Cache(put) => put.record(&self.engine.store),
            done @ StepMsg::Done { .. } if self.run.state == RunState::Paused => {
                // Results that arrive while paused are held until resume.
                self.held.push(done);
            }
            StepMsg::Done { idx, outcome } => self.on_done(idx, *outcome),
        }
    }

    fn stop_clock(&mut self, idx: usize) {
        if let Some(since) = self.running_since[idx].take() {
            let rec = &mut self.records[idx];
            rec.duration_ms =
                Some(rec.duration_ms.unwrap_or(0) + since.elapsed().as_millis() as u64);
        }
    }

    fn on_done(&mut self, idx: usize, outcome: Outcome) {
        self.log.close_step(&self.wf.steps[idx].id);
        self.in_flight = self.in_flight.saturating_sub(1);
        self.records[idx].process = None;
        self.stop_clock(idx);
        self.gates.remove(&idx);
        let now = Timestamp::now();
        match outcome {
            Outcome::Succeeded {
                output,
                exit_code,
                cached,
                metrics,
            } => {
                let finish = if cached {
                    Finish::Cached
                } else {
                    Finish::Succeeded
                };
                let rec = &mut self.records[idx];
                rec.status = if cached {
                    StepStatus::Cached
                } else {
                    StepStatus::Succeeded
                };
                rec.exit_code = exit_code;
                rec.error = None;
                rec.retry_at = None;
                rec.finished_at = Some(now);
                rec.metrics = metrics;
                let rec = rec.clone();
                self.ctx.set_step(&rec, Some(&output));
                self.outputs.push((rec.step.clone(), Some(output)));
                self.put_step(&rec);
                let skipped = self.ready.finish(idx, finish);
                self.apply_skips(skipped);
            }
            Outcome::Failed(f) if f.cancelled && self.stop == Some(RunState::Interrupted) => {
                // Stopped by an interrupt: it runs again when the run is resumed.
                let rec = &mut self.records[idx];
                rec.status = StepStatus::Pending;
                rec.retry_at = None;
                let rec = rec.clone();
                self.put_step(&rec);
            }
            Outcome::Failed(f) => {
                let cancelled = f.cancelled;
                let rec = &mut self.records[idx];
                rec.status = if cancelled {
                    StepStatus::Cancelled
                } else {
                    StepStatus::Failed
                };
                rec.error = Some(f.error.clone());
                rec.exit_code = f.exit_code.or(rec.exit_code);
                rec.retry_at = None;
                rec.finished_at = Some(now);
                let rec = rec.clone();
                if !cancelled && (!f.stdout.is_empty() || !f.stderr.is_empty()) {
                    let output = StepOutput {
                        output: crate::steps::output_value(&f.stdout),
                        stdout: f.stdout,
                        stderr: f.stderr,
                        outputs: IndexMap::new(),
                    };
                    self.ctx.set_step(&rec, Some(&output));
                    self.outputs.push((rec.step.clone(), Some(output)));
                } else {
                    self.ctx.set_step(&rec, None);
                }
                self.system_log(&rec.step, &format!("failed: {}", f.error));
                self.after_failure(
                    idx,
                    if cancelled {
                        Finish::Cancelled
                    } else {
                        Finish::Failed
                    },
                );
            }
        }
        self.need_flush = true;
    }

    fn after_failure(&mut self, idx: usize, finish: Finish) {
        let rec = self.records[idx].clone();
        self.put_step(&rec);
        if finish == Finish::Failed
            && !self.wf.steps[idx].continue_on_error
            && self.failed.is_none()
        {
            self.failed = Some(format!(
                "step `{}` failed: {}",
                rec.step,
                rec.error.as_deref().unwrap_or("unknown error")
            ));
        }
        let skipped = self.ready.finish(idx, finish);
        self.apply_skips(skipped);
        self.need_flush = true;
    }

    /// Records step `i` as skipped (its record, its place in the context, its Event).
    fn record_skip(&mut self, i: usize, reason: String) {
        self.records[i].mark_skipped(reason);
        let rec = self.records[i].clone();
        self.ctx.set_step(&rec, None);
        self.put_step(&rec);
    }

    fn skip(&mut self, idx: usize, reason: String, finish: Finish) {
        self.record_skip(idx, reason);
        let more = self.ready.finish(idx, finish);
        self.apply_skips(more);
        self.need_flush = true;
    }

    fn apply_skips(&mut self, skipped: Vec<(usize, String)>) {
        if self.stop.is_some() {
            // A cancel or interrupt: what did not run is cancelled (or left to resume), not skipped.
            return;
        }
        for (i, reason) in skipped {
            self.record_skip(i, reason);
        }
    }

    fn open_gate(&mut self, req: GateRequest) {
        let idx = req.idx;
        self.stop_clock(idx);
        let now = Timestamp::now();
        let step = self.wf.steps[idx].id.clone();
        let r = &self.redactor;
        let approval = ApprovalRecord {
            run: self.run.id.clone(),
            step: step.clone(),
            prompt: r.redact(&req.prompt).into_owned(),
            action: req.action.map(|a| r.redact(&a).into_owned()),
            inputs: req
                .inputs
                .into_iter()
                .map(|(k, v)| (k, r.redact(&v).into_owned()))
                .collect(),
            requested_at: now,
            deadline: req.timeout.map(|t| Timestamp(now.0 + t.as_millis() as u64)),
            decision: None,
            approvers: self.wf.steps[idx].approvers.clone(),
        };
        if let Err(e) = self.engine.store.put_approval(&approval) {
            let why = crate::store::space::write_failure(self.engine.store.dir(), &e);
            self.store_failed(why);
        }
        if let Some(t) = req.timeout {
            let tx = self.inbox_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(t).await;
                let _ = tx.send(RunMsg::GateTimeout {
                    idx,
                    requested_at: now,
                });
            });
        }
        self.gates.insert(
            idx,
            PendingGate {
                reply: req.reply,
                on_timeout: req.on_timeout,
                requested_at: now,
            },
        );
        let rec = &mut self.records[idx];
        rec.status = StepStatus::WaitingApproval;
        let rec = rec.clone();
        self.put_step(&rec);
        self.emit(EventKind::ApprovalRequested {
            approval: Box::new(approval),
        });
        self.need_flush = true;
    }

    fn decide(&mut self, idx: usize, decision: Decision) {
        let Some(gate) = self.gates.remove(&idx) else {
            return;
        };
        let step = self.wf.steps[idx].id.clone();
        if let Ok(Some(mut approval)) = self.engine.store.approval(&self.run.id, &step) {
            approval.decision = Some(decision.clone());
            if let Err(e) = self.engine.store.put_approval(&approval) {
                let why = crate::store::space::write_failure(self.engine.store.dir(), &e);
                self.store_failed(why);
            }
        }
        let wait = decision.at.millis_since(gate.requested_at);
        let rec = &mut self.records[idx];
        rec.approval_wait_ms += wait;
        rec.status = StepStatus::Running;
        let rec = rec.clone();
        self.put_step(&rec);
        self.running_since[idx] = Some(Instant::now());
        self.system_log(&step, &decision.summary());
        self.emit(EventKind::ApprovalDecided {
            step,
            decision: decision.clone(),
        });
        self.need_flush = true;
        let _ = gate.reply.send(decision);
    }

    fn on_control(&mut self, msg: RunMsg) {
        match msg {
            RunMsg::Pause if self.run.state == RunState::Running && self.stop.is_none() => {
                self.control.send_replace(Control::Paused);
                for i in 0..self.records.len() {
                    if self.records[i].status == StepStatus::Running {
                        self.stop_clock(i);
                        self.records[i].status = StepStatus::Paused;
                        let rec = self.records[i].clone();
                        self.put_step(&rec);
                    }
                }
                self.set_run_state(RunState::Paused, None);
                self.need_flush = true;
            }
            RunMsg::Resume if self.run.state == RunState::Paused => {
                self.control.send_replace(Control::Running);
                for i in 0..self.records.len() {
                    if self.records[i].status == StepStatus::Paused {
                        self.records[i].status = StepStatus::Running;
                        self.running_since[i] = Some(Instant::now());
                        let rec = self.records[i].clone();
                        self.put_step(&rec);
                    }
                }
                self.set_run_state(RunState::Running, None);
                self.need_flush = true;
                for m in std::mem::take(&mut self.held) {
                    self.on_step(m);
                }
            }
            RunMsg::Cancel if self.stop.is_none() => self.stop(RunState::Cancelled),
            RunMsg::Interrupt if self.stop.is_none() => self.stop(RunState::Interrupted),
            RunMsg::StoreFailed(why) => self.store_failed(why),
            RunMsg::Decide { step, decision } => {
                if let Some(&idx) = self.index.get(&step) {
                    self.decide(idx, decision);
                }
            }
            RunMsg::GateTimeout { idx, requested_at } => {
                let Some(gate) = self.gates.get(&idx) else {
                    return;
                };
                if gate.requested_at != requested_at {
                    return;
                }
                let approved = gate.on_timeout == OnTimeout::Approve;
                let decision = Decision {
                    approved,
                    by: "timeout".into(),
                    uid: None,
                    at: Timestamp::now(),
                    comment: Some(format!(
                        "no decision in time; `on_timeout: {}`",
                        if approved { "approve" } else { "reject" }
                    )),
                    inputs: IndexMap::new(),
                };
                self.decide(idx, decision);
            }
            _ => {}
        }
    }

    /// Stops every step (their process groups: TERM, grace, KILL); the run ends in `state`.
    fn stop(&mut self, state: RunState) {
        self.stop = Some(state);
        self.control.send_replace(Control::Cancelled);
        // Dropping the reply channels ends the waiting gates as cancelled.
        self.gates.clear();
        if self.run.state == RunState::Paused {
            // Let held results land; nothing is frozen any more.
            self.run.state = RunState::Running;
            for m in std::mem::take(&mut self.held) {
                self.on_step(m);
            }
        }
    }

    /// The store cannot be written: whatever waits for a flush is never announced, nothing
    /// more is written, and the run stops interrupted with `why` (a resume goes on from what
    /// was stored, once the cause is fixed).
    fn store_failed(&mut self, why: String) {
        if self.store_error.is_some() {
            return;
        }
        tracing::error!("run {}: {why}", self.run.id);
        self.log.stop_writing();
        self.store_error = Some(why);
        self.durable.clear();
        self.pending_events.clear();
        self.outputs.clear();
        self.need_flush = false;
        if self.stop.is_none() {
            self.stop(RunState::Interrupted);
        }
        self.stop = Some(RunState::Interrupted);
    }

    async fn finish(mut self) -> RunState {
        let final_state = match self.stop {
            Some(RunState::Interrupted) => RunState::Interrupted,
            Some(_) => RunState::Cancelled,
            None if self.failed.is_some() => RunState::Failed,
            None => RunState::Succeeded,
        };
        // An interrupted run keeps its unfinished steps for the resume; it still records when
        // it stopped (a resume clears it).
        self.run.finished_at = Some(Timestamp::now());
        if final_state != RunState::Interrupted {
            let now = Timestamp::now();
            for i in 0..self.records.len() {
                if !self.records[i].status.is_terminal() {
                    self.records[i].status = StepStatus::Cancelled;
                    self.records[i].finished_at = Some(now);
                    let rec = self.records[i].clone();
                    self.put_step(&rec);
                }
            }
            self.run.finished_at = Some(now);
        }
        let reason = match final_state {
            RunState::Failed => self.failed.clone(),
            RunState::Cancelled => Some("cancelled by an operator".to_string()),
            RunState::Interrupted => Some(match &self.store_error {
                Some(why) => format!("{why}; then `baton resume {}` continues it", self.run.id),
                None => "stopped when baton quit; `baton resume` continues it".to_string(),
            }),
            _ => None,
        };
        // Every line is stored before the run's final state, which followers stop at.
        self.log.close();
        self.set_run_state(final_state, reason);
        self.need_flush = true;
        self.drain().await;
        if self.store_error.is_some() {
            self.last_word(final_state);
        }
        final_state
    }

    /// After a failed write: one more try at writing how the run ended (the next open's sweep
    /// marks it interrupted if this does not last), and the end is announced either way, so
    /// followers stop and say why instead of waiting.
    fn last_word(&mut self, state: RunState) {
        // Beside sled, which refuses writes once one has failed; the next open records it.
        if self.engine.store.put_last_word(&self.run).is_ok() {
            tracing::info!("run {}: its interruption is written", self.run.id);
        }
        let _ = self.engine.events.send(Event {
            run: self.run.id.clone(),
            ts: Timestamp::now(),
            kind: EventKind::RunState {
                state,
                reason: self.run.reason.clone(),
            },
        });
    }

    fn set_run_state(&mut self, state: RunState, reason: Option<String>) {
        self.run.state = state;
        self.run.reason = reason.clone();
        self.run.steps_done = self
            .records
            .iter()
            .filter(|r| r.status.is_terminal())
            .count() as u32;
        self.put_run();
        self.emit(EventKind::RunState { state, reason });
    }

    fn put_run(&mut self) {
        self.run_written = Instant::now();
        if self.store_error.is_some() {
            return;
        }
        if let Err(e) = self.engine.store.put_run(&self.run) {
            self.store_failed(crate::store::space::write_failure(
                self.engine.store.dir(),
                &e,
            ));
        }
    }

    /// Records a step's new state: its Event carries the record to the journal.
    fn put_step(&mut self, rec: &StepRecord) {
        let i = rec.index as usize;
        let now = rec.status.is_terminal();
        if now != self.terminal[i] {
            self.terminal[i] = now;
            if now {
                self.done += 1;
            } else {
                self.done -= 1;
            }
        }
        self.emit(EventKind::Step {
            record: Box::new(rec.clone()),
        });
    }

    fn emit(&mut self, kind: EventKind) {
        self.event_seq += 1;
        let event = Event {
            run: self.run.id.clone(),
            ts: Timestamp::now(),
            kind,
        };
        self.pending_events.push((self.event_seq, event));
    }

    /// Writes the batch (the events in order, with the outputs) and, when it must
    /// survive a crash, asks for a flush without waiting for it. Events go out only once
    /// everything before them is durable, in order; the run meanwhile goes on scheduling (a
    /// crash before the flush re-runs the step: at least once, never lost).
    fn commit(&mut self) {
        if self.store_error.is_some() {
            // Nothing can be recorded any more, so nothing is announced.
            self.pending_events.clear();
            self.outputs.clear();
            self.need_flush = false;
            return;
        }
        if self.pending_events.is_empty() && self.outputs.is_empty() && !self.need_flush {
            return;
        }
        self.log.write_pending(self.need_flush);
        let written = self
            .engine
            .store
            .commit(&self.run.id, &self.outputs, &self.pending_events);
        if let Err(e) = written {
            let why = crate::store::space::write_failure(self.engine.store.dir(), &e);
            self.store_failed(why);
            return;
        }
        self.outputs.clear();
        // The record's progress count is for lists; step records are the truth, so rewrite it
        // at most a few times a second (and always when the run's state changes).
        if self.done as u32 != self.run.steps_done
            && self.run_written.elapsed() >= std::time::Duration::from_millis(250)
        {
            self.run.steps_done = self.done as u32;
            self.put_run();
        }
        let events: Vec<Event> = self.pending_events.drain(..).map(|(_, e)| e).collect();
        if self.need_flush {
            self.need_flush = false;
            let ticket = self.engine.store.request_flush();
            self.durable.push_back((ticket, events));
        } else if let Some((_, waiting)) = self.durable.back_mut() {
            // Not durable themselves, but they must not overtake events that wait for a flush.
            waiting.extend(events);
        } else {
            for e in events {
                let _ = self.engine.events.send(e);
            }
        }
    }

    /// The oldest flush finished: its events may go out.
    fn flushed(&mut self, result: anyhow::Result<()>) {
        if let Err(e) = result {
            let why = crate::store::space::write_failure(self.engine.store.dir(), &e);
            self.store_failed(why);
            return;
        }
        if let Some((_, events)) = self.durable.pop_front() {
            for e in events {
                let _ = self.engine.events.send(e);
            }
        }
    }

    /// Commits and waits for every flush under way.
    async fn drain(&mut self) {
        self.commit();
        while let Some((ticket, _)) = self.durable.front_mut() {
            let r = ticket.await;
            self.flushed(r);
        }
    }
}

/// A line masked as its stream's next. The note of a line cut while read goes after the mask,
/// so that a secret the cut split is seen at the end of the line, as at a line break.
fn mask_cut_line(redactor: &Redactor, mask: &mut StreamMask, text: &str) -> String {
    let (kept, note) = crate::store::split_cut_note(text);
    let mut out = redactor.mask_line(mask, kept).into_owned();
    out.push_str(note);
    out
}

/// What woke the run actor.
enum Wake {
    Control(RunMsg),
    Step(StepMsg),
    Flushed(anyhow::Result<()>),
}
