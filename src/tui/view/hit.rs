//! What is under a mouse click: the row of a list or the step tree, worked out from the same
//! layout the views draw with.

use ratatui::layout::{Position, Rect};

use super::{body, detail, scroll_offset};
use crate::tui::model::{Model, Screen};

/// Something a click can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A row of the runs list (its index among the rows shown, in order).
    Run(usize),
    /// A workflow file.
    Workflow(usize),
    /// A row of the step tree.
    Step(usize),
    /// The tab content of the run detail.
    Tab,
}

/// What is at column `x`, row `y` of a screen of `area`.
pub fn hit(area: Rect, model: &Model, x: u16, y: u16) -> Option<Hit> {
    let body = body(area, model);
    let at = Position { x, y };
    if !body.contains(at) {
        return None;
    }
    match (model.screen, &model.detail) {
        (Screen::Detail, Some(d)) => {
            let (tree, right) = detail::split(body);
            if right.contains(at) {
                return Some(Hit::Tab);
            }
            let mut inner = tree.inner(ratatui::layout::Margin::new(1, 1));
            if d.selected_step().and_then(detail::step_about).is_some() && inner.height >= 4 {
                inner.height -= 1;
            }
            let offset = scroll_offset(d.selected_row, inner.height as usize, d.rows.len());
            row_in(inner, 0, y, offset, d.rows.len()).map(Hit::Step)
        }
        (Screen::Workflows, _) => {
            let mut inner = body.inner(ratatui::layout::Margin::new(1, 1));
            if inner.height >= 6 {
                // The selected file's about lines (a rule and two lines) take the bottom.
                inner.height -= 3.min(inner.height / 3);
            }
            let len = model.workflows.len();
            let offset = scroll_offset(
                model.workflows_selected,
                inner.height.saturating_sub(1) as usize,
                len,
            );
            row_in(inner, 1, y, offset, len).map(Hit::Workflow)
        }
        _ => {
            let inner = body.inner(ratatui::layout::Margin::new(1, 1));
            let len = model.filtered_runs().len();
            let offset = scroll_offset(
                model.runs_selected,
                inner.height.saturating_sub(1) as usize,
                len,
            );
            row_in(inner, 1, y, offset, len).map(Hit::Run)
        }
    }
}

/// The item at screen row `y` of a list drawn in `inner` below `header` rows, scrolled to
/// `offset`, of `len` items.
fn row_in(inner: Rect, header: u16, y: u16, offset: usize, len: usize) -> Option<usize> {
    let top = inner.y + header;
    if y < top || y >= inner.y + inner.height {
        return None;
    }
    let i = offset + (y - top) as usize;
    (i < len).then_some(i)
}
