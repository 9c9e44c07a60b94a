//! The one place a run's transitions are written, flushed and announced.
//!
//! Events are stamped with the run's next seqs and written with the outputs they carry as one
//! store operation. A batch that must survive a crash (a step ended, a gate opened or was
//! decided, the run's state changed) asks the group-commit thread for a flush, and its events go
//! out only once it is durable, in order: later events wait behind it, durable or not (the run's
//! log file, when lines were appended to it, is synced by that flush too). The run
//! driver commits without waiting (scheduling goes on; a crash before the flush re-runs the
//! step: at least once, never lost); writers outside a driver (a new run, a reset for a retry, a
//! cancel of a run no process drives) use [`Journal::write_through`], which waits for the flush.
//!
//! The flushing thread announces a batch itself once its flush has ended (the journal's
//! `Outbox`), so a flush that went well wakes nobody: in a chain of shell steps the driver,
//! woken for every flush, took the core from the next step's process once a step. It is woken
//! when a flush failed, when one takes longer than [`FLUSH_PATIENCE`], and at the run's end,
//! when it waits for the last.
//!
//! Not transitions, so written elsewhere: log lines (`run_log.rs` writes them behind, and makes
//! them durable before each durable batch, so a step's lines land no later than its result) and
//! the step cache (a step task reports its entry and the driver writes it, unflushed: losing an
//! entry only re-runs a step).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::shared::EngineShared;
use crate::spec::StepId;
use crate::store::flush::{FLUSH_PATIENCE, SyncFile};
use crate::store::{ApprovalRecord, Event, EventKind, RunId, RunRecord, StepOutput, Timestamp};

/// A run's pending transitions and the flushes under way.
pub struct Journal {
    engine: Arc<EngineShared>,
    run: RunId,
    /// The seq of the last event written or pending.
    seq: u64,
    pending: Vec<(u64, Event)>,
    outputs: Vec<(StepId, Option<StepOutput>)>,
    must_last: bool,
    /// Told when the batch so far is durable (an agent's loop waits for its turn's record).
    acks: Vec<oneshot::Sender<()>>,
    /// What waits for a flush, shared with the flushing thread, which announces it.
    outbox: Arc<Outbox>,
    /// Flushes asked for so far (numbered from 1), and when each still under way was.
    asked: u64,
    under_way: VecDeque<(u64, Instant)>,
    /// Fires when the oldest flush under way has taken [`FLUSH_PATIENCE`]; armed for the
    /// flush numbered in the second field, made at the first wait (a timer needs the runtime,
    /// which the journal's maker may not be on).
    patience: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    patience_for: u64,
    /// The flush whose patience ran out.
    overdue: Option<u64>,
    /// A file the next flush syncs first (the run's log file, see [`Journal::sync_first`]).
    sync_first: Option<SyncFile>,
    /// Set once a write failed: nothing more is written or announced.
    broken: bool,
}

/// The Events and acknowledgements that wait for flushes, in order, and what the flushing
/// thread has done with them; the driver and the flushing thread take turns under its lock.
struct Outbox {
    state: Mutex<Held>,
    /// Wakes the driver: a flush failed, or (when it watches) one ended.
    wake: Notify,
    engine: Arc<EngineShared>,
}

#[derive(Default)]
struct Held {
    /// The number of the last flush that ended well.
    done: u64,
    /// Batches waiting, oldest first: each goes out once flush `after` has ended.
    waiting: VecDeque<Batch>,
    /// The first flush that failed, for the driver.
    failed: Option<anyhow::Error>,
    /// Nothing more goes out: a flush failed, or the journal was abandoned.
    stopped: bool,
    /// The driver wants to be woken at every flush's end.
    watching: bool,
}

struct Batch {
    after: u64,
    events: Vec<Event>,
    acks: Vec<oneshot::Sender<()>>,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn announce(&self, events: Vec<Event>) {
        for e in events {
            self.engine.events.send(e);
        }
    }

    /// Flush `n` (and so every one before it) ended, well or not: on the flushing thread.
    fn flushed(&self, n: u64, result: Result<(), anyhow::Error>) {
        let mut held = self.lock();
        if held.stopped {
            return;
        }
        let wake = match result {
            Ok(()) => {
                held.done = held.done.max(n);
                while held.waiting.front().is_some_and(|b| b.after <= held.done) {
                    let Some(batch) = held.waiting.pop_front() else {
                        break;
                    };
                    // Under the lock: a later batch cannot overtake this one.
                    self.announce(batch.events);
                    for ack in batch.acks {
                        let _ = ack.send(());
                    }
                }
                held.watching
            }
            Err(e) => {
                // Whatever waits is never announced; its acknowledgements are dropped, unsent.
                held.stopped = true;
                held.waiting.clear();
                held.failed = Some(e);
                true
            }
        };
        drop(held);
        if wake {
            self.wake.notify_one();
        }
    }
}

