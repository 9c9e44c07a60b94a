//! `baton run`, `baton resume`, `baton retry`: drive a run in the foreground and print it.
//!
//! Exit codes: 0 the run succeeded; 1 it failed; 2 bad input (the workflow, a param, a flag);
//! 3 it was cancelled; 4 it was interrupted (resume it later), also when the store could not be
//! written (a full disk); 129 (SIGHUP) or 143 (SIGTERM): stopped by that signal, its process
//! groups stopped and the run left interrupted; 130: a second Ctrl-C left at once.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use indexmap::IndexMap;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use tokio::sync::mpsc::UnboundedReceiver;

use super::common::{self, Reach, human_ms};
use super::signals::{Signals, Stop};
use crate::control::{Remote, Role};
use crate::engine::{
    Backend, Command, Engine, Feed, RunControl, RunReader, Subscription, request_from_file,
};
use crate::store::{
    ApprovalRecord, Event, EventKind, LogStream, RunId, RunState, StepRecord, StepStatus,
};

/// How to answer gates and what to print.
#[derive(Debug, Clone, Args)]
pub struct FollowOptions {
    /// Print one JSON event per line instead of readable progress.
    #[arg(long)]
    pub json: bool,
    /// Approve this step's gate without asking (repeatable); recorded in the audit.
    #[arg(long = "approve", value_name = "STEP")]
    pub approve: Vec<String>,
    /// Approve every gate without asking; recorded in the audit.
    #[arg(long)]
    pub approve_all: bool,
    /// Let gates wait for a decision from another shell (`baton approve RUN STEP`, `baton
    /// reject`, or a console attached to this run) instead of asking here or, without a
    /// terminal, rejecting them.
    #[arg(long)]
    pub wait_for_gates: bool,
    /// Print nothing but failures and gates' questions (the exit code says how the run
    /// ended: 0 succeeded, 1 failed, 3 cancelled).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the steps' output as it is, escape sequences included (for pipes); by default
    /// everything but colours is shown escaped (`^[]52;…`).
    #[arg(long)]
    pub raw: bool,
}

/// `baton run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The workflow file (YAML or JSON).
    pub file: PathBuf,
    /// A parameter, `KEY=VALUE` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Print the run's id and return; the run goes on under the baton that owns the store
    /// (started for it if none does). Its gates then wait for `baton approve`.
    #[arg(long, short = 'd', conflicts_with_all = ["json", "quiet", "raw", "wait_for_gates"])]
    pub detach: bool,
    /// Print every step as it would run (commands, requests, prompts; secrets masked; upstream
    /// results as ⟨placeholders⟩) in DAG order, and run nothing; no store is opened.
    #[arg(long, conflicts_with = "detach")]
    pub dry_run: bool,
    /// Run it on the Temporal cluster of `[temporal]` (steps run on `baton worker`s); the
    /// default when the config says `[engine] backend = "temporal"`.
    #[arg(long, conflicts_with = "dry_run")]
    pub temporal: bool,
    #[command(flatten)]
    /// Output and gates.
    pub follow: FollowOptions,
}

/// `baton resume` / `baton retry`.
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// The run id (a unique prefix is enough).
    pub run: String,
    #[command(flatten)]
    /// Output and gates.
    pub follow: FollowOptions,
}

/// Parses `KEY=VALUE` pairs; a key given twice is an error (which one was meant?).
pub fn parse_params(pairs: &[String]) -> anyhow::Result<IndexMap<String, Value>> {
    let mut out = IndexMap::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("`-p {pair}`: write parameters as KEY=VALUE, e.g. `-p env=prod`");
        };
        if k.trim().is_empty() {
            bail!("`-p {pair}`: the parameter name is empty");
        }
        let key = k.trim();
        if let Some(Value::String(first)) = out.get(key) {
            bail!(
                "`-p {key}` is given twice (`{key}={first}` and `{pair}`); give each parameter \
                 once"
            );
        }
        out.insert(key.to_string(), Value::String(v.to_string()));
    }
    Ok(out)
}

