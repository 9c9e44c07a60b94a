//! The `baton.run` workflow: the SDK's side of [`Driver`]. Handlers (pause and resume signals,
//! the gate Update, queries) only queue what they heard or read the driver's view; the run
//! method waits for whatever comes next — a step's activity, a timer, a queued message, the
//! workflow's cancellation — in a fixed order, hands it to the driver, and carries out its
//! orders. Time is the workflow's and randomness the SDK's, so a replay decides alike.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, UNIX_EPOCH};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, ActivityOptions, ApplicationFailure,
    CancellableFuture, ChildWorkflowOptions, SignalWorkflowOptions, SyncWorkflowContext,
    TimerResult, WaitConditionOptions, WorkflowCancellationToken, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
};

use super::activity::StepActivities;
use super::driver::{Driver, Order, Wake};
use super::wire::{
    AgentRecord, DecideRequest, Freeze, RunEnd, RunInput, RunView, StepDone, ToolAsk,
};
use crate::engine::machine::Now;
use crate::store::{AgentEntry, Decision, LogLine, RunState, Timestamp};

/// How often a running step's worker must be heard from; a worker that misses it is presumed
/// dead, and its step is scheduled again (on another worker of the queue).
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a handler heard, for the run method to apply in order.
#[derive(Debug, Clone)]
enum Heard {
    Pause,
    Resume,
    Decide(DecideRequest),
    Ask(ToolAsk),
}

/// The workflow's state: the driver (once the run method built it) and what handlers heard.
#[workflow]
#[derive(Default)]
pub struct BatonRun {
    driver: Option<Driver>,
    heard: VecDeque<Heard>,
}

/// The context the run method works with (futures it makes borrow it).
type Ctx = WorkflowContext<BatonRun>;

/// A step's activity in flight, or a wake the driver asked for.
enum Pending<'a> {
    Step {
        slot: (usize, Option<usize>),
        fut:
            Pin<Box<dyn CancellableFuture<Output = Result<StepDone, ActivityExecutionError>> + 'a>>,
    },
    Timer {
        wake: Wake,
        fut: Pin<Box<dyn CancellableFuture<Output = TimerResult> + 'a>>,
    },
    /// The child run of `workflow:` step `idx`, started and then awaited (it is cancelled
    /// with this run: it inherits the workflow's cancellation).
    Child {
        idx: usize,
        fut: Pin<Box<dyn Future<Output = Result<RunEnd, String>> + 'a>>,
    },
    /// The activity rendering this child run's `outputs:`.
    Outputs {
        fut:
            Pin<Box<dyn CancellableFuture<Output = Result<StepDone, ActivityExecutionError>> + 'a>>,
    },
    /// A signal to a child run: driven to its end, its result not needed.
    Quiet {
        fut: Pin<Box<dyn Future<Output = ()> + 'a>>,
    },
}

/// What the run method waits for.
enum Next {
    Step(
        (usize, Option<usize>),
        Box<Result<StepDone, ActivityExecutionError>>,
    ),
    Woke(Wake),
    Quiet,
    Child(usize, Result<RunEnd, String>),
    Outputs(Box<Result<StepDone, ActivityExecutionError>>),
    Heard,
    Cancelled,
}

