//! An agent step's conversation as the console shows it: its turns, the tool calls each asked
//! for with their arguments, who approved, rejected or edited them and when, their results
//! (folded until unfolded) and what each turn cost. It is built from the run's history — the
//! events `baton show --events` lists, kept current by live Events — so it shows what is
//! durable; and what the model is writing right now, token by token, before its turn is
//! recorded ([`Writing`], from the live lines and the unfinished line of the step).

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::logs::LogEntry;
use super::model::{Detail, Tab};
use crate::spec::StepId;
use crate::store::{
    AgentEntry, Decision, Event, EventKind, LogStream, StepRecord, StepStatus, Timestamp,
    parse_item_key,
};

/// Finished lines of the turn being written kept per step (the Logs tab holds them all).
const WRITING_LINES: usize = 200;

/// One model turn, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// When it was recorded (when the model finished it).
    pub at: Timestamp,
    /// Who answered.
    pub provider: String,
    /// Which model.
    pub model: String,
    /// What it said.
    pub text: String,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Completion tokens.
    pub tokens_out: u64,
    /// What it cost, when the model's price is known.
    pub cost_usd: Option<f64>,
    /// The tool calls it asked for.
    pub calls: Vec<Call>,
}

/// A tool call of a turn and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Its id in the conversation.
    pub id: String,
    /// The tool.
    pub name: String,
    /// Its arguments as the model gave them.
    pub arguments: Value,
    /// Each time an operator was asked about it.
    pub asked: Vec<Asked>,
    /// The arguments as an operator edited them, and who did.
    pub edited: Option<(Value, String)>,
    /// It began to run.
    pub started: bool,
    /// What the model was given back, once it was.
    pub result: Option<(String, bool)>,
    /// For a `delegate` call: what the delegate did, one line per entry of its conversation
    /// (its turns, its own calls and results, nested delegations), in order.
    pub delegated: Vec<String>,
}

/// A gate a call waited at.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// When it was asked.
    pub at: Timestamp,
    /// What the operator was shown (the exact command, for `shell`).
    pub action: Option<String>,
    /// The decision, once made.
    pub decision: Option<Decision>,
}

/// The turns of agent step `step` (an item's key for a fan-out item) in `events`, since the
/// step last started over (a `baton retry`), as [`crate::store::Store::conversation`] counts.
pub fn turns(events: &[Event], step: &StepId) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::Step { record } if record.step == *step && record.attempt == 0 => {
                turns.clear()
            }
            EventKind::Agent { step: s, entry } if s == step => add_entry(&mut turns, e.ts, entry),
            EventKind::ApprovalRequested { approval }
                if approval.step == *step && approval.tool.is_some() =>
            {
                if let Some(call) = waiting_call(&mut turns) {
                    call.asked.push(Asked {
                        at: approval.requested_at,
                        action: approval.action.clone(),
                        decision: None,
                    });
                }
            }
            EventKind::ApprovalDecided { step: s, decision } if s == step => {
                if let Some(asked) = waiting_call(&mut turns)
                    .and_then(|c| c.asked.last_mut())
                    .filter(|a| a.decision.is_none())
                {
                    asked.decision = Some(decision.clone());
                }
            }
            _ => {}
        }
    }
    turns
}

fn add_entry(turns: &mut Vec<Turn>, at: Timestamp, entry: &AgentEntry) {
    match entry {
        AgentEntry::Turn {
            provider,
            model,
            text,
            calls,
            tokens_in,
            tokens_out,
            cost_usd,
        } => turns.push(Turn {
            at,
            provider: provider.clone(),
            model: model.clone(),
            text: text.clone(),
            tokens_in: *tokens_in,
            tokens_out: *tokens_out,
            cost_usd: *cost_usd,
            calls: calls
                .iter()
                .map(|c| Call {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                    asked: Vec::new(),
                    edited: None,
                    started: false,
                    result: None,
                    delegated: Vec::new(),
                })
                .collect(),
        }),
        AgentEntry::CallEdited { id, arguments, by } => {
            if let Some(c) = call_mut(turns, id) {
                c.edited = Some((arguments.clone(), by.clone()));
            }
        }
        AgentEntry::CallStarted { id } => {
            if let Some(c) = call_mut(turns, id) {
                c.started = true;
            }
        }
        AgentEntry::CallResult {
            id,
            content,
            is_error,
        } => {
            if let Some(c) = call_mut(turns, id) {
                c.result = Some((content.clone(), *is_error));
            }
        }
        AgentEntry::Delegated { call, agent, inner } => {
            if let Some(c) = call_mut(turns, call) {
                c.delegated.push(format!("↳ {agent}: {}", inner.describe()));
            }
        }
    }
}

