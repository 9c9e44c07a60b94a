//! The tool loop of an agent step: model turn → tool calls → results → next turn, until the
//! model answers without calling a tool, within the step's budgets.
//!
//! Each turn is one routed call on the whole, provider-neutral history, so when the provider
//! that answered the last turn fails, the router may move the conversation to another one
//! (each family's encoder translates the history); a turn is never spliced from two providers.
//!
//! Until the approval gate exists for tool calls, a risky tool (`shell`, `write_file`,
//! `http`) runs only when the step lists it with `approve: false`; otherwise the model is told
//! the call was refused and why, and the loop goes on.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;

use super::call::{AgentError, AgentRequest, AgentResult, judge, millis, system_prompt};
use super::profile::AgentProfile;
use crate::providers::price::{price_of, show_cost};
use crate::providers::{
    ChatRequest, ChatResponse, Message, ResponseFormat, Route, RouteEvent, Router, ToolCall,
};
use crate::spec::{AgentLimits, OutputFormat, ToolUse};
use crate::tools::{Tool, ToolContext, ToolOutput, builtin};

/// Model turns allowed when the step sets no `max_turns`.
pub const DEFAULT_MAX_TURNS: u32 = 20;

/// A tool as this step may use it.
struct Granted {
    tool: Arc<dyn Tool>,
    /// Runs without asking (not risky, or listed with `approve: false`).
    unattended: bool,
}

/// What the loop reports as it goes, besides the router's events.
#[derive(Debug, Clone, PartialEq)]
pub enum ActEvent {
    /// The router's text, notes and restarts for the current turn.
    Route(RouteEvent),
    /// A model turn ended: its figures, for the log.
    Turn(String),
    /// A tool call is about to run, or was refused.
    Call(String),
    /// A tool call ended.
    Result(String),
}

/// Tokens and cost so far.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    tokens_in: u64,
    tokens_out: u64,
    /// None once any turn's price was unknown.
    cost: Option<f64>,
    turns: u32,
    calls: u32,
}

/// Runs `profile` on `req` with `tools`, calling them in `ctx`, streaming into `sink`.
pub async fn act(
    router: &Router,
    profile: &AgentProfile,
    req: AgentRequest,
    tools: &[ToolUse],
    limits: AgentLimits,
    ctx: ToolContext,
    sink: &mut (dyn FnMut(ActEvent) + Send),
) -> Result<AgentResult, AgentError> {
    let started = Instant::now();
    let granted = grant(tools)?;
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
        tools: granted.iter().map(|g| g.tool.definition()).collect(),
    };
    let mut route = Route {
        provider: req.provider.clone().or_else(|| profile.provider.clone()),
        model: req.model.clone().or_else(|| profile.model.clone()),
    };
    let max_turns = limits.max_turns.unwrap_or(DEFAULT_MAX_TURNS);
    let mut spent = Spent {
        cost: Some(0.0),
        ..Spent::default()
    };
    let mut ids: HashSet<String> = HashSet::new();
    loop {
        if spent.turns >= max_turns {
            return Err(AgentError::Budget(format!(
                "reached max_turns ({max_turns}) with a tool call pending: raise max_turns or narrow the prompt"
            )));
        }
        let resp = router
            .chat(&route, &chat, &mut |e| sink(ActEvent::Route(e)))
            .await?;
        account(router, &resp, &mut spent, sink);
        if let Some(cap) = limits.max_tokens_total
            && spent.tokens_in + spent.tokens_out > cap
        {
            return Err(AgentError::Budget(format!(
                "used {} tokens over {} turns, more than max_tokens_total ({cap}): raise max_tokens_total or narrow the prompt",
                spent.tokens_in + spent.tokens_out,
                spent.turns
            )));
        }
        // The next turn goes to whoever answered this one (others stay fallbacks).
        route = Route {
            provider: Some(resp.provider.clone()),
            model: Some(resp.model.clone()),
        };
        if resp.tool_calls.is_empty() {
            match final_answer(&req, &resp) {
                Ok(output) => return Ok(result(resp, output, spent, started)),
                Err(complaint) => {
                    // The repair is one more turn of the same conversation.
                    chat.messages.push(Message::assistant(resp.text.clone()));
                    chat.messages.push(Message::user(complaint));
                    continue;
                }
            }
        }
        let calls = unique_ids(resp.tool_calls.clone(), &mut ids, spent.turns);
        chat.messages
            .push(Message::calls(resp.text.clone(), calls.clone()));
        for call in &calls {
            if let Some(cap) = limits.max_tool_calls
                && spent.calls >= cap
            {
                return Err(AgentError::Budget(format!(
                    "reached max_tool_calls ({cap}) with `{}` pending: raise max_tool_calls or narrow the prompt",
                    call.name
                )));
            }
            spent.calls += 1;
            let out = run_call(&granted, call, &ctx, sink).await;
            if out.cancelled {
                return Err(AgentError::Cancelled);
            }
            chat.messages.push(Message::tool_result(call, out.content));
        }
    }
}

