//! `baton cancel` (here, or by asking the baton that owns the store), `baton approve` and
//! `baton reject` (asking the baton that runs the gate), and `baton gc`.

use std::path::Path;

use clap::Args;

use super::common::{self, Reach};
use anyhow::bail;

use crate::agents::approve::ARGUMENTS_INPUT;
use crate::control::Remote;
use crate::engine::{Command, RunControl, RunReader};
use crate::identity::Operator;
use crate::spec::{Dur, StepId};
use crate::time::Timestamp;

/// `baton cancel`.
#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    /// The run id (a unique prefix is enough).
    pub run: String,
}

/// `baton approve` / `baton reject`.
#[derive(Debug, Clone, Args)]
pub struct DecideArgs {
    /// The run id (a unique prefix is enough).
    pub run: String,
    /// The gated step.
    pub step: String,
    /// Why; recorded in the audit with who decided and when (for an agent's tool call, the
    /// agent is told it too).
    #[arg(long, short = 'm', visible_alias = "note")]
    pub comment: Option<String>,
    /// For an agent's tool call: approve it with these arguments (a JSON object) instead of
    /// the model's; the call runs as edited, the model is told, and the audit keeps the edit.
    #[arg(long = "args", value_name = "JSON")]
    pub arguments: Option<String>,
}

/// Decides a waiting gate of a run that another baton is running.
pub fn decide(data_dir: Option<&Path>, args: DecideArgs, approved: bool) -> anyhow::Result<i32> {
    if crate::temporal::is_run_id(&args.run) {
        let (step, comment) = (args.step.clone(), args.comment.clone());
        // An agent's call edited with `--arguments`: its worker checks the edit.
        let inputs = (args.arguments.clone().into_iter())
            .map(|a| (crate::agents::approve::ARGUMENTS_INPUT.to_string(), a))
            .collect();
        let op = crate::temporal::Op::Decide {
            step,
            approved,
            comment,
            inputs,
        };
        return crate::temporal::command(data_dir, &args.run, op);
    }
    let owner = match common::open_or_ask(data_dir)? {
        Reach::Owner(owner) => owner,
        Reach::Store(opened) => {
            let id = opened.store.resolve_run(&args.run)?;
            bail!(
                "run {id} is not running anywhere, so no gate of it is waiting; `baton resume \
                 {id}` continues it and opens its gate again"
            );
        }
    };
    let id = owner.resolve_run(&args.run)?;
    let gates = owner.run_detail(&id)?.approvals;
    let waiting: Vec<&str> = gates
        .iter()
        .filter(|g| g.decision.is_none())
        .map(|g| g.step.0.as_str())
        .collect();
    match gates.iter().rev().find(|g| g.step.0 == args.step) {
        Some(gate) if gate.decision.is_none() => {
            if let Some(text) = &args.arguments {
                edited_call(gate, text, approved)?;
            }
        }
        Some(gate) => {
            let d = gate
                .decision
                .as_ref()
                .map(|d| d.summary())
                .unwrap_or_default();
            bail!("the gate `{}` of run {id} was already {d}", args.step);
        }
        None => bail!(
            "run {id} has no gate `{}`; {}",
            args.step,
            if waiting.is_empty() {
                "none of its gates is waiting".to_string()
            } else {
                format!("waiting: {}", waiting.join(", "))
            }
        ),
    }
    // The owner records who decided from this connection's credentials, as the kernel gives
    // them; the name printed here is the same one, looked up the same way.
    let by = Operator::current().name;
    owner.send(Command::Decide {
        run: id.clone(),
        step: StepId(args.step.clone()),
        approved,
        via: None,
        comment: args.comment,
        inputs: args
            .arguments
            .map(|text| [(ARGUMENTS_INPUT.to_string(), text)].into())
            .unwrap_or_default(),
    })?;
    outln!(
        "gate `{}` of run {id} {} by {by} (sent to {})",
        args.step,
        if approved { "approved" } else { "rejected" },
        owner.client().owner()
    );
    Ok(0)
}

/// Checks `--args` against the waiting gate: only an agent's tool call has arguments to edit,
/// only an approval runs them, and they must be a JSON object.
fn edited_call(
    gate: &crate::store::ApprovalRecord,
    text: &str,
    approved: bool,
) -> anyhow::Result<()> {
    let step = &gate.step;
    let Some(tool) = &gate.tool else {
        bail!(
            "the gate `{step}` of run {} is not an agent's tool call: `--args` edits the \
             arguments of a tool call (an `approval:` step's inputs are edited in the console)",
            gate.run
        );
    };
    if !approved {
        bail!("`--args` edits the call you approve; a rejected `{tool}` call does not run");
    }
    crate::agents::approve::edited_arguments(text)
        .map(|_| ())
        .map_err(|why| anyhow::anyhow!("--args for the `{tool}` call at step `{step}`: {why}"))
}

