//! Step executors, one file per kind. The engine's pipeline (`engine/pipeline/`) decides when a
//! step runs, retries and records it; an executor only performs one attempt.

pub mod agent;
mod agent_clock;
mod agent_tools;
pub mod clock;
mod directive;
pub mod http;
pub mod remote;
pub mod shell;
pub mod sleep;
mod spawn;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::store::{LogStream, StepMetrics};

pub use clock::PausableDeadline;
pub use directive::{Directive, wait_cancelled};

/// Where an executor writes its log lines (the engine stores, redacts and broadcasts them).
pub type LogSink = Arc<dyn Fn(LogStream, &str) + Send + Sync>;

/// What one attempt gets besides its spec.
#[derive(Clone)]
pub struct Attempt {
    /// Log lines go here.
    pub log: LogSink,
    /// Pause/resume/cancel.
    pub control: watch::Receiver<Directive>,
    /// Time limit of this attempt (paused time does not count).
    pub timeout: Option<Duration>,
    /// How long a cancelled process group gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Longest log line kept; the rest of a longer one is read and counted, never held.
    pub max_line: usize,
    /// Registry of live process groups.
    pub groups: Arc<shell::ProcessGroups>,
    /// Told the pid (= process group) of a spawned shell attempt.
    pub spawned: Arc<dyn Fn(u32) + Send + Sync>,
}

/// A successful attempt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Success {
    /// The step's output: parsed JSON when it is JSON, else text.
    pub output: Value,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Exit code (shell steps).
    pub exit_code: Option<i32>,
    /// LLM figures.
    pub metrics: StepMetrics,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failure {
    /// For people: what went wrong.
    pub error: String,
    /// Exit code (shell steps).
    pub exit_code: Option<i32>,
    /// The time limit ran out.
    pub timed_out: bool,
    /// Stopped by a cancel.
    pub cancelled: bool,
    /// A retry could help (false for bad input, e.g. a template error).
    pub retryable: bool,
    /// Captured stdout so far.
    pub stdout: String,
    /// Captured stderr so far.
    pub stderr: String,
}

impl Failure {
    /// A failure a retry could fix.
    pub fn retryable(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retryable: true,
            ..Failure::default()
        }
    }

    /// A failure a retry cannot fix.
    pub fn fatal(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retryable: false,
            ..Failure::default()
        }
    }

    /// The attempt was cancelled.
    pub fn cancelled() -> Failure {
        Failure {
            error: "cancelled".into(),
            cancelled: true,
            ..Failure::default()
        }
    }
}

/// The outcome of one attempt.
pub type AttemptResult = Result<Success, Failure>;

/// Parses text as JSON when it is a JSON object, array, number, bool or null; else keeps the text.
pub fn output_value(text: &str) -> Value {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Value::String(String::new());
    }
    match trimmed.as_bytes()[0] {
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
            serde_json::from_str(trimmed).unwrap_or_else(|_| Value::String(trimmed.to_string()))
        }
        _ => Value::String(trimmed.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_json_only_when_the_whole_text_is_json() {
        assert_eq!(output_value("{\"a\": 1}\n"), serde_json::json!({"a": 1}));
        assert_eq!(output_value("42"), serde_json::json!(42));
        assert_eq!(output_value("hello\n"), serde_json::json!("hello"));
        assert_eq!(output_value("{not json"), serde_json::json!("{not json"));
        assert_eq!(output_value("null"), Value::Null);
    }
}
