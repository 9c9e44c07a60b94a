//! Sub-workflows as the language sees them: a workflow's own `outputs:` (checked like any other
//! template), where a `workflow:` step's file is (beside the caller, or by name in the workflows
//! folders), and the check that follows calls from file to file: a file that cannot be found or
//! does not validate, a param the callee does not declare, a workflow that calls itself.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::diag::{Diagnostic, Source, did_you_mean};
use super::template::Templates;
use super::types::{Pos, Step, StepKind, Workflow};
use super::validate::{check_root, references};

/// How deeply runs may nest (a parent's sub-workflow's sub-workflow ...), checked at validation
/// along the files and again at run time, where a templated path may lead anywhere.
pub const MAX_DEPTH: usize = 8;

/// Checks the workflow's `outputs:`: each compiles and reads only its params, env, run and
/// steps that exist (every step has ended when they are rendered).
pub(super) fn check_outputs(
    wf: &Workflow,
    places: &IndexMap<String, Pos>,
    src: &Source<'_>,
    templates: &Templates,
    out: &mut Vec<Diagnostic>,
) {
    for (name, tpl) in &wf.outputs {
        let pos = places.get(name).copied().unwrap_or(Pos::UNKNOWN);
        let here = format!("workflow `outputs.{name}`");
        for r in references(templates, tpl, src, pos, &here, out) {
            if r.root != "steps" {
                check_root(wf, src, pos, &here, &r, &["params", "env", "run"], out);
                continue;
            }
            let Some(id) = r.path.first() else { continue };
            if wf.step(id).is_none() {
                let ids = wf.steps.iter().map(|s| s.id.as_str());
                let hint = did_you_mean(id, ids)
                    .unwrap_or_else(|| "name one of the workflow's step ids".to_string());
                out.push(
                    Diagnostic::at(
                        src,
                        pos,
                        format!("{here} reads `{r}`, but there is no step `{id}`"),
                    )
                    .with_hint(hint),
                );
            }
        }
    }
}

/// Whether a `workflow:` target names a file (a path, or a file name with its extension)
/// rather than a workflow in the workflows folders.
fn is_path(target: &str) -> bool {
    target.contains('/')
        || [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| target.ends_with(ext))
}

/// The file a `workflow:` step calls: a path is taken relative to `base` (the caller file's
/// directory); a bare name is a file `NAME.yaml` (`.yml`, `.json`) in one of `dirs`, else the
/// first file there whose `name:` it is.
pub fn resolve_call(
    target: &str,
    base: Option<&Path>,
    dirs: &[PathBuf],
) -> Result<PathBuf, String> {
    let target = target.trim();
    if is_path(target) {
        let path = match base {
            Some(base) if Path::new(target).is_relative() => base.join(target),
            _ => PathBuf::from(target),
        };
        if path.is_file() {
            return Ok(path);
        }
        return Err(format!(
            "there is no workflow file {} (a path is relative to the calling file's directory)",
            path.display()
        ));
    }
    for dir in dirs {
        for ext in ["yaml", "yml", "json"] {
            let path = dir.join(format!("{target}.{ext}"));
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    let templates = Templates::new();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| is_path(&p.to_string_lossy())) {
            if super::load_file_with(&path, &templates).is_ok_and(|wf| wf.name == target) {
                return Ok(path);
            }
        }
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no workflow named `{target}` in the workflows folders ({}); write a path such as \
         `./{target}.yaml` (relative to this file) or put the file into one of them",
        looked.join(", ")
    ))
}

/// A template in the path is only known at run time.
fn is_templated(target: &str) -> bool {
    target.contains("{{") || target.contains("{%")
}

/// The call chain being followed: each file (canonical) with how it was shown.
struct Chain<'d> {
    files: Vec<(PathBuf, String)>,
    dirs: &'d [PathBuf],
}

/// Follows the `workflow:` steps of `wf` (whose text is `src`) through the files they call;
/// each problem, however deep, is reported at the step of `wf` that leads to it.
pub(super) fn check_calls(wf: &Workflow, dirs: &[PathBuf], src: &Source<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let me = wf.source.clone().unwrap_or_else(|| PathBuf::from(&wf.name));
    let mut chain = Chain {
        files: vec![(canonical(&me), src.file.to_string())],
        dirs,
    };
    for step in &wf.steps {
        if let Some(problem) = follow(wf, step, &mut chain) {
            let StepKind::Workflow(call) = &step.kind else {
                continue;
            };
            let at = if step.pos.body == Pos::UNKNOWN {
                step.pos.step
            } else {
                step.pos.body
            };
            out.push(
                Diagnostic::at(
                    src,
                    at,
                    format!("step `{}` calls `{}`: {problem}", step.id, call.path),
                )
                .with_hint(
                    "a sub-workflow must exist, validate, and not lead back to a workflow that \
                     is already running it",
                ),
            );
        }
    }
    out
}

/// The first problem of the call `step` makes (if it is a `workflow:` step), followed down.
fn follow(wf: &Workflow, step: &Step, chain: &mut Chain<'_>) -> Option<String> {
    let StepKind::Workflow(call) = &step.kind else {
        return None;
    };
    if is_templated(&call.path) {
        return None;
    }
    let base = wf.source.as_deref().and_then(Path::parent);
    let path = match resolve_call(&call.path, base, chain.dirs) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let canon = canonical(&path);
    let shown = path.display().to_string();
    if let Some(k) = chain.files.iter().position(|(f, _)| *f == canon) {
        let mut names: Vec<&str> = chain.files[k..].iter().map(|(_, s)| s.as_str()).collect();
        names.push(&shown);
        return Some(format!(
            "the workflow calls itself ({}); a workflow may not call itself, directly or \
             through others",
            names.join(" → ")
        ));
    }
    if chain.files.len() >= MAX_DEPTH {
        return Some(format!("sub-workflows nest deeper than {MAX_DEPTH} levels"));
    }
    let child = match super::load_file(&path) {
        Ok(child) => child,
        Err(d) => {
            let first = d.0.first().map(ToString::to_string).unwrap_or_default();
            return Some(format!("{shown} does not validate: {first}"));
        }
    };
    if let Some(name) = call.params.keys().find(|k| !child.params.contains_key(*k)) {
        let hint = did_you_mean(name, child.params.keys().map(String::as_str))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        return Some(format!("{shown} declares no param `{name}`{hint}"));
    }
    chain.files.push((canon, shown));
    let problem = child.steps.iter().find_map(|s| follow(&child, s, chain));
    chain.files.pop();
    problem
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
