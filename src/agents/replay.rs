//! A conversation rebuilt from its journal: the messages so far, what they cost, the calls of
//! the last turn still to run (and which of them began), or the final answer when the step
//! ended before its result was recorded.

use std::collections::HashSet;

use crate::providers::{Message, ToolCall};
use crate::store::{AgentCall, AgentEntry};

/// Tokens, cost, turns and calls so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Completion tokens.
    pub tokens_out: u64,
    /// None once any turn's price was unknown.
    pub cost: Option<f64>,
    /// Model turns.
    pub turns: u32,
    /// Tool calls made or refused.
    pub calls: u32,
}

impl Spent {
    /// Adds what a delegate's `entry` (a [`AgentEntry::Delegated`], nested as deep as the
    /// delegations went) cost, when it is a model turn: a delegate's tokens and cost are the
    /// step's, its turns are not (`max_turns` counts the step's own).
    pub fn add_delegated(&mut self, entry: &AgentEntry) {
        let AgentEntry::Delegated { inner, .. } = entry else {
            return;
        };
        let mut inner: &AgentEntry = inner;
        while let AgentEntry::Delegated { inner: deeper, .. } = inner {
            inner = deeper;
        }
        if let AgentEntry::Turn {
            tokens_in,
            tokens_out,
            cost_usd,
            ..
        } = inner
        {
            self.add(*tokens_in, *tokens_out, *cost_usd);
        }
    }

    /// Adds the tokens and cost of `other` (a delegation's).
    pub fn add_usage(&mut self, other: &Spent) {
        self.add(other.tokens_in, other.tokens_out, other.cost);
    }

    /// Adds tokens and a cost (unknown once any part's price is).
    pub fn add(&mut self, tokens_in: u64, tokens_out: u64, cost: Option<f64>) {
        self.tokens_in += tokens_in;
        self.tokens_out += tokens_out;
        self.cost = self.cost.zip(cost).map(|(a, b)| a + b);
    }
}

/// A call of the last turn that has no result yet.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The call.
    pub call: ToolCall,
    /// It began before baton stopped.
    pub started: bool,
}

/// The last turn, when it asked for no call.
#[derive(Debug, Clone)]
pub struct LastAnswer {
    /// Provider that answered.
    pub provider: String,
    /// Model that answered.
    pub model: String,
    /// What it said.
    pub text: String,
}

/// A conversation as its journal leaves it.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The messages after the prompt.
    pub messages: Vec<Message>,
    /// What it cost so far.
    pub spent: Spent,
    /// Call ids used so far.
    pub ids: HashSet<String>,
    /// The last turn's calls still without a result, in order.
    pub pending: Vec<Pending>,
    /// The last turn, when it asked for no call (an answer, or one a repair must follow).
    pub last_answer: Option<LastAnswer>,
    /// The provider and model of the last turn.
    pub last_route: Option<(String, String)>,
}

/// A stored call as the provider layer has it.
pub fn call_of(c: &AgentCall) -> ToolCall {
    ToolCall {
        id: c.id.clone(),
        name: c.name.clone(),
        arguments: c.arguments.clone(),
    }
}

/// A call as stored.
pub fn stored(c: &ToolCall) -> AgentCall {
    AgentCall {
        id: c.id.clone(),
        name: c.name.clone(),
        arguments: c.arguments.clone(),
    }
}

/// The call `id` in the history given `arguments` instead of the model's: after an operator
/// edited it, the history shows the call that ran.
pub fn edit_call(history: &mut [Message], id: &str, arguments: serde_json::Value) {
    let asked = history
        .iter_mut()
        .rev()
        .flat_map(|m| m.tool_calls.iter_mut())
        .find(|c| c.id == id);
    if let Some(call) = asked {
        call.arguments = arguments;
    }
}

impl Replayed {
    /// Replays `entries`; `repair` says what to tell the model after an answer that is not
    /// acceptable (None: it is the final answer).
    pub fn new(entries: Vec<AgentEntry>, repair: &dyn Fn(&str) -> Option<String>) -> Replayed {
        let mut r = Replayed {
            spent: Spent {
                cost: Some(0.0),
                ..Spent::default()
            },
            ..Replayed::default()
        };
        for entry in entries {
            match entry {
                AgentEntry::Turn {
                    provider,
                    model,
                    text,
                    calls,
                    tokens_in,
                    tokens_out,
                    cost_usd,
                } => {
                    r.settle_answer(repair);
                    r.spent.turns += 1;
                    r.spent.add(tokens_in, tokens_out, cost_usd);
                    r.last_route = Some((provider.clone(), model.clone()));
                    r.pending.clear();
                    if calls.is_empty() {
                        r.last_answer = Some(LastAnswer {
                            provider,
                            model,
                            text,
                        });
                        continue;
                    }
                    let calls: Vec<ToolCall> = calls.iter().map(call_of).collect();
                    r.ids.extend(calls.iter().map(|c| c.id.clone()));
                    r.messages.push(Message::calls(text, calls.clone()));
                    r.pending = calls
                        .into_iter()
                        .map(|call| Pending {
                            call,
                            started: false,
                        })
                        .collect();
                }
                AgentEntry::CallEdited { id, arguments, .. } => {
                    if let Some(p) = r.pending.iter_mut().find(|p| p.call.id == id) {
                        p.call.arguments = arguments.clone();
                    }
                    edit_call(&mut r.messages, &id, arguments);
                }
                AgentEntry::CallStarted { id } => {
                    if let Some(p) = r.pending.iter_mut().find(|p| p.call.id == id) {
                        p.started = true;
                    }
                }
                // A delegate's conversation, replayed by its own loop when it runs again; what
                // it cost is the step's.
                delegated @ AgentEntry::Delegated { .. } => r.spent.add_delegated(&delegated),
                AgentEntry::CallResult { id, content, .. } => {
                    if let Some(i) = r.pending.iter().position(|p| p.call.id == id) {
                        let p = r.pending.remove(i);
                        r.spent.calls += 1;
                        r.messages.push(Message::tool_result(&p.call, content));
                    }
                }
            }
        }
        r
    }

    /// An answer followed by another turn was not acceptable: the repair request goes in.
    fn settle_answer(&mut self, repair: &dyn Fn(&str) -> Option<String>) {
        if let Some(a) = self.last_answer.take() {
            let complaint = repair(&a.text).unwrap_or_default();
            self.messages.push(Message::assistant(a.text));
            self.messages.push(Message::user(complaint));
        }
    }
}
