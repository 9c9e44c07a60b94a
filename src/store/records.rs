//! What the store keeps: runs, steps, approvals, log lines and events, as plain serde records.
//!
//! These are also the shapes the engine reports in its Events and the console caches, so a
//! console rebuilt from the store and one kept current by Events hold the same data.

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Stopped;
use crate::spec::StepId;

pub use crate::ids::RunId;
pub use crate::time::Timestamp;

/// The life of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created, not yet scheduled.
    Pending,
    /// Steps are being scheduled.
    Running,
    /// Scheduling stopped and processes frozen by an operator.
    Paused,
    /// Every step succeeded, was cached, or was skipped.
    Succeeded,
    /// A step failed (without `continue_on_error`), or a gate was rejected.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
    /// Its owner process died mid-run; `baton resume` continues it.
    Interrupted,
}

impl RunState {
    /// No more transitions will happen without an operator.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }

    /// Running or paused: an owner is working on it.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunState::Pending | RunState::Running | RunState::Paused
        )
    }

    /// Lower-case name, as in files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The life of a step within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// An attempt is under way.
    Running,
    /// Waiting for the backoff delay before the next attempt.
    Retrying,
    /// Waiting for an operator's decision.
    WaitingApproval,
    /// Frozen by a pause.
    Paused,
    /// Finished well.
    Succeeded,
    /// Succeeded from the cache.
    Cached,
    /// Not run: its `when` was false or an upstream failed.
    Skipped,
    /// Finished badly.
    Failed,
    /// Stopped by a cancel.
    Cancelled,
}

impl StepStatus {
    /// Will not change again in this run (short of a retry).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Cached
                | StepStatus::Skipped
                | StepStatus::Failed
                | StepStatus::Cancelled
        )
    }

    /// Lower-case name, as in files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Retrying => "retrying",
            StepStatus::WaitingApproval => "waiting_approval",
            StepStatus::Paused => "paused",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Cached => "cached",
            StepStatus::Skipped => "skipped",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The process that owns (runs) a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// When it started (distinguishes a reused pid).
    pub started_at: Timestamp,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// The workflow's name.
    pub workflow: String,
    /// The file it was started from, if any.
    pub workflow_path: Option<String>,
    /// The workflow's source text as it was at start (a resume re-reads this, not the file).
    /// Stored once, apart from the record: filled by `Store::run`, empty in `Store::runs`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Params as given, defaults filled in.
    pub params: IndexMap<String, Value>,
    /// The directory shell steps run in (where the run was started).
    #[serde(default)]
    pub workdir: Option<String>,
    /// Current state.
    pub state: RunState,
    /// Created.
    pub created_at: Timestamp,
    /// Started (first scheduled).
    pub started_at: Option<Timestamp>,
    /// Reached a terminal state.
    pub finished_at: Option<Timestamp>,
    /// Who runs it now.
    pub owner: Option<Owner>,
    /// Why it failed, was cancelled or interrupted.
    pub reason: Option<String>,
    /// Steps in the workflow.
    pub steps_total: u32,
    /// Steps in a terminal state.
    pub steps_done: u32,
    /// Time it stood still (paused, or stopped before a resume), so its clock does not count it.
    #[serde(default, skip_serializing_if = "Stopped::is_zero")]
    pub stopped: Stopped,
    /// The `workflow:` step that started it, when it is a sub-workflow's run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
}

/// Where a child run hangs: its parent run and the `workflow:` step that started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent run.
    pub run: RunId,
    /// Its step.
    pub step: StepId,
}

/// Token and provider figures of an agent step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Provider that answered.
    pub provider: Option<String>,
    /// Model that answered.
    pub model: Option<String>,
    /// Prompt tokens.
    pub tokens_in: Option<u64>,
    /// Completion tokens.
    pub tokens_out: Option<u64>,
    /// Time to the whole answer.
    pub latency_ms: Option<u64>,
    /// What the step's model turns cost in US dollars, when every turn's price was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StepMetrics {
    /// No figure recorded (not an agent step).
    pub fn is_empty(&self) -> bool {
        *self == StepMetrics::default()
    }
}

/// A process group a step started on another host over SSH: enough to reach it again and to
/// tell it from a stranger that reused its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteProcess {
    /// The host's name, as the step's `on:` named it.
    pub host: String,
    /// The `ssh` arguments that reach it (options and destination; no secret is among them).
    pub ssh: Vec<String>,
    /// Its process group id there.
    pub pgid: u32,
    /// Its leader's start time there, in clock ticks after boot (`/proc/PID/stat` field 22);
    /// empty when the host has no `/proc`.
    #[serde(default)]
    pub started: String,
}

