//! The local run driver: one task per active run, the only writer of that run's records.
//!
//! It only routes: operators' messages and step tasks' reports become [`Input`]s to the run's
//! [`RunMachine`], and the machine's [`Effect`]s are performed here — step tasks spawned, records
//! journaled (`journal.rs` writes, flushes and announces them), gates stored, timers armed. It
//! handles messages in batches so that many steps finishing at once share one flush.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::clock::Clock;

use super::context::RunContext;
use super::journal::Journal;
use super::machine::{Effect, Input, RunMachine, Signal, StepEnd};
use super::pipeline::{GateRequest, Outcome, StepJob, StepMsg, run_step};
use super::run_log::RunLog;
use super::secrets::RunSecrets;
use super::shared::EngineShared;
use crate::notify::{Notice, Notifier};
use crate::secrets::{Redactor, StreamMask};
use crate::spec::notify::NotifyEvent;
use crate::spec::{StepId, Workflow};
use crate::steps::{Directive, LogSink};
use crate::store::{
    ApprovalRecord, Decision, Event, EventKind, LogStream, RunRecord, RunState, StepOutput,
    StepStatus, StepTable, Timestamp,
};

pub use super::machine::WHEN_FALSE;

pub(crate) mod agent;
mod gates;
mod items;
mod leftovers;
mod repair;

/// What a client or a timer asks of a run driver.
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
    /// A gate has waited as long as notify target `target`'s `gate_waiting:`.
    GateWaiting {
        /// Step index.
        idx: usize,
        /// Which opening of the gate the timer was for.
        requested_at: Timestamp,
        /// The target's place in `notify:`.
        target: usize,
        /// What the gate asks (masked).
        prompt: String,
    },
    /// A gate's timeout fired.
    GateTimeout {
        /// Step index.
        idx: usize,
        /// Which opening of the gate the timer was for.
        requested_at: Timestamp,
    },
}

/// The driver of one active run.
pub struct RunDriver {
    engine: Arc<EngineShared>,
    wf: Arc<Workflow>,
    run: RunRecord,
    machine: RunMachine,
    journal: Journal,
    clock: Arc<dyn Clock>,
    index: HashMap<StepId, usize>,
    inbox: mpsc::UnboundedReceiver<RunMsg>,
    inbox_tx: mpsc::UnboundedSender<RunMsg>,
    step_rx: mpsc::UnboundedReceiver<StepMsg>,
    step_tx: mpsc::UnboundedSender<StepMsg>,
    control: watch::Sender<Directive>,
    /// Set before a stop that leaves the run interrupted (see [`StepJob::interrupting`]).
    interrupting: Arc<AtomicBool>,
    /// Gate requests reported and not yet opened by the machine (dropped if it does not).
    asks: HashMap<usize, GateRequest>,
    /// Where each open gate's decision goes; dropping one ends its gate cancelled.
    replies: HashMap<usize, oneshot::Sender<Decision>>,
    /// When the run record was last written.
    run_written: Instant,
    workdir: Option<PathBuf>,
    log: Arc<RunLog>,
    /// The engine's secrets and this run's: applied to everything before it is recorded.
    redactor: Arc<Redactor>,
    /// Whether the workflow has template statements (see [`StepJob::templates_may_loop`]).
    templates_may_loop: bool,
    /// Set once a write or flush failed: the journal is abandoned.
    broken: bool,
    /// Tells the workflow's `notify:` targets.
    notifier: Notifier,
    /// The control of each fan-out step's items (the run's, or cancelled by `fail_fast`).
    fan_controls: HashMap<usize, watch::Sender<Directive>>,
    /// Whether step or item tasks were started since the batch was last written (see
    /// [`RunDriver::run`]).
    started: bool,
}

