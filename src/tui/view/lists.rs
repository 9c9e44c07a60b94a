//! The Runs and Workflows views: tables that draw only their visible rows.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};
use serde_json::Value;

use super::{format_ms, gauge, local_start, row_style, run_elapsed, scroll_offset};
use crate::tui::model::{Model, RunSort};
use crate::tui::theme::{Theme, run_icon};
use crate::tui::workflows::WorkflowEntry;

/// Every run, newest first, with state, progress and elapsed time.
pub fn runs(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let shown = model.filtered_runs();
    let mut title = format!(" Runs ({}) ", shown.len());
    if model.runs_sort != RunSort::default() || model.pin_active {
        let pinned = if model.pin_active {
            ", active first"
        } else {
            ""
        };
        title.push_str(&format!("by {}{pinned} ", model.runs_sort.name()));
    }
    if !model.runs_filter.is_empty() {
        title.push_str(&format!("filter: {} ", model.runs_filter));
    }
    let block = Block::bordered()
        .title(Span::styled(title, theme.accent()))
        .border_style(theme.border(true));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if shown.is_empty() {
        let text = if model.runs.is_empty() {
            "No runs yet. Press n to start one from a workflow file."
        } else {
            "No run matches the filter (esc clears it)."
        };
        frame.render_widget(Paragraph::new(Line::styled(text, theme.muted())), inner);
        return;
    }
    let rows_fit = inner.height.saturating_sub(1) as usize;
    let offset = scroll_offset(model.runs_selected, rows_fit, shown.len());
    let rows = shown
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_fit)
        .filter_map(|(row, &i)| model.runs.get(i).map(|r| (row, r)))
        .map(|(row, run)| {
            let elapsed = run_elapsed(run, model.now)
                .map(format_ms)
                .unwrap_or_else(|| "-".into());
            let state = match (&run.reason, model.eta_ms(run)) {
                (Some(reason), _) if !run.state.is_active() => format!("{}: {reason}", run.state),
                (_, Some(left)) => format!("{} · ~{} left", run.state, format_ms(left)),
                _ => run.state.to_string(),
            };
            let started = run
                .started_at
                .map(|at| local_start(at, model.now, model.utc_offset_s))
                .unwrap_or_else(|| "-".into());
            Row::new(vec![
                Cell::from(Span::styled(run_icon(run.state), theme.run(run.state))),
                Cell::from(run.workflow.clone()),
                Cell::from(Span::styled(
                    gauge(run.steps_done, run.steps_total, 8),
                    theme.bar(),
                )),
                Cell::from(Span::styled(started, theme.muted())),
                Cell::from(elapsed),
                Cell::from(Span::styled(state, theme.run(run.state))),
                Cell::from(Span::styled(run.id.0.clone(), theme.muted())),
            ])
            .style(row_style(row == model.runs_selected, theme))
        });
    let header = Row::new([
        "", "workflow", "progress", "started", "elapsed", "state", "run",
    ])
    .style(theme.muted());
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Fill(2),
            // `████████ 10/10`.
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Fill(3),
            // Run ids are 21 characters; their tail is what tells two runs apart.
            Constraint::Length(21),
        ],
    )
    .header(header);
    frame.render_widget(table, inner);
}

