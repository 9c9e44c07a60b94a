//! The engine: schedules runs over their DAG, drives steps, records every transition.
//!
//! `Engine` is the in-process implementation of [`Backend`]. Each active run is a
//! [`run::RunDriver`] task on the tokio runtime (the local driver of the run's pure
//! [`machine::RunMachine`]); commands reach it over a channel. Every transition of a run, from
//! a driver or from here, is written, flushed and announced by [`journal::Journal`].

pub mod backend;
pub mod clock;
pub mod context;
pub mod dry_run;
pub mod events;
pub mod journal;
pub mod machine;
pub mod partial;
pub mod pipeline;
pub mod policy;
pub mod reader;
pub mod repair;
pub mod run;
pub mod run_log;
pub mod secrets;
pub mod shared;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail};
use indexmap::IndexMap;
use tokio::sync::{mpsc, watch};

pub use backend::{Backend, Command, Feed, RunControl, StartRequest, Subscription};
pub use reader::{Notebook, RunDetail, RunReader};
pub use shared::{EngineConfig, EngineShared};

use crate::identity::Operator;
use crate::spec::Workflow;
use crate::store::{
    Decision, EventKind, RunId, RunRecord, RunState, StepRecord, StepTable, Store, Timestamp,
};
use journal::Journal;
use repair::retried;
use run::{RunDriver, RunMsg};
use secrets::RunSecrets;

/// How to reach an active run and learn that it ended.
struct RunHandle {
    tx: mpsc::UnboundedSender<RunMsg>,
    finished: watch::Receiver<Option<RunState>>,
}

/// The engine of one owner process.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<EngineShared>,
    active: Arc<Mutex<HashMap<RunId, RunHandle>>>,
    runtime: tokio::runtime::Handle,
}

impl Engine {
    /// Opens the engine on `store` (which has already marked runs of dead owners interrupted).
    pub fn open(
        store: Store,
        config: EngineConfig,
        runtime: tokio::runtime::Handle,
    ) -> anyhow::Result<Engine> {
        Ok(Engine::of_shared(
            Arc::new(EngineShared::new(store, config)),
            runtime,
        ))
    }

