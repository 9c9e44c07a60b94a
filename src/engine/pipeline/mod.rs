//! One step's way through the engine, as stages, each in its own file: render (`render.rs`) →
//! gate (`gate.rs`: an `approval` step's question, `approve:`, a post-crash re-run check) →
//! cache (`cache.rs`) → admission (`admission.rs`: rate limit, lock, a global slot) → attempts
//! with retry and timeout (`attempts.rs`) → outputs (`outputs.rs`). [`run_step`] composes them.
//!
//! A step task reports to its run's driver over [`StepMsg`], and the driver records what it
//! reports, the cache entry included ([`StepMsg::Cache`]). One exception, on purpose: log lines
//! go from the step task straight into the run's write-behind log buffer (`engine/run_log.rs`,
//! owned by the driver, through [`StepJob::log`]). A step can print far more lines than it has
//! transitions; a trip through the driver per line would cost the driver's time for every run's
//! steps, and the buffer already orders lines by their sequence number and is flushed and
//! closed by the driver.

mod admission;
mod agent_host;
mod attempts;
mod cache;
mod gate;
mod host;
mod outputs;
pub(crate) mod render;
pub(crate) mod subflow;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::shared::EngineShared;
use crate::spec::{OnTimeout, Step, Workflow};
use crate::steps::{Directive, Failure, LogSink};
use crate::store::{Decision, StepOutput, Timestamp};
use render::{Prepared, Rendered};

pub use attempts::{ATTEMPT_MARKER, attempt_marker};
pub use cache::CachePut;

/// What a step task tells its run's driver.
pub enum StepMsg {
    /// Attempt `n` started.
    Attempt {
        /// Step index.
        idx: usize,
        /// Attempt number (1-based).
        n: u32,
    },
    /// Attempt `n` failed; the next starts at `at`.
    Retrying {
        /// Step index.
        idx: usize,
        /// The attempt that failed.
        n: u32,
        /// When the next starts.
        at: Timestamp,
        /// Why it failed.
        error: String,
        /// Its exit code.
        exit_code: Option<i32>,
    },
    /// A shell attempt's process group started.
    Spawned {
        /// Step index.
        idx: usize,
        /// Its pid (= process group id).
        pid: u32,
    },
    /// A remote attempt's process group started on its host.
    RemoteSpawned {
        /// Step index.
        idx: usize,
        /// Where it runs.
        process: Box<crate::store::RemoteProcess>,
    },
    /// A `workflow:` step started (or found again) its child run.
    ChildRun {
        /// Step index.
        idx: usize,
        /// The child run.
        run: crate::store::RunId,
    },
    /// The step waits for an operator.
    Gate(Box<GateRequest>),
    /// An agent step's turn or tool call, to journal; `ack` is told once it is durable.
    Agent {
        /// Step index.
        idx: usize,
        /// What happened.
        entry: Box<crate::store::AgentEntry>,
        /// Told once the entry is durable.
        ack: oneshot::Sender<()>,
    },
    /// A result for the cache, which the driver writes (sent before the step's `Done`).
    Cache(Box<CachePut>),
    /// The step is over.
    Done {
        /// Step index.
        idx: usize,
        /// How it ended.
        outcome: Box<Outcome>,
    },
    /// A fan-out step's list, evaluated (`for_each:`).
    Items {
        /// Step index.
        idx: usize,
        /// The items, or why there are none.
        items: Result<Vec<Value>, String>,
    },
    /// What item `item` of fan-out step `idx` reported (its task sends the messages above).
    Item {
        /// Step index.
        idx: usize,
        /// Item index.
        item: usize,
        /// The report.
        msg: Box<StepMsg>,
    },
}

/// A gate the driver must open and answer.
pub struct GateRequest {
    /// Step index.
    pub idx: usize,
    /// The question.
    pub prompt: String,
    /// Exactly what will run, for `approve:` gates.
    pub action: Option<String>,
    /// Editable inputs and their initial values.
    pub inputs: IndexMap<String, String>,
    /// How long to wait.
    pub timeout: Option<Duration>,
    /// What a timeout means.
    pub on_timeout: OnTimeout,
    /// For an agent's tool call: the tool (its arguments are the input `arguments`).
    pub tool: Option<String>,
    /// Where the decision goes.
    pub reply: oneshot::Sender<Decision>,
}

/// How a step ended.
pub enum Outcome {
    /// It produced an output.
    Succeeded {
        /// The output, redacted.
        output: StepOutput,
        /// Exit code (shell).
        exit_code: Option<i32>,
        /// Came from the cache.
        cached: bool,
        /// LLM figures.
        metrics: crate::store::StepMetrics,
    },
    /// It failed, or was cancelled.
    Failed(Failure),
}

