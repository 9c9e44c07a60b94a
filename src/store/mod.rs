//! The durable store (sled): runs, their journals (events, step records and outputs; see
//! `journal.rs`), approvals, logs and the cache.
//!
//! One owner process opens it (see `lock.rs`). Everything is JSON in sled trees keyed so that a
//! run's entries sit together (`run id` + `\0` + suffix) and scan in order. Writes that must
//! survive a crash go through [`Store::flush`], which shares one fsync among concurrent callers.

mod cache;
mod conversation;
pub mod doctor;
pub mod flush;
mod interrupted;
mod item_record;
mod journal;
pub mod lock;
mod log_chunk;
mod logs;
mod memory;
mod plan;
pub mod records;
mod recover;
mod revise;
pub mod run_clock;
mod schedules;
pub mod space;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;

pub use cache::CacheEntry;
pub use conversation::{AgentCall, AgentEntry};
pub use flush::{FlushTicket, Flusher};
pub use item_record::{ItemRecord, item_key, parse_item_key};
pub use journal::StepTable;
pub use lock::{OwnerLock, StoreInUse};
pub use log_chunk::{CHUNK_BYTES as LOG_CHUNK_BYTES, LogChunk};
pub use logs::{LINE_NOTE_ROOM, LogFile, cut_line, line_cut_note, split_cut_note};
pub use memory::{Note, NoteScope};
pub use records::*;
pub use recover::StoreDamaged;
pub use run_clock::Stopped;

use crate::spec::StepId;

/// The layout version of the trees; bumped when a record changes incompatibly.
pub const SCHEMA_VERSION: u32 = 5;

/// sled's page cache. Its 1 GiB default is far more than a console needs.
const CACHE_BYTES: u64 = 2 * 1024 * 1024;

/// The open store. Cheap to clone (sled trees are reference-counted).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    runs: sled::Tree,
    sources: sled::Tree,
    /// Each run's [`RunPlan`], written once when it is created.
    plans: sled::Tree,
    /// Steps, outputs and events of every run, under tagged keys (see [`Part`]).
    data: sled::Tree,
    logs: sled::Tree,
    approvals: sled::Tree,
    cache: sled::Tree,
    flusher: Flusher,
    lock: std::sync::Arc<OwnerLock>,
    /// A run's last record was written beside sled in this process (see `interrupted.rs`).
    last_words: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Batches of run transitions written (see [`Store::commit`]).
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// How much this process has written to the store since it opened it: what a run costs the
/// disk (`/metrics`), and how tests see that a step's transitions share one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteCounts {
    /// Batches of run transitions written, each one sled operation.
    pub journal_commits: u64,
    /// fsyncs of the store, each shared by every write made before it.
    pub flushes: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

fn key(run: &RunId, suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(run.0.len() + 1 + suffix.len());
    k.extend_from_slice(run.0.as_bytes());
    k.push(0);
    k.extend_from_slice(suffix);
    k
}

fn prefix(run: &RunId) -> Vec<u8> {
    key(run, &[])
}

