//! Files that belong to their user: baton's directories are private, and one that another
//! user owns or can write is refused, as OpenSSH refuses such a `~/.ssh`.
//!
//! Everything baton stores (step outputs, logs, provider health) sits under the data dir, so a
//! data dir of mode 0700 keeps every byte from other users, whatever the files' own modes; new
//! files are 0600 anyway (see [`restrict_umask`]). A directory another user can write could
//! hold a planted `owner.lock` symlink, config file or socket, so it is refused with the fix.
//! The files baton appends to are opened without following symlinks ([`open_nofollow`]).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::identity::{Operator, current_uid};

/// Makes every file and directory this process creates from now on its user's only (0600 and
/// 0700): sled's files, tail files, logs, `providers.json`.
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Opens `path` as `options` say, refusing a symlink (`O_NOFOLLOW`: fails with ELOOP) so a
/// link planted in its place cannot point the write at another file.
pub fn open_nofollow(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    options
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "{} is a symbolic link, which baton does not follow here; remove it",
                        path.display()
                    ),
                )
            } else {
                e
            }
        })
}

/// Creates the data directory (mode 0700) if it is missing, and checks it: it must be this
/// user's, with no other user able to write it or any directory above it. An own directory
/// that others can read (made by an older baton) is closed to them (`chmod 700`).
pub fn private_data_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create baton's data directory {}", dir.display()))?;
    let real = canonical(dir)?;
    check_ancestors(&real)?;
    let meta = std::fs::metadata(&real)
        .with_context(|| format!("cannot read the mode of {}", real.display()))?;
    let me = current_uid();
    if meta.uid() != me {
        bail!(
            "baton's data directory {} belongs to {}, not to you ({}): that user can read what \
             baton stores there and plant files it would follow. Use a directory of your own \
             (`--data-dir DIR` or BATON_HOME), or, if this one should be yours, `chown {} {}`",
            real.display(),
            Operator::of_uid(meta.uid()),
            Operator::of_uid(me).name,
            Operator::of_uid(me).name,
            real.display()
        );
    }
    refuse_writable_by_others(&real, meta.mode(), "baton's data directory")?;
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private (`chmod 700` it)", real.display()))?;
    }
    Ok(())
}

/// Checks a config directory or file that exists (a missing one is fine): it must be this
/// user's or root's, and no other user may write it or any directory above it.
pub fn trusted_config(path: &Path, what: &str) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let real = canonical(path)?;
    check_ancestors(&real)?;
    let meta = std::fs::metadata(&real)
        .with_context(|| format!("cannot read the mode of {}", real.display()))?;
    check_owner(&real, meta.uid(), what)?;
    refuse_writable_by_others(&real, meta.mode(), what)
}

fn canonical(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

/// Every directory above `path` must be this user's or root's, and not writable by others
/// unless sticky (as `/tmp` is: there nobody can rename what another user owns).
fn check_ancestors(path: &Path) -> anyhow::Result<()> {
    for dir in path.ancestors().skip(1) {
        let meta = std::fs::metadata(dir)
            .with_context(|| format!("cannot read the mode of {}", dir.display()))?;
        let what = format!("the directory above {},", path.display());
        check_owner(dir, meta.uid(), &what)?;
        if meta.mode() & 0o1000 == 0 {
            refuse_writable_by_others(dir, meta.mode(), &what)?;
        }
    }
    Ok(())
}

fn check_owner(path: &Path, uid: u32, what: &str) -> anyhow::Result<()> {
    let me = Operator::of_uid(current_uid());
    if uid == me.uid || uid == 0 {
        return Ok(());
    }
    bail!(
        "{what} {} belongs to {}, not to you ({}) or root: that user could change what baton \
         reads there. Use one of your own, or `chown {} {}`",
        path.display(),
        Operator::of_uid(uid),
        me.name,
        me.name,
        path.display()
    )
}

fn refuse_writable_by_others(path: &Path, mode: u32, what: &str) -> anyhow::Result<()> {
    if mode & 0o022 == 0 {
        return Ok(());
    }
    let fix = if path.is_dir() { "700" } else { "go-w" };
    bail!(
        "{what} {} is writable by other users (mode {:o}): they could plant files baton would \
         follow. Fix it with `chmod {fix} {}`",
        path.display(),
        mode & 0o7777,
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_is_created_private_and_an_open_one_is_closed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_data_dir(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_data_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_data_dir_others_can_write_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = format!("{:#}", private_data_dir(&dir).unwrap_err());
        assert!(err.contains("writable by other users"), "{err}");
        assert!(err.contains("chmod 700"), "{err}");
        let file = tmp.path().join("config.toml");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = format!(
            "{:#}",
            trusted_config(&file, "the config file").unwrap_err()
        );
        assert!(err.contains("chmod go-w"), "{err}");
        // Under an open directory, even a private one is refused: it could be swapped.
        let inner = dir.join("inner");
        std::fs::create_dir(&inner).unwrap();
        let err = format!("{:#}", private_data_dir(&inner).unwrap_err());
        assert!(err.contains("above"), "{err}");
    }

    #[test]
    fn a_symlink_is_not_followed_when_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let opened = open_nofollow(OpenOptions::new().append(true).create(true), &link);
        let err = opened.unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
