//! `baton run FILE --dry-run`: prints every step as it would run (see `engine/dry_run.rs`) and
//! runs nothing. No store is opened, so it works while another baton owns the store, and
//! leaves no trace. Exit codes: 0 shown; 2 bad input (the workflow, a param).

use std::path::{Path, PathBuf};

use super::common::Shown;
use super::run::{RunArgs, parse_params};
use crate::config::{ConfigFile, Paths};
use crate::engine::dry_run::{DryRun, DryStep, Verdict};
use crate::engine::secrets::RunSecrets;

/// Renders and prints the workflow's steps.
pub fn run(data_dir: Option<&Path>, args: &RunArgs) -> anyhow::Result<i32> {
    let err = Shown::stderr();
    let steps = match render(data_dir, args) {
        Ok(steps) => steps,
        Err(e) => {
            errln!("{}", err.text(&format!("{e:#}")));
            return Ok(2);
        }
    };
    print(args, &steps);
    Ok(0)
}

fn render(data_dir: Option<&Path>, args: &RunArgs) -> anyhow::Result<Vec<DryStep>> {
    let given = parse_params(&args.params)?;
    let source = crate::spec::read_source(&args.file).map_err(|d| anyhow::anyhow!("{d}"))?;
    let wf = crate::spec::parse_str(&source, &args.file).map_err(|d| anyhow::anyhow!("{d}"))?;
    // The config is read, never written: a missing or unreadable one is the defaults.
    let paths = Paths::resolve(data_dir).ok();
    let config = paths
        .as_ref()
        .and_then(|p| ConfigFile::load(&p.config_file()).ok())
        .unwrap_or_default();
    let mut dirs = vec![PathBuf::from("workflows")];
    dirs.extend(paths.as_ref().map(Paths::workflows_dir));
    let problems = crate::spec::check_calls(&wf, &dirs);
    if !problems.is_empty() {
        anyhow::bail!("{}", crate::spec::Diagnostics(problems));
    }
    let params = crate::spec::resolve_params(&wf, &given)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let workdir = std::env::current_dir().ok();
    let env = &crate::providers::process_env;
    let secrets = RunSecrets::resolve(
        &wf,
        Some(&args.file.display().to_string()),
        &source,
        workdir.as_deref().and_then(Path::to_str),
        env,
    )?;
    let ssh = crate::remote::Ssh::new(config.hosts.clone(), config.ssh.clone(), None);
    let dry = DryRun {
        workflow: &wf,
        params,
        secrets,
        masked: crate::providers::secrets(&config.providers, env),
        workdir,
        ssh: &ssh,
        workflow_dirs: &dirs,
    };
    Ok(dry.steps())
}

fn print(args: &RunArgs, steps: &[DryStep]) {
    let out = Shown::stdout(false);
    outln!(
        "dry run of {}: nothing runs, nothing is stored; ⟨…⟩ marks what a run fills in",
        out.text(&args.file.display().to_string())
    );
    for (n, step) in steps.iter().enumerate() {
        let verdict = match &step.verdict {
            Verdict::Runs => String::new(),
            Verdict::RunsIf(expr) => format!(" — runs if {expr}"),
            Verdict::Skipped(why) => format!(" — skipped: {why}"),
            Verdict::Unrendered(why) => format!(" — cannot be shown before a run: {why}"),
        };
        outln!();
        outln!(
            "{}. {} ({}){}",
            n + 1,
            out.text(&step.id),
            step.kind,
            out.text(&verdict)
        );
        for line in &step.lines {
            outln!("   {}", out.text(line));
        }
    }
}