/// Workflow files with their descriptions.
pub fn workflows(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let block = Block::bordered()
        .title(Span::styled(
            format!(" Workflows ({}) — enter to start ", model.workflows.len()),
            theme.accent(),
        ))
        .border_style(theme.border(true));
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if model.workflows.is_empty() {
        let text = "No workflow files found in ./workflows or the config directory's workflows/.";
        frame.render_widget(Paragraph::new(Line::styled(text, theme.muted())), inner);
        return;
    }
    // The selected file in full on the last rows: its problem, or its path and params.
    if let Some(w) = model.workflows.get(model.workflows_selected)
        && inner.height >= 6
    {
        let about = workflow_about(w, inner.width as usize, model.now, theme);
        let rows = (about.len() as u16).min(inner.height / 3);
        inner.height -= rows;
        let rect = Rect::new(inner.x, inner.y + inner.height, inner.width, rows);
        frame.render_widget(Paragraph::new(about).wrap(Wrap { trim: false }), rect);
    }
    let rows_fit = inner.height.saturating_sub(1) as usize;
    let offset = scroll_offset(model.workflows_selected, rows_fit, model.workflows.len());
    let rows = model
        .workflows
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_fit)
        .map(|(i, w)| {
            let about = match &w.error {
                Some(e) => Span::styled(format!("✗ {e}"), theme.error()),
                None => Span::raw(w.description.clone().unwrap_or_default()),
            };
            let params = if w.params.is_empty() {
                String::new()
            } else {
                w.params.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            Row::new(vec![
                Cell::from(Span::styled(w.name.clone(), theme.accent())),
                Cell::from(about),
                Cell::from(Span::styled(params, theme.muted())),
                Cell::from(Span::styled(short_path(&w.path), theme.muted())),
            ])
            .style(row_style(i == model.workflows_selected, theme))
        });
    let header = Row::new(["name", "description", "params", "file"]).style(theme.muted());
    let table = Table::new(
        rows,
        [
            Constraint::Fill(2),
            Constraint::Fill(4),
            Constraint::Fill(2),
            Constraint::Fill(3),
        ],
    )
    .header(header);
    frame.render_widget(table, inner);
}

/// The selected workflow in full: its problem (wrapped over two rows), or its description and
/// params with their defaults, and its next scheduled fire when it has a schedule.
fn workflow_about<'a>(
    w: &WorkflowEntry,
    width: usize,
    now: crate::store::Timestamp,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled("─".repeat(width), theme.border(false))];
    match &w.error {
        Some(e) => {
            lines.push(Line::styled(format!("✗ {e}"), theme.error()));
            lines.push(Line::default());
        }
        None => {
            let params: Vec<String> = w
                .params
                .iter()
                .map(|(name, p)| match &p.default {
                    Some(Value::String(s)) => format!("{name}={s}"),
                    Some(v) => format!("{name}={v}"),
                    None if p.required => format!("{name} (required)"),
                    None => name.clone(),
                })
                .collect();
            lines.push(Line::styled(
                w.description
                    .clone()
                    .unwrap_or_else(|| "no description".into()),
                theme.text(),
            ));
            lines.push(Line::styled(
                if params.is_empty() {
                    "no params".to_string()
                } else {
                    format!("params: {}", params.join("  "))
                },
                theme.muted(),
            ));
            if let Some(next) = w.schedule.as_ref().and_then(|s| next_fire(s, now)) {
                lines.push(Line::styled(
                    format!("next scheduled run: {next}"),
                    theme.muted(),
                ));
            }
        }
    }
    lines
}

/// When `baton serve` next starts a scheduled workflow, in its schedule's zone.
fn next_fire(
    schedule: &crate::spec::schedule::Schedule,
    now: crate::store::Timestamp,
) -> Option<String> {
    let fires = crate::serve::schedule::Fires::new(schedule).ok()?;
    let next = fires.upcoming(now, 1).into_iter().next()?;
    Some(crate::serve::schedule::show(&next))
}

/// `workflows/release.yaml`: the file and its directory, enough to tell the two lists apart.
fn short_path(path: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match path.parent().and_then(|p| p.file_name()) {
        Some(dir) => format!("{}/{file}", dir.to_string_lossy()),
        None => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_workflow_shows_its_next_fire_in_its_zone() {
        let wf = crate::spec::parse_str(
            "name: nightly\nschedule: { cron: \"0 3 * * *\", timezone: Europe/Paris }\nsteps:\n  - { id: a, run: 'true' }\n",
            std::path::Path::new("nightly.yaml"),
        )
        .unwrap();
        let entry = WorkflowEntry {
            path: "workflows/nightly.yaml".into(),
            name: wf.name,
            description: None,
            params: Default::default(),
            schedule: wf.schedule,
            error: None,
        };
        // 2026-11-30T12:00:00Z: the next 03:00 in Paris is tomorrow's.
        let now = crate::store::Timestamp(1_796_040_000_000);
        let lines = workflow_about(&entry, 40, now, &Theme::default());
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            text.last().map(String::as_str),
            Some("next scheduled run: 2026-12-01 03:00:00 CET (Europe/Paris)"),
            "{text:?}"
        );
    }
}
