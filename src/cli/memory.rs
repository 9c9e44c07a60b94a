//! `baton memory [ls|show|clear] [--scope S]`: the notes agents keep with `remember`, by
//! scope (a workflow's name, or the scope its `memory:` names). Notes are data an agent
//! wrote: they are printed through the one sanitiser.

use std::path::Path;

use clap::{Args, Subcommand};

use super::common::{self, Shown};
use crate::engine::Notebook;
use crate::store::Note;

/// Arguments of `baton memory`.
#[derive(Debug, Clone, Args)]
pub struct MemoryArgs {
    /// What to do (default: `ls`).
    #[command(subcommand)]
    pub action: Option<MemoryAction>,
}

/// `baton memory` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum MemoryAction {
    /// List the scopes that have notes, or (with --scope) that scope's notes, one line each.
    Ls {
        /// The scope (a workflow's name, or its `memory:`).
        #[arg(long, short = 's')]
        scope: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a scope's notes in full (or the one of KEY).
    Show {
        /// The scope.
        #[arg(long, short = 's')]
        scope: String,
        /// Only this note.
        key: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a scope's notes (or the one of KEY).
    Clear {
        /// The scope.
        #[arg(long, short = 's')]
        scope: String,
        /// Only this note.
        key: Option<String>,
    },
}

/// Runs `baton memory`, on the store itself or, while another baton owns it (a console,
/// `baton serve`, a run), through that baton.
pub fn run(data_dir: Option<&Path>, args: MemoryArgs) -> anyhow::Result<i32> {
    let reach = common::open_or_ask(data_dir)?;
    let store = reach.notebook();
    let action = args.action.unwrap_or(MemoryAction::Ls {
        scope: None,
        json: false,
    });
    match action {
        MemoryAction::Ls { scope: None, json } => scopes(store, json),
        MemoryAction::Ls {
            scope: Some(scope),
            json,
        } => notes(store, &scope, None, json, false),
        MemoryAction::Show { scope, key, json } => notes(store, &scope, key.as_deref(), json, true),
        MemoryAction::Clear { scope, key } => {
            let removed = store.forget(&scope, key.as_deref())?;
            let which = key
                .map(|k| format!(" `{}`", Shown::stdout(false).text(&k)))
                .unwrap_or_default();
            outln!(
                "removed {removed} note(s){which} from `{}`",
                Shown::stdout(false).text(&scope)
            );
            Ok(if removed == 0 { 1 } else { 0 })
        }
    }
}

fn scopes(store: &dyn Notebook, json: bool) -> anyhow::Result<i32> {
    let scopes = store.note_scopes()?;
    let shown = Shown::stdout(false);
    if json {
        outln!("{}", shown.json(serde_json::to_string_pretty(&scopes)?));
        return Ok(0);
    }
    if scopes.is_empty() {
        outln!("no notes yet (agents keep them with the `remember` tool)");
        return Ok(0);
    }
    let width = scopes
        .iter()
        .map(|s| s.scope.len())
        .max()
        .unwrap_or(5)
        .max(5);
    outln!("{:width$}  NOTES  LAST WRITTEN", "SCOPE");
    for s in &scopes {
        outln!(
            "{:width$}  {:>5}  {}",
            shown.text(&s.scope),
            s.notes,
            s.last.rfc3339()
        );
    }
    Ok(0)
}

/// A scope's notes: one line each, or in full; 1 when there are none.
fn notes(
    store: &dyn Notebook,
    scope: &str,
    key: Option<&str>,
    json: bool,
    full: bool,
) -> anyhow::Result<i32> {
    let notes: Vec<Note> = store
        .notes(scope)?
        .into_iter()
        .filter(|n| key.is_none_or(|k| n.key == k))
        .collect();
    let shown = Shown::stdout(false);
    if json {
        outln!("{}", shown.json(serde_json::to_string_pretty(&notes)?));
        return Ok(if notes.is_empty() { 1 } else { 0 });
    }
    if notes.is_empty() {
        errln!(
            "no notes in `{}`{} (`baton memory ls` lists the scopes)",
            Shown::stderr().text(scope),
            key.map(|k| format!(" under `{}`", Shown::stderr().text(k)))
                .unwrap_or_default()
        );
        return Ok(1);
    }
    for n in &notes {
        if full {
            outln!(
                "{} — {} (run {}, step {})",
                shown.text(&n.key),
                n.at.rfc3339(),
                n.run,
                shown.text(&n.step)
            );
            outln!("{}\n", shown.text(&n.text));
        } else {
            let first = n.text.lines().next().unwrap_or("");
            outln!(
                "{}  {}  {}",
                shown.text(&n.key),
                n.at.rfc3339(),
                shown.line(first)
            );
        }
    }
    Ok(0)
}
