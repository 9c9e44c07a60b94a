//! `baton run FILE --dry-run`: prints every step as it would run (see `engine/dry_run.rs`) and
//! runs nothing. No store is opened, so it works while another baton owns the store, and
//! leaves no trace. Exit codes: 0 shown; 2 bad input (the workflow, a param).

use std::path::{Path, PathBuf};

use super::common::Shown;
use super::run::{RunArgs, parse_params};
use crate::config::{ConfigFile, Paths};
use crate::engine::dry_run::{DryStep, render_file};

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
    // The config is read, never written: a missing or unreadable one is the defaults.
    let paths = Paths::resolve(data_dir).ok();
    let config = paths
        .as_ref()
        .and_then(|p| ConfigFile::load(&p.config_file()).ok())
        .unwrap_or_default();
    let mut dirs = vec![PathBuf::from("workflows")];
    dirs.extend(paths.as_ref().map(Paths::workflows_dir));
    render_file(&args.file, &given, &config, &dirs)
}

fn print(args: &RunArgs, steps: &[DryStep]) {
    let out = Shown::stdout(false);
    outln!(
        "dry run of {}: nothing runs, nothing is stored; ⟨…⟩ marks what a run fills in",
        out.text(&args.file.display().to_string())
    );
    for (n, step) in steps.iter().enumerate() {
        outln!();
        outln!("{}", out.text(&step.heading(n + 1)));
        for line in &step.lines {
            outln!("   {}", out.text(line));
        }
    }
}