/// A step's state within a run, as stored (fields without a value are left out of the JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Which step.
    pub step: StepId,
    /// Its position in the workflow (records are stored and listed in this order).
    #[serde(default)]
    pub index: u32,
    /// Its DAG level (0: no dependencies).
    #[serde(default)]
    pub level: u32,
    /// Its kind's key (`run`, `http`, `agent`, ...).
    #[serde(default)]
    pub kind: String,
    /// Its display `name:`, when the workflow gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<StepId>,
    /// Current status.
    pub status: StepStatus,
    /// Attempt under way or last made (1-based; 0 before the first).
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// First attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Reached a terminal status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Time spent running (excludes time paused and waiting for approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Exit code of the last attempt of a shell step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// When the next attempt starts, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// Process group of the running shell attempt, and when it was spawned (so a later owner
    /// can stop what a crashed one left behind, and not a stranger that reused the pid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<(u32, Timestamp)>,
    /// Process group of the running attempt of a step on another host (`on:`), so a later
    /// owner can stop it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteProcess>,
    /// Time spent waiting for an operator.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub approval_wait_ms: u64,
    /// LLM figures.
    #[serde(default, skip_serializing_if = "StepMetrics::is_empty")]
    pub metrics: StepMetrics,
    /// A fanned-out step's items, in list order (empty until its list is evaluated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<super::ItemRecord>,
    /// The child run a `workflow:` step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_run: Option<RunId>,
}

impl StepRecord {
    /// A step that has not started.
    pub fn pending(step: StepId, max_attempts: u32) -> StepRecord {
        StepRecord {
            step,
            index: 0,
            level: 0,
            kind: String::new(),
            name: None,
            depends_on: Vec::new(),
            status: StepStatus::Pending,
            attempt: 0,
            max_attempts,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            exit_code: None,
            error: None,
            skip_reason: None,
            retry_at: None,
            process: None,
            remote: None,
            approval_wait_ms: 0,
            metrics: StepMetrics::default(),
            items: Vec::new(),
            child_run: None,
        }
    }

    /// Ends the step as skipped, saying why.
    pub fn mark_skipped(&mut self, reason: String) {
        self.status = StepStatus::Skipped;
        self.skip_reason = Some(reason);
        self.finished_at = Some(Timestamp::now());
    }

    /// Step `i` of `wf` before it starts: its place in the workflow and in the DAG.
    pub fn planned(wf: &crate::spec::Workflow, dag: &crate::spec::Dag, i: usize) -> StepRecord {
        PlannedStep::of(wf, dag, i).record(i)
    }
}

/// A step as planned when its run was created: what readers show of it before it starts
/// (steps that have not started have no record in the journal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// Which step.
    pub step: StepId,
    /// Its kind's key (`run`, `http`, `agent`, ...).
    pub kind: String,
    /// Its display `name:`, when the workflow gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<StepId>,
    /// Its DAG level (0: no dependencies).
    #[serde(default)]
    pub level: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
}

impl PlannedStep {
    /// Step `i` of `wf`.
    pub fn of(wf: &crate::spec::Workflow, dag: &crate::spec::Dag, i: usize) -> PlannedStep {
        let step = &wf.steps[i];
        PlannedStep {
            step: step.id.clone(),
            kind: step.kind.key().to_string(),
            name: step.name.clone(),
            depends_on: step.depends_on.clone(),
            level: dag.level_of(i).unwrap_or(0) as u32,
            max_attempts: wf.effective_retry(step).max_attempts,
        }
    }

    /// Its record before it starts, at position `index` in the workflow.
    pub fn record(&self, index: usize) -> StepRecord {
        StepRecord {
            index: index as u32,
            level: self.level,
            kind: self.kind.clone(),
            name: self.name.clone(),
            depends_on: self.depends_on.clone(),
            ..StepRecord::pending(self.step.clone(), self.max_attempts)
        }
    }
}

/// Every step of a run's workflow in workflow order, stored once with the run so that readers
/// never parse its workflow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunPlan {
    /// The steps.
    pub steps: Vec<PlannedStep>,
}

impl RunPlan {
    /// The plan of `wf`.
    pub fn of(wf: &crate::spec::Workflow) -> RunPlan {
        let dag = crate::spec::Dag::new(wf);
        RunPlan {
            steps: (0..wf.steps.len())
                .map(|i| PlannedStep::of(wf, &dag, i))
                .collect(),
        }
    }
}

/// A step's result, kept apart from its record (it can be large).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepOutput {
    /// Parsed JSON when the step produced JSON, else the text.
    pub output: Value,
    /// Captured stdout (shell steps), secrets redacted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// Captured stderr (shell steps), secrets redacted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// Named outputs (`outputs:`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, Value>,
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Process stdout, or an LLM's streamed tokens.
    Stdout,
    /// Process stderr.
    Stderr,
    /// baton's own note (retrying, fallback, ...).
    System,
}

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Per-run sequence number (gap-free, from 1).
    pub seq: u64,
    /// When it was captured.
    pub ts: Timestamp,
    /// Which step wrote it.
    pub step: StepId,
    /// Which stream.
    pub stream: LogStream,
    /// The text, without its newline, secrets redacted.
    pub text: String,
}

/// An operator's (or a policy's) decision on a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Approved or rejected.
    pub approved: bool,
    /// Who decided: the OS user's name (with how, e.g. `ann (--approve-all)`), or `timeout`.
    pub by: String,
    /// The OS uid of the user who decided (`None`: a policy such as a timeout, or a record
    /// written before uids were kept).
    #[serde(default)]
    pub uid: Option<u32>,
    /// When.
    pub at: Timestamp,
    /// Their comment.
    pub comment: Option<String>,
    /// The inputs as edited.
    pub inputs: IndexMap<String, String>,
}

