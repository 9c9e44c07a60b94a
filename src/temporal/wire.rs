//! What crosses the Temporal server: the `baton.run` workflow's input, a step task and its
//! result, a gate's decision, and what queries answer. Every payload is recorded in the run's
//! history and read back on replay, so fields are only ever added, with `#[serde(default)]`
//! (and left out while they hold it).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::RunDetail;
use crate::store::{Decision, LogLine, StepOutput, Timestamp};

/// The workflow type of a run.
pub const WORKFLOW_TYPE: &str = "baton.run";
/// The activity type of a step.
pub const STEP_ACTIVITY: &str = "baton.step";

/// A run, as its workflow starts: the workflow text, not a path, so that any worker can run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    /// The workflow's source text.
    pub source: String,
    /// Where it came from (names it in messages; relative `env_file:` paths).
    #[serde(default)]
    pub path: Option<String>,
    /// Params given at start.
    #[serde(default)]
    pub params: IndexMap<String, Value>,
    /// Where its steps run (each worker's own directory when unset).
    #[serde(default)]
    pub workdir: Option<String>,
    /// The queue of steps without `queue:`.
    pub queue: String,
    /// Bytes of a step's log its activity reports.
    #[serde(default = "default_log_limit")]
    pub log_limit: usize,
    /// Time between SIGTERM and SIGKILL when a step is cancelled, in milliseconds.
    #[serde(default = "default_grace_ms")]
    pub grace_ms: u64,
    /// For the child run of a `workflow:` step: its parent run and step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<crate::store::ParentLink>,
}

fn default_log_limit() -> usize {
    64 << 10
}

fn default_grace_ms() -> u64 {
    5_000
}

/// Fields added later are left out while they hold their default, so a payload of a workflow
/// that does not use them is the same bytes as before they existed.
fn is_false(b: &bool) -> bool {
    !*b
}

/// What a step's activity is asked: one attempt of step `idx`, or only what its gate shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTask {
    /// The run (its workflow id).
    pub run: String,
    /// The workflow's source text (parsed again by the worker).
    pub source: String,
    /// Where it came from.
    #[serde(default)]
    pub path: Option<String>,
    /// Where its steps run.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Step index.
    pub idx: usize,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// The template context the step reads (no secrets: the worker adds its own).
    pub ctx: Value,
    /// Only render the step and say what its gate shows; run nothing.
    #[serde(default)]
    pub prepare_only: bool,
    /// Only evaluate the step's `for_each:` list and return it ([`StepDone::items`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub expand_only: bool,
    /// For one item of a fan-out: its index and value (`item_index`, `item` in templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<(usize, Value)>,
    /// Only read a `workflow:` step's file and render its params ([`StepDone::call`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub call_only: bool,
    /// Only render the workflow's `outputs:` over `ctx` (a child run's, at its end): the
    /// result's output is them, as an object.
    #[serde(default, skip_serializing_if = "is_false")]
    pub outputs_only: bool,
    /// Bytes of log reported.
    #[serde(default = "default_log_limit")]
    pub log_limit: usize,
    /// SIGTERM → SIGKILL grace, in milliseconds.
    #[serde(default = "default_grace_ms")]
    pub grace_ms: u64,
}

/// What an attempt ended with. A step that fails is a result like any other (the workflow
/// decides about retries with baton's own policy); only a lost worker makes Temporal retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDone {
    /// The output, when it succeeded (secrets redacted).
    #[serde(default)]
    pub output: Option<StepOutput>,
    /// Why it failed, when it did.
    #[serde(default)]
    pub error: Option<String>,
    /// Exit code (shell).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// A retry could help.
    #[serde(default)]
    pub retryable: bool,
    /// Stopped by a cancel.
    #[serde(default)]
    pub cancelled: bool,
    /// What it printed, cut to the run's log limit (secrets redacted).
    #[serde(default)]
    pub log: Vec<LogLine>,
    /// Which worker ran it (`pid@host`).
    #[serde(default)]
    pub worker: String,
    /// For a `prepare_only` task: what the gate shows.
    #[serde(default)]
    pub gate: Option<GateText>,
    /// For an `expand_only` task: the step's list (or `error` says why there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<Value>>,
    /// For a `call_only` task: the child run to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<ChildCall>,
    /// An agent step's provider, model, tokens and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<crate::store::StepMetrics>,
}

