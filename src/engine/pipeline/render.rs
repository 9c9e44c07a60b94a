//! The render stage: a step's templates become what it will do ([`Prepared`]), its lock name
//! and its cache key, on a blocking thread when the workflow's templates can loop
//! ([`off_worker`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::StepJob;
use super::cache::{self, CacheKey};
use super::subflow::ChildCall;
use crate::engine::context::merge_env;
use crate::engine::shared::EngineShared;
use crate::spec::template::Templates;
use crate::spec::{
    AgentSpec, ApprovalSpec, HttpBody, HttpSpec, OnTimeout, RunSpec, Step, StepKind,
    SubWorkflowSpec, TransformSpec, Workflow,
};
use crate::steps::http::HttpRequest;
use crate::steps::shell::ShellCommand;
use crate::steps::{self, Failure, wait_cancelled};

/// What an executable step will do, rendered.
pub(crate) enum Action {
    Shell(ShellCommand),
    Http(HttpRequest),
    Value(Value),
    Sleep(Duration),
    Agent {
        spec: Box<AgentSpec>,
        prompt: String,
        /// The tools' environment: the workflow's and step's `env`, and `BATON_*`.
        env: IndexMap<String, String>,
    },
    /// A sub-workflow's run (`workflow:`).
    Workflow(super::subflow::ChildCall),
}

impl Action {
    /// The exact action an approver sees (and, with a shell step's env and cwd, what a derived
    /// cache key is made of).
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Shell(c) => match &c.on {
                Some(host) => format!("on {}: $ {}", host.name, c.command),
                None => format!("$ {}", c.command),
            },
            Action::Http(r) => match (&r.json, &r.text) {
                (Some(j), _) => format!("{} {}\n{}", r.method, r.url, j),
                (None, Some(t)) => format!("{} {}\n{}", r.method, r.url, t),
                _ => format!("{} {}", r.method, r.url),
            },
            Action::Value(v) => format!("value: {v}"),
            Action::Sleep(d) => format!("sleep {}", crate::time::format_duration(*d)),
            Action::Agent { spec, prompt, .. } => format!("agent {}: {prompt}", spec.agent),
            Action::Workflow(call) => {
                let params = serde_json::to_string(&call.params).unwrap_or_default();
                format!("workflow {} with params {params}", call.path.display())
            }
        }
    }
}

/// An `approval` step's question, rendered: the gate stage answers it, nothing executes.
pub(crate) struct Question {
    pub prompt: String,
    pub inputs: IndexMap<String, String>,
    pub timeout: Option<Duration>,
    pub on_timeout: OnTimeout,
}

/// A step, rendered.
pub(crate) enum Prepared {
    Action(Action),
    Approval(Question),
}

/// Everything a step renders before it runs.
pub(super) struct Rendered {
    pub prepared: Prepared,
    pub lock: Option<String>,
    /// Only for an executable step with `cache:`.
    pub cache_key: Option<CacheKey>,
}

/// What a step task hands to the blocking thread that renders its templates.
pub(super) struct RenderInput {
    pub engine: Arc<EngineShared>,
    pub workflow: Arc<Workflow>,
    pub idx: usize,
    pub ctx: Arc<Value>,
    pub run: crate::store::RunId,
    pub workdir: Option<PathBuf>,
}

impl RenderInput {
    fn of(job: &StepJob) -> RenderInput {
        RenderInput {
            engine: job.engine.clone(),
            workflow: job.workflow.clone(),
            idx: job.idx,
            ctx: item_context(&job.ctx, job.item.as_ref()),
            run: job.run.clone(),
            workdir: job.workdir.clone(),
        }
    }

    pub(super) fn step(&self) -> &Step {
        &self.workflow.steps[self.idx]
    }

    fn view(&self) -> StepView<'_> {
        StepView {
            templates: &self.engine.templates,
            workflow: &self.workflow,
            idx: self.idx,
            ctx: &self.ctx,
            run: self.run.as_str(),
            workdir: self.workdir.as_deref(),
            ssh: &self.engine.config.ssh,
            workflow_dirs: &self.engine.config.workflow_dirs,
        }
    }
}

