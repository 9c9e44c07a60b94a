//! `baton plans`: the plan versions kept by `baton plan`, the console's planner and `baton
//! repair` — listed, one shown (with the runs that ran it), or two compared.

use std::path::Path;

use clap::{Args, Subcommand};

use super::common::Shown;
use crate::config::Paths;
use crate::planner::diff;
use crate::planner::versions::{PlanBook, PlanVersion, digest};

/// List, show or compare plan versions.
#[derive(Debug, Args)]
pub struct PlansArgs {
    /// What to do; none lists them.
    #[command(subcommand)]
    pub command: Option<PlansCommand>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `baton plans` subcommands.
#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// One version: its request, provider, model, author, problems, text and the runs that
    /// ran it.
    Show {
        /// The version id (a unique prefix is enough).
        id: String,
    },
    /// What changed from version A to version B.
    Diff {
        /// The older version.
        a: String,
        /// The newer version.
        b: String,
    },
}

/// How many of the newest runs `plans show` looks through for the runs of a version.
const RUNS_LOOKED_AT: usize = 500;

/// `baton plans`.
pub fn plans(data_dir: Option<&Path>, args: PlansArgs) -> anyhow::Result<i32> {
    let paths = Paths::secured(data_dir)?;
    let book = PlanBook::open(&paths.data)?;
    match args.command {
        None => list(&book, args.json),
        Some(PlansCommand::Show { id }) => show(data_dir, &book, &id, args.json),
        Some(PlansCommand::Diff { a, b }) => {
            let (a, b) = (book.get(&a)?, book.get(&b)?);
            let text = diff::unified(&a.id, &b.id, &a.yaml, &b.yaml, 3);
            outln!("{}", Shown::stdout(false).text(text.trim_end()));
            Ok(0)
        }
    }
}

fn list(book: &PlanBook, json: bool) -> anyhow::Result<i32> {
    let versions = book.list()?;
    if json {
        let text = serde_json::to_string_pretty(&versions)?;
        outln!("{}", Shown::stdout(false).json(text));
        return Ok(0);
    }
    let out = Shown::stdout(false);
    if versions.is_empty() {
        errln!("no plan versions yet; `baton plan \"REQUEST\"` drafts one");
        return Ok(0);
    }
    outln!(
        "ID           KIND    WHEN                      AUTHOR     VALID  MODEL                 REQUEST"
    );
    for v in &versions {
        let model = format!(
            "{}/{}",
            v.provider.as_deref().unwrap_or("-"),
            v.model.as_deref().unwrap_or("-")
        );
        outln!(
            "{:<12} {:<7} {:<25} {:<10} {:<6} {:<21} {}",
            v.id,
            v.kind.as_str(),
            v.at.rfc3339(),
            out.text(&v.author.name),
            if v.problems.is_empty() { "yes" } else { "no" },
            out.text(&model),
            out.text(&one_line(&v.request, 60))
        );
    }
    Ok(0)
}

fn show(data_dir: Option<&Path>, book: &PlanBook, id: &str, json: bool) -> anyhow::Result<i32> {
    let v = book.get(id)?;
    let runs = runs_of(data_dir, &v);
    if json {
        let mut value = serde_json::to_value(&v)?;
        value["runs"] = serde_json::json!(runs);
        let text = serde_json::to_string_pretty(&value)?;
        outln!("{}", Shown::stdout(false).json(text));
        return Ok(0);
    }
    let out = Shown::stdout(false);
    outln!("plan version {} ({})", v.id, v.kind.as_str());
    if let Some(parent) = &v.parent {
        outln!("from:     {parent}");
    }
    outln!("request:  {}", out.text(&v.request));
    outln!(
        "by:       {} at {}",
        out.text(&v.author.to_string()),
        v.at.rfc3339()
    );
    if let (Some(p), Some(m)) = (&v.provider, &v.model) {
        outln!("model:    {}/{}", out.text(p), out.text(m));
    }
    if let Some(run) = &v.run {
        outln!("repairs:  run {}", out.text(run));
    }
    outln!(
        "runs:     {}",
        if runs.is_empty() {
            "none".into()
        } else {
            runs.join(", ")
        }
    );
    for p in &v.problems {
        outln!("{}", out.text(p.trim_end()));
    }
    outln!("---");
    outln!("{}", out.text(v.yaml.trim_end()));
    Ok(0)
}

/// The runs whose stored workflow is this version's text (of the newest runs).
fn runs_of(data_dir: Option<&Path>, v: &PlanVersion) -> Vec<String> {
    let Ok(reader) = super::common::reader(data_dir) else {
        return Vec::new();
    };
    let Ok(mut runs) = reader.runs() else {
        return Vec::new();
    };
    runs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    runs.into_iter()
        .take(RUNS_LOOKED_AT)
        .filter_map(|r| reader.run(&r.id).ok())
        .filter(|r| digest(&r.source) == v.digest)
        .map(|r| r.id.0)
        .collect()
}

fn one_line(text: &str, width: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= width {
        line
    } else {
        let cut: String = line.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
