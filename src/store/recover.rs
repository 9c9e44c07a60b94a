//! Opening sled so that a `kill -9` at any instant of an earlier process cannot brick the store.
//!
//! sled 0.34.7 writes a snapshot of its page table at every open that finds the log grown
//! since the last one: `snap.<lsn>.generating`, then a rename to `snap.<lsn>`, then it deletes
//! the older ones. Killed before the rename, the half-written `.generating` file stays, and
//! sled's next open takes it for the newest snapshot (it skips only `.in___motion` files),
//! fails its checksum and refuses to open ("Read corrupted data at file offset None") for
//! good (spacejam/sled#1527). Before opening (we hold the owner lock, so no other sled is
//! writing one) we finish what the killed process was doing: a `.generating` file whose
//! checksum holds is complete, and sled would have read it anyway, so it gets its final name;
//! one whose checksum fails is removed, and sled reads the complete snapshot it was to
//! replace, which stays until the rename.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The store could not be opened for a reason that waiting will not fix.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store at {} cannot be opened: {cause}. baton has not changed it. `baton{} doctor` \
     checks it and says what can be read; `baton{} doctor --export DIR` copies every intact \
     run into a new store at DIR",
    dir.display(),
    data_dir_flag(dir),
    data_dir_flag(dir)
)]
pub struct StoreDamaged {
    /// The store directory.
    pub dir: PathBuf,
    /// What sled (or our own check) said.
    pub cause: String,
}

/// `--data-dir DIR` for the data directory holding the store at `store_dir`.
fn data_dir_flag(store_dir: &Path) -> String {
    match store_dir.parent() {
        Some(data) => format!(" --data-dir {}", data.display()),
        None => String::new(),
    }
}

/// Whether sled names a file a snapshot it may read (`snap.<lsn>` or a leftover
/// `snap.<lsn>.generating`).
fn is_snapshot(name: &str) -> bool {
    name.starts_with("snap.") && !name.ends_with(".in___motion")
}

/// Finishes the snapshots a killed sled left as `.generating`: a complete one is renamed as
/// sled would have, a half-written one is removed. Returns the files removed.
pub(super) fn finish_snapshots(db_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in snapshots(db_dir) {
        let Some(done) = path.to_str().and_then(|p| p.strip_suffix(".generating")) else {
            continue;
        };
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if is_complete(&bytes) {
            std::fs::rename(&path, done)
                .with_context(|| format!("cannot rename {} to {done}", path.display()))?;
            tracing::warn!("finished {done}, a snapshot a killed baton wrote but did not name");
        } else {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the unfinished {}", path.display()))?;
            tracing::warn!("removed {}, a snapshot a killed baton left", path.display());
            removed.push(path);
        }
    }
    Ok(removed)
}

/// Whether a snapshot file is whole: sled ends it with the length (8 bytes) and the CRC-32
/// of what precedes them (4 bytes, little-endian).
fn is_complete(bytes: &[u8]) -> bool {
    let Some(body_len) = bytes.len().checked_sub(12).filter(|n| *n > 0) else {
        return false;
    };
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[bytes.len() - 4..]);
    crc32fast::hash(&bytes[..body_len]) == u32::from_le_bytes(crc)
}