impl Journal {
    /// The journal of `run`, following its stored history.
    pub fn open(engine: Arc<EngineShared>, run: RunId) -> anyhow::Result<Journal> {
        let seq = engine.store.last_event_seq(&run)?;
        Ok(Journal::at(engine, run, seq))
    }

    /// The journal of a run with no history: one whose record is yet to be created (no event
    /// is stored for a run without a record, as `delete_run` removes both at once). Asking the
    /// store for the last seq, a backwards scan in sled, was 5 % of a small run's CPU in
    /// `baton serve`.
    pub fn fresh(engine: Arc<EngineShared>, run: RunId) -> Journal {
        Journal::at(engine, run, 0)
    }

    fn at(engine: Arc<EngineShared>, run: RunId, seq: u64) -> Journal {
        Journal {
            outbox: Arc::new(Outbox {
                state: Mutex::new(Held::default()),
                wake: Notify::new(),
                engine: engine.clone(),
            }),
            engine,
            run,
            seq,
            pending: Vec::new(),
            outputs: Vec::new(),
            must_last: false,
            acks: Vec::new(),
            asked: 0,
            under_way: VecDeque::new(),
            patience: None,
            patience_for: 0,
            overdue: None,
            sync_first: None,
            broken: false,
        }
    }

    /// Adds an event to the batch. A step's record that follows one of the same step with the
    /// same status takes its place (and its number): the earlier says nothing the later does
    /// not, as when a shell step's attempt and its process group are reported together.
    pub fn event(&mut self, kind: EventKind) {
        if self.broken {
            return;
        }
        let ts = Timestamp::now();
        if let EventKind::Step { record } = &kind
            && let Some((_, last)) = self.pending.last_mut()
            && let EventKind::Step { record: earlier } = &last.kind
            && earlier.step == record.step
            && earlier.status == record.status
        {
            last.ts = ts;
            last.kind = kind;
            return;
        }
        self.seq += 1;
        let event = Event {
            run: self.run.clone(),
            ts,
            kind,
        };
        self.pending.push((self.seq, event));
    }

    /// Writes (`Some`) or removes (`None`) a step's output with the batch.
    pub fn output(&mut self, step: StepId, output: Option<StepOutput>) {
        if !self.broken {
            self.outputs.push((step, output));
        }
    }

    /// The batch must survive a crash before its events are announced.
    pub fn must_last(&mut self) {
        self.must_last = !self.broken;
    }

    /// The batch must survive a crash, and `ack` is told once it has (dropped, unsent, if a
    /// write fails).
    pub fn when_durable(&mut self, ack: oneshot::Sender<()>) {
        if !self.broken {
            self.must_last = true;
            self.acks.push(ack);
        }
    }

    /// The next flush syncs `file` before the store, so that what was appended to it (the run's
    /// log lines) is durable no later than the batch, without the driver waiting for it.
    pub fn sync_first(&mut self, file: SyncFile) {
        if !self.broken {
            self.sync_first = Some(file);
        }
    }

    /// Whether the batch so far must survive a crash.
    pub fn needs_flush(&self) -> bool {
        self.must_last
    }

    /// Rewrites the run's record (read by lists and followers; the events are the history).
    pub fn put_run(&self, run: &RunRecord) -> anyhow::Result<()> {
        if self.broken {
            return Ok(());
        }
        self.engine.store.put_run(run)
    }

    /// Writes a new run's record, workflow source and plan in one transaction (flushed with
    /// the batch); `false`, with nothing written, when a run with its id exists already.
    pub fn create_run(
        &self,
        run: &RunRecord,
        plan: &crate::store::RunPlan,
    ) -> anyhow::Result<bool> {
        if self.broken {
            return Ok(false);
        }
        self.engine.store.create_run(run, plan)
    }

    /// Writes a gate's record (flushed with the batch).
    pub fn put_approval(&self, approval: &ApprovalRecord) -> anyhow::Result<()> {
        if self.broken {
            return Ok(());
        }
        self.engine.store.put_approval(approval)
    }

    /// Writes the batch and, when it must survive a crash, asks for a flush without waiting
    /// for it; announces what may go out already (the rest goes out from the flushing thread).
    pub fn commit(&mut self) -> anyhow::Result<()> {
        if self.broken || (self.pending.is_empty() && self.outputs.is_empty() && !self.must_last) {
            return Ok(());
        }
        let events = self.write()?;
        let durable = std::mem::take(&mut self.must_last);
        let mut held = self.outbox.lock();
        if !durable {
            if held.waiting.is_empty() && held.done >= self.asked {
                drop(held);
                self.outbox.announce(events);
            } else if !events.is_empty() {
                // Not durable themselves, but they must not overtake events that wait for a
                // flush: they go out after the last one asked for.
                held.waiting.push_back(Batch {
                    after: self.asked,
                    events,
                    acks: Vec::new(),
                });
            }
            return Ok(());
        }
        self.asked += 1;
        let n = self.asked;
        // Held before the flush is asked for, so that its end finds the batch waiting.
        held.waiting.push_back(Batch {
            after: n,
            events,
            acks: std::mem::take(&mut self.acks),
        });
        drop(held);
        self.under_way.push_back((n, Instant::now()));
        let outbox = self.outbox.clone();
        let asked = self.engine.store.request_flush_then(
            self.sync_first.take(),
            Box::new(move |result| {
                let result =
                    result.map_err(|e| anyhow::Error::new(e).context("cannot flush the store"));
                outbox.flushed(n, result);
            }),
        );
        if !asked {
            self.outbox.flushed(
                n,
                Err(anyhow::anyhow!("the store's flush thread has stopped")),
            );
        }
        Ok(())
    }