#[workflow_methods]
impl BatonRun {
    /// Runs the workflow in `input` to its end.
    #[run(name = "baton.run")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: RunInput) -> WorkflowResult<RunEnd> {
        let ctx: &Ctx = &ctx.clone();
        let id = ctx.workflow_id().to_string();
        let origin = now(ctx, None);
        let (driver, orders) =
            Driver::start(input, &id, origin).map_err(ApplicationFailure::non_retryable)?;
        ctx.state_mut(|s| s.driver = Some(driver));
        let mut pending: Vec<Pending> = Vec::new();
        carry_out(ctx, orders, &mut pending);
        let mut cancel_seen = false;
        loop {
            if let Some(end) = ctx.state(|s| s.driver.as_ref().and_then(|d| d.end().cloned())) {
                return finish(end);
            }
            let next = next(ctx, &mut pending, cancel_seen).await;
            let at = now(ctx, Some(origin));
            let unit = unit(ctx);
            let orders = match next {
                Next::Step(slot, result) => {
                    let done = (*result).unwrap_or_else(|e| lost(&e));
                    with_driver(ctx, |d| d.step_done(slot, done, at, unit))
                }
                Next::Woke(wake) => with_driver(ctx, |d| d.woke(wake, at)),
                Next::Child(idx, result) => {
                    with_driver(ctx, |d| d.child_done(idx, result, at, unit))
                }
                Next::Outputs(result) => {
                    let done = (*result).unwrap_or_else(|e| lost(&e));
                    with_driver(ctx, |d| d.outputs_done(done));
                    Vec::new()
                }
                Next::Quiet => Vec::new(),
                Next::Heard => {
                    let heard: Vec<Heard> = ctx.state_mut(|s| s.heard.drain(..).collect());
                    let mut orders = Vec::new();
                    for h in heard {
                        orders.extend(with_driver(ctx, |d| match h {
                            Heard::Pause => d.pause(at),
                            Heard::Resume => d.resume(at),
                            Heard::Decide(r) => d.decide(&r.step, r.decision, at),
                            Heard::Ask(ask) => d.tool_asked(ask, at),
                        }));
                    }
                    orders
                }
                Next::Cancelled => {
                    cancel_seen = true;
                    with_driver(ctx, |d| d.cancel(at))
                }
            };
            carry_out(ctx, orders, &mut pending);
        }
    }

    /// Freeze the run: scheduling stops, running steps' process groups are stopped.
    #[signal(name = "pause")]
    pub fn pause(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.heard.push_back(Heard::Pause);
    }

    /// Unfreeze it.
    #[signal(name = "resume")]
    pub fn resume(&mut self, _ctx: &mut SyncWorkflowContext<Self>) {
        self.heard.push_back(Heard::Resume);
    }

    /// A worker journals an agent step's turn or call (masked): durable in the history, read
    /// back by a later attempt of the step.
    #[signal(name = "agent_entry")]
    pub fn agent_entry(&mut self, _ctx: &mut SyncWorkflowContext<Self>, record: AgentRecord) {
        if let Some(driver) = self.driver.as_mut() {
            driver.agent_entry(record.step, record.entry);
        }
    }

    /// A worker asks an operator about an agent's tool call: the step's gate opens with it.
    #[signal(name = "ask_tool")]
    pub fn ask_tool(&mut self, _ctx: &mut SyncWorkflowContext<Self>, ask: ToolAsk) {
        self.heard.push_back(Heard::Ask(ask));
    }

    /// An agent step's conversation so far, for a new attempt of it.
    #[query(name = "conversation")]
    pub fn conversation(&self, _ctx: &WorkflowContextView, step: String) -> Vec<AgentEntry> {
        (self.driver.as_ref())
            .map(|d| d.conversation(&step))
            .unwrap_or_default()
    }

    /// The decision on a tool call a worker asked about (`[step, ask]`), once made.
    #[query(name = "tool_decision")]
    pub fn tool_decision(
        &self,
        _ctx: &WorkflowContextView,
        asked: (String, String),
    ) -> Option<Decision> {
        (self.driver.as_ref()).and_then(|d| d.tool_decision(&asked.0, &asked.1))
    }

    #[update_validator(decide)]
    fn check_decide(
        &self,
        _ctx: &WorkflowContextView,
        request: &DecideRequest,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(driver) = &self.driver else {
            return Err("the run has not started yet".into());
        };
        driver
            .check_decision(&request.step, &request.decision.by)
            .map(|_| ())
            .map_err(Into::into)
    }

    /// An operator's decision on a gate; recorded in the history with who, when and why.
    #[update(name = "decide")]
    pub fn decide(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        request: DecideRequest,
    ) -> String {
        let verb = request.decision.verb().to_string();
        self.heard.push_back(Heard::Decide(request));
        verb
    }

    /// The run, its steps, gates and outputs.
    #[query(name = "view")]
    pub fn view(&self, _ctx: &WorkflowContextView) -> Option<RunView> {
        self.driver.as_ref().map(|d| d.view().clone())
    }

    /// Whether it is paused: what running steps' activities poll.
    #[query(name = "freeze")]
    pub fn freeze(&self, _ctx: &WorkflowContextView) -> Freeze {
        self.driver
            .as_ref()
            .map_or(Freeze::Running, |d| d.view().freeze)
    }

    /// The logs of its ended steps, with the engine's own lines.
    #[query(name = "logs")]
    pub fn logs(&self, _ctx: &WorkflowContextView) -> Vec<LogLine> {
        self.driver
            .as_ref()
            .map(|d| d.logs().to_vec())
            .unwrap_or_default()
    }
}

