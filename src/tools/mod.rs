//! Tools an agent step may call: the [`Tool`] trait, the built-ins (`shell`, `read_file`,
//! `write_file`, `list_dir`, `http`) and how a result is kept small enough for the context.
//!
//! A tool never writes a second copy of a step executor: `shell` runs through
//! [`crate::steps::shell::run`] (process group, env, pause, cancel, timeout) and `http`
//! through [`crate::steps::http::run`].

mod files;
mod net;
mod shell;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::providers::ToolDef;
use crate::steps::Attempt;

pub use files::{ListDir, ReadFile, WriteFile, confine};
pub use net::Http;
pub use shell::Shell;

/// Bytes of a tool result the model sees by default; the rest is cut with a note.
pub const DEFAULT_RESULT_LIMIT: usize = 16 * 1024;

/// Where and how a tool runs: the step's working directory, environment and attempt (log,
/// pause/cancel, timeout, process groups).
#[derive(Clone)]
pub struct ToolContext {
    /// Relative paths and `shell` commands start here; file tools stay inside it.
    pub cwd: PathBuf,
    /// Environment added to baton's own for `shell`.
    pub env: IndexMap<String, String>,
    /// The step's attempt.
    pub attempt: Attempt,
    /// Longest result the model is given, in bytes.
    pub limit: usize,
}

/// What a call gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The text the model receives (already bounded).
    pub content: String,
    /// The call failed (bad arguments, a refused path, a non-zero exit).
    pub is_error: bool,
    /// The run was cancelled while the tool ran: the loop stops.
    pub cancelled: bool,
}

impl ToolOutput {
    /// A successful result.
    pub fn ok(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: false,
            cancelled: false,
        }
    }

    /// A failed call; the message tells the model what went wrong and what to do.
    pub fn error(content: impl Into<String>) -> Self {
        ToolOutput {
            content: content.into(),
            is_error: true,
            cancelled: false,
        }
    }
}

/// The future a tool call returns.
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = ToolOutput> + Send + 'a>>;

/// A tool the model can call.
pub trait Tool: Send + Sync {
    /// Its name, as the model and the workflow spell it.
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// JSON Schema of its arguments.
    fn schema(&self) -> Value;
    /// Whether this call can change things (and so asks a person first, unless the workflow
    /// says otherwise; see [`crate::agents::approve`]).
    fn risky(&self, args: &Value) -> bool;
    /// When its calls wait for approval by default, in a few words, for listings.
    fn approval(&self) -> &'static str {
        if self.risky(&Value::Object(Default::default())) {
            "asks"
        } else {
            "no"
        }
    }
    /// Exactly what this call will do, for the person asked to approve it: the command line,
    /// the file and what goes in it, the request.
    fn describe(&self, args: &Value) -> String {
        let args = serde_json::to_string_pretty(args).unwrap_or_else(|_| args.to_string());
        format!("{} {}", self.name(), preview(&args))
    }
    /// Runs one call; the output is bounded to `ctx.limit`.
    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a>;

    /// The name the model calls it by: [`Tool::name`] with every character the providers
    /// refuse in a function name (anything but letters, digits, `_` and `-`) made `_`, and
    /// `.` (an MCP server's tool, `SERVER.TOOL`) made `__`; at most 64 characters.
    fn wire_name(&self) -> String {
        let name = self.name().replace('.', "__");
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect()
    }

    /// The definition sent to the model.
    fn definition(&self) -> ToolDef {
        ToolDef {
            name: self.wire_name(),
            description: self.description().to_string(),
            parameters: self.schema(),
        }
    }
}

/// The built-in tool called `name`.
pub fn builtin(name: &str) -> Option<Arc<dyn Tool>> {
    Some(match name {
        "shell" => Arc::new(Shell),
        "read_file" => Arc::new(ReadFile),
        "write_file" => Arc::new(WriteFile),
        "list_dir" => Arc::new(ListDir),
        "http" => Arc::new(Http),
        _ => return None,
    })
}

/// `text` cut to its first `limit` bytes (at a character boundary), with a note saying how
/// much was left out.
pub fn bound_head(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[… {} more bytes cut: the result is limited to {limit} bytes]",
        &text[..end],
        text.len() - end
    )
}

/// `text` cut to its last `limit` bytes (at a character boundary), with a note saying how
/// much was left out before it.
pub fn bound_tail(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!(
        "[… {start} earlier bytes cut: the result is limited to {limit} bytes]\n{}",
        &text[start..]
    )
}

/// Lines shown of a long text in an approval (a file's content, a request's body).
const PREVIEW_LINES: usize = 40;
/// Bytes shown of a long text in an approval.
const PREVIEW_BYTES: usize = 4096;

/// The start of `text` for an approval, saying how much more there is.
pub fn preview(text: &str) -> String {
    let lines: Vec<&str> = text.lines().take(PREVIEW_LINES).collect();
    let shown = bound_head(&lines.join("\n"), PREVIEW_BYTES);
    let total = text.lines().count();
    if total > PREVIEW_LINES {
        format!("{shown}\n[… {} more lines]", total - PREVIEW_LINES)
    } else {
        shown
    }
}

/// A string argument, or a message for the model saying it is missing.
fn string_arg<'a>(args: &'a Value, name: &str, tool: &str) -> Result<&'a str, ToolOutput> {
    args.get(name).and_then(Value::as_str).ok_or_else(|| {
        ToolOutput::error(format!(
            "`{tool}` needs a string argument `{name}`; the arguments were {args}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_the_language_names_exists_with_an_object_schema() {
        for name in crate::spec::BUILTIN_TOOLS {
            let tool = builtin(name).unwrap_or_else(|| panic!("no built-in `{name}`"));
            assert_eq!(tool.name(), name);
            assert_eq!(tool.schema()["type"], "object");
        }
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn bounds_keep_a_head_or_a_tail_and_say_what_was_cut() {
        assert_eq!(bound_head("short", 10), "short");
        let head = bound_head("ééééé", 3);
        assert!(head.starts_with("é\n[… 8 more bytes cut"), "{head}");
        let tail = bound_tail("abcdefghij", 4);
        assert!(tail.starts_with("[… 6 earlier bytes cut") && tail.ends_with("\nghij"));
    }
}
