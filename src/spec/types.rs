//! The typed workflow model: what a checked workflow file means, independent of how it was written.
//!
//! The parser (`parse.rs`) turns YAML/JSON (including AutomatosX-style keys) into these types;
//! the validator and the engine only ever see these.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::duration::Dur;

pub use crate::ids::StepId;

/// Where something was written: 1-based line and column in the workflow file (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl Pos {
    /// A position that was not recorded.
    pub const UNKNOWN: Pos = Pos { line: 0, col: 0 };
}

/// A whole checked workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// Name shown in lists and logs.
    pub name: String,
    /// One-line description.
    pub description: Option<String>,
    /// Free-form version string (AutomatosX files carry one).
    pub version: Option<String>,
    /// Declared parameters, in file order.
    pub params: IndexMap<String, ParamSpec>,
    /// Environment for every step.
    pub env: IndexMap<String, String>,
    /// Environment variables whose values are secrets (`secrets: [DEPLOY_TOKEN]`), each with
    /// where it was named; read at run start, masked everywhere, seen by templates only as
    /// `secrets.NAME`.
    pub secrets: IndexMap<String, Pos>,
    /// A dotenv file of secrets (`env_file: .env`), relative to the workflow file.
    pub env_file: Option<(String, Pos)>,
    /// Defaults every step inherits.
    pub defaults: Defaults,
    /// How many steps of one run may run at once (`None`: the engine's default).
    pub concurrency: Option<usize>,
    /// Workflow-local agent profiles.
    pub agents: IndexMap<String, AgentProfileSpec>,
    /// MCP servers whose tools agent steps may call (`SERVER.TOOL` in `tools:`).
    #[serde(default)]
    pub mcp_servers: IndexMap<String, McpServerSpec>,
    /// The scope of the notes its agents keep with `remember` (`memory:`; its name when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_scope: Option<String>,
    /// Hosts its steps name with `on:` (their fields are templates over `params`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub hosts: IndexMap<String, HostSpec>,
    /// The steps, in file order; the handlers' steps (`on_success:`, `on_failure:`,
    /// `on_exit:`) come last, each with its [`Step::handler`].
    pub steps: Vec<Step>,
    /// When `baton serve` starts it by itself (`schedule:`).
    #[serde(default)]
    pub schedule: Option<super::schedule::Schedule>,
    /// Where to say that a run ended or that a gate waits (`notify:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<super::notify::NotifyTarget>,
    /// What a run of it yields (`outputs:`): templates over its steps' results, rendered when
    /// it succeeds; a parent's `workflow:` step sees them as its `output`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, String>,
    /// `on_failure: { repair: true }`: when a run fails, a model drafts a fix of the failed
    /// step, stored as a plan version for a person to approve (`baton repair`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repair_on_failure: bool,
    /// The file it came from, when it came from a file.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Workflow {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id.0 == id)
    }
}

/// A host of the workflow's `hosts:`; every field is a template over `params` (and `env`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostSpec {
    /// Host name or address (default: the entry's name).
    pub address: Option<String>,
    /// SSH port (renders to a number).
    pub port: Option<String>,
    /// Login name.
    pub user: Option<String>,
    /// Private key file.
    pub identity_file: Option<String>,
    /// Jump host (`ssh -J`).
    pub jump: Option<String>,
    /// known_hosts file its key is checked against.
    pub known_hosts: Option<String>,
    /// Environment for every step on it.
    pub env: IndexMap<String, String>,
    /// Directory its steps start in.
    pub workdir: Option<String>,
    /// Where each field was written, by key (`address`, `env.NAME`, ...); the entry's own
    /// place under `""`.
    #[serde(skip)]
    pub pos: IndexMap<String, Pos>,
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The value used when none is given.
    pub default: Option<serde_json::Value>,
    /// The allowed values, when restricted.
    pub r#enum: Option<Vec<serde_json::Value>>,
    /// A value must be given (no default).
    pub required: bool,
    /// Shown in forms and `--help`.
    pub description: Option<String>,
    /// Pos of the parameter's key.
    #[serde(skip)]
    pub pos: Pos,
}

