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
//! Not transitions, so written elsewhere: log lines (`run_log.rs` writes them behind, and makes
//! them durable before each durable batch, so a step's lines land no later than its result) and
//! the step cache (a step task reports its entry and the driver writes it, unflushed: losing an
//! entry only re-runs a step).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::shared::EngineShared;
use crate::spec::StepId;
use crate::store::flush::SyncFile;
use crate::store::{
    ApprovalRecord, Event, EventKind, FlushTicket, RunId, RunRecord, StepOutput, Timestamp,
};

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
    /// Flushes under way, each with the events that wait for it and who is told.
    durable: VecDeque<Durable>,
    /// A file the next flush syncs first (the run's log file, see [`Journal::sync_first`]).
    sync_first: Option<SyncFile>,
    /// Set once a write failed: nothing more is written or announced.
    broken: bool,
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
            engine,
            run,
            seq,
            pending: Vec::new(),
            outputs: Vec::new(),
            must_last: false,
            acks: Vec::new(),
            durable: VecDeque::new(),
            sync_first: None,
            broken: false,
        }
    }

    /// Adds an event to the batch.
    pub fn event(&mut self, kind: EventKind) {
        if self.broken {
            return;
        }
        self.seq += 1;
        let event = Event {
            run: self.run.clone(),
            ts: Timestamp::now(),
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
    /// for it; announces what may go out already.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        if self.broken || (self.pending.is_empty() && self.outputs.is_empty() && !self.must_last) {
            return Ok(());
        }
        let events = self.write()?;
        if std::mem::take(&mut self.must_last) {
            let ticket = self
                .engine
                .store
                .request_flush_syncing(self.sync_first.take());
            let acks = std::mem::take(&mut self.acks);
            self.durable.push_back(Durable {
                ticket,
                events,
                acks,
            });
        } else if let Some(last) = self.durable.back_mut() {
            // Not durable themselves, but they must not overtake events that wait for a flush.
            last.events.extend(events);
        } else {
            self.announce(events);
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

    /// The oldest flush under way, to await.
    pub fn flushing(&mut self) -> Option<&mut FlushTicket> {
        self.durable.front_mut().map(|d| &mut d.ticket)
    }

    /// The oldest flush ended: its events go out, or the error is returned.
    pub fn flushed(&mut self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        result?;
        if let Some(d) = self.durable.pop_front() {
            self.announce(d.events);
            for ack in d.acks {
                let _ = ack.send(());
            }
        }
        Ok(())
    }

    /// Commits, and waits for every flush under way.
    pub async fn drain(&mut self) -> anyhow::Result<()> {
        self.commit()?;
        while let Some(d) = self.durable.front_mut() {
            let r = (&mut d.ticket).await;
            self.flushed(r)?;
        }
        Ok(())
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

    /// No flush is under way.
    pub fn is_idle(&self) -> bool {
        self.durable.is_empty()
    }

    /// A write failed: whatever waits is never announced, and nothing more is written.
    pub fn abandon(&mut self) {
        self.broken = true;
        self.durable.clear();
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
        for e in events {
            self.engine.events.send(e);
        }
    }
}

/// A flush under way: the events that wait for it, and who is told when it is done.
struct Durable {
    ticket: FlushTicket,
    events: Vec<Event>,
    acks: Vec<oneshot::Sender<()>>,
}
