//! The command line: `baton` with no command opens the console.

#[macro_use]
pub mod out;
pub mod agents;
pub mod common;
pub mod completions;
pub mod console;
pub mod detach;
pub mod doctor;
pub mod dry_run;
pub mod graph;
pub mod hosts;
pub mod init;
pub mod inspect;
pub mod logfile;
pub mod manage;
pub mod memory;
pub mod plan;
pub mod plans;
pub mod progress;
pub mod providers;
pub mod quiet_log;
pub mod repair;
pub mod run;
pub mod schedules;
pub mod schema;
pub mod serve;
pub mod signals;
pub mod tools;
pub mod validate;
pub mod worker;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// baton: run, watch and steer workflows of shell commands, HTTP calls, LLM agents and approvals.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None)]
pub struct Cli {
    /// Where runs are stored (default: $BATON_HOME, else the platform's data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The console's colour theme: dark, light, high-contrast, monochrome, or a TOML file.
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,

    /// The subcommand; none opens the console.
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run a workflow headless, printing a line per transition.
    Run(run::RunArgs),
    /// List runs.
    Ls(inspect::LsArgs),
    /// Show a run: its steps, their states and outputs.
    Show(inspect::ShowArgs),
    /// Print a run's logs (of one step if given).
    Logs(inspect::LogsArgs),
    /// Continue an interrupted run; completed steps are not run again.
    Resume(run::FollowArgs),
    /// Re-run the failed, cancelled and skipped steps of a finished run.
    Retry(run::FollowArgs),
    /// Cancel a run (one another baton is running is cancelled there).
    Cancel(manage::CancelArgs),
    /// Pause a run another baton is running: its processes are frozen, its clocks stopped;
    /// `baton resume RUN` continues it.
    Pause(manage::CancelArgs),
    /// Approve a waiting gate of a run another baton is running (`run --wait-for-gates`).
    Approve(manage::DecideArgs),
    /// Reject a waiting gate of a run another baton is running.
    Reject(manage::DecideArgs),
    /// Own the store without a console: consoles attach to it, `baton run` runs in it, until
    /// SIGINT, SIGTERM or SIGHUP (active runs are then left interrupted; exit 0); fires the
    /// workflows' schedules and serves the HTTP API (on the control socket, and `--listen ADDR`).
    Serve(serve::ServeArgs),
    /// List the scheduled workflows with their next fire times.
    Schedules(schedules::SchedulesArgs),
    /// Delete finished runs older than a given age.
    Gc(manage::GcArgs),
    /// Check the store run by run; `--export DIR` copies every intact run into a new store
    /// (also from a store that no longer opens).
    Doctor(doctor::DoctorArgs),
    /// Check workflow files: every problem with file:line:col and a hint (exit 1 if any).
    Validate(validate::ValidateArgs),
    /// Draft a workflow from a request in plain language: checked as `validate` checks a
    /// file, printed (or written with -o), kept as a plan version; `--run` starts it.
    Plan(plan::PlanArgs),
    /// Ask a model to fix a failed step: its proposal is shown as a diff; approved
    /// (`--approve`, or at a terminal), the run continues from that step with it.
    Repair(repair::RepairArgs),
    /// List the plan versions (drafts, edits, repairs); `show ID`, `diff A B`.
    Plans(plans::PlansArgs),
    /// Show a workflow's levels (steps that can run together) and dependency edges.
    Graph(graph::GraphArgs),
    /// List the LLM providers (configured or found in the environment) with their health.
    Providers(providers::ProvidersArgs),
    /// List the agent profiles (built-in and yours), or show one.
    Agents(agents::AgentsArgs),
    /// List the tools agent steps can use (built-in, and a workflow's MCP servers' with -f),
    /// with whether their calls wait for approval.
    Tools(tools::ToolsArgs),
    /// List or clear the notes agents keep across runs with `remember` (`ls`, `show`,
    /// `clear`, by `--scope`).
    Memory(memory::MemoryArgs),
    /// Write a commented starter workflow and config (never overwriting a file).
    Init(init::InitArgs),
    /// Print the JSON Schema of workflow files (for editors and linters).
    Schema,
    /// Print shell completions: bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff): `baton man | man -l -`.
    Man,
    /// List the hosts steps can name with `on:`; `check` connects to each and reports its
    /// latency or the exact error.
    Hosts(hosts::HostsArgs),
    /// Run the steps of Temporal runs (and, on the runs' queue, their workflows) until SIGINT
    /// or SIGTERM; see docs/temporal.md.
    Worker(worker::WorkerArgs),
}

