//! A step task's surroundings for the stages' tests: a real store in a temporary directory, an
//! engine, and the test in the place of the run's driver (it reads what the step reports).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::{Outcome, StepJob, StepMsg, run_step};
use crate::engine::shared::{EngineConfig, EngineShared};
use crate::steps::{Directive, Failure};
use crate::store::{RunId, StepOutput, Store};

pub(super) struct Rig {
    pub dir: tempfile::TempDir,
    pub engine: Arc<EngineShared>,
    pub control: Arc<watch::Sender<Directive>>,
    pub rx: mpsc::UnboundedReceiver<StepMsg>,
    tx: mpsc::UnboundedSender<StepMsg>,
    lines: watch::Sender<Vec<String>>,
    secrets: Vec<String>,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_secrets(&[])
    }

    /// A rig whose run has these secrets.
    pub fn with_secrets(secrets: &[&str]) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        Rig {
            dir,
            engine: Arc::new(EngineShared::new(store, EngineConfig::default())),
            control: Arc::new(watch::channel(Directive::Running).0),
            rx,
            tx,
            lines: watch::channel(Vec::new()).0,
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The job of step `step` of the workflow written in `yaml`.
    pub fn job(&self, yaml: &str, step: &str) -> StepJob {
        let wf = crate::spec::parse_str(yaml, Path::new("test.yaml")).unwrap();
        let idx = wf.steps.iter().position(|s| s.id.0 == step).unwrap();
        let env: serde_json::Map<String, Value> =
            wf.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let lines = self.lines.clone();
        StepJob {
            run: RunId("r1".into()),
            idx,
            ctx: Arc::new(json!({"params": {}, "env": env, "secrets": {}, "steps": {},
                                 "run": {"id": "r1"}})),
            workflow: Arc::new(wf),
            workdir: Some(self.dir.path().to_path_buf()),
            recovery_gate: false,
            tx: self.tx.clone(),
            control: self.control.subscribe(),
            interrupting: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            log: Arc::new(move |_, text: &str| lines.send_modify(|l| l.push(text.to_string()))),
            redactor: Arc::new(crate::secrets::Redactor::new(self.secrets.clone())),
            templates_may_loop: false,
            engine: self.engine.clone(),
            item: None,
        }
    }

    /// The log lines so far.
    pub fn logged(&self) -> Vec<String> {
        self.lines.borrow().clone()
    }

    /// Cancels the run once a log line contains `text`.
    pub fn cancel_when_logged(&self, text: &str) -> tokio::task::JoinHandle<()> {
        let (mut rx, control, text) = (
            self.lines.subscribe(),
            self.control.clone(),
            text.to_string(),
        );
        tokio::spawn(async move {
            let _ = rx
                .wait_for(|l| l.iter().any(|line| line.contains(&text)))
                .await;
            control.send_replace(Directive::Cancelled);
        })
    }

    /// Runs the step task to its end, as its driver would (writing what it offers the cache);
    /// returns what it reported before its outcome, as short names, and the outcome.
    /// A step that has not ended after a minute fails the test (rather than hanging it).
    pub async fn run(&mut self, job: StepJob) -> (Vec<String>, Outcome) {
        tokio::spawn(run_step(job));
        let mut seen = Vec::new();
        let limit = std::time::Duration::from_secs(60);
        loop {
            let msg = tokio::time::timeout(limit, self.rx.recv()).await;
            match msg.expect("the step ended within a minute").unwrap() {
                StepMsg::Attempt { n, .. } => seen.push(format!("attempt {n}")),
                StepMsg::Retrying { n, .. } => seen.push(format!("retrying {n}")),
                StepMsg::Spawned { .. } => seen.push("spawned".into()),
                StepMsg::RemoteSpawned { .. } => seen.push("remote spawned".into()),
                StepMsg::Gate(_) => seen.push("gate".into()),
                StepMsg::ChildRun { run, .. } => seen.push(format!("child {run}")),
                StepMsg::Agent { ack, .. } => {
                    let _ = ack.send(());
                    seen.push("agent".into());
                }
                StepMsg::Cache(put) => {
                    put.record(&self.engine.store);
                    seen.push("cache".into());
                }
                StepMsg::Done { outcome, .. } => return (seen, *outcome),
                // Sent by the driver's fan-out, never by a step task.
                StepMsg::Items { .. } | StepMsg::Item { .. } => seen.push("items".into()),
            }
        }
    }
}

/// The output of a successful outcome.
pub(super) fn succeeded(outcome: Outcome) -> (StepOutput, bool) {
    match outcome {
        Outcome::Succeeded { output, cached, .. } => (output, cached),
        Outcome::Failed(f) => panic!("the step failed: {}", f.error),
    }
}

/// The failure of a failed outcome.
pub(super) fn failed(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failed(f) => f,
        Outcome::Succeeded { output, .. } => panic!("the step succeeded: {:?}", output.output),
    }
}

/// Polls `f` once: its output if it is ready now, without waiting for anything.
pub(super) async fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *f).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}
