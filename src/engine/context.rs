//! The template context of a run, and the secret masking of a step's output.
//!
//! Templates see `params`, `env`, `secrets`, `run` and `steps.<id>.{output, status, exit_code, stdout,
//! stderr, duration_ms, attempts, outputs}` (see docs/workflow-language.md).

use std::collections::HashSet;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::secrets::RunSecrets;
use crate::secrets::Redactor;
use crate::spec::Workflow;
use crate::store::{RunRecord, StepOutput, StepRecord};

/// The context as a JSON object, built incrementally as steps finish.
///
/// A step is handed only the results its templates read (`Step::reads`, found at validation), so
/// the cost of preparing a step does not grow with the size of the run.
#[derive(Debug, Clone)]
pub struct RunContext {
    root: Map<String, Value>,
    steps: Map<String, Value>,
    /// The steps some template reads (`None`: any may be read); only these are kept.
    wanted: Option<HashSet<String>>,
    /// The context of a step that reads no step's results, shared by all such steps.
    bare: Arc<Value>,
}

impl RunContext {
    /// The context before any step ran.
    pub fn new(wf: &Workflow, run: &RunRecord, secrets: &RunSecrets) -> RunContext {
        let mut root = Map::new();
        // Only what the workflow declared (`secrets:`, `env_file:`), never the process's
        // environment; this context is never stored or shown.
        root.insert(
            "secrets".into(),
            Value::Object(
                secrets
                    .0
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        );
        root.insert(
            "params".into(),
            Value::Object(run.params.clone().into_iter().collect()),
        );
        root.insert(
            "env".into(),
            Value::Object(
                wf.env
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        );
        root.insert(
            "run".into(),
            json!({
                "id": run.id.0,
                "workflow": run.workflow,
                "started_at": run.started_at.unwrap_or(run.created_at).rfc3339(),
            }),
        );
        let wanted = wf.steps.iter().try_fold(HashSet::new(), |mut all, s| {
            all.extend(s.reads.as_ref()?.iter().cloned());
            Some(all)
        });
        let mut bare = root.clone();
        bare.insert("steps".into(), Value::Object(Map::new()));
        RunContext {
            root,
            steps: Map::new(),
            wanted,
            bare: Arc::new(Value::Object(bare)),
        }
    }

    /// Records what a step left behind (its record and, if it ran, its output).
    pub fn set_step(&mut self, record: &StepRecord, output: Option<&StepOutput>) {
        if let Some(wanted) = &self.wanted
            && !wanted.contains(&record.step.0)
        {
            return;
        }
        self.steps
            .insert(record.step.0.clone(), step_entry(record, output));
    }

    /// Adds how the run's steps ended to `run` (`status`, `failed_steps`, `error`), for the
    /// handlers that run after them.
    pub fn set_outcome(&mut self, status: &str, failed_steps: &[String], error: Option<&str>) {
        let fields = [
            ("status", json!(status)),
            ("failed_steps", json!(failed_steps)),
            ("error", json!(error)),
        ];
        if let Some(Value::Object(run)) = self.root.get_mut("run") {
            for (k, v) in fields {
                run.insert(k.to_string(), v);
            }
        }
        let mut bare = self.root.clone();
        bare.insert("steps".into(), Value::Object(Map::new()));
        self.bare = Arc::new(Value::Object(bare));
    }

    /// A snapshot for rendering that shows the `only` steps (every step when `None`).
    pub fn value(&self, only: Option<&[String]>) -> Arc<Value> {
        if only.is_some_and(|ids| ids.is_empty()) {
            return self.bare.clone();
        }
        let mut root = self.root.clone();
        let steps = match only {
            None => self.steps.clone(),
            Some(ids) => ids
                .iter()
                .filter_map(|id| self.steps.get(id).map(|v| (id.clone(), v.clone())))
                .collect(),
        };
        root.insert("steps".into(), Value::Object(steps));
        Arc::new(Value::Object(root))
    }
}

/// What templates see of an ended step as `steps.<id>`.
pub fn step_entry(record: &StepRecord, output: Option<&StepOutput>) -> Value {
    json!({
        "status": record.status.as_str(),
        "exit_code": record.exit_code,
        "duration_ms": record.duration_ms,
        "attempts": record.attempt,
        "output": output.map(|o| o.output.clone()).unwrap_or(Value::Null),
        "stdout": output.map(|o| o.stdout.clone()).unwrap_or_default(),
        "stderr": output.map(|o| o.stderr.clone()).unwrap_or_default(),
        "outputs": output
            .map(|o| Value::Object(o.outputs.clone().into_iter().collect()))
            .unwrap_or_else(|| Value::Object(Map::new())),
    })
}

/// The context `outputs:` templates see: the run's context plus the step's own result.
pub fn outputs_context(
    base: &Value,
    output: &Value,
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
) -> Value {
    let mut v = base.clone();
    if let Value::Object(map) = &mut v {
        map.insert("output".into(), output.clone());
        map.insert("stdout".into(), Value::String(stdout.to_string()));
        map.insert("stderr".into(), Value::String(stderr.to_string()));
        map.insert("exit_code".into(), json!(exit_code));
    }
    v
}

/// Masks the run's secrets in a step's output in place (strings inside JSON too).
pub fn redact_output(r: &Redactor, output: &mut StepOutput) {
    output.stdout = r.redact(&output.stdout).into_owned();
    output.stderr = r.redact(&output.stderr).into_owned();
    redact_value(r, &mut output.output);
    for v in output.outputs.values_mut() {
        redact_value(r, v);
    }
}

/// Masks the secrets in every string of `v`.
pub fn redact_value(r: &Redactor, v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(o) = r.redact(s) {
                *s = o;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(r, i)),
        Value::Object(map) => map.values_mut().for_each(|i| redact_value(r, i)),
        _ => {}
    }
}

/// Environment for a step: the workflow's, then the step's (values already rendered).
pub fn merge_env(
    workflow: &IndexMap<String, String>,
    step: &IndexMap<String, String>,
) -> IndexMap<String, String> {
    let mut env = workflow.clone();
    for (k, v) in step {
        env.insert(k.clone(), v.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_secret_everywhere() {
        let r = Redactor::new(["sk-secret-123".to_string(), "abc".to_string()]);
        let mut out = StepOutput {
            output: json!({"k": ["sk-secret-123"]}),
            stdout: "sk-secret-123\n".into(),
            ..StepOutput::default()
        };
        redact_output(&r, &mut out);
        assert_eq!(out.output, json!({"k": ["***"]}));
        assert_eq!(out.stdout, "***\n");
    }
}