impl RunDriver {
    /// Prepares the driver of a run whose records are in the store (new, resumed or retried):
    /// its records are replayed into a fresh machine (see [`RunMachine::restore`]); `journal`
    /// follows its history (the one that wrote its last records).
    pub fn restore(
        engine: Arc<EngineShared>,
        wf: Arc<Workflow>,
        mut run: RunRecord,
        (stored, journal): (StepTable, Journal),
        secrets: RunSecrets,
        (inbox, inbox_tx): (
            mpsc::UnboundedReceiver<RunMsg>,
            mpsc::UnboundedSender<RunMsg>,
        ),
    ) -> anyhow::Result<RunDriver> {
        // Only statements (`{% for %}`, macros) can loop; a workflow without any renders its
        // steps' templates in place, without a trip to a blocking thread. Unknown: assume so.
        let templates_may_loop = run.source.is_empty() || run.source.contains("{%");
        // The source is stored already; the driver rewrites its record often and needs no copy.
        run.source = String::new();
        let ctx = RunContext::new(&wf, &run, &secrets);
        let redactor = Arc::new(engine.redactor.with(secrets.0.into_values()));
        let concurrency = wf.concurrency.unwrap_or(engine.config.run_concurrency);
        let clock = engine.config.clock.clone();
        let (machine, effects) = RunMachine::restore(
            wf.clone(),
            run.id.clone(),
            stored,
            ctx,
            concurrency,
            clock.now(),
        );
        let (step_tx, step_rx) = mpsc::unbounded_channel();
        let (control, _) = watch::channel(Directive::Running);
        // A store failure while writing the log reaches the driver.
        let failed = inbox_tx.clone();
        let log = RunLog::for_run(&engine, &run.id, &wf, move |why| {
            let _ = failed.send(RunMsg::StoreFailed(why));
        })?;
        let index = wf
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let base = run
            .workflow_path
            .as_ref()
            .and_then(|p| std::path::Path::new(p).parent().map(PathBuf::from));
        let notifier = Notifier::new(&wf.notify, redactor.clone(), base);
        let mut driver = RunDriver {
            notifier,
            workdir: run.workdir.as_ref().map(PathBuf::from),
            redactor,
            templates_may_loop,
            run_written: Instant::now(),
            log,
            engine,
            wf,
            run,
            machine,
            journal,
            clock,
            index,
            inbox,
            inbox_tx,
            step_rx,
            step_tx,
            control,
            interrupting: Arc::new(AtomicBool::new(false)),
            asks: HashMap::new(),
            replies: HashMap::new(),
            broken: false,
            fan_controls: HashMap::new(),
            started: false,
        };
        driver.perform(effects);
        Ok(driver)
    }

    /// Drives the run to its end; returns its final state.
    pub async fn run(mut self) -> RunState {
        self.log.spawn_writer();
        self.run.owner = Some(self.engine.store.owner());
        if self.run.started_at.is_none() {
            self.run.started_at = Some(self.clock.now().wall);
        }
        self.feed(Input::Begin);
        let mut stepped = false;
        loop {
            // Steps just started reach their spawn before the batch is written and its flush
            // asked for, so the write overlaps their processes; the groups they report go in
            // the batch (one commit a step of a chain, not two). After a step's message (which
            // wakes this task at once), the ready steps report first too: a wide fan-out's
            // ends make one batch, not a commit and a flush each.
            if std::mem::take(&mut self.started) | std::mem::take(&mut stepped) {
                tokio::task::yield_now().await;
                self.take_step_msgs();
            }
            self.commit();
            if self.machine.is_over() && self.journal.is_idle() {
                break;
            }
            // At the run's end the driver waits for the last flushes; before it, a flush that
            // went well is announced by the flushing thread and wakes nobody.
            let every = self.machine.is_over();
            let wake = tokio::select! {
                Some(m) = self.inbox.recv() => Wake::Inbox(m),
                Some(m) = self.step_rx.recv() => Wake::Step(m),
                () = self.journal.flush_news(every) => Wake::Flushes,
            };
            match wake {
                Wake::Inbox(m) => self.on_control(m),
                Wake::Step(m) => {
                    self.on_step(m);
                    stepped = true;
                }
                Wake::Flushes => {
                    if let Err(e) = self.journal.settle() {
                        self.write_failed(&e);
                    }
                }
            }
            // Take whatever else has arrived, so one flush covers the whole batch.
            self.take_step_msgs();
            while let Ok(m) = self.inbox.try_recv() {
                self.on_control(m);
            }
        }
        if !self.broken && self.wf.repair_on_failure && self.machine.failing() {
            self.propose_repair().await;
        }
        self.finish().await
    }

    /// Handles the steps' messages that have arrived (a bounded number: then it commits).
    fn take_step_msgs(&mut self) {
        for _ in 0..4096 {
            match self.step_rx.try_recv() {
                Ok(m) => self.on_step(m),
                Err(_) => break,
            }
        }
    }

