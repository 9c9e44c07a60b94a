//! A fan-out step (`for_each:`) in the step tree: a folding group of item rows under its step
//! row, each with its own state and label; selecting an item scopes the log pane to its lines.

use std::collections::HashMap;

use crate::spec::StepId;
use crate::store::{ItemRecord, StepRecord, item_key};
use crate::tui::model::Detail;

/// Fan-outs with more items than this start folded.
const OPEN_UP_TO: usize = 50;

/// One row of the step tree: a step, or one item of a fan-out step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow {
    /// Index in `Detail::steps`.
    pub step: usize,
    /// The item, for an item row.
    pub item: Option<usize>,
}

/// The tree's rows: steps in `order`, each unfolded fan-out followed by its items.
pub fn tree_rows(
    steps: &[StepRecord],
    order: &[usize],
    folds: &HashMap<StepId, bool>,
) -> Vec<TreeRow> {
    let mut rows = Vec::with_capacity(order.len());
    for &step in order {
        rows.push(TreeRow { step, item: None });
        let rec = &steps[step];
        if !is_folded(rec, folds) {
            rows.extend((0..rec.items.len()).map(|i| TreeRow {
                step,
                item: Some(i),
            }));
        }
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
