//! `delegate`: an agent hands a subtask to another profile, one its own profile lists under
//! `delegates_to:`. The subtask runs as a nested conversation with that profile's own tools,
//! gates and budgets; each of its turns and calls is journaled inside the step's conversation
//! ([`AgentEntry::Delegated`], under the `delegate` call's id) before it goes on, so a resumed
//! step continues a delegation that was under way, and a delegation whose result was recorded
//! is never run again (it is a call like any other). Its answer is the call's result.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::act::{ActEvent, Kit, Sink, act};
use super::approve::{CallQuestion, Granted};
use super::call::{AgentError, AgentRequest};
use super::host::{ActHost, HostFuture};
use super::profile::{AgentCatalog, AgentProfile};
use super::replay::Spent;
use crate::providers::price::show_cost;
use crate::providers::{Router, ToolCall};
use crate::store::{AgentEntry, Decision};
use crate::tools::{Tool, ToolContext, ToolFuture, ToolOutput, bound_head};

/// The tool's name.
pub const NAME: &str = "delegate";

/// How deep delegations may nest (an agent asking an agent asking an agent).
pub const MAX_DEPTH: u32 = 3;

/// Opens the tools a profile's conversation may call (its `tools:`, with `delegate` when it
/// lists `delegates_to:`); the engine's agent step implements it. The tools keep the MCP
/// servers they need connected until they are dropped.
pub trait Toolbox: Send + Sync {
    /// `profile`'s tools, with when each asks first.
    fn open<'a>(
        &'a self,
        profile: &'a AgentProfile,
    ) -> HostFuture<'a, Result<Vec<Granted>, String>>;
}

/// What a loop needs to hand subtasks to other profiles.
#[derive(Clone, Copy)]
pub struct Team<'a> {
    /// The router every nested conversation uses.
    pub router: &'a Router,
    /// The profiles, the workflow's own included.
    pub catalog: &'a AgentCatalog,
    /// Opens a delegate's tools.
    pub toolbox: &'a dyn Toolbox,
    /// Whom this loop's profile may ask (its `delegates_to:`).
    pub allowed: &'a [String],
    /// How deep this loop is (0: the step's own).
    pub depth: u32,
}

/// The `delegate` tool as the model sees it: whom it may ask, and what about.
pub struct Delegate {
    description: String,
    allowed: Vec<String>,
}

impl Delegate {
    /// The tool for a profile that may ask `allowed` (described from `catalog`).
    pub fn new(allowed: &[String], catalog: &AgentCatalog) -> Delegate {
        let who: Vec<String> = allowed
            .iter()
            .map(
                |name| match catalog.get(name).ok().and_then(|p| p.description.clone()) {
                    Some(d) => format!("`{name}` ({d})"),
                    None => format!("`{name}`"),
                },
            )
            .collect();
        Delegate {
            description: format!(
                "Hand a self-contained subtask to another agent, who works on it with its own \
                 tools and answers; its answer is this call's result. Say everything it needs \
                 in `task`: it sees nothing else. You may ask: {}.",
                who.join(", ")
            ),
            allowed: allowed.to_vec(),
        }
    }
}

impl Tool for Delegate {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "agent": {"type": "string", "enum": self.allowed, "description": "Who does it"},
                "task": {"type": "string", "description": "The subtask, with everything needed"}
            },
            "required": ["agent", "task"]
        })
    }

    fn risky(&self, _args: &Value) -> bool {
        // The delegate's own risky calls ask at their own gates.
        false
    }

    fn describe(&self, args: &Value) -> String {
        format!(
            "delegate to {}: {}",
            args["agent"].as_str().unwrap_or("?"),
            crate::tools::preview(args["task"].as_str().unwrap_or(""))
        )
    }

    fn call<'a>(&'a self, _args: &'a Value, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        // Only an agent's loop can run a conversation (see [`run`]); the loop never comes here.
        Box::pin(async { ToolOutput::error("`delegate` runs only inside an agent's tool loop") })
    }
}

