//! The message history: what the status line said, newest first, with when.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{BindKey, Binding, Cmd, Modal, dispatch, frame_block};
use crate::tui::app::App;
use crate::tui::keymap::{Action, Key};
use crate::tui::model::Model;
use crate::tui::theme::Theme;

pub(super) const BINDINGS: &[Binding] = &[
    Binding::new(
        BindKey::Action(Action::Down),
        "older",
        Cmd::Down,
        super::Tone::Main,
    ),
    Binding::new(
        BindKey::Action(Action::Up),
        "newer",
        Cmd::Up,
        super::Tone::Main,
    ),
    Binding::new(
        BindKey::Action(Action::Back),
        "close",
        Cmd::Close,
        super::Tone::Quiet,
    ),
    Binding::new(
        BindKey::Action(Action::Messages),
        "close",
        Cmd::Close,
        super::Tone::Quiet,
    ),
];

/// The history overlay's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Messages {
    /// Newest messages skipped.
    pub offset: usize,
}

impl Messages {
    /// Draws the history, newest first, from its scroll offset.
    pub fn draw(&self, frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
        let mut lines: Vec<Line> = model
            .messages
            .iter()
            .rev()
            .skip(self.offset)
            .map(|(at, status)| {
                let style = if status.error {
                    theme.error()
                } else {
                    theme.text()
                };
                Line::from(vec![
                    Span::styled(format!("{} ", at.clock()), theme.muted()),
                    Span::styled(status.text.clone(), style),
                ])
            })
            .collect();
        if lines.is_empty() {
            lines.push(Line::styled("No messages yet.", theme.muted()));
        }
        let rect = crate::tui::view::centered(area, 90, area.height.saturating_sub(2));
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(frame_block(
                    format!(" Messages ({}) — newest first ", model.messages.len()),
                    theme,
                )),
            rect,
        );
    }
}

impl App {
    pub(super) fn messages_key(&mut self, key: Key, mut m: Messages) -> Option<Modal> {
        let len = self.model.messages.len();
        match dispatch(BINDINGS, &self.keymap, key) {
            Some(Cmd::Close) => return None,
            Some(Cmd::Down) => m.offset = (m.offset + 1).min(len.saturating_sub(1)),
            Some(Cmd::Up) => m.offset = m.offset.saturating_sub(1),
            _ => {}
        }
        Some(Modal::Messages(m))
    }
}
