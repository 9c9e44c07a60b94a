//! `remember` and `recall`: notes an agent keeps across runs, in the store, scoped to the
//! workflow (its `name:`, or the scope its `memory:` names). A note is keyed by the key the
//! agent gives or by a digest of its text, so a call run again after a crash keeps one note,
//! not two; notes are masked like everything else the run stores. `baton memory` lists and
//! clears them.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::secrets::Redactor;
use crate::store::{Note, RunId, Store, Timestamp};
use crate::tools::{Tool, ToolContext, ToolFuture, ToolOutput, bound_tail};

/// The tools' names.
pub const REMEMBER: &str = "remember";
/// The tools' names.
pub const RECALL: &str = "recall";

/// Where one step's notes go.
pub struct Notebook {
    /// The store.
    pub store: Store,
    /// The scope.
    pub scope: String,
    /// The run writing.
    pub run: RunId,
    /// The step writing.
    pub step: String,
    /// The run's secrets, masked before a note is stored.
    pub redactor: Arc<Redactor>,
}

/// The memory tool called `name`, writing to `notebook`.
pub fn tool(name: &str, notebook: &Arc<Notebook>) -> Option<Arc<dyn Tool>> {
    match name {
        REMEMBER => Some(Arc::new(Remember(notebook.clone()))),
        RECALL => Some(Arc::new(Recall(notebook.clone()))),
        _ => None,
    }
}

/// Keeps a note.
pub struct Remember(pub Arc<Notebook>);

/// Reads the notes back.
pub struct Recall(pub Arc<Notebook>);

/// A key made from a note's text (a fixed algorithm: SHA-256, its first 12 hex digits).
pub fn key_of(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("n-{hex}")
}

impl Tool for Remember {
    fn name(&self) -> &str {
        REMEMBER
    }

    fn description(&self) -> &str {
        "Keep a note for later runs of this workflow (facts learned, decisions, what to check \
         next time). Give a short `key` to replace an earlier note of that key."
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "note": {"type": "string", "description": "What to remember"},
                "key": {"type": "string", "description": "Optional short name; a note of the same key is replaced"}
            },
            "required": ["note"]
        })
    }

    fn risky(&self, _args: &Value) -> bool {
        false
    }

    fn call<'a>(&'a self, args: &'a Value, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let book = &self.0;
            let text = match args["note"].as_str().map(str::trim) {
                Some(t) if !t.is_empty() => book.redactor.redact(t).into_owned(),
                _ => return ToolOutput::error("`remember` needs a non-empty string `note`"),
            };
            let key = match args["key"].as_str().map(str::trim) {
                Some(k) if !k.is_empty() => k.chars().take(80).collect(),
                _ => key_of(&text),
            };
            let note = Note {
                scope: book.scope.clone(),
                key: key.clone(),
                text,
                run: book.run.clone(),
                step: book.step.clone(),
                at: Timestamp::now(),
            };
            match book.store.remember(&note).await {
                Ok(()) => ToolOutput::ok(format!(
                    "Remembered as `{key}` in the notes of `{}`.",
                    book.scope
                )),
                Err(e) => ToolOutput::error(format!("the note could not be stored: {e:#}")),
            }
        })
    }
}

impl Tool for Recall {
    fn name(&self) -> &str {
        RECALL
    }

    fn description(&self) -> &str {
        "Read the notes earlier runs of this workflow kept with `remember`, oldest first; \
         `query` keeps only the notes holding every one of its words."
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Optional words a note must contain"}
            }
        })
    }

    fn risky(&self, _args: &Value) -> bool {
        false
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let book = &self.0;
            let notes = match book.store.notes(&book.scope) {
                Ok(n) => n,
                Err(e) => return ToolOutput::error(format!("the notes cannot be read: {e:#}")),
            };
            let query = args["query"].as_str().unwrap_or("").to_lowercase();
            let words: Vec<&str> = query.split_whitespace().collect();
            let found: Vec<String> = notes
                .iter()
                .filter(|n| {
                    let hay = format!("{} {}", n.key, n.text).to_lowercase();
                    words.iter().all(|w| hay.contains(w))
                })
                .map(|n| format!("[{}] ({}, run {}) {}", n.key, n.at.rfc3339(), n.run, n.text))
                .collect();
            if found.is_empty() {
                let which = if words.is_empty() {
                    String::new()
                } else {
                    format!(" matching `{query}`")
                };
                return ToolOutput::ok(format!("No notes{which} in `{}` yet.", book.scope));
            }
            // The newest notes are the ones kept when there are too many.
            ToolOutput::ok(bound_tail(&found.join("\n"), ctx.limit))
        })
    }
}
