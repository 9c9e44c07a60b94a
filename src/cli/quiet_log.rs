//! baton's own log file, degrading quietly: when it cannot be written (a full disk), one
//! warning says so, then lines are dropped until a write succeeds again.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::logfile::DailyLog;
use tracing_subscriber::fmt::MakeWriter;

/// Set while the console draws on the terminal, where a stray warning would garble the screen.
static SCREEN_IN_USE: AtomicBool = AtomicBool::new(false);

/// Says whether the console is drawing on the terminal (no warnings on stderr meanwhile).
pub fn screen_in_use(in_use: bool) {
    SCREEN_IN_USE.store(in_use, Ordering::Relaxed);
}

/// Wraps the log file's writer; failures are counted as one, never reported per line.
pub struct QuietLog {
    inner: DailyLog,
    dir: PathBuf,
    failing: AtomicBool,
}

impl QuietLog {
    /// Log lines go to `inner`, which writes in `dir` (named in the warning).
    pub fn new(inner: DailyLog, dir: PathBuf) -> QuietLog {
        QuietLog {
            inner,
            dir,
            failing: AtomicBool::new(false),
        }
    }

    fn wrote(&self, result: io::Result<()>) {
        match result {
            Ok(()) => self.failing.store(false, Ordering::Relaxed),
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed)
                    && !SCREEN_IN_USE.load(Ordering::Relaxed)
                {
                    crate::errln!(
                        "baton: cannot write its own log in {} ({e}); its lines are dropped \
                         until it can",
                        self.dir.display()
                    );
                }
            }
        }
    }
}

/// As a plain writer: what `tracing_appender::non_blocking`'s worker thread writes through.
impl Write for QuietLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.make_writer().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.make_writer().flush()
    }
}

/// One log line's writer.
pub struct QuietWriter<'a> {
    inner: &'a DailyLog,
    log: &'a QuietLog,
}

impl<'a> MakeWriter<'a> for QuietLog {
    type Writer = QuietWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        QuietWriter {
            inner: &self.inner,
            log: self,
        }
    }
}

impl Write for QuietWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write_all(buf);
        self.log.wrote(result);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Only a line written proves the log works again; a flush of nothing proves nothing.
        if let Err(e) = self.inner.flush() {
            self.log.wrote(Err(e));
        }
        Ok(())
    }
}