fn with_driver<T: Default>(ctx: &Ctx, f: impl FnOnce(&mut Driver) -> T) -> T {
    ctx.state_mut(|s| s.driver.as_mut().map(f).unwrap_or_default())
}

/// The workflow's moment: its time for records, the time since `origin` as its monotonic one.
fn now(ctx: &Ctx, origin: Option<Now>) -> Now {
    let wall = ctx
        .workflow_time()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let wall = Timestamp(wall.as_millis() as u64);
    let mono = match origin {
        Some(o) => Duration::from_millis(wall.millis_since(o.wall)),
        None => Duration::ZERO,
    };
    Now { wall, mono }
}

/// A random draw in [0, 1) from the workflow's seeded randomness (a retry's jitter).
fn unit(ctx: &Ctx) -> f64 {
    ctx.random::<f64>()
}

/// Starts the activities and timers the driver ordered, and cancels on its word.
fn carry_out<'a>(ctx: &'a Ctx, orders: Vec<Order>, pending: &mut Vec<Pending<'a>>) {
    for order in orders {
        match order {
            Order::Run {
                idx,
                item,
                task,
                queue,
            } => {
                let fut = ctx.execute_activity(StepActivities::step, *task, step_options(queue));
                pending.push(Pending::Step {
                    slot: (idx, item),
                    fut: Box::pin(fut),
                });
            }
            Order::Outputs { task, queue } => {
                let fut = ctx.execute_activity(StepActivities::step, *task, step_options(queue));
                pending.push(Pending::Outputs { fut: Box::pin(fut) });
            }
            Order::Child { idx, id, input } => {
                let options = ChildWorkflowOptions::builder()
                    .workflow_id(id)
                    .task_queue(input.queue.clone())
                    .build();
                let start = ctx.start_child_workflow(BatonRun::run, *input, options);
                let fut = async move {
                    let started = start.await.map_err(|e| format!("could not start: {e}"))?;
                    started.result().await.map_err(|e| {
                        if e.as_cancelled().is_some() {
                            "cancelled".to_string()
                        } else {
                            e.to_string()
                        }
                    })
                };
                pending.push(Pending::Child {
                    idx,
                    fut: Box::pin(fut),
                });
            }
            Order::FreezeChild { id, pause } => {
                let child = ctx.external_workflow(id, None);
                let options = SignalWorkflowOptions::default();
                let sent = if pause {
                    Box::pin(child.signal(BatonRun::pause, (), options))
                        as Pin<Box<dyn Future<Output = _>>>
                } else {
                    Box::pin(child.signal(BatonRun::resume, (), options))
                };
                // A child that has just ended refuses: its end is what comes next.
                let fut = async move {
                    let _ = sent.await;
                };
                pending.push(Pending::Quiet { fut: Box::pin(fut) });
            }
            Order::Sleep { wake, after } => {
                let fut = ctx.timer(after);
                pending.push(Pending::Timer {
                    wake,
                    fut: Box::pin(fut),
                });
            }
            Order::CancelSteps => {
                for p in pending.iter() {
                    match p {
                        Pending::Step { fut, .. } => fut.cancel(),
                        Pending::Timer { fut, .. } => fut.cancel(),
                        Pending::Outputs { fut } => fut.cancel(),
                        // Cancelled with the workflow, which they inherit.
                        Pending::Child { .. } | Pending::Quiet { .. } => {}
                    }
                }
            }
            Order::CancelItems(of) => {
                for p in pending.iter() {
                    if let Pending::Step {
                        slot: (idx, Some(_)),
                        fut,
                    } = p
                        && *idx == of
                    {
                        fut.cancel();
                    }
                }
            }
        }
    }
}

