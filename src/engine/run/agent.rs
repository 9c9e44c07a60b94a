//! An agent's turns and tool calls, journaled masked before the agent moves on.

use super::*;

impl RunDriver {
    /// Journals an agent's turn or call (of a step, or of one item of a fan-out: `step[i]`),
    /// masked, and tells the agent once it is durable.
    pub(super) fn journal_agent(
        &mut self,
        step: crate::spec::StepId,
        entry: crate::store::AgentEntry,
        ack: tokio::sync::oneshot::Sender<()>,
    ) {
        let entry = redact_entry(&self.redactor, entry);
        self.journal.event(EventKind::Agent { step, entry });
        self.journal.when_durable(ack);
    }
}

/// An agent's turn or call with the run's secrets masked in everything it says (what is
/// stored is also what a resumed conversation shows the model).
pub(crate) fn redact_entry(
    r: &Redactor,
    entry: crate::store::AgentEntry,
) -> crate::store::AgentEntry {
    use crate::store::AgentEntry;
    let text = |s: String| r.redact(&s).into_owned();
    match entry {
        AgentEntry::Turn {
            provider,
            model,
            text: said,
            calls,
            tokens_in,
            tokens_out,
            cost_usd,
        } => AgentEntry::Turn {
            provider,
            model,
            text: text(said),
            calls: calls
                .into_iter()
                .map(|mut c| {
                    c.arguments = redact_value(r, c.arguments);
                    c
                })
                .collect(),
            tokens_in,
            tokens_out,
            cost_usd,
        },
        AgentEntry::CallResult {
            id,
            content,
            is_error,
        } => AgentEntry::CallResult {
            id,
            content: text(content),
            is_error,
        },
        AgentEntry::CallEdited { id, arguments, by } => AgentEntry::CallEdited {
            id,
            arguments: redact_value(r, arguments),
            by,
        },
        started @ AgentEntry::CallStarted { .. } => started,
        AgentEntry::Delegated { call, agent, inner } => AgentEntry::Delegated {
            call,
            agent,
            inner: Box::new(redact_entry(r, *inner)),
        },
    }
}

/// `v` with the secrets masked in every string it holds.
fn redact_value(r: &Redactor, v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(r.redact(&s).into_owned()),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|i| redact_value(r, i)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, redact_value(r, v)))
                .collect(),
        ),
        other => other,
    }
}
