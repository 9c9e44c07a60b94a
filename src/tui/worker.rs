//! Performs the update's effects away from the UI thread: one thread sends commands and starts
//! runs, another reads; each result comes back as a [`Done`]. Attached to another process,
//! every call is a socket round trip, so the screen never waits for one.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use anyhow::Context;
use indexmap::IndexMap;
use serde_json::Value;

use crate::engine::{Backend, StartRequest};
use crate::spec::StepId;
use crate::store::{LogLine, RunId};

use super::effect::{Done, Effect, Load, LogPage};
use super::logs::RING_CAPACITY;
use super::workflows;

/// Where results go (the runner wraps them into its own messages).
pub type Reply = Arc<dyn Fn(Done) + Send + Sync>;

/// The threads that perform effects.
pub struct Worker {
    commands: Sender<Effect>,
    reads: Sender<Load>,
}

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
                        if let Some(done) = perform(backend.as_ref(), effect) {
                            reply(done);
                        }
                    }
                })
                .context("cannot start the console's command thread")?;
        }
        std::thread::Builder::new()
            .name("baton-tui-reads".into())
            .spawn(move || read_loop(backend.as_ref(), &read_rx, &reply))
            .context("cannot start the console's read thread")?;
        Ok(Worker { commands, reads })
    }

    /// Queues an engine effect (`Send`, `Start`, `Load`); others are the terminal's and are
    /// ignored here.
    pub fn submit(&self, effect: Effect) {
        // A closed channel means the thread ended with the console; nothing is left to do.
        match effect {
            Effect::Load(load) => {
                let _ = self.reads.send(load);
            }
            e @ (Effect::Send { .. } | Effect::Start { .. }) => {
                let _ = self.commands.send(e);
            }
            Effect::Copy(_) | Effect::Bell | Effect::Exit(_) => {}
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

/// Performs one engine effect and returns its result (`None` for the terminal's effects).
pub fn perform(backend: &dyn Backend, effect: Effect) -> Option<Done> {
    let text = |e: anyhow::Error| format!("{e:#}");
    match effect {
        Effect::Send { ticket, command } => {
            let result = backend.send(command.clone()).map_err(text);
            Some(Done::Sent(ticket, command, result))
        }
        Effect::Start {
            ticket,
            path,
            params,
        } => Some(Done::Started(ticket, start(backend, path, params))),
        Effect::Load(load) => Some(read(backend, load)),
        Effect::Copy(_) | Effect::Bell | Effect::Exit(_) => None,
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
    }
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
fn start(
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
