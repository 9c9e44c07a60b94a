//! The console's app: the model plus the keymap and the theme, changed only by [`App::update`],
//! which folds a [`Msg`] in — a key, an engine Event, the result of an earlier effect — and
//! returns the [`Effect`]s to perform. It does no I/O: the runner hands the effects to a worker
//! and feeds their results back, so the screen keeps answering while a call is in flight.
//! Keys are handled in `action.rs`; loaded results in `loaded.rs`; drawing is `view::draw`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::spec::StepId;
use crate::store::{Event, RunId, Timestamp};

use super::TuiExit;
use super::effect::{Done, Effect, Load, SearchJob, Ticket};
use super::guard::{DEFAULT_APPROVAL_GUARD, KeyGuard};
use super::keymap::Keymap;
use super::logs::LogSearch;
use super::model::{Model, Status};
use super::overlay::{ApprovalModal, Modal};
use super::theme::Theme;
use super::view;

/// What the update folds in.
#[derive(Debug)]
pub enum Msg {
    /// A key pressed at an instant (the approval prompt's guard is measured on it).
    Key(KeyEvent, Instant),
    /// Something happened in the engine.
    Event(Box<Event>),
    /// An effect's result.
    Done(Box<Done>),
    /// Events were missed: reload from the store.
    Lagged,
    /// The engine stopped sending Events.
    EngineClosed,
    /// A mouse event (only sent when the mouse is on).
    Mouse(crossterm::event::MouseEvent),
}

/// The console: state, keymap and theme.
pub struct App {
    /// What is shown.
    pub model: Model,
    /// Keys.
    pub keymap: Keymap,
    /// Colours.
    pub theme: Theme,
    /// Ring the bell when an approval arrives.
    pub bell: bool,
    /// How long a freshly opened approval prompt ignores keys.
    pub approval_guard: Duration,
    /// Where workflow files are listed from.
    pub workflow_dirs: Vec<PathBuf>,
    /// The other process whose engine this is, when attached to one.
    pub attached: Option<String>,
    /// Set when the console should close, with what the operator chose.
    pub exit: Option<TuiExit>,
    /// The size of the last frame (for paging).
    pub viewport: Rect,
    /// Effects asked for by the message being handled.
    out: Vec<Effect>,
    /// Whether the screen may have changed since the runner last asked.
    dirty: bool,
    next_ticket: u64,
}

impl App {
    /// A console showing nothing yet; the effects load the runs, their undecided gates
    /// (announced by the header and the banner; a prompt opens on the operator's key only) and
    /// the workflow files.
    pub fn new(
        keymap: Keymap,
        theme: Theme,
        bell: bool,
        workflow_dirs: Vec<PathBuf>,
        attached: Option<String>,
        now: Timestamp,
    ) -> (App, Vec<Effect>) {
        let mut model = Model::new(now);
        model.theme_name = theme.name.clone();
        model.attached = attached.clone();
        model.utc_offset_s = view::utc_offset_s(now);
        let mut app = App {
            model,
            keymap,
            theme,
            bell,
            approval_guard: DEFAULT_APPROVAL_GUARD,
            workflow_dirs,
            attached,
            exit: None,
            viewport: Rect::new(0, 0, 80, 24),
            out: Vec::new(),
            dirty: true,
            next_ticket: 0,
        };
        if let Some(owner) = app.attached.clone() {
            app.note(format!(
                "attached to {owner}, which owns the store: its runs go on when you quit"
            ));
        }
        app.reload();
        app.load(Load::Workflows(app.workflow_dirs.clone()));
        let effects = std::mem::take(&mut app.out);
        (app, effects)
    }

