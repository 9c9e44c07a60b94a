//! What to tell the operator when the store cannot be written: where it is, why, and, when the
//! disk is full, how much room baton needs before `baton resume` can go on; and the reserve
//! file that keeps room for saying so.
//!
//! The reserve (`space-reserve` in the store directory, [`RESERVE_BYTES`]) is allocated at
//! every open that finds it missing and room for it; a run stopped by a full disk deletes it,
//! which frees room for that run's last record and for the next open to record it in sled.

use std::path::Path;

/// Room the store needs to go on after a failed write: sled writes in 512 KiB segments and
/// rewrites a few at a time, so a little more than a handful of them.
pub const HEADROOM_BYTES: u64 = 16 * 1024 * 1024;

/// The reserve file's name in the store directory.
pub const RESERVE_FILE: &str = "space-reserve";

/// The reserve's size: room for a run's last record and for the next open of sled (which may
/// start a 512 KiB segment) to write it and flush.
pub const RESERVE_BYTES: u64 = 2 * 1024 * 1024;

/// Whether the store in `dir` has its reserve.
pub fn has_reserve(dir: &Path) -> bool {
    std::fs::metadata(dir.join(RESERVE_FILE)).is_ok_and(|m| m.len() >= RESERVE_BYTES)
}

/// Allocates the reserve if it is missing and the disk has room for it and as much again
/// besides; says why not when it cannot (the store works without it).
pub fn keep_reserve(dir: &Path) -> Result<(), String> {
    if has_reserve(dir) {
        return Ok(());
    }
    let free = free_bytes(dir).unwrap_or(0);
    if free < 2 * RESERVE_BYTES {
        return Err(format!(
            "{} KiB free, {} MiB needed to make it",
            free / 1024,
            2 * RESERVE_BYTES / (1024 * 1024)
        ));
    }
    allocate(&dir.join(RESERVE_FILE), RESERVE_BYTES).map_err(|e| format!("{e:#}"))
}

/// Allocates `len` bytes for `path` (blocks taken, not a sparse file; glibc writes them where
/// the file system cannot allocate) and makes that durable.
fn allocate(path: &Path, len: u64) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::fd::AsRawFd;
    let make = || -> std::io::Result<()> {
        let file = std::fs::File::create(path)?;
        // SAFETY: posix_fallocate on a descriptor we own; it returns the error number.
        let err = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
        if err != 0 {
            return Err(std::io::Error::from_raw_os_error(err));
        }
        file.sync_all()
    };
    make()
        .inspect_err(|_| {
            // A half-made reserve would hold space without being one.
            let _ = std::fs::remove_file(path);
        })
        .with_context(|| format!("cannot allocate {}", path.display()))
}

/// Deletes the reserve, freeing its room; whether there was one.
pub fn release_reserve(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(RESERVE_FILE)).is_ok()
}

/// The operating system's error at the root of `e`, if there is one (sled wraps it).
fn io_cause(e: &anyhow::Error) -> Option<&std::io::Error> {
    e.chain().find_map(|cause| {
        cause.downcast_ref::<std::io::Error>().or_else(|| {
            match cause.downcast_ref::<sled::Error>() {
                Some(sled::Error::Io(io)) => Some(io),
                _ => None,
            }
        })
    })
}

/// Whether an error (anywhere in its chain) is the disk being full or over quota.
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    // sled's errors are clones that keep the kind but not the OS error number.
    io_cause(e).is_some_and(|io| {
        io.kind() == std::io::ErrorKind::StorageFull
            || io.kind() == std::io::ErrorKind::QuotaExceeded
            || matches!(io.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    })
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// The sentence for a failed write to the store in `dir`: the path, the cause and, if the disk
/// is full, the space free and the space needed.
pub fn write_failure(dir: &Path, e: &anyhow::Error) -> String {
    let place = dir.display();
    if io_cause(e).is_some_and(|io| io.to_string().contains("Too many open files")) {
        // sled's clone of the error keeps only its text.
        return format!(
            "cannot write to the store at {place}: {}",
            crate::descriptors::OUT_OF_DESCRIPTORS
        );
    }
    if !is_disk_full(e) {
        return format!("cannot write to the store at {place}: {e:#}");
    }
    let free = free_bytes(dir).unwrap_or(0);
    format!(
        "cannot write to the store at {place}: the disk is full ({} KiB free); free at least {} \
         MiB there",
        free / 1024,
        HEADROOM_BYTES / (1024 * 1024)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_recognised_through_sled_and_context() {
        // As sled hands it over: a clone keeping only the kind.
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "Os { code: 28 }");
        let e = anyhow::Error::new(sled::Error::Io(io)).context("cannot store a batch");
        assert!(is_disk_full(&e));
        let text = write_failure(Path::new("/"), &e);
        assert!(text.contains("cannot write to the store at /"), "{text}");
        assert!(text.contains("free at least 16 MiB"), "{text}");
        let other = anyhow::anyhow!("the store's flush thread has stopped");
        assert!(!is_disk_full(&other));
        assert!(!write_failure(Path::new("/"), &other).contains("MiB"));
    }
}
