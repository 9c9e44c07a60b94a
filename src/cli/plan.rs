//! `baton plan "REQUEST"`: a workflow drafted by a model from a request, checked as `baton
//! validate` checks a file, printed or written, kept as a plan version, and run on request.
//!
//! Exit codes: 0 a valid plan (or, with `--run`, the run's own code); 1 a draft that is still
//! invalid after the repair rounds (printed with its problems); 2 no model answered, or bad
//! input.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::common::Shown;
use super::run::{FollowOptions, RunArgs};
use crate::config::{ConfigFile, Paths};
use crate::planner::versions::{NewVersion, PlanBook, PlanVersion, VersionKind};
use crate::planner::{DEFAULT_ROUNDS, Draft, PlanRequest, Planner};
use crate::providers::RouteEvent;

/// Draft a workflow from a request in plain language.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// What the workflow should do, e.g. "read what we did in December and schedule a meeting".
    pub request: String,
    /// Write the workflow to this file instead of printing it (replacing the file).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Start the plan once it is shown (at a terminal, after a confirmation).
    #[arg(long)]
    pub run: bool,
    /// With `--run`, start without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Let planned steps that change things run without an approval gate.
    #[arg(long)]
    pub no_approve: bool,
    /// Times an invalid draft goes back to the model with its problems.
    #[arg(long, default_value_t = DEFAULT_ROUNDS, value_name = "N")]
    pub rounds: u32,
    /// The provider to ask first (the others stay fallbacks).
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// The model to ask for on that provider.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Revise this plan version: the request is then a follow-up instruction about it.
    #[arg(long, value_name = "ID")]
    pub revise: Option<String>,
    #[command(flatten)]
    /// How a `--run` answers gates and prints.
    pub follow: FollowOptions,
}

/// `baton plan`.
pub fn plan(data_dir: Option<&Path>, args: PlanArgs) -> anyhow::Result<i32> {
    let paths = Paths::secured(data_dir)?;
    let config = ConfigFile::load(&paths.config_file())?;
    let book = PlanBook::open(&paths.data)?;
    let planner = Planner::for_machine(&paths, &config)?;
    let parent = args.revise.as_deref().map(|id| book.get(id)).transpose()?;
    let mut req = PlanRequest::new(args.request.clone());
    req.gates = !args.no_approve;
    req.rounds = args.rounds;
    req.provider = args.provider.clone();
    req.model = args.model.clone();
    req.revise = parent.as_ref().map(|v| v.yaml.clone());
    if let Some(out) = &args.output {
        req.origin = out.clone();
    }
    let rt = super::common::runtime()?;
    let err = Shown::stderr();
    let mut sink = |event: RouteEvent| {
        if let RouteEvent::Note(note) = event {
            errln!("baton: {}", err.text(&note));
        }
    };
    let draft = rt
        .block_on(planner.draft(&req, &mut sink))
        .map_err(|e| anyhow::anyhow!("cannot plan: {e}"))?;
    drop(rt);
    let version = book.record(NewVersion {
        kind: if parent.is_some() {
            VersionKind::Edit
        } else {
            VersionKind::Draft
        },
        parent: parent.map(|p| p.id),
        request: args.request.clone(),
        provider: Some(draft.provider.clone()),
        model: Some(draft.model.clone()),
        yaml: draft.yaml.clone(),
        problems: draft.problems.iter().map(|d| d.to_string()).collect(),
        run: None,
    })?;
    show(&args, &draft, &version)?;
    if !draft.is_valid() {
        return Ok(1);
    }
    if !args.run {
        return Ok(0);
    }
    if !confirmed(args.yes)? {
        errln!("baton: not started; run it later with `baton run FILE`");
        return Ok(0);
    }
    let file = match &args.output {
        Some(file) => file.clone(),
        None => book.write_workflow(&version)?,
    };
    super::run::run(
        data_dir,
        RunArgs {
            file,
            params: Vec::new(),
            detach: false,
            follow: args.follow.clone(),
            dry_run: false,
            temporal: false,
        },
    )
}

/// Prints or writes the draft, then says which version it is and what is wrong with it.
fn show(args: &PlanArgs, draft: &Draft, version: &PlanVersion) -> anyhow::Result<()> {
    let err = Shown::stderr();
    match &args.output {
        Some(file) => std::fs::write(file, &draft.yaml)
            .with_context(|| format!("cannot write the plan to {}", file.display()))?,
        None => outln!("{}", Shown::stdout(false).text(draft.yaml.trim_end())),
    }
    if !draft.summary.is_empty() {
        errln!("{}", err.text(draft.summary.trim()));
    }
    let place = args
        .output
        .as_ref()
        .map(|f| format!(", written to {}", f.display()))
        .unwrap_or_default();
    errln!(
        "plan version {} ({}/{}, {} call(s)){place}",
        version.id,
        err.text(&draft.provider),
        err.text(&draft.model),
        draft.calls
    );
    for d in &draft.problems {
        errln!("{}", err.text(&d.to_string()));
    }
    if !draft.is_valid() {
        errln!(
            "the draft is still invalid after {} repair round(s): {} problem(s); edit it and \
             check it with `baton validate`, or ask again with `baton plan --revise {} \"...\"`",
            draft.calls.saturating_sub(1),
            draft.problems.len(),
            version.id
        );
    }
    Ok(())
}

/// Asks at a terminal whether to start; without one, `--run` is the operator's word.
fn confirmed(yes: bool) -> anyhow::Result<bool> {
    if yes || !std::io::stdin().is_terminal() {
        return Ok(true);
    }
    super::common::ask_yes("Run this plan now?")
}
