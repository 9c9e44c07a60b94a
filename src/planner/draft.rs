//! Drafting: a request becomes a workflow through one routed LLM call with structured output
//! (`{"yaml": ..., "summary": ...}`), checked as `baton validate` checks a file; a draft with
//! problems goes back to the model with them, a bounded number of times, and one still
//! invalid after that is returned with its problems (never replaced by anything else).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::check::{Checked, Checker};
use super::context::Catalogue;
use super::gates;
use crate::providers::{
    ChatRequest, Message, ResponseFormat, Route, RouteError, RouteEvent, Router,
};
use crate::spec::{Diagnostic, Templates, Workflow};

/// Repair rounds when the caller says nothing.
pub const DEFAULT_ROUNDS: u32 = 2;

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// What the operator asked for, in plain language.
    pub request: String,
    /// Write gates on steps that change things (see [`gates`]); `false` only when the operator
    /// says so.
    pub gates: bool,
    /// Times an invalid draft goes back to the model with its problems.
    pub rounds: u32,
    /// Provider tried first.
    pub provider: Option<String>,
    /// Model for that provider.
    pub model: Option<String>,
    /// A draft to revise (the request is then a follow-up instruction about it).
    pub revise: Option<String>,
    /// The name the draft's diagnostics carry (its future file).
    pub origin: PathBuf,
    /// A repair: the draft may change this step of `revise` and nothing else.
    pub only_step: Option<crate::spec::StepId>,
}

impl PlanRequest {
    /// A request with the defaults: gates on, two repair rounds, any provider.
    pub fn new(request: impl Into<String>) -> PlanRequest {
        PlanRequest {
            request: request.into(),
            gates: true,
            rounds: DEFAULT_ROUNDS,
            provider: None,
            model: None,
            revise: None,
            origin: PathBuf::from("plan.yaml"),
            only_step: None,
        }
    }
}

/// The model's last draft and what is wrong with it.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The workflow text (with the gates written in when it is valid).
    pub yaml: String,
    /// The model's one-paragraph account of the plan.
    pub summary: String,
    /// The workflow when the draft is valid.
    pub workflow: Option<Workflow>,
    /// Every problem left (empty: valid).
    pub problems: Vec<Diagnostic>,
    /// The provider that wrote it.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Calls made (1 + repair rounds used).
    pub calls: u32,
}

impl Draft {
    /// No problem left.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty() && self.workflow.is_some()
    }
}

/// The answer shape the model is held to.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "required": ["yaml", "summary"],
        "additionalProperties": false,
        "properties": {
            "yaml": { "type": "string", "description": "The whole workflow file, YAML" },
            "summary": { "type": "string", "description": "What the plan does, in one paragraph" },
        },
    })
}

/// The system prompt: the task, the rules, the language and what this machine has.
pub fn system_prompt(catalogue: &Catalogue, req: &PlanRequest) -> String {
    let gates = if req.gates {
        "Every `run` step and every `http` step that is not a GET gets `approve: true` (a \
         person approves it before it runs); never set `approve: false` on an agent step or \
         on a tool."
    } else {
        "The operator allows steps to run without approval gates."
    };
    format!(
        "You plan workflows for baton, a workflow engine operators run on their servers. Turn \
         the operator's request into one baton workflow file. Use only the step kinds, keys, \
         agents, tools and MCP servers described below; prefer an agent step with tools when \
         the task needs judgement, and `run` steps for plain commands. Give the workflow a \
         short `name:` and a `description:`. {gates}\nAnswer with a JSON object \
         {{\"yaml\": the whole workflow file, \"summary\": what it does}} and nothing else.\n\n\
         {}\n{}",
        super::reference::language_reference(),
        catalogue.describe()
    )
}

fn first_message(req: &PlanRequest) -> String {
    match &req.revise {
        Some(previous) => format!(
            "Here is the current draft:\n```yaml\n{previous}\n```\nRevise it: {}",
            req.request
        ),
        None => format!("Request: {}", req.request),
    }
}

/// The message that sends a draft's problems back.
pub fn repair_message(problems: &[Diagnostic]) -> String {
    let listed: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
    format!(
        "The workflow is not valid; `baton validate` reports:\n\n{}\nFix every problem and \
         answer again with the whole corrected workflow, in the same JSON shape.",
        listed.join("\n")
    )
}