    fn on_control(&mut self, msg: RunMsg) {
        match msg {
            RunMsg::Pause => self.feed(Input::Pause),
            RunMsg::Resume => self.feed(Input::Resume),
            RunMsg::Cancel => self.feed(Input::Cancel),
            RunMsg::Interrupt => self.feed(Input::Interrupt),
            RunMsg::StoreFailed(why) => self.store_failed(why),
            RunMsg::Decide { step, decision } => {
                if let Some(&idx) = self.index.get(&step) {
                    self.feed(Input::Decide { idx, decision });
                }
            }
            RunMsg::GateTimeout { idx, requested_at } => {
                self.feed(Input::GateTimeout { idx, requested_at })
            }
            RunMsg::GateWaiting {
                idx,
                requested_at,
                target,
                prompt,
            } => {
                if self.machine.gate_since(idx) == Some(requested_at) {
                    let step = self.wf.steps[idx].id.as_str();
                    let notice = Notice::gate_waiting(&self.run, step, requested_at, &prompt);
                    self.notifier.send(notice, Some(target));
                }
            }
        }
    }

    fn on_step(&mut self, msg: StepMsg) {
        match msg {
            StepMsg::Attempt { idx, n } => self.feed(Input::Attempt { idx, n }),
            StepMsg::Retrying {
                idx,
                n: _,
                at,
                error,
                exit_code,
            } => self.feed(Input::Retrying {
                idx,
                at,
                error,
                exit_code,
            }),
            StepMsg::Spawned { idx, pid } => self.feed(Input::Spawned { idx, pid }),
            StepMsg::RemoteSpawned { idx, process } => {
                self.feed(Input::RemoteSpawned { idx, process })
            }
            StepMsg::ChildRun { idx, run } => self.feed(Input::ChildRun { idx, run }),
            StepMsg::Gate(request) => {
                let (idx, on_timeout) = (request.idx, request.on_timeout);
                self.asks.insert(idx, *request);
                self.feed(Input::GateOpened { idx, on_timeout });
            }
            StepMsg::Agent { idx, entry, ack } => {
                let step = self.wf.steps[idx].id.clone();
                self.journal_agent(step, *entry, ack);
            }
            StepMsg::Cache(put) => put.record(&self.engine.store),
            StepMsg::Done { idx, outcome } => {
                let end = step_end(*outcome);
                self.feed(Input::Done { idx, end });
            }
            StepMsg::Items { idx, items } => self.feed(Input::Items { idx, items }),
            StepMsg::Item { idx, item, msg } => self.on_item(idx, item, *msg),
        }
    }

    /// Applies one input to the machine at the clock's now, and performs what it decided.
    fn feed(&mut self, input: Input) {
        let now = self.clock.now();
        let effects = self.machine.apply(input, now, &self.engine.templates);
        self.perform(effects);
    }