/// Defaults for every step of a workflow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Defaults {
    /// Time limit of one attempt.
    pub timeout: Option<Dur>,
    /// Retry policy.
    pub retry: Option<RetryPolicy>,
}

/// How a failed attempt is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial: Dur,
    /// Cap on the delay.
    pub max: Dur,
    /// Growth factor of the delay.
    pub multiplier: f64,
    /// Randomise each delay (full jitter between half and all of it).
    pub jitter: bool,
    /// Retry a shell step only on these exit codes (empty: any failure).
    pub on_exit_codes: Vec<i32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial: Dur(std::time::Duration::from_secs(1)),
            max: Dur(std::time::Duration::from_secs(30)),
            multiplier: 2.0,
            jitter: true,
            on_exit_codes: Vec::new(),
        }
    }
}

/// An agent profile defined in a workflow (or a user file).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentProfileSpec {
    /// Display name.
    pub name: Option<String>,
    /// System prompt.
    pub system: Option<String>,
    /// Preferred provider name.
    pub provider: Option<String>,
    /// Where `provider` was written (in a workflow's `agents:`), for messages.
    #[serde(skip)]
    pub provider_pos: Pos,
    /// Preferred model.
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// What it is good at (shown in `baton agents`, used by the planner).
    pub capabilities: Vec<String>,
    /// Tools its steps may call unless a step lists its own.
    #[serde(default)]
    pub tools: Vec<ToolUse>,
    /// Tool-loop budgets its steps inherit (a step's own win).
    #[serde(default)]
    pub limits: AgentLimits,
    /// The profiles it may hand subtasks to with the `delegate` tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegates_to: Vec<String>,
    /// Where `delegates_to` was written, for messages.
    #[serde(skip)]
    pub delegates_to_pos: Pos,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Unique id (`key` in AutomatosX files).
    pub id: StepId,
    /// Display name.
    pub name: Option<String>,
    /// What the step does.
    pub kind: StepKind,
    /// Steps that must finish first.
    pub depends_on: Vec<StepId>,
    /// A condition (minijinja expression); false skips the step.
    pub when: Option<String>,
    /// Retry policy (overrides the workflow default); boxed, as most steps have none.
    pub retry: Option<Box<RetryPolicy>>,
    /// Time limit of one attempt (overrides the workflow default).
    pub timeout: Option<Dur>,
    /// A failure does not fail the run nor skip dependents.
    pub continue_on_error: bool,
    /// Reuse a previous result.
    pub cache: Option<Box<CacheSpec>>,
    /// Named mutex (templated); one holder at a time across runs.
    pub lock: Option<String>,
    /// At most this many starts per period, across runs.
    pub rate_limit: Option<Box<RateLimit>>,
    /// Extra environment (templated values).
    pub env: IndexMap<String, String>,
    /// Gate this step: show what it will do and wait for an operator before running it.
    pub approve: bool,
    /// The OS users who may decide this step's gate (`approve: true` or an `approval` step);
    /// empty: whoever can reach the engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// False when running it twice is harmful: after a crash it waits for an operator.
    pub idempotent: bool,
    /// The Temporal task queue its activity goes to (`queue:`); the local engine ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Named values derived from the step's result (templates over `output`, `stdout`, ...).
    pub outputs: IndexMap<String, String>,
    /// Fanned out over a list (`for_each:`): each item runs the step once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<Box<super::for_each::ForEach>>,
    /// The steps whose results its templates read, found at validation (`None`: it may read
    /// any, e.g. `steps` as a whole, or the workflow was not validated).
    #[serde(skip)]
    /// Sorted, each id once: most steps read one or two, and a list of them is a tenth of a
    /// set's memory.
    pub reads: Option<Vec<String>>,
    /// Set on a handler's step: it runs after the other steps ended, when its phase applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<Handler>,
    /// Where each field was written, for error messages.
    #[serde(skip)]
    pub pos: StepPos,
}

