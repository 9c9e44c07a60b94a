//! The event loop: one channel gathers keys (an input thread), engine Events (a thread
//! forwarding the broadcast) and signals; the loop sleeps on it, drains every message that has
//! arrived, and draws once — only when something changed, at most 60 times a second, and once
//! a second while a running clock is on screen. Idle, it sleeps without waking.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{self, Event as TermEvent};

use crate::engine::{Backend, Feed, Subscription};
use crate::time::Timestamp;

use super::TuiExit;
use super::app::{App, Msg as AppMsg};
use super::config::TuiConfig;
use super::effect::Effect;
use super::frame::{CLOCK_INTERVAL, FrameLimiter, wait_time};
use super::keymap::Keymap;
use super::terminal::{SignalWatch, TerminalGuard};
use super::theme::Theme;
use super::worker::Worker;

/// Messages buffered between the helper threads and the loop before they wait (a flood of
/// Events beyond this makes the broadcast lag, and the console reloads from the store).
const CHANNEL_CAPACITY: usize = 8192;

/// Most messages handled before a frame is drawn, so a flood cannot starve the screen.
const MAX_BATCH: usize = 20_000;

/// How often the input thread checks whether the console is closing.
const INPUT_POLL: Duration = Duration::from_millis(200);

/// How the console is set up.
#[derive(Debug, Default)]
pub struct TuiOptions {
    /// The `[tui]` table of the config file.
    pub config: TuiConfig,
    /// `--theme` (a name or a path); wins over the config's theme.
    pub theme: Option<String>,
    /// Directories whose workflow files the Workflows view lists (`./workflows`, the config
    /// directory's `workflows/`).
    pub workflow_dirs: Vec<PathBuf>,
    /// The planner (`p`); without it, plan requests are refused with a note.
    pub plans: Option<super::plan::PlanDesk>,
}

enum Msg {
    Input(TermEvent),
    InputEnded(Option<String>),
    App(AppMsg),
    Signal(i32),
}

/// Opens the console on the calling thread until the operator quits; returns their choice.
/// The terminal is restored on every way out (return, error, panic, SIGTERM/SIGHUP).
pub fn run(backend: Arc<dyn Backend>, options: TuiOptions) -> anyhow::Result<TuiExit> {
    let keymap = Keymap::with_overrides(&options.config.keys)?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let choice = options.theme.as_deref().or(options.config.theme.as_deref());
    let theme = Theme::load(choice, no_color)?;
    // Subscribed before anything is read, so no Event falls between a read and the feed.
    let events = backend.subscribe();
    let (mut app, effects) = App::new(
        keymap,
        theme,
        options.config.bell(),
        options.workflow_dirs,
        backend.attached_to(),
        Timestamp::now(),
    );
    app.approval_guard = options.config.approval_guard();

    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(CHANNEL_CAPACITY);
    let signals = SignalWatch::install(tx.clone(), Msg::Signal)?;
    let reply = {
        let tx = tx.clone();
        Arc::new(move |done| {
            let _ = tx.send(Msg::App(AppMsg::Done(Box::new(done))));
        })
    };
    let worker = Worker::spawn(backend.clone(), reply)?;
    let worker = match options.plans {
        Some(desk) => worker.with_plans(desk, backend)?,
        None => worker,
    };
    let mut guard = TerminalGuard::enter(options.config.mouse())?;
    let stop = Arc::new(AtomicBool::new(false));
    let input = spawn_input(tx.clone(), stop.clone())?;
    spawn_forwarder(tx, events)?;

    let mut out = Output::default();
    out.perform(&worker, effects);
    let limiter = FrameLimiter::new(options.config.frame_interval());
    let outcome = event_loop(&mut app, &mut guard, &rx, &worker, &mut out, limiter);

    stop.store(true, Ordering::SeqCst);
    drop(rx);
    // The input thread sees `stop` within INPUT_POLL — unless the terminal hung up, where
    // crossterm spins inside its read and never returns: then it is left behind (the process
    // is about to end).
    let deadline = Instant::now() + INPUT_POLL * 5;
    while !input.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if input.is_finished() {
        let _ = input.join();
    }
    // Before the terminal is let go: ratatui reports a failure to show the cursor with
    // `eprintln!`, which panics when stderr is a terminal that hung up.
    super::terminal::detach_from_dead_terminal();
    drop(guard);
    drop(signals);
    outcome
}

/// What the terminal is to do around the next frame: escape sequences to write after it
/// (bell, OSC 52 copy), a full redraw, a suspend.
#[derive(Default)]
struct Output {
    terminal: Vec<String>,
    redraw: bool,
    suspend: bool,
}

impl Output {
    /// Hands engine effects to the worker and keeps the terminal's for the frame.
    fn perform(&mut self, worker: &Worker, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Bell => self.terminal.push("\x07".into()),
                Effect::Copy(text) => self.terminal.push(super::clipboard::osc52(&text)),
                Effect::Redraw => self.redraw = true,
                Effect::Suspend => self.suspend = true,
                Effect::Exit(_) => {}
                other => worker.submit(other),
            }
        }
    }
}

