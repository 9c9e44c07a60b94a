//! The Conversation tab of an agent step: each turn (who answered, tokens, cost) with what the
//! model said, the tool calls it asked for with their arguments, the gates they waited at (who
//! decided, when, why, the arguments as edited), their results folded to one line until
//! unfolded, and what the model is writing now. Text from the model and the tools is data:
//! drawn sanitised, never as terminal instructions.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::{row_style, scroll_offset};
use crate::providers::price::show_cost;
use crate::tui::conversation::{Call, Turn, Writing, items};
use crate::tui::model::Detail;
use crate::tui::theme::Theme;

/// Lines of an unfolded result drawn at most (`y` copies all of it).
const RESULT_LINES: usize = 200;

/// Draws the Conversation tab of the selected step.
pub fn draw(frame: &mut Frame, area: Rect, d: &Detail, focused: bool, theme: &Theme) {
    let key = d.selected_log_key();
    let turns = d.selected_turns().map(|(_, t)| t);
    let title = match (&key, &turns) {
        (Some(key), Some(turns)) if !turns.is_empty() => {
            format!(" Conversation — {key} · {} ", totals(turns))
        }
        (Some(key), _) => format!(" Conversation — {key} "),
        (None, _) => " Conversation ".to_string(),
    };
    let block = Block::bordered()
        .title(Span::styled(title, theme.accent()))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let note = |text: String| Paragraph::new(Line::styled(text, theme.muted()));
    let Some(key) = key else {
        return frame.render_widget(note("no step selected".into()), inner);
    };
    if !d.is_agent(&key) {
        let text = format!("`{key}` is not an agent step: select one in the tree");
        return frame.render_widget(note(text), inner);
    }
    let Some(turns) = turns else {
        return frame.render_widget(note("loading…".into()), inner);
    };
    let writing = (d.talk.writing.get(&key)).filter(|w| !w.lines.is_empty() || w.partial.is_some());
    if turns.is_empty() && writing.is_none() {
        return frame.render_widget(note("no turn yet".into()), inner);
    }
    let selected = d.selected_talk_item(&key, &items(&turns));
    let width = inner.width.max(1) as usize;
    let (mut lines, starts) = body(d, &turns, writing, width, theme);
    let height = inner.height as usize;
    let offset = match selected.and_then(|i| starts.get(i)) {
        Some(&row) => {
            if focused && let Some(line) = lines.get_mut(row) {
                let style = row_style(true, theme);
                for span in &mut line.spans {
                    span.style = span.style.patch(style);
                }
            }
            scroll_offset(row, height, lines.len())
        }
        None => lines.len().saturating_sub(height),
    };
    let shown: Vec<Line> = lines.into_iter().skip(offset).take(height).collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

/// The lines of the conversation in `width` columns, and the line each selectable item (see
/// [`items`]) begins on.
fn body(
    d: &Detail,
    turns: &[Turn],
    writing: Option<&Writing>,
    width: usize,
    theme: &Theme,
) -> (Vec<Line<'static>>, Vec<usize>) {
    let mut out = Out {
        lines: Vec::new(),
        starts: Vec::new(),
        width,
        theme,
    };
    for (t, turn) in turns.iter().enumerate() {
        out.turn(t, turn, d);
    }
    if let Some(w) = writing {
        out.writing(turns.len() + 1, w);
    }
    (out.lines, out.starts)
}

/// `2 turns · 1 call · 1200 → 80 tokens · $0.0021` over a conversation.
fn totals(turns: &[Turn]) -> String {
    let calls: usize = turns.iter().map(|t| t.calls.len()).sum();
    let tokens_in: u64 = turns.iter().map(|t| t.tokens_in).sum();
    let tokens_out: u64 = turns.iter().map(|t| t.tokens_out).sum();
    let cost = turns
        .iter()
        .try_fold(0.0, |sum, t| t.cost_usd.map(|c| sum + c));
    format!(
        "{} turn{} · {calls} call{} · {tokens_in} → {tokens_out} tokens · {}",
        turns.len(),
        plural(turns.len()),
        plural(calls),
        show_cost(cost)
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The lines being built, and where each selectable item begins.
struct Out<'t> {
    lines: Vec<Line<'static>>,
    starts: Vec<usize>,
    width: usize,
    theme: &'t Theme,
}

impl Out<'_> {
    /// Starts the next selectable item here.
    fn item(&mut self) {
        self.starts.push(self.lines.len());
    }

    /// `text` wrapped to the pane, each line after `indent` spaces, in `style`.
    fn text(&mut self, indent: usize, text: &str, style: Style) {
        for line in wrap(text, self.width.saturating_sub(indent)) {
            self.lines
                .push(Line::styled(format!("{}{line}", " ".repeat(indent)), style));
        }
    }

    fn turn(&mut self, t: usize, turn: &Turn, d: &Detail) {
        let theme = self.theme;
        self.item();
        let head = format!(
            "── turn {} · {}/{} · {} → {} tokens · {} · {} ",
            t + 1,
            turn.provider,
            turn.model,
            turn.tokens_in,
            turn.tokens_out,
            show_cost(turn.cost_usd),
            turn.at.clock()
        );
        self.text(0, &head, theme.accent());
        if !turn.text.trim().is_empty() {
            self.text(2, turn.text.trim_end(), Style::default());
        }
        for call in &turn.calls {
            self.call(call, d.talk.unfolded.contains(&call.id));
        }
    }

    fn call(&mut self, call: &Call, unfolded: bool) {
        let theme = self.theme;
        self.item();
        self.text(
            2,
            &format!("⚙ {} {}", call.name, call.arguments),
            theme.accent(),
        );
        for asked in &call.asked {
            match &asked.decision {
                Some(dec) => {
                    let why = dec.comment.as_deref().map(|c| format!(": {c}"));
                    let text = format!(
                        "⚑ {} by {} at {}{}",
                        dec.verb(),
                        dec.by,
                        dec.at.clock(),
                        why.unwrap_or_default()
                    );
                    let style = if dec.approved {
                        theme.ok()
                    } else {
                        theme.error()
                    };
                    self.text(4, &text, style);
                }
                None => {
                    let shown = asked.action.as_deref().unwrap_or_default();
                    let text = format!("⚑ waiting for approval since {}", asked.at.clock());
                    self.text(4, &text, theme.warning());
                    self.text(6, shown, theme.muted());
                }
            }
        }
        if let Some((arguments, by)) = &call.edited {
            self.text(
                4,
                &format!("✎ edited by {by}: {arguments}"),
                theme.warning(),
            );
        }
        for line in &call.delegated {
            self.text(4, line, theme.muted());
        }
        match &call.result {
            Some((content, is_error)) => self.result(content, *is_error, unfolded),
            None if call.started => self.text(4, "● running…", theme.muted()),
            None => {}
        }
    }

    fn result(&mut self, content: &str, is_error: bool, unfolded: bool) {
        let theme = self.theme;
        self.item();
        let style = if is_error {
            theme.error()
        } else {
            theme.muted()
        };
        let what = if is_error {
            "refused or failed"
        } else {
            "result"
        };
        let size = format!(
            "{} line{}, {} bytes",
            content.lines().count(),
            plural(content.lines().count()),
            content.len()
        );
        if !unfolded {
            let first = content.lines().next().unwrap_or_default();
            let first = crate::tui::text::strip_ansi(first);
            let room = self.width.saturating_sub(10 + what.len() + size.len());
            let text = format!("▸ {what} ({size}): {}", super::fit(&first, room).trim_end());
            self.lines.push(Line::styled(format!("    {text}"), style));
            return;
        }
        self.text(4, &format!("▾ {what} ({size})"), style);
        let kept: Vec<&str> = content.lines().take(RESULT_LINES).collect();
        self.text(6, &kept.join("\n"), Style::default());
        if content.lines().count() > RESULT_LINES {
            self.text(6, "… (y copies all of it)", theme.muted());
        }
    }

    /// The turn being written: its finished lines and the unfinished one, with a cursor.
    fn writing(&mut self, n: usize, writing: &Writing) {
        let theme = self.theme;
        self.text(0, &format!("── turn {n} · writing… "), theme.accent());
        for line in &writing.lines {
            self.text(2, line, Style::default());
        }
        if let Some(partial) = &writing.partial {
            self.text(2, &format!("{}▍", partial.plain()), Style::default());
        }
    }
}

/// `text` as lines of at most `width` columns, broken after a space where one is near; escape
/// sequences and control characters dropped, tabs expanded.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let line = crate::tui::text::strip_ansi(raw);
        let mut current = String::new();
        let mut used = 0;
        // Where the last space of `current` is (byte) and the columns before it.
        let mut space: Option<(usize, usize)> = None;
        for c in line.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && c == ' ' {
                // A line ends where a space would overflow it; the space goes.
                out.push(std::mem::take(&mut current));
                (used, space) = (0, None);
                continue;
            }
            if used + w > width && used > 0 {
                match space.take() {
                    Some((at, cols)) if at > 0 => {
                        let rest = current.split_off(at + 1);
                        current.truncate(at);
                        out.push(std::mem::replace(&mut current, rest));
                        used -= cols + 1;
                    }
                    _ => {
                        out.push(std::mem::take(&mut current));
                        used = 0;
                    }
                }
            }
            if c == ' ' {
                space = Some((current.len(), used));
            }
            current.push(c);
            used += w;
        }
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_wraps_at_spaces_and_cuts_words_longer_than_a_line() {
        assert_eq!(wrap("the disk is full", 8), ["the disk", "is full"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\nb", 10), ["a", "b"]);
        assert_eq!(wrap("x\x1b]52;c;ZXZpbA==\x07y \x1b[31mred", 20), ["xy red"]);
    }
}
