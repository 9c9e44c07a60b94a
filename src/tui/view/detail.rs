//! The run detail: the step tree (by DAG level) on the left, the tabs on the right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs};

use super::{conversation, fit, format_ms, gauge, logs, panes, run_elapsed, scroll_offset};
use crate::store::{StepRecord, StepStatus, Timestamp};
use crate::tui::fan_rows::is_folded;
use crate::tui::model::{Detail, Pane, Tab};
use crate::tui::step_totals::StepTotals;
use crate::tui::theme::{Theme, run_icon, step_icon};

/// The tree and tab areas of a body.
pub(super) fn split(body: Rect) -> (Rect, Rect) {
    let tree_width = (body.width * 2 / 5).clamp(24, 48);
    let [tree, right] =
        Layout::horizontal([Constraint::Length(tree_width), Constraint::Min(10)]).areas(body);
    (tree, right)
}

/// The tab content area (with its border) of a body.
pub fn content_area(body: Rect) -> Rect {
    let (_, right) = split(body);
    Rect {
        y: right.y + 1,
        height: right.height.saturating_sub(1),
        ..right
    }
}

/// Draws the detail view of a run.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    d: &Detail,
    (now, eta): (Timestamp, Option<u64>),
    theme: &Theme,
) {
    let (tree, right) = split(area);
    draw_tree(frame, tree, d, (now, eta), theme);
    let tabs_line = Rect { height: 1, ..right };
    let tabs = d.tabs();
    let titles: Vec<Line> = tabs
        .iter()
        .map(|t| Line::from(format!(" {} ", t.title())))
        .collect();
    let selected = tabs.iter().position(|t| *t == d.tab).unwrap_or(0);
    let tabs = Tabs::new(titles)
        .select(selected)
        .style(theme.muted())
        .highlight_style(theme.selection())
        .divider("│")
        .padding("", "");
    frame.render_widget(tabs, tabs_line);
    let content = content_area(area);
    let focused = d.pane == Pane::Tab;
    match d.tab {
        Tab::Logs => logs::draw(frame, content, d, focused, theme),
        Tab::Context => panes::context(frame, content, d, focused, theme),
        Tab::Metrics => panes::metrics(frame, content, d, focused, theme),
        Tab::Events => panes::events(frame, content, d, focused, theme),
        Tab::Conversation => conversation::draw(frame, content, d, focused, theme),
    }
}

