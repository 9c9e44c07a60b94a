//! The tool loop of an agent step: model turn → tool calls → results → next turn, until the
//! model answers without calling a tool, within the step's budgets.
//!
//! Each turn is one routed call on the whole, provider-neutral history, so when the provider
//! that answered the last turn fails, the router may move the conversation to another one
//! (each family's encoder translates the history); a turn is never spliced from two providers.
//!
//! Every turn, every call's start and every result is made durable through the [`ActHost`]
//! before the loop goes on, and the loop begins from what was recorded: after a crash it
//! continues the conversation. A call whose result was recorded is not run again; one that
//! began without a recorded result runs again if it only reads, and otherwise waits for the
//! operator (rejected, the model is told it was interrupted). Risky calls wait for an
//! operator's decision (see [`super::approve`]), who may edit their arguments; a rejected call
//! is reported to the model, which goes on.

use std::collections::HashSet;

use serde_json::Value;
use tokio::time::Instant;

use super::approve::Granted;
use super::call::{AgentError, AgentRequest, AgentResult, judge, millis, system_prompt};
use super::host::ActHost;
use super::profile::AgentProfile;
use super::replay::{LastAnswer, Pending, Replayed, Spent, stored};
use super::tool_call::call_once;
use crate::providers::price::{price_of, show_cost};
use crate::providers::{
    ChatRequest, ChatResponse, Message, ResponseFormat, Route, RouteEvent, Router, ToolCall,
};
use crate::spec::{AgentLimits, OutputFormat};
use crate::store::AgentEntry;
use crate::tools::ToolContext;

/// Model turns allowed when the step sets no `max_turns`.
pub const DEFAULT_MAX_TURNS: u32 = 20;

/// What the loop reports as it goes, besides the router's events.
#[derive(Debug, Clone, PartialEq)]
pub enum ActEvent {
    /// The router's text, notes and restarts for the current turn.
    Route(RouteEvent),
    /// A model turn ended: its figures, for the log.
    Turn(String),
    /// A tool call is about to run, waits for approval, or was refused.
    Call(String),
    /// A tool call ended.
    Result(String),
}

/// What the loop works with besides the model: the step's tools, budgets, where the tools
/// run, and the run around it.
pub struct Kit<'a> {
    /// The tools the step may call, with when each asks first.
    pub tools: Vec<Granted>,
    /// The loop's budgets.
    pub limits: AgentLimits,
    /// Where the tools run.
    pub ctx: ToolContext,
    /// Approvals and the journal.
    pub host: &'a dyn ActHost,
    /// Other profiles the loop may hand subtasks to (`delegate`), and how to run them.
    pub team: Option<super::delegate::Team<'a>>,
}

pub(super) type Sink<'s> = dyn FnMut(ActEvent) + Send + 's;

/// Runs `profile` on `req` with the kit's tools, streaming into `sink`.
pub async fn act(
    router: &Router,
    profile: &AgentProfile,
    req: AgentRequest,
    kit: Kit<'_>,
    sink: &mut Sink<'_>,
) -> Result<AgentResult, AgentError> {
    let started = Instant::now();
    let recorded = kit.host.recorded().map_err(AgentError::Journal)?;
    let resumed = !recorded.is_empty();
    let mut convo = Replayed::new(recorded, &|text| final_answer(&req, text).err());
    if resumed {
        sink(ActEvent::Turn(format!(
            "continuing the conversation recorded before: {} turn(s), {} call(s)",
            convo.spent.turns, convo.spent.calls
        )));
    }
    let mut chat = ChatRequest {
        system: Some(system_prompt(profile, &req)),
        messages: vec![Message::user(req.prompt.clone())],
        model: None,
        temperature: req.temperature.or(profile.temperature),
        max_tokens: req.max_tokens.or(profile.max_tokens),
        stop: Vec::new(),
        // JSON is asked for in the system prompt and checked on the final answer: some
        // families refuse a JSON response mode together with function calling.
        format: ResponseFormat::Text,
        stream: true,
        tools: kit.tools.iter().map(|g| g.tool.definition()).collect(),
    };
    chat.messages.append(&mut convo.messages);
    let mut route = match convo.last_route.take() {
        // The next turn goes to whoever answered the last one (others stay fallbacks).
        Some((provider, model)) => Route {
            provider: Some(provider),
            model: Some(model),
        },
        None => Route {
            provider: req.provider.clone().or_else(|| profile.provider.clone()),
            model: req.model.clone().or_else(|| profile.model.clone()),
        },
    };
    if let Some(last) = convo.last_answer.take() {
        match final_answer(&req, &last.text) {
            Ok(output) => return Ok(result(last, output, convo.spent, started)),
            Err(complaint) => {
                chat.messages.push(Message::assistant(last.text));
                chat.messages.push(Message::user(complaint));
            }
        }
    }
    let max_turns = kit.limits.max_turns.unwrap_or(DEFAULT_MAX_TURNS);
    let mut pending = std::mem::take(&mut convo.pending);
    loop {
        for p in std::mem::take(&mut pending) {
            call_once(&kit, &p, &mut chat.messages, &mut convo.spent, sink).await?;
        }
        if convo.spent.turns >= max_turns {
            return Err(AgentError::Budget(format!(
                "reached max_turns ({max_turns}) with a tool call pending: raise max_turns or narrow the prompt"
            )));
        }
        let mut resp = router
            .chat(&route, &chat, &mut |e| sink(ActEvent::Route(e)))
            .await?;
        let cost = account(router, &resp, &mut convo.spent, sink);
        resp.tool_calls = unique_ids(
            std::mem::take(&mut resp.tool_calls),
            &mut convo.ids,
            convo.spent.turns,
        );
        record(kit.host, turn_entry(&resp, cost)).await?;
        if let Some(cap) = kit.limits.max_tokens_total
            && convo.spent.tokens_in + convo.spent.tokens_out > cap
        {
            return Err(AgentError::Budget(format!(
                "used {} tokens over {} turns, more than max_tokens_total ({cap}): raise max_tokens_total or narrow the prompt",
                convo.spent.tokens_in + convo.spent.tokens_out,
                convo.spent.turns
            )));
        }
        route = Route {
            provider: Some(resp.provider.clone()),
            model: Some(resp.model.clone()),
        };
        if resp.tool_calls.is_empty() {
            match final_answer(&req, &resp.text) {
                Ok(output) => return Ok(result(answer_of(resp), output, convo.spent, started)),
                Err(complaint) => {
                    // The repair is one more turn of the same conversation.
                    chat.messages.push(Message::assistant(resp.text.clone()));
                    chat.messages.push(Message::user(complaint));
                    continue;
                }
            }
        }
        chat.messages
            .push(Message::calls(resp.text.clone(), resp.tool_calls.clone()));
        pending = resp
            .tool_calls
            .into_iter()
            .map(|call| Pending {
                call,
                started: false,
            })
            .collect();
    }
}

