//! What the run state machine asks its driver to do. (The issue calls these decisions; they are
//! `Effect`s here because `store::Decision` is an operator's decision on a gate.)

use std::sync::Arc;

use serde_json::Value;

use crate::spec::StepId;
use crate::store::{Decision, RunState, StepOutput, StepRecord, Timestamp};

/// What a step task is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Freeze (processes stopped, timeout clocks stopped).
    Pause,
    /// Go on.
    Resume,
    /// Stop everything; waiting gates end cancelled. `interrupt`: the run ends interrupted (to
    /// be resumed), not cancelled, so a child run it started is interrupted too.
    Stop {
        /// The run ends interrupted.
        interrupt: bool,
    },
}

/// One thing for the driver to do, in order.
#[derive(Debug)]
pub enum Effect {
    /// A step's record changed: journal it (its Event carries the whole record).
    Step(Box<StepRecord>),
    /// A step's output, written with the batch.
    Output(StepId, StepOutput),
    /// The batch so far must survive a crash before its Events are announced.
    Durable,
    /// The run's state changed.
    Run {
        /// The new state.
        state: RunState,
        /// Why (a failure, a cancel, an interruption).
        reason: Option<String>,
        /// Steps in a terminal state.
        steps_done: u32,
    },
    /// Start step `idx`'s task.
    Start {
        /// Step index.
        idx: usize,
        /// The template context it reads.
        ctx: Arc<Value>,
        /// Ask an operator first: it was running when its owner died and is not idempotent.
        recovery_gate: bool,
    },
    /// Tell every step task.
    Signal(Signal),
    /// Step `idx`'s gate opened: store and announce it, and time it out.
    GateOpened {
        /// Step index.
        idx: usize,
        /// When it opened (identifies this opening to its timer).
        requested_at: Timestamp,
    },
    /// Step `idx`'s gate was decided: store the decision and hand it to the waiting task.
    GateDecided {
        /// Step index.
        idx: usize,
        /// The decision.
        decision: Decision,
    },
    /// A line of the engine's own in step `idx`'s log.
    Log {
        /// Step index.
        idx: usize,
        /// The line.
        text: String,
    },
    /// Step `idx`'s task ended: its log is complete.
    StepOver(usize),
    /// A process group a previous owner left running for step `idx`: stop it.
    StopLeftover {
        /// Step index.
        idx: usize,
        /// Its pid.
        pid: u32,
        /// When it was spawned (tells a reused pid apart).
        spawned_at: Timestamp,
    },
    /// A process group a previous owner left running on another host for step `idx`: stop it.
    StopRemoteLeftover {
        /// Step index.
        idx: usize,
        /// Where it runs.
        process: Box<crate::store::RemoteProcess>,
    },
    /// The run is over, in this state (its last records come before this).
    Ended(RunState),
    /// Evaluate fan-out step `idx`'s list against `ctx` and report it ([`super::Input::Items`]).
    Expand {
        /// Step index.
        idx: usize,
        /// The step's template context.
        ctx: Arc<Value>,
    },
    /// Start item `item` of fan-out step `idx`.
    StartItem {
        /// Step index.
        idx: usize,
        /// Item index.
        item: usize,
        /// Its value (`item` in the templates).
        value: Value,
        /// The step's template context (`item` and `item_index` are added when rendering).
        ctx: Arc<Value>,
        /// Ask an operator first (see [`Effect::Start`]).
        recovery_gate: bool,
    },
    /// Stop the running items of step `idx` (one failed, and `fail_fast` is on).
    CancelItems(usize),
    /// Item `item` of step `idx` ended: its log is complete.
    ItemOver {
        /// Step index.
        idx: usize,
        /// Item index.
        item: usize,
    },
}
