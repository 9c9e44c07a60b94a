//! Printing for the command line, the one way: a closed pipe (`baton ls | head -1`) ends the
//! output quietly instead of panicking, and a run being followed goes on to its end.
//!
//! `println!` panics when stdout is a pipe whose reader has gone; these macros write through
//! [`write_out`]/[`write_err`], which stop printing to a stream for good once it is closed.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout (above a run's progress line, if one is shown); after a broken pipe,
/// nothing more is written.
pub fn write_out(args: fmt::Arguments<'_>) {
    super::progress::around(|| write_to(&mut std::io::stdout().lock(), &STDOUT_CLOSED, args));
}

/// Writes to stderr (above a run's progress line, if one is shown); after a broken pipe,
/// nothing more is written.
pub fn write_err(args: fmt::Arguments<'_>) {
    super::progress::around(|| write_to(&mut std::io::stderr().lock(), &STDERR_CLOSED, args));
}

/// Whether stdout's reader has gone (a command may stop producing output then).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn write_to(w: &mut dyn Write, closed: &AtomicBool, args: fmt::Arguments<'_>) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    // Any failure (a closed pipe, a hung-up terminal, a full disk behind a redirect) means
    // nobody reads what follows: stop writing to it rather than fail the command.
    if w.write_fmt(args).and_then(|()| w.flush()).is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// `println!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::out::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! errln {
    () => { $crate::cli::out::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that ends quietly on a closed pipe.
#[macro_export]
macro_rules! errout {
    ($($arg:tt)*) => { $crate::cli::out::write_err(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_printing_without_a_panic() {
        let closed = AtomicBool::new(false);
        write_to(&mut Closed, &closed, format_args!("one\n"));
        assert!(closed.load(Ordering::Relaxed));
        let mut buf = Vec::new();
        write_to(&mut buf, &closed, format_args!("two\n"));
        assert!(buf.is_empty(), "nothing is written after the pipe closed");
    }
}
