//! `baton agents`: the agent profiles in effect (built-in and user files), or one in full.

use super::common::Shown;
use std::path::Path;

use clap::Args;

use crate::agents::AgentCatalog;

/// Arguments of `baton agents`.
#[derive(Debug, Clone, Args)]
pub struct AgentsArgs {
    /// Show this profile in full (system prompt, preferences) instead of the list.
    pub name: Option<String>,
}

/// Runs `baton agents [NAME]` with user profiles from `agents_dir` (the config directory's
/// `agents/`; a missing directory is fine). Prints to stdout, problems with profile files to
/// stderr; returns 0, 1 when a profile file could not be used, 2 for an unknown name.
pub fn run_agents(args: &AgentsArgs, agents_dir: Option<&Path>) -> i32 {
    let (catalog, problems) = AgentCatalog::load(agents_dir);
    for p in &problems {
        errln!("warning: {}", Shown::stderr().text(&p.to_string()));
    }
    match &args.name {
        None => out!("{}", Shown::stdout(false).text(&catalog.table())),
        Some(name) => match catalog.get(name) {
            Ok(profile) => out!("{}", Shown::stdout(false).text(&profile.describe())),
            Err(e) => {
                errln!("baton agents: {e}");
                return 2;
            }
        },
    }
    if problems.is_empty() { 0 } else { 1 }
}
