//! Performs the update's effects away from the UI thread: one thread sends commands and starts
//! runs, another reads; each result comes back as a [`Done`]. Attached to another process,
//! every call is a socket round trip, so the screen never waits for one.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::Context;
use indexmap::IndexMap;
use serde_json::Value;

use crate::engine::{Backend, StartRequest};
use crate::spec::StepId;
use crate::store::{LogLine, RunId};

use super::effect::{Done, Effect, Found, Load, LogPage, SearchJob};
use super::logs::{LogEntry, RING_CAPACITY, SearchHit};
use super::plan::{PlanDesk, PlanThreads};
use super::{text, workflows};

/// Where results go (the runner wraps them into its own messages).
pub type Reply = Arc<dyn Fn(Done) + Send + Sync>;

/// The threads that perform effects.
pub struct Worker {
    commands: Sender<Effect>,
    reads: Sender<Load>,
    searches: Sender<SearchJob>,
    /// The newest search; an older one stops at its next page.
    newest: Arc<AtomicU64>,
    /// The planner's threads, when the console has a planner desk.
    plans: Option<PlanThreads>,
    reply: Reply,
}

/// Why a plan job is refused where there is no planner desk.
const NO_PLANNER: &str = "this console has no planner (it was opened without a config)";

/// Lines read from the store per page of a whole-log search.
const SEARCH_PAGE: usize = 5_000;

impl Worker {
    /// Starts the threads; results are handed to `reply`.
    pub fn spawn(backend: Arc<dyn Backend>, reply: Reply) -> anyhow::Result<Worker> {
        let (commands, command_rx) = channel::<Effect>();
        let (reads, read_rx) = channel::<Load>();
        {
            let (backend, reply) = (backend.clone(), reply.clone());
            std::thread::Builder::new()
                .name("baton-tui-commands".into())
                .spawn(move || {
                    for effect in command_rx {
                        perform(backend.as_ref(), effect, &mut |d| reply(d));
                    }
                })
                .context("cannot start the console's command thread")?;
        }
        let (searches, search_rx) = channel::<SearchJob>();
        let newest = Arc::new(AtomicU64::new(0));
        {
            let (backend, reply, newest) = (backend.clone(), reply.clone(), newest.clone());
            std::thread::Builder::new()
                .name("baton-tui-search".into())
                .spawn(move || {
                    for job in search_rx {
                        search(backend.as_ref(), &job, &newest, &mut |d| reply(d));
                    }
                })
                .context("cannot start the console's search thread")?;
        }
        {
            let reply = reply.clone();
            std::thread::Builder::new()
                .name("baton-tui-reads".into())
                .spawn(move || read_loop(backend.as_ref(), &read_rx, &reply))
                .context("cannot start the console's read thread")?;
        }
        Ok(Worker {
            commands,
            reads,
            searches,
            newest,
            plans: None,
            reply,
        })
    }

    /// Starts the planner's threads over `desk` (without them, plan jobs are answered with an
    /// error).
    pub fn with_plans(
        mut self,
        desk: PlanDesk,
        backend: Arc<dyn Backend>,
    ) -> anyhow::Result<Worker> {
        self.plans = Some(PlanThreads::spawn(desk, backend, self.reply.clone())?);
        Ok(self)
    }

    /// Queues an engine effect (`Send`, `Start`, `Load`); others are the terminal's and are
    /// ignored here.
    pub fn submit(&self, effect: Effect) {
        // A closed channel means the thread ended with the console; nothing is left to do.
        match effect {
            Effect::Load(load) => {
                let _ = self.reads.send(load);
            }
            Effect::Search(job) => {
                self.newest.store(job.generation, Ordering::SeqCst);
                let _ = self.searches.send(job);
            }
            e @ (Effect::Send { .. } | Effect::Start { .. }) => {
                let _ = self.commands.send(e);
            }
            Effect::Plan(job) => match &self.plans {
                Some(plans) => plans.submit(job),
                None => {
                    if let Some(done) = super::plan::refused(job, NO_PLANNER) {
                        (self.reply)(done);
                    }
                }
            },
            Effect::Copy(_) | Effect::Bell | Effect::Redraw | Effect::Suspend | Effect::Exit(_) => {
            }
        }
    }
}

