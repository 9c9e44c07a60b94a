//! `on_failure: { repair: true }`: when the run is about to end failed, the engine's
//! [`crate::engine::repair::Repairer`] drafts a fix of the first failed step and stores it as a
//! plan version for a person to apply; the step's log says which, or why there is none.

use crate::store::StepStatus;

use super::RunDriver;

/// How long a failed run of an `on_failure: { repair: true }` workflow waits for its repair
/// proposal before it ends without one (it answers no command meanwhile).
const REPAIR_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

impl RunDriver {
    /// `on_failure: { repair: true }`: a fix of the first failed step is drafted and stored as
    /// a plan version for a person to approve (`baton repair RUN STEP`); that step's log says
    /// which, or why there is none. The run ends failed either way.
    pub(super) async fn propose_repair(&mut self) {
        let Some(idx) = (0..self.wf.steps.len()).find(|&i| {
            let step = &self.wf.steps[i];
            step.handler.is_none()
                && !step.continue_on_error
                && self.machine.records()[i].status == StepStatus::Failed
        }) else {
            return;
        };
        let (id, step) = (self.run.id.clone(), self.wf.steps[idx].id.clone());
        let Some(repairer) = self.engine.config.repairer.clone() else {
            self.system_log(
                idx,
                &format!(
                    "no repair proposed (on_failure: repair: true): this engine has no \
                     planner; `baton repair {id} {step}` asks a model"
                ),
            );
            return;
        };
        self.system_log(
            idx,
            "drafting a repair proposal (on_failure: repair: true)…",
        );
        self.commit();
        let asked = repairer.propose(&self.engine.store, &id, &step);
        let said = match tokio::time::timeout(REPAIR_PATIENCE, asked).await {
            Ok(Ok(version)) => format!(
                "repair proposed as plan version {version}: `baton repair {id} {step}` shows \
                 it, with `--approve` it is applied and the run continues"
            ),
            Ok(Err(why)) => format!("no repair proposed: {why}"),
            Err(_) => format!(
                "no repair proposed: the model did not answer within {}s; `baton repair {id} \
                 {step}` asks again",
                REPAIR_PATIENCE.as_secs()
            ),
        };
        self.system_log(idx, &said);
    }
}
