//! A test double of the engine: runs, steps, gates, logs, outputs and events held in memory,
//! commands recorded, Events sent on a real broadcast channel. Only for tests.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use baton::engine::{
    Backend, Command, RunControl, RunDetail, RunReader, StartRequest, Subscription,
};
use baton::spec::StepId;
use baton::store::{Event, LogLine, RunId, RunRecord, StepOutput};
use tokio::sync::broadcast;

/// What the double holds.
#[derive(Default)]
pub struct Store {
    pub runs: Vec<RunRecord>,
    pub details: HashMap<RunId, RunDetail>,
    pub outputs: HashMap<(RunId, StepId), StepOutput>,
    pub logs: HashMap<RunId, Vec<LogLine>>,
    pub events: HashMap<RunId, Vec<Event>>,
    pub sent: Vec<Command>,
    pub started: Vec<StartRequest>,
}

/// The in-memory Backend.
pub struct MemoryBackend {
    pub store: Mutex<Store>,
    pub events: broadcast::Sender<Event>,
}

impl MemoryBackend {
    pub fn new(store: Store) -> MemoryBackend {
        let (events, _) = broadcast::channel(1024);
        MemoryBackend {
            store: Mutex::new(store),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        match self.store.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Commands received so far.
    pub fn sent(&self) -> Vec<Command> {
        self.lock().sent.clone()
    }

    /// Start requests received so far.
    pub fn started(&self) -> Vec<StartRequest> {
        self.lock().started.clone()
    }

    /// How many `logs` calls read a line older than `seq` (scroll-back fetches).
    pub fn log_count(&self, run: &RunId) -> usize {
        self.lock().logs.get(run).map(Vec::len).unwrap_or(0)
    }
}

impl RunReader for MemoryBackend {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        Ok(self.lock().runs.clone())
    }

    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        let store = self.lock();
        let found: Vec<&RunRecord> = store
            .runs
            .iter()
            .filter(|r| r.id.0.starts_with(id_or_prefix))
            .collect();
        match found[..] {
            [one] => Ok(one.id.clone()),
            _ => anyhow::bail!("no single run `{id_or_prefix}`"),
        }
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        let store = self.lock();
        let mut record = store
            .runs
            .iter()
            .find(|r| r.id == *id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no run {id}"))?;
        if let Some(detail) = store.details.get(id) {
            record.source = detail.run.source.clone();
        }
        Ok(record)
    }

    fn run_detail(&self, run: &RunId) -> anyhow::Result<RunDetail> {
        let store = self.lock();
        let mut detail = store
            .details
            .get(run)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no run {run}"))?;
        if let Some(r) = store.runs.iter().find(|r| r.id == *run) {
            let source = std::mem::take(&mut detail.run.source);
            detail.run = r.clone();
            detail.run.source = source;
        }
        Ok(detail)
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        Ok(self
            .lock()
            .outputs
            .get(&(run.clone(), step.clone()))
            .cloned())
    }

    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>> {
        Ok(self
            .lock()
            .outputs
            .iter()
            .filter(|((r, _), _)| r == run)
            .map(|((_, s), o)| (s.clone(), o.clone()))
            .collect())
    }

    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        let store = self.lock();
        Ok(store
            .logs
            .get(run)
            .map(|lines| {
                let start = lines.partition_point(|l| l.seq <= after);
                lines[start..]
                    .iter()
                    .filter(|l| step.is_none_or(|s| l.step == *s))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        let store = self.lock();
        let mut lines: Vec<LogLine> = store
            .logs
            .get(run)
            .map(|lines| {
                lines
                    .iter()
                    .rev()
                    .filter(|l| step.is_none_or(|s| l.step == *s))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        lines.reverse();
        Ok(lines)
    }

    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        Ok(self.lock().events.get(run).cloned().unwrap_or_default())
    }
}

impl RunControl for MemoryBackend {
    fn start(&self, request: StartRequest) -> anyhow::Result<RunId> {
        let mut store = self.lock();
        store.started.push(request);
        Ok(RunId(format!("r-started-{}", store.started.len())))
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        self.lock().sent.push(command);
        Ok(())
    }

    fn subscribe(&self) -> Subscription {
        Subscription::of_broadcast(self.events.subscribe())
    }
}

impl Backend for MemoryBackend {}
