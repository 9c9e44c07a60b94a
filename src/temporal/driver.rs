//! The `baton.run` workflow's logic, without the SDK: baton's own run machine (DAG, ready set,
//! `when:`, retry policy, gates, pause, cancel) driven by what the workflow hears, turned into
//! [`Order`]s for the workflow to carry out (start an activity, sleep, cancel). Deterministic:
//! the moment and the random draw come in with each call, the workflow text is parsed from the
//! input, no template that reads a step's output is rendered here (workers render them), and
//! nothing reads a clock, the environment or a file.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::json;

use super::wire::{Freeze, GateText, RunEnd, RunInput, RunView, StepDone, StepTask, ToolAsk};
use crate::agents::approve::ARGUMENTS_INPUT;
use crate::engine::RunDetail;
use crate::engine::context::{RunContext, step_entry};
use crate::engine::machine::retry::{AfterFailure, AttemptFailure, after_failure};
use crate::engine::machine::{Effect, Input, ItemReport, Now, RunMachine, Signal, StepEnd};
use crate::engine::secrets::RunSecrets;
use crate::spec::{OnTimeout, StepKind, Templates, Workflow};
use crate::store::{
    ApprovalRecord, Decision, LogLine, LogStream, ParentLink, RunId, RunRecord, RunState,
    StepOutput, StepTable, Timestamp, item_key,
};

/// Steps of one run at once when the workflow does not say (as many as the local default).
const RUN_CONCURRENCY: usize = 16;

/// What the workflow is told to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// Start an activity for step `idx` (or its item `item`) on `queue`.
    Run {
        /// Step index.
        idx: usize,
        /// Item index, for an item of a fan-out.
        item: Option<usize>,
        /// Its task.
        task: Box<StepTask>,
        /// Its task queue.
        queue: String,
    },
    /// Wake the driver after `after`.
    Sleep {
        /// What the wake is for.
        wake: Wake,
        /// How long.
        after: Duration,
    },
    /// Cancel every step's activity (the run is cancelled).
    CancelSteps,
    /// Cancel the activities of step `idx`'s items (one failed, and `fail_fast` is on).
    CancelItems(usize),
    /// Start the child run of `workflow:` step `idx` as a child workflow `id`.
    Child {
        /// Step index.
        idx: usize,
        /// The child's workflow id (`PARENT.STEP`).
        id: String,
        /// What it runs.
        input: Box<RunInput>,
    },
    /// Pause (or resume) the child run `id`.
    FreezeChild {
        /// The child's workflow id.
        id: String,
        /// Pause, or resume.
        pause: bool,
    },
    /// Render this (child) run's `outputs:` on a worker; it ends when they come back.
    Outputs {
        /// The task.
        task: Box<StepTask>,
        /// Its queue.
        queue: String,
    },
}

/// Why the driver asked to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Attempt `attempt` of step `idx` is due.
    Retry {
        /// Step index.
        idx: usize,
        /// The attempt due.
        attempt: u32,
    },
    /// Attempt `attempt` of item `item` of step `idx` is due.
    RetryItem {
        /// Step index.
        idx: usize,
        /// Item index.
        item: usize,
        /// The attempt due.
        attempt: u32,
    },
    /// Step `idx`'s gate, opened at `requested_at`, timed out.
    GateTimeout {
        /// Step index.
        idx: usize,
        /// Which opening.
        requested_at: Timestamp,
    },
}

/// Where a started step is.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// A worker renders what its gate shows.
    Preparing,
    /// Its gate waits for an operator.
    Gate,
    /// Attempt `n` runs on a worker.
    Running(u32),
    /// Attempt `n` is due after a backoff.
    Backoff(u32),
    /// A worker evaluates its `for_each:` list.
    Expanding,
    /// A worker reads the file of its attempt `n` (a `workflow:` step).
    Calling(u32),
    /// Attempt `n`'s child run (a `workflow:` step) runs as child workflow `id`.
    Child(u32, String),
    /// Attempt `n` (an agent's) waits for an operator's decision on a tool call: ask `ask`.
    ToolGate(u32, String),
}

/// One run's workflow state.
pub struct Driver {
    wf: Arc<Workflow>,
    input: RunInput,
    run: RunId,
    machine: RunMachine,
    when: Templates,
    view: RunView,
    logs: Vec<LogLine>,
    phases: HashMap<usize, Phase>,
    gates: HashMap<usize, GateText>,
    /// The template context each started step reads.
    contexts: HashMap<usize, Arc<serde_json::Value>>,
    /// Items of fan-outs under way: where each is, and its value.
    items: HashMap<(usize, usize), (Phase, serde_json::Value)>,
    pending: VecDeque<Input>,
    orders: Vec<Order>,
    end: Option<RunEnd>,
    /// How the run ended, while its `outputs:` are rendered (a child run).
    ending: Option<RunEnd>,
    /// Agent steps' conversations, by step (or item) key, as their workers journaled them.
    conversations: HashMap<String, Vec<crate::store::AgentEntry>>,
    /// Decisions on agents' tool calls, by step and ask, for the asking worker to read.
    tool_decisions: HashMap<(String, String), Decision>,
    /// The tool of each step whose gate is a tool call's.
    tools: HashMap<usize, String>,
}