/// `baton run FILE`: in this process, or, while a console owns the store, in that console.
pub fn run(data_dir: Option<&Path>, args: RunArgs) -> anyhow::Result<i32> {
    if args.dry_run {
        return super::dry_run::run(data_dir, &args);
    }
    if args.temporal || crate::temporal::settings::is_default(data_dir)? {
        return crate::temporal::run_file(data_dir, &args);
    }
    let params = parse_params(&args.params)?;
    let request = request_from_file(&args.file, params)?;
    if args.detach {
        return super::detach::run_detached(data_dir, &args, request);
    }
    let opened = match common::open_or_ask(data_dir)? {
        Reach::Store(opened) => opened,
        Reach::Owner(owner) => {
            return drive_in_owner(owner, &args.follow, |remote| {
                remote.start_following(request)
            });
        }
    };
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let _socket = common::serve(&engine, Role::Headless, &rt);
    let feed = Source::here(&engine, &args.follow);
    let signals = Signals::install(&rt)?;
    let id = match rt.block_on(async { engine.start_run(request) }) {
        Ok(id) => id,
        Err(e) => {
            errln!("{}", common::Shown::stderr().text(&format!("{e:#}")));
            return Ok(2);
        }
    };
    follow_here(&rt, &engine, &id, feed, signals, &args.follow)
}

/// `baton resume RUN`.
pub fn resume(data_dir: Option<&Path>, args: FollowArgs) -> anyhow::Result<i32> {
    if crate::temporal::is_run_id(&args.run) {
        return crate::temporal::command(data_dir, &args.run, crate::temporal::Op::Resume);
    }
    continue_run(data_dir, args, Engine::resume_run, Command::Resume)
}

/// `baton retry RUN`.
pub fn retry(data_dir: Option<&Path>, args: FollowArgs) -> anyhow::Result<i32> {
    continue_run(data_dir, args, Engine::retry_run, Command::Retry)
}

/// Starts an existing run again (resume or retry: `here` in this process, or the `there`
/// command in the console that owns the store) and follows it.
pub(super) fn continue_run(
    data_dir: Option<&Path>,
    args: FollowArgs,
    here: impl FnOnce(&Engine, &RunId) -> anyhow::Result<()>,
    there: impl FnOnce(RunId) -> Command,
) -> anyhow::Result<i32> {
    let opened = match common::open_or_ask(data_dir)? {
        Reach::Store(opened) => opened,
        Reach::Owner(owner) => {
            return drive_in_owner(owner, &args.follow, |remote| {
                let id = remote.resolve_run(&args.run)?;
                // Subscribed before the command: none of its Events is missed.
                let feed = remote.subscribe_run(&id);
                remote.send(there(id.clone()))?;
                Ok((id, feed))
            });
        }
    };
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let _socket = common::serve(&engine, Role::Headless, &rt);
    let id = opened.store.resolve_run(&args.run)?;
    let feed = Source::here(&engine, &args.follow);
    let signals = Signals::install(&rt)?;
    rt.block_on(async { here(&engine, &id) })?;
    follow_here(&rt, &engine, &id, feed, signals, &args.follow)
}

/// Drives a run in the baton that owns the store (`begin` starts or restarts it there, and
/// subscribes to its Events from before it begins) and follows it over the control socket, as
/// if it ran here: its Events, pushed by the owner, say when it ends.
fn drive_in_owner(
    remote: Remote,
    opts: &FollowOptions,
    begin: impl FnOnce(&Remote) -> anyhow::Result<(RunId, Subscription)>,
) -> anyhow::Result<i32> {
    let rt = common::runtime()?;
    let who = remote.client().owner();
    let signals = Signals::install(&rt)?;
    let (id, feed) = match begin(&remote) {
        Ok((id, feed)) => (id, Source::there(feed)),
        Err(e) => {
            errln!("{}", common::Shown::stderr().text(&format!("{e:#}")));
            return Ok(2);
        }
    };
    if !opts.json {
        errln!("(running in {who}, which owns the store)");
    }
    let give_up = |printer: &mut Printer| {
        printer.note(&format!(
            "left; the run goes on stopping in {who} (`baton show {id}`)"
        ));
    };
    let stops = OnStop {
        give_up: &give_up,
        interrupt: None,
    };
    // The feed says when the run ends (see `Source::There`).
    let done = std::future::pending();
    follow(&rt, &remote, &id, feed, done, signals, opts, &stops)
}

/// What a follower does when told to stop.
struct OnStop<'a> {
    /// A second Ctrl-C: leave at once.
    give_up: &'a dyn Fn(&mut Printer),
    /// SIGHUP or SIGTERM: stop the run here, resumable, then exit (`None`: the run is in
    /// another baton; just leave it running there).
    interrupt: Option<&'a dyn Fn()>,
}