fn encode<T: Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    serde_json::to_vec(value).context("cannot encode a record")
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).with_context(|| {
        format!("a stored {what} record is unreadable (written by another baton version?)")
    })
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, taking the owner lock.
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
        let lock = OwnerLock::acquire(dir)?;
        let db = recover::open_sled(
            dir,
            sled::Config::new()
                .cache_capacity(CACHE_BYTES)
                .flush_every_ms(Some(200)),
        )?;
        let meta = db.open_tree("meta")?;
        let mut found = SCHEMA_VERSION;
        match meta.get("schema_version")? {
            Some(v) => {
                found = decode(&v, "schema version")?;
                if !(1..=SCHEMA_VERSION).contains(&found) {
                    bail!(
                        "the store at {} has schema version {found}, this baton reads version \
                         {SCHEMA_VERSION}; use a matching baton or another `--data-dir`",
                        dir.display()
                    );
                }
            }
            None => {
                meta.insert("schema_version", encode(&SCHEMA_VERSION)?)?;
                db.flush()?;
            }
        }
        let tree = |name: &str| {
            db.open_tree(name)
                .with_context(|| format!("cannot open the `{name}` tree in {}", dir.display()))
        };
        let store = Store {
            runs: tree("runs")?,
            sources: tree("sources")?,
            plans: tree("plans")?,
            data: tree("data")?,
            logs: tree("logs")?,
            approvals: tree("approvals")?,
            cache: tree("cache")?,
            flusher: Flusher::new(db.clone()),
            db,
            dir: dir.to_path_buf(),
            lock: std::sync::Arc::new(lock),
            last_words: Default::default(),
            commits: Default::default(),
        };
        if found < SCHEMA_VERSION {
            store.migrate_from(found).with_context(|| {
                format!(
                    "cannot bring the store at {} to schema version {SCHEMA_VERSION}",
                    dir.display()
                )
            })?;
            meta.insert("schema_version", encode(&SCHEMA_VERSION)?)?;
            store.flush_blocking()?;
        }
        store.sweep_interrupted()?;
        if let Err(why) = space::keep_reserve(dir) {
            tracing::warn!(
                "no space reserve in {} ({why}): a run stopped by a full disk may not record \
                 why",
                dir.display()
            );
        }
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This process, as the owner of the store.
    pub fn owner(&self) -> Owner {
        self.lock.owner.clone()
    }

    /// What this process has written to the store so far.
    pub fn write_counts(&self) -> WriteCounts {
        WriteCounts {
            journal_commits: self.commits.load(std::sync::atomic::Ordering::Relaxed),
            flushes: self.flusher.flushes(),
        }
    }

    /// Makes every write so far durable; concurrent callers share one fsync.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.flusher.flush().await
    }

    /// Starts making every write so far durable, with `file` synced first, and calls `then`
    /// on the flushing thread with the result (see [`Flusher::request_then`]); `false` when
    /// the flushing thread has stopped.
    pub fn request_flush_then(&self, file: Option<flush::SyncFile>, then: flush::Then) -> bool {
        self.flusher.request_then(file, then)
    }

    /// Makes every write so far durable, from synchronous code; concurrent callers share one
    /// fsync.
    pub fn flush_blocking(&self) -> anyhow::Result<()> {
        self.flusher.flush_blocking()
    }

    // ---- runs ----

    /// Writes a run record. Its workflow source is stored once, apart (records are rewritten
    /// at every step; the source never changes).
    pub fn put_run(&self, run: &RunRecord) -> anyhow::Result<()> {
        self.forget_last_word(&run.id, run.state);
        if run.source.is_empty() {
            self.runs.insert(run.id.0.as_bytes(), encode(run)?)?;
            return Ok(());
        }
        if !self.sources.contains_key(run.id.0.as_bytes())? {
            self.sources
                .insert(run.id.0.as_bytes(), run.source.as_bytes())?;
        }
        let slim = RunRecord {
            source: String::new(),
            ..run.clone()
        };
        self.runs.insert(run.id.0.as_bytes(), encode(&slim)?)?;
        Ok(())
    }

    /// Reads a run record, with its workflow source.
    pub fn run(&self, id: &RunId) -> anyhow::Result<Option<RunRecord>> {
        let Some(v) = self.runs.get(id.0.as_bytes())? else {
            return Ok(None);
        };
        let mut run: RunRecord = decode(&v, "run")?;
        if let Some(src) = self.sources.get(id.0.as_bytes())? {
            run.source = String::from_utf8_lossy(&src).into_owned();
        }
        Ok(Some(run))
    }

    /// Every run, newest first to the millisecond (ids name the second only, so runs started
    /// within one second are ordered by when they were created).
    pub fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        let mut out: Vec<RunRecord> = Vec::new();
        for item in self.runs.iter().rev() {
            let (_, v) = item?;
            out.push(decode(&v, "run")?);
        }
        out.sort_by(|a, b| {
            b.created_at
                .0
                .cmp(&a.created_at.0)
                .then(b.id.0.cmp(&a.id.0))
        });
        Ok(out)
    }

    /// Finds a run by its id or a unique prefix of it.
    pub fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        if id_or_prefix.is_empty() {
            bail!("give a run id (see `baton ls`)");
        }
        if self.runs.contains_key(id_or_prefix.as_bytes())? {
            return Ok(RunId(id_or_prefix.to_string()));
        }
        // A parent's child runs (`PARENT.STEP`) share its prefix and sort right after it: the
        // prefix names the parent, not several runs.
        let mut found: Vec<String> = Vec::new();
        for item in self.runs.scan_prefix(id_or_prefix.as_bytes()).keys() {
            let id = String::from_utf8_lossy(&item?).into_owned();
            let child_of_found = found.iter().any(|p| {
                id.strip_prefix(p.as_str())
                    .is_some_and(|r| r.starts_with('.'))
            });
            if !child_of_found {
                found.push(id);
            }
            if found.len() > 5 {
                break;
            }
        }
        match found.len() {
            0 => bail!(
                "no run `{id_or_prefix}` in {} (see `baton ls`)",
                self.dir.display()
            ),
            1 => Ok(RunId(found.remove(0))),
            _ => bail!(
                "`{id_or_prefix}` matches several runs ({}); give more of the id",
                found.join(", ")
            ),
        }
    }

    // ---- approvals ----

    /// Writes a gate.
    pub fn put_approval(&self, approval: &ApprovalRecord) -> anyhow::Result<()> {
        self.approvals.insert(
            key(&approval.run, approval.step.0.as_bytes()),
            encode(approval)?,
        )?;
        Ok(())
    }

    /// Every gate of a run.
    pub fn approvals(&self, run: &RunId) -> anyhow::Result<Vec<ApprovalRecord>> {
        scan_run(&self.approvals, prefix(run), "approval")
    }

    /// One gate.
    pub fn approval(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<ApprovalRecord>> {
        match self.approvals.get(key(run, step.0.as_bytes()))? {
            Some(v) => Ok(Some(decode(&v, "approval")?)),
            None => Ok(None),
        }
    }

    // ---- retention ----

    /// Deletes runs that finished before `cutoff`, with everything stored about them.
    /// Returns the ids deleted. Active and interrupted runs are kept.
    pub fn gc(&self, cutoff: Timestamp) -> anyhow::Result<Vec<RunId>> {
        let mut removed = Vec::new();
        for run in self.runs()? {
            let finished = run.finished_at.unwrap_or(run.created_at);
            if run.state.is_terminal() && finished < cutoff {
                self.delete_run(&run.id)?;
                removed.push(run.id);
            }
        }
        if !removed.is_empty() {
            self.flush_blocking()?;
        }
        // Once their index is gone for good: the log files are most of what gc gives back.
        for id in &removed {
            self.remove_log_file(id)?;
        }
        Ok(removed)
    }

    /// Deletes everything stored about a run in one sled transaction, so a kill leaves either
    /// the whole run or none of it.
    fn delete_run(&self, id: &RunId) -> anyhow::Result<()> {
        let p = prefix(id);
        let keys = |tree: &sled::Tree| -> anyhow::Result<Vec<sled::IVec>> {
            Ok(tree.scan_prefix(&p).keys().collect::<sled::Result<_>>()?)
        };
        let (data, logs, approvals) =
            (keys(&self.data)?, keys(&self.logs)?, keys(&self.approvals)?);
        let trees = (
            &self.runs,
            &self.sources,
            &self.plans,
            &self.data,
            &self.logs,
            &self.approvals,
        );
        trees
            .transaction(|(runs, sources, plans, data_t, logs_t, approvals_t)| {
                runs.remove(id.0.as_bytes())?;
                sources.remove(id.0.as_bytes())?;
                plans.remove(id.0.as_bytes())?;
                for (tree, keys) in [(data_t, &data), (logs_t, &logs), (approvals_t, &approvals)] {
                    for k in keys {
                        tree.remove(k)?;
                    }
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("cannot delete run {id}: {e:?}"))?;
        Ok(())
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

/// Every record a tree holds for a run, in key order.
fn scan_run<T: DeserializeOwned>(
    tree: &sled::Tree,
    prefix: Vec<u8>,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    tree.scan_prefix(prefix)
        .map(|item| decode(&item?.1, what))
        .collect()
}

/// Writes `entries` to `tree` as one atomic operation. A single entry is a plain insert,
/// atomic by itself: a sled batch of any size pins the log, which writes out the IO buffer
/// twice (before and after its manifest; each a write and a `sync_file_range` on sled's thread
/// pool), so a one-key batch costs two disk writes and four thread hand-offs the insert does
/// not. No entries write nothing. The flush that makes it durable is the caller's either way.
fn insert_atomically(tree: &sled::Tree, mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> sled::Result<()> {
    match entries.len() {
        0 => Ok(()),
        1 => {
            if let Some((key, value)) = entries.pop() {
                tree.insert(key, value)?;
            }
            Ok(())
        }
        _ => {
            let mut batch = sled::Batch::default();
            for (key, value) in entries {
                batch.insert(key, value);
            }
            tree.apply_batch(batch)
        }
    }
}

/// Removes `keys` from `tree` in one batch (a migration's old layout, once the new is written).
fn remove_keys(tree: &sled::Tree, keys: Vec<sled::IVec>) -> sled::Result<()> {
    let mut batch = sled::Batch::default();
    for k in keys {
        batch.remove(k);
    }
    tree.apply_batch(batch)
}

fn last_seq(tree: &sled::Tree, prefix: Vec<u8>) -> anyhow::Result<u64> {
    match tree.scan_prefix(prefix).keys().next_back() {
        Some(k) => {
            let k = k?;
            let tail = &k[k.len().saturating_sub(8)..];
            Ok(u64::from_be_bytes(tail.try_into().unwrap_or([0; 8])))
        }
        None => Ok(0),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn run(id: &str, state: RunState) -> RunRecord {
        RunRecord {
            id: RunId(id.into()),
            workflow: "w".into(),
            workflow_path: None,
            source: String::new(),
            params: Default::default(),
            workdir: None,
            state,
            created_at: Timestamp(1000),
            started_at: None,
            finished_at: Some(Timestamp(2000)),
            owner: None,
            reason: None,
            steps_total: 1,
            steps_done: 0,
            stopped: Default::default(),
            parent: None,
        }
    }

    #[test]
    fn runs_started_within_one_second_list_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // One second, ids whose random tags sort against the order they were made in.
        for (id, ms) in [("r1-zzzz", 1_000), ("r1-mmmm", 1_500), ("r1-aaaa", 1_999)] {
            let mut r = run(id, RunState::Succeeded);
            r.created_at = Timestamp(ms);
            store.put_run(&r).unwrap();
        }
        let ids: Vec<String> = store.runs().unwrap().into_iter().map(|r| r.id.0).collect();
        assert_eq!(ids, ["r1-aaaa", "r1-mmmm", "r1-zzzz"]);
    }

    #[test]
    fn a_run_prefix_resolves_only_when_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_run(&run("r1-aaa", RunState::Succeeded)).unwrap();
        store.put_run(&run("r1-abb", RunState::Succeeded)).unwrap();
        assert_eq!(store.resolve_run("r1-aa").unwrap().0, "r1-aaa");
        let err = store.resolve_run("r1-a").unwrap_err().to_string();
        assert!(err.contains("several runs"), "{err}");
        store.put_run(&run("r2-ccc", RunState::Succeeded)).unwrap();
        store
            .put_run(&run("r2-ccc.child", RunState::Succeeded))
            .unwrap();
        store
            .put_run(&run("r2-ccc.child.inner", RunState::Succeeded))
            .unwrap();
        assert_eq!(store.resolve_run("r2-c").unwrap().0, "r2-ccc");
        assert_eq!(store.resolve_run("r2-ccc.c").unwrap().0, "r2-ccc.child");
        store.put_run(&run("r2-cdd", RunState::Succeeded)).unwrap();
        let err = store.resolve_run("r2-c").unwrap_err().to_string();
        assert!(err.contains("r2-ccc, r2-cdd"), "{err}");
        let err = store.resolve_run("zz").unwrap_err().to_string();
        assert!(err.contains("no run `zz`"), "{err}");
    }

    #[test]
    fn gc_removes_old_finished_runs_and_keeps_interrupted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_run(&run("old", RunState::Succeeded)).unwrap();
        store.put_run(&run("stuck", RunState::Interrupted)).unwrap();
        let r = RunId("old".into());
        store
            .append(
                &r,
                vec![EventKind::Step {
                    record: Box::new(StepRecord::pending(StepId("a".into()), 1)),
                }],
                &[(StepId("a".into()), Some(StepOutput::default()))],
            )
            .unwrap();
        assert_eq!(store.replay(&r).unwrap().steps.len(), 1);
        let removed = store.gc(Timestamp(5000)).unwrap();
        assert_eq!(removed, vec![RunId("old".into())]);
        assert!(store.run(&r).unwrap().is_none());
        assert!(store.replay(&r).unwrap().steps.is_empty());
        assert!(store.events(&r).unwrap().is_empty());
        assert!(store.run(&RunId("stuck".into())).unwrap().is_some());
    }

    /// A bare sled database in a store directory, marked with a schema version.
    pub(super) fn raw_db_of_version(dir: &Path, version: u32) -> sled::Db {
        let db = sled::Config::new().path(dir.join("db")).open().unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", encode(&version).unwrap())
            .unwrap();
        db
    }

    #[test]
    fn a_store_from_a_newer_baton_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        raw_db_of_version(dir.path(), 99).flush().unwrap();
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
        assert!(err.contains("--data-dir"), "{err}");
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_run(&run("keep", RunState::Failed)).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.runs().unwrap().len(), 1);
    }

    #[test]
    fn one_entry_and_many_are_written_whole_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
        // Through the store's own opening, which waits for a just-closed handle's lock.
        let open = || recover::open_sled(dir.path(), sled::Config::new()).unwrap();
        {
            let db = open();
            let tree = db.open_tree("t").unwrap();
            insert_atomically(&tree, vec![entry("a", "1")]).unwrap();
            insert_atomically(&tree, vec![entry("b", "2"), entry("c", "3")]).unwrap();
            // One entry replaces what a batch wrote, and a batch what one entry wrote.
            insert_atomically(&tree, vec![entry("b", "4")]).unwrap();
            insert_atomically(&tree, vec![entry("a", "5"), entry("d", "6")]).unwrap();
            insert_atomically(&tree, Vec::new()).unwrap();
            db.flush().unwrap();
        }
        let db = open();
        let tree = db.open_tree("t").unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>)> = tree
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        let want = [("a", "5"), ("b", "4"), ("c", "3"), ("d", "6")];
        assert_eq!(got, want.map(|(k, v)| entry(k, v)).to_vec());
    }
}
