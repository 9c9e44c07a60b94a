//! Runs stopped without finishing: the sweep at every open (their owner is gone), and the last
//! record of a run stopped because the store could not be written, kept beside sled.
//!
//! sled 0.34 refuses every write once one of its own has failed (a full disk): the error is
//! kept until the database is opened again, by a new process. So the record saying why such a
//! run stopped goes into a small file, `stopped/RUN.json` in the store directory, written into
//! the room the space reserve gives back (see `space.rs`) and fsynced; the next open moves it
//! into the run's record and journal before the sweep, which then keeps that reason rather
//! than say only that the owner is gone.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::{Context, bail};

use super::{Store, decode, encode, space};
use crate::store::records::{EventKind, RunId, RunRecord, RunState, StepRecord, Timestamp};

/// The directory of last records, in the store directory.
const LAST_WORDS: &str = "stopped";

/// How long the groups a dead owner left get between SIGTERM and SIGKILL at the sweep.
const LEFTOVER_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

impl Store {
    /// Marks runs left active by an owner that is gone as interrupted, with an event saying
    /// why, and stops the process groups its unfinished steps left running. Holding the store's
    /// lock proves every earlier owner is gone, so this runs at every open: `baton ls` after a
    /// crash already shows the truth, and nothing of the dead owner's keeps running. A run
    /// whose owner left a last record (see [`Store::put_last_word`]) gets that record's reason.
    pub fn sweep_interrupted(&self) -> anyhow::Result<Vec<RunId>> {
        let words = self.take_last_words()?;
        let mut swept: Vec<RunId> = words
            .iter()
            .filter(|(_, marked)| *marked)
            .map(|(id, _)| id.clone())
            .collect();
        for run in self.runs()? {
            if !run.state.is_active() {
                continue;
            }
            let who = run
                .owner
                .as_ref()
                .map(|o| format!("its owner (pid {}) is gone", o.pid))
                .unwrap_or_else(|| "its owner is gone".to_string());
            let reason = format!("{who}; `baton resume {}` continues it", run.id);
            swept.push(run.id.clone());
            self.mark_interrupted(run, reason)?;
        }
        if !swept.is_empty() || !words.is_empty() {
            self.flush_blocking()?;
        }
        for (run, _) in &words {
            if let Ok(path) = self.last_word_path(run) {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(swept)
    }

    /// Records `run` as interrupted for `reason`, with an event, after stopping what its
    /// unfinished steps left running.
    fn mark_interrupted(&self, mut run: RunRecord, reason: String) -> anyhow::Result<()> {
        run.state = RunState::Interrupted;
        run.reason = Some(reason.clone());
        let steps = self.replay(&run.id)?.steps;
        stop_leftover_groups(&run.id, &steps);
        // The record's progress count lags its steps; the journal is exact.
        run.steps_done = steps.iter().filter(|s| s.status.is_terminal()).count() as u32;
        // When it stopped is not known; the sweep is an upper bound (a resume clears it).
        run.finished_at.get_or_insert_with(Timestamp::now);
        self.put_run(&run)?;
        self.append(
            &run.id,
            vec![EventKind::RunState {
                state: RunState::Interrupted,
                reason: Some(reason),
            }],
            &[],
        )?;
        Ok(())
    }

    /// Records how a run stopped after a write to the store failed (`run` in its final state,
    /// with the reason): in a file beside sled, fsynced, and in sled too if it still takes
    /// writes. When the disk is short of room, the reserve is given up for it.
    pub fn put_last_word(&self, run: &RunRecord) -> anyhow::Result<()> {
        if space::free_bytes(&self.dir).is_some_and(|free| free < space::HEADROOM_BYTES) {
            space::release_reserve(&self.dir);
        }
        let bytes = encode(&RunRecord {
            source: String::new(),
            ..run.clone()
        })?;
        let path = self.last_word_path(&run.id)?;
        let written = match write_durably(&path, &bytes) {
            Err(e) if space::is_disk_full(&e) && space::release_reserve(&self.dir) => {
                write_durably(&path, &bytes)
            }
            other => other,
        };
        written?;
        self.last_words.store(true, Ordering::Relaxed);
        // Readers in this process see it, if sled's failure was not its own.
        let _ = self.put_run(run);
        Ok(())
    }

    /// A run in `state` is going on (a resume in this process): a last record of it no longer
    /// says how it ended.
    pub(super) fn forget_last_word(&self, run: &RunId, state: RunState) {
        if state.is_active()
            && self.last_words.load(Ordering::Relaxed)
            && let Ok(path) = self.last_word_path(run)
        {
            let _ = std::fs::remove_file(path);
        }
    }

    fn last_word_path(&self, run: &RunId) -> anyhow::Result<PathBuf> {
        if run.0.is_empty() || run.0.starts_with('.') || run.0.contains(['/', '\0']) {
            bail!("run id `{run}` cannot name a file");
        }
        Ok(self.dir.join(LAST_WORDS).join(format!("{}.json", run.0)))
    }

    /// Puts every last record left in the store directory into its run, if the run is still
    /// recorded as active; returns the runs they are of, and whether each was so marked.
    fn take_last_words(&self) -> anyhow::Result<Vec<(RunId, bool)>> {
        let dir = self.dir.join(LAST_WORDS);
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.with_context(|| format!("cannot read {}", dir.display()))?,
        };
        let mut taken = Vec::new();
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot read {}", dir.display()))?
                .path();
            if path.extension().is_none_or(|ext| ext != "json") {
                // A write cut short.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let word: RunRecord = match std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| decode(&bytes, "last run"))
            {
                Ok(word) => word,
                Err(e) => {
                    tracing::warn!("ignoring {}: {e:#}", path.display());
                    continue;
                }
            };
            let active = self.run(&word.id)?.is_some_and(|r| r.state.is_active());
            taken.push((word.id.clone(), active));
            if active {
                let reason = word.reason.clone().unwrap_or_default();
                self.mark_interrupted(word, reason)?;
            }
        }
        Ok(taken)
    }
}

/// Writes `bytes` to `path` through a temporary file, fsyncing the file and its directory.
fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("cannot write {}", path.display()))
    })
}