/// Makes an entry durable, or fails the step saying why.
pub(super) async fn record(host: &dyn ActHost, entry: AgentEntry) -> Result<(), AgentError> {
    host.record(entry).await.map_err(AgentError::Journal)
}

fn turn_entry(resp: &ChatResponse, cost: Option<f64>) -> AgentEntry {
    AgentEntry::Turn {
        provider: resp.provider.clone(),
        model: resp.model.clone(),
        text: resp.text.clone(),
        calls: resp.tool_calls.iter().map(stored).collect(),
        tokens_in: resp.usage.input_tokens,
        tokens_out: resp.usage.output_tokens,
        cost_usd: cost,
    }
}

fn answer_of(resp: ChatResponse) -> LastAnswer {
    LastAnswer {
        provider: resp.provider,
        model: resp.model,
        text: resp.text,
    }
}

/// Adds a turn's tokens and cost, and reports them.
fn account(
    router: &Router,
    resp: &ChatResponse,
    spent: &mut Spent,
    sink: &mut Sink<'_>,
) -> Option<f64> {
    spent.turns += 1;
    let cost = turn_cost(router, resp);
    spent.add(resp.usage.input_tokens, resp.usage.output_tokens, cost);
    sink(ActEvent::Turn(format!(
        "turn {}: {}/{}, {} → {} tokens, cost {}; {} tool call(s) asked",
        spent.turns,
        resp.provider,
        resp.model,
        resp.usage.input_tokens,
        resp.usage.output_tokens,
        show_cost(cost),
        resp.tool_calls.len()
    )));
    cost
}

/// What one answer cost, when its model's price is known.
pub(super) fn turn_cost(router: &Router, resp: &ChatResponse) -> Option<f64> {
    router
        .client(&resp.provider)
        .and_then(|c| price_of(&resp.model, &c.config().prices))
        .map(|p| p.cost(resp.usage))
}

/// The final answer as the step's output, or what to tell the model when it is wrong.
fn final_answer(req: &AgentRequest, text: &str) -> Result<Value, String> {
    if req.output == OutputFormat::Text {
        return Ok(Value::String(text.to_string()));
    }
    judge(text, req).map_err(|(is_json, why)| {
        let complaint = if is_json {
            format!("answer is not valid JSON ({why})")
        } else {
            format!("answer did not match the schema: {why}")
        };
        format!("Your {complaint}. Reply again with only the corrected JSON value.")
    })
}

fn result(last: LastAnswer, output: Value, spent: Spent, started: Instant) -> AgentResult {
    AgentResult {
        output,
        text: last.text,
        provider: last.provider,
        model: last.model,
        tokens_in: spent.tokens_in,
        tokens_out: spent.tokens_out,
        latency_ms: millis(started.elapsed()),
        calls: spent.turns,
        tool_calls: spent.calls,
        cost_usd: spent.cost,
    }
}

/// Call ids made unique over the conversation (families without ids number calls per turn).
fn unique_ids(calls: Vec<ToolCall>, seen: &mut HashSet<String>, turn: u32) -> Vec<ToolCall> {
    calls
        .into_iter()
        .map(|mut c| {
            if c.id.is_empty() || seen.contains(&c.id) {
                c.id = format!("{}_t{turn}", if c.id.is_empty() { "call" } else { &c.id });
            }
            seen.insert(c.id.clone());
            c
        })
        .collect()
}
