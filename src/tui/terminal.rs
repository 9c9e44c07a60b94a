//! The terminal's setup and its guaranteed restore: raw mode and the alternate screen on entry;
//! on exit, on panic (a chained panic hook), on SIGTERM/SIGHUP (a self-pipe the event loop
//! reads) and when the terminal hangs up, the terminal is put back as it was.

use std::io::{Stdout, Write};
use std::os::fd::RawFd;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use anyhow::Context;
use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether the terminal is in the console's mode (so restoring twice is harmless).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Whether the terminal reports the mouse (turned off again on restore).
static MOUSE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Owns the terminal in console mode; dropping it restores the terminal.
pub struct TerminalGuard {
    /// The ratatui terminal.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen (reporting the mouse when `mouse`), and makes
    /// sure a panic restores them.
    pub fn enter(mouse: bool) -> anyhow::Result<TerminalGuard> {
        install_panic_hook();
        enter_mode(mouse)?;
        match Terminal::new(CrosstermBackend::new(std::io::stdout())) {
            Ok(mut terminal) => {
                let _ = terminal.hide_cursor();
                let mut guard = TerminalGuard { terminal };
                guard.redraw();
                Ok(guard)
            }
            Err(e) => {
                restore();
                Err(e).context("cannot set up the terminal")
            }
        }
    }

    /// Clears the terminal, so the next frame draws every cell again (`ctrl-l`). Not
    /// `Terminal::clear`, which first asks the terminal where its cursor is: a terminal that
    /// does not answer makes it wait two seconds and then give up without clearing.
    pub fn redraw(&mut self) {
        let _ = execute!(self.terminal.backend_mut(), Clear(ClearType::All));
        // Both buffers empty: the next frame is drawn whole, not as a diff of the last one.
        self.terminal.swap_buffers();
        self.terminal.swap_buffers();
    }

    /// Gives the terminal back to the shell and stops the process (`ctrl-z`); when the shell
    /// continues it (`fg`), takes the terminal again and clears it for a full frame.
    pub fn suspend(&mut self) -> anyhow::Result<()> {
        let mouse = MOUSE.load(Ordering::SeqCst);
        restore();
        // SAFETY: raising a signal at our own process; SIGTSTP's default action stops it until
        // SIGCONT, and raise returns then.
        unsafe {
            libc::raise(libc::SIGTSTP);
        }
        enter_mode(mouse)?;
        let _ = self.terminal.hide_cursor();
        self.redraw();
        Ok(())
    }

    /// Writes raw escape sequences (bell, OSC 52) after a frame.
    pub fn write_raw(&mut self, text: &str) {
        let out = self.terminal.backend_mut();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Raw mode, the alternate screen and (when asked) mouse reports.
fn enter_mode(mouse: bool) -> anyhow::Result<()> {
    enable_raw_mode().context("cannot switch the terminal to raw mode (is stdin a terminal?)")?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut stdout = std::io::stdout();
    if let Err(e) = execute!(stdout, EnterAlternateScreen) {
        restore();
        return Err(e).context("cannot switch to the terminal's alternate screen");
    }
    if mouse && execute!(stdout, EnableMouseCapture).is_ok() {
        MOUSE.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Puts the terminal back: main screen, cursor shown, cooked mode, no mouse reports. Safe to
/// call many times and from a panic hook.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut stdout = std::io::stdout();
        if MOUSE.swap(false, Ordering::SeqCst) {
            let _ = execute!(stdout, DisableMouseCapture);
        }
        let _ = execute!(stdout, LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
        let _ = stdout.flush();
    }
}

/// Whether the terminal on stdin has hung up (the SSH session or window is gone). (A hung-up
/// terminal no longer passes `isatty`: its descriptor answers every request with EIO.)
pub fn hung_up() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout only checks.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
}

/// The device a descriptor refers to, when it is a character device (a terminal).
fn char_device(fd: RawFd) -> Option<libc::dev_t> {
    // SAFETY: fstat fills the zeroed struct for a descriptor we only inspect.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFCHR)
            .then_some(st.st_rdev)
    }
}

/// Points stdout and stderr at `/dev/null` when they are the terminal that hung up, so what is
/// printed on the way out (which nobody can see any more) does not fail — `eprintln!` panics on
/// a write error.
pub fn detach_from_dead_terminal() {
    if !hung_up() {
        return;
    }
    let Some(tty) = char_device(libc::STDIN_FILENO) else {
        return;
    };
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        if char_device(fd) == Some(tty) {
            // SAFETY: replaces a standard descriptor with a duplicate of one we own (the
            // duplicate stays open when `null` is dropped).
            unsafe {
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd);
            }
        }
    }
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// The write end of the self-pipe, read by the signal handler (-1 when none).
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// SIGTERM and SIGHUP delivered as messages while the console runs; dropping it puts the
/// previous handlers back.
pub struct SignalWatch {
    previous: Vec<(libc::c_int, libc::sigaction)>,
    read_fd: RawFd,
    write_fd: RawFd,
    reader: Option<JoinHandle<()>>,
}

