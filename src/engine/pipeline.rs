//! One step's way through the engine: render → gate (`approve:` or a post-crash re-run check)
//! → cache → rate limit → lock → attempts with retry and timeout. The run actor records what
//! this reports; this never writes to the store itself except through the log sink.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::context::{merge_env, outputs_context, redact_output};
use super::policy::{Jitter, backoff_delay, may_retry};
use super::shared::EngineShared;
use crate::spec::template::Templates;
use crate::spec::{HttpBody, OnTimeout, Step, StepKind, TransformSpec, Workflow};
use crate::steps::http::HttpRequest;
use crate::steps::shell::ShellCommand;
use crate::steps::{self, Attempt, Control, Failure, LogSink, Success};
use crate::store::{Decision, LogStream, StepOutput, Timestamp};

/// What a step task tells its run actor.
pub enum StepMsg {
    /// Attempt `n` started.
    Attempt {
        /// Step index.
        idx: usize,
        /// Attempt number (1-based).
        n: u32,
    },
    /// Attempt `n` failed; the next starts at `at`.
    Retrying {
        /// Step index.
        idx: usize,
        /// The attempt that failed.
        n: u32,
        /// When the next starts.
        at: Timestamp,
        /// Why it failed.
        error: String,
        /// Its exit code.
        exit_code: Option<i32>,
    },
    /// A shell attempt's process group started.
    Spawned {
        /// Step index.
        idx: usize,
        /// Its pid (= process group id).
        pid: u32,
    },
    /// The step waits for an operator.
    Gate(Box<GateRequest>),
    /// The step is over.
    Done {
        /// Step index.
        idx: usize,
        /// How it ended.
        outcome: Box<Outcome>,
    },
}

/// A gate the actor must open and answer.
pub struct GateRequest {
    /// Step index.
    pub idx: usize,
    /// The question.
    pub prompt: String,
    /// Exactly what will run, for `approve:` gates.
    pub action: Option<String>,
    /// Editable inputs and their initial values.
    pub inputs: IndexMap<String, String>,
    /// How long to wait.
    pub timeout: Option<Duration>,
    /// What a timeout means.
    pub on_timeout: OnTimeout,
    /// Where the decision goes.
    pub reply: oneshot::Sender<Decision>,
}

/// How a step ended.
pub enum Outcome {
    /// It produced an output.
    Succeeded {
        /// The output, redacted.
        output: StepOutput,
        /// Exit code (shell).
        exit_code: Option<i32>,
        /// Came from the cache.
        cached: bool,
        /// LLM figures.
        metrics: crate::store::StepMetrics,
    },
    /// It failed, or was cancelled.
    Failed(Failure),
}

/// Everything a step task needs.
pub struct StepJob {
    /// The run it belongs to.
    pub run: crate::store::RunId,
    /// Step index in the workflow.
    pub idx: usize,
    /// The workflow.
    pub workflow: Arc<Workflow>,
    /// The template context at the time the step became ready.
    pub ctx: Arc<Value>,
    /// The run's working directory.
    pub workdir: Option<PathBuf>,
    /// Ask the operator before running (a non-idempotent step found running after a crash).
    pub recovery_gate: bool,
    /// Where to report.
    pub tx: mpsc::UnboundedSender<StepMsg>,
    /// Pause/resume/cancel.
    pub control: watch::Receiver<Control>,
    /// Where log lines go.
    pub log: LogSink,
    /// The run's secrets, masked in everything this reports.
    pub redactor: Arc<crate::secrets::Redactor>,
    /// The workflow's templates have statements (`{% … %}`), which can loop: they render on a
    /// blocking thread. Without statements a template's work is bounded by its length (and its
    /// fuel), so it renders in place: a blocking thread per step cost a 5,000-wide fan-out 3×.
    pub templates_may_loop: bool,
    /// Engine-wide things: templates, locks, buckets, semaphore, store, config.
    pub engine: Arc<EngineShared>,
}

impl StepJob {
    fn step(&self) -> &Step {
        &self.workflow.steps[self.idx]
    }
}

/// Runs the step to its end and reports every transition on `job.tx`.
pub async fn run_step(job: StepJob) {
    let idx = job.idx;
    let tx = job.tx.clone();
    let outcome = drive(&job).await;
    let _ = tx.send(StepMsg::Done {
        idx,
        outcome: Box::new(outcome),
    });
}

