//! One step task on a worker, without Temporal in sight: parse the run's workflow, add this
//! worker's secrets to the context, render the step (templates run here, never in workflow
//! code), and run it with the same executors as a local run (`steps::shell` and friends:
//! process groups, SIGSTOP pause, pausable deadlines, SIGTERM → grace → SIGKILL). The
//! activity (`activity.rs`) feeds it pause and cancel and heartbeats its log's tail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::logbuf::LogBuf;
use super::wire::{GateText, StepDone, StepTask, ToolAsk};
use crate::agents::approve::ARGUMENTS_INPUT;
use crate::agents::{ActHost, CallQuestion, HostFuture};
use crate::engine::context::{outputs_context, redact_output, redact_value};
use crate::engine::pipeline::render::{
    Action, Prepared, StepView, item_context, prepare, render_outputs,
};
use crate::engine::pipeline::subflow::ChildCall;
use crate::engine::secrets::RunSecrets;
use crate::secrets::Redactor;
use crate::spec::{Templates, Workflow};
use crate::steps::agent::LlmRuntime;
use crate::steps::{self, Attempt, Directive, Failure, Success};
use crate::store::StepOutput;
use crate::store::{AgentEntry, Decision};

/// What every step task on this worker shares.
pub struct Worker {
    /// The template engine.
    pub templates: Templates,
    /// This worker's live process groups.
    pub groups: Arc<steps::shell::ProcessGroups>,
    /// Hosts of `on:` steps, from this worker's config.
    pub ssh: Arc<crate::remote::Ssh>,
    /// `pid@host`, named in each step's result.
    pub identity: String,
    /// Longest log line kept.
    pub max_line: usize,
    /// Agent steps' providers and profiles, from this worker's config (none: agent steps
    /// fail saying so).
    pub llm: Option<Arc<LlmRuntime>>,
    /// This worker's own secrets (its providers' keys, its MCP servers'): masked in every
    /// log line, output and journaled turn, like a run's.
    pub secrets: Vec<String>,
}

/// An agent step's way to its run's workflow (the activity's): journal a turn or call, read
/// the journal back, ask an operator about a call and wait for the decision.
pub trait AgentLink: Send + Sync {
    /// The step's conversation journaled so far (by earlier attempts).
    fn recorded(&self) -> HostFuture<'_, Result<Vec<AgentEntry>, String>>;
    /// Journals `entry` (masked) in the run; done once the server has it.
    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>>;
    /// Asks about a call and waits for the decision (`None`: the run is stopping).
    fn ask(&self, ask: ToolAsk) -> HostFuture<'_, Option<Decision>>;
    /// What tells this attempt of the activity from every other one (its asks are numbered
    /// under it, so a retried activity never reads a decision made for an earlier one).
    fn attempt_key(&self) -> String;
}

/// An agent step's [`ActHost`] on a worker: entries masked with the run's secrets before they
/// go into the history; asks numbered per attempt of the activity.
struct LinkHost<'a> {
    link: &'a dyn AgentLink,
    recorded: Vec<AgentEntry>,
    redactor: Redactor,
    step: String,
    asks: std::sync::atomic::AtomicU32,
}

impl ActHost for LinkHost<'_> {
    fn recorded(&self) -> Result<Vec<AgentEntry>, String> {
        Ok(self.recorded.clone())
    }

    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>> {
        let entry = crate::engine::run::agent::redact_entry(&self.redactor, entry);
        self.link.record(entry)
    }

    fn ask(&self, question: CallQuestion) -> HostFuture<'_, Option<Decision>> {
        Box::pin(async move {
            let n = self.asks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // Shown masked; approved unchanged, the call runs with its own arguments.
            let shown = self.redactor.redact(&question.arguments).into_owned();
            let ask = ToolAsk {
                step: self.step.clone(),
                ask: format!("{}:{n}", self.link.attempt_key()),
                prompt: question.prompt,
                action: self.redactor.redact(&question.action).into_owned(),
                tool: question.tool,
                arguments: shown.clone(),
            };
            let mut decision = self.link.ask(ask).await?;
            if decision.inputs.get(ARGUMENTS_INPUT) == Some(&shown) {
                decision.inputs.shift_remove(ARGUMENTS_INPUT);
            }
            Some(decision)
        })
    }
}

