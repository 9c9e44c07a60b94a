//! The console's app: the model plus what it needs to talk to the engine (the `Backend`), the
//! keymap and the theme. Loads from the store, folds Events in, fetches logs, outputs and
//! history on demand. Keys are handled in `action.rs`; drawing is `view::draw`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use serde_json::{Map, Value};

use crate::engine::Backend;
use crate::spec::StepId;
use crate::store::{Event, LogLine, RunId, Timestamp};

use super::TuiExit;
use super::guard::{DEFAULT_APPROVAL_GUARD, KeyGuard};
use super::keymap::Keymap;
use super::logs::{LogEntry, LogRing, PAGE, RING_CAPACITY};
use super::modal::{ApprovalModal, Modal};
use super::model::{Detail, Model, Screen, Status};
use super::theme::Theme;
use super::{view, workflows};

/// The console: state, engine handle, keymap and theme.
pub struct App {
    /// What is shown.
    pub model: Model,
    /// The engine.
    pub(crate) backend: Arc<dyn Backend>,
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
    /// Escape sequences to write after the next frame (bell, OSC 52 copy).
    pub terminal_output: Vec<String>,
    /// Set when the console should close, with what the operator chose.
    pub exit: Option<TuiExit>,
    /// The size of the last frame (for paging).
    pub viewport: Rect,
}

impl App {
    /// A console over `backend`, loaded from the store: runs, workflow files and undecided
    /// approvals (announced by the header and the banner; the prompt opens on the operator's
    /// key only).
    pub fn new(
        backend: Arc<dyn Backend>,
        keymap: Keymap,
        theme: Theme,
        bell: bool,
        workflow_dirs: Vec<PathBuf>,
        now: Timestamp,
    ) -> App {
        let mut model = Model::new(now);
        model.theme_name = theme.name.clone();
        let mut app = App {
            model,
            backend,
            keymap,
            theme,
            bell,
            approval_guard: DEFAULT_APPROVAL_GUARD,
            workflow_dirs,
            terminal_output: Vec::new(),
            exit: None,
            viewport: Rect::new(0, 0, 80, 24),
        };
        app.reload();
        app.model.workflows = workflows::list(&app.workflow_dirs);
        if let Some(owner) = app.backend.attached_to() {
            app.note(format!(
                "attached to {owner}, which owns the store: its runs go on when you quit"
            ));
        }
        app
    }

    /// Rebuilds the cache from the store (at start, and when Events were missed).
    pub fn reload(&mut self) {
        match self.backend.runs() {
            Ok(runs) => self.model.set_runs(runs),
            Err(e) => self.error(format!("cannot list runs: {e:#}")),
        }
        let candidates: Vec<RunId> = self
            .model
            .runs
            .iter()
            .filter(|r| r.state.is_active())
            .map(|r| r.id.clone())
            .collect();
        for run in candidates {
            match self.backend.run_detail(&run) {
                Ok(detail) => {
                    for approval in detail.approvals.iter().filter(|a| a.decision.is_none()) {
                        self.model.queue_approval(approval.clone());
                    }
                }
                Err(e) => self.error(format!("cannot read run {run}: {e:#}")),
            }
        }
        if let Some(run) = self.model.detail.as_ref().map(|d| d.run.id.clone()) {
            self.refresh_detail(&run);
        }
    }

    /// Folds one Event in; returns whether the screen may have changed.
    pub fn apply_event(&mut self, event: &Event) -> bool {
        let applied = self.model.apply(event);
        if let Some(run) = applied.refresh {
            match self.backend.run(&run) {
                Ok(record) => self.model.put_run(record),
                Err(e) => self.error(format!("cannot read run {run}: {e:#}")),
            }
        }
        // A gate announces itself (header, banner, bell) and never takes the keyboard: a key
        // typed for the view in front must not land in a prompt that just appeared.
        if applied.approval_arrived && self.bell {
            self.terminal_output.push("\x07".to_string());
        }
        applied.changed || applied.approval_arrived
    }