fn draw_tree(
    frame: &mut Frame,
    area: Rect,
    d: &Detail,
    (now, eta): (Timestamp, Option<u64>),
    theme: &Theme,
) {
    let run = &d.run;
    let elapsed = run_elapsed(run, now).map(format_ms).unwrap_or_default();
    let elapsed = match eta {
        Some(left) => format!("{elapsed} · ~{} left", format_ms(left)),
        None => elapsed,
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", run_icon(run.state)), theme.run(run.state)),
        Span::styled(format!("{} ", run.state), theme.run(run.state)),
        Span::styled(format!("{elapsed} "), theme.muted()),
    ]);
    let block = Block::bordered()
        .title(title)
        .title_bottom(Span::styled(
            format!(
                " {}{} ",
                gauge(run.steps_done, run.steps_total, 10),
                not_run(&d.totals)
            ),
            theme.bar(),
        ))
        .border_style(theme.border(d.pane == Pane::Tree));
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    // The selected step's kind and what it waits for, on the tree's last row.
    if let Some(about) = d.selected_step().and_then(step_about)
        && inner.height >= 4
    {
        inner.height -= 1;
        let row = Rect::new(inner.x, inner.y + inner.height, inner.width, 1);
        frame.render_widget(
            Paragraph::new(Line::styled(
                fit(&about, inner.width as usize),
                theme.muted(),
            )),
            row,
        );
    }
    let rows = inner.height as usize;
    let width = inner.width as usize;
    let offset = scroll_offset(d.selected_row, rows, d.rows.len());
    let mut lines = Vec::with_capacity(rows);
    for (row, r) in d.rows.iter().enumerate().skip(offset).take(rows) {
        let Some(step) = d.steps.get(r.step) else {
            continue;
        };
        if let Some(i) = r.item {
            let selected = row == d.selected_row;
            lines.push(item_line(step, i, selected, width, theme));
            continue;
        }
        if let Some(c) = r.child {
            let kids = d.children.get(&step.step).map_or(&[][..], Vec::as_slice);
            let selected = row == d.selected_row;
            lines.push(super::child_rows::child_line(
                kids, c, selected, width, theme,
            ));
            continue;
        }
        let level = step.level;
        let first_of_level = row == 0
            || d.rows
                .get(row - 1)
                .and_then(|p| d.steps.get(p.step))
                .is_none_or(|p| p.level != level);
        let label = if first_of_level {
            format!("L{level:<2}")
        } else {
            "   ".to_string()
        };
        // A step caught mid-way when its owner died (or the run ended) is not running any
        // more, whatever its last record says: it runs again on resume.
        let stranded = !run.state.is_active()
            && !step.status.is_terminal()
            && step.status != StepStatus::Pending;
        let (icon, icon_style, info, info_style) = if stranded {
            let style = theme.run(run.state);
            (run_icon(run.state), style, run.state.to_string(), style)
        } else {
            let info = step_info(step, d.running_since.get(&step.step).copied(), now);
            let info_style =
                if step.status == StepStatus::Skipped || step.status == StepStatus::Pending {
                    theme.muted()
                } else {
                    theme.step(step.status)
                };
            (
                step_icon(step.status),
                theme.step(step.status),
                info,
                info_style,
            )
        };
        let info = match fan_out_summary(step) {
            Some(items) if info.is_empty() => items,
            Some(items) => format!("{info} · {items}"),
            None => info,
        };
        let id_width = width.saturating_sub(3 + 2 + 1 + info.chars().count().min(width / 2));
        // A fan-out's fold marker, before its id.
        let marker = match (step.items.is_empty(), is_folded(step, &d.item_folds)) {
            (true, _) => "",
            (false, true) => "▸ ",
            (false, false) => "▾ ",
        };
        let mut spans = vec![
            Span::styled(label, theme.muted()),
            Span::styled(format!("{icon} "), icon_style),
            Span::styled(marker, theme.muted()),
        ];
        let marker_cols = marker.chars().count();
        spans.extend(id_and_name(
            step,
            id_width.saturating_sub(marker_cols),
            theme,
        ));
        spans.extend([
            Span::raw(" "),
            Span::styled(
                fit(&info, width.saturating_sub(3 + 2 + id_width + 1)),
                info_style,
            ),
        ]);
        if row == d.selected_row {
            let style = theme.selection();
            for s in &mut spans {
                s.style = s.style.patch(style);
            }
        }
        lines.push(Line::from(spans));
    }
    if d.rows.is_empty() {
        lines.push(Line::styled("no steps", theme.muted()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The step's id and, muted after it, its `name:` — in `width` columns, the id first.
fn id_and_name<'a>(step: &StepRecord, width: usize, theme: &Theme) -> Vec<Span<'a>> {
    let id = step.step.as_str();
    let id_cols = unicode_width::UnicodeWidthStr::width(id);
    match step.name.as_deref().filter(|n| !n.is_empty() && *n != id) {
        // The name only where it has a few columns of its own; the id is what commands take.
        Some(name) if width >= id_cols + 4 => vec![
            Span::raw(id.to_string()),
            Span::raw(" "),
            Span::styled(fit(name, width - id_cols - 1), theme.muted()),
        ],
        _ => vec![Span::raw(fit(id, width))],
    }
}

/// What of the steps counted done did not succeed: ` · 1 failed · 2 skipped` (empty when all
/// that ended succeeded), so a full bar never passes for a clean run.
fn not_run(totals: &StepTotals) -> String {
    [
        (totals.failed, "failed"),
        (totals.skipped, "skipped"),
        (totals.cancelled, "cancelled"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!(" · {n} {what}"))
    .collect()
}

/// `3/5 items` of a fan-out step: how many have ended.
fn fan_out_summary(step: &StepRecord) -> Option<String> {
    if step.items.is_empty() {
        return None;
    }
    let ended = step.items.iter().filter(|i| i.status.is_terminal()).count();
    Some(format!("{ended}/{} items", step.items.len()))
}

/// `      ├ ✓ [2] web3   exit 0`: one item of a fan-out, under its step (the label is the
/// item's value: the host when the step runs `on: "{{ item }}"`).
fn item_line(
    step: &StepRecord,
    i: usize,
    selected: bool,
    width: usize,
    theme: &Theme,
) -> Line<'static> {
    let Some(item) = step.items.get(i) else {
        return Line::default();
    };
    let last = i + 1 == step.items.len();
    let info = match item.status {
        StepStatus::Failed | StepStatus::Cancelled | StepStatus::Retrying => {
            item.error.clone().unwrap_or_default()
        }
        _ => match (item.started_at, item.finished_at) {
            (Some(a), Some(b)) => format_ms(b.millis_since(a)),
            _ => String::new(),
        },
    };
    let branch = if last { "   └ " } else { "   ├ " };
    let name = format!("[{i}] {}", crate::tui::text::strip_ansi(&item.label()));
    let name_width = width.saturating_sub(5 + 2 + 1 + info.chars().count().min(width / 3));
    let mut spans = vec![
        Span::styled(branch, theme.muted()),
        Span::styled(
            format!("{} ", step_icon(item.status)),
            theme.step(item.status),
        ),
        Span::raw(fit(&name, name_width)),
        Span::raw(" "),
        Span::styled(
            fit(&info, width.saturating_sub(5 + 2 + name_width + 1)),
            theme.step(item.status),
        ),
    ];
    if selected {
        for s in &mut spans {
            s.style = s.style.patch(theme.selection());
        }
    }
    Line::from(spans)
}

/// `approval · after test, review` for the selected step.
pub(super) fn step_about(step: &StepRecord) -> Option<String> {
    let deps: Vec<&str> = step.depends_on.iter().map(|d| d.0.as_str()).collect();
    match (step.kind.is_empty(), deps.is_empty()) {
        (true, true) => None,
        (false, true) => Some(format!("{} · {} · no dependencies", step.step, step.kind)),
        (true, false) => Some(format!("{} · after {}", step.step, deps.join(", "))),
        (false, false) => Some(format!(
            "{} · {} · after {}",
            step.step,
            step.kind,
            deps.join(", ")
        )),
    }
}

/// Duration, attempt and why, in a few columns. A running step's clock is the time it ran
/// before (`duration_ms`, kept across pauses) plus its current stint, from `since`.
fn step_info(step: &StepRecord, since: Option<Timestamp>, now: Timestamp) -> String {
    let attempt = if step.max_attempts > 1 && step.attempt > 0 {
        format!(" {}/{}", step.attempt, step.max_attempts)
    } else {
        String::new()
    };
    match step.status {
        StepStatus::Skipped => step
            .skip_reason
            .clone()
            .map(|r| format!("skipped: {r}"))
            .unwrap_or_else(|| "skipped".into()),
        StepStatus::WaitingApproval => "awaiting approval".into(),
        StepStatus::Pending => String::new(),
        StepStatus::Retrying => {
            let wait = step
                .retry_at
                .map(|at| format!(" in {}", format_ms(at.millis_since(now))))
                .unwrap_or_default();
            format!("retry{wait}{attempt}")
        }
        StepStatus::Running => {
            let ms = match (since, step.duration_ms) {
                (Some(since), before) => before.unwrap_or(0) + now.millis_since(since),
                (None, None) => step.started_at.map(|s| now.millis_since(s)).unwrap_or(0),
                (None, Some(before)) => before,
            };
            format!("{}{attempt}", format_ms(ms))
        }
        StepStatus::Paused => format!("{}{attempt}", format_ms(step.duration_ms.unwrap_or(0))),
        StepStatus::Failed => {
            let code = step
                .exit_code
                .map(|c| format!(" exit {c}"))
                .unwrap_or_default();
            format!(
                "{}{code}{attempt}",
                step.duration_ms.map(format_ms).unwrap_or_default()
            )
        }
        _ => format!(
            "{}{attempt}",
            step.duration_ms.map(format_ms).unwrap_or_default()
        ),
    }
}