/// Follows a run of this process's engine.
fn follow_here(
    rt: &tokio::runtime::Runtime,
    engine: &Engine,
    id: &RunId,
    feed: Source,
    signals: Signals,
    opts: &FollowOptions,
) -> anyhow::Result<i32> {
    let give_up = |printer: &mut Printer| {
        engine.kill_all_processes();
        printer.note("killed");
    };
    let interrupt = || {
        let _ = engine.interrupt_run(id);
    };
    let stops = OnStop {
        give_up: &give_up,
        interrupt: Some(&interrupt),
    };
    follow(rt, engine, id, feed, engine.wait(id), signals, opts, &stops)
}

/// Where a followed run's Events come from.
enum Source {
    /// This process's engine. Its run has broadcast every Event before it counts as ended.
    Here(tokio::sync::broadcast::Receiver<Event>),
    /// This process's engine, only the Events a quiet follower prints or answers
    /// ([`quiet_wants`]): its thread is not woken for every step's transitions. Sent before
    /// they are broadcast, so all of them too are in before the run counts as ended.
    Picked(UnboundedReceiver<Event>),
    /// Another process, over its socket (read on a thread of its own). Its run's final state
    /// comes as an Event; when Events were missed or the stream ended, the run's record says
    /// whether it has ended.
    There(UnboundedReceiver<Feed>),
}

impl Source {
    /// This process's engine's Events, as many as `opts` prints.
    fn here(engine: &Engine, opts: &FollowOptions) -> Source {
        if opts.quiet && !opts.json {
            Source::Picked(engine.live_events_where(quiet_wants))
        } else {
            Source::Here(engine.live_events())
        }
    }

    /// Another process's Events.
    fn there(mut subscription: Subscription) -> Source {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            loop {
                let item = subscription.next_blocking();
                let closed = matches!(item, Feed::Closed);
                if tx.send(item).is_err() || closed {
                    return;
                }
            }
        });
        Source::There(rx)
    }

    async fn recv(&mut self) -> Feed {
        match self {
            Source::Here(rx) => match rx.recv().await {
                Ok(event) => Feed::Event(Box::new(event)),
                Err(RecvError::Lagged(_)) => Feed::Lagged,
                Err(RecvError::Closed) => Feed::Closed,
            },
            Source::Picked(rx) => rx
                .recv()
                .await
                .map_or(Feed::Closed, |e| Feed::Event(Box::new(e))),
            Source::There(rx) => rx.recv().await.unwrap_or(Feed::Closed),
        }
    }

    /// What is left once this process's run has ended.
    fn rest(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        match self {
            Source::Here(rx) => {
                while let Ok(e) = rx.try_recv() {
                    out.push(e);
                }
            }
            Source::Picked(rx) => {
                while let Ok(e) = rx.try_recv() {
                    out.push(e);
                }
            }
            Source::There(_) => {}
        }
        out
    }

    /// How a run followed from another process ended, when `item` tells: its final state
    /// came, or, after a gap in the stream, its record says it ended (`Some(None)`: the owner
    /// is gone and its end is not known).
    fn end_of(&self, item: &Feed, id: &RunId, runs: &dyn RunReader) -> Option<Option<RunState>> {
        if matches!(self, Source::Here(_) | Source::Picked(_)) {
            return None;
        }
        match item {
            Feed::Event(e) if e.run == *id => match &e.kind {
                EventKind::RunState { state, .. } if state.is_terminal() => Some(Some(*state)),
                _ => None,
            },
            Feed::Event(_) => None,
            Feed::Lagged => runs
                .run(id)
                .ok()
                .filter(|r| r.state.is_terminal())
                .map(|r| Some(r.state)),
            Feed::Closed => Some(
                runs.run(id)
                    .ok()
                    .map(|r| r.state)
                    .filter(|s| s.is_terminal()),
            ),
        }
    }
}

/// The Events a quiet follower prints or answers (see [`Printer::print`]): a failed step, a
/// gate, a run's change of state. The rest (steps that start or succeed, log lines) it would
/// only have been woken for.
fn quiet_wants(e: &Event) -> bool {
    match &e.kind {
        EventKind::Step { record } => record.status == StepStatus::Failed,
        EventKind::ApprovalRequested { .. } | EventKind::RunState { .. } => true,
        _ => false,
    }
}

fn exit_code(state: Option<RunState>) -> i32 {
    match state {
        Some(RunState::Succeeded) => 0,
        Some(RunState::Failed) => 1,
        Some(RunState::Cancelled) => 3,
        _ => 4,
    }
}

