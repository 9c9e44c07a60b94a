//! One tool call of an agent's turn: asked about when it is risky (or was cut off by baton
//! stopping and could have changed things), run as the operator left it (edited or not), and
//! its result recorded before the model sees it.

use serde_json::Value;

use super::act::{ActEvent, Kit, Sink, record};
use super::approve::{
    CallQuestion, edit_of, edited_note, interrupted as interrupted_note, question, refusal,
    rerun_question,
};
use super::call::AgentError;
use super::replay::{Pending, Spent, edit_call};
use crate::providers::{Message, ToolCall};
use crate::store::{AgentEntry, Decision};
use crate::tools::ToolOutput;

/// One call of the last turn, within `max_tool_calls`: run, refused, or reported interrupted;
/// its result is recorded, then added to `history`, before the loop goes on. When the operator
/// edited the call, `history` shows the call as it ran.
pub(super) async fn call_once(
    kit: &Kit<'_>,
    p: &Pending,
    history: &mut Vec<Message>,
    spent: &mut Spent,
    sink: &mut Sink<'_>,
) -> Result<(), AgentError> {
    if let Some(cap) = kit.limits.max_tool_calls
        && spent.calls >= cap
    {
        return Err(AgentError::Budget(format!(
            "reached max_tool_calls ({cap}) with `{}` pending: raise max_tool_calls or narrow the prompt",
            p.call.name
        )));
    }
    spent.calls += 1;
    let mut call = p.call.clone();
    let out = run_call(kit, &mut call, p.started, spent, sink).await?;
    if out.cancelled {
        return Err(AgentError::Cancelled);
    }
    if call.arguments != p.call.arguments {
        edit_call(history, &call.id, call.arguments.clone());
    }
    let entry = AgentEntry::CallResult {
        id: call.id.clone(),
        content: out.content.clone(),
        is_error: out.is_error,
    };
    record(kit.host, entry).await?;
    history.push(Message::tool_result(&call, out.content));
    Ok(())
}

/// Runs one call, after the operator's approval when it asks first (or when it could have
/// changed things and was `interrupted` by baton stopping), or says why it may not run; the
/// model receives either. An operator's edit of the arguments is recorded and applied to
/// `call` before it runs; its start is recorded before it runs.
async fn run_call(
    kit: &Kit<'_>,
    call: &mut ToolCall,
    interrupted: bool,
    spent: &mut Spent,
    sink: &mut Sink<'_>,
) -> Result<ToolOutput, AgentError> {
    let Some(g) = kit.tools.iter().find(|g| g.tool.wire_name() == call.name) else {
        let offered: Vec<String> = kit.tools.iter().map(|g| g.tool.wire_name()).collect();
        sink(ActEvent::Call(format!(
            "refused {}: not a tool of this step",
            shown(call)
        )));
        return Ok(ToolOutput::error(format!(
            "there is no tool `{}` here; the tools are: {}",
            call.name,
            offered.join(", ")
        )));
    };
    // A call that could have changed things is never run twice without a person knowing.
    let rerun = interrupted && g.tool.risky(&call.arguments);
    let mut note = String::new();
    if rerun || g.asks(&call.arguments) {
        let q = if rerun {
            rerun_question(g.tool.as_ref(), call)
        } else {
            question(g.tool.as_ref(), call)
        };
        let (decision, edit) = decide(kit, q, call, sink).await?;
        if !decision.approved {
            sink(ActEvent::Call(format!(
                "{} {}; the model is told",
                shown(call),
                decision.summary()
            )));
            return Ok(ToolOutput::error(if rerun {
                interrupted_note(&call.name, &decision)
            } else {
                refusal(&decision)
            }));
        }
        if let Some(arguments) = edit {
            sink(ActEvent::Call(format!(
                "{} edited by {} before it ran",
                shown(call),
                decision.by
            )));
            let entry = AgentEntry::CallEdited {
                id: call.id.clone(),
                arguments: arguments.clone(),
                by: decision.by.clone(),
            };
            record(kit.host, entry).await?;
            call.arguments = arguments;
            note = edited_note(&decision.by, call);
        }
    }
    record(
        kit.host,
        AgentEntry::CallStarted {
            id: call.id.clone(),
        },
    )
    .await?;
    sink(ActEvent::Call(format!("calling {}", shown(call))));
    let mut out = match kit.team {
        Some(team) if g.tool.name() == super::delegate::NAME => {
            super::delegate::run(kit, team, call, spent, sink).await?
        }
        _ => g.tool.call(&call.arguments, &kit.ctx).await,
    };
    sink(ActEvent::Result(format!(
        "{} {} ({} bytes to the model)",
        call.name,
        if out.is_error { "failed" } else { "done" },
        out.content.len()
    )));
    out.content.insert_str(0, &note);
    Ok(out)
}

/// Asks the operator about `call` and waits for a decision; approved arguments that do not
/// read as a JSON object are asked about again, saying what is wrong with them. Returns the
/// decision and the edited arguments, when the operator changed them.
async fn decide(
    kit: &Kit<'_>,
    mut q: CallQuestion,
    call: &ToolCall,
    sink: &mut Sink<'_>,
) -> Result<(Decision, Option<Value>), AgentError> {
    let asked = q.prompt.clone();
    loop {
        sink(ActEvent::Call(format!(
            "waiting for an operator to approve {}",
            shown(call)
        )));
        let decision = kit.host.ask(q.clone()).await.ok_or(AgentError::Cancelled)?;
        if !decision.approved {
            return Ok((decision, None));
        }
        match edit_of(&decision, call) {
            Ok(edit) => return Ok((decision, edit)),
            Err(why) => {
                sink(ActEvent::Call(format!("{why}; asking again")));
                q.prompt = format!("{why}\n\n{asked}");
            }
        }
    }
}

/// A call in one line, for the log.
fn shown(call: &ToolCall) -> String {
    format!(
        "{}({})",
        call.name,
        one_line(&call.arguments.to_string(), 200)
    )
}

/// The first line of `text`, at most `max` characters.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(max).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
