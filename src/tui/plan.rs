//! The console's planner desk: drafts, checks, saves and starts planned workflows on threads of
//! their own, so the screen never waits for a model. A draft (and a follow-up's revision) is
//! kept as a plan version the moment it arrives, as `baton plan` keeps it; an operator's edit is
//! kept as a version when it is saved, run, revised or left. Checks are `baton validate`'s own
//! (`planner::Checker`), on a thread that only ever checks the newest text.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::Context;

use crate::config::{ConfigFile, Paths};
use crate::engine::Backend;
use crate::engine::dry_run::DryStep;
use crate::planner::versions::PlanBook;
use crate::planner::{Checker, Planner};
use crate::spec::{Dag, StepId, Templates};
use crate::store::RunId;

use super::effect::{Done, Ticket};
use super::worker::Reply;

/// The name a plan's diagnostics carry until it is saved.
pub const PLAN_ORIGIN: &str = "plan.yaml";

/// What the desk needs: the planner of this machine (or why there is none), the plan
/// versions, and the folder "save" writes to.
pub struct PlanDesk {
    pub(super) planner: Result<Planner, String>,
    pub(super) book: Result<PlanBook, String>,
    pub(super) save_dir: PathBuf,
    /// For dry runs: hosts, and provider keys to mask.
    pub(super) config: ConfigFile,
    /// Where `workflow:` calls are looked up.
    pub(super) workflow_dirs: Vec<PathBuf>,
}

impl std::fmt::Debug for PlanDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanDesk")
            .field("planner", &self.planner.as_ref().map(|_| "ready"))
            .field("save_dir", &self.save_dir)
            .finish()
    }
}

impl PlanDesk {
    /// The desk of the config at `paths`; saved plans go to `./workflows`.
    pub fn for_machine(paths: &Paths, config: &ConfigFile) -> PlanDesk {
        PlanDesk {
            planner: Planner::for_machine(paths, config).map_err(|e| format!("{e:#}")),
            book: PlanBook::open(&paths.data).map_err(|e| format!("{e:#}")),
            save_dir: PathBuf::from("workflows"),
            config: config.clone(),
            workflow_dirs: vec![PathBuf::from("workflows"), paths.workflows_dir()],
        }
    }
}

/// A change of the operator's to keep as a version before a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// The version the text was edited from.
    pub parent: Option<String>,
    /// The request the plan answers.
    pub request: String,
}

/// Something for the desk to do.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanJob {
    /// Draft a workflow for `request`, or revise `revise` (a text and its version) with it.
    Draft {
        /// Its ticket.
        ticket: Ticket,
        /// The request, or the follow-up instruction.
        request: String,
        /// The text to revise and the version it is.
        revise: Option<(String, Option<String>)>,
        /// The text was edited since its version: keep it first.
        edit: Option<Edit>,
    },
    /// Check a text as `baton validate` does.
    Check(String),
    /// Render a workflow file's steps as a run would, running nothing.
    DryRun(PathBuf),
    /// Ask the model for a fix of a failed step.
    Repair {
        /// Its ticket.
        ticket: Ticket,
        /// The run.
        run: RunId,
        /// The failed step.
        step: StepId,
    },
    /// Apply an approved proposal: keep it as a version and continue the run with it.
    ApplyRepair {
        /// Its ticket.
        ticket: Ticket,
        /// The proposal.
        proposal: Box<Proposal>,
    },
    /// Keep an edited text as a version (the editor is closing).
    Keep {
        /// Its ticket.
        ticket: Ticket,
        /// The text.
        yaml: String,
        /// What it was edited from.
        edit: Edit,
    },
    /// Write a valid text into the workflows folder (never over a file).
    Save {
        /// Its ticket.
        ticket: Ticket,
        /// The text.
        yaml: String,
        /// Kept as a version first when edited.
        edit: Option<Edit>,
    },
    /// Start a valid text as a run.
    Run {
        /// Its ticket.
        ticket: Ticket,
        /// The text.
        yaml: String,
        /// Kept as a version first when edited.
        edit: Option<Edit>,
        /// The version the text is, when not edited.
        version: Option<String>,
    },
}

/// One problem of a checked text.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// 1-based line (0: the whole text).
    pub line: u32,
    /// What is wrong, with the hint.
    pub message: String,
}