/// The signals that end the console (the terminal is restored first).
pub const WATCHED_SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGHUP];

impl SignalWatch {
    /// Installs the handlers; each signal received is sent as `message(signal)` on `tx`.
    /// A second identical signal gets the default action (SA_RESETHAND), so a stuck console can
    /// still be killed.
    pub fn install<M: Send + 'static>(
        tx: SyncSender<M>,
        message: fn(i32) -> M,
    ) -> anyhow::Result<SignalWatch> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds is a valid array of two ints.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error()).context("cannot create the signal pipe");
        }
        let (read_fd, write_fd) = (fds[0], fds[1]);
        // SAFETY: write_fd is a descriptor we own; making it non-blocking keeps the handler from
        // ever blocking.
        unsafe {
            let flags = libc::fcntl(write_fd, libc::F_GETFL);
            libc::fcntl(write_fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        SIGNAL_PIPE.store(write_fd, Ordering::SeqCst);
        let mut previous = Vec::new();
        for signal in WATCHED_SIGNALS {
            // SAFETY: zeroed sigaction is a valid starting value; the handler is an extern "C"
            // fn that only does async-signal-safe work.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        // The terminal's input, watched for a hang-up (the SSH session or the terminal window
        // went away without a signal reaching us): crossterm then spins on the dead terminal
        // instead of reporting it, so the hang-up is reported here, as a SIGHUP.
        // SAFETY: isatty only inspects the descriptor.
        let tty = (unsafe { libc::isatty(libc::STDIN_FILENO) } == 1).then_some(libc::STDIN_FILENO);
        let reader = std::thread::Builder::new()
            .name("baton-tui-signals".into())
            .spawn(move || watch(read_fd, tty, &tx, message))
            .context("cannot start the signal thread")?;
        Ok(SignalWatch {
            previous,
            read_fd,
            write_fd,
            reader: Some(reader),
        })
    }
}

/// Sleeps in poll(2) on the signal pipe and the terminal (no wake-ups while idle); sends
/// `message(signal)` for each signal, and `message(SIGHUP)` once when the terminal hangs up.
fn watch<M>(read_fd: RawFd, mut tty: Option<RawFd>, tx: &SyncSender<M>, message: fn(i32) -> M) {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: read_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // A negative descriptor is ignored by poll(2).
                fd: tty.unwrap_or(-1),
                // No events asked: poll still reports POLLHUP and POLLERR, which is all we want.
                events: 0,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd; -1 waits without a time limit.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            tty = None;
            if tx.send(message(libc::SIGHUP)).is_err() {
                return;
            }
        }
        if fds[0].revents != 0 {
            let mut byte = 0u8;
            // SAFETY: reading one byte into a valid buffer from a descriptor we own.
            let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                if tx.send(message(i32::from(byte))).is_err() {
                    return;
                }
            } else if n == 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return;
            }
        }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restoring the action saved by `install`.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
        SIGNAL_PIPE.store(-1, Ordering::SeqCst);
        // SAFETY: closing descriptors we own; closing the write end ends the reader with EOF.
        unsafe {
            libc::close(self.write_fd);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        // SAFETY: as above; the reader has finished with it.
        unsafe {
            libc::close(self.read_fd);
        }
    }
}
