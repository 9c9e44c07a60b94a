//! Notifications: a run's end, or a gate that has waited too long, told to the workflow's
//! `notify:` targets (a signed webhook, a Slack-compatible webhook, a command).
//!
//! The run driver hands each [`Notice`] to its run's [`Notifier`], which sends it in the
//! background; a failed delivery is retried with backoff a bounded number of times, then logged
//! (without the target's URL, which may be a secret). A notification never changes a run. Every
//! text is masked with the run's secrets before it leaves, and signing keys are read when a
//! notice is sent, never stored.

mod deliver;
pub mod sign;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::secrets::Redactor;
use crate::spec::notify::{NotifyEvent, NotifyTarget};
use crate::store::{RunRecord, RunState, Timestamp};

/// What happened, as sent.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Which event.
    pub event: NotifyEvent,
    /// The event's JSON (for webhooks and commands).
    pub body: Value,
    /// One line for people (Slack's `text`).
    pub text: String,
}

impl Notice {
    /// A run ended (`failed_steps`: its own steps that failed).
    pub fn run_ended(run: &RunRecord, failed_steps: &[String]) -> Notice {
        let event = if run.state == RunState::Failed {
            NotifyEvent::RunFailed
        } else {
            NotifyEvent::RunFinished
        };
        let mut text = format!("baton: run {} of `{}` {}", run.id, run.workflow, run.state);
        if let Some(reason) = &run.reason {
            text.push_str(": ");
            text.push_str(reason);
        }
        let body = json!({
            "event": event.name(),
            "run": run_json(run, failed_steps),
            "text": text,
        });
        Notice { event, body, text }
    }

    /// The gate at `step` has waited since `since`.
    pub fn gate_waiting(run: &RunRecord, step: &str, since: Timestamp, prompt: &str) -> Notice {
        let text = format!(
            "baton: run {} of `{}` has waited since {} for a decision at step `{step}`: {prompt} \
             (`baton approve {} {step}` or `baton reject {} {step}`)",
            run.id,
            run.workflow,
            since.rfc3339(),
            run.id,
            run.id
        );
        let body = json!({
            "event": NotifyEvent::GateWaiting.name(),
            "run": run_json(run, &[]),
            "gate": { "step": step, "requested_at": since.rfc3339(), "prompt": prompt },
            "text": text,
        });
        Notice {
            event: NotifyEvent::GateWaiting,
            body,
            text,
        }
    }
}

fn run_json(run: &RunRecord, failed_steps: &[String]) -> Value {
    json!({
        "id": run.id.0,
        "workflow": run.workflow,
        "state": run.state.as_str(),
        "reason": run.reason,
        "failed_steps": failed_steps,
        "started_at": run.started_at.map(Timestamp::rfc3339),
        "finished_at": run.finished_at.map(Timestamp::rfc3339),
    })
}

/// Whether a target told about `events` is told `event` (`run_finished` covers a failure).
pub fn wants(events: &[NotifyEvent], event: NotifyEvent) -> bool {
    events.contains(&event)
        || (event == NotifyEvent::RunFailed && events.contains(&NotifyEvent::RunFinished))
}

/// One run's notification sender.
pub struct Notifier {
    targets: Arc<[NotifyTarget]>,
    redactor: Arc<Redactor>,
    /// Where relative `secret_file`s are (the workflow file's directory).
    base: Option<PathBuf>,
    sending: JoinSet<()>,
}

impl Notifier {
    /// A sender to `targets`, masking with `redactor`.
    pub fn new(targets: &[NotifyTarget], redactor: Arc<Redactor>, base: Option<PathBuf>) -> Self {
        Notifier {
            targets: targets.into(),
            redactor,
            base,
            sending: JoinSet::new(),
        }
    }

    /// The targets (their `gate_waiting:` arms the driver's timers).
    pub fn targets(&self) -> &[NotifyTarget] {
        &self.targets
    }

    /// Sends `notice` to every target that wants it (`only`: to that target alone), in the
    /// background.
    pub fn send(&mut self, notice: Notice, only: Option<usize>) {
        let notice = Arc::new(deliver::masked(notice, &self.redactor));
        for (i, target) in self.targets.iter().enumerate() {
            if only.is_some_and(|o| o != i) || !wants(&target.events, notice.event) {
                continue;
            }
            let job = deliver::Job {
                number: i + 1,
                target: target.clone(),
                notice: notice.clone(),
                base: self.base.clone(),
            };
            self.sending.spawn(deliver::deliver(job));
        }
    }

    /// Waits for the deliveries under way (each bounded by its retries).
    pub async fn drain(&mut self) {
        while self.sending.join_next().await.is_some() {}
    }
}