/// What a running task exposes to its activity: the log so far and the process group.
pub struct Live {
    /// The log, cut to the limit.
    pub log: Mutex<LogBuf>,
    /// The process group of the running attempt.
    pub pid: Mutex<Option<u32>>,
}

impl Worker {
    /// Runs `task`; `control` says pause, resume and cancel. Never fails: a problem is the
    /// step's failure, said in its result.
    pub async fn run(
        &self,
        task: &StepTask,
        control: watch::Receiver<Directive>,
        live: Arc<Live>,
        link: &dyn AgentLink,
    ) -> StepDone {
        if task.expand_only {
            return self.expand(task, &live);
        }
        if task.outputs_only {
            return self.outputs(task, &live);
        }
        let prepared = match self.prepare(task) {
            Ok(p) => p,
            Err(error) => return self.failed(Failure::fatal(error), &live, None),
        };
        let (wf, ctx, redactor, prepared) = prepared;
        let step = &wf.steps[task.idx];
        if task.prepare_only {
            return self.gate_text(task, &wf, prepared, &live);
        }
        let action = match prepared {
            Prepared::Action(Action::Workflow(call)) if task.call_only => {
                return self.call(call, &live, &redactor);
            }
            Prepared::Action(a) => a,
            Prepared::Approval(_) => {
                let f = Failure::fatal("an approval step has nothing to run");
                return self.failed(f, &live, None);
            }
        };
        let redact = redactor.clone();
        let sink = live.clone();
        let attempt = Attempt {
            log: Arc::new(move |stream, text| {
                let text = redact.redact(text);
                if let Ok(mut log) = sink.log.lock() {
                    log.push(stream, &text);
                }
            }),
            control,
            timeout: wf.effective_timeout(step),
            grace: Duration::from_millis(task.grace_ms),
            max_line: self.max_line,
            groups: self.groups.clone(),
            spawned: {
                let live = live.clone();
                Arc::new(move |pid| {
                    if let Ok(mut p) = live.pid.lock() {
                        *p = Some(pid);
                    }
                })
            },
        };
        let host = match &action {
            Action::Agent { .. } => match link.recorded().await {
                Ok(recorded) => Some(LinkHost {
                    link,
                    recorded,
                    redactor: redactor.clone(),
                    step: step.id.0.clone(),
                    asks: Default::default(),
                }),
                Err(e) => return self.failed(Failure::retryable(e), &live, Some(&redactor)),
            },
            _ => None,
        };
        let host = host.as_ref().map(|h| h as &dyn ActHost);
        match self.execute(action, attempt, &wf, task, host).await {
            Ok(success) => self.succeeded(task, &wf, &ctx, success, &redactor, &live),
            Err(failure) => self.failed(failure, &live, Some(&redactor)),
        }
    }

    /// A fan-out's list, evaluated here (it may read step outputs and secrets), secrets
    /// masked before it leaves the worker.
    fn expand(&self, task: &StepTask, live: &Live) -> StepDone {
        let (wf, ctx, redactor) = match self.context(task) {
            Ok(c) => c,
            Err(error) => return self.failed(Failure::fatal(error), live, None),
        };
        let listed = match &wf.steps[task.idx].for_each {
            Some(for_each) => for_each.items(&self.templates, &ctx),
            None => Err(format!(
                "step `{}` has no `for_each:`",
                wf.steps[task.idx].id
            )),
        };
        match listed {
            Ok(mut items) => {
                items.iter_mut().for_each(|v| redact_value(&redactor, v));
                StepDone {
                    items: Some(items),
                    ..self.done(live)
                }
            }
            Err(error) => self.failed(Failure::fatal(error), live, Some(&redactor)),
        }
    }

