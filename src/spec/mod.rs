//! The workflow language: types, parsing (YAML/JSON with line:col errors), validation, the DAG,
//! templates and `when:` expressions.
//!
//! Entry points: [`load_file`] and [`parse_str`] (parse + validate, every problem at once),
//! [`check_agents`] (agent names against the known profiles), [`resolve_params`] (one run's
//! params), [`Dag`] and [`ReadySet`] (scheduling), [`Templates`] (rendering). The language itself
//! is described in `docs/workflow-language.md`.

mod block_yaml;
mod bytes;
pub mod calls;
mod command_check;
mod convert;
mod convert_hosts;
mod convert_mcp;
mod convert_parts;
mod convert_step;
mod convert_tools;
pub mod dag;
pub mod diag;
pub mod duration;
pub mod for_each;
pub mod handlers;
mod idhash;
pub mod node;
pub mod notify;
pub mod params;
mod reader;
pub mod ready;
pub mod refs;
pub mod schedule;
pub mod shell_lex;
pub mod shell_quote;
pub mod template;
pub mod types;
pub mod validate;

use std::path::Path;

pub use convert_mcp::shape_problem as mcp_shape_problem;
pub use convert_step::KIND_KEYS;
pub use dag::Dag;
pub use diag::{Diagnostic, Diagnostics, Level};
pub use duration::{Dur, DurationError, format_duration, format_elapsed_ms, parse_duration};
pub use for_each::{ForEach, ForEachItems};
pub use params::resolve_params;
pub use ready::{Finish, ReadySet};
pub use shell_quote::shell_quote;
pub use template::{Reference, TemplateError, Templates};
pub use types::*;

use diag::Source;
use node::Format;

/// Parses and validates a workflow written in `text`. `origin` names it in diagnostics, picks
/// the format (`.json` → JSON, anything else → YAML) and becomes `Workflow::source`.
///
/// Agent names are not checked here (user profiles are not known to this module); call
/// [`check_agents`] for that.
pub fn parse_str(text: &str, origin: &Path) -> Result<Workflow, Diagnostics> {
    parse_with(text, origin, &Templates::new())
}

/// [`parse_str`] with a template engine the caller already built (saves building one per file).
pub fn parse_with(
    text: &str,
    origin: &Path,
    templates: &Templates,
) -> Result<Workflow, Diagnostics> {
    let file = origin.display().to_string();
    let src = Source::new(&file, text);
    let arena = bumpalo::Bump::new();
    let root = node::read(&src, Format::of_path(origin), &arena).map_err(Diagnostics::from)?;
    let default_name = origin
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .unwrap_or("workflow");
    let mut r = reader::Reader::new(&src);
    let converted = convert::convert_workflow(&mut r, &root, default_name);
    // The tree is no longer needed: its arena goes at once, and what validation allocates
    // reuses the memory.
    drop(arena);
    let mut diags = std::mem::take(&mut r.diags);
    let Some((mut wf, places)) = converted else {
        return Err(sorted(diags));
    };
    let reads = validate::validate(&wf, &places.env, &src, templates, &mut diags);
    calls::check_outputs(&wf, &places.outputs, &src, templates, &mut diags);
    if !diags.is_empty() {
        return Err(sorted(diags));
    }
    for (step, reads) in wf.steps.iter_mut().zip(reads) {
        step.reads = reads;
    }
    wf.source = Some(origin.to_path_buf());
    Ok(wf)
}

fn sorted(diags: Vec<Diagnostic>) -> Diagnostics {
    let mut d = Diagnostics(diags);
    d.sort();
    d
}

/// Reads and parses a workflow file; an unreadable file is a diagnostic too.
pub fn load_file(path: &Path) -> Result<Workflow, Diagnostics> {
    load_file_with(path, &Templates::new())
}

/// [`load_file`] with a template engine the caller already built.
pub fn load_file_with(path: &Path, templates: &Templates) -> Result<Workflow, Diagnostics> {
    let text = read_source(path)?;
    parse_with(&text, path, templates)
}

/// Reads a workflow file as text: an unreadable file, or one that is not UTF-8 (with the line
/// and column of the first bad byte), is a diagnostic.
pub fn read_source(path: &Path) -> Result<String, Diagnostics> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "check the path; workflow files usually live in `workflows/`"
            }
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ => "check that the path is a readable file",
        };
        Diagnostic::whole_file(&file, format!("cannot read the file: {e}")).with_hint(hint)
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // The prefix is valid UTF-8 by definition.
        let before = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_text = before.rsplit('\n').next().unwrap_or_default();
        let pos = Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(line_text.chars().count() + 1).unwrap_or(u32::MAX),
        };
        let src = Source::new(&file, before);
        Diagnostic::at(
            &src,
            pos,
            format!(
                "the file is not UTF-8 text: byte 0x{:02x} at offset {good} is not valid here",
                bytes[good]
            ),
        )
        .with_hint("save the file as UTF-8 (a workflow file must be UTF-8 text)")
        .into()
    })
}

/// Notes about a valid workflow: every `| raw` in a `run` command, where a value is written
/// without quoting. Snippets are read from `wf.source`.
pub fn notes(wf: &Workflow) -> Vec<Diagnostic> {
    if !wf
        .steps
        .iter()
        .any(|s| command_check::may_write_raw(&s.kind))
    {
        return Vec::new();
    }
    let file = wf
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| wf.name.clone());
    let text = wf
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    command_check::raw_uses(wf, &Source::new(&file, &text))
}

/// Agent steps whose agent no profile defines: not in `known` (the agents module's
/// `known_names`: built-in profiles, their AutomatosX aliases, user profile files) nor under
/// the workflow's `agents:`. The spec knows no agent by itself: the names come from the caller.
/// Snippets are read from `wf.source` when there are problems.
pub fn check_agents(wf: &Workflow, known: &[String]) -> Vec<Diagnostic> {
    with_source(wf, |src| validate::check_agents(wf, known, src))
}

/// `provider:` names (of agent steps and of the workflow's `agents:`) that are not in `known`
/// (the providers the config file lists, or those baton discovers when it lists none).
pub fn check_providers(wf: &Workflow, known: &[String]) -> Vec<Diagnostic> {
    with_source(wf, |src| validate::check_providers(wf, known, src))
}

/// `SERVER.TOOL` names whose server neither the workflow's `mcp_servers:` nor `configured`
/// (the config file's `[mcp_servers]`) declares.
pub fn check_mcp_servers(wf: &Workflow, configured: &[String]) -> Vec<Diagnostic> {
    with_source(wf, |src| convert_mcp::check_servers(wf, configured, src))
}

/// The `workflow:` steps' calls, followed from file to file: a file that is missing or does not
/// validate, a param the callee does not declare, a workflow that calls itself. A bare name is
/// looked up in `dirs` (the workflows folders). Snippets are read from `wf.source`.
pub fn check_calls(wf: &Workflow, dirs: &[std::path::PathBuf]) -> Vec<Diagnostic> {
    with_source(wf, |src| calls::check_calls(wf, dirs, src))
}

/// Runs a check without the file's text, and again with it (for snippets) if it finds any.
fn with_source(wf: &Workflow, check: impl Fn(&Source<'_>) -> Vec<Diagnostic>) -> Vec<Diagnostic> {
    let file = wf
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| wf.name.clone());
    let diags = check(&Source::new(&file, ""));
    if diags.is_empty() {
        return diags;
    }
    match wf
        .source
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        Some(text) => check(&Source::new(&file, &text)),
        None => diags,
    }
}