impl Driver {
    /// The driver of run `run` started with `input` at `now`, with its first orders; an error
    /// (for people) when the workflow does not parse or uses what Temporal runs cannot do.
    pub fn start(input: RunInput, run: &str, now: Now) -> Result<(Driver, Vec<Order>), String> {
        let wf = Arc::new(parse(&input)?);
        let run = RunId(run.to_string());
        let record = RunRecord {
            id: run.clone(),
            workflow: wf.name.clone(),
            workflow_path: input.path.clone(),
            source: String::new(),
            params: input.params.clone(),
            workdir: input.workdir.clone(),
            state: RunState::Pending,
            created_at: now.wall,
            started_at: Some(now.wall),
            finished_at: None,
            owner: None,
            reason: None,
            steps_total: wf.steps.len() as u32,
            steps_done: 0,
            stopped: Default::default(),
            parent: input.parent.clone(),
        };
        // No secrets here: they never enter the history; each worker adds its own.
        let ctx = RunContext::new(&wf, &record, &RunSecrets::default());
        let concurrency = wf.concurrency.unwrap_or(RUN_CONCURRENCY);
        let stored = StepTable::default();
        let (machine, effects) =
            RunMachine::restore(wf.clone(), run.clone(), stored, ctx, concurrency, now);
        let view = RunView {
            detail: RunDetail {
                steps: machine.records().to_vec(),
                approvals: Vec::new(),
                run: record,
            },
            outputs: IndexMap::new(),
            freeze: Freeze::Running,
            log_base: IndexMap::new(),
        };
        let mut d = Driver {
            wf,
            input,
            run,
            machine,
            when: Templates::new(),
            view,
            logs: Vec::new(),
            phases: HashMap::new(),
            gates: HashMap::new(),
            contexts: HashMap::new(),
            items: HashMap::new(),
            pending: VecDeque::new(),
            orders: Vec::new(),
            end: None,
            ending: None,
            conversations: HashMap::new(),
            tool_decisions: HashMap::new(),
            tools: HashMap::new(),
        };
        d.perform(effects, now);
        d.pending.push_back(Input::Begin);
        d.settle(now);
        let orders = std::mem::take(&mut d.orders);
        Ok((d, orders))
    }

    /// What queries answer.
    pub fn view(&self) -> &RunView {
        &self.view
    }

