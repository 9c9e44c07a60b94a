//! The attempts stage: runs the step's action, retrying under its policy (backoff with jitter)
//! until it succeeds, fails for good, or is cancelled. Each attempt and each retry is reported
//! to the run's driver.

use std::sync::Arc;
use std::time::Duration;

use super::render::Action;
use super::{StepJob, StepMsg};
use crate::engine::machine::retry::{AfterFailure, AttemptFailure, after_failure};
use crate::engine::policy::Jitter;
use crate::spec::RetryPolicy;
use crate::steps::{self, Attempt, AttemptResult, Failure, Success, wait_cancelled};
use crate::store::{LogStream, Timestamp};

/// Runs attempts until one succeeds or the policy gives up; returns the last result.
pub(super) async fn run(job: &StepJob, action: &Action) -> AttemptResult {
    let policy = job.workflow.effective_retry(job.step());
    let mut jitter = Jitter::from_entropy();
    let mut n = 1;
    loop {
        if n > 1 {
            // A marker the console draws as a rule: the lines after it are the new attempt's.
            (job.log)(LogStream::System, &attempt_marker(n, policy.max_attempts));
        }
        let _ = job.tx.send(StepMsg::Attempt { idx: job.idx, n });
        let failure = match execute(job, action, attempt(job)).await {
            Err(f) => f,
            ok => return ok,
        };
        let facts = AttemptFailure {
            attempt: n,
            exit_code: failure.exit_code,
            retryable: failure.retryable,
            cancelled: failure.cancelled,
        };
        let now = job.engine.config.clock.now().wall;
        match after_failure(&policy, facts, now, jitter.next_unit()) {
            AfterFailure::Retry { next, delay, at } => {
                back_off(job, &policy, (n, delay, at), &failure).await?;
                n = next;
            }
            AfterFailure::GiveUp => return Err(failure),
        }
    }
}

/// The log line that opens attempt `n` (after the first): `── attempt 2/3 ──`.
pub fn attempt_marker(n: u32, of: u32) -> String {
    format!("{ATTEMPT_MARKER}{n}/{of} ──")
}

/// How an attempt's marker line begins.
pub const ATTEMPT_MARKER: &str = "── attempt ";

/// What one attempt gets: the step's log, control, time limit, and where a spawned process
/// group is reported.
fn attempt(job: &StepJob) -> Attempt {
    let tx = job.tx.clone();
    let idx = job.idx;
    Attempt {
        log: job.log.clone(),
        control: job.control.clone(),
        timeout: job.workflow.effective_timeout(job.step()),
        grace: job.engine.config.grace,
        max_line: job.engine.config.logs.max_line_bytes,
        groups: job.engine.groups.clone(),
        spawned: Arc::new(move |pid| {
            let _ = tx.send(StepMsg::Spawned { idx, pid });
        }),
    }
}

/// One attempt, by the executor of the action's kind.
async fn execute(job: &StepJob, action: &Action, attempt: Attempt) -> AttemptResult {
    // The executors' futures are boxed: inline, the largest of them would size every step's
    // task (5.4 KiB; 1.4 KiB boxed), which a 5,000-wide fan-out holds 5,000 of at once.
    match action {
        Action::Shell(c) => match &c.on {
            Some(host) => {
                let (tx, idx) = (job.tx.clone(), job.idx);
                let spawned = Arc::new(move |process| {
                    let process = Box::new(process);
                    let _ = tx.send(StepMsg::RemoteSpawned { idx, process });
                });
                let ssh = job.engine.config.ssh.clone();
                let run = steps::remote::run(c.clone(), host.clone(), ssh, attempt, spawned);
                Box::pin(run).await
            }
            None => Box::pin(steps::shell::run(c, attempt)).await,
        },
        Action::Http(r) => Box::pin(steps::http::run(r.clone(), attempt)).await,
        Action::Sleep(d) => Box::pin(steps::sleep::run(*d, attempt)).await,
        Action::Agent { spec, prompt, env } => {
            let llm = job.engine.config.llm.clone();
            let catalog = match &llm {
                Some(l) => l.catalog.with_workflow(&job.workflow.agents),
                None => crate::agents::AgentCatalog::builtin().with_workflow(&job.workflow.agents),
            };
            let host = super::agent_host::StepHost::new(job);
            let place = steps::agent::Place {
                workdir: job.workdir.clone(),
                env: env.clone(),
                host: &host,
                mcp_servers: &job.workflow.mcp_servers,
                notes: Some(Arc::new(crate::agents::memory::Notebook {
                    store: job.engine.store.clone(),
                    scope: (job.workflow.memory_scope.clone())
                        .unwrap_or_else(|| job.workflow.name.clone()),
                    run: job.run.clone(),
                    step: job.step().id.to_string(),
                    redactor: job.redactor.clone(),
                })),
                live: Some(Arc::new(crate::engine::partial::PartialLine::new(
                    job.run.clone(),
                    job.log_key(),
                    job.engine.events.clone(),
                    job.redactor.clone(),
                ))),
            };
            Box::pin(steps::agent::run(
                llm,
                &catalog,
                spec,
                prompt.clone(),
                attempt,
                place,
            ))
            .await
        }
        Action::Workflow(call) => {
            Box::pin(super::subflow::run(job, call, attempt.control.clone())).await
        }
        Action::Value(v) => Ok(Success {
            output: v.clone(),
            ..Success::default()
        }),
    }
}