/// Runs a `delegate` call of the loop `kit` belongs to: the named profile's conversation on
/// the task, nested in this step's journal. A wrong agent or a delegate that cannot finish is
/// told to the model; a journal that cannot be written fails the step. What the delegate's
/// turns cost (finished or not) is added to `spent`.
pub fn run<'a>(
    kit: &'a Kit<'a>,
    team: Team<'a>,
    call: &'a ToolCall,
    spent: &'a mut Spent,
    sink: &'a mut Sink<'_>,
) -> Pin<Box<dyn Future<Output = Result<ToolOutput, AgentError>> + Send + 'a>> {
    Box::pin(async move {
        let (profile, task) = match subtask(team, &call.arguments) {
            Ok(found) => found,
            Err(why) => return Ok(ToolOutput::error(why)),
        };
        let tools = match team.toolbox.open(profile).await {
            Ok(t) => t,
            Err(e) => {
                return Ok(ToolOutput::error(format!(
                    "the `{}` agent's tools cannot be used: {e}",
                    profile.name
                )));
            }
        };
        let host = Nested {
            parent: kit.host,
            call: call.id.clone(),
            agent: profile.name.clone(),
            spent: Mutex::new(Spent {
                cost: Some(0.0),
                ..Spent::default()
            }),
        };
        let nested = Kit {
            tools,
            limits: profile.limits,
            ctx: kit.ctx.clone(),
            host: &host,
            team: Some(Team {
                allowed: &profile.delegates_to,
                depth: team.depth + 1,
                ..team
            }),
        };
        let agent = profile.name.clone();
        sink(ActEvent::Call(format!(
            "delegating to {agent}: {}",
            super::tool_call::one_line(&task, 160)
        )));
        let mut inner = |e: ActEvent| sink(nest(&agent, e));
        let req = AgentRequest {
            prompt: task,
            ..AgentRequest::default()
        };
        let answer = act(team.router, profile, req, nested, &mut inner).await;
        if let Ok(used) = host.spent.lock() {
            spent.add_usage(&used);
        }
        match answer {
            Ok(a) => {
                let note = format!(
                    "[{agent} answered over {} turn(s) and {} tool call(s), {} → {} tokens, cost {}]\n",
                    a.calls,
                    a.tool_calls,
                    a.tokens_in,
                    a.tokens_out,
                    show_cost(a.cost_usd)
                );
                Ok(ToolOutput::ok(bound_head(
                    &format!("{note}{}", a.text),
                    kit.ctx.limit,
                )))
            }
            Err(e @ (AgentError::Cancelled | AgentError::Journal(_))) => Err(e),
            Err(e) => Ok(ToolOutput::error(format!(
                "the `{agent}` agent could not finish the subtask: {e}"
            ))),
        }
    })
}

/// The profile and task a call names, or what to tell the model.
fn subtask<'t>(team: Team<'t>, args: &Value) -> Result<(&'t AgentProfile, String), String> {
    let allowed = team.allowed;
    let agent = args["agent"].as_str().unwrap_or_default();
    let task = args["task"].as_str().unwrap_or_default().trim();
    if !allowed.iter().any(|a| a == agent) {
        return Err(format!(
            "you may not delegate to `{agent}`; you may ask: {}",
            allowed.join(", ")
        ));
    }
    if task.is_empty() {
        return Err("`delegate` needs a `task`: say what to do and everything it needs".into());
    }
    if team.depth >= MAX_DEPTH {
        return Err(format!(
            "delegations nest at most {MAX_DEPTH} deep; do this part yourself"
        ));
    }
    let profile = team.catalog.get(agent)?;
    Ok((profile, task.to_string()))
}

/// A nested event, marked with the delegate's name (its streamed text goes as it is).
fn nest(agent: &str, e: ActEvent) -> ActEvent {
    match e {
        ActEvent::Turn(n) => ActEvent::Turn(format!("  ↳ {agent}: {n}")),
        ActEvent::Call(n) => ActEvent::Call(format!("  ↳ {agent}: {n}")),
        ActEvent::Result(n) => ActEvent::Result(format!("  ↳ {agent}: {n}")),
        route => route,
    }
}

/// The step's run as a delegate's loop sees it: its entries are the step's, wrapped under the
/// `delegate` call; its questions are the step's gates, saying who asks.
struct Nested<'p> {
    parent: &'p dyn ActHost,
    call: String,
    agent: String,
    /// What the turns it recorded cost (those of deeper delegations included).
    spent: Mutex<Spent>,
}

impl ActHost for Nested<'_> {
    fn recorded(&self) -> Result<Vec<AgentEntry>, String> {
        Ok(self
            .parent
            .recorded()?
            .into_iter()
            .filter_map(|e| match e {
                AgentEntry::Delegated { call, inner, .. } if call == self.call => Some(*inner),
                _ => None,
            })
            .collect())
    }

    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>> {
        let entry = AgentEntry::Delegated {
            call: self.call.clone(),
            agent: self.agent.clone(),
            inner: Box::new(entry),
        };
        if let Ok(mut spent) = self.spent.lock() {
            spent.add_delegated(&entry);
        }
        self.parent.record(entry)
    }

    fn ask(&self, mut question: CallQuestion) -> HostFuture<'_, Option<Decision>> {
        question.prompt = format!("[delegated to `{}`] {}", self.agent, question.prompt);
        self.parent.ask(question)
    }
}

/// The `delegate` tool for `profile`, when it lists anyone under `delegates_to:`.
pub fn tool_for(profile: &AgentProfile, catalog: &AgentCatalog) -> Option<Arc<dyn Tool>> {
    (!profile.delegates_to.is_empty())
        .then(|| Arc::new(Delegate::new(&profile.delegates_to, catalog)) as Arc<dyn Tool>)
}
