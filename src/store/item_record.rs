//! The record of one item of a fanned-out step (`for_each:`), kept inside its step's record:
//! each item has its own state, attempts and process group, its output is stored under
//! [`item_key`] and its log lines under the same key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records::{RemoteProcess, StepRecord, StepStatus, Timestamp};
use crate::spec::StepId;

/// One item of a fanned-out step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The item's value (`item` in the step's templates).
    pub value: Value,
    /// Current status.
    pub status: StepStatus,
    /// Attempt under way or last made (1-based; 0 before the first).
    #[serde(default)]
    pub attempt: u32,
    /// First attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Reached a terminal status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Exit code of the last attempt of a shell step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the next attempt starts, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// Process group of the running shell attempt, and when it was spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<(u32, Timestamp)>,
    /// Process group of the running attempt on another host (`on:`), so a later owner can
    /// stop it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteProcess>,
}

impl ItemRecord {
    /// An item that has not started.
    pub fn pending(value: Value) -> ItemRecord {
        ItemRecord {
            value,
            status: StepStatus::Pending,
            attempt: 0,
            started_at: None,
            finished_at: None,
            exit_code: None,
            error: None,
            retry_at: None,
            process: None,
            remote: None,
        }
    }

    /// How the item is named in lists: its value as text (a host name stays bare).
    pub fn label(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// The key of item `index` of `step`: its output and its log stream (`deploy[2]`).
pub fn item_key(step: &StepId, index: usize) -> StepId {
    StepId(format!("{step}[{index}]"))
}

/// The step and item index a key like `deploy[2]` names, if it names an item.
pub fn parse_item_key(key: &str) -> Option<(StepId, usize)> {
    let (step, rest) = key.strip_suffix(']')?.split_once('[')?;
    let index = rest.parse().ok()?;
    (!step.is_empty()).then(|| (StepId(step.to_string()), index))
}

impl StepRecord {
    /// The process groups this step's unfinished work left: its own and its items'.
    pub fn processes(&self) -> Vec<(u32, Timestamp)> {
        let items = self
            .items
            .iter()
            .filter(|i| !i.status.is_terminal())
            .filter_map(|i| i.process);
        self.process.into_iter().chain(items).collect()
    }

    /// The process groups this step's unfinished work left on other hosts: its own and its
    /// items'.
    pub fn remote_processes(&self) -> Vec<&RemoteProcess> {
        let items = self
            .items
            .iter()
            .filter(|i| !i.status.is_terminal())
            .filter_map(|i| i.remote.as_ref());
        self.remote.iter().chain(items).collect()
    }

    /// Ends the step, and its items that had not ended, as cancelled (the run is cancelled
    /// while no owner runs it); what they left running is no longer theirs to record.
    pub fn cancel_unfinished(&mut self, now: Timestamp) {
        self.status = StepStatus::Cancelled;
        self.finished_at = Some(now);
        self.process = None;
        self.remote = None;
        for item in self.items.iter_mut().filter(|i| !i.status.is_terminal()) {
            item.status = StepStatus::Cancelled;
            item.finished_at = Some(now);
            item.process = None;
            item.remote = None;
        }
    }

    /// Makes a finished fan-out step ready to run again with only its failed and cancelled
    /// items (the others keep their results); `false` if it has no items.
    pub fn reset_failed_items(&mut self) -> bool {
        if self.items.is_empty() {
            return false;
        }
        for item in &mut self.items {
            if matches!(item.status, StepStatus::Failed | StepStatus::Cancelled) {
                *item = ItemRecord::pending(std::mem::take(&mut item.value));
            }
        }
        self.status = StepStatus::Pending;
        self.error = None;
        self.exit_code = None;
        self.finished_at = None;
        self.skip_reason = None;
        self.retry_at = None;
        self.process = None;
        self.remote = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_key_reads_back_and_other_ids_are_not_items() {
        let key = item_key(&StepId::from("deploy"), 12);
        assert_eq!(key.as_str(), "deploy[12]");
        assert_eq!(parse_item_key("deploy[12]"), Some(("deploy".into(), 12)));
        assert_eq!(parse_item_key("deploy"), None);
        assert_eq!(parse_item_key("deploy[x]"), None);
        assert_eq!(parse_item_key("[1]"), None);
    }
}
