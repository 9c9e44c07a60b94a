//! The `baton.step` activity: a step task ([`super::step::Worker::run`]) with Temporal around
//! it. Every second it heartbeats the tail of the step's log (the server keeps the last one,
//! so any machine can read a running step's log, and a worker that stops heartbeating is
//! presumed dead and its step scheduled again); it asks the run whether it is paused, and
//! stops or continues the step's process groups to match; a cancel from the workflow becomes
//! SIGTERM → grace → SIGKILL of the groups.

use std::sync::Arc;
use std::time::Duration;

use temporalio_client::{Client, WorkflowHandle, WorkflowQueryOptions, WorkflowSignalOptions};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::sync::watch;

use super::logbuf::LogBuf;
use super::step::{AgentLink, Live, Worker};
use super::wire::{AgentRecord, Freeze, Progress, StepDone, StepTask, ToolAsk};
use super::workflow::BatonRun;
use crate::agents::HostFuture;
use crate::steps::Directive;
use crate::store::{AgentEntry, Decision};

/// How often a running step heartbeats and asks whether its run is paused.
const BEAT: Duration = Duration::from_secs(1);

/// The activities a `baton worker` serves.
pub struct StepActivities {
    /// What step tasks share on this worker.
    pub worker: Arc<Worker>,
}

#[activities]
impl StepActivities {
    /// Runs one attempt of a step (or only renders what its gate shows).
    #[activity(name = "baton.step")]
    pub async fn step(
        self: Arc<Self>,
        ctx: ActivityContext,
        task: StepTask,
    ) -> Result<StepDone, ActivityError> {
        let step = self.step_id(&task);
        let live = Arc::new(Live {
            log: std::sync::Mutex::new(LogBuf::new(step, task.log_limit)),
            pid: std::sync::Mutex::new(None),
        });
        let (control, rx) = watch::channel(Directive::Running);
        let info = ctx.info();
        let link = WorkflowLink {
            handle: ctx.workflow_handle::<BatonRun>(),
            step: self.step_id(&task).0,
            attempt: format!("{}.{}", info.activity_id, info.attempt),
        };
        let run = self.worker.run(&task, rx, live.clone(), &link);
        tokio::pin!(run);
        let mut beat = tokio::time::interval(BEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cancelling = false;
        loop {
            tokio::select! {
                done = &mut run => return Ok(done),
                _ = ctx.cancelled(), if !cancelling => {
                    cancelling = true;
                    control.send_replace(Directive::Cancelled);
                }
                _ = beat.tick() => {
                    let progress = self.progress(&task, &live);
                    let _ = ctx.record_heartbeat(progress).await;
                    if !cancelling && !task.prepare_only && !task.expand_only {
                        follow_freeze(&ctx, &control).await;
                    }
                }
            }
        }
    }
}

impl StepActivities {
    /// The id its log lines carry: the step's as the workflow names it, an item's `step[i]`
    /// (the task is parsed again by the step task itself).
    fn step_id(&self, task: &StepTask) -> crate::spec::StepId {
        let origin = std::path::PathBuf::from(task.path.as_deref().unwrap_or("workflow.yaml"));
        let step = crate::spec::parse_with(&task.source, &origin, &self.worker.templates)
            .ok()
            .and_then(|wf| wf.steps.get(task.idx).map(|s| s.id.clone()))
            .unwrap_or_else(|| crate::spec::StepId(format!("#{}", task.idx)));
        match &task.item {
            Some((item, _)) => crate::store::item_key(&step, *item),
            None => step,
        }
    }

    fn progress(&self, task: &StepTask, live: &Live) -> Progress {
        let tail = live
            .log
            .lock()
            .map(|l| l.tail(task.log_limit))
            .unwrap_or_default();
        Progress {
            idx: task.idx,
            item: task.item.as_ref().map(|(i, _)| *i),
            worker: self.worker.identity.clone(),
            tail,
            pid: live.pid.lock().ok().and_then(|p| *p),
        }
    }
}

/// An agent step's way to its run: signals journal its turns and ask about calls, queries read
/// the journal and the decisions.
struct WorkflowLink {
    handle: Option<WorkflowHandle<Client, BatonRun>>,
    step: String,
    /// The activity's id and Temporal's attempt of it.
    attempt: String,
}

/// How often a step waiting for a decision on a call asks its run.
const DECISION_POLL: Duration = Duration::from_millis(500);

impl WorkflowLink {
    fn handle(&self) -> Result<&WorkflowHandle<Client, BatonRun>, String> {
        self.handle
            .as_ref()
            .ok_or_else(|| "this activity has no workflow to journal an agent's turns in".into())
    }
}

impl AgentLink for WorkflowLink {
    fn attempt_key(&self) -> String {
        self.attempt.clone()
    }

    fn recorded(&self) -> HostFuture<'_, Result<Vec<AgentEntry>, String>> {
        Box::pin(async move {
            let options = WorkflowQueryOptions::default();
            (self.handle()?)
                .query(BatonRun::conversation, self.step.clone(), options)
                .await
                .map_err(|e| {
                    format!(
                        "cannot read step `{}`'s conversation from its run: {e}",
                        self.step
                    )
                })
        })
    }

    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let record = AgentRecord {
                step: self.step.clone(),
                entry,
            };
            (self.handle()?)
                .signal(
                    BatonRun::agent_entry,
                    record,
                    WorkflowSignalOptions::default(),
                )
                .await
                .map_err(|e| format!("cannot journal step `{}`'s turn in its run: {e}", self.step))
        })
    }

    fn ask(&self, ask: ToolAsk) -> HostFuture<'_, Option<Decision>> {
        Box::pin(async move {
            let handle = self.handle().ok()?;
            let key = (ask.step.clone(), ask.ask.clone());
            let sent = handle
                .signal(BatonRun::ask_tool, ask, WorkflowSignalOptions::default())
                .await;
            if let Err(e) = sent {
                tracing::warn!("step `{}`: cannot ask about a call: {e}", self.step);
                return None;
            }
            loop {
                let options = WorkflowQueryOptions::default();
                let asked = handle
                    .query(BatonRun::tool_decision, key.clone(), options)
                    .await;
                if let Ok(Some(decision)) = asked {
                    return Some(decision);
                }
                tokio::time::sleep(DECISION_POLL).await;
            }
        })
    }
}

/// Asks the run whether it is paused and tells the step task when that changed. A run that
/// cannot be asked (a workflow worker is restarting) leaves things as they are.
async fn follow_freeze(ctx: &ActivityContext, control: &watch::Sender<Directive>) {
    let Some(handle) = ctx.workflow_handle::<BatonRun>() else {
        return;
    };
    let asked = handle
        .query(BatonRun::freeze, (), WorkflowQueryOptions::default())
        .await;
    let Ok(freeze) = asked else {
        return;
    };
    let want = match freeze {
        Freeze::Paused => Directive::Paused,
        Freeze::Running => Directive::Running,
    };
    control.send_if_modified(|d| {
        let change = *d != want && *d != Directive::Cancelled;
        if change {
            *d = want;
        }
        change
    });
}
