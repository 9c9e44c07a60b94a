//! Drawing the plan editor: the request box; then the draft with each problem beside its line,
//! the DAG beside the text, a status line and the keys (or the follow-up box).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::plan::{PlanEditor, PlanStage};
use super::{footer, frame_block};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;
use crate::tui::view::fit;

/// Width of the DAG beside the text.
const DAG_WIDTH: u16 = 28;

impl PlanEditor {
    /// Draws the editor over most of `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap) {
        let rect = Rect {
            x: area.x + 1,
            y: area.y + 1,
            width: area.width.saturating_sub(2),
            height: area.height.saturating_sub(2),
        };
        frame.render_widget(Clear, rect);
        let title = match (&self.version, &self.author) {
            (Some((id, _)), Some(author)) => format!(" Plan {id} — drafted by {author} "),
            _ => " Plan a workflow ".to_string(),
        };
        let block = frame_block(title, theme);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        match &self.stage {
            PlanStage::Request(input) => self.draw_request(frame, inner, input, theme, keymap),
            _ => self.draw_draft(frame, inner, theme, keymap),
        }
    }

    fn draw_request(
        &self,
        frame: &mut Frame,
        inner: Rect,
        input: &tui_textarea::TextArea<'static>,
        theme: &Theme,
        keymap: &Keymap,
    ) {
        let [about, boxed, note, _, keys] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(5),
            Constraint::Length(2),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(inner);
        frame.render_widget(
            Paragraph::new(Line::styled(
                "What should the workflow do? The planner drafts it; nothing runs until you say so.",
                theme.text(),
            )),
            about,
        );
        let block = Block::bordered().border_style(theme.accent());
        let inside = block.inner(boxed);
        frame.render_widget(block, boxed);
        frame.render_widget(input, inside);
        frame.render_widget(Paragraph::new(self.status_line(theme)), note);
        frame.render_widget(
            Paragraph::new(footer(&self.bindings(), keymap, theme)),
            keys,
        );
    }

    fn draw_draft(&self, frame: &mut Frame, inner: Rect, theme: &Theme, keymap: &Keymap) {
        let [request, body, status, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let asked = format!("request: {}", self.request.replace('\n', " "));
        frame.render_widget(
            Paragraph::new(Line::styled(
                fit(&asked, request.width as usize),
                theme.muted(),
            )),
            request,
        );
        let [left, dag] =
            Layout::horizontal([Constraint::Min(20), Constraint::Length(DAG_WIDTH)]).areas(body);
        let [text, gutter] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                .areas(left);
        frame.render_widget(&self.editor, text);
        self.draw_gutter(frame, gutter, theme);
        self.draw_dag(frame, dag, theme);
        frame.render_widget(Paragraph::new(self.status_line(theme)), status);
        match &self.stage {
            PlanStage::FollowUp(input) if self.busy.is_none() => {
                let [label, field] =
                    Layout::horizontal([Constraint::Length(16), Constraint::Min(1)]).areas(bottom);
                frame.render_widget(
                    Paragraph::new(Span::styled("another draft: ", theme.accent())),
                    label,
                );
                frame.render_widget(input, field);
            }
            _ => frame.render_widget(
                Paragraph::new(footer(&self.bindings(), keymap, theme)),
                bottom,
            ),
        }
    }

    /// Beside each line on screen, the first problem found on it.
    fn draw_gutter(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        // The editor was drawn just before: its scroll position is this frame's.
        let top = self.editor.scroll_offset().0 as usize;
        let width = area.width.saturating_sub(1) as usize;
        let lines: Vec<Line> = (0..area.height as usize)
            .map(|row| {
                let line = (top + row + 1) as u32;
                let mut here = self.check.problems.iter().filter(|p| p.line == line);
                match (here.next(), here.count()) {
                    (Some(p), more) => {
                        let more = if more > 0 {
                            format!(" (+{more})")
                        } else {
                            String::new()
                        };
                        let text = format!("◀ {}{more}", p.message);
                        Line::styled(fit(&text, width), theme.error())
                    }
                    (None, _) => Line::default(),
                }
            })
            .collect();
        let area = Rect {
            x: area.x + 1,
            width: area.width.saturating_sub(1),
            ..area
        };
        frame.render_widget(Paragraph::new(lines), area);
    }

    fn draw_dag(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let stale = self.check.dag.is_none() && !self.dag.is_empty();
        let title = if stale { " DAG (last valid) " } else { " DAG " };
        let block = Block::bordered()
            .title(Span::styled(title, theme.muted()))
            .border_style(theme.muted());
        let width = block.inner(area).width as usize;
        let mut lines = Vec::new();
        for row in &self.dag {
            lines.push(Line::from(vec![
                Span::styled(format!("L{} ", row.level), theme.muted()),
                Span::styled(
                    fit(
                        &format!("{} ({})", row.id, row.kind),
                        width.saturating_sub(3),
                    ),
                    theme.text(),
                ),
            ]));
            if !row.deps.is_empty() {
                let deps = format!("   ← {}", row.deps.join(", "));
                lines.push(Line::styled(fit(&deps, width), theme.muted()));
            }
        }
        frame.render_widget(Paragraph::new(lines).block(block), area);
    }

    /// What is going on, what is wrong, or that the text is valid.
    fn status_line(&self, theme: &Theme) -> Line<'static> {
        if let Some((_, doing)) = &self.busy {
            let note = self
                .note
                .as_ref()
                .map(|(n, _)| format!(" — {n}"))
                .unwrap_or_default();
            return Line::styled(format!("⟳ {doing}{note}"), theme.accent());
        }
        if let Some((note, error)) = &self.note {
            let style = if *error { theme.error() } else { theme.ok() };
            return Line::styled(note.clone(), style);
        }
        if matches!(self.stage, PlanStage::Request(_)) {
            return Line::default();
        }
        if !self.check_is_current() {
            return Line::styled("⟳ checking…", theme.muted());
        }
        let problems = &self.check.problems;
        if problems.is_empty() && self.check.dag.is_some() {
            let steps = self.check.dag.as_ref().map(Vec::len).unwrap_or(0);
            let summary = if self.summary.is_empty() {
                String::new()
            } else {
                format!(" — {}", self.summary)
            };
            return Line::styled(format!("✓ valid · {steps} step(s){summary}"), theme.ok());
        }
        let whole = problems
            .iter()
            .find(|p| p.line == 0)
            .or(problems.first())
            .map(|p| match p.line {
                0 => p.message.clone(),
                n => format!("line {n}: {}", p.message),
            })
            .unwrap_or_default();
        Line::styled(
            format!("✗ {} problem(s) — {whole}", problems.len().max(1)),
            theme.error(),
        )
    }
}