/// A step's activity: on `queue`, heartbeating, cancelled only once its worker has stopped
/// the step's processes.
fn step_options(queue: String) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(7 * 86_400))
        .task_queue(queue)
        .heartbeat_timeout(HEARTBEAT_TIMEOUT)
        .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
        .build()
}

/// Waits for the first of: a step's activity or a timer (in the order they were started), a
/// queued message, the workflow's cancellation (once).
async fn next(ctx: &Ctx, pending: &mut Vec<Pending<'_>>, cancel_seen: bool) -> Next {
    // Its own token, never cancelled: one inheriting the workflow's would be ready at once,
    // forever, once the run is cancelled, and the run method would spin without yielding to
    // the SDK (so the cancelled steps' results would never come in).
    let options = WaitConditionOptions::builder()
        .cancellation_token(WorkflowCancellationToken::new())
        .build();
    let mut heard =
        Box::pin(ctx.wait_condition_with_options(|s: &BatonRun| !s.heard.is_empty(), options));
    let mut cancelled = Box::pin(ctx.cancelled());
    std::future::poll_fn(|cx| {
        for i in 0..pending.len() {
            let ready = match &mut pending[i] {
                Pending::Step { slot, fut } => match fut.as_mut().poll(cx) {
                    Poll::Ready(r) => Some(Next::Step(*slot, Box::new(r))),
                    Poll::Pending => None,
                },
                Pending::Timer { wake, fut } => match fut.as_mut().poll(cx) {
                    Poll::Ready(_) => Some(Next::Woke(*wake)),
                    Poll::Pending => None,
                },
                Pending::Child { idx, fut } => match fut.as_mut().poll(cx) {
                    Poll::Ready(r) => Some(Next::Child(*idx, r)),
                    Poll::Pending => None,
                },
                Pending::Outputs { fut } => match fut.as_mut().poll(cx) {
                    Poll::Ready(r) => Some(Next::Outputs(Box::new(r))),
                    Poll::Pending => None,
                },
                Pending::Quiet { fut } => match fut.as_mut().poll(cx) {
                    Poll::Ready(()) => Some(Next::Quiet),
                    Poll::Pending => None,
                },
            };
            if let Some(next) = ready {
                pending.remove(i);
                return Poll::Ready(next);
            }
        }
        if let Poll::Ready(Ok(())) = heard.as_mut().poll(cx) {
            return Poll::Ready(Next::Heard);
        }
        if !cancel_seen && cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Next::Cancelled);
        }
        Poll::Pending
    })
    .await
}

/// An activity that ended without a result of ours (cancelled before it started, or failed
/// in a way the server reports): the step's attempt ended so.
fn lost(e: &ActivityExecutionError) -> StepDone {
    let cancelled = matches!(e, ActivityExecutionError::Cancelled(_));
    StepDone {
        output: None,
        error: Some(if cancelled {
            "cancelled".to_string()
        } else {
            format!("its activity failed: {e}")
        }),
        exit_code: None,
        retryable: !cancelled,
        cancelled,
        log: Vec::new(),
        worker: String::new(),
        gate: None,
        items: None,
        call: None,
        metrics: None,
    }
}

/// The workflow's outcome: a cancelled run ends the workflow cancelled, a failed one failed.
fn finish(end: RunEnd) -> WorkflowResult<RunEnd> {
    match end.state {
        RunState::Succeeded => Ok(end),
        RunState::Cancelled => Err(WorkflowTermination::cancelled()),
        _ => {
            let why = end.reason.clone();
            let why = why.unwrap_or_else(|| format!("run {}", end.state.as_str()));
            Err(ApplicationFailure::non_retryable(why).into())
        }
    }
}