/// Runs a command that needs the config but not the store (so it works while another baton
/// owns the store).
fn with_config(
    data_dir: Option<&std::path::Path>,
    f: impl FnOnce(&crate::config::Paths, &crate::config::ConfigFile) -> i32,
) -> anyhow::Result<i32> {
    let paths = crate::config::Paths::secured(data_dir)?;
    let config = crate::config::ConfigFile::load(&paths.config_file())?;
    Ok(f(&paths, &config))
}

/// Parses the arguments and runs the chosen command; returns the process exit code.
pub fn main() -> i32 {
    crate::fsperm::restrict_umask();
    crate::descriptors::raise_open_files_limit();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(CliCommand::Run(args)) => run::run(cli.data_dir.as_deref(), args),
        Some(CliCommand::Resume(args)) => run::resume(cli.data_dir.as_deref(), args),
        Some(CliCommand::Retry(args)) => run::retry(cli.data_dir.as_deref(), args),
        Some(CliCommand::Ls(args)) => inspect::ls(cli.data_dir.as_deref(), args),
        Some(CliCommand::Show(args)) => inspect::show(cli.data_dir.as_deref(), args),
        Some(CliCommand::Logs(args)) => inspect::logs(cli.data_dir.as_deref(), args),
        Some(CliCommand::Cancel(args)) => manage::cancel(cli.data_dir.as_deref(), args),
        Some(CliCommand::Pause(args)) => manage::pause(cli.data_dir.as_deref(), args),
        Some(CliCommand::Init(args)) => init::init(args),
        Some(CliCommand::Schema) => schema::run(),
        Some(CliCommand::Completions(args)) => completions::completions(args),
        Some(CliCommand::Man) => completions::man(),
        Some(CliCommand::Approve(args)) => manage::decide(cli.data_dir.as_deref(), args, true),
        Some(CliCommand::Reject(args)) => manage::decide(cli.data_dir.as_deref(), args, false),
        Some(CliCommand::Gc(args)) => manage::gc(cli.data_dir.as_deref(), args),
        Some(CliCommand::Doctor(args)) => doctor::doctor(cli.data_dir.as_deref(), args),
        Some(CliCommand::Serve(args)) => serve::serve(cli.data_dir.as_deref(), args),
        Some(CliCommand::Schedules(args)) => with_config(cli.data_dir.as_deref(), |paths, _| {
            schedules::run(paths, &args)
        }),
        Some(CliCommand::Validate(args)) => Ok(validate::run(args)),
        Some(CliCommand::Plan(args)) => plan::plan(cli.data_dir.as_deref(), args),
        Some(CliCommand::Repair(args)) => repair::repair(cli.data_dir.as_deref(), args),
        Some(CliCommand::Plans(args)) => plans::plans(cli.data_dir.as_deref(), args),
        Some(CliCommand::Graph(args)) => Ok(graph::run(args)),
        Some(CliCommand::Providers(args)) => {
            with_config(cli.data_dir.as_deref(), |paths, config| {
                providers::run_providers(
                    &args,
                    &config.providers,
                    &crate::providers::process_env,
                    Some(&paths.provider_health()),
                )
            })
        }
        Some(CliCommand::Agents(args)) => with_config(cli.data_dir.as_deref(), |paths, _| {
            agents::run_agents(&args, Some(&paths.agents_dir()))
        }),
        Some(CliCommand::Tools(args)) => tools::run(&args),
        Some(CliCommand::Memory(args)) => memory::run(cli.data_dir.as_deref(), args),
        Some(CliCommand::Hosts(args)) => with_config(cli.data_dir.as_deref(), |paths, config| {
            let ssh = crate::remote::Ssh::new(
                config.hosts.clone(),
                config.ssh.clone(),
                Some(&paths.data),
            );
            hosts::run(&args, &ssh)
        }),
        Some(CliCommand::Worker(args)) => worker::run(cli.data_dir.as_deref(), args),
        None => console::open(cli.data_dir.as_deref(), cli.theme),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            errln!("baton: {}", common::Shown::stderr().text(&format!("{e:#}")));
            2
        }
    };
    crate::otel::flush_at_exit();
    common::flush_own_log();
    code
}