/// The workflow's handlers: steps that run once its other steps have ended, chosen by how the
/// run went (`on_success:`, `on_failure:`), or always (`on_exit:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handler {
    /// The run's steps succeeded.
    OnSuccess,
    /// A step failed (the run fails).
    OnFailure,
    /// Whatever the outcome, cancelled included.
    OnExit,
}

impl Handler {
    /// The key that introduces it in a file; also the prefix of its steps' ids.
    pub fn key(self) -> &'static str {
        match self {
            Handler::OnSuccess => "on_success",
            Handler::OnFailure => "on_failure",
            Handler::OnExit => "on_exit",
        }
    }
}

impl Step {
    /// Name if given, else id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id.0)
    }
}

/// Positions of a step's parts in its file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepPos {
    /// The step's mapping.
    pub step: Pos,
    /// The `id`/`key` value.
    pub id: Pos,
    /// Each entry of `depends_on`, in order.
    pub depends_on: Vec<Pos>,
    /// The `when` value.
    pub when: Pos,
    /// The value of the kind's main field (`run`, `prompt`/`action`, `http.url`,
    /// `approval.prompt`, `transform`, `workflow.path`, `sleep`).
    pub body: Pos,
    /// Any other templated field, by key name: `agent`, `cwd`, `lock`, `cache.key`,
    /// `rate_limit.key`, `body` (http), `env.NAME`, `outputs.NAME`, `headers.NAME`,
    /// `inputs.NAME` (approval), `params.NAME` (workflow).
    pub fields: FieldPlaces,
}

/// Where a step's other fields are, by key name: a list, not a map, for most steps have none
/// and the rest a few (a map costs three times the room in every step, empty or not).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldPlaces(Vec<(String, Pos)>);

impl FieldPlaces {
    /// Records where `key` is; a key recorded again moves to the new place.
    pub fn insert(&mut self, key: String, pos: Pos) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, at)) => *at = pos,
            None => self.0.push((key, pos)),
        }
    }

    /// Where `key` is, if it was recorded.
    pub fn get(&self, key: &str) -> Option<&Pos> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, pos)| pos)
    }
}

/// The kinds of step, by the key that names them. All but the small ones are boxed: a step's
/// kind is as large as its largest, and most steps are `run` steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// `run:` a shell command.
    Run(RunSpec),
    /// `http:` a request.
    Http(Box<HttpSpec>),
    /// `agent:` + `prompt:` an LLM call.
    Agent(Box<AgentSpec>),
    /// `approval:` a human gate.
    Approval(Box<ApprovalSpec>),
    /// `transform:` a template or expression over the context.
    Transform(TransformSpec),
    /// `sleep:` wait.
    Sleep(Dur),
    /// `workflow:` a sub-workflow.
    Workflow(Box<SubWorkflowSpec>),
}

impl StepKind {
    /// The key that names this kind in a file.
    pub fn key(&self) -> &'static str {
        match self {
            StepKind::Run(_) => "run",
            StepKind::Http(_) => "http",
            StepKind::Agent(_) => "agent",
            StepKind::Approval(_) => "approval",
            StepKind::Transform(_) => "transform",
            StepKind::Sleep(_) => "sleep",
            StepKind::Workflow(_) => "workflow",
        }
    }
}

/// A shell command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The command line (a template; interpolated values are shell-quoted).
    pub command: String,
    /// Shell to run it with (default `sh`; run as `<shell> -c <command>`).
    pub shell: Option<String>,
    /// Working directory (templated; relative to the workflow file's directory, or on another
    /// host to its `workdir`, else its login's home).
    pub cwd: Option<String>,
    /// The host it runs on (templated): a `hosts:` name, a config file host, or a name
    /// OpenSSH's configuration knows; `None`: here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
}

