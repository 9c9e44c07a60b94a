//! Which of an agent step's tool calls ask a person first, and what that person is shown.
//!
//! A call is risky by default when it can change things: `shell`, `write_file`, `http` with a
//! method other than GET/HEAD, and an MCP tool its server does not mark read-only. The
//! workflow overrides that per tool (`{name: shell, approve: false}` trusts it,
//! `approve: true` asks for every call) or for the whole step (`approve: false` on the step
//! trusts all its tools; `approve: [shell]` asks for exactly the listed ones).

use std::sync::Arc;

use serde_json::Value;

use crate::providers::ToolCall;
use crate::spec::{CallApproval, ToolUse};
use crate::store::Decision;
use crate::tools::Tool;

/// When calls to a tool ask first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Every call.
    Always,
    /// No call.
    Never,
    /// Calls the tool calls risky (see [`Tool::risky`]).
    WhenRisky,
}

/// A tool as this step may use it.
pub struct Granted {
    /// The tool.
    pub tool: Arc<dyn Tool>,
    /// When its calls ask first.
    pub ask: Ask,
}

impl Granted {
    /// `tool` as the step's entry `entry` and the step's own `approve:` allow it.
    pub fn new(tool: Arc<dyn Tool>, entry: &ToolUse, step: &CallApproval) -> Granted {
        let ask = match (entry.approve, step) {
            (Some(true), _) => Ask::Always,
            (Some(false), _) | (None, CallApproval::Trust) => Ask::Never,
            (None, CallApproval::Only(names)) if names.contains(&entry.name) => Ask::Always,
            (None, CallApproval::Only(_)) => Ask::Never,
            (None, CallApproval::Default) => Ask::WhenRisky,
        };
        Granted { tool, ask }
    }

    /// Whether this call waits for a person.
    pub fn asks(&self, args: &Value) -> bool {
        match self.ask {
            Ask::Always => true,
            Ask::Never => false,
            Ask::WhenRisky => self.tool.risky(args),
        }
    }
}

/// Resolves a `tools:` name to the tools it stands for, or says why it cannot.
pub type FindTools<'a> = dyn Fn(&str) -> Result<Vec<Arc<dyn Tool>>, String> + 'a;

/// The step's `tools:` as granted: each name resolved by `find` (a name may stand for several
/// tools, as `calendar.*` does), with when its calls ask first. An unknown name is an error
/// naming it.
pub fn grant(
    tools: &[ToolUse],
    step: &CallApproval,
    find: &FindTools<'_>,
) -> Result<Vec<Granted>, String> {
    let mut out: Vec<Granted> = Vec::new();
    for entry in tools {
        for tool in find(&entry.name)? {
            if out.iter().all(|g| g.tool.name() != tool.name()) {
                out.push(Granted::new(tool, entry, step));
            }
        }
    }
    Ok(out)
}

/// What the operator is asked about one call: the question, exactly what will run, and the
/// arguments they may edit before it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CallQuestion {
    /// The question.
    pub prompt: String,
    /// The call as it will run: the command line, the file and its content, the request.
    pub action: String,
    /// The tool's name.
    pub tool: String,
    /// The call's arguments as pretty JSON: the operator may edit them, and the edited call is
    /// the one that runs (see [`edited_arguments`]).
    pub arguments: String,
}

/// The name of the gate input that holds a tool call's editable arguments.
pub const ARGUMENTS_INPUT: &str = "arguments";

/// The question for `call` to `tool`.
pub fn question(tool: &dyn Tool, call: &ToolCall) -> CallQuestion {
    ask_about(
        tool,
        call,
        format!(
            "The agent wants to call `{}`. Allow this call? (rejecting tells the agent, which goes on)",
            tool.name()
        ),
    )
}

/// The question for a call to `tool` that was running when baton stopped: it could have
/// changed things, so it runs again only if the operator says so.
pub fn rerun_question(tool: &dyn Tool, call: &ToolCall) -> CallQuestion {
    ask_about(
        tool,
        call,
        format!(
            "This `{}` call was running when baton stopped: it may or may not have taken \
             effect. Run it again? (rejecting tells the agent it was interrupted)",
            tool.name()
        ),
    )
}

fn ask_about(tool: &dyn Tool, call: &ToolCall, prompt: String) -> CallQuestion {
    CallQuestion {
        prompt,
        action: tool.describe(&call.arguments),
        tool: tool.name().to_string(),
        arguments: serde_json::to_string_pretty(&call.arguments)
            .unwrap_or_else(|_| call.arguments.to_string()),
    }
}

