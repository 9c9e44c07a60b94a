//! baton's own log: a file a day, `logs/baton.log.YYYY-MM-DD` under the data dir, appended to
//! and opened without following symlinks (a link planted there cannot redirect the log).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::time::Timestamp;

/// The daily log files of one directory; `&DailyLog` is what the tracing subscriber writes to.
#[derive(Debug)]
pub struct DailyLog {
    dir: PathBuf,
    /// Today's date and file, opened at the first line of the day.
    today: Mutex<Option<(String, File)>>,
}

impl DailyLog {
    /// Logs into `dir` (which must exist).
    pub fn new(dir: PathBuf) -> DailyLog {
        DailyLog {
            dir,
            today: Mutex::new(None),
        }
    }

    /// The file of the day `now` falls on (UTC), and its name.
    pub fn path_for(&self, now: Timestamp) -> (String, PathBuf) {
        let date: String = now.rfc3339().chars().take(10).collect();
        let path = self.dir.join(format!("baton.log.{date}"));
        (date, path)
    }

    fn write_at(&self, now: Timestamp, buf: &[u8]) -> std::io::Result<usize> {
        let (date, path) = self.path_for(now);
        let mut today = self.today.lock().unwrap_or_else(|e| e.into_inner());
        if today.as_ref().is_none_or(|(d, _)| *d != date) {
            let file =
                crate::fsperm::open_nofollow(OpenOptions::new().create(true).append(true), &path)?;
            *today = Some((date, file));
        }
        match today.as_mut() {
            Some((_, file)) => file.write(buf),
            None => Ok(buf.len()),
        }
    }
}

impl Write for &DailyLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_at(Timestamp::now(), buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_go_to_the_file_of_their_day_and_a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let log = DailyLog::new(dir.path().to_path_buf());
        let day = Timestamp(1_700_000_000_000);
        let next = Timestamp(day.0 + 86_400_000);
        let (_, first) = log.path_for(day);
        let (_, second) = log.path_for(next);
        assert!(first.ends_with("baton.log.2023-11-14"), "{first:?}");
        log.write_at(day, b"one\n").unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, &second).unwrap();
        assert!(log.write_at(next, b"two\n").is_err());
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "one\n");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let mode = std::fs::metadata(&first).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