/// Reads one at a time; the same read asked again while queued is done once.
fn read_loop(backend: &dyn Backend, rx: &Receiver<Load>, reply: &Reply) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut seen = HashSet::new();
        for load in batch {
            if seen.insert(load.clone()) {
                reply(read(backend, load));
            }
        }
    }
}

/// Performs one engine effect on the calling thread, handing each result to `reply` (none for
/// the terminal's effects).
pub fn perform(backend: &dyn Backend, effect: Effect, reply: &mut dyn FnMut(Done)) {
    let text = |e: anyhow::Error| format!("{e:#}");
    match effect {
        Effect::Send { ticket, command } => {
            let result = backend.send(command.clone()).map_err(text);
            reply(Done::Sent(ticket, command, result));
        }
        Effect::Start {
            ticket,
            path,
            params,
        } => reply(Done::Started(ticket, start(backend, path, params))),
        Effect::Load(load) => reply(read(backend, load)),
        Effect::Search(job) => {
            let newest = AtomicU64::new(job.generation);
            search(backend, &job, &newest, reply);
        }
        Effect::Plan(job) => {
            if let Some(done) = super::plan::refused(job, NO_PLANNER) {
                reply(done);
            }
        }
        Effect::Copy(_) | Effect::Bell | Effect::Redraw | Effect::Suspend | Effect::Exit(_) => {}
    }
}

/// Reads the whole stored log a page at a time, oldest first, and reports each page's hits;
/// stops when a newer search was asked for.
pub fn search(
    backend: &dyn Backend,
    job: &SearchJob,
    newest: &AtomicU64,
    reply: &mut dyn FnMut(Done),
) {
    let mut after = 0;
    let mut scanned = 0u64;
    loop {
        if newest.load(Ordering::SeqCst) != job.generation {
            return;
        }
        let lines = match backend.logs(&job.run, job.step.as_ref(), after, SEARCH_PAGE) {
            Ok(lines) => lines,
            Err(e) => {
                return reply(Done::Found(Found {
                    generation: job.generation,
                    hits: Vec::new(),
                    scanned,
                    finished: Some(Err(format!("{e:#}"))),
                }));
            }
        };
        scanned += lines.len() as u64;
        let hits = lines
            .iter()
            .flat_map(|line| {
                let plain = LogEntry::from_line(line).plain().into_owned();
                text::find_matches(&plain, &job.query)
                    .into_iter()
                    .map(move |range| SearchHit {
                        seq: line.seq,
                        range,
                    })
            })
            .collect();
        let last = lines.len() < SEARCH_PAGE;
        after = lines.last().map(|l| l.seq).unwrap_or(after);
        reply(Done::Found(Found {
            generation: job.generation,
            hits,
            scanned,
            finished: last.then_some(Ok(())),
        }));
        if last {
            return;
        }
    }
}

/// Performs one read.
pub fn read(backend: &dyn Backend, load: Load) -> Done {
    let text = |e: anyhow::Error| format!("{e:#}");
    match load {
        Load::Runs => Done::Runs(runs_and_gates(backend).map_err(text)),
        Load::Run(run) => {
            let result = backend.run(&run).map_err(text);
            Done::Run(run, result)
        }
        Load::Detail(run) => {
            let result = backend
                .run_detail(&run)
                .and_then(|d| Ok(Box::new((d, load_tail(backend, &run, None)?))))
                .map_err(text);
            Done::Detail(run, result)
        }
        Load::LogTail(run, step) => {
            let result = load_tail(backend, &run, step.as_ref()).map_err(text);
            Done::LogTail(run, step, result)
        }
        Load::LogWindow(run, step, seq) => {
            let result = window(backend, &run, step.as_ref(), seq).map_err(text);
            Done::LogWindow(run, step, seq, result)
        }
        Load::LogBefore(run, step, before) => {
            let result =
                fetch_before(backend, &run, step.as_ref(), before, super::logs::PAGE).map_err(text);
            Done::LogBefore(run, step, before, result)
        }
        Load::Context(run) => {
            let result = backend.step_outputs(&run).map_err(text);
            Done::Context(run, result)
        }
        Load::Events(run) => {
            let result = backend.events(&run).map_err(text);
            Done::Events(run, result)
        }
        Load::StepOutput(run, step) => {
            let result = backend.step_output(&run, &step).map_err(text);
            Done::StepOutput(run, step, result)
        }
        Load::Workflows(dirs) => Done::Workflows(workflows::list(&dirs)),
        Load::Children(run) => {
            let result = children(backend, &run).map_err(text);
            Done::Children(run, result)
        }
    }
}

