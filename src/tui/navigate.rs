//! Getting around quickly: jump to the next failed, running or waiting step (or run), the runs
//! list's order and pinning, and the mouse (the wheel scrolls, a click selects, a click on the
//! selected row opens it).

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use crate::store::{RunRecord, RunState, StepRecord, StepStatus};

use super::app::App;
use super::model::{Pane, Screen};
use super::overlay::Modal;
use super::view::{self, Hit};

/// Rows the wheel moves per notch.
const WHEEL_ROWS: isize = 3;

/// What a jump looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Failed.
    Failed,
    /// Running (or about to retry).
    Running,
    /// Waiting for someone: a gate, a pause.
    Waiting,
}

impl Want {
    fn name(self) -> &'static str {
        match self {
            Want::Failed => "failed",
            Want::Running => "running",
            Want::Waiting => "waiting",
        }
    }

    fn step(self, s: &StepRecord) -> bool {
        match self {
            Want::Failed => s.status == StepStatus::Failed,
            Want::Running => matches!(s.status, StepStatus::Running | StepStatus::Retrying),
            Want::Waiting => {
                matches!(s.status, StepStatus::WaitingApproval | StepStatus::Paused)
            }
        }
    }

    fn run(self, r: &RunRecord, gate_waits: bool) -> bool {
        match self {
            Want::Failed => r.state == RunState::Failed,
            Want::Running => matches!(r.state, RunState::Running | RunState::Pending),
            Want::Waiting => r.state == RunState::Paused || (r.state.is_active() && gate_waits),
        }
    }
}

/// The first index after `from` (wrapping round, `from` itself last) where `is` holds.
fn next_after(from: usize, len: usize, is: impl Fn(usize) -> bool) -> Option<usize> {
    (1..=len).map(|k| (from + k) % len).find(|&i| is(i))
}

impl App {
    /// Selects the next step (in a run) or run (in the list) that is `want`.
    pub(crate) fn jump(&mut self, want: Want) {
        let found = match self.model.screen {
            Screen::Detail => self.model.detail.as_mut().map(|d| {
                let rows = &d.rows;
                let steps = &d.steps;
                let next = next_after(d.selected_row, rows.len(), |r| {
                    // Step rows only: a fan-out's item rows are under their step.
                    rows[r].item.is_none()
                        && rows[r].child.is_none()
                        && steps.get(rows[r].step).is_some_and(|s| want.step(s))
                });
                if let Some(row) = next {
                    d.selected_row = row;
                    d.pane = Pane::Tree;
                }
                (next.is_some(), "step in this run")
            }),
            Screen::Runs => {
                let shown = self.model.filtered_runs();
                let m = &self.model;
                let next = next_after(m.runs_selected, shown.len(), |row| {
                    let r = &m.runs[shown[row]];
                    want.run(r, m.approvals.iter().any(|a| a.run == r.id))
                });
                if let Some(row) = next {
                    self.model.runs_selected = row;
                }
                Some((next.is_some(), "run"))
            }
            Screen::Workflows => None,
        };
        let scoped = self.model.screen == Screen::Detail
            && self
                .model
                .detail
                .as_ref()
                .is_some_and(|d| d.log_view.selected_step_only);
        match found {
            Some((true, _)) if scoped => self.ensure_step_ring(),
            Some((true, _)) => {}
            Some((false, what)) => self.note(format!("no {} {what}", want.name())),
            None => {}
        }
    }

    /// `o`: the runs list's next order, the selected run kept selected.
    pub(crate) fn cycle_sort(&mut self) {
        let selected = self.model.selected_run().map(|r| r.id.clone());
        self.model.runs_sort = self.model.runs_sort.next();
        self.reselect(selected);
        self.note(format!("runs sorted by {}", self.model.runs_sort.name()));
    }

    /// `P`: active runs at the top of the list, or not.
    pub(crate) fn toggle_pin(&mut self) {
        let selected = self.model.selected_run().map(|r| r.id.clone());
        self.model.pin_active = !self.model.pin_active;
        self.reselect(selected);
        self.note(if self.model.pin_active {
            "active runs pinned to the top".to_string()
        } else {
            "active runs no longer pinned".to_string()
        });
    }

    fn reselect(&mut self, run: Option<crate::store::RunId>) {
        let shown = self.model.filtered_runs();
        if let Some(row) =
            run.and_then(|id| shown.iter().position(|&i| self.model.runs[i].id == id))
        {
            self.model.runs_selected = row;
        }
    }

    /// A mouse event; returns whether the screen may have changed. Overlays take no clicks
    /// (a click can never decide a gate); the help overlay scrolls with the wheel.
    pub(crate) fn mouse(&mut self, event: MouseEvent) -> bool {
        let delta = match event.kind {
            MouseEventKind::ScrollUp => -WHEEL_ROWS,
            MouseEventKind::ScrollDown => WHEEL_ROWS,
            MouseEventKind::Down(MouseButton::Left) => 0,
            _ => return false,
        };
        if let Some(top) = self.model.modals.last_mut() {
            return match top {
                Modal::Help(help) if delta != 0 => {
                    help.offset = help.offset.saturating_add_signed(delta);
                    true
                }
                _ => false,
            };
        }
        if self.model.input.is_some() {
            return false;
        }
        let hit = view::hit(self.viewport, &self.model, event.column, event.row);
        if delta != 0 {
            if let (Some(Hit::Tab), Some(d)) = (hit, self.model.detail.as_mut()) {
                d.pane = Pane::Tab;
            } else if let (Some(Hit::Step(_)), Some(d)) = (hit, self.model.detail.as_mut()) {
                d.pane = Pane::Tree;
            }
            self.move_by(delta);
            return true;
        }
        self.click(hit)
    }

    fn click(&mut self, hit: Option<Hit>) -> bool {
        let m = &mut self.model;
        let again = match hit {
            Some(Hit::Run(row)) => std::mem::replace(&mut m.runs_selected, row) == row,
            Some(Hit::Workflow(i)) => std::mem::replace(&mut m.workflows_selected, i) == i,
            Some(Hit::Step(row)) => match m.detail.as_mut() {
                Some(d) => {
                    let was = (d.pane, d.selected_row);
                    d.pane = Pane::Tree;
                    d.selected_row = row;
                    was == (Pane::Tree, row)
                }
                None => false,
            },
            Some(Hit::Tab) => {
                if let Some(d) = m.detail.as_mut() {
                    d.pane = Pane::Tab;
                }
                return true;
            }
            None => return false,
        };
        if again {
            self.open();
        } else if matches!(hit, Some(Hit::Step(_))) {
            self.ensure_step_ring();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::next_after;

    #[test]
    fn the_next_match_wraps_round_and_comes_back_to_itself_last() {
        let odd = |i: usize| i % 2 == 1;
        assert_eq!(next_after(1, 5, odd), Some(3));
        assert_eq!(next_after(3, 5, odd), Some(1));
        assert_eq!(next_after(1, 2, odd), Some(1));
        assert_eq!(next_after(0, 5, |_| false), None);
        assert_eq!(next_after(0, 0, |_| true), None);
    }
}
