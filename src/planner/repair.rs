//! Repair proposals: a failed step's definition, rendered command, exit code, error and output
//! tail go to the model, which answers with the whole workflow with that step changed (and
//! nothing else: a proposal that touches another step goes back as a problem). A person
//! approves the proposal before the engine runs it (`Engine::repair_run`).

use std::path::PathBuf;

use anyhow::bail;

use crate::engine::RunReader;
use crate::providers::{RouteError, RouteEvent};
use crate::spec::StepId;
use crate::store::{RunId, StepStatus};

use super::{Draft, PlanRequest, Planner};

/// Output lines of the failed step sent to the model.
pub const TAIL_LINES: usize = 40;

/// What is known of a failed step.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The run.
    pub run: String,
    /// The step.
    pub step: StepId,
    /// The run's workflow as it ran.
    pub source: String,
    /// Its file, for diagnostics.
    pub origin: PathBuf,
    /// The command or request as rendered, when a gate recorded it.
    pub action: Option<String>,
    /// The exit code.
    pub exit_code: Option<i32>,
    /// Why it failed.
    pub error: Option<String>,
    /// Its last output lines.
    pub output_tail: Vec<String>,
}

impl Failure {
    /// What `reader` holds about failed step `step` of run `id`; an error naming the run and
    /// the step when it has no such step or the step did not fail.
    pub fn read<R: RunReader + ?Sized>(
        reader: &R,
        id: &RunId,
        step: StepId,
    ) -> anyhow::Result<Failure> {
        let run = reader.run(id)?;
        let detail = reader.run_detail(id)?;
        let Some(record) = detail.steps.iter().find(|s| s.step == step) else {
            bail!("run {id} has no step `{step}`; `baton show {id}` lists its steps");
        };
        if record.status != StepStatus::Failed {
            bail!(
                "step `{step}` of run {id} is {}; only a failed step can be repaired",
                record.status.as_str()
            );
        }
        let action = detail
            .approvals
            .iter()
            .find(|a| a.step == step)
            .and_then(|a| a.action.clone());
        let output_tail = reader
            .tail_logs(id, Some(&step), TAIL_LINES)?
            .into_iter()
            .map(|l| l.text)
            .collect();
        Ok(Failure {
            run: id.0.clone(),
            origin: PathBuf::from(run.workflow_path.as_deref().unwrap_or("workflow.yaml")),
            source: run.source,
            action,
            exit_code: record.exit_code,
            error: record.error.clone(),
            output_tail,
            step,
        })
    }

    /// The request that asks for a fix.
    pub fn request(&self) -> String {
        let mut text = format!(
            "Step `{}` of run {} failed. Propose a fix: change step `{}` only (its command, \
             request, prompt or settings), keep every other step exactly as it is, and answer \
             with the whole workflow.\n",
            self.step, self.run, self.step
        );
        if let Some(action) = &self.action {
            text.push_str(&format!("Rendered: {action}\n"));
        }
        if let Some(code) = self.exit_code {
            text.push_str(&format!("Exit code: {code}\n"));
        }
        if let Some(error) = &self.error {
            text.push_str(&format!("Error: {error}\n"));
        }
        if !self.output_tail.is_empty() {
            text.push_str("Last output lines:\n");
            for line in &self.output_tail {
                text.push_str(&format!("  {line}\n"));
            }
        }
        text
    }

    /// The planning request for it: the run's workflow to revise, held to changing the step.
    pub fn plan_request(&self, rounds: u32) -> PlanRequest {
        let mut req = PlanRequest::new(self.request());
        req.revise = Some(self.source.clone());
        req.only_step = Some(self.step.clone());
        // A person approves the whole proposal; the step keeps the gates it had.
        req.gates = false;
        req.rounds = rounds;
        req.origin = self.origin.clone();
        req
    }
}

/// Asks for a proposal; the draft is the whole repaired workflow.
pub async fn propose(
    planner: &Planner,
    failure: &Failure,
    rounds: u32,
    sink: &mut (dyn FnMut(RouteEvent) + Send),
) -> Result<Draft, RouteError> {
    planner.draft(&failure.plan_request(rounds), sink).await
}
