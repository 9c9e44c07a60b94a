//! A run's workflow replaced by an approved repair: its source and plan, in one transaction,
//! so a resume after a crash runs the repaired definition.

use sled::Transactional;

use super::{RunId, RunPlan, Store, encode};

impl Store {
    /// Replaces the stored workflow source and plan of `run`.
    pub fn replace_source(&self, run: &RunId, source: &str, plan: &RunPlan) -> anyhow::Result<()> {
        let key = run.0.as_bytes();
        let plan = encode(plan)?;
        (&self.sources, &self.plans)
            .transaction(|(sources, plans)| {
                sources.insert(key, source.as_bytes())?;
                plans.insert(key, plan.as_slice())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("cannot store the repaired workflow of run {run}: {e:?}"))
    }
}
