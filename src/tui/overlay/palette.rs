//! The `:` command palette: a line typed and run (`:runs`, `:theme light`, …); `tab` completes
//! a prefix, the list under the line shows the commands that match and their aliases.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{BindKey, Binding, Cmd, Modal, Tone, dispatch, frame_block};
use crate::tui::app::App;
use crate::tui::keymap::{Action, Key};
use crate::tui::model::{LineInput, Screen, Tab};
use crate::tui::theme::Theme;

/// The palette's commands (the first word is what `tab` completes), their aliases and what
/// they do, for completion, the list and help.
pub const PALETTE_COMMANDS: &[(&str, &str, &str)] = &[
    ("runs", "r", "show every run"),
    ("workflows", "wf, w", "show workflow files to start"),
    ("logs", "", "open the Logs tab"),
    ("context", "", "open the Context tab"),
    ("metrics", "", "open the Metrics tab"),
    ("events", "", "open the Events tab"),
    (
        "theme NAME",
        "",
        "switch theme (dark, light, high-contrast, monochrome or a file)",
    ),
    ("approvals", "a", "open the pending approvals"),
    ("help", "h", "show the keys"),
    ("quit", "q", "leave the console"),
];

pub(super) const BINDINGS: &[Binding] = &[
    Binding::new(BindKey::Fixed("enter"), "run", Cmd::Run, Tone::Main),
    Binding::new(BindKey::Fixed("tab"), "complete", Cmd::Complete, Tone::Main),
    Binding::new(BindKey::Fixed("esc"), "close", Cmd::Close, Tone::Quiet),
    Binding::new(BindKey::Fixed("ctrl-u"), "clear", Cmd::Clear, Tone::Quiet),
    Binding::new(BindKey::Text, "type a command", Cmd::Type, Tone::Main),
];

/// The palette's line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Palette {
    /// What is typed.
    pub input: LineInput,
}

/// The commands whose name starts with the first word of `line`.
fn matching(
    line: &str,
) -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    let word = line.split_whitespace().next().unwrap_or("").to_string();
    PALETTE_COMMANDS
        .iter()
        .filter(move |(c, ..)| c.starts_with(&word))
}

impl Palette {
    /// `tab`: the first word completed to the longest prefix the matching commands share.
    fn complete(&mut self) {
        if self.input.text.contains(char::is_whitespace) {
            return;
        }
        let names: Vec<&str> = matching(&self.input.text)
            .map(|(c, ..)| c.split(' ').next().unwrap_or(c))
            .collect();
        let Some(first) = names.first() else {
            return;
        };
        let mut common = first.len();
        for name in &names[1..] {
            common = first
                .bytes()
                .zip(name.bytes())
                .take(common)
                .take_while(|(a, b)| a == b)
                .count();
        }
        self.input.text = first[..common].to_string();
        if names.len() == 1 {
            self.input.text.push(' ');
        }
    }

    /// Draws the line and the matching commands under it.
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let input = self.input.text.as_str();
        let matches: Vec<Line> = matching(input)
            .map(|(c, aliases, about)| {
                let aliases = if aliases.is_empty() {
                    String::new()
                } else {
                    format!(" ({aliases})")
                };
                Line::from(vec![
                    Span::styled(format!(" {c:<12}"), theme.accent()),
                    Span::styled(format!("{about}{aliases}"), theme.muted()),
                ])
            })
            .collect();
        let height = (matches.len() as u16 + 3).min(area.height);
        let rect = Rect::new(
            area.x + 2,
            area.y + 1,
            area.width.saturating_sub(4).min(70),
            height,
        );
        frame.render_widget(Clear, rect);
        let mut lines = vec![Line::from(vec![
            Span::styled(":", theme.accent()),
            Span::styled(input.to_string(), theme.text()),
            Span::styled("▏", theme.accent()),
        ])];
        lines.extend(matches);
        frame.render_widget(
            Paragraph::new(lines).block(frame_block(" Command ".into(), theme)),
            rect,
        );
    }
}

impl App {
    pub(super) fn palette_key(
        &mut self,
        key: Key,
        event: KeyEvent,
        mut palette: Palette,
    ) -> Option<Modal> {
        match dispatch(BINDINGS, &self.keymap, key) {
            Some(Cmd::Close) => return None,
            Some(Cmd::Run) => {
                let line = palette.input.text.trim().to_string();
                self.run_palette(&line);
                return None;
            }
            Some(Cmd::Complete) => palette.complete(),
            Some(Cmd::Clear) => palette.input.text.clear(),
            _ => {
                palette.input.edit(event.code);
            }
        }
        Some(Modal::Palette(palette))
    }

    /// Runs a `:` command.
    pub fn run_palette(&mut self, line: &str) {
        let (word, arg) = match line.split_once(char::is_whitespace) {
            Some((w, a)) => (w, a.trim()),
            None => (line, ""),
        };
        let tab = |t: Tab| {
            move |app: &mut App| {
                if app.model.detail.is_some() {
                    app.model.screen = Screen::Detail;
                    let current = app
                        .model
                        .detail
                        .as_ref()
                        .map(|d| d.tab)
                        .unwrap_or(Tab::Logs);
                    let steps = Tab::ALL.iter().position(|x| *x == t).unwrap_or(0) as isize
                        - Tab::ALL.iter().position(|x| *x == current).unwrap_or(0) as isize;
                    app.perform_tab_shift(steps);
                } else {
                    app.note("open a run first (enter on the runs list)".into());
                }
            }
        };
        match word {
            "" => {}
            "runs" | "r" => self.model.screen = Screen::Runs,
            "workflows" | "wf" | "w" => {
                self.reload_workflows();
                self.model.screen = Screen::Workflows;
            }
            "logs" => tab(Tab::Logs)(self),
            "context" => tab(Tab::Context)(self),
            "metrics" => tab(Tab::Metrics)(self),
            "events" => tab(Tab::Events)(self),
            "approvals" | "a" => self.perform(Action::Approval),
            "help" | "h" => self.perform(Action::Help),
            "quit" | "q" => self.quit(),
            "theme" => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                match Theme::load(Some(arg), no_color) {
                    Ok(theme) => {
                        self.model.theme_name = theme.name.clone();
                        self.theme = theme;
                    }
                    Err(e) => self.error(format!("{e:#}")),
                }
            }
            other => self.error(format!(
                "unknown command `:{other}`; commands: {}",
                PALETTE_COMMANDS
                    .iter()
                    .map(|(c, ..)| c.split(' ').next().unwrap_or(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn perform_tab_shift(&mut self, steps: isize) {
        let action = if steps > 0 {
            Action::NextTab
        } else {
            Action::PrevTab
        };
        for _ in 0..steps.unsigned_abs() {
            self.perform(action);
        }
    }
}