/// An HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// GET, POST, ...
    pub method: String,
    /// The URL (templated).
    pub url: String,
    /// Headers (templated values).
    pub headers: IndexMap<String, String>,
    /// Request body.
    pub body: Option<HttpBody>,
    /// Accepted status codes (empty: any 2xx).
    pub expect: Vec<u16>,
}

/// A request body: JSON (templated strings inside) or raw text (a template).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpBody {
    /// Sent as `application/json`.
    Json(serde_json::Value),
    /// Sent as is.
    Text(String),
}

/// An LLM call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Agent profile name (built-in, user or workflow-local).
    pub agent: String,
    /// The task (a template). From `action` in AutomatosX files.
    pub prompt: String,
    /// Provider override.
    pub provider: Option<String>,
    /// Model override.
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Output token cap.
    pub max_tokens: Option<u32>,
    /// `text` (default) or `json`.
    pub output: OutputFormat,
    /// JSON schema the answer must satisfy (with `output: json`).
    pub schema: Option<serde_json::Value>,
    /// Tools the model may call (`tools:`); none: one call, one answer.
    #[serde(default)]
    pub tools: Vec<ToolUse>,
    /// Budgets of the tool loop.
    #[serde(default)]
    pub limits: AgentLimits,
    /// The step's `approve:` as it applies to tool calls.
    #[serde(default)]
    pub approve_calls: CallApproval,
}

/// Which of an agent step's tool calls ask a person first, as the step's own `approve:` says:
/// each tool's default (risky ones ask), none (`approve: false`), or the listed tools'
/// (`approve: [shell]`). A tool's own `{name, approve}` wins over it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallApproval {
    /// Risky calls ask.
    #[default]
    Default,
    /// No call asks.
    Trust,
    /// Calls to these tools ask; others do not.
    Only(Vec<String>),
}

/// An MCP server whose tools agent steps may call: a program baton starts and talks to over
/// its stdin and stdout (`command`), or a server reached over streamable HTTP (`url`).
/// Exactly one of the two is set (the reader and the config check see to it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct McpServerSpec {
    /// The program (empty for an HTTP server).
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment added to baton's own.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// The endpoint of a server reached over streamable HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers sent with every HTTP request, as written (no secrets here: see `headers_env`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// Headers whose values are read from environment variables when the server is reached
    /// (header → variable): secrets stay out of files, the store and the logs.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers_env: IndexMap<String, String>,
    /// The variable holding a bearer token, sent as `Authorization: Bearer …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// Where it was declared.
    #[serde(default)]
    pub pos: Pos,
}

/// The tools the language knows (`src/tools/` implements each).
pub const BUILTIN_TOOLS: [&str; 5] = ["shell", "read_file", "write_file", "list_dir", "http"];

/// The built-in tools that work on agents rather than the host (`src/agents/` implements
/// them): `delegate` (offered to profiles with `delegates_to:`), `remember` and `recall`.
pub const AGENT_TOOLS: [&str; 3] = ["delegate", "remember", "recall"];

/// One entry of `tools:`: a name, or `{name, approve}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUse {
    /// A built-in tool's name.
    pub name: String,
    /// `approve: false` lets a risky tool run unattended; unset or `true` asks a person.
    pub approve: Option<bool>,
}

/// Budgets of an agent step's tool loop; unset ones take the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentLimits {
    /// Model turns at most (default 20).
    pub max_turns: Option<u32>,
    /// Tool calls at most over the step.
    pub max_tool_calls: Option<u32>,
    /// Prompt plus answer tokens at most over the step.
    pub max_tokens_total: Option<u64>,
    /// Bytes of one tool result the model sees (default 16 KiB).
    pub max_tool_output: Option<u32>,
}

