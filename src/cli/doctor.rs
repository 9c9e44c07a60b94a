//! `baton doctor`: checks a store run by run and, with `--export DIR`, copies every intact run
//! into a new store — also from a store sled refuses to open, by reading a copy of it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;

use super::common::Shown;
use crate::config::Paths;
use crate::store::doctor::{Checkup, RunCheck, is_damaged, open_copy, open_export_target};
use crate::store::{Store, StoreDamaged};

/// `baton doctor`.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Copy every intact run into a new store in this data directory (use it with
    /// `--data-dir DIR`, or move its `store/` in place of the damaged one).
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `baton doctor [--export DIR]`: exit 0 when every run reads, 1 when something does not.
pub fn doctor(data_dir: Option<&Path>, args: DoctorArgs) -> anyhow::Result<i32> {
    let paths = Paths::resolve(data_dir)?;
    let store_dir = paths.store();
    if !store_dir.join("db").exists() {
        bail!(
            "there is no store at {} (see `--data-dir`)",
            store_dir.display()
        );
    }
    let mut _scratch = None;
    let (store, damaged) = match Store::open(&store_dir) {
        Ok(store) => (store, None),
        Err(e) if is_damaged(&e) => {
            let cause = e
                .downcast_ref::<StoreDamaged>()
                .map_or_else(String::new, |d| d.cause.clone());
            outln!(
                "the store at {} does not open: {cause}",
                store_dir.display()
            );
            let dir = paths.data.join(format!("doctor-{}", std::process::id()));
            let scratch = Scratch(dir.clone());
            let (store, how) = open_copy(&store_dir, &dir).with_context(|| {
                format!("not even a copy of {} can be read", store_dir.display())
            })?;
            outln!("read {how} (the store itself is left as it is)");
            _scratch = Some(scratch);
            (store, Some(cause))
        }
        Err(e) => return Err(e),
    };
    let checkup = store.checkup()?;
    report(&store_dir, &checkup);
    if damaged.is_none() {
        report_reserve(&store_dir);
    }
    let intact: Vec<&RunCheck> = checkup.runs.iter().filter(|r| r.intact()).collect();
    let healthy = damaged.is_none() && intact.len() == checkup.runs.len();
    match &args.export {
        Some(dir) => export(&store, &intact, dir, &store_dir, damaged.is_some())?,
        None if healthy => outln!("the store is healthy"),
        None => outln!(
            "`baton{} doctor --export DIR` copies the {} intact run(s) into a new store at DIR",
            data_dir.map_or(String::new(), |d| format!(" --data-dir {}", d.display())),
            intact.len()
        ),
    }
    Ok(if healthy { 0 } else { 1 })
}

/// What the check found. Run ids and problems come from the store, so they are shown through
/// the sanitiser.
fn report(store_dir: &Path, checkup: &Checkup) {
    let shown = Shown::stdout(false);
    let intact = checkup.runs.iter().filter(|r| r.intact()).count();
    outln!(
        "{}: {} run(s), {intact} intact",
        store_dir.display(),
        checkup.runs.len()
    );
    for run in checkup.runs.iter().filter(|r| !r.intact()) {
        for problem in &run.problems {
            outln!("  run {}: {}", shown.text(&run.id.0), shown.text(problem));
        }
    }
    for (id, entries) in &checkup.leftovers {
        outln!(
            "  {entries} entr(ies) of run {id}, which has no record (left by an interrupted \
             deletion; harmless)",
            id = shown.text(id)
        );
    }
}

/// A missing space reserve (the open just made creates it when there is room, so missing
/// means the disk is short of room).
fn report_reserve(store_dir: &Path) {
    use crate::store::space::{RESERVE_BYTES, RESERVE_FILE, keep_reserve};
    if let Err(why) = keep_reserve(store_dir) {
        outln!(
            "  no space reserve at {} ({} MiB; {why}): a run stopped by a full disk may not \
             record why; free space, then any baton command makes it",
            store_dir.join(RESERVE_FILE).display(),
            RESERVE_BYTES / (1024 * 1024)
        );
    }
}

/// Copies the intact runs into a new store under `dir` and says how to use it.
fn export(
    from: &Store,
    runs: &[&RunCheck],
    dir: &Path,
    store_dir: &Path,
    damaged: bool,
) -> anyhow::Result<()> {
    let target_dir = dir.join("store");
    let target = open_export_target(&target_dir)?;
    for run in runs {
        from.export_run(&run.id, &target)
            .with_context(|| format!("cannot export run {}", run.id))?;
    }
    target.flush_blocking()?;
    outln!("exported {} run(s) to {}", runs.len(), target_dir.display());
    outln!(
        "use them with `--data-dir {}`, or put them in place of the {}store: `mv {} {}.old && \
         mv {} {}`",
        dir.display(),
        if damaged { "damaged " } else { "" },
        store_dir.display(),
        store_dir.display(),
        target_dir.display(),
        store_dir.display()
    );
    Ok(())
}