/// A call's arguments as an operator edited them: a JSON object, or what is wrong with the
/// text (with its line and column) and what to do.
pub fn edited_arguments(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(format!(
            "the edited arguments must be a JSON object (`{{...}}`), not {}; correct them and \
             decide again",
            kind_of(&other)
        )),
        Err(e) => Err(format!(
            "the edited arguments are not valid JSON (line {}, column {}: {e}); correct them \
             and decide again",
            e.line(),
            e.column()
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The call as the operator's decision leaves it: `Some` with the edited arguments when the
/// decision carries arguments that differ from the call's.
pub fn edit_of(d: &Decision, call: &ToolCall) -> Result<Option<Value>, String> {
    let Some(text) = d.inputs.get(ARGUMENTS_INPUT) else {
        return Ok(None);
    };
    let edited = edited_arguments(text)?;
    Ok((edited != call.arguments).then_some(edited))
}

/// What the model is told, before the result, about a call an operator edited.
pub fn edited_note(by: &str, call: &ToolCall) -> String {
    format!(
        "[The operator ({by}) edited this call's arguments before it ran; it ran as {}({}).]\n",
        call.name, call.arguments
    )
}

/// What the model is told when the operator rejected its call.
pub fn refusal(d: &Decision) -> String {
    let why = match d.comment.as_deref() {
        Some(c) if !c.trim().is_empty() => format!(" Their note: {c}"),
        _ => String::new(),
    };
    format!(
        "The operator ({}) refused this call; it did not run.{why} Do not try the same call \
         again: go on without it, or say in your answer what you would need and why.",
        d.by
    )
}

/// What the model is told about a call that began before baton stopped, and that the operator
/// did not let run again because it could have changed things.
pub fn interrupted(name: &str, d: &Decision) -> String {
    let why = match d.comment.as_deref() {
        Some(c) if !c.trim().is_empty() => format!(" Their note: {c}"),
        _ => String::new(),
    };
    format!(
        "This `{name}` call was interrupted: baton stopped while it ran, so it may or may not \
         have taken effect, and the operator ({}) chose not to run it again.{why} Check its \
         effect (with a read-only tool) before deciding whether to repeat it.",
        d.by
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin;
    use serde_json::json;

    fn granted(name: &str, approve: Option<bool>, step: &CallApproval) -> Granted {
        let entry = ToolUse {
            name: name.into(),
            approve,
        };
        Granted::new(builtin(name).unwrap(), &entry, step)
    }

    #[test]
    fn risky_calls_ask_by_default_and_the_workflow_overrides_per_tool_or_per_step() {
        let d = CallApproval::Default;
        let get = json!({"url": "http://x/"});
        let post = json!({"url": "http://x/", "method": "post"});
        assert!(granted("shell", None, &d).asks(&json!({"command": "ls"})));
        assert!(granted("write_file", None, &d).asks(&json!({})));
        assert!(!granted("read_file", None, &d).asks(&json!({})));
        assert!(!granted("http", None, &d).asks(&get));
        assert!(granted("http", None, &d).asks(&post));
        assert!(!granted("shell", Some(false), &d).asks(&json!({})));
        assert!(granted("read_file", Some(true), &d).asks(&json!({})));
        assert!(!granted("shell", None, &CallApproval::Trust).asks(&json!({})));
        let only = CallApproval::Only(vec!["read_file".into()]);
        assert!(granted("read_file", None, &only).asks(&json!({})));
        assert!(!granted("shell", None, &only).asks(&json!({})));
        assert!(granted("shell", Some(true), &CallApproval::Trust).asks(&json!({})));
    }

    #[test]
    fn the_question_shows_the_exact_call() {
        let shell = builtin("shell").unwrap();
        let call = ToolCall {
            id: "c1".into(),
            name: "shell".into(),
            arguments: json!({"command": "du -sh /var/* | sort -h"}),
        };
        let q = question(shell.as_ref(), &call);
        assert_eq!(q.action, "shell: $ du -sh /var/* | sort -h");
        let write = builtin("write_file").unwrap();
        let call = ToolCall {
            id: "c2".into(),
            name: "write_file".into(),
            arguments: json!({"path": "notes.md", "content": "line 1\nline 2"}),
        };
        let q = question(write.as_ref(), &call);
        assert_eq!(
            q.action,
            "write_file: notes.md (13 bytes)\n\nline 1\nline 2"
        );
    }
}
