//! The gate stage: an `approval` step's question, and the operator's go-ahead before a step
//! that asks first (`approve:`, or a non-idempotent step a crash caught running) runs. Gates
//! are opened and decided by the run's driver; this asks and waits.

use std::time::Duration;

use indexmap::IndexMap;
use serde_json::json;
use tokio::sync::oneshot;

use super::render::{Action, Question};
use super::{GateRequest, Outcome, StepJob, StepMsg};
use crate::spec::OnTimeout;
use crate::steps::Failure;
use crate::store::{Decision, StepOutput};

/// Asks an `approval` step's question; approved, the (possibly edited) inputs are its output
/// (who decided is in the audit).
pub(super) async fn answer(job: &StepJob, q: Question) -> Result<Outcome, Failure> {
    let d = approved(ask(job, q.prompt, None, q.inputs, q.timeout, q.on_timeout).await?)?;
    Ok(Outcome::Succeeded {
        output: StepOutput {
            output: json!(d.inputs),
            outputs: IndexMap::new(),
            stdout: String::new(),
            stderr: String::new(),
        },
        exit_code: None,
        cached: false,
        metrics: Default::default(),
    })
}

/// Waits for the operator's go-ahead when the step asks first, showing exactly what will run.
pub(super) async fn before_running(job: &StepJob, action: &Action) -> Result<(), Failure> {
    let Some(prompt) = prompt(job) else {
        return Ok(());
    };
    let decision = ask(
        job,
        prompt,
        Some(action.describe()),
        IndexMap::new(),
        None,
        OnTimeout::Reject,
    )
    .await?;
    approved(decision).map(|_| ())
}

/// Why the step asks before running, if it does.
fn prompt(job: &StepJob) -> Option<String> {
    let step = job.step();
    if job.recovery_gate {
        Some(format!(
            "Step `{}` was running when baton stopped. It is marked `idempotent: false`: \
             running it again may repeat its effects. Run it again?",
            step.id
        ))
    } else if step.approve {
        Some(format!("Run step `{}`?", step.label()))
    } else {
        None
    }
}

/// Opens a gate through the driver and waits for its decision; with no driver left to decide
/// (the run is stopping), the step ends cancelled.
pub(super) async fn ask(
    job: &StepJob,
    prompt: String,
    action: Option<String>,
    inputs: IndexMap<String, String>,
    timeout: Option<Duration>,
    on_timeout: OnTimeout,
) -> Result<Decision, Failure> {
    let (reply, rx) = oneshot::channel();
    let request = GateRequest {
        idx: job.idx,
        prompt,
        action,
        inputs,
        timeout,
        on_timeout,
        tool: None,
        reply,
    };
    open(job, request, rx).await
}

/// Sends `request` to the driver and waits for the decision it answers on `rx`; with no driver
/// left to decide, the step ends cancelled.
pub(super) async fn open(
    job: &StepJob,
    request: GateRequest,
    rx: oneshot::Receiver<Decision>,
) -> Result<Decision, Failure> {
    job.tx
        .send(StepMsg::Gate(Box::new(request)))
        .map_err(|_| Failure::cancelled())?;
    rx.await.map_err(|_| Failure::cancelled())
}

