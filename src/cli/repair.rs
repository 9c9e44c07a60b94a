//! `baton repair RUN STEP`: a model proposes a fix of a failed step, shown as a diff of the
//! step; approved (`--approve`, or `y` at a terminal), the run continues from that step with
//! the changed definition, recorded in the run's history and as a plan version; otherwise
//! nothing changes.
//!
//! Exit codes: as `baton retry` once approved; 1 no valid proposal, or not approved; 2 bad
//! input or no model answered.

use std::io::IsTerminal;
use std::path::Path;

use clap::Args;

use super::common::Shown;
use super::run::{FollowArgs, FollowOptions};
use crate::config::{ConfigFile, Paths};
use crate::engine::Command;
use crate::identity::Operator;
use crate::planner::repair::{Failure, propose};
use crate::planner::versions::{NewVersion, PlanBook, VersionKind};
use crate::planner::{DEFAULT_ROUNDS, Planner, diff};
use crate::providers::RouteEvent;
use crate::spec::StepId;

/// Ask a model to fix a failed step; approve its proposal to continue the run.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The run (a unique prefix is enough).
    pub run: String,
    /// The failed step.
    pub step: String,
    /// Apply the proposal without asking (recorded as approved by you).
    #[arg(long)]
    pub approve: bool,
    /// Times an invalid proposal goes back to the model with its problems.
    #[arg(long, default_value_t = DEFAULT_ROUNDS, value_name = "N")]
    pub rounds: u32,
    /// Approve every gate of the continued run without asking; recorded in the audit.
    #[arg(long)]
    pub approve_all: bool,
    /// Let the continued run's gates wait for `baton approve` from another shell.
    #[arg(long)]
    pub wait_for_gates: bool,
    /// Print one JSON event per line of the continued run.
    #[arg(long)]
    pub json: bool,
    /// Ask the model again even when a proposal was drafted when the run failed
    /// (`on_failure: { repair: true }`).
    #[arg(long)]
    pub fresh: bool,
}

/// The fix shown and, once approved, applied.
struct Proposal {
    yaml: String,
    summary: String,
    provider: Option<String>,
    model: Option<String>,
    /// The stored proposal it came from.
    from: Option<String>,
}

/// `baton repair`.
pub fn repair(data_dir: Option<&Path>, args: RepairArgs) -> anyhow::Result<i32> {
    let paths = Paths::secured(data_dir)?;
    let config = ConfigFile::load(&paths.config_file())?;
    let book = PlanBook::open(&paths.data)?;
    let failure = read_failure(data_dir, &args)?;
    let err = Shown::stderr();
    let stored = match args.fresh {
        true => None,
        false => book.proposal_for(&failure.run, failure.step.as_str())?,
    };
    let proposal = match stored {
        Some(v) => {
            errln!(
                "the proposal drafted when the run failed: plan version {} ({}/{}); `--fresh` \
                 asks the model again",
                v.id,
                v.provider.as_deref().unwrap_or("?"),
                v.model.as_deref().unwrap_or("?")
            );
            Proposal {
                yaml: v.yaml,
                summary: String::new(),
                provider: v.provider,
                model: v.model,
                from: Some(v.id),
            }
        }
        None => {
            let planner = Planner::for_machine(&paths, &config)?;
            let rt = super::common::runtime()?;
            let mut sink = |event: RouteEvent| {
                if let RouteEvent::Note(note) = event {
                    errln!("baton: {}", err.text(&note));
                }
            };
            let draft = rt
                .block_on(propose(&planner, &failure, args.rounds, &mut sink))
                .map_err(|e| anyhow::anyhow!("cannot ask for a repair: {e}"))?;
            drop(rt);
            if !draft.is_valid() {
                for d in &draft.problems {
                    errln!("{}", err.text(&d.to_string()));
                }
                errln!(
                    "no valid proposal after {} round(s); nothing changed",
                    draft.calls
                );
                return Ok(1);
            }
            Proposal {
                yaml: draft.yaml,
                summary: draft.summary,
                provider: Some(draft.provider),
                model: Some(draft.model),
                from: None,
            }
        }
    };
    let step = &failure.step;
    let shown = diff::step_change(step, &failure.source, &proposal.yaml);
    outln!("{}", Shown::stdout(false).text(shown.trim_end()));
    if !proposal.summary.is_empty() {
        errln!("{}", err.text(proposal.summary.trim()));
    }
    if !approved(args.approve)? {
        errln!(
            "not applied; nothing changed (`baton repair {} {step} --approve` applies a proposal)",
            failure.run
        );
        return Ok(1);
    }
    let parent = match proposal.from {
        Some(id) => Some(id),
        None => book.of_source(&failure.source)?.map(|v| v.id),
    };
    let version = book.record(NewVersion {
        kind: VersionKind::Repair,
        parent,
        request: crate::planner::versions::proposal_request(&failure.run, step.as_str()),
        provider: proposal.provider,
        model: proposal.model,
        yaml: proposal.yaml.clone(),
        problems: Vec::new(),
        run: Some(failure.run.clone()),
    })?;
    errln!(
        "repair approved by {} as plan version {}",
        Operator::current(),
        version.id
    );
    let (source, id) = (proposal.yaml, version.id.clone());
    let (source2, id2, step2) = (source.clone(), id.clone(), step.clone());
    super::run::continue_run(
        data_dir,
        FollowArgs {
            run: failure.run.clone(),
            follow: FollowOptions {
                json: args.json,
                approve: Vec::new(),
                approve_all: args.approve_all,
                wait_for_gates: args.wait_for_gates,
                quiet: false,
                raw: false,
            },
        },
        move |engine, run| engine.repair_run(run, step, source, Some(&id), &Operator::current()),
        move |run| Command::Repair {
            run,
            step: step2,
            source: source2,
            version: Some(id2),
        },
    )
}

/// What the run's store says about the failed step.
fn read_failure(data_dir: Option<&Path>, args: &RepairArgs) -> anyhow::Result<Failure> {
    let reader = super::common::reader(data_dir)?;
    let id = reader.resolve_run(&args.run)?;
    Failure::read(reader.as_ref(), &id, StepId(args.step.clone()))
}

/// Asks at a terminal whether to apply; without one only `--approve` applies.
fn approved(flag: bool) -> anyhow::Result<bool> {
    if flag {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    super::common::ask_yes("Apply this repair and continue the run?")
}
