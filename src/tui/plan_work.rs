//! The planner desk's work, done on its thread: drafting and redrafting (each draft kept as a
//! plan version), keeping an operator's edit, saving into the workflows folder, starting a
//! plan as a run, and asking for and applying a repair of a failed step.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::effect::{Done, Ticket};
use super::plan::{Drafted, Edit, PLAN_ORIGIN, PlanDesk, PlanDone, PlanJob, Proposal, check};
use super::worker::Reply;
use crate::engine::{Backend, Command};
use crate::planner::repair::{Failure, propose};
use crate::planner::versions::{NewVersion, PlanBook, VersionKind, proposal_request};
use crate::planner::{DEFAULT_ROUNDS, PlanRequest};
use crate::providers::RouteEvent;
use crate::spec::{StepId, Templates};
use crate::store::RunId;

pub(super) fn perform(
    desk: &PlanDesk,
    backend: &dyn Backend,
    rt: &tokio::runtime::Runtime,
    job: PlanJob,
    reply: &Reply,
) {
    let done = match job {
        PlanJob::Draft {
            ticket,
            request,
            revise,
            edit,
        } => {
            let result = draft(desk, rt, ticket, &request, revise, edit, reply);
            PlanDone::Drafted(ticket, result.map_err(|e| format!("{e:#}")))
        }
        PlanJob::Check(_) | PlanJob::DryRun(_) => return,
        PlanJob::Repair { ticket, run, step } => {
            let proposed = propose_repair(desk, backend, rt, ticket, &run, step, reply);
            PlanDone::Proposed(ticket, proposed.map_err(|e| format!("{e:#}")))
        }
        PlanJob::ApplyRepair { ticket, proposal } => {
            let applied = apply_repair(desk, backend, *proposal);
            PlanDone::Repaired(ticket, applied.map_err(|e| format!("{e:#}")))
        }
        PlanJob::Keep { ticket, yaml, edit } => {
            let kept = keep(desk, &yaml, Some(edit));
            PlanDone::Kept(ticket, kept.map_err(|e| format!("{e:#}")))
        }
        PlanJob::Save { ticket, yaml, edit } => {
            let saved = keep(desk, &yaml, edit)
                .and_then(|version| Ok((save(&desk.save_dir, &yaml)?, version)));
            PlanDone::Saved(ticket, saved.map_err(|e| format!("{e:#}")))
        }
        PlanJob::Run {
            ticket,
            yaml,
            edit,
            version,
        } => {
            let started = start(desk, backend, &yaml, edit, version);
            PlanDone::Started(ticket, started.map_err(|e| format!("{e:#}")))
        }
    };
    reply(Done::Plan(done));
}

fn book(desk: &PlanDesk) -> anyhow::Result<&PlanBook> {
    desk.book
        .as_ref()
        .map_err(|e| anyhow::anyhow!("cannot keep plan versions: {e}"))
}

/// Drafts (or revises) and keeps the draft as a version; the edit it revises is kept first.
fn draft(
    desk: &PlanDesk,
    rt: &tokio::runtime::Runtime,
    ticket: Ticket,
    request: &str,
    revise: Option<(String, Option<String>)>,
    edit: Option<Edit>,
    reply: &Reply,
) -> anyhow::Result<Drafted> {
    let planner = desk.planner.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut parent = revise.as_ref().and_then(|(_, v)| v.clone());
    if let (Some(edit), Some((text, _))) = (edit, &revise) {
        parent = keep(desk, text, Some(edit))?.or(parent);
    }
    let mut req = PlanRequest::new(request);
    req.revise = revise.map(|(text, _)| text);
    req.origin = PathBuf::from(PLAN_ORIGIN);
    let mut sink = |event: RouteEvent| {
        if let RouteEvent::Note(note) = event {
            reply(Done::Plan(PlanDone::Note(ticket, note)));
        }
    };
    let draft = rt
        .block_on(planner.draft(&req, &mut sink))
        .map_err(|e| anyhow::anyhow!("cannot plan: {e}"))?;
    let version = book(desk)?.record(NewVersion {
        kind: if req.revise.is_some() {
            VersionKind::Edit
        } else {
            VersionKind::Draft
        },
        parent,
        request: request.to_string(),
        provider: Some(draft.provider.clone()),
        model: Some(draft.model.clone()),
        yaml: draft.yaml.clone(),
        problems: draft.problems.iter().map(|d| d.to_string()).collect(),
        run: None,
    })?;
    let check = check(&planner.checker, &Templates::new(), &draft.yaml);
    Ok(Drafted {
        yaml: draft.yaml,
        summary: draft.summary,
        provider: draft.provider,
        model: draft.model,
        version: version.id,
        check,
    })
}

