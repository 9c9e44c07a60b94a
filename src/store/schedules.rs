//! When each scheduled workflow last fired, kept so that `baton serve` catches up on the fires
//! it missed while it was down (`catchup:`), and only those.

use anyhow::Context;

use super::Store;
use crate::store::Timestamp;

impl Store {
    fn schedule_marks(&self) -> anyhow::Result<sled::Tree> {
        self.db
            .open_tree("schedules")
            .with_context(|| format!("cannot open the schedules in {}", self.dir.display()))
    }

    /// The last fire time considered (run or skipped) for the workflow named `workflow`.
    pub fn schedule_mark(&self, workflow: &str) -> anyhow::Result<Option<Timestamp>> {
        let Some(bytes) = self.schedule_marks()?.get(workflow.as_bytes())? else {
            return Ok(None);
        };
        let ms: [u8; 8] = bytes.as_ref().try_into().with_context(|| {
            format!("the stored last fire time of workflow `{workflow}` is unreadable")
        })?;
        Ok(Some(Timestamp(u64::from_be_bytes(ms))))
    }

    /// Records that the workflow's fires up to `at` are dealt with, durably.
    pub async fn set_schedule_mark(&self, workflow: &str, at: Timestamp) -> anyhow::Result<()> {
        self.schedule_marks()?
            .insert(workflow.as_bytes(), &at.0.to_be_bytes())?;
        self.flush().await
    }
}