/// What a step will do, rendered.
enum Prepared {
    Shell(ShellCommand),
    Http(HttpRequest),
    Value(Value),
    Sleep(Duration),
    Agent {
        spec: crate::spec::AgentSpec,
        prompt: String,
    },
    Approval {
        prompt: String,
        inputs: IndexMap<String, String>,
        timeout: Option<Duration>,
        on_timeout: OnTimeout,
    },
    Unsupported(String),
}

impl Prepared {
    /// The exact action an approver sees.
    fn describe(&self) -> Option<String> {
        match self {
            Prepared::Shell(c) => Some(format!("$ {}", c.command)),
            Prepared::Http(r) => Some(match (&r.json, &r.text) {
                (Some(j), _) => format!("{} {}\n{}", r.method, r.url, j),
                (None, Some(t)) => format!("{} {}\n{}", r.method, r.url, t),
                _ => format!("{} {}", r.method, r.url),
            }),
            Prepared::Value(v) => Some(format!("value: {v}")),
            Prepared::Sleep(d) => Some(format!("sleep {}", crate::spec::format_duration(*d))),
            Prepared::Agent { spec, prompt } => Some(format!("agent {}: {prompt}", spec.agent)),
            Prepared::Approval { .. } | Prepared::Unsupported(_) => None,
        }
    }
}