    /// The engine whose shared state this is (a step task reaches its run's engine so).
    pub(crate) fn of_shared(shared: Arc<EngineShared>, runtime: tokio::runtime::Handle) -> Engine {
        Engine {
            active: shared.active.clone(),
            shared,
            runtime,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    fn known_agents(&self) -> Vec<String> {
        crate::agents::known_names(&self.shared.config.extra_agents)
    }

    fn parse(&self, source: &str, path: Option<&Path>) -> anyhow::Result<Workflow> {
        let origin = path.unwrap_or(Path::new("<workflow>"));
        // The engine's own template environment: building one is 2.5 % of a small run in
        // `baton serve`.
        let wf = crate::spec::parse_with(source, origin, &self.shared.templates)
            .map_err(|d| anyhow!("{d}"))?;
        let mut problems = crate::spec::check_agents(&wf, &self.known_agents());
        let configured: Vec<String> = (self.shared.config.llm.iter())
            .flat_map(|l| l.mcp_servers.keys().cloned())
            .collect();
        problems.extend(crate::spec::check_mcp_servers(&wf, &configured));
        problems.extend(crate::spec::check_calls(
            &wf,
            &self.shared.config.workflow_dirs,
        ));
        if !problems.is_empty() {
            bail!("{}", crate::spec::Diagnostics(problems));
        }
        Ok(wf)
    }

    /// The wall time of the engine's clock.
    fn now(&self) -> Timestamp {
        self.shared.config.clock.now().wall
    }

    /// A new run id (`r20261122-021739-k3f9`); whether it is free is settled when the run is
    /// created (see [`Engine::create`]).
    fn new_run_id(&self) -> RunId {
        let mut jitter = policy::Jitter::from_entropy();
        RunId::stamped('r', &self.now().rfc3339(), 4, || jitter.next_unit())
    }

    /// Validates the workflow, records a new run and starts it.
    pub fn start_run(&self, request: StartRequest) -> anyhow::Result<RunId> {
        self.create(request, None, None, |_| {})
    }

    /// Validates the workflow, records run `id` (the child of `parent`'s step, when given) and
    /// starts it.
    pub(crate) fn create_run(
        &self,
        request: StartRequest,
        id: RunId,
        parent: Option<crate::store::ParentLink>,
    ) -> anyhow::Result<RunId> {
        self.create(request, Some(id), parent, |_| {})
    }

    /// Validates the workflow and records it as run `id`, or under a new id when `None`
    /// (another is drawn while the drawn one is taken: concurrent starts in the same second
    /// can draw the same tag); then starts it. `claimed` hears its id before any of its Events
    /// is sent.
    fn create(
        &self,
        request: StartRequest,
        id: Option<RunId>,
        parent: Option<crate::store::ParentLink>,
        claimed: impl FnOnce(&RunId),
    ) -> anyhow::Result<RunId> {
        let wf = self.parse(&request.source, request.path.as_deref())?;
        let params = crate::spec::resolve_params(&wf, &request.params).map_err(|e| {
            anyhow!(
                "{}: {e}",
                request
                    .path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| wf.name.clone())
            )
        })?;
        let workdir = request
            .workdir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .map(|d| d.display().to_string());
        let path = request.path.as_ref().map(|p| p.display().to_string());
        let secrets = RunSecrets::resolve(
            &wf,
            path.as_deref(),
            &request.source,
            workdir.as_deref(),
            &crate::providers::process_env,
        )?;
        let mut run = RunRecord {
            id: id.clone().unwrap_or_else(|| self.new_run_id()),
            workflow: wf.name.clone(),
            workflow_path: request.path.as_ref().map(|p| p.display().to_string()),
            source: request.source.clone(),
            params,
            workdir,
            state: RunState::Pending,
            created_at: self.now(),
            started_at: None,
            finished_at: None,
            owner: Some(self.shared.store.owner()),
            reason: None,
            steps_total: wf.steps.len() as u32,
            steps_done: 0,
            stopped: Default::default(),
            parent,
        };
        let plan = crate::store::RunPlan::of(&wf);
        let mut journal = Journal::fresh(self.shared.clone(), run.id.clone());
        let mut draws = 1;
        while !journal.create_run(&run, &plan)? {
            if id.is_some() {
                bail!("run {} exists already", run.id);
            }
            if draws == 16 {
                bail!("cannot find a free run id: the last tried was {}", run.id);
            }
            draws += 1;
            run.id = self.new_run_id();
            journal = Journal::fresh(self.shared.clone(), run.id.clone());
        }
        claimed(&run.id);
        // The history keeps the record without its source (stored once, apart).
        journal.event(EventKind::RunCreated {
            record: Box::new(RunRecord {
                source: String::new(),
                ..run.clone()
            }),
        });
        journal.write_through()?;
        let id = run.id.clone();
        self.launch(Arc::new(wf), run, (StepTable::default(), journal), secrets)?;
        Ok(id)
    }

    fn launch(
        &self,
        wf: Arc<Workflow>,
        run: RunRecord,
        history: (StepTable, Journal),
        secrets: RunSecrets,
    ) -> anyhow::Result<()> {
        let id = run.id.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let channels = (rx, tx.clone());
        let driver = RunDriver::restore(self.shared.clone(), wf, run, history, secrets, channels)?;
        let (done_tx, done_rx) = watch::channel(None);
        {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if active.contains_key(&id) {
                bail!("run {id} is already active in this process");
            }
            active.insert(
                id.clone(),
                RunHandle {
                    tx,
                    finished: done_rx,
                },
            );
        }
        let active = self.active.clone();
        self.runtime.spawn(async move {
            let state = driver.run().await;
            active.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            let _ = done_tx.send(Some(state));
        });
        Ok(())
    }

    /// Continues an interrupted (or paused-by-a-dead-owner) run: completed steps keep their
    /// results, the rest run.
    pub fn resume_run(&self, id: &RunId) -> anyhow::Result<()> {
        if self.is_active(id) {
            return self.to_driver(id, RunMsg::Resume);
        }
        let run = self.load(id)?;
        match run.state {
            RunState::Interrupted | RunState::Pending | RunState::Running | RunState::Paused => {}
            s => bail!(
                "run {id} is {s}; only an interrupted run can be resumed (use `baton retry {id}` to re-run its failed steps)"
            ),
        }
        self.relaunch(run, |_| false)
    }

    /// Re-runs the failed, cancelled and upstream-skipped steps of a finished run.
    pub fn retry_run(&self, id: &RunId) -> anyhow::Result<()> {
        if self.is_active(id) {
            bail!("run {id} is still active; wait for it to finish or cancel it first");
        }
        let run = self.load(id)?;
        if !matches!(
            run.state,
            RunState::Failed | RunState::Cancelled | RunState::Interrupted
        ) {
            bail!(
                "run {id} is {}; only a failed or cancelled run can be retried",
                run.state
            );
        }
        self.relaunch(run, retried)
    }

    fn relaunch(
        &self,
        mut run: RunRecord,
        reset: impl Fn(&StepRecord) -> bool,
    ) -> anyhow::Result<()> {
        let origin = run
            .workflow_path
            .clone()
            .unwrap_or_else(|| "<workflow>".to_string());
        let wf = crate::spec::parse_with(&run.source, Path::new(&origin), &self.shared.templates)
            .map_err(|d| {
            anyhow!(
                "run {}: its stored workflow no longer validates:\n{d}",
                run.id
            )
        })?;
        let secrets = RunSecrets::resolve(
            &wf,
            run.workflow_path.as_deref(),
            &run.source,
            run.workdir.as_deref(),
            &crate::providers::process_env,
        )
        .map_err(|e| anyhow!("run {}: {e:#}", run.id))?;
        let mut stored = self.shared.store.replay(&run.id)?;
        let dag = crate::spec::Dag::new(&wf);
        let mut journal = Journal::open(self.shared.clone(), run.id.clone())?;
        for rec in &mut stored.steps {
            if reset(rec) {
                let Some(i) = wf.steps.iter().position(|s| s.id == rec.step) else {
                    continue;
                };
                // A fan-out keeps its items that succeeded: only the others run again.
                if !rec.reset_failed_items() {
                    *rec = StepRecord::planned(&wf, &dag, i);
                }
                if stored.outputs.remove(&rec.step).is_some() {
                    journal.output(rec.step.clone(), None);
                }
                // The reset is history too: a replay after it sees the steps pending again.
                journal.event(EventKind::Step {
                    record: Box::new(rec.clone()),
                });
            }
        }
        // The time it stood stopped stays out of its clock.
        run.enter_state(RunState::Pending, self.now());
        run.reason = None;
        // Readers (a follower polling the record) see it under way from now, not its old end.
        journal.put_run(&run)?;
        journal.write_through()?;
        self.launch(Arc::new(wf), run, (stored, journal), secrets)
    }

    fn load(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        self.shared
            .store
            .run(id)?
            .ok_or_else(|| anyhow!("no run {id} in {}", self.shared.store.dir().display()))
    }

    /// SIGKILLs every process of every running shell step at once (a second Ctrl-C).
    pub fn kill_all_processes(&self) {
        self.shared.groups.kill_all();
    }

    /// Stops a run active in this process, leaving it interrupted (its steps' process groups
    /// get TERM, the grace period, then KILL); `wait` tells when it has stopped.
    pub fn interrupt_run(&self, id: &RunId) -> anyhow::Result<()> {
        self.to_driver(id, RunMsg::Interrupt)
    }

    /// Whether a run is active in this process.
    pub fn is_active(&self, id: &RunId) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    /// Steps ready to run but waiting for a slot of the global step limit.
    pub fn steps_waiting_for_slot(&self) -> usize {
        self.shared
            .waiting_for_slot
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs active in this process.
    pub fn active_runs(&self) -> Vec<RunId> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn to_driver(&self, id: &RunId, msg: RunMsg) -> anyhow::Result<()> {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let handle = active
            .get(id)
            .ok_or_else(|| anyhow!("run {id} is not active in this process"))?;
        handle
            .tx
            .send(msg)
            .map_err(|_| anyhow!("run {id} has just finished"))
    }

    /// Waits until a run active in this process ends; returns its final state.
    pub async fn wait(&self, id: &RunId) -> Option<RunState> {
        let rx = {
            let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            active.get(id).map(|h| h.finished.clone())
        };
        match rx {
            Some(mut rx) => {
                let state = rx.wait_for(|s| s.is_some()).await.ok().and_then(|s| *s);
                state.or_else(|| self.shared.store.run(id).ok().flatten().map(|r| r.state))
            }
            None => self.shared.store.run(id).ok().flatten().map(|r| r.state),
        }
    }

    /// Stops every active run, leaving them interrupted (to resume later), and waits for them.
    pub async fn interrupt_all(&self) {
        let ids = self.active_runs();
        for id in &ids {
            let _ = self.to_driver(id, RunMsg::Interrupt);
        }
        for id in &ids {
            self.wait(id).await;
        }
    }

    /// Cancels every active run and waits for them.
    pub async fn cancel_all(&self) {
        let ids = self.active_runs();
        for id in &ids {
            let _ = self.to_driver(id, RunMsg::Cancel);
        }
        for id in &ids {
            self.wait(id).await;
        }
    }

    fn cancel_inactive(&self, id: &RunId) -> anyhow::Result<()> {
        let mut run = self.load(id)?;
        if run.state.is_terminal() {
            bail!("run {id} has already ended ({})", run.state);
        }
        let mut journal = Journal::open(self.shared.clone(), id.clone())?;
        let now = self.now();
        let steps = self.shared.store.step_table(&run)?.steps;
        // An interrupted run's groups on other hosts: the sweep that found it stopped them
        // unless a host was out of reach then.
        let remote: Vec<_> = steps
            .iter()
            .filter(|s| !s.status.is_terminal())
            .flat_map(|s| s.remote_processes())
            .collect();
        crate::remote::leftovers::stop_and_report(&id.0, &remote, self.shared.config.grace);
        for mut rec in steps {
            if !rec.status.is_terminal() {
                if let Some(child) = &rec.child_run {
                    // Its sub-workflow's run goes with it (one that has ended refuses).
                    let _ = self.send(Command::Cancel(child.clone()));
                }
                rec.cancel_unfinished(now);
                journal.event(EventKind::Step {
                    record: Box::new(rec),
                });
            }
        }
        run.state = RunState::Cancelled;
        run.finished_at = Some(now);
        run.reason = Some("cancelled by an operator".into());
        run.steps_done = run.steps_total;
        journal.put_run(&run)?;
        journal.event(EventKind::RunState {
            state: RunState::Cancelled,
            reason: run.reason.clone(),
        });
        journal.write_through()
    }
}

impl Engine {
    /// Carries out a command on behalf of `who`: the OS user of the process that asked (this
    /// one, or a control socket's peer as the kernel names it). A decision is recorded as
    /// theirs, and refused when the gate lists its `approvers` and they are not among them.
    pub fn send_as(&self, command: Command, who: &Operator) -> anyhow::Result<()> {
        match command {
            Command::Pause(id) => self.to_driver(&id, RunMsg::Pause),
            Command::Resume(id) => self.resume_run(&id),
            Command::Cancel(id) => {
                if self.is_active(&id) {
                    self.to_driver(&id, RunMsg::Cancel)
                } else {
                    self.cancel_inactive(&id)
                }
            }
            Command::Retry(id) => self.retry_run(&id),
            Command::Repair {
                run,
                step,
                source,
                version,
            } => self.repair_run(&run, &step, source, version.as_deref(), who),
            Command::Decide {
                run,
                step,
                approved,
                via,
                comment,
                inputs,
            } => {
                let approval = self
                    .shared
                    .store
                    .approval(&run, &step)?
                    .ok_or_else(|| anyhow!("run {run} has no gate at step `{step}`"))?;
                if approval.decision.is_some() {
                    bail!("the gate at step `{step}` of run {run} is already decided");
                }
                if !approval.approvers.is_empty() && !approval.approvers.contains(&who.name) {
                    bail!(
                        "{who} may not decide the gate at step `{step}` of run {run}: its \
                         `approvers` are {}; ask one of them",
                        approval.approvers.join(", ")
                    );
                }
                if !self.is_active(&run) {
                    bail!("run {run} is not running here; resume it first (`baton resume {run}`)");
                }
                let inputs: IndexMap<String, String> = approval
                    .inputs
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            inputs.get(k).cloned().unwrap_or_else(|| v.clone()),
                        )
                    })
                    .collect();
                if let (true, Some(tool), Some(args)) = (
                    approved,
                    &approval.tool,
                    inputs.get(crate::agents::approve::ARGUMENTS_INPUT),
                ) && let Err(why) = crate::agents::approve::edited_arguments(args)
                {
                    bail!("run {run}, step `{step}`, the `{tool}` call: {why}");
                }
                let by = match via {
                    Some(via) => format!("{} ({via})", who.name),
                    None => who.name.clone(),
                };
                let decision = Decision {
                    approved,
                    by,
                    uid: Some(who.uid),
                    at: self.now(),
                    comment,
                    inputs,
                };
                self.to_driver(&run, RunMsg::Decide { step, decision })
            }
        }
    }
}

impl RunControl for Engine {
    fn start(&self, request: StartRequest) -> anyhow::Result<RunId> {
        self.start_run(request)
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        self.send_as(command, &Operator::current())
    }

    fn subscribe(&self) -> Subscription {
        Subscription::of_broadcast(self.live_events())
    }
}

impl Backend for Engine {}

/// Reads a workflow file into a start request.
pub fn request_from_file(
    path: &Path,
    params: IndexMap<String, serde_json::Value>,
) -> anyhow::Result<StartRequest> {
    let source = crate::spec::read_source(path).map_err(|d| anyhow!("{d}"))?;
    Ok(StartRequest {
        source,
        path: Some(path.to_path_buf()),
        params,
        workdir: None,
    })
}