    fn perform(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Step(record) => self.journal.event(EventKind::Step { record }),
                Effect::Output(step, output) => self.journal.output(step, Some(output)),
                Effect::Durable => self.journal.must_last(),
                Effect::Run {
                    state,
                    reason,
                    steps_done,
                } => self.set_run_state(state, reason, steps_done),
                Effect::Start {
                    idx,
                    ctx,
                    recovery_gate,
                } => self.spawn(idx, ctx, recovery_gate),
                Effect::Signal(signal) => self.signal(signal),
                Effect::GateOpened { idx, requested_at } => self.open_gate(idx, requested_at),
                Effect::GateDecided { idx, decision } => self.gate_decided(idx, decision),
                Effect::Log { idx, text } => self.system_log(idx, &text),
                Effect::StepOver(idx) => {
                    self.log.close_step(&self.wf.steps[idx].id);
                    self.replies.remove(&idx);
                    self.fan_controls.remove(&idx);
                }
                Effect::StopLeftover {
                    idx,
                    pid,
                    spawned_at,
                } => self.stop_leftover(idx, pid, spawned_at),
                Effect::StopRemoteLeftover { idx, process } => {
                    self.stop_remote_leftover(idx, &process)
                }
                Effect::Ended(state) => self.notify_end(state),
                Effect::Expand { idx, ctx } => self.expand(idx, ctx),
                Effect::StartItem {
                    idx,
                    item,
                    value,
                    ctx,
                    recovery_gate,
                } => self.spawn_item((idx, item), value, ctx, recovery_gate),
                Effect::CancelItems(idx) => self.cancel_items(idx),
                Effect::ItemOver { idx, item } => self
                    .log
                    .close_step(&crate::store::item_key(&self.wf.steps[idx].id, item)),
            }
        }
        // A gate the machine did not open (the run is stopping): dropping it cancels it.
        self.asks.clear();
    }

    fn set_run_state(&mut self, state: RunState, reason: Option<String>, steps_done: u32) {
        if state.is_terminal() || state == RunState::Interrupted {
            // An interrupted run records when it stopped too (a resume clears it). Every log
            // line is stored before the run's final state, which followers stop at.
            self.log.close();
        }
        self.run.enter_state(state, self.clock.now().wall);
        self.run.reason = reason.clone();
        self.run.steps_done = steps_done;
        self.put_run();
        self.journal.event(EventKind::RunState { state, reason });
    }

    fn put_run(&mut self) {
        self.run_written = Instant::now();
        if let Err(e) = self.journal.put_run(&self.run) {
            self.write_failed(&e);
        }
    }

    fn signal(&mut self, signal: Signal) {
        let control = match signal {
            Signal::Pause => Directive::Paused,
            Signal::Resume => Directive::Running,
            Signal::Stop { interrupt } => {
                self.interrupting.store(interrupt, Ordering::Relaxed);
                // Dropping the reply channels ends the waiting gates as cancelled.
                self.replies.clear();
                Directive::Cancelled
            }
        };
        self.control.send_replace(control);
        self.signal_items(control);
    }

    fn spawn(&mut self, idx: usize, ctx: Arc<serde_json::Value>, recovery_gate: bool) {
        let job = StepJob {
            run: self.run.id.clone(),
            idx,
            workflow: self.wf.clone(),
            ctx,
            workdir: self.workdir.clone(),
            recovery_gate,
            tx: self.step_tx.clone(),
            control: self.control.subscribe(),
            interrupting: self.interrupting.clone(),
            log: self.log_sink(&self.wf.steps[idx].id),
            redactor: self.redactor.clone(),
            templates_may_loop: self.templates_may_loop,
            engine: self.engine.clone(),
            item: None,
        };
        tokio::spawn(run_step(job));
        self.started = true;
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
            engine.events.send(Event {
                run: run.clone(),
                ts: line.ts,
                kind: EventKind::Log { line },
            });
        })
    }

    fn system_log(&self, idx: usize, text: &str) {
        (self.log_sink(&self.wf.steps[idx].id))(LogStream::System, text);
    }

    /// Writes the batch (see [`Journal::commit`]); rewrites the record's progress count, which
    /// is for lists (step records are the truth), at most a few times a second.
    fn commit(&mut self) {
        if self.broken {
            return;
        }
        if self.journal.has_pending() {
            self.log.write_pending();
        }
        if self.journal.needs_flush()
            && let Some(file) = self.log.unsynced_file()
        {
            self.journal.sync_first(file);
        }
        if let Err(e) = self.journal.commit() {
            self.write_failed(&e);
            return;
        }
        let done = self.machine.steps_done();
        if done != self.run.steps_done
            && self.run_written.elapsed() >= std::time::Duration::from_millis(250)
        {
            self.run.steps_done = done;
            self.put_run();
        }
    }

    fn write_failed(&mut self, e: &anyhow::Error) {
        let why = crate::store::space::write_failure(self.engine.store.dir(), e);
        self.store_failed(why);
    }

    /// The store cannot be written: whatever waits for a flush is never announced, nothing
    /// more is written, and the run stops interrupted with `why` (a resume goes on from what
    /// was stored, once the cause is fixed).
    fn store_failed(&mut self, why: String) {
        if self.broken {
            return;
        }
        tracing::error!("run {}: {why}", self.run.id);
        self.broken = true;
        self.log.stop_writing();
        self.journal.abandon();
        self.feed(Input::StoreFailed(why));
    }

    async fn finish(mut self) -> RunState {
        self.feed(Input::Finish);
        // The log's last lines are written and go with the final state's flush.
        self.commit();
        let state = self.run.state;
        if let Err(e) = self.journal.drain().await {
            self.write_failed(&e);
        }
        if self.broken {
            self.journal.last_word(&self.run);
        }
        self.notifier.drain().await;
        state
    }
}

/// A step task's outcome as the machine takes it: what a failed step printed is kept.
fn step_end(outcome: Outcome) -> StepEnd {
    match outcome {
        Outcome::Succeeded {
            output,
            exit_code,
            cached,
            metrics,
        } => StepEnd::Succeeded {
            output,
            exit_code,
            cached,
            metrics,
        },
        Outcome::Failed(f) => {
            let printed = !f.cancelled && (!f.stdout.is_empty() || !f.stderr.is_empty());
            let output = printed.then(|| StepOutput {
                output: crate::steps::output_value(&f.stdout),
                stdout: f.stdout,
                stderr: f.stderr,
                outputs: Default::default(),
            });
            StepEnd::Failed {
                error: f.error,
                exit_code: f.exit_code,
                cancelled: f.cancelled,
                output,
            }
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

/// What woke the run driver.
enum Wake {
    Inbox(RunMsg),
    Step(StepMsg),
    Flushes,
}
