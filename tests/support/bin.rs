//! The `baton` binary as the whole-program tests run it: one command builder for all of them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

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

/// `baton run --json WORKFLOW`, returned once it has said that a step (`step`, or any) runs
/// with its process group recorded: Events go out only once durable, so a kill from then on
/// finds the group in the store.
pub fn run_until_a_process_is_recorded(data: &Path, workflow: &Path, step: Option<&str>) -> Child {
    let mut c = baton(data);
    c.args(["run", "--json"]).arg(workflow);
    wait_until_a_process_is_recorded(c, step)
}

/// Spawns `run` (a `baton run --json`), returned once it has said that a step (`step`, or any)
/// runs with its process group recorded.
pub fn wait_until_a_process_is_recorded(run: Command, step: Option<&str>) -> Child {
    let named = step.map(|s| format!("\"{s}\""));
    wait_until_an_event(run, move |l| {
        l.contains("\"type\":\"step\"")
            && l.contains("\"process\":[")
            && named.as_ref().is_none_or(|n| l.contains(n.as_str()))
    })
}

/// `baton run --json WORKFLOW`, returned once it has printed an Event that `durable` accepts
/// (see [`wait_until_an_event`]).
pub fn run_until_an_event(
    data: &Path,
    workflow: &Path,
    durable: impl Fn(&str) -> bool + Send + 'static,
) -> Child {
    let mut c = baton(data);
    c.args(["run", "--json"]).arg(workflow);
    wait_until_an_event(c, durable)
}

/// Spawns `run` (a `baton run --json`), returned once it has printed an Event (a JSON line)
/// that `durable` accepts: what an Event says is stored already, so a kill from then on keeps
/// it. Its stdout is read to its end meanwhile, so that the owner never meets a closed pipe
/// (and quits on its own) before the test kills it.
pub fn wait_until_an_event(
    mut run: Command,
    durable: impl Fn(&str) -> bool + Send + 'static,
) -> Child {
    let mut owner = run.stdout(Stdio::piped()).spawn().expect("baton run");
    let stdout = std::io::BufReader::new(owner.stdout.take().expect("its stdout"));
    let (seen_tx, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout) {
            if durable(&line.unwrap_or_default()) {
                let _ = seen_tx.send(());
            }
        }
    });
    assert!(
        seen.recv().is_ok(),
        "the run ended without the awaited event"
    );
    owner
}