/// The snapshot files sled would choose from, newest last.
pub(crate) fn snapshots(db_dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(db_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_snapshot(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Starts sled's I/O pool now, from the opening thread, so that its threads inherit that
/// thread's background policy (`crate::background`). A store with history starts it while
/// recovering; a new one would start it at the first write that fills a buffer, from whatever
/// thread made it. An asynchronous flush hands its work to the pool as soon as it is first
/// polled; it is polled once and left to finish on its own (it flushes nothing not flushed
/// anyway).
fn start_io_pool(db: &sled::Db) {
    let flush = db.flush_async();
    let mut flush = std::pin::pin!(flush);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = flush.as_mut().poll(&mut cx);
}

/// Opens sled in `db_dir` (after finishing the snapshots a kill interrupted). A refusal that reopening
/// cannot fix becomes [`StoreDamaged`], which names `baton doctor`.
pub(super) fn open_sled(store_dir: &Path, config: sled::Config) -> anyhow::Result<sled::Db> {
    let db_dir = store_dir.join("db");
    finish_snapshots(&db_dir)?;
    let config = config.path(&db_dir);
    // sled lets go of its file lock from a background thread once a closed `Db`'s last
    // handle is gone: a store this process has just closed is waited for a moment. (Other
    // processes are kept out by the owner lock before this.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let opened = loop {
        match crate::background::while_opening(|| config.open().inspect(start_io_pool)) {
            // sled says so only in its message (`could not acquire lock on …`).
            Err(sled::Error::Io(e))
                if e.to_string().starts_with("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => break other,
        }
    };
    match opened {
        Ok(db) => Ok(db),
        Err(e @ (sled::Error::Corruption { .. } | sled::Error::ReportableBug(_))) => {
            Err(StoreDamaged {
                dir: store_dir.to_path_buf(),
                // sled appends an empty "backtrace ()" outside its testing builds.
                cause: format!("sled reports {e}")
                    .trim_end_matches(" backtrace ()")
                    .to_string(),
            }
            .into())
        }
        Err(e) => Err(e).with_context(|| format!("cannot open the store at {}", db_dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::RunState;
    use crate::store::{Store, tests::run};

    /// A store holding one finished run, closed.
    fn store_with_a_run(dir: &Path) {
        let store = Store::open(dir).unwrap();
        store.put_run(&run("kept", RunState::Succeeded)).unwrap();
        store.flush_blocking().unwrap();
    }

    /// Reopens until the previous handle's sled threads have let go of its file lock.
    fn reopen(dir: &Path) -> anyhow::Result<Store> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(dir) {
                Err(e)
                    if format!("{e:#}").contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                other => return other,
            }
        }
    }

    /// What sled leaves when killed while writing a snapshot newer than the last one.
    fn plant_half_written_snapshot(db_dir: &Path, bytes: &[u8]) -> PathBuf {
        let newest = snapshots(db_dir).pop().expect("sled wrote a snapshot");
        let name = newest.file_name().unwrap().to_string_lossy().into_owned();
        let lsn = u64::from_str_radix(name.trim_start_matches("snap."), 16).unwrap();
        let planted = db_dir.join(format!("snap.{:016X}.generating", lsn + 4096));
        std::fs::write(&planted, bytes).unwrap();
        planted
    }

    #[test]
    fn a_half_written_snapshot_left_by_a_kill_is_removed_and_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        store_with_a_run(dir.path());
        // Opened again: the log grew, so sled writes its snapshot.
        drop(reopen(dir.path()).unwrap());
        for written in [&b""[..], &[7u8; 40][..]] {
            let planted = plant_half_written_snapshot(&dir.path().join("db"), written);
            let store = reopen(dir.path()).unwrap();
            assert!(!planted.exists());
            assert_eq!(store.runs().unwrap().len(), 1);
        }
    }

    #[test]
    fn a_complete_snapshot_a_kill_left_unnamed_gets_its_name() {
        let dir = tempfile::tempdir().unwrap();
        store_with_a_run(dir.path());
        drop(reopen(dir.path()).unwrap());
        let db_dir = dir.path().join("db");
        let whole = std::fs::read(snapshots(&db_dir).pop().unwrap()).unwrap();
        let planted = plant_half_written_snapshot(&db_dir, &whole);
        let store = reopen(dir.path()).unwrap();
        assert!(!planted.exists());
        let named = planted.to_string_lossy().replace(".generating", "");
        assert!(
            snapshots(&db_dir)
                .iter()
                .any(|p| p.to_string_lossy() == named),
            "{:?}",
            snapshots(&db_dir)
        );
        assert_eq!(store.runs().unwrap().len(), 1);
    }

    #[test]
    fn a_store_sled_refuses_says_so_and_names_baton_doctor() {
        let dir = tempfile::tempdir().unwrap();
        store_with_a_run(dir.path());
        drop(reopen(dir.path()).unwrap());
        // A complete snapshot that is damaged (no kill does this; a disk may).
        let newest = snapshots(&dir.path().join("db")).pop().unwrap();
        let mut bytes = std::fs::read(&newest).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&newest, bytes).unwrap();
        let err = reopen(dir.path()).unwrap_err();
        let damaged = err.downcast_ref::<StoreDamaged>().expect("a StoreDamaged");
        let text = damaged.to_string();
        assert!(text.contains("baton --data-dir"), "{text}");
        assert!(text.contains("doctor --export DIR"), "{text}");
        assert!(text.contains("corrupt"), "{text}");
    }
}
