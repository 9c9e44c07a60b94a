//! The command line: `baton` with no command opens the console.

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
pub enum CliCommand {}

/// Parses the arguments and runs the chosen command; returns the process exit code.
pub fn main() -> i32 {
    let _cli = Cli::parse();
    0
}