    /// The logs of the steps that ended (and the engine's own lines), oldest first.
    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }

    /// How the run ended, once it has.
    pub fn end(&self) -> Option<&RunEnd> {
        self.end.as_ref()
    }

    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    /// The activity of step `idx` (of its item `item`) ended with `done`; `unit` is a random
    /// draw in [0, 1) for the retry's jitter.
    pub fn step_done(
        &mut self,
        (idx, item): (usize, Option<usize>),
        done: StepDone,
        now: Now,
        unit: f64,
    ) -> Vec<Order> {
        if let Some(item) = item {
            self.item_done(idx, item, done, now, unit);
            self.settle(now);
            return std::mem::take(&mut self.orders);
        }
        let phase = self.phases.get(&idx).cloned();
        self.keep_log((idx, None), &done);
        match phase {
            Some(Phase::Preparing) => self.prepared(idx, done, now),
            Some(Phase::Running(n)) => self.attempt_ended(idx, n, done, now, unit),
            Some(Phase::Expanding) => self.expanded(idx, done),
            Some(Phase::Calling(n)) => self.called(idx, n, done, now, unit),
            _ => {}
        }
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// The child run of `workflow:` step `idx` ended: with its end, or why it did not
    /// succeed (as the server said).
    pub fn child_done(
        &mut self,
        idx: usize,
        result: Result<RunEnd, String>,
        now: Now,
        unit: f64,
    ) -> Vec<Order> {
        if let Some(Phase::Child(n, id)) = self.phases.get(&idx).cloned() {
            let done = child_result(&id, result);
            self.attempt_ended(idx, n, done, now, unit);
        }
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// This child run's `outputs:` came back from a worker (or why they did not): it ends.
    pub fn outputs_done(&mut self, done: StepDone) {
        let Some(mut end) = self.ending.take() else {
            return;
        };
        match done.output {
            Some(output) => end.outputs = Some(output.output),
            None => end.outputs_error = Some(done.error.unwrap_or_else(|| "failed".into())),
        }
        self.end = Some(end);
    }

    /// A worker journaled a turn or call of agent step `step` (already masked).
    pub fn agent_entry(&mut self, step: String, entry: crate::store::AgentEntry) {
        self.conversations.entry(step).or_default().push(entry);
    }

    /// Agent step `step`'s conversation so far.
    pub fn conversation(&self, step: &str) -> Vec<crate::store::AgentEntry> {
        self.conversations.get(step).cloned().unwrap_or_default()
    }

    /// The decision on ask `ask` of agent step `step`, once an operator made it.
    pub fn tool_decision(&self, step: &str, ask: &str) -> Option<Decision> {
        (self.tool_decisions)
            .get(&(step.to_string(), ask.to_string()))
            .cloned()
    }

    /// A worker asks about an agent's tool call: the step's gate opens with the call.
    pub fn tool_asked(&mut self, ask: ToolAsk, now: Now) -> Vec<Order> {
        let idx = self.wf.steps.iter().position(|s| s.id.0 == ask.step);
        // The same ask heard twice (a signal sent again) is decided once.
        let decided = (self.tool_decisions).contains_key(&(ask.step.clone(), ask.ask.clone()));
        if let Some(idx) = idx.filter(|_| !decided)
            && let Some(Phase::Running(n)) = self.phases.get(&idx).cloned()
        {
            self.gates.insert(
                idx,
                GateText {
                    prompt: ask.prompt,
                    action: Some(ask.action),
                    inputs: [(ARGUMENTS_INPUT.to_string(), ask.arguments)]
                        .into_iter()
                        .collect(),
                    timeout_ms: None,
                },
            );
            self.tools.insert(idx, ask.tool);
            self.phases.insert(idx, Phase::ToolGate(n, ask.ask));
            let on_timeout = OnTimeout::Reject;
            self.pending
                .push_back(Input::GateOpened { idx, on_timeout });
        }
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// A wake the driver asked for.
    pub fn woke(&mut self, wake: Wake, now: Now) -> Vec<Order> {
        match wake {
            Wake::Retry { idx, attempt } => {
                if self.phases.get(&idx) == Some(&Phase::Backoff(attempt)) {
                    self.run_attempt(idx, attempt);
                }
            }
            Wake::RetryItem { idx, item, attempt } => {
                let due = Phase::Backoff(attempt);
                if self.items.get(&(idx, item)).is_some_and(|(p, _)| *p == due) {
                    self.run_item(idx, item, attempt);
                }
            }
            Wake::GateTimeout { idx, requested_at } => {
                self.pending
                    .push_back(Input::GateTimeout { idx, requested_at });
            }
        }
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// An operator paused the run.
    pub fn pause(&mut self, now: Now) -> Vec<Order> {
        self.pending.push_back(Input::Pause);
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// An operator resumed it.
    pub fn resume(&mut self, now: Now) -> Vec<Order> {
        self.pending.push_back(Input::Resume);
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// An operator cancelled it (the workflow's cancellation).
    pub fn cancel(&mut self, now: Now) -> Vec<Order> {
        self.pending.push_back(Input::Cancel);
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// Whether `step` has a gate waiting for a decision: what an Update is checked against.
    pub fn check_decision(&self, step: &str, by: &str) -> Result<usize, String> {
        let idx = self
            .wf
            .steps
            .iter()
            .position(|s| s.id.0 == step)
            .ok_or_else(|| format!("run {} has no step `{step}`", self.run))?;
        let gated = matches!(
            self.phases.get(&idx),
            Some(Phase::Gate | Phase::ToolGate(..))
        );
        if !gated || self.machine.gate_since(idx).is_none() {
            return Err(format!(
                "step `{step}` of run {} is not waiting for a decision",
                self.run
            ));
        }
        let approvers = &self.wf.steps[idx].approvers;
        let login = by.split_whitespace().next().unwrap_or(by);
        if !approvers.is_empty() && !approvers.iter().any(|a| a == login) {
            return Err(format!(
                "{login} may not decide step `{step}`: its approvers are {}",
                approvers.join(", ")
            ));
        }
        Ok(idx)
    }

    /// An operator's decision on `step`'s gate (checked with [`Driver::check_decision`]).
    pub fn decide(&mut self, step: &str, mut decision: Decision, now: Now) -> Vec<Order> {
        if let Ok(idx) = self.check_decision(step, &decision.by) {
            // The gate's inputs, each as the decision gave it or as the gate showed it (an
            // approval step's output), as a local run has them.
            if let Some(gate) = self.gates.get(&idx) {
                decision.inputs = (gate.inputs.iter())
                    .map(|(k, v)| {
                        let given = decision.inputs.get(k).cloned();
                        (k.clone(), given.unwrap_or_else(|| v.clone()))
                    })
                    .collect();
            }
            self.pending.push_back(Input::Decide { idx, decision });
        }
        self.settle(now);
        std::mem::take(&mut self.orders)
    }

    /// Applies pending inputs until none is left, then finishes the run when it is over.
    fn settle(&mut self, now: Now) {
        loop {
            while let Some(input) = self.pending.pop_front() {
                let effects = self.machine.apply(input, now, &self.when);
                self.perform(effects, now);
            }
            if self.end.is_none() && self.machine.is_over() {
                self.pending.push_back(Input::Finish);
                continue;
            }
            return;
        }
    }

    fn perform(&mut self, effects: Vec<Effect>, now: Now) {
        for effect in effects {
            self.perform_one(effect, now);
        }
    }

    fn perform_one(&mut self, effect: Effect, now: Now) {
        match effect {
            Effect::Step(rec) => {
                let i = rec.index as usize;
                if let Some(slot) = self.view.detail.steps.get_mut(i) {
                    *slot = *rec;
                }
            }
            Effect::Output(step, output) => {
                self.view.outputs.insert(step.0, output);
            }
            Effect::Run {
                state,
                reason,
                steps_done,
            } => {
                let run = &mut self.view.detail.run;
                run.state = state;
                run.reason = reason;
                run.steps_done = steps_done;
                if state.is_terminal() {
                    run.finished_at = Some(now.wall);
                }
            }
            Effect::Start { idx, ctx, .. } => {
                self.contexts.insert(idx, ctx);
                self.start_step(idx);
            }
            Effect::Signal(signal) => self.signal(signal),
            Effect::GateOpened { idx, requested_at } => self.gate_opened(idx, requested_at),
            Effect::GateDecided { idx, decision } => self.gate_decided(idx, decision),
            Effect::Log { idx, text } => self.system_line(idx, text, now),
            Effect::Ended(state) => {
                let run = &self.view.detail.run;
                let end = RunEnd {
                    state,
                    reason: run.reason.clone(),
                    steps_done: run.steps_done,
                    steps_total: run.steps_total,
                    finished_at: now.wall,
                    outputs: None,
                    outputs_error: None,
                };
                let child = self.input.parent.is_some();
                if state == RunState::Succeeded && child && !self.wf.outputs.is_empty() {
                    // A child's `outputs:` are its step's output: rendered on a worker first.
                    self.ending = Some(end);
                    let task = Box::new(self.outputs_task());
                    let queue = self.input.queue.clone();
                    self.orders.push(Order::Outputs { task, queue });
                } else {
                    self.end = Some(end);
                }
            }
            Effect::Expand { idx, ctx } => {
                self.contexts.insert(idx, ctx);
                self.phases.insert(idx, Phase::Expanding);
                let mut task = self.task(idx, 1);
                task.expand_only = true;
                self.send_task(idx, task);
            }
            Effect::StartItem {
                idx,
                item,
                value,
                ctx,
                ..
            } => {
                self.contexts.insert(idx, ctx);
                self.items.insert((idx, item), (Phase::Running(1), value));
                self.run_item(idx, item, 1);
            }
            Effect::CancelItems(idx) => self.cancel_items(idx),
            Effect::ItemOver { idx, item } => {
                self.items.remove(&(idx, item));
            }
            // Nothing to do on Temporal: no process of a previous owner is left (the server
            // re-delivers a lost worker's activity).
            Effect::Durable
            | Effect::StepOver(_)
            | Effect::StopLeftover { .. }
            | Effect::StopRemoteLeftover { .. } => {}
        }
    }

    /// A started step asks first when it is gated; else its first attempt runs.
    fn start_step(&mut self, idx: usize) {
        let step = &self.wf.steps[idx];
        if step.approve || matches!(step.kind, StepKind::Approval(_)) {
            self.phases.insert(idx, Phase::Preparing);
            let mut task = self.task(idx, 1);
            task.prepare_only = true;
            self.send_task(idx, task);
        } else {
            self.run_attempt(idx, 1);
        }
    }

    fn run_attempt(&mut self, idx: usize, n: u32) {
        let calls = matches!(self.wf.steps[idx].kind, StepKind::Workflow(_));
        let phase = if calls {
            Phase::Calling(n)
        } else {
            Phase::Running(n)
        };
        self.phases.insert(idx, phase);
        self.pending.push_back(Input::Attempt { idx, n });
        let mut task = self.task(idx, n);
        task.call_only = calls;
        self.send_task(idx, task);
    }

    /// Step `idx`'s `task` goes to a worker of the step's queue.
    fn send_task(&mut self, idx: usize, task: StepTask) {
        let queue = self.queue(idx);
        self.orders.push(Order::Run {
            idx,
            item: None,
            task: Box::new(task),
            queue,
        });
    }

    /// Attempt `n` of item `item` of step `idx` goes to a worker.
    fn run_item(&mut self, idx: usize, item: usize, n: u32) {
        let Some((phase, value)) = self.items.get_mut(&(idx, item)) else {
            return;
        };
        *phase = Phase::Running(n);
        let value = value.clone();
        let mut task = self.task(idx, n);
        task.item = Some((item, value));
        let report = ItemReport::Attempt(n);
        self.pending.push_back(Input::Item { idx, item, report });
        let queue = self.queue(idx);
        self.orders.push(Order::Run {
            idx,
            item: Some(item),
            task: Box::new(task),
            queue,
        });
    }

    /// A `workflow:` step's file came back from a worker: its child run starts, as a child
    /// workflow `PARENT.STEP` on the runs' queue.
    fn called(&mut self, idx: usize, n: u32, done: StepDone, now: Now, unit: f64) {
        let Some(call) = done.call.clone() else {
            return self.attempt_ended(idx, n, done, now, unit);
        };
        let step = self.wf.steps[idx].id.clone();
        let id = format!("{}.{step}", self.run);
        let depth = id.matches('.').count();
        if depth >= crate::spec::calls::MAX_DEPTH {
            let why = format!(
                "sub-workflows nest deeper than {} levels; does a workflow call itself through \
                 a templated `workflow:` path?",
                crate::spec::calls::MAX_DEPTH
            );
            let end = failed(&done, why);
            self.phases.remove(&idx);
            self.pending.push_back(Input::Done { idx, end });
            return;
        }
        let input = RunInput {
            source: call.source,
            path: Some(call.path),
            params: call.params,
            workdir: self.input.workdir.clone(),
            queue: self.input.queue.clone(),
            log_limit: self.input.log_limit,
            grace_ms: self.input.grace_ms,
            parent: Some(ParentLink {
                run: self.run.clone(),
                step,
            }),
        };
        let run = RunId(id.clone());
        self.pending.push_back(Input::ChildRun { idx, run });
        self.phases.insert(idx, Phase::Child(n, id.clone()));
        let input = Box::new(input);
        self.orders.push(Order::Child { idx, id, input });
    }

    /// The task that renders this run's `outputs:` over every step's result.
    fn outputs_task(&self) -> StepTask {
        let record = &self.view.detail.run;
        let mut ctx =
            (*RunContext::new(&self.wf, record, &RunSecrets::default()).value(None)).clone();
        let steps: serde_json::Map<String, serde_json::Value> = (self.view.detail.steps.iter())
            .map(|r| {
                let output = self.view.outputs.get(r.step.as_str());
                (r.step.0.clone(), step_entry(r, output))
            })
            .collect();
        if let serde_json::Value::Object(root) = &mut ctx {
            root.insert("steps".into(), serde_json::Value::Object(steps));
        }
        let mut task = self.task(0, 1);
        task.ctx = ctx;
        task.outputs_only = true;
        task
    }

    /// A fan-out's list came back from a worker (or why there is none).
    fn expanded(&mut self, idx: usize, done: StepDone) {
        self.phases.remove(&idx);
        if done.cancelled {
            let end = cancelled();
            self.pending.push_back(Input::Done { idx, end });
            return;
        }
        let items = done
            .items
            .ok_or_else(|| done.error.unwrap_or_else(|| "no list came back".into()));
        self.pending.push_back(Input::Items { idx, items });
    }

    /// An item's attempt ended: it succeeded, is tried again after its backoff (the step's
    /// retry policy, as a local item), or failed.
    fn item_done(&mut self, idx: usize, item: usize, done: StepDone, now: Now, unit: f64) {
        self.keep_log((idx, Some(item)), &done);
        let Some(Phase::Running(n)) = self.items.get(&(idx, item)).map(|(p, _)| p.clone()) else {
            return;
        };
        let report = match self.after_attempt(idx, n, done, now, unit) {
            Attempted::Ended(end) => ItemReport::Done(end),
            Attempted::Retry {
                next,
                delay,
                at,
                error,
                exit_code,
            } => {
                if let Some((phase, _)) = self.items.get_mut(&(idx, item)) {
                    *phase = Phase::Backoff(next);
                }
                let wake = Wake::RetryItem {
                    idx,
                    item,
                    attempt: next,
                };
                self.orders.push(Order::Sleep { wake, after: delay });
                ItemReport::Retrying {
                    at,
                    error,
                    exit_code,
                }
            }
        };
        self.pending.push_back(Input::Item { idx, item, report });
    }

    /// Step `idx`'s running items are cancelled, and those waiting out a backoff end now.
    fn cancel_items(&mut self, idx: usize) {
        self.orders.push(Order::CancelItems(idx));
        self.end_waiting_items(Some(idx));
    }

    /// Items waiting out a backoff (of step `idx`, or all) have no activity to cancel: they end
    /// cancelled now.
    fn end_waiting_items(&mut self, of: Option<usize>) {
        let waiting: Vec<(usize, usize)> = self
            .items
            .iter()
            .filter(|((i, _), (p, _))| of.is_none_or(|o| o == *i) && matches!(p, Phase::Backoff(_)))
            .map(|(k, _)| *k)
            .collect();
        for (idx, item) in sorted(waiting) {
            self.items.remove(&(idx, item));
            let report = ItemReport::Done(Box::new(cancelled()));
            self.pending.push_back(Input::Item { idx, item, report });
        }
    }

    fn task(&self, idx: usize, attempt: u32) -> StepTask {
        let ctx = self
            .contexts
            .get(&idx)
            .map_or_else(|| json!({ "steps": {} }), |c| c.as_ref().clone());
        StepTask {
            run: self.run.0.clone(),
            source: self.input.source.clone(),
            path: self.input.path.clone(),
            workdir: self.input.workdir.clone(),
            idx,
            attempt,
            ctx,
            prepare_only: false,
            expand_only: false,
            item: None,
            call_only: false,
            outputs_only: false,
            log_limit: self.input.log_limit,
            grace_ms: self.input.grace_ms,
        }
    }

    fn queue(&self, idx: usize) -> String {
        self.wf.steps[idx]
            .queue
            .clone()
            .unwrap_or_else(|| self.input.queue.clone())
    }

    fn signal(&mut self, signal: Signal) {
        match signal {
            Signal::Pause | Signal::Resume => {
                let pause = signal == Signal::Pause;
                self.view.freeze = if pause {
                    Freeze::Paused
                } else {
                    Freeze::Running
                };
                // Child runs pause and resume with their parent.
                let children: Vec<(usize, String)> = (self.phases.iter())
                    .filter_map(|(i, p)| match p {
                        Phase::Child(_, id) => Some((*i, id.clone())),
                        _ => None,
                    })
                    .collect();
                for (_, id) in sorted(children) {
                    self.orders.push(Order::FreezeChild { id, pause });
                }
            }
            Signal::Stop { .. } => {
                self.view.freeze = Freeze::Running;
                self.orders.push(Order::CancelSteps);
                // Steps that wait (a gate, a backoff) have no activity to cancel: they end now.
                let waiting: Vec<usize> = self
                    .phases
                    .iter()
                    .filter(|(_, p)| matches!(p, Phase::Gate | Phase::Backoff(_)))
                    .map(|(i, _)| *i)
                    .collect();
                for idx in sorted(waiting) {
                    self.phases.remove(&idx);
                    self.pending.push_back(Input::Done {
                        idx,
                        end: cancelled(),
                    });
                }
                self.end_waiting_items(None);
            }
        }
    }

    /// A gated step's text came back from a worker: open its gate.
    fn prepared(&mut self, idx: usize, done: StepDone, now: Now) {
        let Some(gate) = done.gate.clone() else {
            self.phases.remove(&idx);
            let end = failed(&done, done.error.clone().unwrap_or_default());
            self.pending.push_back(Input::Done { idx, end });
            return;
        };
        let on_timeout = match &self.wf.steps[idx].kind {
            StepKind::Approval(a) => a.on_timeout,
            _ => OnTimeout::Reject,
        };
        self.phases.insert(idx, Phase::Gate);
        self.gates.insert(idx, gate);
        let _ = now;
        self.pending
            .push_back(Input::GateOpened { idx, on_timeout });
    }

    fn gate_opened(&mut self, idx: usize, requested_at: Timestamp) {
        let Some(gate) = self.gates.get(&idx) else {
            return;
        };
        let deadline = gate
            .timeout_ms
            .map(|ms| Timestamp(requested_at.0.saturating_add(ms)));
        if let Some(ms) = gate.timeout_ms {
            self.orders.push(Order::Sleep {
                wake: Wake::GateTimeout { idx, requested_at },
                after: Duration::from_millis(ms),
            });
        }
        let step = &self.wf.steps[idx];
        self.view.detail.approvals.push(ApprovalRecord {
            run: self.run.clone(),
            step: step.id.clone(),
            prompt: gate.prompt.clone(),
            action: gate.action.clone(),
            inputs: gate.inputs.clone(),
            requested_at,
            deadline,
            decision: None,
            approvers: step.approvers.clone(),
            tool: self.tools.get(&idx).cloned(),
        });
    }

    fn gate_decided(&mut self, idx: usize, decision: Decision) {
        let step_id = self.wf.steps[idx].id.clone();
        if let Some(Phase::ToolGate(n, ask)) = self.phases.get(&idx).cloned() {
            // An agent's call: the asking worker reads the decision; the step goes on.
            if let Some(a) = (self.view.detail.approvals.iter_mut().rev())
                .find(|a| a.step == step_id && a.decision.is_none())
            {
                a.decision = Some(decision.clone());
            }
            self.tools.remove(&idx);
            self.phases.insert(idx, Phase::Running(n));
            self.tool_decisions.insert((step_id.0, ask), decision);
            return;
        }
        if let Some(a) = self
            .view
            .detail
            .approvals
            .iter_mut()
            .rev()
            .find(|a| a.step == step_id && a.decision.is_none())
        {
            a.decision = Some(decision.clone());
        }
        if !decision.approved {
            self.phases.remove(&idx);
            let why = match &decision.comment {
                Some(c) if !c.is_empty() => format!("rejected by {}: {c}", decision.by),
                _ => format!("rejected by {}", decision.by),
            };
            let end = StepEnd::Failed {
                error: why,
                exit_code: None,
                cancelled: false,
                output: None,
            };
            self.pending.push_back(Input::Done { idx, end });
            return;
        }
        if matches!(self.wf.steps[idx].kind, StepKind::Approval(_)) {
            self.phases.remove(&idx);
            let output = StepOutput {
                output: json!(decision.inputs),
                ..StepOutput::default()
            };
            let end = StepEnd::Succeeded {
                output,
                exit_code: None,
                cached: false,
                metrics: Default::default(),
            };
            self.pending.push_back(Input::Done { idx, end });
        } else {
            self.run_attempt(idx, 1);
        }
    }

    fn attempt_ended(&mut self, idx: usize, n: u32, done: StepDone, now: Now, unit: f64) {
        match self.after_attempt(idx, n, done, now, unit) {
            Attempted::Ended(end) => {
                self.phases.remove(&idx);
                let end = *end;
                self.pending.push_back(Input::Done { idx, end });
            }
            Attempted::Retry {
                next,
                delay,
                at,
                error,
                exit_code,
            } => {
                self.phases.insert(idx, Phase::Backoff(next));
                self.pending.push_back(Input::Retrying {
                    idx,
                    at,
                    error,
                    exit_code,
                });
                let wake = Wake::Retry { idx, attempt: next };
                self.orders.push(Order::Sleep { wake, after: delay });
            }
        }
    }

    /// What follows attempt `n` of step `idx` (or of one of its items): its end, or another
    /// attempt after a backoff, by the step's retry policy.
    fn after_attempt(&self, idx: usize, n: u32, done: StepDone, now: Now, unit: f64) -> Attempted {
        if let Some(output) = done.output {
            return Attempted::Ended(Box::new(StepEnd::Succeeded {
                output,
                exit_code: done.exit_code,
                cached: false,
                metrics: done.metrics.unwrap_or_default(),
            }));
        }
        let error = done.error.clone().unwrap_or_else(|| "failed".into());
        let policy = self.wf.effective_retry(&self.wf.steps[idx]);
        let facts = AttemptFailure {
            attempt: n,
            exit_code: done.exit_code,
            retryable: done.retryable,
            cancelled: done.cancelled,
        };
        match after_failure(&policy, facts, now.wall, unit) {
            AfterFailure::Retry { next, delay, at } => Attempted::Retry {
                next,
                delay,
                at,
                error,
                exit_code: done.exit_code,
            },
            AfterFailure::GiveUp => Attempted::Ended(Box::new(failed(&done, error))),
        }
    }

    /// Keeps the lines an activity reported. Each step and each item numbers its lines in a
    /// block of its own ([`log_seq`]), attempt after attempt, so a reader that has printed a
    /// running step's tail (numbered alike from the heartbeats and `RunView::log_base`) goes on
    /// where it stopped.
    fn keep_log(&mut self, (idx, item): (usize, Option<usize>), done: &StepDone) {
        let mut step = self.wf.steps[idx].id.clone();
        if let Some(item) = item {
            step = item_key(&step, item);
        }
        let base = self.view.log_base.get(&step.0).copied().unwrap_or(0);
        let mut top = base;
        for line in &done.log {
            top = top.max(base + line.seq);
            self.logs.push(LogLine {
                seq: log_seq((idx, item), base + line.seq),
                step: step.clone(),
                ..line.clone()
            });
        }
        if !done.worker.is_empty() {
            top += 1;
            self.logs.push(LogLine {
                seq: log_seq((idx, item), top),
                ts: done.log.last().map_or(Timestamp(0), |l| l.ts),
                step: step.clone(),
                stream: LogStream::System,
                text: format!("ran on worker {}", done.worker),
            });
        }
        self.view.log_base.insert(step.0, top);
    }

    fn system_line(&mut self, idx: usize, text: String, now: Now) {
        let step = self.wf.steps[idx].id.clone();
        let top = self.view.log_base.get(&step.0).copied().unwrap_or(0) + 1;
        self.logs.push(LogLine {
            seq: log_seq((idx, None), top),
            ts: now.wall,
            step: step.clone(),
            stream: LogStream::System,
            text,
        });
        self.view.log_base.insert(step.0, top);
    }
}

/// The sequence number of the `n`-th line of step `idx` (or of its item `item`): each step
/// has a block of its own, and each item one after every step's (an item's block holds 2^24
/// lines, a fan-out 2^20 items).
pub fn log_seq((idx, item): (usize, Option<usize>), n: u64) -> u64 {
    match item {
        None => ((idx as u64 + 1) << 32) | (n & 0xFFFF_FFFF),
        Some(item) => {
            (1 << 63)
                | ((idx as u64 & 0x7_FFFF) << 44)
                | ((item as u64 & 0xF_FFFF) << 24)
                | (n & 0xFF_FFFF)
        }
    }
}

/// A child run's end as its `workflow:` step's attempt: its `outputs:` (an object, empty
/// when it declares none), or why it did not succeed.
fn child_result(id: &str, result: Result<RunEnd, String>) -> StepDone {
    let mut done = StepDone {
        output: None,
        error: None,
        exit_code: None,
        retryable: false,
        cancelled: false,
        log: Vec::new(),
        worker: String::new(),
        gate: None,
        items: None,
        call: None,
        metrics: None,
    };
    match result {
        Ok(end) if end.state == RunState::Succeeded => match end.outputs_error {
            Some(why) => done.error = Some(format!("child run {id}: {why}")),
            None => {
                let output = end.outputs.unwrap_or_else(|| json!({}));
                done.output = Some(StepOutput {
                    output,
                    ..StepOutput::default()
                });
            }
        },
        Ok(end) => {
            let why = end.reason.map(|r| format!(": {r}")).unwrap_or_default();
            done.error = Some(format!("child run {id} {}{why}", end.state.as_str()));
            done.retryable = true;
        }
        Err(why) if why == "cancelled" => {
            done.error = Some(format!("child run {id} cancelled"));
            done.cancelled = true;
        }
        Err(why) => {
            done.error = Some(format!("child run {id} {why} (`baton show {id}`)"));
            done.retryable = true;
        }
    }
    done
}

/// What follows an attempt.
enum Attempted {
    /// The step (or item) ended so.
    Ended(Box<StepEnd>),
    /// Attempt `next` runs after `delay` (at `at`); this one failed with `error`.
    Retry {
        next: u32,
        delay: Duration,
        at: Timestamp,
        error: String,
        exit_code: Option<i32>,
    },
}

/// The workflow of `input`, or why it cannot run on Temporal (checked by the CLI before it
/// starts a run, and by the workflow itself).
pub fn parse(input: &RunInput) -> Result<Workflow, String> {
    let origin = PathBuf::from(input.path.as_deref().unwrap_or("workflow.yaml"));
    let wf = crate::spec::parse_str(&input.source, &origin).map_err(|d| d.to_string())?;
    let unsupported = wf.steps.iter().find_map(|s| {
        let what = if s.cache.is_some() {
            "`cache`"
        } else if s.for_each.is_some() && matches!(s.kind, StepKind::Workflow(_)) {
            "`workflow:` with `for_each`"
        } else if s.for_each.is_some() && matches!(s.kind, StepKind::Agent(_)) {
            "`agent:` with `for_each`"
        } else if s.lock.is_some() {
            "`lock`"
        } else if s.rate_limit.is_some() {
            "`rate_limit`"
        } else {
            return None;
        };
        Some(format!(
            "step `{}` uses {what}, which runs on the local engine only: run it without \
             `--temporal`",
            s.id
        ))
    });
    match unsupported {
        Some(why) => Err(why),
        None => Ok(wf),
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v
}

fn cancelled() -> StepEnd {
    StepEnd::Failed {
        error: "cancelled".into(),
        exit_code: None,
        cancelled: true,
        output: None,
    }
}

fn failed(done: &StepDone, error: String) -> StepEnd {
    StepEnd::Failed {
        error,
        exit_code: done.exit_code,
        cancelled: done.cancelled,
        output: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(source: &str) -> RunInput {
        RunInput {
            source: source.into(),
            path: Some("w.yaml".into()),
            params: Default::default(),
            workdir: None,
            queue: "baton".into(),
            log_limit: 65_536,
            grace_ms: 1_000,
            parent: None,
        }
    }

    #[test]
    fn a_workflow_with_a_step_only_the_local_engine_runs_is_refused_naming_the_step() {
        let cases = [
            ("  - id: ask\n    run: 'true'\n    lock: deploy\n", "`lock`"),
            (
                "  - id: ask\n    run: 'true'\n    cache: { ttl: 1h }\n",
                "`cache`",
            ),
            (
                "  - id: ask\n    workflow: other.yaml\n    for_each: [1, 2]\n",
                "`workflow:` with `for_each`",
            ),
        ];
        for (step, what) in cases {
            let source = format!("name: w\nsteps:\n  - id: first\n    run: 'true'\n{step}");
            let err = parse(&input(&source)).unwrap_err();
            assert!(
                err.contains("step `ask`") && err.contains(what) && err.contains("--temporal"),
                "{err}"
            );
        }
        assert!(parse(&input("name: w\nsteps:\n  - id: a\n    run: 'true'\n")).is_ok());
    }

    fn at(ms: u64) -> Now {
        Now {
            wall: Timestamp(1_000_000 + ms),
            mono: Duration::from_millis(ms),
        }
    }

    fn done(output: Option<&str>, error: Option<&str>) -> StepDone {
        StepDone {
            output: output.map(|o| StepOutput {
                output: serde_json::Value::String(o.into()),
                ..StepOutput::default()
            }),
            error: error.map(String::from),
            exit_code: error.map(|_| 1),
            retryable: error.is_some(),
            cancelled: false,
            log: Vec::new(),
            worker: "1@test".into(),
            gate: None,
            items: None,
            call: None,
            metrics: None,
        }
    }

    /// The (step, item) of each activity an order starts, and the items of cancel orders.
    fn runs(orders: &[Order]) -> Vec<(usize, Option<usize>)> {
        (orders.iter())
            .filter_map(|o| match o {
                Order::Run { idx, item, .. } => Some((*idx, *item)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_fan_out_asks_a_worker_for_its_list_runs_its_items_in_turn_and_fail_fast_cancels_the_rest()
    {
        let source = "name: w\nparams: { hosts: { default: [a, b, c, d] } }\nsteps:\n  - id: fan\n    for_each: '{{ params.hosts }}'\n    max_parallel: 2\n    run: echo {{ item }}\n";
        let (mut d, orders) = Driver::start(input(source), "t1", at(0)).unwrap();
        let [
            Order::Run {
                idx: 0,
                item: None,
                task,
                ..
            },
        ] = orders.as_slice()
        else {
            panic!("{orders:?}");
        };
        assert!(task.expand_only && task.item.is_none(), "{task:?}");
        let mut listed = done(None, None);
        listed.items = Some(vec![json!("a"), json!("b"), json!("c"), json!("d")]);
        let orders = d.step_done((0, None), listed, at(1), 0.5);
        assert_eq!(
            runs(&orders),
            [(0, Some(0)), (0, Some(1))],
            "max_parallel: 2"
        );
        let Order::Run { task, .. } = &orders[1] else {
            unreachable!()
        };
        assert_eq!(task.item, Some((1, json!("b"))));
        // Item 0 succeeds: item 2 starts in its place.
        let orders = d.step_done((0, Some(0)), done(Some("A"), None), at(2), 0.5);
        assert_eq!(runs(&orders), [(0, Some(2))]);
        // Item 1 fails (no retry): the running item 2 is cancelled, item 3 never starts.
        let orders = d.step_done((0, Some(1)), done(None, Some("boom")), at(3), 0.5);
        assert_eq!(orders, [Order::CancelItems(0)]);
        let mut stopped = done(None, Some("cancelled"));
        stopped.cancelled = true;
        let orders = d.step_done((0, Some(2)), stopped, at(4), 0.5);
        assert!(runs(&orders).is_empty(), "{orders:?}");
        let end = d.end().expect("the run ended");
        assert_eq!(end.state, RunState::Failed, "{end:?}");
        let items: Vec<_> = (d.view().detail.steps[0].items.iter())
            .map(|i| i.status.as_str())
            .collect();
        assert_eq!(items, ["succeeded", "failed", "cancelled", "cancelled"]);
        assert!(
            d.logs()
                .iter()
                .any(|l| l.step.0 == "fan[1]" && l.seq >> 63 == 1),
            "an item's lines are kept under its key, in the items' block: {:?}",
            d.logs()
        );
    }

    #[test]
    fn a_workflow_step_reads_its_file_on_a_worker_then_runs_a_child_whose_outputs_it_takes() {
        let source = "name: w\nsteps:\n  - id: sub\n    workflow: child.yaml\n  - id: after\n    depends_on: [sub]\n    run: echo {{ steps.sub.output.greeting }}\n";
        let (mut d, orders) = Driver::start(input(source), "t1", at(0)).unwrap();
        let [Order::Run { idx: 0, task, .. }] = orders.as_slice() else {
            panic!("{orders:?}");
        };
        assert!(task.call_only, "{task:?}");
        let mut read = done(None, None);
        read.call = Some(super::super::wire::ChildCall {
            source: "name: c\noutputs: { greeting: hi }\nsteps:\n  - id: a\n    run: 'true'\n"
                .into(),
            path: "/w/child.yaml".into(),
            params: [("who".to_string(), json!("ann"))].into_iter().collect(),
        });
        let orders = d.step_done((0, None), read, at(1), 0.5);
        let [
            Order::Child {
                idx: 0,
                id,
                input: call,
            },
        ] = orders.as_slice()
        else {
            panic!("{orders:?}");
        };
        assert_eq!(id, "t1.sub");
        assert_eq!(call.params["who"], json!("ann"));
        let parent = call.parent.as_ref().unwrap();
        assert_eq!((parent.run.as_str(), parent.step.as_str()), ("t1", "sub"));
        assert_eq!(
            d.view().detail.steps[0].child_run,
            Some(RunId("t1.sub".into()))
        );
        // Paused meanwhile: the child is paused too.
        let orders = d.pause(at(2));
        assert_eq!(
            orders,
            [Order::FreezeChild {
                id: "t1.sub".into(),
                pause: true
            }]
        );
        d.resume(at(3));
        // The child succeeded with its outputs: they are the step's output.
        let (mut child, _) = Driver::start((**call).clone(), "t1.sub", at(4)).unwrap();
        let orders = child.step_done((0, None), done(Some("x"), None), at(5), 0.5);
        let [Order::Outputs { task, .. }] = orders.as_slice() else {
            panic!("a child renders its outputs before it ends: {orders:?}");
        };
        assert!(task.outputs_only && child.end().is_none());
        assert_eq!(task.ctx["steps"]["a"]["output"], json!("x"));
        let mut rendered = done(None, None);
        rendered.output = Some(StepOutput {
            output: json!({"greeting": "hi"}),
            ..StepOutput::default()
        });
        child.outputs_done(rendered);
        let end = child.end().cloned().unwrap();
        assert_eq!(end.outputs, Some(json!({"greeting": "hi"})));
        let orders = d.child_done(0, Ok(end), at(6), 0.5);
        assert_eq!(runs(&orders), [(1, None)]);
        assert_eq!(d.view().outputs["sub"].output, json!({"greeting": "hi"}));
        // A child that failed fails the step, saying where to look.
        let (mut d, _) = Driver::start(input(source), "t2", at(0)).unwrap();
        let mut read = done(None, None);
        read.call = Some(super::super::wire::ChildCall {
            source: "name: c\nsteps:\n  - id: a\n    run: 'false'\n".into(),
            path: "/w/child.yaml".into(),
            params: Default::default(),
        });
        d.step_done((0, None), read, at(1), 0.5);
        d.child_done(0, Err("failed: exit 1".into()), at(2), 0.5);
        let rec = &d.view().detail.steps[0];
        assert_eq!(rec.status.as_str(), "failed");
        let error = rec.error.clone().unwrap_or_default();
        assert!(error.contains("child run t2.sub failed: exit 1"), "{error}");
        assert!(error.contains("baton show t2.sub"), "{error}");
    }

    #[test]
    fn an_agent_s_call_opens_the_step_s_gate_and_its_decision_waits_for_the_asking_worker() {
        let source = "name: w\nsteps:\n  - id: look\n    agent: devops\n    prompt: hi\n    tools: [shell]\n";
        let (mut d, orders) = Driver::start(input(source), "t1", at(0)).unwrap();
        assert_eq!(
            runs(&orders),
            [(0, None)],
            "the agent runs as the step's activity"
        );
        let ask = |n: &str| ToolAsk {
            step: "look".into(),
            ask: format!("1:{n}"),
            prompt: "Allow this call?".into(),
            action: "$ df -h".into(),
            tool: "shell".into(),
            arguments: "{\"command\": \"df -h\"}".into(),
        };
        assert!(d.tool_asked(ask("0"), at(1)).is_empty());
        let gate = d.view().detail.approvals[0].clone();
        assert_eq!(gate.tool.as_deref(), Some("shell"));
        assert_eq!(gate.action.as_deref(), Some("$ df -h"));
        assert_eq!(d.view().detail.steps[0].status.as_str(), "waiting_approval");
        assert_eq!(d.tool_decision("look", "1:0"), None);
        let no = Decision {
            approved: false,
            by: "ann".into(),
            uid: Some(1000),
            at: Timestamp(1_000_002),
            comment: Some("not now".into()),
            inputs: Default::default(),
        };
        // A rejected call is the agent's to hear: the step goes on.
        assert!(d.decide("look", no.clone(), at(2)).is_empty());
        let heard = d.tool_decision("look", "1:0").unwrap();
        assert!(!heard.approved && heard.comment == no.comment);
        // The arguments as shown come with it (the worker tells an edit from them).
        assert_eq!(heard.inputs["arguments"], "{\"command\": \"df -h\"}");
        assert_eq!(d.view().detail.steps[0].status.as_str(), "running");
        assert!(d.end().is_none());
        // A second call asks again, and is decided apart.
        d.tool_asked(ask("1"), at(3));
        assert!(d.check_decision("look", "ann").is_ok());
        let yes = Decision {
            approved: true,
            ..no
        };
        d.decide("look", yes, at(4));
        assert!(d.tool_decision("look", "1:1").is_some_and(|d| d.approved));
        // The same ask heard again opens nothing.
        d.tool_asked(ask("1"), at(4));
        assert!(d.check_decision("look", "ann").is_err());
        assert!(
            d.check_decision("look", "ann").is_err(),
            "nothing waits now"
        );
        // The answer ends the step.
        d.agent_entry(
            "look".into(),
            crate::store::AgentEntry::CallStarted { id: "c1".into() },
        );
        assert_eq!(d.conversation("look").len(), 1);
        d.step_done((0, None), done(Some("fine"), None), at(5), 0.5);
        assert_eq!(d.end().map(|e| e.state), Some(RunState::Succeeded));
    }

    #[test]
    fn a_failed_item_waits_out_its_backoff_and_a_cancel_during_it_ends_it_at_once() {
        let source = "name: w\nsteps:\n  - id: fan\n    for_each: [x]\n    retry: { max_attempts: 3, initial: 5s, jitter: false }\n    run: 'false'\n";
        let (mut d, _) = Driver::start(input(source), "t1", at(0)).unwrap();
        let mut listed = done(None, None);
        listed.items = Some(vec![json!("x")]);
        d.step_done((0, None), listed, at(1), 0.5);
        let orders = d.step_done((0, Some(0)), done(None, Some("exit 1")), at(2), 0.5);
        let wake = Wake::RetryItem {
            idx: 0,
            item: 0,
            attempt: 2,
        };
        let after = Duration::from_secs(5);
        assert_eq!(orders, [Order::Sleep { wake, after }]);
        assert_eq!(
            d.view().detail.steps[0].items[0].status.as_str(),
            "retrying"
        );
        let orders = d.woke(wake, at(5_002));
        assert_eq!(runs(&orders), [(0, Some(0))]);
        let Order::Run { task, .. } = &orders[0] else {
            unreachable!()
        };
        assert_eq!(task.attempt, 2);
        d.step_done((0, Some(0)), done(None, Some("exit 1")), at(5_003), 0.5);
        // Cancelled while waiting for attempt 3: nothing runs, the item and the run end.
        let orders = d.cancel(at(5_004));
        assert!(runs(&orders).is_empty(), "{orders:?}");
        assert_eq!(d.end().map(|e| e.state), Some(RunState::Cancelled));
        assert_eq!(
            d.view().detail.steps[0].items[0].status.as_str(),
            "cancelled"
        );
        // The timer firing late changes nothing.
        let wake = Wake::RetryItem {
            idx: 0,
            item: 0,
            attempt: 3,
        };
        assert!(runs(&d.woke(wake, at(10_003))).is_empty());
    }
}