/// After failed attempt `n`: says so, reports the retry, and waits out its `delay` (the next
/// attempt starts `at`). A cancel during the wait ends the step cancelled.
async fn back_off(
    job: &StepJob,
    policy: &RetryPolicy,
    (n, delay, at): (u32, Duration, Timestamp),
    failure: &Failure,
) -> Result<(), Failure> {
    (job.log)(
        LogStream::System,
        &format!(
            "attempt {n}/{} failed: {}; retrying in {}",
            policy.max_attempts,
            failure.error,
            crate::time::format_duration(delay)
        ),
    );
    let _ = job.tx.send(StepMsg::Retrying {
        idx: job.idx,
        n,
        at,
        error: job.redactor.redact(&failure.error).into_owned(),
        exit_code: failure.exit_code,
    });
    let mut control = job.control.clone();
    tokio::select! {
        _ = tokio::time::sleep(delay) => Ok(()),
        _ = wait_cancelled(&mut control) => Err(Failure::cancelled()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::rig::{Rig, failed, succeeded};
    use crate::steps::Directive;

    #[tokio::test]
    async fn a_failing_step_is_retried_until_its_policy_gives_up() {
        let mut rig = Rig::new();
        let yaml = r#"
name: w
steps:
  - id: flaky
    run: exit 3
    retry: { max_attempts: 3, initial: 1ms, jitter: false }
"#;
        let (seen, outcome) = rig.run(rig.job(yaml, "flaky")).await;
        let attempts: Vec<_> = seen.iter().filter(|s| *s != "spawned").collect();
        let expected = [
            "attempt 1",
            "retrying 1",
            "attempt 2",
            "retrying 2",
            "attempt 3",
        ];
        assert_eq!(attempts, expected);
        assert_eq!(failed(outcome).exit_code, Some(3));
        let markers: Vec<String> = rig
            .logged()
            .into_iter()
            .filter(|l| l.starts_with(super::ATTEMPT_MARKER))
            .collect();
        assert_eq!(markers, ["── attempt 2/3 ──", "── attempt 3/3 ──"]);
    }

    #[tokio::test]
    async fn the_attempts_end_with_the_first_success() {
        let mut rig = Rig::new();
        // Fails the first time only: the counter file is in the run's working directory.
        let yaml = r#"
name: w
steps:
  - id: flaky
    run: if [ -e tried ]; then echo ok; else touch tried; exit 1; fi
    retry: { max_attempts: 5, initial: 1ms, jitter: false }
"#;
        let (seen, outcome) = rig.run(rig.job(yaml, "flaky")).await;
        assert_eq!(seen.iter().filter(|s| s.starts_with("attempt")).count(), 2);
        assert_eq!(succeeded(outcome).0.output, serde_json::json!("ok"));
    }

    #[tokio::test]
    async fn a_cancel_during_the_backoff_ends_the_step_cancelled() {
        let mut rig = Rig::new();
        let yaml = r#"
name: w
steps:
  - id: flaky
    run: exit 1
    retry: { max_attempts: 3, initial: 1h, max: 1h }
"#;
        let cancel = rig.cancel_when_logged("retrying in");
        let (seen, outcome) = rig.run(rig.job(yaml, "flaky")).await;
        cancel.await.unwrap();
        assert_eq!(seen.last().map(String::as_str), Some("retrying 1"));
        assert!(failed(outcome).cancelled);
        assert_eq!(*rig.control.borrow(), Directive::Cancelled);
    }
}
