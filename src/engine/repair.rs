//! An approved repair: a finished run's workflow is replaced by one whose failed step is
//! changed, and the run continues from there as a retry does. The run's history says who
//! approved which step's repair (and the plan version holding it); its stored source becomes
//! the repaired one, so a later resume runs that.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use anyhow::{anyhow, bail};

use super::Engine;
use super::journal::Journal;
use super::run::WHEN_FALSE;
use crate::identity::Operator;
use crate::spec::{Step, StepId, Workflow};
use crate::store::{EventKind, RunId, RunPlan, RunState, StepRecord, StepStatus, Store};

/// Drafts a proposed fix of a failed step when a run of a workflow with `on_failure: { repair:
/// true }` fails (the planner implements it; the engine knows no model). The proposal is only
/// stored: a person applies it with `baton repair RUN STEP --approve` (or `F` in the console).
pub trait Repairer: Send + Sync + std::fmt::Debug {
    /// Proposes a fix of step `step` of run `run` as the store holds it; the id of the plan
    /// version holding the proposal, or why there is none.
    fn propose<'a>(
        &'a self,
        store: &'a Store,
        run: &'a RunId,
        step: &'a StepId,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;
}

/// The steps a retry (and a repair) runs again: failed and cancelled ones, the handlers, and
/// those skipped because of them (not those whose `when:` was false).
pub(super) fn retried(r: &StepRecord) -> bool {
    matches!(r.status, StepStatus::Failed | StepStatus::Cancelled)
        // The handlers run again after the retried steps.
        || crate::spec::handlers::is_handler_id(r.step.as_str())
        || (r.status == StepStatus::Skipped
            && !r
                .skip_reason
                .as_deref()
                .is_some_and(|s| s.starts_with(WHEN_FALSE)))
}

impl Engine {
    /// Replaces the workflow of finished run `id` with `source`, which may change step `step`
    /// only, and retries the run; `who` approved it.
    pub fn repair_run(
        &self,
        id: &RunId,
        step: &StepId,
        source: String,
        version: Option<&str>,
        who: &Operator,
    ) -> anyhow::Result<()> {
        if self.is_active(id) {
            bail!("run {id} is still active; wait for it to finish or cancel it first");
        }
        let mut run = self.load(id)?;
        if !matches!(
            run.state,
            RunState::Failed | RunState::Cancelled | RunState::Interrupted
        ) {
            bail!(
                "run {id} is {}; only a failed run's step can be repaired",
                run.state
            );
        }
        let origin = run
            .workflow_path
            .clone()
            .unwrap_or_else(|| "<workflow>".to_string());
        let parse = |text: &str| {
            crate::spec::parse_str(text, Path::new(&origin))
                .map_err(|d| anyhow!("run {id}: the repaired workflow is not valid:\n{d}"))
        };
        let old = parse(&run.source)?;
        let new = parse(&source)?;
        only_step_changed(&old, &new, step)?;
        self.shared
            .store
            .replace_source(id, &source, &RunPlan::of(&new))?;
        let mut journal = Journal::open(self.shared.clone(), id.clone())?;
        let held = version
            .map(|v| format!(", plan version {v}"))
            .unwrap_or_default();
        journal.event(EventKind::RunState {
            state: run.state,
            reason: Some(format!("step `{step}` repaired, approved by {who}{held}")),
        });
        journal.write_through()?;
        run.source = source;
        self.relaunch(run, retried)
    }
}

/// `new` is `old` with step `step` changed and nothing else.
pub fn only_step_changed(old: &Workflow, new: &Workflow, step: &StepId) -> anyhow::Result<()> {
    if !old.steps.iter().any(|s| &s.id == step) {
        bail!("the workflow has no step `{step}`");
    }
    let ids = |wf: &Workflow| wf.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    if ids(old) != ids(new) {
        bail!("a repair may change step `{step}` only, but it adds, removes or reorders steps");
    }
    let plain = |s: &Step| Step {
        pos: Default::default(),
        ..s.clone()
    };
    for (a, b) in old.steps.iter().zip(&new.steps) {
        if &a.id != step && plain(a) != plain(b) {
            bail!(
                "a repair may change step `{step}` only, but it changes `{}` too",
                a.id
            );
        }
    }
    Ok(())
}
