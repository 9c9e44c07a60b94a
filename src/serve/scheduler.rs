//! The scheduler of `baton serve`: one task per scheduled workflow sleeps until its next fire
//! (on tokio's clock, so paused test time drives it), starts a run, and follows `overlap:` when
//! the previous scheduled run is still active and `catchup:` for fires it missed. The last
//! fire dealt with is kept in the store, so a restart catches up on exactly what it missed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;

use super::schedule::{Fires, catch_up};
use super::{Catalogue, StartError};
use crate::engine::Engine;
use crate::engine::clock::Clock;
use crate::spec::schedule::{Overlap, Schedule};
use crate::store::{RunId, Timestamp};
use crate::tui::workflows::WorkflowEntry;

/// At most this many fires wait behind an active run (`overlap: queue`); older ones are dropped.
const MAX_QUEUED: usize = 100;

/// A fire dealt with up to this late still counts as on time; later, it counts as missed and
/// follows `catchup:`.
const LATE_GRACE_MS: u64 = 60_000;

/// What became of one fire.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A run started.
    Started(RunId),
    /// Dropped: the previous run was still active (`overlap: skip`).
    Skipped,
    /// Waiting for the active run to end (`overlap: queue`).
    Queued,
    /// The run could not start (why).
    Failed(String),
}

/// One fire of a workflow's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    /// The workflow's name.
    pub workflow: String,
    /// The fire time.
    pub at: Timestamp,
    /// What became of it.
    pub outcome: Outcome,
}

/// The running schedules; dropping it stops them.
pub struct Scheduler {
    tasks: tokio::task::JoinSet<()>,
    fires: Arc<Mutex<Vec<Fire>>>,
    /// The scheduled workflows, by name.
    pub scheduled: Vec<String>,
}

impl Scheduler {
    /// Starts the schedules of the valid workflows among `entries` on the current runtime. A
    /// second workflow of the same name is left out (a warning): its fires would share marks.
    pub fn spawn(
        engine: Engine,
        catalogue: Catalogue,
        entries: Vec<WorkflowEntry>,
        clock: Arc<dyn Clock>,
    ) -> Scheduler {
        let fires = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        let mut scheduled: Vec<String> = Vec::new();
        for entry in entries {
            let Some(schedule) = entry.schedule.clone().filter(|_| entry.error.is_none()) else {
                continue;
            };
            if scheduled.contains(&entry.name) {
                tracing::warn!(
                    "schedule: {} is a second workflow named `{}`; its schedule is ignored",
                    entry.path.display(),
                    entry.name
                );
                continue;
            }
            scheduled.push(entry.name.clone());
            let task = Task {
                engine: engine.clone(),
                catalogue: catalogue.clone(),
                clock: clock.clone(),
                fires: fires.clone(),
                entry,
                schedule,
                current: None,
                queue: VecDeque::new(),
            };
            tasks.spawn(task.drive());
        }
        Scheduler {
            tasks,
            fires,
            scheduled,
        }
    }