/// A step as the DAG beside the editor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DagRow {
    /// Its level.
    pub level: usize,
    /// Its id.
    pub id: String,
    /// Its kind's key.
    pub kind: &'static str,
    /// What it waits for.
    pub deps: Vec<String>,
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanCheck {
    /// Every problem, in order (empty: valid).
    pub problems: Vec<Problem>,
    /// The steps by level, when the text parses.
    pub dag: Option<Vec<DagRow>>,
    /// The workflow's name, when it parses.
    pub name: Option<String>,
}

impl PlanCheck {
    /// Parsed, with no problem.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty() && self.dag.is_some()
    }
}

/// A draft as it arrived, kept as a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Drafted {
    /// The workflow text.
    pub yaml: String,
    /// The model's account of it.
    pub summary: String,
    /// Who wrote it.
    pub provider: String,
    /// With which model.
    pub model: String,
    /// The version it is kept as.
    pub version: String,
    /// Its check.
    pub check: PlanCheck,
}

/// A model's fix of a failed step.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The run.
    pub run: RunId,
    /// The step.
    pub step: StepId,
    /// The workflow as it ran.
    pub before: String,
    /// The whole workflow with the step changed.
    pub yaml: String,
    /// The change, as a unified diff.
    pub diff: String,
    /// The model's account of it.
    pub summary: String,
    /// Who proposed it.
    pub provider: String,
    /// With which model.
    pub model: String,
    /// What is still wrong with it (empty: it may be applied).
    pub problems: Vec<String>,
}

/// What came back from the desk. Failures carry the error's text; a kept edit its version.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanDone {
    /// A note while drafting (a repair round, a retry, a fallback).
    Note(Ticket, String),
    /// [`PlanJob::Draft`].
    Drafted(Ticket, Result<Drafted, String>),
    /// [`PlanJob::Check`]: the text checked and what was found.
    Checked(String, PlanCheck),
    /// [`PlanJob::Keep`].
    Kept(Ticket, Result<Option<String>, String>),
    /// [`PlanJob::Save`]: the file written.
    Saved(Ticket, Result<(PathBuf, Option<String>), String>),
    /// [`PlanJob::Run`]: the run started.
    Started(Ticket, Result<(RunId, Option<String>), String>),
    /// [`PlanJob::DryRun`]: the file and its steps.
    DryRun(PathBuf, Result<Vec<DryStep>, String>),
    /// [`PlanJob::Repair`].
    Proposed(Ticket, Result<Box<Proposal>, String>),
    /// [`PlanJob::ApplyRepair`]: the version the repair is kept as.
    Repaired(Ticket, Result<String, String>),
}

/// The desk's threads: one drafts, saves and starts; one checks.
pub struct PlanThreads {
    jobs: Sender<PlanJob>,
    quick: Sender<PlanJob>,
}

impl PlanThreads {
    /// Starts the threads; results go to `reply`.
    pub fn spawn(
        desk: PlanDesk,
        backend: Arc<dyn Backend>,
        reply: Reply,
    ) -> anyhow::Result<PlanThreads> {
        let (quick, quick_rx) = channel::<PlanJob>();
        let quick_desk = Quick {
            checker: match &desk.planner {
                Ok(p) => p.checker.clone(),
                Err(_) => Checker::for_machine(None, None, &[], &[]),
            },
            config: desk.config.clone(),
            workflow_dirs: desk.workflow_dirs.clone(),
        };
        {
            let reply = reply.clone();
            std::thread::Builder::new()
                .name("baton-tui-plan-check".into())
                .spawn(move || quick_loop(&quick_desk, &quick_rx, &reply))
                .context("cannot start the console's plan check thread")?;
        }
        let (jobs, job_rx) = channel::<PlanJob>();
        std::thread::Builder::new()
            .name("baton-tui-plan".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                for job in job_rx {
                    match &rt {
                        Ok(rt) => {
                            super::plan_work::perform(&desk, backend.as_ref(), rt, job, &reply)
                        }
                        Err(e) => {
                            let why = format!("cannot start the planner: {e}");
                            if let Some(done) = refused(job, &why) {
                                reply(done);
                            }
                        }
                    }
                }
            })
            .context("cannot start the console's plan thread")?;
        Ok(PlanThreads { jobs, quick })
    }

    /// Queues a job: checks and dry runs to their own thread, so a draft never holds them up.
    pub fn submit(&self, job: PlanJob) {
        // A closed channel means the thread ended with the console.
        let _ = match job {
            PlanJob::Check(_) | PlanJob::DryRun(_) => self.quick.send(job),
            other => self.jobs.send(other),
        };
    }
}