/// Prints a run's transitions until `done` says how it ended, answering its gates. The first
/// Ctrl-C cancels the run; a second calls `give_up` and exits at once.
#[allow(clippy::too_many_arguments)]
fn follow(
    rt: &tokio::runtime::Runtime,
    backend: &dyn Backend,
    id: &RunId,
    mut feed: Source,
    done: impl std::future::Future<Output = Option<RunState>>,
    mut signals: Signals,
    opts: &FollowOptions,
    on_stop: &OnStop<'_>,
) -> anyhow::Result<i32> {
    let mut printer = Printer::new(opts);
    if !opts.json
        && let Ok(detail) = backend.run_detail(id)
    {
        printer.header(&detail.run.id, &detail.run.workflow, detail.run.steps_total);
    }
    let interactive = std::io::stdin().is_terminal();
    rt.block_on(async {
        tokio::pin!(done);
        let mut interrupts = 0;
        let mut stopped_by: Option<Stop> = None;
        let mut streaming = true;
        let final_state = loop {
            tokio::select! {
                state = &mut done => {
                    // Print what is still on its way, then stop.
                    for e in feed.rest() {
                        if e.run == *id {
                            printer.print(&e);
                        }
                    }
                    break state;
                }
                item = feed.recv(), if streaming => {
                    let end = feed.end_of(&item, id, backend);
                    match item {
                        Feed::Event(e) if e.run.is_within(id) => {
                            // A child run's Events go to JSON readers; its gates are answered
                            // here like the run's own.
                            let gate = matches!(e.kind, EventKind::ApprovalRequested { .. });
                            if e.run == *id || opts.json || gate {
                                printer.print(&e);
                            }
                            if let EventKind::ApprovalRequested { approval } = &e.kind {
                                answer_gate(backend, approval, opts, interactive, &mut printer).await;
                            }
                        }
                        Feed::Event(_) => {}
                        Feed::Lagged => printer.note("(some events not shown: output too fast)"),
                        Feed::Closed => streaming = false,
                    }
                    if let Some(state) = end {
                        break state;
                    }
                }
                stop = signals.next() => match (stop, on_stop.interrupt) {
                    (Stop::Interrupt, _) => {
                        interrupts += 1;
                        if interrupts == 1 {
                            printer.note("cancelling… (Ctrl-C again to leave at once)");
                            let _ = backend.send(Command::Cancel(id.clone()));
                        } else {
                            (on_stop.give_up)(&mut printer);
                            super::progress::clear();
                            common::flush_own_log();
                            std::process::exit(stop.exit_code());
                        }
                    }
                    (_, Some(interrupt)) if stopped_by.is_none() => {
                        printer.note(&format!("{}: stopping; `baton resume {id}` continues it", stop.name()));
                        stopped_by = Some(stop);
                        interrupt();
                    }
                    (_, Some(_)) => {}
                    (_, None) => {
                        printer.note(&format!("{}: left; the run goes on in the baton that owns the store", stop.name()));
                        super::progress::clear();
                        common::flush_own_log();
                            std::process::exit(stop.exit_code());
                    }
                }
            }
        };
        if !opts.json {
            match backend.run(id) {
                Ok(mut run) => {
                    // A run whose store failed ends without its record saying so (yet).
                    if let (true, Some((state, reason))) = (run.state.is_active(), &printer.end) {
                        run.state = *state;
                        run.reason = reason.clone();
                    }
                    printer.footer(&run)
                }
                Err(_) => printer.note(&format!(
                    "the baton running it has gone; `baton show {id}` tells how it ended"
                )),
            }
        }
        Ok(stopped_by.map_or(exit_code(final_state), Stop::exit_code))
    })
}

