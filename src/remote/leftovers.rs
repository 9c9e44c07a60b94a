//! What a dead owner left running on other hosts: the process groups its remote steps and
//! items recorded, stopped over connections of their own (the dead owner's shared one may hang
//! on the very fault that stopped it), every host at once. Used by the sweep at the store's
//! open, by `cancel` of an interrupted run, and before a resumed step runs again.

use std::time::Duration;

use crate::store::RemoteProcess;

/// Stops each group (SIGCONT, SIGTERM, `grace`, SIGKILL on its host, unless its leader is
/// another process now), all at once; the outcome of each, in order.
pub fn stop_all(processes: &[&RemoteProcess], grace: Duration) -> Vec<Result<(), String>> {
    std::thread::scope(|scope| {
        let stops: Vec<_> = processes
            .iter()
            .map(|p| scope.spawn(move || stop(p, grace)))
            .collect();
        stops
            .into_iter()
            .map(|s| {
                s.join()
                    .unwrap_or_else(|_| Err("the thread stopping it failed".to_string()))
            })
            .collect()
    })
}

/// Stops one group on its host (see [`stop_all`]).
pub fn stop(process: &RemoteProcess, grace: Duration) -> Result<(), String> {
    let line = super::script::stop(process.pgid, &process.started, grace);
    let mut cmd = super::ssh::direct(&process.ssh);
    cmd.arg(&line);
    let out = cmd.output().map_err(|e| format!("cannot start ssh: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(super::ssh::last_line(&String::from_utf8_lossy(&out.stderr)))
    }
}

/// Stops what `processes` name, saying in the process's log (`tracing`) what was stopped and
/// what could not be, for run `run`.
pub fn stop_and_report(run: &str, processes: &[&RemoteProcess], grace: Duration) {
    for (p, outcome) in processes.iter().zip(stop_all(processes, grace)) {
        match outcome {
            Ok(()) => tracing::info!(
                "run {run}: stopped process group {} on host `{}` left by its dead owner",
                p.pgid,
                p.host
            ),
            Err(e) => tracing::warn!(
                "run {run}: cannot stop process group {} on host `{}` left by its dead owner: {e}",
                p.pgid,
                p.host
            ),
        }
    }
}