fn call_mut<'t>(turns: &'t mut [Turn], id: &str) -> Option<&'t mut Call> {
    turns
        .iter_mut()
        .rev()
        .flat_map(|t| t.calls.iter_mut())
        .find(|c| c.id == id)
}

/// The call a gate of the step is about: the last turn's first call without a result (the
/// loop runs a turn's calls in order, one at a time).
fn waiting_call(turns: &mut [Turn]) -> Option<&mut Call> {
    turns
        .last_mut()?
        .calls
        .iter_mut()
        .find(|c| c.result.is_none())
}

/// What one agent step is writing now: the finished lines of its turn since its last recorded
/// entry, and the line being written.
#[derive(Debug, Clone, Default)]
pub struct Writing {
    /// Finished lines (the newest `WRITING_LINES`).
    pub lines: VecDeque<String>,
    /// The unfinished line, ready for the log pane.
    pub partial: Option<LogEntry>,
}

/// The Conversation tab's state, and what the open run's agent steps are writing.
#[derive(Debug, Clone, Default)]
pub struct Talk {
    /// Per step (or fan-out item) key.
    pub writing: HashMap<StepId, Writing>,
    /// The step the selection below belongs to.
    pub step: Option<StepId>,
    /// The selected item (`None`: follow the newest).
    pub selected: Option<usize>,
    /// Calls whose result is unfolded, by id.
    pub unfolded: HashSet<String>,
    /// Events that came while the run's history was being read (see
    /// [`Detail::history_loaded`]).
    pub arriving: Option<Vec<Event>>,
}

impl Talk {
    /// Folds in what a live Event says about what agent steps are writing; `is_agent` tells
    /// which keys are agent steps'. Returns whether something changed.
    pub fn apply(&mut self, event: &Event, is_agent: impl Fn(&StepId) -> bool) -> bool {
        match &event.kind {
            EventKind::Partial { step, text } => {
                let writing = self.writing.entry(step.clone()).or_default();
                writing.partial = (!text.is_empty()).then(|| LogEntry {
                    seq: u64::MAX,
                    ts: event.ts,
                    step: step.clone(),
                    stream: LogStream::Stdout,
                    text: super::text::prepare_line(text),
                });
                true
            }
            EventKind::Log { line } if line.stream == LogStream::Stdout && is_agent(&line.step) => {
                let lines = &mut self.writing.entry(line.step.clone()).or_default().lines;
                lines.push_back(line.text.clone());
                if lines.len() > WRITING_LINES {
                    lines.pop_front();
                }
                true
            }
            EventKind::Agent { step, .. } => {
                if let Some(w) = self.writing.get_mut(step) {
                    w.lines.clear();
                }
                true
            }
            EventKind::Step { record }
                if record.status.is_terminal() || record.status == StepStatus::Retrying =>
            {
                let step = &record.step;
                let ended = |i: usize| record.items.get(i).is_none_or(|it| it.status.is_terminal());
                self.writing
                    .retain(|key, _| match parse_item_key(key.as_str()) {
                        Some((s, i)) => s != *step || !ended(i),
                        None => key != step,
                    });
                true
            }
            EventKind::RunState { state, .. } if !state.is_active() => {
                self.writing.clear();
                true
            }
            _ => false,
        }
    }

    /// The unfinished lines of the steps in `scope` (every step when `None`; a step's items
    /// with it), in key order: what the log pane draws under its last line while it follows.
    pub fn unfinished(&self, scope: Option<&StepId>) -> Vec<&LogEntry> {
        let mut shown: Vec<&LogEntry> = self
            .writing
            .iter()
            .filter(|(key, _)| {
                scope.is_none_or(|s| {
                    *key == s || parse_item_key(key.as_str()).is_some_and(|(p, _)| p == *s)
                })
            })
            .filter_map(|(_, w)| w.partial.as_ref())
            .collect();
        shown.sort_by(|a, b| a.step.as_str().cmp(b.step.as_str()));
        shown
    }
}

/// Whether `key` (a step's id or an item's key) is an agent step's, among `steps` (indexed by
/// id in `index`).
pub fn is_agent_key(index: &HashMap<StepId, usize>, steps: &[StepRecord], key: &StepId) -> bool {
    let step = parse_item_key(key.as_str()).map(|(s, _)| s);
    index
        .get(step.as_ref().unwrap_or(key))
        .and_then(|&i| steps.get(i))
        .is_some_and(|s| s.kind == "agent")
}

/// One selectable item of a conversation: a turn, a call, or a call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// Turn `t`.
    Turn(usize),
    /// Call `c` of turn `t`.
    Call(usize, usize),
    /// The result of call `c` of turn `t`.
    Result(usize, usize),
}