    /// Writes the batch, flushes the store and announces the batch, waiting for the flush:
    /// for writers outside a run's driver.
    pub fn write_through(&mut self) -> anyhow::Result<()> {
        let events = self.write()?;
        self.engine.store.flush_blocking()?;
        self.announce(events);
        Ok(())
    }

    /// Resolves when the driver must look at the flushes ([`Journal::settle`]): one failed,
    /// the oldest under way has taken [`FLUSH_PATIENCE`], or, with `every`, one ended (the
    /// driver waits for the last ones at the run's end). Cancel-safe.
    pub async fn flush_news(&mut self, every: bool) {
        self.prune();
        {
            let mut held = self.outbox.lock();
            held.watching = every;
            if held.failed.is_some() || (every && held.done >= self.asked) {
                return;
            }
        }
        match self.under_way.front() {
            Some(&(n, at)) if self.overdue != Some(n) => {
                let deadline = at + FLUSH_PATIENCE;
                let patience = self
                    .patience
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if self.patience_for != n {
                    patience.as_mut().reset(deadline);
                    self.patience_for = n;
                }
                tokio::select! {
                    () = self.outbox.wake.notified() => {}
                    () = patience.as_mut() => self.overdue = Some(n),
                }
            }
            _ => self.outbox.wake.notified().await,
        }
    }

    /// What the flushes came to since the last look: the first failure, or a flush under way
    /// for longer than [`FLUSH_PATIENCE`] (sled 0.34 can wait forever in a flush once one of
    /// its own writes has failed), as an error; the run must stop and say so.
    pub fn settle(&mut self) -> anyhow::Result<()> {
        if let Some(e) = self.outbox.lock().failed.take() {
            return Err(e);
        }
        self.prune();
        match self.under_way.front() {
            Some(&(n, _)) if self.overdue == Some(n) => Err(anyhow::anyhow!(
                "the store did not finish a flush within {FLUSH_PATIENCE:?}"
            )),
            _ => Ok(()),
        }
    }

    /// Forgets the flushes that have ended.
    fn prune(&mut self) {
        let done = self.outbox.lock().done;
        while self.under_way.front().is_some_and(|&(n, _)| n <= done) {
            self.under_way.pop_front();
        }
    }

    /// Commits, and waits for every flush under way.
    pub async fn drain(&mut self) -> anyhow::Result<()> {
        self.commit()?;
        loop {
            self.settle()?;
            if self.is_idle() {
                return Ok(());
            }
            self.flush_news(true).await;
        }
    }

    /// Events or outputs wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty() || !self.outputs.is_empty()
    }

    /// After a failed write: one more try at writing how the run ended (written beside
    /// the store when sled refuses it), and the end is announced either way, so
    /// followers stop and say why instead of waiting. The one write past [`Journal::abandon`].
    pub fn last_word(&self, run: &RunRecord) {
        // Beside sled, which refuses writes once one has failed (and whose flush can then wait
        // forever): the next open records it (`store/interrupted.rs`).
        if self.engine.store.put_last_word(run).is_ok() {
            tracing::info!("run {}: its interruption is written", run.id);
        }
        self.announce(vec![Event {
            run: run.id.clone(),
            ts: Timestamp::now(),
            kind: EventKind::RunState {
                state: run.state,
                reason: run.reason.clone(),
            },
        }]);
    }

    /// No flush is under way (or none will be announced: the journal was abandoned).
    pub fn is_idle(&self) -> bool {
        let held = self.outbox.lock();
        held.stopped || held.done >= self.asked
    }

    /// A write failed: whatever waits is never announced, and nothing more is written.
    pub fn abandon(&mut self) {
        self.broken = true;
        {
            let mut held = self.outbox.lock();
            held.stopped = true;
            held.waiting.clear();
        }
        self.under_way.clear();
        self.pending.clear();
        self.outputs.clear();
        self.must_last = false;
        self.acks.clear();
        self.sync_first = None;
    }

    fn write(&mut self) -> anyhow::Result<Vec<Event>> {
        let store = &self.engine.store;
        store.commit(&self.run, &self.outputs, &self.pending)?;
        self.outputs.clear();
        Ok(self.pending.drain(..).map(|(_, e)| e).collect())
    }

    fn announce(&self, events: Vec<Event>) {
        self.outbox.announce(events);
    }
}

#[cfg(test)]
mod tests;
