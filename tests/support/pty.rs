//! Drives a real program in a pseudo-terminal: spawn it at a given size, send keys, wait until
//! the screen (as a vt100 terminal would show it) says something, read the screen back, hang
//! the terminal up, and read the program's CPU time from /proc.

#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// A program running in a pseudo-terminal.
pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    // Our own duplicates of the master side (not portable-pty's writer, whose drop types a
    // newline and ^D into the program).
    writer: Option<File>,
    parser: Arc<Mutex<vt100::Parser>>,
    /// Every byte the program wrote, as it came.
    raw: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    stop_reading: Arc<AtomicBool>,
    master: Option<Box<dyn MasterPty + Send>>,
}

impl Pty {
    /// Starts `command` in a `cols`×`rows` terminal.
    pub fn spawn(command: CommandBuilder, cols: u16, rows: u16) -> anyhow::Result<Pty> {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .context("opening a pseudo-terminal")?;
        let child = pair
            .slave
            .spawn_command(command)
            .context("spawning the program in the pty")?;
        drop(pair.slave);
        let master_fd = pair
            .master
            .as_raw_fd()
            .context("the pty master has no descriptor")?;
        // SAFETY: the master descriptor stays open while `pair.master` lives (it outlives this
        // call); the duplicates are owned from here on.
        let borrowed = unsafe { BorrowedFd::borrow_raw(master_fd) };
        let read_fd = borrowed.try_clone_to_owned().context("reading the pty")?;
        let writer = File::from(borrowed.try_clone_to_owned().context("writing the pty")?);
        let rows = std::num::NonZeroU16::new(rows).context("a terminal needs rows")?;
        let cols = std::num::NonZeroU16::new(cols).context("a terminal needs columns")?;
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let stop_reading = Arc::new(AtomicBool::new(false));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let sink = parser.clone();
            let bytes = raw.clone();
            let stop = stop_reading.clone();
            std::thread::spawn(move || read_screen(read_fd, &sink, &bytes, &stop))
        };
        Ok(Pty {
            child,
            writer: Some(writer),
            parser,
            raw,
            reader: Some(reader),
            stop_reading,
            master: Some(pair.master),
        })
    }

    /// Sends bytes as if typed.
    pub fn send(&mut self, keys: &str) -> anyhow::Result<()> {
        let writer = self.writer.as_mut().context("the terminal was hung up")?;
        writer
            .write_all(keys.as_bytes())
            .context("typing into the pty")?;
        writer.flush().context("typing into the pty")
    }

    /// Every byte the program has written to the terminal so far.
    pub fn raw(&self) -> Vec<u8> {
        self.raw.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The screen's text now.
    pub fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// The screen's rows now, trailing blanks cut (for captures).
    pub fn rows(&self) -> Vec<String> {
        self.parser
            .lock()
            .map(|p| {
                let (_, cols) = p.screen().size();
                p.screen()
                    .rows(0, cols.into())
                    .map(|r| r.trim_end().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the program has the alternate screen on.
    pub fn alternate_screen(&self) -> bool {
        self.parser
            .lock()
            .map(|p| p.screen().alternate_screen())
            .unwrap_or(false)
    }

    /// Whether the cursor is hidden.
    pub fn cursor_hidden(&self) -> bool {
        self.parser
            .lock()
            .map(|p| p.screen().hide_cursor())
            .unwrap_or(false)
    }

    /// Waits until the screen contains `text`; returns the screen, or an error with the screen
    /// as it was at the deadline.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> anyhow::Result<String> {
        self.wait_until(&format!("`{text}` on the screen"), timeout, |s| {
            s.contains(text)
        })
    }

    /// Waits until `ready(screen)` holds; returns the screen, or an error naming `what` with
    /// the screen as it was at the deadline.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        self.wait_until_output(what, timeout, |_, screen| ready(screen))
    }

    /// Waits until `ready(every byte written so far, screen)` holds; returns the screen, or an
    /// error naming `what` with the screen as it was at the deadline.
    pub fn wait_until_output(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&[u8], &str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if ready(&self.raw(), &screen) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                anyhow::bail!("no {what} within {timeout:?}; the screen was:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.process_id()
    }

    /// Closes the terminal, as when an SSH session or a terminal window goes away.
    pub fn hang_up(&mut self) {
        self.stop_reading.store(true, Ordering::SeqCst);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.writer = None;
        self.master = None;
    }

    /// Waits for the program to exit; returns whether it succeeded.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for the program")? {
                // Let the reader take in the last output: it ends when the terminal closes —
                // unless something the program started still holds the terminal.
                let drained = Instant::now() + Duration::from_secs(5);
                while self.reader.as_ref().is_some_and(|r| !r.is_finished())
                    && Instant::now() < drained
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                self.stop_reading.store(true, Ordering::SeqCst);
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Ok(status.success());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                anyhow::bail!(
                    "the program did not exit within {timeout:?}; the screen was:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit code, once the program has exited.
    pub fn exit_code(&mut self) -> Option<u32> {
        self.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| status.exit_code())
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.hang_up();
    }
}

/// Feeds what the program writes to the vt100 parser until the terminal closes or `stop`.
fn read_screen(fd: OwnedFd, sink: &Mutex<vt100::Parser>, raw: &Mutex<Vec<u8>>, stop: &AtomicBool) {
    let mut file = File::from(fd);
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        let mut pollfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a short timeout so `stop` is seen.
        let n = unsafe { libc::poll(&mut pollfd, 1, 50) };
        if n == 0
            || (n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted)
        {
            continue;
        }
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut p) = sink.lock() {
                    p.process(&buf[..n]);
                }
                if let Ok(mut r) = raw.lock() {
                    r.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
}

/// CPU time (user + system, in clock ticks) a process has used, from `/proc/PID/stat`.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("a /proc stat line without `)`")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `after` starts at field 3.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// The processes descended from `pid`, with their one-letter state (`S`, `R`, `T` stopped …)
/// and command name.
pub fn descendants(pid: u32) -> Vec<(u32, char, String)> {
    let mut all: Vec<(u32, u32, char, String)> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = rest.next().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        all.push((p, ppid, state, name));
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, ppid, state, name) in &all {
            if *ppid == parent {
                found.push((*p, *state, name.clone()));
                frontier.push(*p);
            }
        }
    }
    found
}

/// CPU time a process's live threads have used, in nanoseconds (the first field of each
/// `/proc/PID/task/TID/schedstat`): finer than [`cpu_ticks`]' 10 ms ticks.
pub fn cpu_nanos(pid: u32) -> anyhow::Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for task in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = task?.path().join("schedstat");
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let ns: u64 = text
            .split_whitespace()
            .next()
            .context("an empty schedstat")?
            .parse()
            .with_context(|| format!("reading {}", path.display()))?;
        total += ns;
    }
    Ok(total)
}