/// What rendering a step needs, borrowed. No engine is among it, so that a dry run, which has
/// none (and no store), renders a step the very way a run does.
pub(crate) struct StepView<'a> {
    pub templates: &'a Templates,
    pub workflow: &'a Workflow,
    /// Step index.
    pub idx: usize,
    /// The template context (an item's, for an item of a fan-out).
    pub ctx: &'a Value,
    /// The run's id (`BATON_RUN_ID`).
    pub run: &'a str,
    /// The run's working directory.
    pub workdir: Option<&'a Path>,
    /// Hosts of `on:` steps.
    pub ssh: &'a crate::remote::Ssh,
    /// Where a `workflow:` step's bare name is looked up.
    pub workflow_dirs: &'a [PathBuf],
}

impl StepView<'_> {
    fn step(&self) -> &Step {
        &self.workflow.steps[self.idx]
    }
}

/// The context an item of a fan-out renders with: the step's, plus `item` and `item_index`
/// (every field of the step sees them, `on:` included).
pub fn item_context(ctx: &Arc<Value>, item: Option<&(usize, Value)>) -> Arc<Value> {
    let (Some((index, value)), Value::Object(map)) = (item, ctx.as_ref()) else {
        return ctx.clone();
    };
    let mut map = map.clone();
    map.insert("item".into(), value.clone());
    map.insert("item_index".into(), Value::from(*index));
    Arc::new(Value::Object(map))
}

/// Renders the step (see [`off_worker`] for where).
pub(super) async fn render(job: &StepJob) -> Result<Rendered, Failure> {
    let input = RenderInput::of(job);
    off_worker(job, "its templates", move || render_step(&input)).await
}

fn render_step(job: &RenderInput) -> Result<Rendered, String> {
    let step = job.step();
    let prepared = prepare(&job.view())?;
    let lock = match &step.lock {
        Some(name) => Some(
            job.engine
                .templates
                .render(name, &job.ctx)
                .map_err(|e| format!("lock: {e}"))?,
        ),
        None => None,
    };
    let cache_key = match (&step.cache, &prepared) {
        (Some(spec), Prepared::Action(action)) => Some(cache::key(job, spec, action)?),
        _ => None,
    };
    Ok(Rendered {
        prepared,
        lock,
        cache_key,
    })
}

/// Renders the step's `outputs:` against `ctx` (see `context::outputs_context`).
pub(crate) fn render_outputs(
    t: &Templates,
    step: &Step,
    ctx: &Value,
) -> Result<IndexMap<String, Value>, String> {
    let mut outputs = IndexMap::with_capacity(step.outputs.len());
    for (name, tpl) in &step.outputs {
        let text = t
            .render(tpl, ctx)
            .map_err(|e| format!("outputs.{name}: {e}"))?;
        outputs.insert(name.clone(), steps::output_value(&text));
    }
    Ok(outputs)
}

/// Runs `render` on a blocking thread, so a slow template never holds an async worker; cancel
/// and the step's `timeout:` end the wait at once (the thread itself stops when the template's
/// fuel runs out). A workflow without template statements renders in place (see
/// [`StepJob::templates_may_loop`]).
pub(super) async fn off_worker<T: Send + 'static>(
    job: &StepJob,
    what: &str,
    render: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Failure> {
    if !job.templates_may_loop {
        return render().map_err(Failure::fatal);
    }
    let task = tokio::task::spawn_blocking(render);
    let mut control = job.control.clone();
    let timeout = job.workflow.effective_timeout(job.step());
    let deadline = async {
        match timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = task => match r {
            Ok(r) => r.map_err(Failure::fatal),
            Err(e) => Err(Failure::fatal(format!("rendering {what} stopped: {e}"))),
        },
        _ = wait_cancelled(&mut control) => Err(Failure::cancelled()),
        _ = deadline => Err(Failure {
            error: format!(
                "timed out after {} while rendering {what}",
                crate::time::format_duration(timeout.unwrap_or_default())
            ),
            timed_out: true,
            ..Failure::default()
        }),
    }
}

