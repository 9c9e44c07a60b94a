//! An agent step's conversation as journaled: each model turn and each tool call's start and
//! result is an event of the run ([`EventKind::Agent`]), durable before the loop goes on, so a
//! resumed run continues the conversation instead of starting it again.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EventKind, RunId, Store};
use crate::spec::StepId;

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCall {
    /// The call's id (unique within the conversation).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its arguments, as the model gave them.
    #[serde(default)]
    pub arguments: Value,
}

/// One entry of an agent step's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum AgentEntry {
    /// A model turn ended: its text and the calls it asked for.
    Turn {
        /// Provider that answered.
        provider: String,
        /// Model that answered.
        model: String,
        /// What it said.
        #[serde(default)]
        text: String,
        /// The calls it asked for (none: its final answer, or one a repair turn follows).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        calls: Vec<AgentCall>,
        /// Prompt tokens.
        #[serde(default)]
        tokens_in: u64,
        /// Completion tokens.
        #[serde(default)]
        tokens_out: u64,
        /// What the turn cost, when its model's price is known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// An operator edited a call's arguments at its gate: the edited call is the one that runs
    /// and the one the model's history shows.
    CallEdited {
        /// The call's id.
        id: String,
        /// The arguments as edited.
        arguments: Value,
        /// Who edited them (as the gate's decision names them).
        by: String,
    },
    /// A tool call is about to run (approved, when it needed approval).
    CallStarted {
        /// The call's id.
        id: String,
    },
    /// What the model was given for a call: the tool's result, a refusal, or an interruption.
    CallResult {
        /// The call's id.
        id: String,
        /// The text the model receives.
        content: String,
        /// The call failed or was refused.
        #[serde(default)]
        is_error: bool,
    },
    /// An entry of the conversation a `delegate` call runs (nested as deep as delegations
    /// go): the delegate's turns and calls, journaled inside the step's own.
    Delegated {
        /// The `delegate` call's id.
        call: String,
        /// The profile it went to.
        agent: String,
        /// The delegate's entry.
        inner: Box<AgentEntry>,
    },
}

impl AgentEntry {
    /// One line for histories.
    pub fn describe(&self) -> String {
        match self {
            AgentEntry::Turn {
                provider,
                model,
                calls,
                ..
            } if calls.is_empty() => format!("answered ({provider}/{model})"),
            AgentEntry::Turn { calls, .. } => {
                let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
                format!("asked for {}", names.join(", "))
            }
            AgentEntry::CallEdited { id, by, .. } => {
                format!("call {id} arguments edited by {by}")
            }
            AgentEntry::CallStarted { id } => format!("call {id} started"),
            AgentEntry::CallResult { id, is_error, .. } => {
                format!("call {id} {}", if *is_error { "failed" } else { "done" })
            }
            AgentEntry::Delegated { agent, inner, .. } => {
                format!("↳ {agent} {}", inner.describe())
            }
        }
    }
}

impl Store {
    /// The conversation of agent step `step` of `run` since the step last started over: a
    /// reset for `baton retry` (a record at attempt 0) begins a new one; a resume does not.
    pub fn conversation(&self, run: &RunId, step: &StepId) -> anyhow::Result<Vec<AgentEntry>> {
        let mut entries = Vec::new();
        for event in self.events(run)? {
            match event.kind {
                EventKind::Agent { step: s, entry } if s == *step => entries.push(entry),
                EventKind::Step { record } if record.step == *step && record.attempt == 0 => {
                    entries.clear()
                }
                _ => {}
            }
        }
        Ok(entries)
    }
}
