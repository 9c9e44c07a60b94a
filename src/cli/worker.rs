//! `baton worker [--queue NAME]...`: runs the steps of Temporal runs on this machine (and, on
//! the runs' own queue, their workflow code) until SIGINT or SIGTERM.

use std::path::Path;

use clap::Args;

/// `baton worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// A task queue to serve (repeatable); default: `[temporal] task_queue`, else `baton`.
    /// Steps pick theirs with `queue:`.
    #[arg(long = "queue", short = 'q', value_name = "NAME")]
    pub queues: Vec<String>,
}

/// Serves the queues until told to stop.
pub fn run(data_dir: Option<&Path>, args: WorkerArgs) -> anyhow::Result<i32> {
    crate::temporal::worker(data_dir, &args.queues)
}