impl AgentLimits {
    /// These budgets where set, `base`'s elsewhere.
    pub fn or(self, base: AgentLimits) -> AgentLimits {
        AgentLimits {
            max_turns: self.max_turns.or(base.max_turns),
            max_tool_calls: self.max_tool_calls.or(base.max_tool_calls),
            max_tokens_total: self.max_tokens_total.or(base.max_tokens_total),
            max_tool_output: self.max_tool_output.or(base.max_tool_output),
        }
    }
}

/// What an agent step must answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Free text.
    #[default]
    Text,
    /// A JSON value.
    Json,
}

/// A human gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalSpec {
    /// What to ask (a template).
    pub prompt: String,
    /// Values the approver may edit; they become the step's output.
    pub inputs: IndexMap<String, ApprovalInput>,
    /// How long to wait.
    pub timeout: Option<Dur>,
    /// What a timeout means.
    pub on_timeout: OnTimeout,
}

/// One editable value of an approval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApprovalInput {
    /// Initial value (a template).
    pub default: Option<String>,
    /// Shown beside the field.
    pub description: Option<String>,
    /// Allowed values.
    pub r#enum: Option<Vec<String>>,
}

/// What an approval's timeout means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// The gate is rejected (the step fails).
    #[default]
    Reject,
    /// The gate is approved.
    Approve,
}

/// A transform: a template rendered over the context, or an expression evaluated over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformSpec {
    /// `transform: "{{ ... }}"` or `transform: { template: ... }`: renders text
    /// (parsed as JSON when it is JSON).
    Template(String),
    /// `transform: { expr: ... }`: a minijinja expression whose value is the output.
    Expr(String),
    /// `transform: { value: ... }`: a JSON value whose strings are templates.
    Value(serde_json::Value),
}

/// A sub-workflow call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubWorkflowSpec {
    /// Path of the workflow file (relative to this file's directory), or the name of a
    /// workflow in the workflows folders (templated).
    pub path: String,
    /// Params passed (templated values).
    pub params: IndexMap<String, serde_json::Value>,
}

/// Reuse of a previous result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheSpec {
    /// Cache key template (default: the rendered step definition).
    pub key: Option<String>,
    /// How long an entry stays valid (None: forever).
    pub ttl: Option<Dur>,
}

/// At most `max` starts per `per`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Bucket name shared across steps and runs (default: the step id).
    pub key: Option<String>,
    /// Starts allowed per period.
    pub max: u32,
    /// The period.
    pub per: Dur,
}

impl Workflow {
    /// The retry policy of `step`: its own, else the workflow's `defaults.retry`, else one
    /// attempt.
    pub fn effective_retry(&self, step: &Step) -> RetryPolicy {
        step.retry
            .as_deref()
            .cloned()
            .or_else(|| self.defaults.retry.clone())
            .unwrap_or_default()
    }

    /// The time limit of one attempt of `step`: its own, else the workflow's
    /// `defaults.timeout`, else none.
    pub fn effective_timeout(&self, step: &Step) -> Option<std::time::Duration> {
        step.timeout.or(self.defaults.timeout).map(Dur::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_recorded_again_moves_and_is_not_repeated() {
        let mut places = FieldPlaces::default();
        assert_eq!(places.get("cwd"), None);
        places.insert("cwd".into(), Pos { line: 3, col: 5 });
        places.insert("env.A".into(), Pos { line: 4, col: 7 });
        places.insert("cwd".into(), Pos { line: 9, col: 1 });
        assert_eq!(places.get("cwd"), Some(&Pos { line: 9, col: 1 }));
        assert_eq!(places.get("env.A"), Some(&Pos { line: 4, col: 7 }));
        assert_eq!(places.get("env"), None);
        assert_eq!(places.0.len(), 2);
    }

    /// Every step of every loaded workflow has this size, whatever it uses: rare parts are
    /// boxed. A field that makes it grow should be boxed too.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_step_stays_small() {
        // 704 bytes before `retry` and the approval and sub-workflow kinds were boxed and the
        // field places became a list.
        assert!(
            size_of::<Step>() <= 568,
            "a step is {} bytes",
            size_of::<Step>()
        );
    }
}