async fn answer_gate(
    backend: &dyn Backend,
    approval: &ApprovalRecord,
    opts: &FollowOptions,
    interactive: bool,
    printer: &mut Printer,
) {
    let step = approval.step.clone();
    let preapproved = opts.approve_all || opts.approve.contains(&step.0);
    let (approved, via, comment) = if preapproved {
        let flag = if opts.approve_all {
            "--approve-all".to_string()
        } else {
            format!("--approve {step}")
        };
        (
            true,
            Some(flag.clone()),
            Some(format!("pre-approved with {flag}")),
        )
    } else if opts.wait_for_gates {
        printer.note(&format!(
            "gate `{step}` waits for a decision: `baton approve {run} {step}` or `baton reject \
             {run} {step}` from another shell, or a console attached to this run",
            run = approval.run
        ));
        return;
    } else if interactive && !opts.json {
        let prompt = approval.prompt.clone();
        let answer = tokio::task::spawn_blocking(move || ask_terminal(&prompt)).await;
        match answer {
            Ok(Ok((ok, comment))) => (ok, None, comment),
            _ => (false, None, Some("could not read the answer".into())),
        }
    } else {
        // The decision's log line says it all, with what to pass next time.
        (
            false,
            Some("no terminal".to_string()),
            Some(format!(
                "no terminal to ask on; pass --approve {step} or --approve-all"
            )),
        )
    };
    let decided = backend.send(Command::Decide {
        run: approval.run.clone(),
        step,
        approved,
        via,
        comment,
        inputs: IndexMap::new(),
    });
    if let Err(e) = decided {
        printer.note(&format!("cannot record the decision: {e:#}"));
    }
}

fn ask_terminal(_prompt: &str) -> anyhow::Result<(bool, Option<String>)> {
    let stdin = std::io::stdin();
    let mut out = std::io::stderr();
    loop {
        write!(out, "  approve? [y/n] ")?;
        out.flush()?;
        let mut line = String::new();
        if stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the answer")?
            == 0
        {
            return Ok((false, Some("no answer (end of input)".into())));
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok((true, None)),
            "n" | "no" => {
                write!(out, "  why (optional): ")?;
                out.flush()?;
                let mut why = String::new();
                stdin.lock().read_line(&mut why)?;
                let why = why.trim().to_string();
                return Ok((false, (!why.is_empty()).then_some(why)));
            }
            _ => writeln!(out, "  answer y or n")?,
        }
    }
}

/// Prints events as readable lines or JSON.
struct Printer {
    json: bool,
    quiet: bool,
    color: bool,
    shown: common::Shown,
    last: HashMap<String, (StepStatus, u32)>,
    /// Gates approved without asking (`--approve`, `--approve-all`): nothing to say when quiet.
    approved: (bool, Vec<String>),
    /// How the run ended, as announced.
    end: Option<(RunState, Option<String>)>,
    /// The progress line's step count and start, when one is shown (see `progress.rs`).
    progress: Option<(u32, std::time::Instant)>,
}

