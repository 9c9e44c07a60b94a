//! A fan-out step (`for_each:`) in the step tree: a folding group of item rows under its step
//! row, each with its own state and label; selecting an item scopes the log pane to its lines.

use std::collections::HashMap;

use crate::spec::StepId;
use crate::store::{ItemRecord, StepRecord, item_key};
use crate::tui::model::Detail;

/// Fan-outs with more items than this start folded.
const OPEN_UP_TO: usize = 50;

/// One row of the step tree: a step, one item of a fan-out step, or one step of the child
/// run a `workflow:` step started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow {
    /// Index in `Detail::steps`.
    pub step: usize,
    /// The item, for an item row.
    pub item: Option<usize>,
    /// The child run's step (index in `Detail::children` of the step), for a child row.
    pub child: Option<usize>,
}

/// The tree's rows: steps in `order`, each unfolded fan-out followed by its items, each
/// `workflow:` step by its child run's steps.
pub fn tree_rows(
    steps: &[StepRecord],
    order: &[usize],
    folds: &HashMap<StepId, bool>,
    children: &HashMap<StepId, Vec<StepRecord>>,
) -> Vec<TreeRow> {
    let mut rows = Vec::with_capacity(order.len());
    for &step in order {
        rows.push(TreeRow {
            step,
            item: None,
            child: None,
        });
        let rec = &steps[step];
        if !is_folded(rec, folds) {
            rows.extend((0..rec.items.len()).map(|i| TreeRow {
                step,
                item: Some(i),
                child: None,
            }));
        }
        let kids = children.get(&rec.step).map_or(0, Vec::len);
        rows.extend((0..kids).map(|c| TreeRow {
            step,
            item: None,
            child: Some(c),
        }));
    }
    rows
}

/// Whether a fan-out's items are hidden (the operator's choice, else by their number).
pub fn is_folded(rec: &StepRecord, folds: &HashMap<StepId, bool>) -> bool {
    folds
        .get(&rec.step)
        .copied()
        .unwrap_or(rec.items.len() > OPEN_UP_TO)
}

impl Detail {
    /// The run to read the child runs of again, when `event` changed one of them (or gave a
    /// `workflow:` step its child).
    pub fn child_changed(&self, event: &crate::store::Event) -> Option<crate::store::RunId> {
        let of_child = self
            .steps
            .iter()
            .any(|s| s.child_run.as_ref() == Some(&event.run));
        let new_child = event.run == self.run.id
            && matches!(&event.kind, crate::store::EventKind::Step { record }
                if record.child_run.is_some() && !self.children.contains_key(&record.step));
        (of_child || new_child).then(|| self.run.id.clone())
    }

    /// The selected item row's index and record.
    pub fn selected_item(&self) -> Option<(usize, &ItemRecord)> {
        let row = self.rows.get(self.selected_row)?;
        let i = row.item?;
        Some((i, self.steps.get(row.step)?.items.get(i)?))
    }

    /// The log stream of the selection: an item's own (`deploy[2]`), or a step's (with its
    /// items' lines).
    pub fn selected_log_key(&self) -> Option<StepId> {
        let step = self.selected_step()?;
        Some(match self.selected_item() {
            Some((i, _)) => item_key(&step.step, i),
            None => step.step.clone(),
        })
    }

    /// Folds or unfolds the selected fan-out (from its step row or one of its items); `false`
    /// when the selection is no fan-out.
    pub fn fold_items(&mut self, folded: bool) -> bool {
        let Some(row) = self.rows.get(self.selected_row).copied() else {
            return false;
        };
        let Some(rec) = self.steps.get(row.step).filter(|s| !s.items.is_empty()) else {
            return false;
        };
        self.item_folds.insert(rec.step.clone(), folded);
        self.reindex();
        // Folding from an item row selects its step.
        if let Some(at) = self
            .rows
            .iter()
            .position(|r| r.step == row.step && (r.item == row.item || folded))
        {
            self.selected_row = at;
        }
        true
    }
}