    /// A `workflow:` step's child, read from this worker's disk, its params masked (they go
    /// into the history).
    fn call(&self, call: ChildCall, live: &Live, redactor: &Redactor) -> StepDone {
        let source = match crate::spec::read_source(&call.path) {
            Ok(s) => s,
            Err(d) => return self.failed(Failure::fatal(d.to_string()), live, Some(redactor)),
        };
        let params = (call.params.into_iter())
            .map(|(name, mut value)| {
                redact_value(redactor, &mut value);
                (name, value)
            })
            .collect();
        StepDone {
            call: Some(super::wire::ChildCall {
                source,
                path: call.path.display().to_string(),
                params,
            }),
            ..self.done(live)
        }
    }

    /// A child run's `outputs:`, rendered over its steps' results (in the task's context) and
    /// masked: the output of the `workflow:` step that started it.
    fn outputs(&self, task: &StepTask, live: &Live) -> StepDone {
        let (wf, ctx, redactor) = match self.context(task) {
            Ok(c) => c,
            Err(error) => return self.failed(Failure::fatal(error), live, None),
        };
        let mut out = serde_json::Map::new();
        for (name, tpl) in &wf.outputs {
            match self.templates.render(tpl, &ctx) {
                Ok(text) => {
                    out.insert(name.clone(), crate::steps::output_value(&text));
                }
                Err(e) => {
                    let f = Failure::fatal(format!("its `outputs.{name}`: {e}"));
                    return self.failed(f, live, Some(&redactor));
                }
            }
        }
        let mut output = StepOutput {
            output: Value::Object(out),
            ..StepOutput::default()
        };
        redact_output(&redactor, &mut output);
        StepDone {
            output: Some(output),
            ..self.done(live)
        }
    }

    /// The workflow, the step's context with this worker's secrets, and the step rendered.
    fn prepare(&self, task: &StepTask) -> Result<(Workflow, Value, Redactor, Prepared), String> {
        let (wf, ctx, redactor) = self.context(task)?;
        let workdir = task.workdir.as_deref().map(Path::new);
        let view = StepView {
            templates: &self.templates,
            workflow: &wf,
            idx: task.idx,
            ctx: &ctx,
            run: &task.run,
            workdir,
            ssh: &self.ssh,
            workflow_dirs: &[],
        };
        let prepared = prepare(&view)?;
        Ok((wf, ctx, redactor, prepared))
    }

    /// The workflow, and the step's context with this worker's secrets (and an item's `item`
    /// and `item_index`).
    fn context(&self, task: &StepTask) -> Result<(Workflow, Value, Redactor), String> {
        let origin = PathBuf::from(task.path.as_deref().unwrap_or("workflow.yaml"));
        let wf = crate::spec::parse_with(&task.source, &origin, &self.templates)
            .map_err(|d| format!("the run's workflow does not parse on this worker:\n{d}"))?;
        if task.idx >= wf.steps.len() {
            return Err(format!("the workflow has no step #{}", task.idx));
        }
        let secrets = RunSecrets::resolve(
            &wf,
            task.path.as_deref(),
            &task.source,
            task.workdir.as_deref(),
            &crate::providers::process_env,
        )
        .map_err(|e| format!("{e:#}"))?;
        let ours = self.secrets.iter().cloned();
        let redactor = Redactor::new(secrets.0.values().cloned().chain(ours));
        let mut ctx = task.ctx.clone();
        if let Value::Object(map) = &mut ctx {
            let values = secrets.0.into_iter().map(|(k, v)| (k, Value::String(v)));
            map.insert("secrets".into(), Value::Object(values.collect()));
        }
        let ctx = item_context(&Arc::new(ctx), task.item.as_ref());
        Ok((wf, Arc::unwrap_or_clone(ctx), redactor))
    }

