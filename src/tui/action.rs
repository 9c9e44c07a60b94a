//! Keys become [`Action`]s through the keymap (the first bound action that applies where the
//! operator is wins), and actions become model changes or `Command`s to the engine.
//! Overlays take their keys first (see `modal_keys.rs`).

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use crate::engine::Command;
use crate::store::{RunState, StepStatus};

use super::TuiExit;
use super::app::App;
use super::effect::{Effect, Load};
use super::json_tree;
use super::keymap::{Action, Key};
use super::model::{InputTarget, LineInput, Pane, Screen, Tab};
use super::navigate::Want;
use super::overlay::{Confirm, Modal, StartForm};
use super::view;

/// The most bytes `y` puts on the clipboard (OSC 52 sequences of more are dropped by many
/// terminals, and tmux stops near here).
pub const COPY_LIMIT: usize = 64 * 1024;

impl App {
    /// Handles one key press at `now` (the approval prompt's guard is measured on it); returns
    /// whether the screen may have changed.
    pub(crate) fn handle_key(&mut self, event: KeyEvent, now: Instant) -> bool {
        if event.kind == KeyEventKind::Release {
            return false;
        }
        self.model.clock = now;
        let key = Key::from_event(&event);
        if !self.model.modals.is_empty() {
            self.modal_key(key, event);
            return true;
        }
        if self.model.input.is_some() {
            self.input_key(event.code);
            return true;
        }
        let action = self.keymap.actions(key).find(|a| self.applies(*a));
        match action {
            Some(action) => {
                self.model.status = None;
                self.perform(action);
                true
            }
            None => false,
        }
    }

    /// Whether `action` means something where the operator is.
    pub fn applies(&self, action: Action) -> bool {
        let m = &self.model;
        let detail = m.screen == Screen::Detail && m.detail.is_some();
        let tab = m.detail.as_ref().map(|d| (d.pane, d.tab));
        let logs_tab = detail && tab.is_some_and(|(_, t)| t == Tab::Logs);
        match action {
            Action::NextMatch | Action::PrevMatch => {
                logs_tab
                    && m.detail
                        .as_ref()
                        .is_some_and(|d| d.log_view.search.is_some())
            }
            Action::Collapse | Action::Expand => {
                let fan_out = m.detail.as_ref().is_some_and(|d| {
                    d.pane == Pane::Tree && d.selected_step().is_some_and(|s| !s.items.is_empty())
                });
                let folds = [
                    Some((Pane::Tab, Tab::Context)),
                    Some((Pane::Tab, Tab::Conversation)),
                ];
                detail && (folds.contains(&tab) || fan_out)
            }
            Action::NextTab | Action::PrevTab | Action::NextPane => detail,
            Action::Follow | Action::Wrap | Action::Timestamps | Action::LogScope => logs_tab,
            Action::Filter => m.screen == Screen::Runs || logs_tab,
            Action::PauseResume | Action::Cancel | Action::Retry => {
                m.screen != Screen::Workflows && m.selected_run().is_some()
            }
            Action::NextFailed | Action::NextRunning | Action::NextWaiting => {
                m.screen != Screen::Workflows
            }
            Action::Sort | Action::Pin => m.screen == Screen::Runs,
            Action::DryRun => m.screen == Screen::Workflows,
            Action::Repair => {
                detail
                    && m.detail.as_ref().is_some_and(|d| {
                        d.pane == Pane::Tree
                            && d.selected_step()
                                .is_some_and(|s| s.status == StepStatus::Failed)
                    })
            }
            Action::Approve | Action::Reject | Action::Later | Action::Yes | Action::No => false,
            Action::Back => m.screen != Screen::Runs || !m.runs_filter.is_empty(),
            _ => true,
        }
    }