/// Everything a step task needs.
pub struct StepJob {
    /// The run it belongs to.
    pub run: crate::store::RunId,
    /// Step index in the workflow.
    pub idx: usize,
    /// The workflow.
    pub workflow: Arc<Workflow>,
    /// The template context at the time the step became ready.
    pub ctx: Arc<Value>,
    /// The run's working directory.
    pub workdir: Option<PathBuf>,
    /// Ask the operator before running (a non-idempotent step found running after a crash).
    pub recovery_gate: bool,
    /// Where to report.
    pub tx: mpsc::UnboundedSender<StepMsg>,
    /// Pause/resume/cancel.
    pub control: watch::Receiver<Directive>,
    /// Set before `control` turns to cancelled when the run is being interrupted (its owner
    /// stops; it resumes later) rather than cancelled: a child run is then interrupted too.
    pub interrupting: Arc<std::sync::atomic::AtomicBool>,
    /// Where log lines go.
    pub log: LogSink,
    /// The run's secrets, masked in everything this reports.
    pub redactor: Arc<crate::secrets::Redactor>,
    /// The workflow's templates have statements (`{% … %}`), which can loop: they render on a
    /// blocking thread. Without statements a template's work is bounded by its length (and its
    /// fuel), so it renders in place: a blocking thread per step cost a 5,000-wide fan-out 3×.
    pub templates_may_loop: bool,
    /// Engine-wide things: templates, locks, buckets, semaphore, store, config.
    pub engine: Arc<EngineShared>,
    /// For one item of a fan-out: its index and value (`item_index`, `item` in templates).
    pub item: Option<(usize, Value)>,
}

impl StepJob {
    fn step(&self) -> &Step {
        &self.workflow.steps[self.idx]
    }

    /// What its log lines go under: the step's id, or `step[i]` for a fan-out item.
    pub(crate) fn log_key(&self) -> crate::spec::StepId {
        match &self.item {
            Some((i, _)) => crate::store::item_key(&self.step().id, *i),
            None => self.step().id.clone(),
        }
    }
}

/// Runs the step to its end and reports every transition on `job.tx`.
pub async fn run_step(job: StepJob) {
    let outcome = match drive(&job).await {
        Ok(outcome) => outcome,
        Err(f) => outputs::failed(&job.redactor, f),
    };
    let _ = job.tx.send(StepMsg::Done {
        idx: job.idx,
        outcome: Box::new(outcome),
    });
}

/// The stages, in order; each either passes the step on or ends it.
async fn drive(job: &StepJob) -> Result<Outcome, Failure> {
    let Rendered {
        prepared,
        lock,
        cache_key,
    } = render::render(job).await?;
    let action = match prepared {
        Prepared::Approval(question) => return gate::answer(job, question).await,
        Prepared::Action(action) => action,
    };
    gate::before_running(job, &action).await?;
    if let Some(key) = &cache_key
        && let Some(hit) = cache::lookup(
            &job.engine.store,
            &job.log,
            key,
            job.engine.config.clock.now().wall,
        )
    {
        return Ok(hit);
    }
    let _admitted = admission::admit(job, lock.as_deref()).await?;
    let success = attempts::run(job, &action).await?;
    outputs::succeeded(job, success, cache_key).await
}

#[cfg(test)]
mod rig;

#[cfg(test)]
mod tests {
    use super::rig::{Rig, failed, succeeded};

    #[tokio::test]
    async fn a_cache_hit_within_its_ttl_skips_the_attempts() {
        let mut rig = Rig::new();
        let yaml = r#"
name: w
steps:
  - id: build
    run: echo ran >> marker; echo built
    cache: { ttl: 1h }
"#;
        let (first, outcome) = rig.run(rig.job(yaml, "build")).await;
        assert_eq!(first, ["attempt 1", "spawned", "cache"]);
        assert_eq!(
            succeeded(outcome),
            (
                super::StepOutput {
                    output: serde_json::json!("built"),
                    stdout: "built\n".into(),
                    ..Default::default()
                },
                false
            )
        );
        let (second, outcome) = rig.run(rig.job(yaml, "build")).await;
        assert!(
            second.is_empty(),
            "no attempt, nothing cached again: {second:?}"
        );
        let (output, cached) = succeeded(outcome);
        assert!(cached);
        assert_eq!(output.output, serde_json::json!("built"));
        let marker = std::fs::read_to_string(rig.dir.path().join("marker")).unwrap();
        assert_eq!(marker, "ran\n", "the command ran once");
        assert!(
            rig.logged()
                .iter()
                .any(|l| l.starts_with("cache hit (stored by run r1"))
        );
    }

    #[tokio::test]
    async fn a_cancel_during_admission_ends_the_step_cancelled_without_an_attempt() {
        let mut rig = Rig::new();
        let held = rig.engine.lock("deploy").try_lock_owned().unwrap();
        let yaml = "name: w\nsteps:\n  - id: ship\n    run: echo shipped\n    lock: deploy\n";
        let job = rig.job(yaml, "ship");
        let cancel = rig.cancel_when_logged("waiting for lock `deploy`");
        let (seen, outcome) = rig.run(job).await;
        cancel.await.unwrap();
        drop(held);
        assert!(seen.is_empty(), "nothing reported before the end");
        assert!(failed(outcome).cancelled);
    }
}