/// The child run of a `workflow:` step, as a worker read it: the file's text and where it
/// is, and the params rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildCall {
    /// The child workflow's source text.
    pub source: String,
    /// Its file.
    pub path: String,
    /// The params the step passes, rendered.
    #[serde(default)]
    pub params: IndexMap<String, Value>,
}

/// What a gate shows an operator, rendered by a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateText {
    /// The question.
    pub prompt: String,
    /// What will run, when the gate guards an action.
    #[serde(default)]
    pub action: Option<String>,
    /// Inputs the operator may edit (an `approval` step's).
    #[serde(default)]
    pub inputs: IndexMap<String, String>,
    /// How long it waits, in milliseconds (an `approval` step's `timeout:`).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// What a running step's heartbeat carries: the tail of its log, so any machine that reaches
/// the server can read it while it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Step index.
    pub idx: usize,
    /// Item index, for an item of a fan-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Which worker runs it.
    pub worker: String,
    /// The newest lines, within the log limit.
    pub tail: Vec<LogLine>,
    /// The process group it runs in, once spawned.
    #[serde(default)]
    pub pid: Option<u32>,
}

/// An operator's decision on a gate, sent as an Update (who, when and why are in the history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecideRequest {
    /// The gated step's id.
    pub step: String,
    /// The decision, its `by` and `uid` the OS user of the deciding process.
    pub decision: Decision,
}

/// An agent step's turn or tool call, journaled in the run (a signal from the worker running
/// the step), masked: a later attempt of the step goes on from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The step (`step`, or `step[i]` for an item).
    pub step: String,
    /// The turn or call.
    pub entry: crate::store::AgentEntry,
}

/// An agent's tool call that needs an operator (a signal from the worker running the step):
/// the step's gate opens with the call, and the `decide` Update answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolAsk {
    /// The step.
    pub step: String,
    /// Which ask of the step (`ATTEMPT:N`): its decision is read by it.
    pub ask: String,
    /// The question.
    pub prompt: String,
    /// The call as it will run.
    pub action: String,
    /// The tool.
    pub tool: String,
    /// The arguments as pretty JSON, masked (the operator may edit them).
    pub arguments: String,
}

/// Whether the run is frozen: what a step's activity polls to stop and continue its processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Freeze {
    /// Keep going.
    Running,
    /// SIGSTOP the process groups.
    Paused,
}

/// The run as queries answer it: the same detail a local run's reader gives, and the logs of
/// its ended steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// Run, steps and gates.
    pub detail: RunDetail,
    /// Outputs of the steps that have one, by step id.
    #[serde(default)]
    pub outputs: IndexMap<String, StepOutput>,
    /// Frozen or not.
    pub freeze: Freeze,
    /// By step id (an item's: `step[i]`), the lines of its log kept so far: a running
    /// attempt's line `n` is line `log_base + n` of the step or item (see `driver::log_seq`).
    #[serde(default)]
    pub log_base: IndexMap<String, u64>,
}

/// What a run's workflow returns: its final state and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// `succeeded`, `failed` or `cancelled`.
    pub state: crate::store::RunState,
    /// Why, when not succeeded.
    #[serde(default)]
    pub reason: Option<String>,
    /// Steps in a terminal state.
    pub steps_done: u32,
    /// Steps in all.
    pub steps_total: u32,
    /// When it ended.
    pub finished_at: Timestamp,
    /// A child run's `outputs:`, rendered once it succeeded: its `workflow:` step's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
    /// Why its `outputs:` could not be rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs_error: Option<String>,
}