/// The selectable items of `turns`, in the order they are drawn.
pub fn items(turns: &[Turn]) -> Vec<Item> {
    let mut out = Vec::new();
    for (t, turn) in turns.iter().enumerate() {
        out.push(Item::Turn(t));
        for (c, call) in turn.calls.iter().enumerate() {
            out.push(Item::Call(t, c));
            if call.result.is_some() {
                out.push(Item::Result(t, c));
            }
        }
    }
    out
}

impl Detail {
    /// The tabs of the detail view: a Conversation tab too while an agent step (or one of its
    /// items) is selected, or while it is shown.
    pub fn tabs(&self) -> Vec<Tab> {
        let mut tabs = Tab::ALL.to_vec();
        if self.tab == Tab::Conversation || self.selected_is_agent() {
            tabs.push(Tab::Conversation);
        }
        tabs
    }

    /// Whether the selected row is an agent step or one of its items.
    pub fn selected_is_agent(&self) -> bool {
        self.selected_step().is_some_and(|s| s.kind == "agent")
    }

    /// Whether `key` (a step's id or an item's key) is an agent step's.
    pub fn is_agent(&self, key: &StepId) -> bool {
        is_agent_key(&self.index, &self.steps, key)
    }

    /// The run's history is being read: Events that come meanwhile are kept, since the read
    /// may have ended before they were stored.
    pub fn history_requested(&mut self) {
        self.talk.arriving = Some(Vec::new());
    }

    /// The run's history as read, followed by the Events that came meanwhile and are not in
    /// it (every Event is stored before it is announced, so the ones missing came after the
    /// read).
    pub fn history_loaded(&mut self, mut events: Vec<Event>) {
        for event in self.talk.arriving.take().unwrap_or_default() {
            if !events.iter().rev().any(|e| *e == event) {
                events.push(event);
            }
        }
        self.events = Some(events);
    }

    /// The turns of the selected agent step, when its history is loaded.
    pub fn selected_turns(&self) -> Option<(StepId, Vec<Turn>)> {
        let key = self.selected_log_key()?;
        let turns = turns(self.events.as_ref()?, &key);
        Some((key, turns))
    }

    /// The selected item of the Conversation tab, when one is (and belongs to this step).
    pub fn selected_talk_item(&self, key: &StepId, items: &[Item]) -> Option<usize> {
        if self.talk.step.as_ref() != Some(key) {
            return None;
        }
        self.talk.selected.filter(|&i| i < items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentCall, RunId};

    fn agent(entry: AgentEntry) -> Event {
        Event {
            run: RunId("r-1".into()),
            ts: Timestamp(1_000),
            kind: EventKind::Agent {
                step: StepId::from("lead"),
                entry,
            },
        }
    }

    fn turn(calls: Vec<AgentCall>) -> AgentEntry {
        AgentEntry::Turn {
            provider: "anthropic".into(),
            model: "claude".into(),
            text: String::new(),
            calls,
            tokens_in: 10,
            tokens_out: 2,
            cost_usd: None,
        }
    }

    #[test]
    fn a_delegates_entries_are_listed_under_its_delegate_call() {
        let call = AgentCall {
            id: "c1".into(),
            name: "delegate".into(),
            arguments: serde_json::json!({"agent": "researcher", "task": "look"}),
        };
        let inner = AgentCall {
            id: "d1".into(),
            name: "read_file".into(),
            arguments: serde_json::json!({"path": "a"}),
        };
        let nested = |entry: AgentEntry| AgentEntry::Delegated {
            call: "c1".into(),
            agent: "researcher".into(),
            inner: Box::new(entry),
        };
        let events = vec![
            agent(turn(vec![call])),
            agent(AgentEntry::CallStarted { id: "c1".into() }),
            agent(nested(turn(vec![inner]))),
            agent(nested(AgentEntry::CallResult {
                id: "d1".into(),
                content: "text".into(),
                is_error: false,
            })),
            agent(nested(turn(Vec::new()))),
            agent(AgentEntry::CallResult {
                id: "c1".into(),
                content: "found it".into(),
                is_error: false,
            }),
        ];
        let turns = turns(&events, &StepId::from("lead"));
        assert_eq!(turns.len(), 1, "a delegate's turns are not the step's own");
        let call = &turns[0].calls[0];
        assert_eq!(
            call.delegated,
            vec![
                "↳ researcher: asked for read_file",
                "↳ researcher: call d1 done",
                "↳ researcher: answered (anthropic/claude)",
            ]
        );
        assert_eq!(call.result, Some(("found it".into(), false)));
    }
}
