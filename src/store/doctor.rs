//! Checking a store run by run, reading a damaged one from a copy, and copying intact runs
//! into a fresh store (`baton doctor`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Store, StoreDamaged, prefix, recover};
use crate::store::records::{RunId, RunRecord};

/// What reading one run found.
#[derive(Debug, Clone)]
pub struct RunCheck {
    /// The run.
    pub id: RunId,
    /// Its record, when readable.
    pub record: Option<RunRecord>,
    /// Steps with a record in its journal.
    pub steps: usize,
    /// Everything that could not be read, each saying what.
    pub problems: Vec<String>,
}

impl RunCheck {
    /// Every part of the run reads.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What reading a whole store found.
#[derive(Debug, Clone, Default)]
pub struct Checkup {
    /// Every run the `runs` tree names, in id order.
    pub runs: Vec<RunCheck>,
    /// Runs with entries (journal, logs, gates) but no run record: what an interrupted
    /// deletion by an older baton left. Id and how many entries.
    pub leftovers: Vec<(String, usize)>,
}

impl Store {
    /// Reads every run, its journal, logs and gates; one problem does not stop the rest.
    pub fn checkup(&self) -> anyhow::Result<Checkup> {
        let mut checkup = Checkup::default();
        for key in self.runs.iter().keys() {
            let key = key.context("cannot read the list of runs")?;
            let id = RunId(String::from_utf8_lossy(&key).into_owned());
            checkup.runs.push(self.check_run(id));
        }
        let known: std::collections::HashSet<&str> =
            checkup.runs.iter().map(|r| r.id.0.as_str()).collect();
        let mut leftovers: BTreeMap<String, usize> = BTreeMap::new();
        for tree in [&self.data, &self.logs, &self.approvals] {
            for key in tree.iter().keys() {
                let key = key.context("cannot read the store's entries")?;
                let end = key.iter().position(|b| *b == 0).unwrap_or(key.len());
                let owner = String::from_utf8_lossy(&key[..end]).into_owned();
                if !known.contains(owner.as_str()) {
                    *leftovers.entry(owner).or_default() += 1;
                }
            }
        }
        checkup.leftovers = leftovers.into_iter().collect();
        Ok(checkup)
    }

    fn check_run(&self, id: RunId) -> RunCheck {
        let mut check = RunCheck {
            id: id.clone(),
            record: None,
            steps: 0,
            problems: Vec::new(),
        };
        let mut note = |what: &str, e: anyhow::Error| check.problems.push(format!("{what}: {e:#}"));
        match self.run(&id) {
            Ok(record) => check.record = record,
            Err(e) => note("record unreadable", e),
        }
        if let Some(record) = &check.record {
            match self.step_table(record) {
                Ok(table) => check.steps = table.steps.len(),
                Err(e) => note("journal unreadable", e),
            }
        }
        if let Err(e) = self.events(&id) {
            note("history unreadable", e);
        }
        if let Err(e) = self.logs(&id, None, 0, usize::MAX) {
            note("logs unreadable", e);
        }
        if let Err(e) = self.approvals(&id) {
            note("gates unreadable", e);
        }
        check
    }

    /// Copies everything stored about a run into `to`, byte for byte.
    pub fn export_run(&self, id: &RunId, to: &Store) -> anyhow::Result<()> {
        let key = id.0.as_bytes();
        if let Some(v) = self.runs.get(key)? {
            to.runs.insert(key, v)?;
        }
        if let Some(v) = self.sources.get(key)? {
            to.sources.insert(key, v)?;
        }
        if let Some(v) = self.plans.get(key)? {
            to.plans.insert(key, v)?;
        }
        let p = prefix(id);
        for (from, into) in [
            (&self.data, &to.data),
            (&self.logs, &to.logs),
            (&self.approvals, &to.approvals),
        ] {
            let mut batch = sled::Batch::default();
            for item in from.scan_prefix(&p) {
                let (k, v) = item?;
                batch.insert(k, v);
            }
            into.apply_batch(batch)?;
        }
        self.copy_log_file(id, to)
    }

    /// Whether the store holds no run at all.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Opens a copy of a store sled refuses, made in `scratch`: first as it is, then without its
/// snapshots (sled then rebuilds its page table from the whole log). Returns the copy and
/// what was done to read it.
pub fn open_copy(store_dir: &Path, scratch: &Path) -> anyhow::Result<(Store, &'static str)> {
    let copy = scratch.join("store");
    let mut last = None;
    for (attempt, how) in [
        (0, "a copy of the store"),
        (1, "a copy of the store without its snapshots"),
    ] {
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("cannot clear {}", copy.display()))?;
        }
        copy_dir(&store_dir.join("db"), &copy.join("db"))?;
        if attempt == 1 {
            for snap in recover::snapshots(&copy.join("db")) {
                std::fs::remove_file(&snap)
                    .with_context(|| format!("cannot remove {}", snap.display()))?;
            }
        }
        match Store::open(&copy) {
            Ok(store) => return Ok((store, how)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
}

/// Copies the files of a sled directory (one level of subdirectories: `blobs/`).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", from.display()))?;
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| {
                format!(
                    "cannot copy {} to {}",
                    entry.path().display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

/// Opens a fresh store at `dir` to export into; one that already holds runs is refused.
pub fn open_export_target(dir: &Path) -> anyhow::Result<Store> {
    let store = Store::open(dir)?;
    if !store.is_empty() {
        bail!(
            "{} already holds runs; give `--export` a new or empty directory",
            dir.display()
        );
    }
    Ok(store)
}

/// Whether an error means sled refuses the store (rather than, say, another owner).
pub fn is_damaged(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StoreDamaged>().is_some()
}