/// Asks the model for a fix of failed step `step` of `run`, shown as a diff of the workflow.
fn propose_repair(
    desk: &PlanDesk,
    backend: &dyn Backend,
    rt: &tokio::runtime::Runtime,
    ticket: Ticket,
    run: &RunId,
    step: StepId,
    reply: &Reply,
) -> anyhow::Result<Box<Proposal>> {
    let failure = Failure::read(backend, run, step)?;
    // The fix the run drafted when it failed (`on_failure: { repair: true }`), when there is one.
    if let Some(v) = book(desk)?.proposal_for(&run.0, failure.step.as_str())? {
        let step = failure.step.clone();
        let diff = crate::planner::diff::step_change(&step, &failure.source, &v.yaml);
        return Ok(Box::new(Proposal {
            run: run.clone(),
            step,
            before: failure.source,
            diff,
            summary: format!("drafted when the run failed (plan version {})", v.id),
            provider: v.provider.unwrap_or_default(),
            model: v.model.unwrap_or_default(),
            problems: Vec::new(),
            yaml: v.yaml,
        }));
    }
    let planner = desk.planner.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut sink = |event: RouteEvent| {
        if let RouteEvent::Note(note) = event {
            reply(Done::Plan(PlanDone::Note(ticket, note)));
        }
    };
    let draft = rt
        .block_on(propose(planner, &failure, DEFAULT_ROUNDS, &mut sink))
        .map_err(|e| anyhow::anyhow!("cannot ask for a repair: {e}"))?;
    let step = failure.step.clone();
    let diff = crate::planner::diff::step_change(&step, &failure.source, &draft.yaml);
    Ok(Box::new(Proposal {
        run: run.clone(),
        step,
        before: failure.source,
        diff,
        summary: draft.summary.clone(),
        provider: draft.provider.clone(),
        model: draft.model.clone(),
        problems: draft.problems.iter().map(|d| d.to_string()).collect(),
        yaml: draft.yaml,
    }))
}

/// Keeps an approved proposal as a plan version and continues the run with it, as
/// `baton repair --approve` does.
fn apply_repair(
    desk: &PlanDesk,
    backend: &dyn Backend,
    proposal: Proposal,
) -> anyhow::Result<String> {
    if !proposal.problems.is_empty() {
        anyhow::bail!("the proposal is not valid; nothing changed");
    }
    let book = book(desk)?;
    let request = proposal_request(&proposal.run.0, proposal.step.as_str());
    let parent = match book.proposal_for(&proposal.run.0, proposal.step.as_str())? {
        Some(drafted) if drafted.yaml == proposal.yaml => Some(drafted.id),
        _ => book.of_source(&proposal.before)?.map(|v| v.id),
    };
    let version = book.record(NewVersion {
        kind: VersionKind::Repair,
        parent,
        request,
        provider: Some(proposal.provider),
        model: Some(proposal.model),
        yaml: proposal.yaml.clone(),
        problems: Vec::new(),
        run: Some(proposal.run.0.clone()),
    })?;
    backend.send(Command::Repair {
        run: proposal.run,
        step: proposal.step,
        source: proposal.yaml,
        version: Some(version.id.clone()),
    })?;
    Ok(version.id)
}

/// Keeps `yaml` as the operator's edit when there is one; returns the new version.
fn keep(desk: &PlanDesk, yaml: &str, edit: Option<Edit>) -> anyhow::Result<Option<String>> {
    let Some(edit) = edit else {
        return Ok(None);
    };
    let problems = match &desk.planner {
        Ok(p) => check(&p.checker, &Templates::new(), yaml).problems,
        Err(_) => Vec::new(),
    };
    let version = book(desk)?.record(NewVersion {
        kind: VersionKind::Edit,
        parent: edit.parent,
        request: edit.request,
        provider: None,
        model: None,
        yaml: yaml.to_string(),
        problems: problems.into_iter().map(|p| p.message).collect(),
        run: None,
    })?;
    Ok(Some(version.id))
}

/// Writes `yaml` into `dir` under its workflow's name (`name.yaml`, `name-2.yaml`, … — an
/// existing file is never replaced).
pub fn save(dir: &Path, yaml: &str) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = crate::spec::parse_str(yaml, Path::new(PLAN_ORIGIN))
        .map(|wf| file_stem(&wf.name))
        .unwrap_or_else(|_| "plan".to_string());
    for n in 1..1000 {
        let file = match n {
            1 => dir.join(format!("{name}.yaml")),
            n => dir.join(format!("{name}-{n}.yaml")),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        match crate::fsperm::open_nofollow(&mut options, &file) {
            Ok(mut f) => {
                f.write_all(yaml.as_bytes())
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("cannot write {}", file.display()))?;
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", file.display())),
        }
    }
    anyhow::bail!(
        "{} holds 999 files named after `{name}`; rename the workflow",
        dir.display()
    )
}

/// A file name from a workflow's name: letters, digits, `-` and `_`; anything else a `-`.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.trim_matches('-');
    if stem.is_empty() {
        "plan".to_string()
    } else {
        stem.to_string()
    }
}

/// Keeps the edit, writes the version's file (`plans/ID.yaml`) and starts it as the start
/// form starts a file: read and checked again, params defaulted.
fn start(
    desk: &PlanDesk,
    backend: &dyn Backend,
    yaml: &str,
    edit: Option<Edit>,
    version: Option<String>,
) -> anyhow::Result<(RunId, Option<String>)> {
    let book = book(desk)?;
    let kept = keep(desk, yaml, edit)?;
    let version = match kept.as_ref().or(version.as_ref()) {
        Some(id) => book.get(id)?,
        None => anyhow::bail!("the plan is not kept as a version; save it first"),
    };
    let file = book.write_workflow(&version)?;
    let run = super::worker::start(backend, file, Vec::new()).map_err(|e| anyhow::anyhow!(e))?;
    Ok((run, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saving_never_replaces_a_file_and_names_it_after_the_workflow() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "name: Say hello/now\nsteps:\n  - id: a\n    run: echo a\n";
        let first = save(dir.path(), yaml).unwrap();
        let second = save(dir.path(), yaml).unwrap();
        assert_eq!(first, dir.path().join("Say-hello-now.yaml"));
        assert_eq!(second, dir.path().join("Say-hello-now-2.yaml"));
        assert_eq!(std::fs::read_to_string(first).unwrap(), yaml);
    }
}