    /// One attempt, by the executor of the action's kind (those a worker can run).
    async fn execute(
        &self,
        action: Action,
        attempt: Attempt,
        wf: &Workflow,
        task: &StepTask,
        host: Option<&dyn ActHost>,
    ) -> Result<Success, Failure> {
        match action {
            Action::Shell(c) => match c.on.clone() {
                Some(host) => {
                    let spawned = Arc::new(|_| {});
                    let ssh = self.ssh.clone();
                    Box::pin(steps::remote::run(c, host, ssh, attempt, spawned)).await
                }
                None => Box::pin(steps::shell::run(&c, attempt)).await,
            },
            Action::Http(r) => Box::pin(steps::http::run(r, attempt)).await,
            Action::Sleep(d) => Box::pin(steps::sleep::run(d, attempt)).await,
            Action::Value(v) => Ok(Success {
                output: v,
                ..Success::default()
            }),
            Action::Agent { spec, prompt, env } => {
                let Some(host) = host else {
                    return Err(Failure::fatal("an agent step needs its run's journal"));
                };
                let catalog = match &self.llm {
                    Some(l) => l.catalog.with_workflow(&wf.agents),
                    None => crate::agents::AgentCatalog::builtin().with_workflow(&wf.agents),
                };
                let place = steps::agent::Place {
                    workdir: task.workdir.as_deref().map(PathBuf::from),
                    env,
                    host,
                    mcp_servers: &wf.mcp_servers,
                    // Notes live in a store; a worker has none.
                    notes: None,
                    live: None,
                };
                let llm = self.llm.clone();
                Box::pin(steps::agent::run(
                    llm, &catalog, &spec, prompt, attempt, place,
                ))
                .await
            }
            Action::Workflow(_) => Err(Failure::fatal(
                "`workflow:` steps do not run on Temporal yet: run this workflow locally",
            )),
        }
    }

    fn gate_text(&self, task: &StepTask, wf: &Workflow, p: Prepared, live: &Live) -> StepDone {
        let step = &wf.steps[task.idx];
        let gate = match p {
            Prepared::Approval(q) => GateText {
                prompt: q.prompt,
                action: None,
                inputs: q.inputs,
                timeout_ms: q.timeout.map(|d| d.as_millis() as u64),
            },
            Prepared::Action(a) => GateText {
                prompt: format!("Run step `{}`?", step.label()),
                action: Some(a.describe()),
                inputs: Default::default(),
                timeout_ms: None,
            },
        };
        StepDone {
            gate: Some(gate),
            ..self.done(live)
        }
    }

    fn succeeded(
        &self,
        task: &StepTask,
        wf: &Workflow,
        ctx: &Value,
        s: Success,
        redactor: &Redactor,
        live: &Live,
    ) -> StepDone {
        let mut output = StepOutput {
            output: s.output,
            stdout: s.stdout,
            stderr: s.stderr,
            outputs: Default::default(),
        };
        // Masked before `outputs:` see it, as a local run does.
        redact_output(redactor, &mut output);
        let step = &wf.steps[task.idx];
        if !step.outputs.is_empty() {
            let scope = outputs_context(
                ctx,
                &output.output,
                &output.stdout,
                &output.stderr,
                s.exit_code,
            );
            match render_outputs(&self.templates, step, &scope) {
                Ok(o) => output.outputs = o,
                Err(e) => return self.failed(Failure::fatal(e), live, Some(redactor)),
            }
            redact_output(redactor, &mut output);
        }
        let agent = s.metrics.provider.is_some() || s.metrics.tokens_in.is_some();
        StepDone {
            output: Some(output),
            exit_code: s.exit_code,
            metrics: agent.then_some(s.metrics),
            ..self.done(live)
        }
    }

    fn failed(&self, f: Failure, live: &Live, redactor: Option<&Redactor>) -> StepDone {
        let error = match redactor {
            Some(r) => r.redact(&f.error).into_owned(),
            None => f.error,
        };
        StepDone {
            error: Some(error),
            exit_code: f.exit_code,
            retryable: f.retryable,
            cancelled: f.cancelled,
            ..self.done(live)
        }
    }

    fn done(&self, live: &Live) -> StepDone {
        let log = live.log.lock().map(|l| l.lines()).unwrap_or_default();
        StepDone {
            output: None,
            error: None,
            exit_code: None,
            retryable: false,
            cancelled: false,
            log,
            worker: self.identity.clone(),
            gate: None,
            items: None,
            call: None,
            metrics: None,
        }
    }
}
