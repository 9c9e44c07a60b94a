//! `shell`: a command run exactly as a `run:` step runs one (its own process group, the
//! step's environment, pause/cancel/timeout), through [`crate::steps::shell::run`].

use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolOutput, bound_tail, string_arg};
use crate::steps::shell::{ShellCommand, run};

/// Runs a shell command.
pub struct Shell;

impl Tool for Shell {
    fn name(&self) -> &str {
        "shell"
    }

    fn description(&self) -> &str {
        "Run a command with `sh -c` in the working directory. Returns the exit code and the end of stdout and stderr."
    }

    fn schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "command": {"type": "string", "description": "The command line"}},
            "required": ["command"]})
    }

    fn risky(&self, _args: &Value) -> bool {
        true
    }

    fn describe(&self, args: &Value) -> String {
        match args.get("command").and_then(Value::as_str) {
            Some(c) => format!("shell: $ {c}"),
            None => format!("shell {args}"),
        }
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let command = match string_arg(args, "command", "shell") {
                Ok(c) => c.to_string(),
                Err(e) => return e,
            };
            let cmd = ShellCommand {
                command,
                shell: "sh".into(),
                cwd: Some(ctx.cwd.clone()),
                env: ctx.env.clone(),
                on: None,
            };
            let (code, stdout, stderr, problem, cancelled) =
                match run(&cmd, ctx.attempt.clone()).await {
                    Ok(s) => (s.exit_code, s.stdout, s.stderr, None, false),
                    Err(f) => (f.exit_code, f.stdout, f.stderr, Some(f.error), f.cancelled),
                };
            // Each stream gets half the room; what matters most is at the end.
            let half = ctx.limit / 2;
            let mut text = match (code, &problem) {
                (Some(c), _) => format!("exit code: {c}\n"),
                (None, Some(p)) => format!("the command did not finish: {p}\n"),
                (None, None) => String::new(),
            };
            text.push_str("--- stdout ---\n");
            text.push_str(&bound_tail(&stdout, half));
            text.push_str("\n--- stderr ---\n");
            text.push_str(&bound_tail(&stderr, half));
            ToolOutput {
                content: text,
                is_error: problem.is_some(),
                cancelled,
            }
        })
    }
}