/// Each `workflow:` step of `run` that started a child run, with the child run's steps.
fn children(
    backend: &dyn Backend,
    run: &RunId,
) -> anyhow::Result<Vec<(StepId, Vec<crate::store::StepRecord>)>> {
    let detail = backend.run_detail(run)?;
    let mut out = Vec::new();
    for step in detail.steps {
        if let Some(child) = &step.child_run {
            let steps = backend
                .run_detail(child)
                .with_context(|| format!("cannot read child run {child} of {run}"))?
                .steps;
            out.push((step.step, steps));
        }
    }
    Ok(out)
}

type RunsAndGates = (
    Vec<crate::store::RunRecord>,
    Vec<crate::store::ApprovalRecord>,
);

fn runs_and_gates(backend: &dyn Backend) -> anyhow::Result<RunsAndGates> {
    let runs = backend.runs().context("cannot list runs")?;
    let mut gates = Vec::new();
    for run in runs.iter().filter(|r| r.state.is_active()) {
        let detail = backend
            .run_detail(&run.id)
            .with_context(|| format!("cannot read run {}", run.id))?;
        gates.extend(
            detail
                .approvals
                .into_iter()
                .filter(|a| a.decision.is_none()),
        );
    }
    Ok((runs, gates))
}

/// The file is read and validated again (it may have changed since it was listed) and the
/// params resolved the way the engine will, so problems show in the form, one a line.
pub(super) fn start(
    backend: &dyn Backend,
    path: std::path::PathBuf,
    values: Vec<(String, String)>,
) -> Result<RunId, String> {
    let source = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let wf = crate::spec::parse_str(&source, &path)
        .map_err(|diags| workflows::summary(diags.iter(), diags.len()))?;
    let params: IndexMap<String, Value> = values
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    crate::spec::resolve_params(&wf, &params)?;
    let request = StartRequest {
        source,
        path: Some(path),
        params,
        workdir: None,
    };
    backend.start(request).map_err(|e| format!("{e:#}"))
}

/// Up to a ring's worth of lines around `seq` (half before it), whether older ones are left
/// and whether newer ones are.
fn window(
    backend: &dyn Backend,
    run: &RunId,
    step: Option<&StepId>,
    seq: u64,
) -> anyhow::Result<(LogPage, bool)> {
    let half = RING_CAPACITY / 2;
    let mut page = fetch_before(backend, run, step, seq, half)?;
    let newer = backend.logs(run, step, seq.saturating_sub(1), half)?;
    let more = newer.len() == half;
    page.lines.extend(newer);
    Ok((page, more))
}

/// The newest lines (up to the ring's capacity) and whether older ones exist.
pub(crate) fn load_tail(
    backend: &dyn Backend,
    run: &RunId,
    step: Option<&StepId>,
) -> anyhow::Result<LogPage> {
    // One line more than the ring holds tells whether older lines exist.
    let mut lines = backend.tail_logs(run, step, RING_CAPACITY + 1)?;
    let older = lines.len() > RING_CAPACITY;
    if older {
        lines.remove(0);
    }
    Ok(LogPage { lines, older })
}

/// Up to `want` lines with `seq < before` (the newest of them) and whether older ones exist.
/// Sequence numbers are gap-free per run, so a window of `w` numbers holds at most `w` lines.
pub(crate) fn fetch_before(
    backend: &dyn Backend,
    run: &RunId,
    step: Option<&StepId>,
    before: u64,
    want: usize,
) -> anyhow::Result<LogPage> {
    if before <= 1 || want == 0 {
        return Ok(LogPage {
            lines: Vec::new(),
            older: false,
        });
    }
    let mut window = want as u64;
    loop {
        let after = before.saturating_sub(window + 1);
        let span = (before - 1 - after) as usize;
        let mut lines: Vec<LogLine> = backend.logs(run, step, after, span)?;
        lines.retain(|l| l.seq < before);
        if lines.len() >= want || after == 0 {
            let skip = lines.len().saturating_sub(want);
            let older = skip > 0 || after > 0;
            return Ok(LogPage {
                lines: lines.split_off(skip),
                older,
            });
        }
        window = window.saturating_mul(4);
    }
}