async fn drive(job: &StepJob) -> Outcome {
    let step = job.step();
    let input = RenderInput::of(job);
    let rendered = off_worker(job, "its templates", move || render_step(&input)).await;
    let Rendered {
        prepared,
        lock,
        cache_key,
    } = match rendered {
        Ok(r) => r,
        Err(f) => return Outcome::Failed(f),
    };
    if let Prepared::Unsupported(msg) = &prepared {
        return Outcome::Failed(Failure::fatal(msg.clone()));
    }
    if let Prepared::Approval {
        prompt,
        inputs,
        timeout,
        on_timeout,
    } = &prepared
    {
        return match ask(
            job,
            prompt.clone(),
            None,
            inputs.clone(),
            *timeout,
            *on_timeout,
        )
        .await
        {
            // The (possibly edited) inputs are the output; who decided is in the audit.
            Some(d) if d.approved => Outcome::Succeeded {
                output: StepOutput {
                    output: json!(d.inputs),
                    outputs: IndexMap::new(),
                    stdout: String::new(),
                    stderr: String::new(),
                },
                exit_code: None,
                cached: false,
                metrics: Default::default(),
            },
            Some(d) => Outcome::Failed(rejected(&d)),
            None => Outcome::Failed(Failure::cancelled()),
        };
    }
    // Ask before running: after a crash caught a non-idempotent step running, or `approve:`.
    let gate_prompt = if job.recovery_gate {
        Some(format!(
            "Step `{}` was running when baton stopped. It is marked `idempotent: false`: \
             running it again may repeat its effects. Run it again?",
            step.id
        ))
    } else if step.approve {
        Some(format!("Run step `{}`?", step.label()))
    } else {
        None
    };
    if let Some(prompt) = gate_prompt {
        let action = prepared.describe();
        match ask(
            job,
            prompt,
            action,
            IndexMap::new(),
            None,
            OnTimeout::Reject,
        )
        .await
        {
            Some(d) if d.approved => {}
            Some(d) => return Outcome::Failed(rejected(&d)),
            None => return Outcome::Failed(Failure::cancelled()),
        }
    }

    // Cache.
    let cache_key =
        cache_key.map(|k| (k, step.cache.as_ref().and_then(|c| c.ttl.map(|t| t.get()))));
    if let Some((key, ttl)) = &cache_key
        && let Ok(Some(hit)) = job.engine.store.cached(key, *ttl, Timestamp::now())
    {
        (job.log)(
            LogStream::System,
            &format!(
                "cache hit (stored by run {} at {})",
                hit.run,
                hit.stored_at.rfc3339()
            ),
        );
        return Outcome::Succeeded {
            output: hit.output,
            exit_code: None,
            cached: true,
            metrics: Default::default(),
        };
    }

    // Rate limit, then lock, then a global slot.
    let mut control = job.control.clone();
    if let Some(rl) = &step.rate_limit {
        let key = rl.key.clone().unwrap_or_else(|| step.id.0.clone());
        loop {
            let wait = job.engine.take_token(&key, rl.max, rl.per.get());
            let Err(wait) = wait else { break };
            (job.log)(
                LogStream::System,
                &format!("rate limit `{key}`: waiting {} ms", wait.as_millis()),
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = steps::http::cancelled(&mut control) => return Outcome::Failed(Failure::cancelled()),
            }
        }
    }
    let _lock_guard = match lock {
        Some(name) => {
            let lock = job.engine.lock(&name);
            let guard = match lock.clone().try_lock_owned() {
                Ok(g) => g,
                Err(_) => {
                    (job.log)(LogStream::System, &format!("waiting for lock `{name}`"));
                    tokio::select! {
                        g = lock.lock_owned() => g,
                        _ = steps::http::cancelled(&mut control) => return Outcome::Failed(Failure::cancelled()),
                    }
                }
            };
            Some(guard)
        }
        None => None,
    };
    let _permit = tokio::select! {
        p = job.engine.global.clone().acquire_owned() => match p {
            Ok(p) => p,
            Err(_) => return Outcome::Failed(Failure::cancelled()),
        },
        _ = steps::http::cancelled(&mut control) => return Outcome::Failed(Failure::cancelled()),
    };

    // Attempts.
    let policy = job.workflow.effective_retry(step);
    let timeout = job.workflow.effective_timeout(step);
    let mut jitter = Jitter::from_entropy();
    let mut n = 1;
    let result = loop {
        let _ = job.tx.send(StepMsg::Attempt { idx: job.idx, n });
        let attempt = Attempt {
            log: job.log.clone(),
            control: job.control.clone(),
            timeout,
            grace: job.engine.config.grace,
            max_line: job.engine.config.logs.max_line_bytes,
            groups: job.engine.groups.clone(),
            spawned: {
                let tx = job.tx.clone();
                let idx = job.idx;
                Arc::new(move |pid| {
                    let _ = tx.send(StepMsg::Spawned { idx, pid });
                })
            },
        };
        // The executors' futures are boxed: inline, the largest of them would size every step's
        // task (5.4 KiB; 1.4 KiB boxed), which a 5,000-wide fan-out holds 5,000 of at once.
        let result = match &prepared {
            Prepared::Shell(c) => Box::pin(steps::shell::run(c.clone(), attempt)).await,
            Prepared::Http(r) => Box::pin(steps::http::run(r.clone(), attempt)).await,
            Prepared::Sleep(d) => Box::pin(steps::sleep::run(*d, attempt)).await,
            Prepared::Agent { spec, prompt } => {
                let llm = job.engine.config.llm.clone();
                let catalog = llm
                    .as_ref()
                    .map(|l| l.catalog.with_workflow(&job.workflow.agents))
                    .unwrap_or_else(|| {
                        crate::agents::AgentCatalog::builtin().with_workflow(&job.workflow.agents)
                    });
                Box::pin(steps::agent::run(
                    llm,
                    &catalog,
                    spec,
                    prompt.clone(),
                    attempt,
                ))
                .await
            }
            Prepared::Value(v) => Ok(Success {
                output: v.clone(),
                ..Success::default()
            }),
            Prepared::Approval { .. } | Prepared::Unsupported(_) => {
                Err(Failure::fatal("internal: not an executable step"))
            }
        };
        match result {
            Err(f) if !f.cancelled && may_retry(&policy, n, f.exit_code, f.retryable) => {
                let delay = backoff_delay(&policy, n + 1, jitter.next_unit());
                let at = Timestamp(Timestamp::now().0 + delay.as_millis() as u64);
                (job.log)(
                    LogStream::System,
                    &format!(
                        "attempt {n}/{} failed: {}; retrying in {}",
                        policy.max_attempts,
                        f.error,
                        crate::spec::format_duration(delay)
                    ),
                );
                let _ = job.tx.send(StepMsg::Retrying {
                    idx: job.idx,
                    n,
                    at,
                    error: job.redactor.redact(&f.error).into_owned(),
                    exit_code: f.exit_code,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = steps::http::cancelled(&mut control) => break Err(Failure::cancelled()),
                }
                n += 1;
            }
            other => break other,
        }
    };
    match result {
        Ok(success) => {
            let mut output = StepOutput {
                output: success.output,
                stdout: success.stdout,
                stderr: success.stderr,
                outputs: IndexMap::new(),
            };
            // Masked before `outputs:` see it: a transform (`| upper`, `| b64encode`) of a
            // secret would no longer look like the secret.
            redact_output(&job.redactor, &mut output);
            if !step.outputs.is_empty() {
                let ctx = outputs_context(
                    &job.ctx,
                    &output.output,
                    &output.stdout,
                    &output.stderr,
                    success.exit_code,
                );
                let engine = job.engine.clone();
                let workflow = job.workflow.clone();
                let idx = job.idx;
                let rendered = off_worker(job, "`outputs:`", move || {
                    render_outputs(&engine.templates, &workflow.steps[idx], &ctx)
                })
                .await;
                match rendered {
                    Ok(outputs) => output.outputs = outputs,
                    Err(f) => return Outcome::Failed(f),
                }
            }
            redact_output(&job.redactor, &mut output);
            if let Some((key, _)) = cache_key {
                let entry = crate::store::CacheEntry {
                    output: output.clone(),
                    stored_at: Timestamp::now(),
                    run: job.run.clone(),
                };
                if let Err(e) = job.engine.store.put_cached(&key, &entry) {
                    (job.log)(
                        LogStream::System,
                        &format!("cannot store in the cache: {e:#}"),
                    );
                }
            }
            Outcome::Succeeded {
                output,
                exit_code: success.exit_code,
                cached: false,
                metrics: success.metrics,
            }
        }
        Err(mut f) => {
            let r = &job.redactor;
            f.stdout = r.redact(&f.stdout).into_owned();
            f.stderr = r.redact(&f.stderr).into_owned();
            f.error = r.redact(&f.error).into_owned();
            Outcome::Failed(f)
        }
    }
}

fn rejected(d: &Decision) -> Failure {
    Failure::fatal(match &d.comment {
        Some(c) if !c.is_empty() => format!("rejected by {}: {c}", d.by),
        _ => format!("rejected by {}", d.by),
    })
}

/// Opens a gate through the actor and waits for its decision (`None`: cancelled).
async fn ask(
    job: &StepJob,
    prompt: String,
    action: Option<String>,
    inputs: IndexMap<String, String>,
    timeout: Option<Duration>,
    on_timeout: OnTimeout,
) -> Option<Decision> {
    let (reply, rx) = oneshot::channel();
    let request = GateRequest {
        idx: job.idx,
        prompt,
        action,
        inputs,
        timeout,
        on_timeout,
        reply,
    };
    job.tx.send(StepMsg::Gate(Box::new(request))).ok()?;
    rx.await.ok()
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

/// What a step task hands to the blocking thread that renders its templates.
struct RenderInput {
    engine: Arc<EngineShared>,
    workflow: Arc<Workflow>,
    idx: usize,
    ctx: Arc<Value>,
    run: crate::store::RunId,
    workdir: Option<PathBuf>,
}

impl RenderInput {
    fn of(job: &StepJob) -> RenderInput {
        RenderInput {
            engine: job.engine.clone(),
            workflow: job.workflow.clone(),
            idx: job.idx,
            ctx: job.ctx.clone(),
            run: job.run.clone(),
            workdir: job.workdir.clone(),
        }
    }

    fn step(&self) -> &Step {
        &self.workflow.steps[self.idx]
    }
}

/// Everything a step renders before it runs.
struct Rendered {
    prepared: Prepared,
    lock: Option<String>,
    cache_key: Option<String>,
}

fn render_step(job: &RenderInput) -> Result<Rendered, String> {
    let step = job.step();
    let prepared = prepare(job)?;
    let lock = match &step.lock {
        Some(name) => Some(
            job.engine
                .templates
                .render(name, &job.ctx)
                .map_err(|e| format!("lock: {e}"))?,
        ),
        None => None,
    };
    let cache_key = match &step.cache {
        Some(c) => Some(cache_key(job, c.key.as_deref(), &prepared)?),
        None => None,
    };
    Ok(Rendered {
        prepared,
        lock,
        cache_key,
    })
}

fn render_outputs(
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
/// fuel runs out).
async fn off_worker<T: Send + 'static>(
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
        _ = steps::http::cancelled(&mut control) => Err(Failure::cancelled()),
        _ = deadline => Err(Failure {
            error: format!(
                "timed out after {} while rendering {what}",
                crate::spec::format_duration(timeout.unwrap_or_default())
            ),
            timed_out: true,
            ..Failure::default()
        }),
    }
}

fn prepare(job: &RenderInput) -> Result<Prepared, String> {
    let t = &job.engine.templates;
    let step = job.step();
    let ctx = &job.ctx;
    Ok(match &step.kind {
        StepKind::Run(spec) => {
            let command = t
                .render_command(&spec.command, ctx)
                .map_err(|e| format!("run: {e}"))?;
            let wf_env = render_map(t, &job.workflow.env, ctx, "env")?;
            let step_env = render_map(t, &step.env, ctx, "env")?;
            let mut env = merge_env(&wf_env, &step_env);
            env.insert("BATON_RUN_ID".into(), job.run.0.clone());
            env.insert("BATON_STEP_ID".into(), step.id.0.clone());
            let cwd = match &spec.cwd {
                Some(c) => {
                    let c = t.render(c, ctx).map_err(|e| format!("cwd: {e}"))?;
                    let p = PathBuf::from(c);
                    Some(match (&job.workdir, p.is_absolute()) {
                        (Some(base), false) => base.join(p),
                        _ => p,
                    })
                }
                None => job.workdir.clone(),
            };
            Prepared::Shell(ShellCommand {
                command,
                shell: spec.shell.clone().unwrap_or_else(|| "sh".to_string()),
                cwd,
                env,
            })
        }
        StepKind::Http(spec) => {
            let url = t.render(&spec.url, ctx).map_err(|e| format!("url: {e}"))?;
            let headers = render_map(t, &spec.headers, ctx, "headers")?;
            let (json, text) = match &spec.body {
                Some(HttpBody::Json(v)) => (
                    Some(t.render_value(v, ctx).map_err(|e| format!("body: {e}"))?),
                    None,
                ),
                Some(HttpBody::Text(s)) => (
                    None,
                    Some(t.render(s, ctx).map_err(|e| format!("body: {e}"))?),
                ),
                None => (None, None),
            };
            Prepared::Http(HttpRequest {
                method: spec.method.clone(),
                url,
                headers,
                json,
                text,
                expect: spec.expect.clone(),
            })
        }
        StepKind::Transform(spec) => Prepared::Value(match spec {
            TransformSpec::Template(tpl) => {
                steps::output_value(&t.render(tpl, ctx).map_err(|e| format!("transform: {e}"))?)
            }
            TransformSpec::Expr(e) => t.eval_expr(e, ctx).map_err(|e| format!("transform: {e}"))?,
            TransformSpec::Value(v) => t
                .render_value(v, ctx)
                .map_err(|e| format!("transform: {e}"))?,
        }),
        StepKind::Sleep(d) => Prepared::Sleep(d.get()),
        StepKind::Approval(spec) => {
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
            Prepared::Approval {
                prompt,
                inputs,
                timeout: spec.timeout.map(|d| d.get()),
                on_timeout: spec.on_timeout,
            }
        }
        StepKind::Agent(spec) => Prepared::Agent {
            spec: spec.clone(),
            prompt: t
                .render(&spec.prompt, ctx)
                .map_err(|e| format!("prompt: {e}"))?,
        },
        StepKind::Workflow(_) => Prepared::Unsupported(
            "`workflow` (sub-workflow) steps are not supported yet; inline the steps for now"
                .to_string(),
        ),
    })
}

fn cache_key(
    job: &RenderInput,
    key_tpl: Option<&str>,
    prepared: &Prepared,
) -> Result<String, String> {
    let wf = &job.workflow.name;
    let step = &job.step().id;
    match key_tpl {
        Some(tpl) => {
            let k = job
                .engine
                .templates
                .render(tpl, &job.ctx)
                .map_err(|e| format!("cache.key: {e}"))?;
            Ok(format!("{wf}/{step}/{k}"))
        }
        None => {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            prepared.describe().hash(&mut h);
            if let Prepared::Shell(c) = prepared {
                c.env
                    .iter()
                    .filter(|(k, _)| !k.starts_with("BATON_"))
                    .collect::<Vec<_>>()
                    .hash(&mut h);
                c.cwd.hash(&mut h);
            }
            Ok(format!("{wf}/{step}/{:016x}", h.finish()))
        }
    }
}