    /// Opens the prompt of `gate` (a run and step), or of the oldest undecided gate, unless a
    /// prompt is open. Keys are ignored for `approval_guard` from `model.clock`.
    pub fn open_approval(&mut self, gate: Option<(&RunId, &StepId)>) {
        if self
            .model
            .modals
            .iter()
            .any(|m| matches!(m, Modal::Approval(_)))
        {
            return;
        }
        let record = match gate {
            Some((run, step)) => self
                .model
                .approvals
                .iter()
                .find(|a| a.run == *run && a.step == *step),
            None => self.model.approvals.first(),
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
        self.model.status = Some(Status { text, error: true });
    }

    /// Shows a note in the status line.
    pub fn note(&mut self, text: String) {
        self.model.status = Some(Status { text, error: false });
    }

    /// Opens the detail view of `run`.
    pub fn open_run(&mut self, run: &RunId) {
        match self.backend.run_detail(run) {
            Ok(detail) => {
                let mut d = Detail::new(detail);
                match load_tail(self.backend.as_ref(), run, None) {
                    Ok((lines, older)) => d.logs_all.replace(entries(&lines), older),
                    Err(e) => self.error(format!("cannot read the log of run {run}: {e:#}")),
                }
                self.model.detail = Some(d);
                self.model.screen = Screen::Detail;
            }
            Err(e) => self.error(format!("cannot open run {run}: {e:#}")),
        }
    }

    /// Reloads the open run's records, keeping the view state.
    pub fn refresh_detail(&mut self, run: &RunId) {
        let Ok(fresh) = self.backend.run_detail(run) else {
            return;
        };
        if let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == *run) {
            d.run = fresh.run;
            d.approvals = fresh.approvals;
            for step in fresh.steps {
                d.put_step(step);
            }
        }
        self.reload_log_tail();
        if self
            .model
            .detail
            .as_ref()
            .is_some_and(|d| d.context.is_some())
        {
            self.load_context();
        }
        if self
            .model
            .detail
            .as_ref()
            .is_some_and(|d| d.events.is_some())
        {
            self.load_events();
        }
    }

    /// Loads the shown ring's newest lines again (follow re-attached, or after a reload).
    pub fn reload_log_tail(&mut self) {
        let Some(d) = self.model.detail.as_ref() else {
            return;
        };
        let run = d.run.id.clone();
        let step = self.scoped_step();
        match load_tail(self.backend.as_ref(), &run, step.as_ref()) {
            Ok((lines, older)) => {
                if let Some(d) = self.model.detail.as_mut() {
                    let ring = match &step {
                        Some(s) => d.logs_step.entry(s.clone()).or_default(),
                        None => &mut d.logs_all,
                    };
                    ring.replace(entries(&lines), older);
                }
                self.rerun_search();
            }
            Err(e) => self.error(format!("cannot read the log of run {run}: {e:#}")),
        }
    }

