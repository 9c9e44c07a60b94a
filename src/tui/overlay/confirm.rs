//! Confirmations of what cannot be undone: cancelling a run (`y` yes, `n`/`esc` no) and
//! quitting with runs active (`w` wait for them, `l` leave them interrupted, `c` cancel them,
//! `esc` stay).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{BindKey, Binding, Cmd, Modal, Tone, dispatch, footer, footer_lines, frame_block};
use crate::engine::Command;
use crate::store::RunId;
use crate::tui::TuiExit;
use crate::tui::app::App;
use crate::tui::effect::Effect;
use crate::tui::keymap::{Action, Key, Keymap};
use crate::tui::theme::Theme;
use crate::tui::view::centered;

const CANCEL_RUN: &[Binding] = &[
    Binding::new(
        BindKey::Action(Action::Yes),
        "yes, cancel",
        Cmd::Yes,
        Tone::Danger,
    ),
    Binding::new(BindKey::Action(Action::No), "no", Cmd::No, Tone::Quiet),
    Binding::new(BindKey::Action(Action::Back), "no", Cmd::No, Tone::Quiet),
];

const QUIT: &[Binding] = &[
    Binding::new(BindKey::Fixed("w"), "wait for them", Cmd::Wait, Tone::Main),
    Binding::new(
        BindKey::Fixed("l"),
        "leave interrupted (resume later)",
        Cmd::Leave,
        Tone::Main,
    ),
    Binding::new(
        BindKey::Fixed("c"),
        "cancel them",
        Cmd::CancelAll,
        Tone::Danger,
    ),
    Binding::new(BindKey::Action(Action::Back), "stay", Cmd::No, Tone::Quiet),
    Binding::new(BindKey::Action(Action::No), "stay", Cmd::No, Tone::Quiet),
];

/// The confirmations' tables, for help.
pub(super) fn catalogue() -> Vec<(&'static str, Vec<Binding>)> {
    vec![
        ("cancelling a run", CANCEL_RUN.to_vec()),
        ("quitting with runs active", QUIT.to_vec()),
    ]
}

/// A destructive action to confirm.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    /// Cancel this run.
    CancelRun {
        /// The run.
        run: RunId,
        /// Its workflow, for the question.
        workflow: String,
    },
    /// Quit while runs are active: wait, leave them interrupted, or cancel them.
    Quit {
        /// How many runs are active.
        active: usize,
    },
}

impl Confirm {
    /// The keys it answers.
    pub fn bindings(&self) -> &'static [Binding] {
        match self {
            Confirm::CancelRun { .. } => CANCEL_RUN,
            Confirm::Quit { .. } => QUIT,
        }
    }

    /// Draws the question over `area`, its keys one a line.
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap) {
        let (title, mut lines) = match self {
            Confirm::CancelRun { run, workflow } => (
                " Cancel run? ",
                vec![
                    Line::styled(
                        format!("Cancel run {run} ({workflow})?"),
                        theme.text().add_modifier(Modifier::BOLD),
                    ),
                    Line::styled(
                        "Running processes get SIGTERM, then SIGKILL.",
                        theme.muted(),
                    ),
                ],
            ),
            Confirm::Quit { active } => (
                " Quit? ",
                vec![Line::styled(
                    format!("{active} run(s) still active."),
                    theme.text().add_modifier(Modifier::BOLD),
                )],
            ),
        };
        lines.push(Line::default());
        match self {
            Confirm::CancelRun { .. } => lines.push(footer(self.bindings(), keymap, theme)),
            // One line a choice.
            Confirm::Quit { .. } => lines.extend(footer_lines(self.bindings(), keymap, theme, 0)),
        }
        let rect = centered(area, 56, lines.len() as u16 + 2);
        frame.render_widget(Clear, rect);
        frame.render_widget(
            Paragraph::new(lines)
                .block(frame_block(title.to_string(), theme))
                .wrap(Wrap { trim: false }),
            rect,
        );
    }
}

impl App {
    pub(super) fn confirm_key(&mut self, key: Key, confirm: Confirm) -> Option<Modal> {
        let exit = match dispatch(confirm.bindings(), &self.keymap, key) {
            Some(Cmd::Yes) => {
                if let Confirm::CancelRun { run, .. } = &confirm {
                    self.send(
                        Command::Cancel(run.clone()),
                        format!("cancelling run {run}"),
                    );
                }
                return None;
            }
            Some(Cmd::No) => return None,
            Some(Cmd::Wait) => TuiExit::WaitForRuns,
            Some(Cmd::Leave) => TuiExit::LeaveInterrupted,
            Some(Cmd::CancelAll) => TuiExit::CancelRuns,
            _ => return Some(Modal::Confirm(confirm)),
        };
        self.effect(Effect::Exit(exit));
        None
    }
}