    /// Every fire so far, oldest first.
    pub fn fires(&self) -> Vec<Fire> {
        self.fires.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops every schedule now (runs already started go on).
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

/// One workflow's schedule.
struct Task {
    engine: Engine,
    catalogue: Catalogue,
    clock: Arc<dyn Clock>,
    fires: Arc<Mutex<Vec<Fire>>>,
    entry: WorkflowEntry,
    schedule: Schedule,
    /// The last run this schedule started.
    current: Option<RunId>,
    queue: VecDeque<Timestamp>,
}

impl Task {
    async fn drive(mut self) {
        let fires = match Fires::new(&self.schedule) {
            Ok(f) => f,
            Err(e) => return tracing::warn!("schedule of `{}`: {e:#}", self.entry.name),
        };
        let now = self.clock.now().wall;
        let mark = match self.engine.store().schedule_mark(&self.entry.name) {
            Ok(mark) => mark,
            Err(e) => {
                tracing::warn!("schedule of `{}`: {e:#}; no catch-up", self.entry.name);
                None
            }
        };
        if let Some(mark) = mark {
            for at in catch_up(&fires, self.schedule.catchup, mark, now) {
                self.dispatch(at).await;
            }
        }
        let mut mark = now;
        self.save(mark).await;
        loop {
            let Some(next) = fires.next_after(mark) else {
                return;
            };
            let now = self.clock.now().wall;
            if next > now {
                let wait = Duration::from_millis(next.0 - now.0);
                let engine = self.engine.clone();
                let current = self.current.clone();
                let finished = async move {
                    match current {
                        Some(id) => engine.wait(&id).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = finished => {
                        self.current = None;
                        if let Some(at) = self.queue.pop_front() {
                            self.start(at).await;
                        }
                        continue;
                    }
                }
            }
            let now = self.clock.now().wall.max(next);
            if now.millis_since(next) <= LATE_GRACE_MS {
                // On time (or nearly): this fire runs; any after it were slept through.
                self.dispatch(next).await;
                for at in catch_up(&fires, self.schedule.catchup, next, now) {
                    self.dispatch(at).await;
                }
            } else {
                // Woken long after (a suspended machine): every fire since the mark is missed.
                for at in catch_up(&fires, self.schedule.catchup, mark, now) {
                    self.dispatch(at).await;
                }
            }
            mark = now;
            self.save(mark).await;
        }
    }

    /// Deals with the fire at `at` as `overlap:` says.
    async fn dispatch(&mut self, at: Timestamp) {
        let busy = self
            .current
            .as_ref()
            .is_some_and(|id| self.engine.is_active(id));
        match (busy, self.schedule.overlap) {
            (true, Overlap::Skip) => self.record(at, Outcome::Skipped),
            (true, Overlap::Queue) => {
                if self.queue.len() >= MAX_QUEUED {
                    self.queue.pop_front();
                }
                self.queue.push_back(at);
                self.record(at, Outcome::Queued);
            }
            (false, _) if !self.queue.is_empty() => {
                self.queue.push_back(at);
                self.record(at, Outcome::Queued);
                if let Some(first) = self.queue.pop_front() {
                    self.start(first).await;
                }
            }
            _ => self.start(at).await,
        }
    }

    /// Starts a run for the fire at `at`.
    async fn start(&mut self, at: Timestamp) {
        let (engine, catalogue, entry) = (
            self.engine.clone(),
            self.catalogue.clone(),
            self.entry.clone(),
        );
        let started =
            tokio::task::spawn_blocking(move || catalogue.start(&engine, &entry, IndexMap::new()))
                .await;
        let outcome = match started {
            Ok(Ok(id)) => {
                tracing::info!(
                    "schedule: `{}` fired at {}: run {id}",
                    self.entry.name,
                    at.rfc3339()
                );
                self.current = Some(id.clone());
                Outcome::Started(id)
            }
            Ok(Err(StartError::Params(why))) => Outcome::Failed(why),
            Ok(Err(StartError::Other(e))) => Outcome::Failed(format!("{e:#}")),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        if let Outcome::Failed(why) = &outcome {
            tracing::warn!(
                "schedule: `{}` fired at {} but did not start: {why}",
                self.entry.name,
                at.rfc3339()
            );
        }
        self.record(at, outcome);
    }

    fn record(&self, at: Timestamp, outcome: Outcome) {
        let mut fires = self.fires.lock().unwrap_or_else(|e| e.into_inner());
        if fires.len() >= 10_000 {
            fires.remove(0);
        }
        fires.push(Fire {
            workflow: self.entry.name.clone(),
            at,
            outcome,
        });
    }

    async fn save(&self, mark: Timestamp) {
        if let Err(e) = self
            .engine
            .store()
            .set_schedule_mark(&self.entry.name, mark)
            .await
        {
            tracing::warn!(
                "schedule of `{}`: cannot record its last fire: {e:#}",
                self.entry.name
            );
        }
    }
}