/// `baton pause RUN`: asks the baton that runs it to freeze it (`baton resume RUN` unfreezes).
pub fn pause(data_dir: Option<&Path>, args: CancelArgs) -> anyhow::Result<i32> {
    if crate::temporal::is_run_id(&args.run) {
        return crate::temporal::command(data_dir, &args.run, crate::temporal::Op::Pause);
    }
    let owner = match common::open_or_ask(data_dir)? {
        Reach::Owner(owner) => owner,
        Reach::Store(opened) => {
            let id = opened.store.resolve_run(&args.run)?;
            bail!("run {id} is not running anywhere, so there is nothing to pause");
        }
    };
    let id = owner.resolve_run(&args.run)?;
    owner.send(Command::Pause(id.clone()))?;
    outln!(
        "run {id} pausing (sent to {}); `baton resume {id}` continues it",
        owner.client().owner()
    );
    Ok(0)
}

/// `baton gc`.
#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    /// Delete finished runs older than this (e.g. `30d`, `12h`).
    #[arg(long, value_name = "AGE")]
    pub older_than: Dur,
    /// Also drop every cached step result.
    #[arg(long)]
    pub clear_cache: bool,
}

/// `baton cancel RUN`.
pub fn cancel(data_dir: Option<&Path>, args: CancelArgs) -> anyhow::Result<i32> {
    if crate::temporal::is_run_id(&args.run) {
        return crate::temporal::command(data_dir, &args.run, crate::temporal::Op::Cancel);
    }
    let opened = match common::open_or_ask(data_dir)? {
        Reach::Store(opened) => opened,
        Reach::Owner(owner) => return cancel_in_owner(data_dir, &owner, &args.run),
    };
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let id = opened.store.resolve_run(&args.run)?;
    engine.send(Command::Cancel(id.clone()))?;
    outln!("run {id} cancelled");
    Ok(0)
}

/// Asks the baton that owns the store to cancel a run, and waits (a while) until it has. An
/// owner that was only running that run exits with it; then the store says how it ended.
fn cancel_in_owner(data_dir: Option<&Path>, owner: &Remote, run: &str) -> anyhow::Result<i32> {
    let id = owner.resolve_run(run)?;
    owner.send(Command::Cancel(id.clone()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let state = match owner.run(&id) {
            Ok(record) => Some(record.state),
            // The owner has gone (it ended with the run, most likely): the store tells.
            Err(_) => common::open_or_ask(data_dir)?
                .reader()
                .run(&id)
                .ok()
                .map(|r| r.state),
        };
        if state.is_none_or(|s| s.is_terminal()) {
            outln!(
                "run {id} {} (by {})",
                state.map_or("cancelled".to_string(), |s| s.to_string()),
                owner.client().owner()
            );
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    outln!("run {id}: {} is still stopping it", owner.client().owner());
    Ok(0)
}

/// `baton gc --older-than AGE`.
pub fn gc(data_dir: Option<&Path>, args: GcArgs) -> anyhow::Result<i32> {
    let opened = common::open_to_own(data_dir)?;
    let before = opened.store.size_on_disk();
    let cutoff = Timestamp(
        Timestamp::now()
            .0
            .saturating_sub(args.older_than.get().as_millis() as u64),
    );
    let removed = opened.store.gc(cutoff)?;
    outln!(
        "deleted {} run(s) finished before {}",
        removed.len(),
        cutoff.rfc3339()
    );
    // A run's creation a kill cut short left its workflow and plan, and no run.
    let orphans = opened.store.sweep_orphans()?;
    if orphans > 0 {
        outln!("removed the stored workflows of {orphans} run(s) whose creation was cut short");
    }
    if args.clear_cache {
        outln!("dropped {} cache entries", opened.store.clear_cache()?);
    } else {
        let pruned = opened.store.prune_cache(cutoff)?;
        if pruned > 0 {
            outln!("dropped {pruned} cache entries stored before then");
        }
    }
    let after = opened.store.size_on_disk();
    outln!("store size {} KiB → {} KiB", before / 1024, after / 1024);
    Ok(0)
}
