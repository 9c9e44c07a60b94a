//! What a dead owner left running: a local process group, or one on another host, stopped
//! before its step runs again.

use super::*;

impl RunDriver {
    pub(super) fn stop_leftover(&self, idx: usize, pid: u32, spawned_at: Timestamp) {
        // The sweep at the store's open stopped these already; this catches a group recorded
        // since (the same owner restarting a run it lost).
        let grace = self.engine.config.grace;
        if !crate::process_group::stop_leftovers(&[(pid, spawned_at)], grace).is_empty() {
            tracing::warn!(
                "run {}: stopped process group {pid} of step `{}` left by the previous owner",
                self.run.id,
                self.wf.steps[idx].id
            );
        }
    }

    pub(super) fn stop_remote_leftover(&self, idx: usize, process: &crate::store::RemoteProcess) {
        // Before the step runs again: what its dead owner started on the host must not run
        // beside the new attempt.
        let grace = self.engine.config.grace;
        let step = &self.wf.steps[idx].id;
        match crate::remote::leftovers::stop(process, grace) {
            Ok(()) => self.system_log(
                idx,
                &format!(
                    "stopped what the previous owner left running on host `{}` (process group {})",
                    process.host, process.pgid
                ),
            ),
            Err(e) => {
                tracing::warn!(
                    "run {}: cannot stop process group {} of step `{step}` on host `{}`: {e}",
                    self.run.id,
                    process.pgid,
                    process.host
                );
                self.system_log(
                    idx,
                    &format!(
                        "cannot stop what the previous owner left on host `{}` (process group {}): {e}",
                        process.host, process.pgid
                    ),
                );
            }
        }
    }
}
