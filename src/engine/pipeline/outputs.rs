//! The outputs stage: a successful attempt becomes the step's recorded output — secrets
//! masked, `outputs:` rendered, offered to the cache — and a failure has its secrets masked.

use indexmap::IndexMap;

use super::cache::{self, CacheKey};
use super::render::{off_worker, render_outputs};
use super::{Outcome, StepJob};
use crate::engine::context::{outputs_context, redact_output};
use crate::secrets::Redactor;
use crate::steps::{Failure, Success};
use crate::store::StepOutput;

/// The step's outcome from its successful attempt.
pub(super) async fn succeeded(
    job: &StepJob,
    success: Success,
    cache_key: Option<CacheKey>,
) -> Result<Outcome, Failure> {
    let mut output = StepOutput {
        output: success.output,
        stdout: success.stdout,
        stderr: success.stderr,
        outputs: IndexMap::new(),
    };
    // Masked before `outputs:` see it: a transform (`| upper`, `| b64encode`) of a secret
    // would no longer look like the secret.
    redact_output(&job.redactor, &mut output);
    if !job.step().outputs.is_empty() {
        let ctx = outputs_context(
            &super::render::item_context(&job.ctx, job.item.as_ref()),
            &output.output,
            &output.stdout,
            &output.stderr,
            success.exit_code,
        );
        let (engine, workflow, idx) = (job.engine.clone(), job.workflow.clone(), job.idx);
        output.outputs = off_worker(job, "`outputs:`", move || {
            render_outputs(&engine.templates, &workflow.steps[idx], &ctx)
        })
        .await?;
        redact_output(&job.redactor, &mut output);
    }
    if let Some(key) = cache_key {
        cache::offer(job, key, &output, job.engine.config.clock.now().wall);
    }
    Ok(Outcome::Succeeded {
        output,
        exit_code: success.exit_code,
        cached: false,
        metrics: success.metrics,
    })
}

/// A failure with the run's secrets masked in everything it says.
pub(super) fn failed(redactor: &Redactor, mut f: Failure) -> Outcome {
    f.stdout = redactor.redact(&f.stdout).into_owned();
    f.stderr = redactor.redact(&f.stderr).into_owned();
    f.error = redactor.redact(&f.error).into_owned();
    Outcome::Failed(f)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::StepMsg;
    use super::super::rig::{Rig, succeeded};
    use super::*;

    const SECRET: &str = "hunter2-hunter2";

    #[tokio::test]
    async fn secrets_are_masked_before_outputs_see_them() {
        let mut rig = Rig::with_secrets(&[SECRET]);
        let yaml = r#"
name: w
steps:
  - id: s
    run: 'true'
    cache: true
    outputs: { loud: "{{ stdout | upper }}" }
"#;
        let job = rig.job(yaml, "s");
        let success = Success {
            output: json!(format!("token {SECRET}")),
            stdout: format!("token {SECRET}"),
            ..Success::default()
        };
        let key = CacheKey {
            key: "w/s/k".into(),
            ttl: None,
        };
        let (output, _) = succeeded(succeeded_outcome(&job, success, key).await);
        let everything = serde_json::to_string(&output).unwrap();
        assert!(
            !everything.to_lowercase().contains("hunter2"),
            "{everything}"
        );
        assert!(
            output.outputs["loud"]
                .as_str()
                .unwrap()
                .starts_with("TOKEN ")
        );
        // What is offered to the cache is what is recorded, outputs included.
        let Some(StepMsg::Cache(put)) = rig.rx.recv().await else {
            panic!("the output is offered to the cache");
        };
        assert_eq!(put.entry.output, output);
    }

    async fn succeeded_outcome(job: &StepJob, s: Success, key: CacheKey) -> Outcome {
        match super::succeeded(job, s, Some(key)).await {
            Ok(o) => o,
            Err(f) => Outcome::Failed(f),
        }
    }

    #[test]
    fn a_failure_says_nothing_of_the_secrets() {
        let r = Redactor::new([SECRET.to_string()]);
        let f = Failure {
            error: format!("bad {SECRET}"),
            stdout: format!("out {SECRET}"),
            stderr: format!("err {SECRET}"),
            exit_code: Some(1),
            ..Failure::default()
        };
        let Outcome::Failed(f) = failed(&r, f) else {
            panic!()
        };
        for text in [&f.error, &f.stdout, &f.stderr] {
            assert!(!text.contains(SECRET), "{text}");
        }
        assert_eq!(f.exit_code, Some(1));
    }
}
