//! Ids, a leaf every module may use: a run's id and a step's id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A run's id: sortable by creation time, e.g. `r20261122-021739-k3f9`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

/// The letters of a run id's random tag: no `i`, `l`, `o`, `u`, `0` or `1`, which are easy to
/// misread when typed from a screen.
const TAG_ALPHABET: &[u8] = b"abcdefghjkmnpqrstvwxyz23456789";

impl RunId {
    /// A new run id: `prefix`, the date and time of `rfc3339` (`2026-11-22T02:17:39.123Z`) to
    /// the second, and a tag of `tag_len` letters, each drawn with `unit` (a number in [0, 1)):
    /// `r20261122-021739-k3f9`.
    pub fn stamped(
        prefix: char,
        rfc3339: &str,
        tag_len: usize,
        mut unit: impl FnMut() -> f64,
    ) -> RunId {
        let stamp: String = rfc3339
            .chars()
            .take(19)
            .filter(char::is_ascii_digit)
            .collect();
        let (date, time) = stamp.split_at(stamp.len().min(8));
        let tag: String = (0..tag_len)
            .map(|_| {
                let i = (unit() * TAG_ALPHABET.len() as f64) as usize % TAG_ALPHABET.len();
                TAG_ALPHABET[i] as char
            })
            .collect();
        RunId(format!("{prefix}{date}-{time}-{tag}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `run` or one of its child runs (a sub-workflow's, at any depth): child
    /// ids extend their parent's (`PARENT.STEP`).
    pub fn is_within(&self, run: &RunId) -> bool {
        self.0
            .strip_prefix(run.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A step's id, unique within its workflow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepId(pub String);

impl StepId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StepId {
    fn from(s: &str) -> Self {
        StepId(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::RunId;

    #[test]
    fn a_stamped_id_sorts_by_its_time_and_ends_in_its_tag() {
        let mut draws = [0.0, 0.5, 0.999, 0.1].into_iter();
        let id = RunId::stamped('r', "2026-11-22T02:17:39.123Z", 4, || {
            draws.next().unwrap_or(0.0)
        });
        assert_eq!(id.as_str(), "r20261122-021739-as9d");
        let later = RunId::stamped('r', "2026-11-22T02:17:40.001Z", 4, || 0.0);
        assert!(later > id);
    }

    #[test]
    fn a_run_holds_itself_and_its_children_only() {
        let run = RunId("r1-a".into());
        assert!(run.is_within(&run));
        assert!(RunId("r1-a.deploy".into()).is_within(&run));
        assert!(RunId("r1-a.deploy.inner".into()).is_within(&run));
        assert!(!RunId("r1-ab".into()).is_within(&run));
        assert!(!RunId("r1".into()).is_within(&run));
    }
}
