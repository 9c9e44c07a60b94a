//! Drives a real program in a pseudo-terminal: spawn it at a given size, send keys, wait until
//! the screen (as a vt100 terminal would show it) contains a text, read the screen back.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

/// A program running in a pseudo-terminal.
pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    parser: Arc<Mutex<vt100::Parser>>,
    reader: Option<JoinHandle<()>>,
    // Kept open so the terminal stays alive while the child runs.
    _master: Box<dyn portable_pty::MasterPty + Send>,
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
        let mut reader = pair.master.try_clone_reader().context("reading the pty")?;
        let writer = pair.master.take_writer().context("writing the pty")?;
        let rows = std::num::NonZeroU16::new(rows).context("a terminal needs rows")?;
        let cols = std::num::NonZeroU16::new(cols).context("a terminal needs columns")?;
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let sink = parser.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut p) = sink.lock() {
                            p.process(&buf[..n]);
                        }
                    }
                }
            }
        });
        Ok(Pty {
            child,
            writer,
            parser,
            reader: Some(reader),
            _master: pair.master,
        })
    }

    /// Sends bytes as if typed.
    pub fn send(&mut self, keys: &str) -> anyhow::Result<()> {
        self.writer
            .write_all(keys.as_bytes())
            .context("typing into the pty")?;
        self.writer.flush().context("typing into the pty")
    }

    /// The screen's text now.
    pub fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
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
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return Ok(screen);
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "`{text}` did not appear within {timeout:?}; the screen was:\n{screen}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.process_id()
    }

    /// Waits for the program to exit; returns whether it succeeded.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for the program")? {
                // Let the reader take in the last output.
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
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
