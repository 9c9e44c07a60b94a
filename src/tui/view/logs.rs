//! The log pane: only the visible lines are styled and drawn; ANSI colours rendered (or
//! stripped by a monochrome theme), search hits highlighted, optional timestamps and wrap.

use std::ops::Range;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::store::LogStream;
use crate::tui::logs::{LogEntry, LogRing, LogView};
use crate::tui::model::Detail;
use crate::tui::text;
use crate::tui::theme::Theme;

/// Draws the log pane of the open run.
pub fn draw(frame: &mut Frame, area: Rect, d: &Detail, focused: bool, theme: &Theme) {
    let ring = d.shown_ring();
    let view = &d.log_view;
    let key = d.selected_log_key();
    let scoped =
        view.selected_step_only && key.as_ref().is_some_and(|k| d.logs_step.contains_key(k));
    // What agent steps are writing goes under the last line, while the pane follows it.
    let writing = match view.follow {
        true => d.talk.unfinished(key.as_ref().filter(|_| scoped)),
        false => Vec::new(),
    };
    let scope = match (key, d.selected_item()) {
        (Some(k), Some((_, item))) if scoped => format!("item {k} ({})", item.label()),
        (Some(k), None) if scoped => format!("step {k}"),
        _ => "all steps".to_string(),
    };
    let block = Block::bordered()
        .title(title(&scope, view, theme))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if ring.is_empty() && writing.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no output yet", theme.muted())),
            inner,
        );
        return;
    }
    let live_rows = writing.len().min(inner.height as usize / 2);
    let rows = inner.height as usize - live_rows;
    let width = inner.width.max(1) as usize;
    let (start, end, skip) = window(ring, view, rows, width, !scoped);
    if live_rows > 0 {
        // Right under the last line drawn.
        let used: usize = match view.wrap {
            true => (start..end)
                .filter_map(|i| ring.get(i))
                .map(|e| rows_of(e, view, !scoped, width))
                .sum::<usize>()
                .saturating_sub(skip),
            false => end - start,
        };
        let below = Rect {
            y: inner.y + used.min(rows) as u16,
            height: live_rows as u16,
            ..inner
        };
        draw_unfinished(frame, below, &writing, (view, !scoped), theme);
    }
    let inner = Rect {
        height: rows as u16,
        ..inner
    };
    let lines: Vec<Line> = (start..end)
        .filter_map(|i| ring.get(i))
        .map(|entry| render_line(entry, view, !scoped, theme))
        .collect();
    let mut paragraph = Paragraph::new(lines);
    if view.wrap {
        paragraph = paragraph
            .wrap(Wrap { trim: false })
            .scroll((skip as u16, 0));
    }
    frame.render_widget(paragraph, inner);
}

/// `Logs — all steps [follow wrap] /error 2 of 5`.
fn title(scope: &str, view: &LogView, theme: &Theme) -> Line<'static> {
    let mut flags = Vec::new();
    if view.follow {
        flags.push("follow");
    }
    if view.wrap {
        flags.push("wrap");
    }
    if view.timestamps {
        flags.push("time");
    }
    let mut title = vec![Span::styled(format!(" Logs — {scope} "), theme.accent())];
    if !flags.is_empty() {
        title.push(Span::styled(
            format!("[{}] ", flags.join(" ")),
            theme.muted(),
        ));
    }
    if let Some(search) = &view.search {
        title.push(Span::styled(
            format!("/{} {} ", search.query, search.position()),
            theme.warning(),
        ));
    }
    Line::from(title)
}

/// The sequence number of the first line the pane draws in `rows` rows of `width` columns.
pub(super) fn first_shown(d: &Detail, rows: usize, width: usize) -> Option<u64> {
    let ring = d.shown_ring();
    let scoped = d.log_view.selected_step_only
        && d.selected_step()
            .is_some_and(|s| d.logs_step.contains_key(&s.step));
    let (start, ..) = window(ring, &d.log_view, rows, width, !scoped);
    ring.get(start).map(|l| l.seq)
}

/// Which lines to draw (`start..end`) and how many wrapped rows to skip at the top.
fn window(
    ring: &LogRing,
    view: &LogView,
    rows: usize,
    width: usize,
    with_step: bool,
) -> (usize, usize, usize) {
    let len = ring.len();
    if !view.wrap {
        let start = if view.follow {
            len.saturating_sub(rows)
        } else {
            ring.index_of_seq(view.top_seq)
                .min(len.saturating_sub(rows))
        };
        return (start, (start + rows).min(len), 0);
    }
    let height = |i: usize| {
        ring.get(i)
            .map_or(1, |e| rows_of(e, view, with_step, width))
    };
    if view.follow {
        let mut used = 0;
        let mut start = len;
        while start > 0 && used < rows {
            start -= 1;
            used += height(start);
        }
        (start, len, used.saturating_sub(rows))
    } else {
        let start = ring.index_of_seq(view.top_seq).min(len.saturating_sub(1));
        let mut used = 0;
        let mut end = start;
        while end < len && used < rows {
            used += height(end);
            end += 1;
        }
        (start, end, 0)
    }
}

/// The rows `entry` takes when wrapped to `width` columns.
fn rows_of(entry: &LogEntry, view: &LogView, with_step: bool, width: usize) -> usize {
    (prefix_width(entry, view, with_step) + entry.plain().width())
        .max(1)
        .div_ceil(width)
}

