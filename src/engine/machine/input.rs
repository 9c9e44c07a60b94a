//! What the run state machine is told: the driver's start and end, operators' commands, step
//! tasks' reports and the store's failure — and the moment each happens, passed in.

use std::time::Duration;

use serde_json::Value;

use crate::spec::OnTimeout;
use crate::spec::template::Templates;
use crate::store::{Decision, StepMetrics, StepOutput, Timestamp};

/// A moment as the machine sees it: the wall clock for records, a monotonic clock (from any
/// origin) for the time a step ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// For `started_at`, `finished_at` and gates.
    pub wall: Timestamp,
    /// For `duration_ms`, which must not jump with the wall clock.
    pub mono: Duration,
}

/// Evaluates a step's `when:` against the context it reads.
///
/// Injected rather than called, so that the machine is deterministic given its inputs (a
/// Temporal workflow replays it) and its tests choose each condition's result; the engine
/// passes its minijinja [`Templates`].
pub trait WhenEval {
    /// The condition's value, or why it could not be evaluated.
    fn eval_when(&self, expr: &str, ctx: &Value) -> Result<bool, String>;
}

impl WhenEval for Templates {
    fn eval_when(&self, expr: &str, ctx: &Value) -> Result<bool, String> {
        Templates::eval_when(self, expr, ctx).map_err(|e| e.to_string())
    }
}

/// One thing that happened to a run.
#[derive(Debug)]
pub enum Input {
    /// The driver took the run: it is under way.
    Begin,
    /// An operator froze the run.
    Pause,
    /// An operator unfroze it.
    Resume,
    /// An operator cancelled it: it ends cancelled.
    Cancel,
    /// Its owner is quitting: it ends interrupted, to be resumed.
    Interrupt,
    /// Nothing more can be stored (said why): it ends interrupted.
    StoreFailed(String),
    /// Attempt `n` of step `idx` started.
    Attempt {
        /// Step index.
        idx: usize,
        /// 1-based.
        n: u32,
    },
    /// An attempt failed; the next starts at `at`.
    Retrying {
        /// Step index.
        idx: usize,
        /// When the next attempt starts.
        at: Timestamp,
        /// Why this one failed.
        error: String,
        /// Its exit code.
        exit_code: Option<i32>,
    },
    /// A shell attempt's process group started.
    Spawned {
        /// Step index.
        idx: usize,
        /// Its pid (= process group id).
        pid: u32,
    },
    /// A remote attempt's process group started (on the host its `on:` named).
    RemoteSpawned {
        /// Step index.
        idx: usize,
        /// Where it runs.
        process: Box<crate::store::RemoteProcess>,
    },
    /// A `workflow:` step started (or found again) its child run.
    ChildRun {
        /// Step index.
        idx: usize,
        /// The child run.
        run: crate::store::RunId,
    },
    /// Step `idx` asks an operator.
    GateOpened {
        /// Step index.
        idx: usize,
        /// What a timeout means.
        on_timeout: OnTimeout,
    },
    /// An operator decided step `idx`'s gate.
    Decide {
        /// Step index.
        idx: usize,
        /// The decision.
        decision: Decision,
    },
    /// A gate's timer ran out.
    GateTimeout {
        /// Step index.
        idx: usize,
        /// Which opening of the gate the timer was for.
        requested_at: Timestamp,
    },
    /// Step `idx`'s task ended.
    Done {
        /// Step index.
        idx: usize,
        /// How.
        end: StepEnd,
    },
    /// Nothing is in flight and everything is durable: write how the run ended.
    Finish,
    /// Fan-out step `idx`'s list, evaluated (or why it could not be).
    Items {
        /// Step index.
        idx: usize,
        /// The items, in order.
        items: Result<Vec<Value>, String>,
    },
    /// Item `item` of fan-out step `idx` reported.
    Item {
        /// Step index.
        idx: usize,
        /// Item index.
        item: usize,
        /// What it reported.
        report: ItemReport,
    },
}

/// What an item task reports: a step task's reports, for one item.
#[derive(Debug)]
pub enum ItemReport {
    /// Attempt `n` started.
    Attempt(u32),
    /// An attempt failed; the next starts at `at`.
    Retrying {
        /// When the next attempt starts.
        at: Timestamp,
        /// Why this one failed.
        error: String,
        /// Its exit code.
        exit_code: Option<i32>,
    },
    /// A shell attempt's process group started, with this pid.
    Spawned(u32),
    /// An attempt's process group started on another host (`on:`).
    RemoteSpawned(Box<crate::store::RemoteProcess>),
    /// The item's task ended.
    Done(Box<StepEnd>),
}

/// How a step task ended.
#[derive(Debug, Clone)]
pub enum StepEnd {
    /// It produced an output.
    Succeeded {
        /// The output, redacted.
        output: StepOutput,
        /// Exit code (shell).
        exit_code: Option<i32>,
        /// Came from the cache.
        cached: bool,
        /// LLM figures.
        metrics: StepMetrics,
    },
    /// It failed, or was cancelled.
    Failed {
        /// For people.
        error: String,
        /// Exit code (shell).
        exit_code: Option<i32>,
        /// Stopped by a cancel or an interrupt.
        cancelled: bool,
        /// What it printed before failing, if anything.
        output: Option<StepOutput>,
    },
}