/// One arm per step kind.
pub(crate) fn prepare(job: &StepView<'_>) -> Result<Prepared, String> {
    let t = job.templates;
    let ctx = job.ctx;
    let action = match &job.step().kind {
        StepKind::Run(spec) => Action::Shell(shell(job, spec)?),
        StepKind::Http(spec) => Action::Http(http(t, spec, ctx)?),
        StepKind::Transform(spec) => Action::Value(transform(t, spec, ctx)?),
        StepKind::Sleep(d) => Action::Sleep(d.get()),
        StepKind::Approval(spec) => return Ok(Prepared::Approval(question(t, spec, ctx)?)),
        StepKind::Agent(spec) => Action::Agent {
            spec: spec.clone(),
            prompt: t
                .render(&spec.prompt, ctx)
                .map_err(|e| format!("prompt: {e}"))?,
            env: step_env(job)?,
        },
        StepKind::Workflow(spec) => Action::Workflow(child_call(job, spec)?),
    };
    Ok(Prepared::Action(action))
}

fn shell(job: &StepView<'_>, spec: &RunSpec) -> Result<ShellCommand, String> {
    let t = job.templates;
    let ctx = job.ctx;
    let command = t
        .render_command(&spec.command, ctx)
        .map_err(|e| format!("run: {e}"))?;
    let env = step_env(job)?;
    let cwd = match &spec.cwd {
        Some(c) => Some(t.render(c, ctx).map_err(|e| format!("cwd: {e}"))?),
        None => None,
    };
    let shell = spec.shell.clone().unwrap_or_else(|| "sh".to_string());
    if let Some(on) = &spec.on {
        // Rendered with the step's own context, so `on: "{{ item }}"` names one host per item.
        let name = t.render(on, ctx).map_err(|e| format!("on: {e}"))?;
        let name = name.trim();
        let wf = job.workflow;
        let host = super::host::resolve(t, ctx, &wf.hosts, job.ssh, name)?;
        let cmd = ShellCommand {
            command,
            shell,
            cwd: None,
            env,
            on: None,
        };
        return Ok(super::host::onto(cmd, cwd, host));
    }
    let cwd = match cwd.map(PathBuf::from) {
        Some(p) => Some(match (job.workdir, p.is_absolute()) {
            (Some(base), false) => base.join(p),
            _ => p,
        }),
        None => job.workdir.map(Path::to_path_buf),
    };
    Ok(ShellCommand {
        command,
        shell,
        cwd,
        env,
        on: None,
    })
}

/// The file a `workflow:` step calls (relative to the calling file, or by name in the workflows
/// folders) and the params it passes, rendered.
fn child_call(job: &StepView<'_>, spec: &SubWorkflowSpec) -> Result<ChildCall, String> {
    let t = job.templates;
    let target = t
        .render(&spec.path, job.ctx)
        .map_err(|e| format!("workflow.path: {e}"))?;
    // The calling file's directory; a relative one is under the run's working directory.
    let base = job
        .workflow
        .source
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(|dir| match job.workdir {
            Some(workdir) if dir.is_relative() => workdir.join(dir),
            _ => dir.to_path_buf(),
        });
    let path = crate::spec::calls::resolve_call(&target, base.as_deref(), job.workflow_dirs)?;
    let mut params = IndexMap::with_capacity(spec.params.len());
    for (name, value) in &spec.params {
        let value = t
            .render_value(value, job.ctx)
            .map_err(|e| format!("workflow.params.{name}: {e}"))?;
        params.insert(name.clone(), value);
    }
    Ok(ChildCall { path, params })
}

/// A step's process environment: the workflow's `env`, the step's over it, and `BATON_*`.
fn step_env(job: &StepView<'_>) -> Result<IndexMap<String, String>, String> {
    let t = job.templates;
    let (step, ctx) = (job.step(), job.ctx);
    let wf_env = render_map(t, &job.workflow.env, ctx, "env")?;
    let step_env = render_map(t, &step.env, ctx, "env")?;
    let mut env = merge_env(&wf_env, &step_env);
    env.insert("BATON_RUN_ID".into(), job.run.to_string());
    env.insert("BATON_STEP_ID".into(), step.id.0.clone());
    Ok(env)
}

