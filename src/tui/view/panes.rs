//! The Context (foldable JSON), Metrics (duration bars, retries, waits, tokens) and Events
//! (history) tabs.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{fit, format_ms, row_style, scroll_offset};
use crate::store::EventKind;
use crate::tui::json_tree;
use crate::tui::model::Detail;
use crate::tui::step_totals::StepTotals;
use crate::tui::theme::{Theme, run_icon, step_icon};

fn pane<'a>(title: &str, focused: bool, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .title(Span::styled(format!(" {title} "), theme.accent()))
        .border_style(theme.border(focused))
}

/// Params and step outputs as a JSON tree.
pub fn context(frame: &mut Frame, area: Rect, d: &Detail, focused: bool, theme: &Theme) {
    let block = pane("Context — params and step outputs", focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(root) = &d.context else {
        frame.render_widget(
            Paragraph::new(Line::styled("loading…", theme.muted())),
            inner,
        );
        return;
    };
    let rows = json_tree::rows(root, &d.context_folds);
    let height = inner.height as usize;
    let offset = scroll_offset(d.context_selected, height, rows.len());
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, row)| {
            let marker = match (row.container, row.folded) {
                (true, true) => "▸ ",
                (true, false) => "▾ ",
                _ => "  ",
            };
            let selected = i == d.context_selected && focused;
            let style = row_style(selected, theme);
            Line::from(vec![
                Span::raw("  ".repeat(row.depth)),
                Span::styled(marker, theme.muted()),
                Span::styled(format!("{}: ", row.key), theme.accent().patch(style)),
                Span::styled(
                    row.text.clone(),
                    if row.container {
                        theme.muted()
                    } else {
                        theme.text()
                    }
                    .patch(style),
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Durations per step as bars, retries, approval waits, tokens, and totals.
pub fn metrics(frame: &mut Frame, area: Rect, d: &Detail, focused: bool, theme: &Theme) {
    let block = pane("Metrics", focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let StepTotals {
        total_ms,
        retries,
        waited_ms: waited,
        tokens_in,
        tokens_out,
        failed,
        max_ms,
        ..
    } = d.totals;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("steps ", theme.muted()),
            Span::raw(format!("{} ", d.steps.len())),
            Span::styled("time ", theme.muted()),
            Span::raw(format!("{} ", format_ms(total_ms))),
            Span::styled("retries ", theme.muted()),
            Span::raw(format!("{retries} ")),
            Span::styled("failed ", theme.muted()),
            Span::raw(format!("{failed} ")),
            Span::styled("approval wait ", theme.muted()),
            Span::raw(format_ms(waited)),
        ]),
        Line::from(vec![
            Span::styled("tokens in ", theme.muted()),
            Span::raw(format!("{tokens_in} ")),
            Span::styled("out ", theme.muted()),
            Span::raw(format!("{tokens_out}")),
        ]),
    ];
    let width = inner.width as usize;
    let id_width = 14.min(width / 4);
    let bar_width = width.saturating_sub(id_width + 2 + 8 + 24);
    let rows = (inner.height as usize).saturating_sub(lines.len());
    let offset = d
        .metrics_offset
        .min(d.steps.len().saturating_sub(rows.max(1)));
    for (i, step) in d.steps.iter().enumerate().skip(offset).take(rows) {
        let ms = step.duration_ms.unwrap_or(0);
        let filled = ((ms as u128 * bar_width as u128) / max_ms as u128) as usize;
        let mut extra = Vec::new();
        if step.attempt > 1 {
            extra.push(format!("{} retries", step.attempt - 1));
        }
        if step.approval_wait_ms > 0 {
            extra.push(format!("waited {}", format_ms(step.approval_wait_ms)));
        }
        if let (Some(a), Some(b)) = (step.metrics.tokens_in, step.metrics.tokens_out) {
            extra.push(format!("{a}→{b} tok"));
        }
        if let Some(p) = &step.metrics.provider {
            extra.push(p.clone());
        }
        let style = row_style(focused && i == d.metrics_offset, theme);
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} ", step_icon(step.status)),
                theme.step(step.status),
            ),
            Span::styled(fit(&step.step.0, id_width), style),
            Span::raw(" "),
            Span::styled("█".repeat(filled), theme.bar()),
            Span::raw(" ".repeat(bar_width - filled.min(bar_width))),
            Span::raw(format!(
                " {:>7} ",
                step.duration_ms
                    .map(format_ms)
                    .unwrap_or_else(|| "-".into())
            )),
            Span::styled(extra.join(" · "), theme.muted()),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `● build running · attempt 1/3 · pid 4242`, `✗ test failed · exit 2 · 1.2s: tests failed`:
/// what a step's record says at this point of the history (one status can be recorded several
/// times — started, attempt made, process spawned — and the details tell them apart).
/// The run's history.
pub fn events(frame: &mut Frame, area: Rect, d: &Detail, focused: bool, theme: &Theme) {
    let block = pane("Events", focused, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(events) = &d.events else {
        frame.render_widget(
            Paragraph::new(Line::styled("loading…", theme.muted())),
            inner,
        );
        return;
    };
    let height = inner.height as usize;
    let offset = scroll_offset(d.events_selected, height, events.len());
    let lines: Vec<Line> = events
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, e)| {
            let (style_of_kind, icon) = match &e.kind {
                EventKind::RunCreated { .. }
                | EventKind::Log { .. }
                | EventKind::Partial { .. } => (theme.muted(), None),
                EventKind::Agent { .. } => (theme.muted(), Some("↔")),
                EventKind::RunState { state, .. } => (theme.run(*state), Some(run_icon(*state))),
                EventKind::Step { record } => {
                    (theme.step(record.status), Some(step_icon(record.status)))
                }
                EventKind::ApprovalRequested { .. } => (theme.warning(), Some("⚑")),
                EventKind::ApprovalDecided { decision, .. } => (
                    if decision.approved {
                        theme.ok()
                    } else {
                        theme.error()
                    },
                    Some("⚑"),
                ),
            };
            let described = e.kind.describe();
            let text = match icon {
                Some(icon) => format!("{icon} {described}"),
                None => described,
            };
            let style = row_style(focused && i == d.events_selected, theme);
            Line::from(vec![
                Span::styled(format!("{} ", e.ts.clock()), theme.muted().patch(style)),
                Span::styled(
                    crate::tui::text::strip_ansi(&text).into_owned(),
                    style_of_kind.patch(style),
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
