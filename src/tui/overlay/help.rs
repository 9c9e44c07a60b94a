//! The help overlay: every keymap action with its keys and `[tui.keys]` name, then each
//! overlay's own table and the palette's commands — all read from the tables dispatch uses.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{BindKey, Binding, Cmd, Modal, PALETTE_COMMANDS, Tone, dispatch, frame_block};
use crate::tui::app::App;
use crate::tui::keymap::{Action, Key, Keymap};
use crate::tui::model::Model;
use crate::tui::theme::Theme;

pub(super) const BINDINGS: &[Binding] = &[
    Binding::new(
        BindKey::Action(Action::Down),
        "scroll",
        Cmd::Down,
        Tone::Main,
    ),
    Binding::new(
        BindKey::Action(Action::Up),
        "scroll up",
        Cmd::Up,
        Tone::Main,
    ),
    Binding::new(
        BindKey::Action(Action::Back),
        "close",
        Cmd::Close,
        Tone::Quiet,
    ),
    Binding::new(
        BindKey::Action(Action::Help),
        "close",
        Cmd::Close,
        Tone::Quiet,
    ),
    Binding::new(
        BindKey::Action(Action::Quit),
        "close",
        Cmd::Close,
        Tone::Quiet,
    ),
];

/// The help overlay's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Help {
    /// First row shown.
    pub offset: usize,
}

impl Help {
    /// Draws the key list over `area` from its scroll offset.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        model: &Model,
        theme: &Theme,
        keymap: &Keymap,
    ) {
        let mut lines: Vec<Line> = Action::all()
            .map(|a| {
                Line::from(vec![
                    Span::styled(format!("{:>14}  ", keymap.label(a)), theme.accent()),
                    Span::styled(format!("{:<28}", a.description()), theme.text()),
                    Span::styled(a.name(), theme.muted()),
                ])
            })
            .collect();
        for (title, bindings) in super::catalogue() {
            lines.push(Line::default());
            lines.push(Line::styled(format!("In {title}"), theme.accent()));
            for b in bindings {
                lines.push(Line::from(vec![
                    Span::styled(format!("{:>14}  ", b.all_keys(keymap)), theme.accent()),
                    Span::styled(b.label, theme.text()),
                ]));
            }
        }
        lines.push(Line::default());
        lines.push(Line::styled("Commands (:)", theme.accent()));
        for (command, aliases, about) in PALETTE_COMMANDS {
            let aliases = if aliases.is_empty() {
                String::new()
            } else {
                format!(" (also :{aliases})")
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{command:>14}  "), theme.accent()),
                Span::styled(format!("{about}{aliases}"), theme.text()),
            ]));
        }
        lines.push(Line::default());
        lines.push(Line::styled(
            format!(
                "theme: {} · remap keys in [tui.keys] by the names on the right",
                model.theme_name
            ),
            theme.muted(),
        ));
        let rect = crate::tui::view::centered(area, 72, area.height.saturating_sub(2));
        let offset = self.offset.min(
            lines
                .len()
                .saturating_sub(rect.height.saturating_sub(2) as usize),
        );
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(lines.split_off(offset.min(lines.len())))
                .block(frame_block(" Keys — ? or esc to close ".into(), theme)),
            rect,
        );
    }
}

impl App {
    pub(super) fn help_key(&mut self, key: Key, mut help: Help) -> Option<Modal> {
        match dispatch(BINDINGS, &self.keymap, key) {
            Some(Cmd::Close) => return None,
            Some(Cmd::Down) => help.offset += 1,
            Some(Cmd::Up) => help.offset = help.offset.saturating_sub(1),
            _ => {}
        }
        Some(Modal::Help(help))
    }
}