/// Drafts a workflow for `req`; text as it streams and the router's notes go to `sink`.
/// `Err` only when no provider answered at all.
pub async fn plan(
    router: &Router,
    checker: &Checker,
    catalogue: &Catalogue,
    req: &PlanRequest,
    sink: &mut (dyn FnMut(RouteEvent) + Send),
) -> Result<Draft, RouteError> {
    let templates = Templates::new();
    let mut chat = ChatRequest {
        system: Some(system_prompt(catalogue, req)),
        messages: vec![Message::user(first_message(req))],
        format: ResponseFormat::JsonSchema(answer_schema()),
        stream: true,
        ..ChatRequest::default()
    };
    let mut route = Route {
        provider: req.provider.clone(),
        model: req.model.clone(),
    };
    let mut calls = 0;
    loop {
        let answer = router.chat(&route, &chat, sink).await?;
        calls += 1;
        let draft = judge(&answer.text, req, checker, &templates);
        let done = draft.is_valid() || calls > req.rounds;
        if done {
            return Ok(Draft {
                provider: answer.provider,
                model: answer.model,
                calls,
                ..draft
            });
        }
        let note = format!(
            "the draft has {} problem(s); asking {} again ({} of {} repair rounds)",
            draft.problems.len(),
            answer.provider,
            calls,
            req.rounds
        );
        sink(RouteEvent::Note(note));
        chat.messages.push(Message::assistant(answer.text.clone()));
        chat.messages
            .push(Message::user(repair_message(&draft.problems)));
        // The repair goes to the model that wrote the draft.
        route = Route {
            provider: Some(answer.provider.clone()),
            model: Some(answer.model.clone()),
        };
    }
}

/// The draft in an answer, checked; provider and model are filled in by the caller.
fn judge(text: &str, req: &PlanRequest, checker: &Checker, templates: &Templates) -> Draft {
    let file = req.origin.display().to_string();
    let (yaml, summary) = match read_answer(text) {
        Ok(parts) => parts,
        Err(why) => {
            return Draft {
                yaml: text.to_string(),
                summary: String::new(),
                workflow: None,
                problems: vec![Diagnostic::whole_file(&file, why).with_hint(
                    "answer with a JSON object {\"yaml\": \"...\", \"summary\": \"...\"}",
                )],
                provider: String::new(),
                model: String::new(),
                calls: 0,
            };
        }
    };
    let (yaml, checked) = check_plan(&yaml, req, checker, templates);
    Draft {
        yaml,
        summary,
        workflow: checked.workflow,
        problems: checked.problems,
        provider: String::new(),
        model: String::new(),
        calls: 0,
    }
}

/// Checks a plan's text as `baton validate` does, plus the gate rule when `req.gates`; a
/// valid text comes back with its gates written in. The console's editor checks edits with it.
pub fn check_plan(
    yaml: &str,
    req: &PlanRequest,
    checker: &Checker,
    templates: &Templates,
) -> (String, Checked) {
    let mut checked = checker.check_text(yaml, &req.origin, templates);
    if let (Some(step), Some(new)) = (&req.only_step, &checked.workflow) {
        let file = req.origin.display().to_string();
        if let Some(problem) = repair_problem(req, step, new, templates) {
            checked.problems.push(Diagnostic::whole_file(file, problem));
        }
    }
    let Some(wf) = checked.workflow.as_ref().filter(|_| req.gates) else {
        return (yaml.to_string(), checked);
    };
    let gated = gates::add_gates(yaml, wf);
    if gated != yaml {
        let again = checker.check_text(&gated, &req.origin, templates);
        if !again.is_valid() {
            // Never hand back a text the gates broke: report the model's own text instead.
            return (yaml.to_string(), checked);
        }
        checked = again;
    }
    if let Some(wf) = &checked.workflow {
        let file = req.origin.display().to_string();
        checked
            .problems
            .extend(gates::ungated_tools(wf, &file, &gated));
    }
    (gated, checked)
}

/// What is wrong with a repair proposal as a repair: it changes nothing, or more than its step.
fn repair_problem(
    req: &PlanRequest,
    step: &crate::spec::StepId,
    new: &Workflow,
    templates: &Templates,
) -> Option<String> {
    let original = req.revise.as_deref()?;
    let old = crate::spec::parse_with(original, &req.origin, templates).ok()?;
    if let Err(e) = crate::engine::repair::only_step_changed(&old, new, step) {
        return Some(e.to_string());
    }
    let same = |wf: &Workflow| {
        wf.steps
            .iter()
            .find(|s| &s.id == step)
            .map(|s| crate::spec::Step {
                pos: Default::default(),
                ..s.clone()
            })
    };
    (same(&old) == same(new)).then(|| format!("the proposal leaves step `{step}` as it was"))
}

/// The YAML and summary of an answer: the asked-for JSON object, or (from a model that
/// ignored the format) a fenced YAML block.
fn read_answer(text: &str) -> Result<(String, String), String> {
    if let Ok(value) = crate::agents::parse_json_answer(text) {
        if let Some(yaml) = value.get("yaml").and_then(Value::as_str) {
            let summary = value.get("summary").and_then(Value::as_str).unwrap_or("");
            return Ok((yaml.to_string(), summary.to_string()));
        }
        return Err("the answer is JSON without a `yaml` text field".into());
    }
    let fenced = text
        .split_once("```yaml")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(yaml, _)| yaml.trim_start_matches('\n').to_string());
    fenced.map(|yaml| (yaml, String::new())).ok_or_else(|| {
        "the answer holds no workflow (neither the JSON object asked for nor a YAML block)".into()
    })
}