/// A rejection fails the step, naming who rejected it and why.
fn approved(d: Decision) -> Result<Decision, Failure> {
    if d.approved {
        return Ok(d);
    }
    Err(Failure::fatal(match &d.comment {
        Some(c) if !c.is_empty() => format!("rejected by {}: {c}", d.by),
        _ => format!("rejected by {}", d.by),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::render::Prepared;
    use super::super::rig::{Rig, failed, succeeded};
    use super::*;
    use crate::time::Timestamp;

    fn decision(approved: bool, comment: Option<&str>) -> Decision {
        Decision {
            approved,
            by: "ann".into(),
            uid: Some(1000),
            at: Timestamp(1),
            comment: comment.map(str::to_string),
            inputs: [("version".to_string(), "2.0".to_string())].into(),
        }
    }

    /// Plays the run's driver: takes the step's gate request and answers it (`None`: drops it);
    /// returns what the gate asked and showed.
    async fn answer_gate(rig: &mut Rig, d: Option<Decision>) -> Asked {
        let limit = std::time::Duration::from_secs(60);
        let msg = tokio::time::timeout(limit, rig.rx.recv()).await;
        let Some(StepMsg::Gate(request)) = msg.expect("a gate within a minute") else {
            panic!("the step opens a gate");
        };
        let GateRequest {
            prompt,
            action,
            inputs,
            reply,
            ..
        } = *request;
        if let Some(d) = d {
            let _ = reply.send(d);
        }
        Asked {
            prompt,
            action,
            inputs,
        }
    }

    struct Asked {
        prompt: String,
        action: Option<String>,
        inputs: IndexMap<String, String>,
    }

    const APPROVAL: &str = r#"
name: w
steps:
  - id: ask
    approval:
      prompt: Release?
      inputs: { version: { default: "1.0" } }
  - id: ship
    run: ./ship.sh
    approve: true
  - id: plain
    run: echo hi
"#;

    #[tokio::test]
    async fn an_approved_question_outputs_the_edited_inputs() {
        let mut rig = Rig::new();
        let job = rig.job(APPROVAL, "ask");
        let Prepared::Approval(q) = render(&job).await else {
            panic!()
        };
        let (outcome, request) = tokio::join!(
            answer(&job, q),
            answer_gate(&mut rig, Some(decision(true, None)))
        );
        assert_eq!(request.prompt, "Release?");
        assert_eq!(request.inputs["version"], "1.0");
        let (output, _) = succeeded(outcome.unwrap_or_else(Outcome::Failed));
        assert_eq!(output.output, json!({"version": "2.0"}));
    }

    #[tokio::test]
    async fn a_step_that_asks_first_shows_the_exact_action_and_a_rejection_fails_it() {
        let mut rig = Rig::new();
        let job = rig.job(APPROVAL, "ship");
        let Prepared::Action(action) = render(&job).await else {
            panic!()
        };
        let rejected = decision(false, Some("not on a Friday"));
        let (gone, request) = tokio::join!(
            before_running(&job, &action),
            answer_gate(&mut rig, Some(rejected))
        );
        assert_eq!(request.prompt, "Run step `ship`?");
        assert_eq!(request.action.as_deref(), Some("$ ./ship.sh"));
        assert_eq!(gone.unwrap_err().error, "rejected by ann: not on a Friday");
    }

    #[tokio::test]
    async fn a_non_idempotent_step_caught_running_asks_before_running_again() {
        let mut rig = Rig::new();
        let mut job = rig.job(APPROVAL, "plain");
        job.recovery_gate = true;
        let Prepared::Action(action) = render(&job).await else {
            panic!()
        };
        let (ran, request) = tokio::join!(
            before_running(&job, &action),
            answer_gate(&mut rig, Some(decision(true, None)))
        );
        assert!(
            request.prompt.contains("`idempotent: false`"),
            "{}",
            request.prompt
        );
        assert!(ran.is_ok());
    }

    #[tokio::test]
    async fn a_step_that_does_not_ask_runs_without_a_gate() {
        let mut rig = Rig::new();
        let job = rig.job(APPROVAL, "plain");
        let Prepared::Action(action) = render(&job).await else {
            panic!()
        };
        assert!(before_running(&job, &action).await.is_ok());
        assert!(rig.rx.try_recv().is_err(), "no gate was opened");
    }

    #[tokio::test]
    async fn a_gate_nobody_will_decide_ends_the_step_cancelled() {
        let mut rig = Rig::new();
        let job = rig.job(APPROVAL, "ship");
        let (outcome, _) = tokio::join!(rig_run(&job), answer_gate(&mut rig, None));
        assert!(failed(outcome).cancelled);
    }

    async fn render(job: &StepJob) -> Prepared {
        match super::super::render::render(job).await {
            Ok(r) => r.prepared,
            Err(f) => panic!("{}", f.error),
        }
    }

    async fn rig_run(job: &StepJob) -> Outcome {
        match super::super::drive(job).await {
            Ok(o) => o,
            Err(f) => Outcome::Failed(f),
        }
    }
}
