//! The `workflow:` step: another workflow runs as a child run of this one — a real run in the
//! store, `PARENT.STEP` (`PARENT.STEP.ITEM` for an item of a fan-out), linked both ways — and is
//! steered from here: the parent's pause, resume and cancel reach it, and a resumed or retried
//! parent goes on with the same child (its completed steps kept) instead of starting another.
//! Its `outputs:`, rendered over its steps' results once it succeeded, are the step's output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use indexmap::IndexMap;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::{StepJob, StepMsg};
use crate::engine::Engine;
use crate::engine::backend::{Command, RunControl, StartRequest};
use crate::engine::context::{RunContext, redact_output, step_entry};
use crate::engine::secrets::RunSecrets;
use crate::spec::calls::MAX_DEPTH;
use crate::steps::{AttemptResult, Directive, Failure, Success};
use crate::store::{LogStream, ParentLink, RunId, RunState, StepOutput, Store};

/// A `workflow:` step, rendered: the file it calls and the params it passes.
#[derive(Debug, Clone)]
pub(crate) struct ChildCall {
    /// The file.
    pub path: PathBuf,
    /// The params, rendered.
    pub params: IndexMap<String, Value>,
}

/// One attempt: starts the child (or goes on with the one a previous attempt, owner or retry
/// left), follows it to its end, and takes its outputs.
pub(super) async fn run(
    job: &StepJob,
    call: &ChildCall,
    control: watch::Receiver<Directive>,
) -> AttemptResult {
    let engine = Engine::of_shared(job.engine.clone(), tokio::runtime::Handle::current());
    let id = child_id(job);
    let depth = ancestors(&job.engine.store, &job.run);
    if depth + 1 >= MAX_DEPTH {
        return Err(Failure::fatal(format!(
            "sub-workflows nest deeper than {MAX_DEPTH} levels (run {} has {depth} parents); \
             does a workflow call itself through a templated `workflow:` path?",
            job.run
        )));
    }
    if job.item.is_none() {
        let run = id.clone();
        let _ = job.tx.send(StepMsg::ChildRun { idx: job.idx, run });
    }
    let how = begin(&engine, job, call, &id)?;
    (job.log)(
        LogStream::System,
        &format!("{how} child run {id} ({})", call.path.display()),
    );
    let state = steer(&engine, &id, control.clone(), &job.interrupting).await;
    let cancelled = *control.borrow() == Directive::Cancelled;
    match state {
        Some(RunState::Succeeded) => {
            let output = outputs(job, &id).await?;
            Ok(Success {
                output,
                ..Success::default()
            })
        }
        _ if cancelled => Err(Failure::cancelled()),
        // Its owner (this process) is stopping: the parent stops too and resumes it later.
        Some(RunState::Interrupted) | None => Err(Failure::cancelled()),
        Some(state) => {
            let reason = job
                .engine
                .store
                .run(&id)
                .ok()
                .flatten()
                .and_then(|r| r.reason)
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            Err(Failure::retryable(format!(
                "child run {id} {state}{reason} (`baton show {id}`)"
            )))
        }
    }
}

/// The child's id: the parent's, the step's and, for a fan-out item, the item's index. Fixed,
/// so that whoever runs the step again (a retry, a resumed owner) finds the same child.
fn child_id(job: &StepJob) -> RunId {
    let step = &job.workflow.steps[job.idx].id;
    match &job.item {
        Some((i, _)) => RunId(format!("{}.{step}.{i}", job.run)),
        None => RunId(format!("{}.{step}", job.run)),
    }
}

/// How many runs `run` hangs under.
fn ancestors(store: &Store, run: &RunId) -> usize {
    let mut depth = 0;
    let mut parent = store.run(run).ok().flatten().and_then(|r| r.parent);
    while let Some(link) = parent {
        depth += 1;
        if depth > MAX_DEPTH {
            break;
        }
        parent = store.run(&link.run).ok().flatten().and_then(|r| r.parent);
    }
    depth
}