/// Stops the process groups of a swept run's unfinished steps (TERM, grace, KILL), here and
/// on other hosts.
fn stop_leftover_groups(run: &RunId, steps: &[StepRecord]) {
    let groups: Vec<_> = steps
        .iter()
        .filter(|s| !s.status.is_terminal())
        .flat_map(|s| s.processes())
        .collect();
    for pgid in crate::process_group::stop_leftovers(&groups, LEFTOVER_GRACE) {
        tracing::warn!("run {run}: stopped process group {pgid} left by its dead owner");
    }
    let remote: Vec<_> = steps
        .iter()
        .filter(|s| !s.status.is_terminal())
        .flat_map(|s| s.remote_processes())
        .collect();
    if !remote.is_empty() {
        crate::remote::leftovers::stop_and_report(&run.0, &remote, LEFTOVER_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::run;

    #[test]
    fn a_last_word_is_what_the_next_open_records_not_that_the_owner_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let id = RunId("r1-full".into());
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_run(&run("r1-full", RunState::Running)).unwrap();
            store.flush_blocking().unwrap();
            let mut last = run("r1-full", RunState::Interrupted);
            last.reason = Some("the disk is full".into());
            store.put_last_word(&last).unwrap();
            // As if sled had refused that write: its record still says running.
            let running = encode(&run("r1-full", RunState::Running)).unwrap();
            store.runs.insert(id.0.as_bytes(), running).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let stored = store.run(&id).unwrap().unwrap();
        assert_eq!(stored.state, RunState::Interrupted);
        assert_eq!(stored.reason.as_deref(), Some("the disk is full"));
        assert!(!store.last_word_path(&id).unwrap().exists());
    }

    #[test]
    fn a_run_going_on_again_drops_its_last_word() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut last = run("r1-again", RunState::Interrupted);
        last.reason = Some("the disk is full".into());
        store.put_last_word(&last).unwrap();
        let path = store.last_word_path(&last.id).unwrap();
        assert!(path.exists());
        store.put_run(&run("r1-again", RunState::Running)).unwrap();
        assert!(!path.exists());
    }
}
