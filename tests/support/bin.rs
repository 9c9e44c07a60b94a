//! The `baton` binary as the whole-program tests run it: one command builder for all of them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `baton`, its stdin closed and colours off (`NO_COLOR`); most tests want [`baton`].
pub fn baton_bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_baton"));
    c.stdin(Stdio::null()).env("NO_COLOR", "1");
    c
}

/// `baton --data-dir DATA`, its stdin closed and colours off.
pub fn baton(data: &Path) -> Command {
    let mut c = baton_bare();
    c.arg("--data-dir").arg(data);
    c
}

/// What a finished command printed: its stdout, then its stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