/// Starts the child, or goes on with the one that exists: an active one is followed, an
/// interrupted one resumed, a failed or cancelled one retried (its completed steps kept), a
/// succeeded one only read. Returns what it did, for the log.
fn begin(
    engine: &Engine,
    job: &StepJob,
    call: &ChildCall,
    id: &RunId,
) -> Result<&'static str, Failure> {
    if engine.is_active(id) {
        return Ok("following");
    }
    let stored = engine
        .store()
        .run(id)
        .map_err(|e| Failure::retryable(format!("cannot read child run {id}: {e:#}")))?;
    let started = match stored.map(|r| r.state) {
        None => {
            let source =
                crate::spec::read_source(&call.path).map_err(|d| Failure::fatal(d.to_string()))?;
            let request = StartRequest {
                source,
                path: Some(call.path.clone()),
                params: call.params.clone(),
                workdir: job.workdir.clone(),
            };
            let parent = ParentLink {
                run: job.run.clone(),
                step: job.workflow.steps[job.idx].id.clone(),
            };
            return engine
                .create_run(request, id.clone(), Some(parent))
                .map(|_| "started")
                .map_err(|e| Failure::fatal(format!("{e:#}")));
        }
        Some(RunState::Succeeded) => return Ok("found the finished"),
        Some(RunState::Failed | RunState::Cancelled) => engine.retry_run(id).map(|_| "retrying"),
        Some(_) => engine.resume_run(id).map(|_| "resuming"),
    };
    started.map_err(|e| Failure::fatal(format!("child run {id}: {e:#}")))
}

/// Follows the child to its end, passing the parent's pause, resume and cancel on to it (an
/// interrupted parent interrupts it, to be resumed with the parent).
async fn steer(
    engine: &Engine,
    id: &RunId,
    mut control: watch::Receiver<Directive>,
    interrupting: &AtomicBool,
) -> Option<RunState> {
    let end = engine.wait(id);
    tokio::pin!(end);
    let mut told = Directive::Running;
    loop {
        let now = *control.borrow_and_update();
        if now != told {
            let sent = match now {
                Directive::Paused => engine.send(Command::Pause(id.clone())),
                Directive::Running => engine.send(Command::Resume(id.clone())),
                Directive::Cancelled if interrupting.load(Ordering::Relaxed) => {
                    engine.interrupt_run(id)
                }
                Directive::Cancelled => engine.send(Command::Cancel(id.clone())),
            };
            // A child that has just ended refuses: its end is what comes next.
            if let Err(e) = sent {
                tracing::debug!("child run {id}: {e:#}");
            }
            told = now;
        }
        tokio::select! {
            state = &mut end => return state,
            changed = control.changed() => if changed.is_err() {
                // The parent's driver is gone: nothing more to pass on.
                return end.await;
            },
        }
    }
}

/// The child's `outputs:`, rendered over its stored results (masked with the parent's secrets
/// too); an object, empty when it declares none.
async fn outputs(job: &StepJob, id: &RunId) -> Result<Value, Failure> {
    let store = &job.engine.store;
    let unreadable = |e: anyhow::Error| Failure::retryable(format!("child run {id}: {e:#}"));
    let run = store
        .run(id)
        .map_err(unreadable)?
        .ok_or_else(|| Failure::fatal(format!("child run {id} is not in the store")))?;
    let origin = run.workflow_path.clone().unwrap_or_default();
    let wf = crate::spec::parse_str(&run.source, Path::new(&origin))
        .map_err(|d| Failure::fatal(format!("child run {id}: its workflow: {d}")))?;
    if wf.outputs.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let table = store.replay(id).map_err(unreadable)?;
    let steps: Map<String, Value> = table
        .steps
        .iter()
        .map(|r| (r.step.0.clone(), step_entry(r, table.outputs.get(&r.step))))
        .collect();
    let mut ctx = (*RunContext::new(&wf, &run, &RunSecrets::default()).value(None)).clone();
    if let Value::Object(root) = &mut ctx {
        root.insert("steps".into(), Value::Object(steps));
    }
    let (engine, child) = (job.engine.clone(), id.clone());
    let rendered = super::render::off_worker(job, "the sub-workflow's `outputs:`", move || {
        let mut out = Map::new();
        for (name, tpl) in &wf.outputs {
            let text = engine
                .templates
                .render(tpl, &ctx)
                .map_err(|e| format!("child run {child}: its `outputs.{name}`: {e}"))?;
            out.insert(name.clone(), crate::steps::output_value(&text));
        }
        Ok(Value::Object(out))
    });
    let mut output = StepOutput {
        output: rendered.await?,
        ..StepOutput::default()
    };
    redact_output(&job.redactor, &mut output);
    Ok(output.output)
}
