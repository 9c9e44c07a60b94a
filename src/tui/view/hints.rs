//! The key hint bar: the keys that do something where the operator is, generated from the
//! keymap (and an open overlay's own table) so remapped keys show as remapped.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::store::StepStatus;
use crate::tui::keymap::{Action, Keymap};
use crate::tui::model::{Model, Pane, Screen, Tab};
use crate::tui::theme::Theme;

/// Draws the hints for the current place.
pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, keymap: &Keymap) {
    let pairs = fit(hints(model, keymap), keymap, area.width as usize);
    let mut spans = Vec::new();
    for (key, label) in pairs {
        spans.push(Span::styled(format!(" {key}"), theme.accent()));
        spans.push(Span::styled(format!(" {label} "), theme.muted()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The hints that fit in `width` columns, in order; `help` and `quit` are kept whatever else
/// is left out, so a narrow terminal still says how to find the rest and how to leave.
fn fit(pairs: Vec<(String, String)>, keymap: &Keymap, width: usize) -> Vec<(String, String)> {
    let wide = |(k, l): &(String, String)| k.chars().count() + l.chars().count() + 3;
    let keep = |(k, _): &(String, String)| {
        [Action::Help, Action::Quit]
            .iter()
            .any(|a| keymap.primary(*a).as_deref() == Some(k.as_str()))
    };
    let mut left = width.saturating_sub(pairs.iter().filter(|p| keep(p)).map(wide).sum());
    pairs
        .into_iter()
        .filter(|p| {
            if keep(p) {
                return true;
            }
            let w = wide(p);
            let fits = w <= left;
            if fits {
                left -= w;
            } else {
                left = 0;
            }
            fits
        })
        .collect()
}

fn hints(model: &Model, keymap: &Keymap) -> Vec<(String, String)> {
    let bound =
        |action: Action, label: &str| keymap.primary(action).map(|k| (k, label.to_string()));
    let fixed = |key: &str, label: &str| Some((key.to_string(), label.to_string()));
    if let Some(top) = model.modals.last() {
        return top.hints(model, keymap);
    }
    let list: Vec<Option<(String, String)>> = if model.input.is_some() {
        vec![fixed("enter", "keep"), fixed("esc", "clear")]
    } else {
        let approvals = (!model.approvals.is_empty())
            .then(|| bound(Action::Approval, "approval"))
            .flatten();
        match model.screen {
            Screen::Runs => vec![
                approvals,
                bound(Action::Open, "open"),
                bound(Action::Filter, "filter"),
                bound(Action::PauseResume, "pause/resume"),
                bound(Action::Cancel, "cancel"),
                bound(Action::NewRun, "new"),
                bound(Action::Plan, "plan"),
                bound(Action::Retry, "retry"),
                bound(Action::Palette, "cmd"),
                bound(Action::Help, "help"),
                bound(Action::Quit, "quit"),
            ],
            Screen::Workflows => vec![
                approvals,
                bound(Action::Open, "start"),
                bound(Action::DryRun, "dry run"),
                bound(Action::Plan, "plan"),
                bound(Action::Back, "back"),
                bound(Action::Palette, "cmd"),
                bound(Action::Help, "help"),
                bound(Action::Quit, "quit"),
            ],
            Screen::Detail => {
                let (pane, tab, searching) = model
                    .detail
                    .as_ref()
                    .map(|d| (d.pane, d.tab, d.log_view.search.is_some()))
                    .unwrap_or((Pane::Tree, Tab::Logs, false));
                let waiting = model.detail.as_ref().is_some_and(|d| {
                    d.selected_step()
                        .is_some_and(|s| s.status == StepStatus::WaitingApproval)
                });
                let failed = model.detail.as_ref().is_some_and(|d| {
                    d.selected_step()
                        .is_some_and(|s| s.status == StepStatus::Failed)
                });
                let open_label = if waiting { "approval" } else { "step log" };
                let mut v = vec![approvals];
                match (pane, tab) {
                    (Pane::Tree, _) => v.extend([
                        bound(Action::Open, open_label),
                        bound(Action::NextPane, "pane"),
                        bound(Action::NextTab, "tab"),
                        bound(Action::PauseResume, "pause/resume"),
                        bound(Action::Cancel, "cancel"),
                        bound(Action::Retry, "retry"),
                        failed.then(|| bound(Action::Repair, "fix")).flatten(),
                        bound(Action::Copy, "copy output"),
                    ]),
                    (Pane::Tab, Tab::Logs) => v.extend([
                        bound(Action::Filter, "search"),
                        searching
                            .then(|| bound(Action::NextMatch, "next"))
                            .flatten(),
                        bound(Action::Follow, "follow"),
                        bound(Action::Wrap, "wrap"),
                        bound(Action::Timestamps, "time"),
                        bound(Action::LogScope, "step/all"),
                        bound(Action::Copy, "copy"),
                        bound(Action::NextPane, "pane"),
                    ]),
                    (Pane::Tab, Tab::Context | Tab::Conversation) => v.extend([
                        bound(Action::Open, "fold"),
                        bound(Action::Copy, "copy"),
                        bound(Action::NextTab, "tab"),
                        bound(Action::NextPane, "pane"),
                    ]),
                    (Pane::Tab, _) => v.extend([
                        bound(Action::Copy, "copy"),
                        bound(Action::NextTab, "tab"),
                        bound(Action::NextPane, "pane"),
                    ]),
                }
                v.extend([
                    bound(Action::Back, "back"),
                    bound(Action::Help, "help"),
                    bound(Action::Quit, "quit"),
                ]);
                v
            }
        }
    };
    list.into_iter().flatten().collect()
}