impl Decision {
    /// `approved` or `rejected`.
    pub fn verb(&self) -> &'static str {
        if self.approved {
            "approved"
        } else {
            "rejected"
        }
    }

    /// `approved by ann: looks good`, for logs and histories.
    pub fn summary(&self) -> String {
        format!(
            "{} by {}{}",
            self.verb(),
            self.by,
            self.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        )
    }
}

/// A gate waiting for, or past, a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The run.
    pub run: RunId,
    /// The gated step.
    pub step: StepId,
    /// The rendered question.
    pub prompt: String,
    /// For `approve:` gates: exactly what will run (command line or request).
    pub action: Option<String>,
    /// Editable inputs with their initial values.
    pub inputs: IndexMap<String, String>,
    /// When it was asked.
    pub requested_at: Timestamp,
    /// When it times out.
    pub deadline: Option<Timestamp>,
    /// The decision, once made.
    pub decision: Option<Decision>,
    /// The OS users who may decide it (`approvers:`); empty: whoever can reach the engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// For an agent's tool call: the tool; its input `arguments` holds the call's arguments
    /// as JSON, which the operator may edit (an edit must stay a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

impl EventKind {
    /// What happened, in one line of plain text, for histories (`baton show --events`, the
    /// console's Events tab, which puts its icons in front).
    pub fn describe(&self) -> String {
        match self {
            EventKind::RunCreated { record } => format!("run created ({})", record.workflow),
            EventKind::RunState { state, reason } => format!(
                "run {state}{}",
                reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
            EventKind::Step { record } => describe_step(record),
            EventKind::ApprovalRequested { approval } => {
                format!("{} approval requested", approval.step)
            }
            EventKind::ApprovalDecided { step, decision } => {
                format!("{step} {}", decision.summary())
            }
            EventKind::Log { line } => format!("log {}: {}", line.step, line.text),
            EventKind::Partial { step, text } => format!("{step} is writing: {text}"),
            EventKind::Agent { step, entry } => format!("{step} {}", entry.describe()),
        }
    }
}

fn describe_step(record: &StepRecord) -> String {
    let status = match record.status {
        StepStatus::WaitingApproval => "awaiting approval".to_string(),
        other => other.to_string(),
    };
    let mut parts = vec![format!("{} {status}", record.step)];
    let active = matches!(
        record.status,
        StepStatus::Running | StepStatus::Paused | StepStatus::Retrying
    );
    if active && record.attempt > 0 {
        parts.push(format!(
            "attempt {}/{}",
            record.attempt, record.max_attempts
        ));
    }
    if active && let Some((pid, _)) = record.process {
        parts.push(format!("pid {pid}"));
    }
    if record.status == StepStatus::Retrying
        && let Some(at) = record.retry_at
    {
        parts.push(format!("next at {}", at.clock()));
    }
    if record.status.is_terminal() {
        if let Some(code) = record.exit_code {
            parts.push(format!("exit {code}"));
        }
        if let Some(ms) = record.duration_ms {
            parts.push(crate::spec::format_elapsed_ms(ms));
        }
    }
    let mut text = parts.join(" · ");
    let why = match record.status {
        StepStatus::Skipped => record.skip_reason.as_ref(),
        StepStatus::Failed | StepStatus::Retrying | StepStatus::Cancelled => record.error.as_ref(),
        _ => None,
    };
    if let Some(why) = why {
        text.push_str(&format!(": {why}"));
    }
    text
}

/// Something that happened to a run (the append-only history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The run.
    pub run: RunId,
    /// When.
    pub ts: Timestamp,
    /// What (its fields sit beside `run` and `ts`, tagged by `type`).
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of things that happen to a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The run was created (the record as created).
    RunCreated {
        /// The record.
        record: Box<RunRecord>,
    },
    /// The run changed state.
    RunState {
        /// New state.
        state: RunState,
        /// Why, when it says something.
        reason: Option<String>,
    },
    /// A step changed status (the whole new record).
    Step {
        /// The record.
        record: Box<StepRecord>,
    },
    /// A gate opened.
    ApprovalRequested {
        /// The request.
        approval: Box<ApprovalRecord>,
    },
    /// A gate was decided.
    ApprovalDecided {
        /// The step.
        step: StepId,
        /// The decision.
        decision: Decision,
    },
    /// An agent step's model turn, or a tool call's start or result (see `conversation.rs`).
    Agent {
        /// The step.
        step: StepId,
        /// What happened.
        entry: super::AgentEntry,
    },
    /// A log line (sent live, stored in the log tree, not the event log).
    Log {
        /// The line.
        line: LogLine,
    },
    /// What an agent step has written of its answer's current line so far (sent live as the
    /// tokens arrive, never stored; the finished line comes as a [`EventKind::Log`]).
    Partial {
        /// The step (an item's key for a fan-out item).
        step: StepId,
        /// The unfinished line, masked; empty when there is none any more.
        text: String,
    },
}