    /// Carries out an action.
    pub fn perform(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit(),
            Action::Help => self.model.modals.push(Modal::Help(Default::default())),
            Action::Palette => self.model.modals.push(Modal::Palette(Default::default())),
            Action::Back => self.back(),
            Action::Open => self.open(),
            Action::NextPane => {
                if let Some(d) = self.model.detail.as_mut() {
                    d.pane = match d.pane {
                        Pane::Tree => Pane::Tab,
                        Pane::Tab => Pane::Tree,
                    };
                }
            }
            Action::Filter => self.start_input(),
            Action::Follow => {
                // Following stops on the lines on screen, not at the top of the window.
                let top = view::log_top(self.viewport, &self.model);
                let follow = self.model.detail.as_mut().map(|d| {
                    d.log_view.follow = !d.log_view.follow;
                    if let (false, Some(top)) = (d.log_view.follow, top) {
                        d.log_view.top_seq = top;
                    }
                    d.log_view.follow
                });
                if follow == Some(true) {
                    self.reattach_log();
                }
            }
            Action::Wrap => {
                if let Some(d) = self.model.detail.as_mut() {
                    d.log_view.wrap = !d.log_view.wrap;
                }
            }
            Action::Timestamps => {
                if let Some(d) = self.model.detail.as_mut() {
                    d.log_view.timestamps = !d.log_view.timestamps;
                }
            }
            Action::LogScope => {
                if let Some(d) = self.model.detail.as_mut() {
                    d.log_view.selected_step_only = !d.log_view.selected_step_only;
                    d.log_view.follow = true;
                }
                self.ensure_step_ring();
                self.rerun_search();
            }
            Action::Copy => self.copy(),
            Action::PauseResume => self.pause_resume(),
            Action::Cancel => self.cancel(),
            Action::Approval => self.open_approval(None),
            Action::NewRun => {
                self.reload_workflows();
                self.model.screen = Screen::Workflows;
            }
            Action::Retry => self.retry(),
            Action::Plan => self.open_plan(),
            Action::DryRun => self.dry_run(),
            Action::Repair => self.ask_repair(),
            Action::NextMatch | Action::PrevMatch => {
                if let Some(search) = self
                    .model
                    .detail
                    .as_mut()
                    .and_then(|d| d.log_view.search.as_mut())
                {
                    if action == Action::NextMatch {
                        search.next();
                    } else {
                        search.prev();
                    }
                }
                self.show_current_hit();
            }
            Action::NextTab => self.switch_tab(1),
            Action::PrevTab => self.switch_tab(-1),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::Top if self.in_logs() => self.log_top(),
            Action::Bottom if self.in_logs() => {
                if let Some(d) = self.model.detail.as_mut() {
                    d.log_view.follow = true;
                }
                self.reattach_log();
            }
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Collapse if self.in_tree() => self.fold_items(true),
            Action::Expand if self.in_tree() => self.fold_items(false),
            Action::Collapse if self.in_conversation() => self.talk_fold(Some(true)),
            Action::Expand if self.in_conversation() => self.talk_fold(Some(false)),
            Action::Collapse => self.fold(true),
            Action::Expand => self.fold(false),
            Action::NextFailed => self.jump(Want::Failed),
            Action::NextRunning => self.jump(Want::Running),
            Action::NextWaiting => self.jump(Want::Waiting),
            Action::Sort => self.cycle_sort(),
            Action::Pin => self.toggle_pin(),
            Action::Messages => self.model.modals.push(Modal::Messages(Default::default())),
            Action::Redraw => self.effect(Effect::Redraw),
            Action::Suspend => self.effect(Effect::Suspend),
            Action::Approve | Action::Reject | Action::Later | Action::Yes | Action::No => {}
        }
    }

    /// `q`: close at once when nothing runs (or the runs belong to the baton this console is
    /// attached to, or to Temporal, where they go on without it); else ask what to do with
    /// the active runs.
    pub fn quit(&mut self) {
        let active = (self.model.active_runs().iter())
            .filter(|r| !crate::temporal::is_run_id(r.as_str()))
            .count();
        if active == 0 || self.attached.is_some() {
            self.effect(Effect::Exit(TuiExit::Quit));
        } else {
            self.model
                .modals
                .push(Modal::Confirm(Confirm::Quit { active }));
        }
    }

    fn back(&mut self) {
        match self.model.screen {
            Screen::Detail | Screen::Workflows => self.model.screen = Screen::Runs,
            Screen::Runs => {
                self.model.runs_filter.clear();
                self.model.runs_selected = 0;
            }
        }
    }

    pub(crate) fn open(&mut self) {
        match self.model.screen {
            Screen::Runs => {
                if let Some(run) = self.model.selected_run().map(|r| r.id.clone()) {
                    self.open_run(&run);
                }
            }
            Screen::Workflows => {
                let Some(entry) = self
                    .model
                    .workflows
                    .get(self.model.workflows_selected)
                    .cloned()
                else {
                    return;
                };
                match &entry.error {
                    Some(e) => self.error(e.clone()),
                    None => self
                        .model
                        .modals
                        .push(Modal::StartForm(StartForm::new(entry))),
                }
            }
            Screen::Detail => {
                let Some(d) = self.model.detail.as_mut() else {
                    return;
                };
                match (d.pane, d.tab) {
                    (Pane::Tree, _)
                        if d.selected_step()
                            .is_some_and(|s| s.status == StepStatus::WaitingApproval) =>
                    {
                        let run = d.run.id.clone();
                        let step = d.selected_step().map(|s| s.step.clone());
                        if let Some(step) = step {
                            self.open_approval(Some((&run, &step)));
                        }
                    }
                    (Pane::Tree, _) => {
                        d.pane = Pane::Tab;
                        d.log_view.selected_step_only = true;
                        d.log_view.follow = true;
                        self.ensure_step_ring();
                    }
                    (Pane::Tab, Tab::Conversation) => self.talk_fold(None),
                    (Pane::Tab, Tab::Context) => {
                        let Some(row) = self.context_row() else {
                            return;
                        };
                        if row.container
                            && let Some(d) = self.model.detail.as_mut()
                        {
                            d.context_folds.set(&row.path, !row.folded);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn start_input(&mut self) {
        match self.model.screen {
            Screen::Runs => {
                let text = self.model.runs_filter.clone();
                self.model.input = Some((InputTarget::RunsFilter, LineInput { text }));
            }
            _ => {
                let text = self
                    .model
                    .detail
                    .as_ref()
                    .and_then(|d| d.log_view.search.as_ref())
                    .map(|s| s.query.clone())
                    .unwrap_or_default();
                self.model.input = Some((InputTarget::LogSearch, LineInput { text }));
            }
        }
    }

    /// Keys while a filter or search is typed: live update, `enter` keeps, `esc` clears.
    fn input_key(&mut self, code: KeyCode) {
        let Some((target, mut input)) = self.model.input.take() else {
            return;
        };
        let keep_open = match code {
            KeyCode::Enter => false,
            KeyCode::Esc => {
                input.text.clear();
                false
            }
            other => {
                input.edit(other);
                true
            }
        };
        match target {
            InputTarget::RunsFilter => {
                self.model.runs_filter = input.text.clone();
                self.model.runs_selected = 0;
            }
            InputTarget::LogSearch => {
                self.search(&input.text.clone());
                self.show_current_hit();
            }
        }
        if keep_open {
            self.model.input = Some((target, input));
        }
    }

    fn pause_resume(&mut self) {
        let Some(run) = self.model.selected_run() else {
            return;
        };
        let (id, state) = (run.id.clone(), run.state);
        let command = match state {
            RunState::Running | RunState::Pending => Command::Pause(id.clone()),
            RunState::Paused | RunState::Interrupted => Command::Resume(id.clone()),
            _ => {
                self.note(format!("run {id} is {state}: nothing to pause or resume"));
                return;
            }
        };
        let verb = if matches!(command, Command::Pause(_)) {
            "pausing"
        } else {
            "resuming"
        };
        self.send(command, format!("{verb} run {id}"));
    }

    /// Sends `command`, shown as `working… {doing}` until the engine has it.
    pub(crate) fn send(&mut self, command: Command, doing: String) {
        let ticket = self.ticket(doing);
        self.effect(Effect::Send { ticket, command });
    }

    fn cancel(&mut self) {
        let Some(run) = self.model.selected_run() else {
            return;
        };
        if run.state.is_terminal() {
            let text = format!("run {} is already {}", run.id, run.state);
            self.note(text);
            return;
        }
        let confirm = Confirm::CancelRun {
            run: run.id.clone(),
            workflow: run.workflow.clone(),
        };
        self.model.modals.push(Modal::Confirm(confirm));
    }

    fn retry(&mut self) {
        let Some(run) = self.model.selected_run() else {
            return;
        };
        let (id, state) = (run.id.clone(), run.state);
        if !matches!(state, RunState::Failed | RunState::Cancelled) {
            self.note(format!(
                "run {id} is {state}: only failed or cancelled runs can be retried"
            ));
            return;
        }
        self.send(
            Command::Retry(id.clone()),
            format!("retrying the failed steps of run {id}"),
        );
    }

    fn switch_tab(&mut self, delta: isize) {
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        d.tab = d.tab.shifted(delta, &d.tabs());
        let run = d.run.id.clone();
        match d.tab {
            Tab::Context if d.context.is_none() => self.load(Load::Context(run)),
            Tab::Events | Tab::Conversation if d.events.is_none() => {
                d.history_requested();
                self.load(Load::Events(run))
            }
            _ => {}
        }
    }

    /// Rows a page moves: the height of the main pane.
    fn page(&self) -> usize {
        view::content_rows(self.viewport, &self.model).max(1)
    }

    pub(crate) fn move_by(&mut self, delta: isize) {
        match self.model.screen {
            Screen::Runs => {
                let len = self.model.filtered_runs().len();
                self.model.runs_selected = shift(self.model.runs_selected, delta, len);
            }
            Screen::Workflows => {
                let len = self.model.workflows.len();
                self.model.workflows_selected = shift(self.model.workflows_selected, delta, len);
            }
            Screen::Detail => {
                let Some(d) = self.model.detail.as_mut() else {
                    return;
                };
                match (d.pane, d.tab) {
                    (Pane::Tree, _) => {
                        d.selected_row = shift(d.selected_row, delta, d.rows.len());
                        if d.log_view.selected_step_only {
                            d.log_view.follow = true;
                            self.ensure_step_ring();
                        }
                    }
                    (Pane::Tab, Tab::Logs) => self.scroll_logs(delta),
                    (Pane::Tab, Tab::Context) => {
                        let len = d
                            .context
                            .as_ref()
                            .map(|c| json_tree::rows(c, &d.context_folds).len())
                            .unwrap_or(0);
                        d.context_selected = shift(d.context_selected, delta, len);
                    }
                    (Pane::Tab, Tab::Metrics) => {
                        d.metrics_offset = shift(d.metrics_offset, delta, d.steps.len());
                    }
                    (Pane::Tab, Tab::Events) => {
                        let len = d.events.as_ref().map(Vec::len).unwrap_or(0);
                        d.events_selected = shift(d.events_selected, delta, len);
                    }
                    (Pane::Tab, Tab::Conversation) => self.talk_move(delta),
                }
            }
        }
    }

    /// Scrolls the log pane; going past the first line held asks the store for older ones
    /// (the rows left to go are taken when they come), reaching the bottom follows again.
    fn scroll_logs(&mut self, delta: isize) {
        let rows = view::log_rows(self.viewport, &self.model);
        let Some(d) = self.model.detail.as_ref() else {
            return;
        };
        let ring = d.shown_ring();
        let max_top = ring.len().saturating_sub(rows);
        let top = if d.log_view.follow {
            max_top
        } else {
            ring.index_of_seq(d.log_view.top_seq).min(max_top)
        };
        let target = top as isize + delta;
        let past_top = (-target).max(0) as usize;
        if past_top > 0
            && self.fetch_older()
            && let Some(d) = self.model.detail.as_mut()
        {
            d.log_view.pending_up = past_top;
        }
        let target = target.max(0) as usize;
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        let ring = d.shown_ring();
        if delta > 0 && target >= max_top {
            d.log_view.follow = true;
            self.reattach_log();
            return;
        }
        let seq = ring.get(target).map(|l| l.seq);
        if let Some(seq) = seq {
            d.log_view.follow = false;
            d.log_view.top_seq = seq;
        }
    }

    /// Whether the keys move the log pane.
    fn in_logs(&self) -> bool {
        self.model.screen == Screen::Detail
            && self
                .model
                .detail
                .as_ref()
                .is_some_and(|d| (d.pane, d.tab) == (Pane::Tab, Tab::Logs))
    }

    /// `g`: the first line of the whole log (read from the store when not held).
    fn log_top(&mut self) {
        let step = self.scoped_step();
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        let ring = d.shown_ring();
        if ring.older_in_store {
            let run = d.run.id.clone();
            self.load(Load::LogWindow(run, step, 1));
        } else if let Some(first) = ring.first_seq() {
            d.log_view.top_seq = first;
            d.log_view.follow = false;
        }
    }

    /// Following again: if a scroll-back pushed the newest lines out, load the tail.
    fn reattach_log(&mut self) {
        let detached = self
            .model
            .detail
            .as_ref()
            .is_some_and(|d| d.shown_ring().newer_in_store);
        if detached {
            self.reload_log_tail();
        }
    }

    /// Scrolls so the current search hit is in the middle of the pane; a hit outside the
    /// lines held loads the lines around it.
    pub(crate) fn show_current_hit(&mut self) {
        let rows = view::log_rows(self.viewport, &self.model);
        let step = self.scoped_step();
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        let Some(seq) = d
            .log_view
            .search
            .as_ref()
            .and_then(|s| s.current_hit())
            .map(|h| h.seq)
        else {
            return;
        };
        let ring = d.shown_ring();
        let held =
            ring.first_seq().is_some_and(|f| f <= seq) && ring.last_seq().is_some_and(|l| seq <= l);
        if !held {
            let run = d.run.id.clone();
            self.load(Load::LogWindow(run, step, seq));
            return;
        }
        let index = ring.index_of_seq(seq);
        let top = index.saturating_sub(rows / 2);
        if let Some(line) = ring.get(top) {
            d.log_view.top_seq = line.seq;
            d.log_view.follow = false;
        }
    }

    fn context_row(&self) -> Option<json_tree::JsonRow> {
        let d = self.model.detail.as_ref()?;
        let rows = json_tree::rows(d.context.as_ref()?, &d.context_folds);
        rows.into_iter().nth(d.context_selected)
    }

    fn in_tree(&self) -> bool {
        self.model.screen == Screen::Detail
            && self
                .model
                .detail
                .as_ref()
                .is_some_and(|d| d.pane == Pane::Tree)
    }

    /// ←/→ on a fan-out step (or one of its items) in the tree fold and unfold its items.
    fn fold_items(&mut self, folded: bool) {
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        if d.fold_items(folded) && d.log_view.selected_step_only {
            self.ensure_step_ring();
        }
    }

    fn fold(&mut self, folded: bool) {
        let Some(row) = self.context_row() else {
            return;
        };
        if let Some(d) = self.model.detail.as_mut() {
            if row.container {
                d.context_folds.set(&row.path, folded);
            } else if folded && row.depth > 0 {
                // Folding a leaf folds its parent and selects it.
                if let Some((parent, _)) = row.path.rsplit_once('/') {
                    d.context_folds.set(parent, true);
                    let rows = d
                        .context
                        .as_ref()
                        .map(|c| json_tree::rows(c, &d.context_folds))
                        .unwrap_or_default();
                    if let Some(i) = rows.iter().position(|r| r.path == parent) {
                        d.context_selected = i;
                    }
                }
            }
        }
    }

    /// `y`: copies what is selected (run id, step output, visible log lines, JSON node, event).
    fn copy(&mut self) {
        if self.model.screen == Screen::Detail
            && let Some(d) = self.model.detail.as_ref()
            && d.pane == Pane::Tree
        {
            match d.selected_step() {
                Some(step) => {
                    let load = Load::StepOutput(d.run.id.clone(), step.step.clone());
                    self.load(load);
                }
                None => self.note("nothing to copy here".into()),
            }
            return;
        }
        match self.copy_text() {
            Some(text) => self.copy_out(text),
            None => self.note("nothing to copy here".into()),
        }
    }

    /// Puts `text` on the clipboard (OSC 52): escapes and other control bytes left out (they
    /// are data, and would reach the terminal inside the sequence), at most `COPY_LIMIT` bytes
    /// (terminals drop longer sequences whole).
    pub(crate) fn copy_out(&mut self, text: String) {
        let mut clean = text
            .split('\n')
            .map(|line| super::text::strip_ansi(line).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect::<String>();
        if clean.is_empty() {
            return self.note("nothing to copy here".into());
        }
        let cut = clean.len() > COPY_LIMIT;
        if cut {
            let mut end = COPY_LIMIT;
            while !clean.is_char_boundary(end) {
                end -= 1;
            }
            clean.truncate(end);
        }
        let bytes = clean.len();
        self.effect(Effect::Copy(clean));
        if cut {
            self.note(format!(
                "copied the first {bytes} bytes of {} to the clipboard (the most a terminal takes)",
                text.len()
            ));
        } else {
            self.note(format!("copied {bytes} bytes to the clipboard"));
        }
    }

    fn copy_text(&self) -> Option<String> {
        match self.model.screen {
            Screen::Runs => self.model.selected_run().map(|r| r.id.0.clone()),
            Screen::Workflows => self
                .model
                .workflows
                .get(self.model.workflows_selected)
                .map(|w| w.path.display().to_string()),
            Screen::Detail => {
                let rows = view::log_rows(self.viewport, &self.model);
                let d = self.model.detail.as_ref()?;
                match (d.pane, d.tab) {
                    (Pane::Tree, _) => None,
                    (Pane::Tab, Tab::Logs) => {
                        let ring = d.shown_ring();
                        if let Some(hit) = d.log_view.search.as_ref().and_then(|s| s.current_hit())
                        {
                            let i = ring.index_of_seq(hit.seq);
                            return ring.get(i).map(|l| l.plain().into_owned());
                        }
                        let end = if d.log_view.follow {
                            ring.len()
                        } else {
                            (ring.index_of_seq(d.log_view.top_seq) + rows).min(ring.len())
                        };
                        let start = end.saturating_sub(rows);
                        let lines: Vec<String> = (start..end)
                            .filter_map(|i| ring.get(i).map(|l| l.plain().into_owned()))
                            .collect();
                        Some(lines.join("\n"))
                    }
                    (Pane::Tab, Tab::Context) => {
                        let row = self.context_row()?;
                        let value = json_tree::value_at(d.context.as_ref()?, &row.path)?;
                        serde_json::to_string_pretty(value).ok()
                    }
                    (Pane::Tab, Tab::Metrics) => {
                        let step = d.steps.get(d.metrics_offset)?;
                        serde_json::to_string_pretty(step).ok()
                    }
                    (Pane::Tab, Tab::Events) => {
                        let event = d.events.as_ref()?.get(d.events_selected)?;
                        serde_json::to_string(event).ok()
                    }
                    (Pane::Tab, Tab::Conversation) => super::conversation_keys::talk_copy(d),
                }
            }
        }
    }
}

/// `index` moved by `delta` within `0..len`.
fn shift(index: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let moved = index as isize + delta.clamp(-(len as isize), len as isize);
    moved.clamp(0, len as isize - 1) as usize
}

#[cfg(test)]
mod tests {
    use super::{COPY_LIMIT, shift};
    use crate::tui::App;
    use crate::tui::effect::Effect;
    use crate::tui::keymap::Keymap;
    use crate::tui::theme::Theme;

    fn copied(text: &str) -> String {
        let theme = Theme::built_in("dark").expect("the dark theme");
        let (mut app, _) = App::new(
            Keymap::default(),
            theme,
            false,
            vec![],
            None,
            crate::time::Timestamp(0),
        );
        app.copy_out(text.to_string());
        // The next update hands over every effect asked for since the last.
        let effects = app.update(crate::tui::Msg::Lagged);
        match effects.iter().find_map(|e| match e {
            Effect::Copy(text) => Some(text.clone()),
            _ => None,
        }) {
            Some(text) => text,
            None => panic!("no copy in {effects:?}"),
        }
    }

    #[test]
    fn y_copies_without_control_bytes_and_at_most_the_limit() {
        assert_eq!(
            copied("ok \x1b[31mred\x1b[0m \x07bell \x1b]52;c;ZXZpbA==\x07 tab\there\nnext"),
            "ok red bell  tab    here\nnext"
        );
        let big = "é".repeat(COPY_LIMIT);
        let cut = copied(&big);
        assert!(
            cut.len() <= COPY_LIMIT && cut.len() > COPY_LIMIT - 2,
            "{}",
            cut.len()
        );
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn selection_moves_stay_in_bounds() {
        assert_eq!(shift(0, -1, 5), 0);
        assert_eq!(shift(3, 10, 5), 4);
        assert_eq!(shift(2, isize::MIN / 2, 5), 0);
        assert_eq!(shift(2, isize::MAX / 2, 5), 4);
        assert_eq!(shift(7, 1, 0), 0);
    }
}
