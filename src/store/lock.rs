//! The owner lock: one process at a time owns a data directory, and others are told which one.
//!
//! sled takes its own exclusive lock, but its error names no process. We take an advisory
//! `flock` on `owner.lock` first and keep our pid and start time in it, so a second `baton`
//! can say "held by pid 1234 since …" and what to do.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::records::{Owner, Timestamp};

/// Another live process owns the store. Commands that only read or send a command then ask
/// that process instead (see `crate::control`).
#[derive(Debug, thiserror::Error)]
#[error(
    "the store at {} is in use by {}; close it (or `kill {}`), or give this one its own store \
     with `--data-dir DIR`",
    dir.display(),
    pid.map_or("another baton process".to_string(), |p| format!("baton process {p}")),
    pid.map_or("PID".to_string(), |p| p.to_string())
)]
pub struct StoreInUse {
    /// The store directory.
    pub dir: PathBuf,
    /// The owner's pid, when its lock file says.
    pub pid: Option<u32>,
}

/// Holds the data directory's owner lock until dropped.
#[derive(Debug)]
pub struct OwnerLock {
    _file: File,
    path: PathBuf,
    /// Who we are, as recorded in the lock file.
    pub owner: Owner,
}

impl OwnerLock {
    /// Takes the lock on `dir/owner.lock`, or says which process holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<OwnerLock> {
        let path = dir.join("owner.lock");
        // Not through a symlink: one planted here would have us truncate the file it names.
        let mut file = crate::fsperm::open_nofollow(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
            &path,
        )
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        // SAFETY: flock on a file descriptor we own; no memory is shared.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(StoreInUse {
                    dir: dir.to_path_buf(),
                    pid: holder
                        .split_whitespace()
                        .next()
                        .and_then(|p| p.parse().ok()),
                }
                .into());
            }
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
        let owner = Owner {
            pid: std::process::id(),
            started_at: Timestamp::now(),
        };
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{} {}", owner.pid, owner.started_at.0))
            .and_then(|_| file.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(OwnerLock {
            _file: file,
            path,
            owner,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_told_the_pid_of_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = OwnerLock::acquire(dir.path()).unwrap();
        let err = OwnerLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("baton process {}", first.owner.pid)),
            "{err}"
        );
        assert!(err.contains("--data-dir"), "{err}");
        drop(first);
        OwnerLock::acquire(dir.path()).unwrap();
    }
}