fn event_loop(
    app: &mut App,
    guard: &mut TerminalGuard,
    rx: &Receiver<Msg>,
    worker: &Worker,
    out: &mut Output,
    mut limiter: FrameLimiter,
) -> anyhow::Result<TuiExit> {
    let mut dirty = true;
    let mut next_clock: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if next_clock.is_some_and(|at| now >= at) {
            dirty = true;
        }
        dirty |= app.take_dirty();
        if std::mem::take(&mut out.suspend) {
            guard.suspend()?;
            dirty = true;
        }
        if std::mem::take(&mut out.redraw) {
            guard.redraw();
            dirty = true;
        }
        if dirty && limiter.ready(now) {
            app.model.now = Timestamp::now();
            app.model.clock = now;
            if let Err(e) = guard.terminal.draw(|frame| app.draw(frame)) {
                // A terminal that went away is a hang-up, whether or not a SIGHUP comes.
                if matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::ENXIO))
                    || e.kind() == std::io::ErrorKind::BrokenPipe
                {
                    return Ok(TuiExit::Signal(libc::SIGHUP));
                }
                return Err(e).context("cannot draw to the terminal");
            }
            for text in std::mem::take(&mut out.terminal) {
                guard.write_raw(&text);
            }
            limiter.drawn(now);
            dirty = false;
            let tick = app.model.clock_running().then(|| now + CLOCK_INTERVAL);
            // The prompt's "keys ignored" hint goes away when its guard lets go.
            next_clock = match (tick, app.model.guard_ends(now)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if let Some(exit) = app.exit {
            return Ok(exit);
        }
        let first = match wait_time(&limiter, dirty, next_clock, Instant::now()) {
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(TuiExit::LeaveInterrupted),
            },
            None => match rx.recv() {
                Ok(msg) => Some(msg),
                Err(_) => return Ok(TuiExit::LeaveInterrupted),
            },
        };
        let mut handled = 0;
        let mut lagged = false;
        let mut next = first;
        while let Some(msg) = next {
            match msg {
                Msg::Input(TermEvent::Key(key)) => {
                    let effects = app.update(AppMsg::Key(key, Instant::now()));
                    out.perform(worker, effects);
                }
                Msg::Input(TermEvent::Resize(..)) => dirty = true,
                Msg::Input(TermEvent::Mouse(mouse)) => {
                    let effects = app.update(AppMsg::Mouse(mouse));
                    out.perform(worker, effects);
                }
                Msg::Input(_) => {}
                Msg::InputEnded(_) if super::terminal::hung_up() => {
                    return Ok(TuiExit::Signal(libc::SIGHUP));
                }
                Msg::InputEnded(reason) => {
                    let reason = reason.unwrap_or_else(|| "the input thread stopped".into());
                    anyhow::bail!("cannot read the terminal's input: {reason}");
                }
                // One reload for a batch of missed Events.
                Msg::App(AppMsg::Lagged) => lagged = true,
                Msg::App(msg) => {
                    let effects = app.update(msg);
                    out.perform(worker, effects);
                }
                Msg::Signal(signal) => return Ok(TuiExit::Signal(signal)),
            }
            if app.exit.is_some() {
                break;
            }
            handled += 1;
            next = if handled < MAX_BATCH {
                match rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return Ok(TuiExit::LeaveInterrupted),
                }
            } else {
                None
            };
        }
        if lagged {
            let effects = app.update(AppMsg::Lagged);
            out.perform(worker, effects);
        }
    }
}

/// Tells the loop the input thread ended, however it ended (even by panic).
struct InputEnded {
    tx: SyncSender<Msg>,
    reason: Option<String>,
    stop: Arc<AtomicBool>,
}

impl Drop for InputEnded {
    fn drop(&mut self) {
        if !self.stop.load(Ordering::SeqCst) {
            let _ = self.tx.try_send(Msg::InputEnded(self.reason.take()));
        }
    }
}

fn spawn_input(tx: SyncSender<Msg>, stop: Arc<AtomicBool>) -> anyhow::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("baton-tui-input".into())
        .spawn(move || {
            let mut ended = InputEnded {
                tx: tx.clone(),
                reason: None,
                stop: stop.clone(),
            };
            while !stop.load(Ordering::SeqCst) {
                match event::poll(INPUT_POLL) {
                    Ok(false) => {}
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.send(Msg::Input(ev)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            ended.reason = Some(e.to_string());
                            return;
                        }
                    },
                    Err(e) => {
                        ended.reason = Some(e.to_string());
                        return;
                    }
                }
            }
        })
        .context("cannot start the input thread")
}

fn spawn_forwarder(tx: SyncSender<Msg>, mut events: Subscription) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("baton-tui-events".into())
        .spawn(move || {
            loop {
                let msg = match events.next_blocking() {
                    Feed::Event(event) => Msg::App(AppMsg::Event(event)),
                    Feed::Lagged => Msg::App(AppMsg::Lagged),
                    Feed::Closed => {
                        let _ = tx.send(Msg::App(AppMsg::EngineClosed));
                        return;
                    }
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        })
        .context("cannot start the event thread")?;
    Ok(())
}