    /// The step the log pane is scoped to, if any.
    pub fn scoped_step(&self) -> Option<StepId> {
        let d = self.model.detail.as_ref()?;
        if d.log_view.selected_step_only {
            d.selected_step().map(|s| s.step.clone())
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

    /// Fetches a page of lines older than the shown ring's first; returns whether any came.
    pub fn fetch_older(&mut self) -> bool {
        let Some(d) = self.model.detail.as_ref() else {
            return false;
        };
        let run = d.run.id.clone();
        let step = self.scoped_step();
        let ring = d.shown_ring();
        let Some(first) = ring.first_seq() else {
            return false;
        };
        if !ring.older_in_store {
            return false;
        }
        match fetch_before(self.backend.as_ref(), &run, step.as_ref(), first, PAGE) {
            Ok((lines, older)) => {
                let got = !lines.is_empty();
                if let Some(d) = self.model.detail.as_mut() {
                    let ring = match &step {
                        Some(s) => d.logs_step.entry(s.clone()).or_default(),
                        None => &mut d.logs_all,
                    };
                    ring.prepend(entries(&lines), older);
                }
                self.rerun_search();
                got
            }
            Err(e) => {
                self.error(format!("cannot read the log of run {run}: {e:#}"));
                false
            }
        }
    }

    /// Runs the active search again over the shown ring.
    pub fn rerun_search(&mut self) {
        if let Some(d) = self.model.detail.as_mut()
            && let Some(query) = d.log_view.search.as_ref().map(|s| s.query.clone())
        {
            let search = super::logs::LogSearch::run(&query, d.shown_ring().iter());
            d.log_view.search = Some(search);
        }
    }

    /// Loads params and every step's output for the Context tab.
    pub fn load_context(&mut self) {
        let Some(d) = self.model.detail.as_ref() else {
            return;
        };
        let run = d.run.id.clone();
        let params: Map<String, Value> = d.run.params.clone().into_iter().collect();
        let mut steps = Map::new();
        let mut failure = None;
        let mut stored = match self.backend.step_outputs(&run) {
            Ok(outputs) => outputs,
            Err(e) => {
                failure = Some(format!("cannot read the outputs of {run}: {e:#}"));
                Default::default()
            }
        };
        for step in &d.steps {
            if let Some(output) = stored.remove(&step.step) {
                let mut entry = Map::new();
                entry.insert("output".into(), output.output);
                if !output.outputs.is_empty() {
                    entry.insert(
                        "outputs".into(),
                        Value::Object(output.outputs.into_iter().collect()),
                    );
                }
                if !output.stdout.is_empty() {
                    entry.insert("stdout".into(), Value::String(output.stdout));
                }
                if !output.stderr.is_empty() {
                    entry.insert("stderr".into(), Value::String(output.stderr));
                }
                steps.insert(step.step.0.clone(), Value::Object(entry));
            }
        }
        let mut root = Map::new();
        root.insert("params".into(), Value::Object(params));
        root.insert("steps".into(), Value::Object(steps));
        if let Some(d) = self.model.detail.as_mut() {
            d.context = Some(Value::Object(root));
        }
        if let Some(f) = failure {
            self.error(f);
        }
    }

    /// Loads the run's history for the Events tab.
    pub fn load_events(&mut self) {
        let Some(run) = self.model.detail.as_ref().map(|d| d.run.id.clone()) else {
            return;
        };
        match self.backend.events(&run) {
            Ok(events) => {
                if let Some(d) = self.model.detail.as_mut() {
                    d.events = Some(events);
                }
            }
            Err(e) => self.error(format!("cannot read the history of run {run}: {e:#}")),
        }
    }

    /// Lists the workflow files again.
    pub fn reload_workflows(&mut self) {
        self.model.workflows = workflows::list(&self.workflow_dirs);
        self.model.workflows_selected = self
            .model
            .workflows_selected
            .min(self.model.workflows.len().saturating_sub(1));
    }
}

fn entries(lines: &[LogLine]) -> Vec<Arc<LogEntry>> {
    lines
        .iter()
        .map(|l| Arc::new(LogEntry::from_line(l)))
        .collect()
}

/// The newest lines (up to the ring's capacity) and whether older ones exist.
pub(crate) fn load_tail(
    backend: &dyn Backend,
    run: &RunId,
    step: Option<&StepId>,
) -> anyhow::Result<(Vec<LogLine>, bool)> {
    // One line more than the ring holds tells whether older lines exist.
    let mut lines = backend.tail_logs(run, step, RING_CAPACITY + 1)?;
    let older = lines.len() > RING_CAPACITY;
    if older {
        lines.remove(0);
    }
    Ok((lines, older))
}

/// Up to `want` lines with `seq < before` (the newest of them) and whether older ones exist.
/// Sequence numbers are gap-free per run, so a window of `w` numbers holds at most `w` lines.
pub(crate) fn fetch_before(
    backend: &dyn Backend,
    run: &RunId,
    step: Option<&StepId>,
    before: u64,
    want: usize,
) -> anyhow::Result<(Vec<LogLine>, bool)> {
    if before <= 1 || want == 0 {
        return Ok((Vec::new(), false));
    }
    let mut window = want as u64;
    loop {
        let after = before.saturating_sub(window + 1);
        let span = (before - 1 - after) as usize;
        let mut lines = backend.logs(run, step, after, span)?;
        lines.retain(|l| l.seq < before);
        if lines.len() >= want || after == 0 {
            let skip = lines.len().saturating_sub(want);
            let older = skip > 0 || after > 0;
            return Ok((lines.split_off(skip), older));
        }
        window = window.saturating_mul(4);
    }
}

/// A fresh ring with `lines`.
pub fn ring_of(lines: &[LogLine]) -> LogRing {
    let mut ring = LogRing::default();
    ring.replace(entries(lines), false);
    ring
}