/// Agents' unfinished lines, one a row, in `area`.
fn draw_unfinished(
    frame: &mut Frame,
    area: Rect,
    writing: &[&LogEntry],
    (view, with_step): (&LogView, bool),
    theme: &Theme,
) {
    let width = area.width.max(1) as usize;
    let lines: Vec<Line> = writing
        .iter()
        .take(area.height as usize)
        .map(|e| unfinished_line(e, view, with_step, width, theme))
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// An agent's unfinished line with a cursor after it; when longer than the pane, its end
/// (where the tokens arrive) is what shows.
fn unfinished_line<'a>(
    entry: &'a LogEntry,
    view: &LogView,
    with_step: bool,
    width: usize,
    theme: &Theme,
) -> Line<'a> {
    let room = width.saturating_sub(prefix_width(entry, view, with_step) + 1);
    let plain = entry.plain();
    let mut line = if plain.width() <= room {
        render_line(entry, view, with_step, theme)
    } else {
        let mut end = String::new();
        let mut used = 1;
        for c in plain.chars().rev() {
            used += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used > room {
                break;
            }
            end.insert(0, c);
        }
        let cut = LogEntry {
            text: format!("…{end}"),
            ..entry.clone()
        };
        let spans: Vec<Span<'static>> = render_line(&cut, view, with_step, theme)
            .spans
            .into_iter()
            .map(owned)
            .collect();
        Line::from(spans)
    };
    line.spans.push(Span::styled("▍", theme.accent()));
    line
}

fn owned(span: Span<'_>) -> Span<'static> {
    Span::styled(span.content.into_owned(), span.style)
}

fn prefix_width(entry: &LogEntry, view: &LogView, with_step: bool) -> usize {
    let mut w = 0;
    if view.timestamps {
        w += 9;
    }
    if with_step {
        w += entry.step.0.width() + 3;
    }
    w
}

fn render_line<'a>(
    entry: &'a LogEntry,
    view: &LogView,
    with_step: bool,
    theme: &Theme,
) -> Line<'a> {
    let mut spans = Vec::new();
    if view.timestamps {
        spans.push(Span::styled(
            format!("{} ", entry.ts.clock()),
            theme.muted(),
        ));
    }
    if with_step {
        spans.push(Span::styled(format!("[{}] ", entry.step), theme.accent()));
    }
    let base = match entry.stream {
        LogStream::Stdout => Style::default(),
        LogStream::Stderr => theme
            .warning()
            .remove_modifier(ratatui::style::Modifier::BOLD),
        // Where a retry begins: set apart from the lines around it.
        LogStream::System
            if entry
                .text
                .starts_with(crate::engine::pipeline::ATTEMPT_MARKER) =>
        {
            theme.accent()
        }
        LogStream::System => theme.muted(),
    };
    let segments: Vec<(String, Style)> = if theme.monochrome || !text::needs_parsing(&entry.text) {
        vec![(text::strip_ansi(&entry.text).into_owned(), base)]
    } else {
        text::parse_ansi(&entry.text)
            .into_iter()
            .map(|s| (s.text, base.patch(s.style)))
            .collect()
    };
    let hits: Vec<(Range<usize>, bool)> = match &view.search {
        Some(search) => {
            let current = search.current_hit();
            let first = search.hits.partition_point(|h| h.seq < entry.seq);
            search.hits[first..]
                .iter()
                .take_while(|h| h.seq == entry.seq)
                .map(|h| (h.range.clone(), current == Some(h)))
                .collect()
        }
        None => Vec::new(),
    };
    spans.extend(highlight(segments, &hits, theme));
    Line::from(spans)
}

/// Splits styled segments so search hits (byte ranges of the plain text) get the hit style.
fn highlight(
    segments: Vec<(String, Style)>,
    hits: &[(Range<usize>, bool)],
    theme: &Theme,
) -> Vec<Span<'static>> {
    if hits.is_empty() {
        return segments
            .into_iter()
            .map(|(t, s)| Span::styled(t, s))
            .collect();
    }
    let mut spans = Vec::new();
    let mut pos = 0;
    for (text, style) in segments {
        let seg_end = pos + text.len();
        let mut cut = pos;
        for (range, current) in hits {
            if range.end <= cut || range.start >= seg_end {
                continue;
            }
            let from = range.start.max(cut);
            let to = range.end.min(seg_end);
            if from > cut {
                spans.push(Span::styled(slice(&text, cut - pos, from - pos), style));
            }
            let hit_style = if *current {
                theme.current_match()
            } else {
                theme.matched()
            };
            spans.push(Span::styled(
                slice(&text, from - pos, to - pos),
                style.patch(hit_style),
            ));
            cut = to;
        }
        if cut < seg_end {
            spans.push(Span::styled(slice(&text, cut - pos, text.len()), style));
        }
        pos = seg_end;
    }
    spans
}

/// `text[from..to]`, or nothing if those are not char boundaries (never panics).
fn slice(text: &str, from: usize, to: usize) -> String {
    text.get(from..to).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::StepId;
    use crate::time::Timestamp;

    fn entry(stream: LogStream, text: &str) -> LogEntry {
        LogEntry {
            seq: 1,
            ts: Timestamp(0),
            step: StepId::from("s"),
            stream,
            text: text.into(),
        }
    }

    #[test]
    fn the_line_that_opens_a_retry_stands_apart_from_other_system_lines() {
        let theme = Theme::built_in("dark").expect("the dark theme");
        let view = LogView::default();
        let marker = entry(
            LogStream::System,
            &crate::engine::pipeline::attempt_marker(2, 3),
        );
        let note = entry(LogStream::System, "waiting for lock `db`");
        let style = |e: &LogEntry| render_line(e, &view, false, &theme).spans[0].style;
        assert_eq!(style(&marker), theme.accent());
        assert_eq!(style(&note), theme.muted());
        assert_ne!(theme.accent(), theme.muted());
    }
}