impl Printer {
    fn new(opts: &FollowOptions) -> Printer {
        let shown = common::Shown::stdout(opts.raw);
        Printer {
            json: opts.json,
            quiet: opts.quiet,
            color: shown.colour(),
            shown,
            last: HashMap::new(),
            approved: (opts.approve_all, opts.approve.clone()),
            end: None,
            progress: None,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Text from the workflow, a step or the store, safe for the terminal.
    fn safe<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.shown.text(text)
    }

    fn header(&mut self, id: &RunId, workflow: &str, steps: u32) {
        if self.quiet {
            return;
        }
        outln!(
            "{} {} · {steps} steps",
            self.paint("1", &format!("run {id}")),
            self.safe(workflow)
        );
        if !self.json && super::progress::wanted(steps) {
            self.progress = Some((steps, std::time::Instant::now()));
            self.show_progress(true);
        }
    }

    /// Redraws the progress line from the steps seen so far (`now`: whatever the rate).
    fn show_progress(&self, now: bool) {
        let Some((total, started)) = self.progress else {
            return;
        };
        let done = self.last.values().filter(|(s, _)| s.is_terminal()).count() as u32;
        let running = self
            .last
            .values()
            .filter(|(s, _)| matches!(s, StepStatus::Running | StepStatus::Retrying))
            .count() as u32;
        let text = super::progress::text(done, total, running, started.elapsed());
        super::progress::show(text, now);
    }

    fn note(&self, text: &str) {
        if self.json {
            let json = serde_json::json!({"type": "note", "text": text}).to_string();
            outln!("{}", self.shown.json(json));
        } else {
            outln!("{}", self.paint("2", &format!("  {}", self.safe(text))));
        }
    }

    fn footer(&self, run: &crate::store::RunRecord) {
        super::progress::clear();
        let took = match (run.started_at, run.finished_at) {
            (Some(s), Some(f)) => format!(" in {}", human_ms(f.millis_since(s))),
            _ => String::new(),
        };
        let (code, word) = match run.state {
            RunState::Succeeded => ("32;1", "succeeded"),
            RunState::Failed => ("31;1", "failed"),
            RunState::Cancelled => ("33;1", "cancelled"),
            _ => ("33", run.state.as_str()),
        };
        if self.quiet && run.state == RunState::Succeeded {
            return;
        }
        let reason = run
            .reason
            .as_deref()
            .map(|r| format!(": {}", self.safe(r)))
            .unwrap_or_default();
        outln!("run {} {}{took}{reason}", run.id, self.paint(code, word));
    }

    fn print(&mut self, e: &Event) {
        if let EventKind::RunState { state, reason } = &e.kind
            && !state.is_active()
        {
            self.end = Some((*state, reason.clone()));
        }
        if self.json {
            // An agent's unfinished line is for the console; the finished line follows.
            if matches!(e.kind, EventKind::Partial { .. }) {
                return;
            }
            if let Ok(line) = serde_json::to_string(e) {
                outln!("{}", self.shown.json(line));
            }
            return;
        }
        match &e.kind {
            EventKind::Step { record } => self.step(record),
            EventKind::Log { line } if !self.quiet => {
                let text = &*self.shown.line(&line.text);
                match line.stream {
                    LogStream::Stdout => outln!("  {:<14} │ {text}", line.step.0),
                    LogStream::Stderr => {
                        outln!("  {:<14} │ {}", line.step.0, self.paint("33", text))
                    }
                    // The step's ✗ line that follows says it too.
                    LogStream::System if text.starts_with("failed: ") => {}
                    LogStream::System => {
                        outln!("  {:<14} · {}", line.step.0, self.paint("2", text))
                    }
                }
            }
            EventKind::ApprovalRequested { approval }
                if !(self.quiet
                    && (self.approved.0 || self.approved.1.contains(&approval.step.0))) =>
            {
                outln!(
                    "{} {:<14} {}",
                    self.paint("35;1", "?"),
                    approval.step.0,
                    self.paint(
                        "35",
                        &format!("waiting for approval: {}", self.safe(&approval.prompt))
                    )
                );
                if let Some(action) = &approval.action {
                    for l in action.lines() {
                        outln!("    {}", self.safe(l));
                    }
                }
                for (k, v) in &approval.inputs {
                    outln!("    {} = {}", self.safe(k), self.safe(v));
                }
            }
            // The step's log line says who decided.
            EventKind::RunState {
                state: RunState::Paused,
                ..
            } if !self.quiet => self.note("paused"),
            _ => {}
        }
    }

    fn step(&mut self, r: &StepRecord) {
        let key = (r.status, r.attempt);
        if self.last.get(&r.step.0) == Some(&key) || (self.quiet && r.status != StepStatus::Failed)
        {
            return;
        }
        let was = self.last.insert(r.step.0.clone(), key);
        self.show_progress(r.status.is_terminal());
        let id = &r.step.0;
        let attempts = if r.max_attempts > 1 && r.attempt > 0 {
            format!(" (attempt {}/{})", r.attempt, r.max_attempts)
        } else {
            String::new()
        };
        let took = r
            .duration_ms
            .map(|d| format!(" in {}", human_ms(d)))
            .unwrap_or_default();
        match r.status {
            // Past a gate (its own, or one of its agent's calls) the attempt goes on.
            StepStatus::Running if was == Some((StepStatus::WaitingApproval, r.attempt)) => {
                outln!("{} {id:<14} continues", self.paint("36", "▶"))
            }
            StepStatus::Running if r.attempt > 0 => {
                outln!("{} {id:<14} started{attempts}", self.paint("36", "▶"))
            }
            StepStatus::Retrying => outln!(
                "{} {id:<14} {}{attempts}; retrying at {}",
                self.paint("33", "↻"),
                self.safe(r.error.as_deref().unwrap_or("failed")),
                r.retry_at.map(|t| t.clock()).unwrap_or_default()
            ),
            StepStatus::Succeeded => outln!("{} {id:<14} succeeded{took}", self.paint("32", "✓")),
            StepStatus::Cached => outln!("{} {id:<14} cached", self.paint("32", "✓")),
            StepStatus::Skipped => outln!(
                "{} {id:<14} skipped: {}",
                self.paint("2", "○"),
                self.safe(r.skip_reason.as_deref().unwrap_or(""))
            ),
            StepStatus::Failed => outln!(
                "{} {id:<14} failed{took}: {}",
                self.paint("31", "✗"),
                self.safe(r.error.as_deref().unwrap_or(""))
            ),
            StepStatus::Cancelled => outln!("{} {id:<14} cancelled", self.paint("33", "■")),
            _ => {}
        }
    }
}
