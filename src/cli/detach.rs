//! `baton run --detach`: starts a run under an owner and returns once it has an id, printing
//! it; the run goes on without this terminal.
//!
//! While another baton owns the store, the run is simply started there. Otherwise a headless
//! owner is started for it — `baton run --json --wait-for-gates FILE` in its own session, its
//! standard input closed — and this process reads the run's id from its first event, then
//! leaves: the owner's later output goes nowhere (a closed pipe ends its printing quietly, not
//! its run), and its gates wait for `baton approve` from another shell.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command as Process, Stdio};

use anyhow::{Context, bail};

use super::common::{self, Reach};
use super::run::RunArgs;
use crate::engine::{RunControl, StartRequest};

/// Starts the run and prints its id; the exit code is 0 once it has started.
pub fn run_detached(
    data_dir: Option<&Path>,
    args: &RunArgs,
    request: StartRequest,
) -> anyhow::Result<i32> {
    match common::open_or_ask(data_dir)? {
        Reach::Owner(owner) => {
            let id = owner.start(request)?;
            outln!("{id}");
            Ok(0)
        }
        Reach::Store(opened) => {
            // The owner started below must be able to take the store.
            drop(opened);
            let id = start_owner(data_dir, args)?;
            outln!("{id}");
            Ok(0)
        }
    }
}

/// Starts `baton run --json --wait-for-gates` in its own session; returns the run's id.
fn start_owner(data_dir: Option<&Path>, args: &RunArgs) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find baton's own executable")?;
    let mut cmd = Process::new(exe);
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    cmd.arg("run")
        .arg(&args.file)
        .args(["--json", "--wait-for-gates"]);
    for p in &args.params {
        cmd.arg("-p").arg(p);
    }
    for step in &args.follow.approve {
        cmd.arg("--approve").arg(step);
    }
    if args.follow.approve_all {
        cmd.arg("--approve-all");
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: `setsid` is async-signal-safe; the child leaves this terminal's session so that
    // closing the terminal does not hang it up.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the run's owner")?;
    let stdout = child.stdout.take().context("the owner's output")?;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(id) = event.get("run").and_then(|r| r.as_str()) {
            return Ok(id.to_string());
        }
    }
    let mut why = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut why);
    }
    let status = child.wait().context("waiting for the run's owner")?;
    let shown = common::Shown::stderr().text(why.trim()).into_owned();
    bail!("the run did not start ({status}): {shown}")
}
