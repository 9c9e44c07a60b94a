//! The command line: `baton` with no command opens the console.

pub mod graph;
pub mod validate;

use clap::{Parser, Subcommand};

/// baton: run, watch and steer workflows of shell commands, HTTP calls, LLM agents and approvals.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about)]
pub struct Cli {
    /// The subcommand; none opens the console.
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Check workflow files: every problem with file:line:col and a hint (exit 1 if any).
    Validate(validate::ValidateArgs),
    /// Show a workflow's levels (steps that can run together) and dependency edges.
    Graph(graph::GraphArgs),
}

/// Parses the arguments and runs the chosen command; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Some(CliCommand::Validate(args)) => validate::run(args),
        Some(CliCommand::Graph(args)) => graph::run(args),
        None => 0,
    }
}
