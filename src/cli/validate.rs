//! `baton validate FILE...`: parse and check workflow files; exit 0 when all are valid.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::common::Shown;
use crate::planner::Checker;
use crate::spec::{self, Diagnostic, Templates};

/// Check workflow files and report every problem with file:line:col and a hint.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Workflow files (YAML, or JSON with a `.json` extension).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print one JSON document for tools instead of text:
    /// `{"valid": bool, "files": [{"file", "valid", "name", "steps", "diagnostics": [...]}]}`.
    #[arg(long)]
    pub json: bool,
    /// Also accept this agent name (e.g. a profile defined elsewhere); repeatable.
    #[arg(long = "agent", value_name = "NAME")]
    pub agents: Vec<String>,
    /// Also accept this provider name (e.g. one configured on another machine); repeatable.
    #[arg(long = "provider", value_name = "NAME")]
    pub providers: Vec<String>,
}

#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    name: Option<String>,
    steps: Option<usize>,
    diagnostics: Vec<Diagnostic>,
    /// Notes on a valid file: each `| raw` in a `run` command.
    notes: Vec<Diagnostic>,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    files: Vec<FileReport>,
}

/// Checks every file; returns the exit code (0 all valid, 1 otherwise).
pub fn run(args: ValidateArgs) -> i32 {
    let templates = Templates::new();
    let paths = crate::config::Paths::resolve(None)
        .ok()
        .filter(|p| p.check_config().is_ok());
    let config = paths
        .as_ref()
        .and_then(|p| crate::config::ConfigFile::load(&p.config_file()).ok());
    let checker = Checker::for_machine(
        paths.as_ref(),
        config.as_ref(),
        &args.agents,
        &args.providers,
    );
    let mut reports = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let file = path.display().to_string();
        let report = match spec::load_file_with(path, &templates) {
            Ok(wf) => {
                let problems = checker.check_workflow(&wf);
                let report = FileReport {
                    file,
                    valid: problems.is_empty(),
                    name: Some(wf.name.clone()),
                    steps: Some(wf.steps.len()),
                    diagnostics: problems,
                    notes: spec::notes(&wf),
                };
                // The process ends soon after: freeing a large workflow piece by piece (5 % of
                // the instructions of `baton validate` for 1,000 steps) is left to the exit.
                std::mem::forget(wf);
                report
            }
            Err(diags) => FileReport {
                file,
                valid: false,
                name: None,
                steps: None,
                diagnostics: diags.0,
                notes: Vec::new(),
            },
        };
        reports.push(report);
    }
    let valid = reports.iter().all(|r| r.valid);
    let report = Report {
        valid,
        files: reports,
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => outln!("{}", Shown::stdout(false).json(text)),
            Err(e) => {
                errln!("error: cannot write the JSON report: {e}");
                return 2;
            }
        }
    } else {
        print_human(&report);
    }
    if valid { 0 } else { 1 }
}

fn print_human(report: &Report) {
    let (out, err) = (Shown::stdout(false), Shown::stderr());
    let mut problems = 0;
    for r in &report.files {
        for n in &r.notes {
            errln!("{n}");
        }
        if r.valid {
            outln!(
                "ok: {} ({}, {} steps)",
                out.text(&r.file),
                out.text(r.name.as_deref().unwrap_or("?")),
                r.steps.unwrap_or(0)
            );
        } else {
            for d in &r.diagnostics {
                errln!("{}", err.text(&d.to_string()));
            }
            problems += r.diagnostics.len();
        }
    }
    let bad = report.files.iter().filter(|r| !r.valid).count();
    if bad > 0 {
        errln!(
            "{bad} of {} file(s) invalid, {problems} problem(s)",
            report.files.len()
        );
    }
}