/// The answer to a job refused for `why` (no desk here, or no runtime); none for a check.
pub fn refused(job: PlanJob, why: &str) -> Option<Done> {
    let why = why.to_string();
    let done = match job {
        PlanJob::Draft { ticket, .. } => PlanDone::Drafted(ticket, Err(why)),
        PlanJob::Check(_) => return None,
        PlanJob::DryRun(file) => PlanDone::DryRun(file, Err(why)),
        PlanJob::Repair { ticket, .. } => PlanDone::Proposed(ticket, Err(why)),
        PlanJob::ApplyRepair { ticket, .. } => PlanDone::Repaired(ticket, Err(why)),
        PlanJob::Keep { ticket, .. } => PlanDone::Kept(ticket, Err(why)),
        PlanJob::Save { ticket, .. } => PlanDone::Saved(ticket, Err(why)),
        PlanJob::Run { ticket, .. } => PlanDone::Started(ticket, Err(why)),
    };
    Some(Done::Plan(done))
}

/// What the quick thread needs.
struct Quick {
    checker: Checker,
    config: ConfigFile,
    workflow_dirs: Vec<PathBuf>,
}

/// Dry runs in order; of the texts waiting to be checked, only the newest.
fn quick_loop(desk: &Quick, rx: &Receiver<PlanJob>, reply: &Reply) {
    let templates = Templates::new();
    while let Ok(first) = rx.recv() {
        let mut newest = None;
        for job in std::iter::once(first).chain(rx.try_iter()) {
            match job {
                PlanJob::Check(text) => newest = Some(text),
                PlanJob::DryRun(file) => {
                    let given = indexmap::IndexMap::new();
                    let steps = crate::engine::dry_run::render_file(
                        &file,
                        &given,
                        &desk.config,
                        &desk.workflow_dirs,
                    );
                    let steps = steps.map_err(|e| format!("{e:#}"));
                    reply(Done::Plan(PlanDone::DryRun(file, steps)));
                }
                _ => {}
            }
        }
        if let Some(text) = newest {
            let found = check(&desk.checker, &templates, &text);
            reply(Done::Plan(PlanDone::Checked(text, found)));
        }
    }
}

/// `text` checked as `baton validate` checks a file.
pub fn check(checker: &Checker, templates: &Templates, text: &str) -> PlanCheck {
    let checked = checker.check_text(text, Path::new(PLAN_ORIGIN), templates);
    let problems = checked
        .problems
        .iter()
        .filter(|d| d.level == crate::spec::diag::Level::Error)
        .map(|d| Problem {
            line: d.line,
            message: match &d.hint {
                Some(hint) => format!("{} ({hint})", d.message),
                None => d.message.clone(),
            },
        })
        .collect();
    let dag = checked.workflow.as_ref().map(|wf| {
        let dag = Dag::new(wf);
        let mut rows = Vec::new();
        for (level, steps) in dag.levels().iter().enumerate() {
            for &i in steps {
                rows.push(DagRow {
                    level,
                    id: dag.id(i).to_string(),
                    kind: wf.steps[i].kind.key(),
                    deps: dag.deps(i).iter().map(|&d| dag.id(d).to_string()).collect(),
                });
            }
        }
        rows
    });
    PlanCheck {
        problems,
        dag,
        name: checked.workflow.map(|wf| wf.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_places_each_problem_on_its_line_and_lists_the_levels() {
        let checker = Checker::default();
        let templates = Templates::new();
        let bad = "name: x\nsteps:\n  - id: a\n    run: echo a\n    depnds_on: [b]\n";
        let found = check(&checker, &templates, bad);
        assert!(!found.is_valid());
        assert_eq!(found.problems[0].line, 5, "{:?}", found.problems);
        assert!(found.problems[0].message.contains("depnds_on"));
        let good = "name: x\nsteps:\n  - id: a\n    run: echo a\n  - id: b\n    run: echo b\n    depends_on: [a]\n";
        let found = check(&checker, &templates, good);
        assert!(found.is_valid(), "{found:?}");
        let dag = found.dag.unwrap();
        assert_eq!((dag[1].level, dag[1].id.as_str()), (1, "b"));
        assert_eq!(dag[1].deps, ["a"]);
    }
}
