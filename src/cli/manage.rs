//! `baton cancel` and `baton gc`.

use std::path::Path;

use clap::Args;

use super::common;
use crate::engine::{Backend, Command};
use crate::spec::Dur;
use crate::store::Timestamp;

/// `baton cancel`.
#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    /// The run id (a unique prefix is enough).
    pub run: String,
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
    let opened = common::open(data_dir)?;
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let id = opened.store.resolve_run(&args.run)?;
    engine.send(Command::Cancel(id.clone()))?;
    println!("run {id} cancelled");
    Ok(0)
}

/// `baton gc --older-than AGE`.
pub fn gc(data_dir: Option<&Path>, args: GcArgs) -> anyhow::Result<i32> {
    let opened = common::open(data_dir)?;
    let before = opened.store.size_on_disk();
    let cutoff = Timestamp(
        Timestamp::now()
            .0
            .saturating_sub(args.older_than.get().as_millis() as u64),
    );
    let removed = opened.store.gc(cutoff)?;
    println!(
        "deleted {} run(s) finished before {}",
        removed.len(),
        cutoff.rfc3339()
    );
    if args.clear_cache {
        println!("dropped {} cache entries", opened.store.clear_cache()?);
    }
    let after = opened.store.size_on_disk();
    println!("store size {} KiB → {} KiB", before / 1024, after / 1024);
    Ok(0)
}