/// The step's tools, or an error naming one baton does not have.
fn grant(tools: &[ToolUse]) -> Result<Vec<Granted>, AgentError> {
    tools
        .iter()
        .map(|t| {
            let tool = builtin(&t.name).ok_or_else(|| {
                AgentError::BadTools(format!("`{}` is not a tool baton has", t.name))
            })?;
            let unattended = !tool.risky() || t.approve == Some(false);
            Ok(Granted { tool, unattended })
        })
        .collect()
}

/// Adds a turn's tokens and cost, and reports them.
fn account(
    router: &Router,
    resp: &ChatResponse,
    spent: &mut Spent,
    sink: &mut (dyn FnMut(ActEvent) + Send),
) {
    spent.turns += 1;
    spent.tokens_in += resp.usage.input_tokens;
    spent.tokens_out += resp.usage.output_tokens;
    let cost = turn_cost(router, resp);
    spent.cost = spent.cost.zip(cost).map(|(a, b)| a + b);
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
}

/// What one answer cost, when its model's price is known.
pub(super) fn turn_cost(router: &Router, resp: &ChatResponse) -> Option<f64> {
    router
        .client(&resp.provider)
        .and_then(|c| price_of(&resp.model, &c.config().prices))
        .map(|p| p.cost(resp.usage))
}

/// The final answer as the step's output, or what to tell the model when it is wrong.
fn final_answer(req: &AgentRequest, resp: &ChatResponse) -> Result<Value, String> {
    if req.output == OutputFormat::Text {
        return Ok(Value::String(resp.text.clone()));
    }
    judge(&resp.text, req).map_err(|(is_json, why)| {
        let complaint = if is_json {
            format!("answer is not valid JSON ({why})")
        } else {
            format!("answer did not match the schema: {why}")
        };
        format!("Your {complaint}. Reply again with only the corrected JSON value.")
    })
}

fn result(resp: ChatResponse, output: Value, spent: Spent, started: Instant) -> AgentResult {
    AgentResult {
        output,
        text: resp.text,
        provider: resp.provider,
        model: resp.model,
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

/// Runs one call, or says why it may not run; the model receives either.
async fn run_call(
    granted: &[Granted],
    call: &ToolCall,
    ctx: &ToolContext,
    sink: &mut (dyn FnMut(ActEvent) + Send),
) -> ToolOutput {
    let shown = format!(
        "{}({})",
        call.name,
        one_line(&call.arguments.to_string(), 200)
    );
    let Some(g) = granted.iter().find(|g| g.tool.name() == call.name) else {
        let offered: Vec<&str> = granted.iter().map(|g| g.tool.name()).collect();
        sink(ActEvent::Call(format!(
            "refused {shown}: not a tool of this step"
        )));
        return ToolOutput::error(format!(
            "there is no tool `{}` here; the tools are: {}",
            call.name,
            offered.join(", ")
        ));
    };
    if !g.unattended {
        sink(ActEvent::Call(format!(
            "refused {shown}: `{}` is risky and needs approval; list it as `{{name: {}, approve: false}}` to let it run unattended",
            call.name, call.name
        )));
        return ToolOutput::error(format!(
            "the call was refused: `{}` needs a person's approval, which this step cannot ask for. \
             Do without it, or say in your answer what you would run and why.",
            call.name
        ));
    }
    sink(ActEvent::Call(format!("calling {shown}")));
    let out = g.tool.call(&call.arguments, ctx).await;
    sink(ActEvent::Result(format!(
        "{} {} ({} bytes to the model)",
        call.name,
        if out.is_error { "failed" } else { "done" },
        out.content.len()
    )));
    out
}

/// The first line of `text`, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
