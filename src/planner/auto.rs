//! Repair proposals nobody asked for: when a run of a workflow with `on_failure: { repair:
//! true }` fails, the engine asks this for a fix of the failed step, which is drafted as `baton
//! repair` drafts one and stored as a `proposal` plan version. Nothing is applied: a person
//! reads it and applies it with `baton repair RUN STEP --approve` (or `F` in the console).

use std::future::Future;
use std::pin::Pin;

use super::repair::{Failure, propose};
use super::versions::{NewVersion, PlanBook, VersionKind, proposal_request};
use super::{DEFAULT_ROUNDS, Planner};
use crate::config::{ConfigFile, Paths};
use crate::engine::repair::Repairer;
use crate::spec::StepId;
use crate::store::{RunId, Store};

/// Proposes repairs for the engine with this machine's planner and plan book, both made when
/// a run needs a proposal (most runs never do, and opening an engine stays cheap).
pub struct AutoRepair {
    /// Where the config, the agent profiles and the plan book live.
    pub paths: Paths,
    /// The config file (providers, MCP servers).
    pub config: ConfigFile,
}

impl std::fmt::Debug for AutoRepair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoRepair").finish_non_exhaustive()
    }
}

impl Repairer for AutoRepair {
    fn propose<'a>(
        &'a self,
        store: &'a Store,
        run: &'a RunId,
        step: &'a StepId,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        Box::pin(async move {
            let failure = Failure::read(store, run, step.clone()).map_err(|e| format!("{e:#}"))?;
            let planner =
                Planner::for_machine(&self.paths, &self.config).map_err(|e| format!("{e:#}"))?;
            let book = PlanBook::open(&self.paths.data).map_err(|e| format!("{e:#}"))?;
            let draft = propose(&planner, &failure, DEFAULT_ROUNDS, &mut |_| {})
                .await
                .map_err(|e| format!("no model answered: {e}"))?;
            if !draft.is_valid() {
                let first = draft.problems.first().map(|d| d.to_string());
                return Err(format!(
                    "the model's fix was still invalid after {} call(s){}",
                    draft.calls,
                    first.map(|p| format!(": {p}")).unwrap_or_default()
                ));
            }
            let parent = book
                .of_source(&failure.source)
                .map_err(|e| format!("{e:#}"))?
                .map(|v| v.id);
            let version = book
                .record(NewVersion {
                    kind: VersionKind::Proposal,
                    parent,
                    request: proposal_request(&run.0, step.as_str()),
                    provider: Some(draft.provider),
                    model: Some(draft.model),
                    yaml: draft.yaml,
                    problems: Vec::new(),
                    run: Some(run.0.clone()),
                })
                .map_err(|e| format!("{e:#}"))?;
            Ok(version.id)
        })
    }
}