    /// Folds one message in; returns what to do about it.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Key(key, now) => self.dirty |= self.handle_key(key, now),
            Msg::Event(event) => self.dirty |= self.apply_event(&event),
            Msg::Done(done) => {
                self.loaded(*done);
                self.dirty = true;
            }
            Msg::Lagged => self.reload(),
            Msg::EngineClosed => {
                let text = match self.attached.clone() {
                    Some(owner) => {
                        self.model.attached = Some(format!("{owner}, which has exited"));
                        format!("{owner} has exited; quit and open `baton` again to own the store")
                    }
                    None => "the engine stopped sending events; showing the store as it was".into(),
                };
                self.error(text);
                self.dirty = true;
            }
            Msg::Mouse(event) => {
                if self.mouse(event) {
                    self.dirty = true;
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    /// Whether the screen may have changed since the last call (then it is drawn).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::replace(&mut self.dirty, false)
    }

    /// Asks for an effect.
    pub(crate) fn effect(&mut self, effect: Effect) {
        if let Effect::Exit(exit) = &effect {
            self.exit = Some(*exit);
        }
        self.out.push(effect);
    }

    /// Asks for a read.
    pub(crate) fn load(&mut self, load: Load) {
        self.effect(Effect::Load(load));
    }

    /// A fresh ticket, shown as `working… {doing}` until its result comes back.
    pub(crate) fn ticket(&mut self, doing: String) -> Ticket {
        self.next_ticket += 1;
        let ticket = Ticket(self.next_ticket);
        self.model.working.push((ticket, doing));
        ticket
    }

    /// Rebuilds the cache from the store (at start, and when Events were missed).
    pub fn reload(&mut self) {
        self.load(Load::Runs);
        if let Some(run) = self.model.detail.as_ref().map(|d| d.run.id.clone()) {
            self.refresh_detail(&run);
        }
    }

    /// Folds one Event in; returns whether the screen may have changed.
    fn apply_event(&mut self, event: &Event) -> bool {
        if let Some(opening) = self.model.opening.as_mut()
            && opening.run == event.run
            && let crate::store::EventKind::Log { line } = &event.kind
        {
            opening.buffer(line);
        }
        let applied = self.model.apply(event);
        if let Some(run) = applied.refresh {
            self.refresh_run(run);
        }
        if let Some(parent) = self
            .model
            .detail
            .as_ref()
            .and_then(|d| d.child_changed(event))
        {
            self.load(Load::Children(parent));
        }
        // A gate announces itself (header, banner, bell) and never takes the keyboard: a key
        // typed for the view in front must not land in a prompt that just appeared.
        if applied.approval_arrived && self.bell {
            self.effect(Effect::Bell);
        }
        applied.changed || applied.approval_arrived
    }

    /// Reads a run's record again, once at a time: a flood of Events asks once more after the
    /// read in flight.
    fn refresh_run(&mut self, run: RunId) {
        match self.model.refreshing.get_mut(&run) {
            Some(again) => *again = true,
            None => {
                self.model.refreshing.insert(run.clone(), false);
                self.load(Load::Run(run));
            }
        }
    }

    /// A run's record came back: ask again if Events changed it meanwhile.
    pub(crate) fn refreshed(&mut self, run: &RunId) {
        if self.model.refreshing.remove(run) == Some(true) {
            self.refresh_run(run.clone());
        }
    }

    /// Opens the prompt of `gate` (a run and step), or of the oldest undecided gate not being
    /// decided already, unless a prompt is open. Keys are ignored for `approval_guard` from
    /// `model.clock`.
    pub fn open_approval(&mut self, gate: Option<(&RunId, &StepId)>) {
        if self
            .model
            .modals
            .iter()
            .any(|m| matches!(m, Modal::Approval(_)))
        {
            return;
        }
        let deciding = &self.model.deciding;
        let record = match gate {
            Some((run, step)) => self
                .model
                .approvals
                .iter()
                .find(|a| a.run == *run && a.step == *step),
            None => self
                .model
                .approvals
                .iter()
                .find(|a| !deciding.contains(&(a.run.clone(), a.step.clone()))),
        };
        match record {
            Some(record) => {
                let guard = KeyGuard::opened(self.model.clock, self.approval_guard);
                let modal = ApprovalModal::new(record, guard);
                self.model.modals.push(Modal::Approval(modal));
            }
            None => self.note("no approval is pending".into()),
        }
    }

    /// Draws the whole screen.
    pub fn draw(&mut self, frame: &mut Frame) {
        self.viewport = frame.area();
        view::draw(frame, &self.model, &self.theme, &self.keymap);
    }

    /// Shows an error in the status line.
    pub fn error(&mut self, text: String) {
        self.say(Status { text, error: true });
    }

    /// Shows a note in the status line.
    pub fn note(&mut self, text: String) {
        self.say(Status { text, error: false });
    }

    /// Shows `status` and keeps it in the message history.
    fn say(&mut self, status: Status) {
        let messages = &mut self.model.messages;
        messages.push_back((self.model.now, status.clone()));
        if messages.len() > super::model::MESSAGES_KEPT {
            messages.pop_front();
        }
        self.model.status = Some(status);
    }

    /// Opens the detail view of `run` once it is loaded; its live lines are kept meanwhile.
    pub fn open_run(&mut self, run: &RunId) {
        let mut opening = super::model::Opening::new(run.clone());
        // Lines it printed before it was opened (they may not be stored yet).
        let recent = std::mem::take(&mut self.model.recent_lines);
        for (of, line) in recent {
            if of == *run {
                opening.lines.push_back(line);
            } else {
                self.model.recent_lines.push_back((of, line));
            }
        }
        self.model.opening = Some(opening);
        self.load(Load::Detail(run.clone()));
    }

    /// Reloads the open run's records, keeping the view state.
    pub fn refresh_detail(&mut self, run: &RunId) {
        self.load(Load::Detail(run.clone()));
        let Some(d) = self.model.detail.as_ref() else {
            return;
        };
        let (context, events) = (d.context.is_some(), d.events.is_some());
        if d.log_view.follow {
            self.reload_log_tail();
        } else if let Some(d) = self.model.detail.as_mut() {
            // Not following, the lines being read stay; the newest are read when following
            // again.
            d.shown_ring_mut().newer_in_store = true;
        }
        if context {
            self.load(Load::Context(run.clone()));
        }
        if events {
            if let Some(d) = self.model.detail.as_mut() {
                d.history_requested();
            }
            self.load(Load::Events(run.clone()));
        }
    }

    /// Loads the shown ring's newest lines again (follow re-attached, or after a reload).
    pub fn reload_log_tail(&mut self) {
        let Some(d) = self.model.detail.as_ref() else {
            return;
        };
        let run = d.run.id.clone();
        let step = self.scoped_step();
        self.load(Load::LogTail(run, step));
    }

    /// The step the log pane is scoped to, if any.
    pub fn scoped_step(&self) -> Option<StepId> {
        let d = self.model.detail.as_ref()?;
        if d.log_view.selected_step_only {
            d.selected_log_key()
        } else {
            None
        }
    }

    /// Makes sure the scoped step's ring is loaded.
    pub fn ensure_step_ring(&mut self) {
        let Some(step) = self.scoped_step() else {
            return;
        };
        let loaded = self
            .model
            .detail
            .as_ref()
            .is_some_and(|d| d.logs_step.contains_key(&step));
        if !loaded {
            self.reload_log_tail();
        } else {
            self.rerun_search();
        }
    }

    /// Asks for a page of lines older than the shown ring's first; returns whether it did.
    pub fn fetch_older(&mut self) -> bool {
        let Some(d) = self.model.detail.as_ref() else {
            return false;
        };
        let ring = d.shown_ring();
        let Some(first) = ring.first_seq().filter(|_| ring.older_in_store) else {
            return false;
        };
        let run = d.run.id.clone();
        let step = self.scoped_step();
        self.load(Load::LogBefore(run, step, first));
        true
    }

    /// Searches the whole log again for the active query (the scope changed).
    pub fn rerun_search(&mut self) {
        let query = self
            .model
            .detail
            .as_ref()
            .and_then(|d| d.log_view.search.as_ref())
            .map(|s| s.query.clone());
        if let Some(query) = query {
            self.search(&query);
        }
    }

    /// Starts a search of the shown log's whole stored text (`None` when `query` is empty);
    /// hits stream in, a newer search stops this one.
    pub fn search(&mut self, query: &str) {
        let step = self.scoped_step();
        self.next_ticket += 1;
        let generation = self.next_ticket;
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        if query.is_empty() {
            d.log_view.search = None;
            return;
        }
        // Lines held are searched at once; the store's answer merges in.
        let mut search = LogSearch::whole_log(query, generation);
        search.extend(d.shown_ring().iter());
        search.current = search.hits.len().saturating_sub(1);
        d.log_view.search = Some(search);
        let job = SearchJob {
            generation,
            run: d.run.id.clone(),
            step,
            query: query.to_string(),
        };
        self.effect(Effect::Search(job));
    }

    /// Lists the workflow files again.
    pub fn reload_workflows(&mut self) {
        self.load(Load::Workflows(self.workflow_dirs.clone()));
    }
}