fn http(t: &Templates, spec: &HttpSpec, ctx: &Value) -> Result<HttpRequest, String> {
    let url = t.render(&spec.url, ctx).map_err(|e| format!("url: {e}"))?;
    let headers = render_map(t, &spec.headers, ctx, "headers")?;
    let body = |e| format!("body: {e}");
    let (json, text) = match &spec.body {
        Some(HttpBody::Json(v)) => (Some(t.render_value(v, ctx).map_err(body)?), None),
        Some(HttpBody::Text(s)) => (None, Some(t.render(s, ctx).map_err(body)?)),
        None => (None, None),
    };
    Ok(HttpRequest {
        method: spec.method.clone(),
        url,
        headers,
        json,
        text,
        expect: spec.expect.clone(),
    })
}

fn transform(t: &Templates, spec: &TransformSpec, ctx: &Value) -> Result<Value, String> {
    let err = |e| format!("transform: {e}");
    match spec {
        TransformSpec::Template(tpl) => Ok(steps::output_value(&t.render(tpl, ctx).map_err(err)?)),
        TransformSpec::Expr(e) => t.eval_expr(e, ctx).map_err(err),
        TransformSpec::Value(v) => t.render_value(v, ctx).map_err(err),
    }
}

fn question(t: &Templates, spec: &ApprovalSpec, ctx: &Value) -> Result<Question, String> {
    let prompt = t
        .render(&spec.prompt, ctx)
        .map_err(|e| format!("approval.prompt: {e}"))?;
    let mut inputs = IndexMap::new();
    for (name, input) in &spec.inputs {
        let value = match &input.default {
            Some(d) => t
                .render(d, ctx)
                .map_err(|e| format!("inputs.{name}: {e}"))?,
            None => String::new(),
        };
        inputs.insert(name.clone(), value);
    }
    Ok(Question {
        prompt,
        inputs,
        timeout: spec.timeout.map(|d| d.get()),
        on_timeout: spec.on_timeout,
    })
}

fn render_map(
    t: &Templates,
    map: &IndexMap<String, String>,
    ctx: &Value,
    what: &str,
) -> Result<IndexMap<String, String>, String> {
    map.iter()
        .map(|(k, v)| {
            t.render(v, ctx)
                .map(|r| (k.clone(), r))
                .map_err(|e| format!("{what}.{k}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::rig::Rig;
    use super::*;
    use crate::steps::Directive;

    async fn rendered(rig: &Rig, yaml: &str, step: &str) -> Result<Rendered, Failure> {
        render(&rig.job(yaml, step)).await
    }

    #[tokio::test]
    async fn a_relative_cwd_is_under_the_runs_directory_and_the_run_is_named_in_env() {
        let rig = Rig::new();
        let yaml = "name: w\nenv: { A: a }\nsteps:\n  - id: s\n    run: echo $A\n    cwd: sub\n    env: { B: \"{{ env.A }}b\" }\n";
        let Ok(Rendered {
            prepared: Prepared::Action(Action::Shell(c)),
            ..
        }) = rendered(&rig, yaml, "s").await
        else {
            panic!("a shell step renders to a shell command");
        };
        assert_eq!(c.cwd, Some(rig.dir.path().join("sub")));
        assert_eq!((c.env["A"].as_str(), c.env["B"].as_str()), ("a", "ab"));
        assert_eq!(
            (
                c.env["BATON_RUN_ID"].as_str(),
                c.env["BATON_STEP_ID"].as_str()
            ),
            ("r1", "s")
        );
    }

    #[tokio::test]
    async fn a_cancel_ends_a_render_on_the_blocking_thread() {
        let rig = Rig::new();
        let mut job = rig.job("name: w\nsteps:\n  - id: s\n    run: 'true'\n", "s");
        job.templates_may_loop = true;
        let (release, held) = std::sync::mpsc::channel::<()>();
        let cancel = rig.cancel_when_logged("rendering");
        let log = job.log.clone();
        let slow = off_worker(&job, "a slow template", move || {
            log(crate::store::LogStream::System, "rendering");
            let _ = held.recv();
            Ok(())
        });
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), slow)
            .await
            .expect("the cancel ended the wait");
        cancel.await.unwrap();
        assert!(out.unwrap_err().cancelled);
        assert_eq!(*rig.control.borrow(), Directive::Cancelled);
        drop(release);
    }
}
