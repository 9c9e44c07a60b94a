//! The approval prompt: a gate's run, step, prompt and action, its editable inputs and a
//! rejection comment; `A` approves, `X` asks why and rejects, `esc` decides later, `tab` edits
//! the inputs. Deaf to keys while its guard holds, so a key typed for the view behind it never
//! decides a gate.

use crossterm::event::KeyEvent;
use indexmap::IndexMap;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use tui_textarea::TextArea;

use super::{
    BindKey, Binding, Cmd, Modal, Tone, dispatch, editor_at_end, footer, frame_block, label,
};
use crate::agents::approve::{ARGUMENTS_INPUT, edited_arguments};
use crate::engine::Command;
use crate::spec::StepId;
use crate::store::{ApprovalRecord, RunId};
use crate::tui::app::App;
use crate::tui::guard::KeyGuard;
use crate::tui::keymap::{Action, Key, Keymap};
use crate::tui::model::{LineInput, Model};
use crate::tui::text;
use crate::tui::theme::Theme;
use crate::tui::view::{centered, format_ms};

const CHOICES: &[Binding] = &[
    Binding::new(
        BindKey::Action(Action::Approve),
        "approve",
        Cmd::Approve,
        Tone::Ok,
    ),
    Binding::new(
        BindKey::Action(Action::Reject),
        "reject",
        Cmd::Reject,
        Tone::Danger,
    ),
    Binding::new(
        BindKey::Action(Action::Later),
        "later",
        Cmd::Later,
        Tone::Quiet,
    ),
];

const EDIT_INPUTS: Binding = Binding::new(
    BindKey::Action(Action::NextPane),
    "edit inputs",
    Cmd::EditInputs,
    Tone::Quiet,
);

const INPUT: &[Binding] = &[
    Binding::new(
        BindKey::Fixed("tab"),
        "next input",
        Cmd::NextInput,
        Tone::Main,
    ),
    Binding::new(BindKey::Fixed("esc"), "done", Cmd::Choices, Tone::Quiet),
    Binding::new(BindKey::Text, "edit the input", Cmd::Type, Tone::Main),
];

const COMMENT: &[Binding] = &[
    Binding::new(
        BindKey::Fixed("enter"),
        "reject with this comment",
        Cmd::SendRejection,
        Tone::Danger,
    ),
    Binding::new(BindKey::Fixed("esc"), "back", Cmd::Choices, Tone::Quiet),
    Binding::new(BindKey::Fixed("ctrl-u"), "clear", Cmd::Clear, Tone::Quiet),
    Binding::new(BindKey::Text, "write why", Cmd::Type, Tone::Main),
];

/// The prompt's tables, for help.
pub(super) fn catalogue() -> Vec<(&'static str, Vec<Binding>)> {
    let mut choices = CHOICES.to_vec();
    choices.push(EDIT_INPUTS);
    vec![
        ("the approval prompt", choices),
        ("an approval's inputs", INPUT.to_vec()),
        ("a rejection's comment", COMMENT.to_vec()),
    ]
}

/// The hint bar while the guard holds.
pub(super) fn guard_hints(keymap: &Keymap) -> Vec<(String, String)> {
    let mut hints = vec![("…".to_string(), "keys ignored for a moment".to_string())];
    hints.extend(super::hint_pairs(&CHOICES[..2], keymap));
    hints
}

/// Where the keys go in the approval modal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalFocus {
    /// The approve / reject / later keys decide.
    Choices,
    /// Typing edits this input.
    Input(usize),
    /// Typing writes the rejection comment.
    Comment,
}

/// The approval prompt's state.
#[derive(Debug)]
pub struct ApprovalModal {
    /// The run.
    pub run: RunId,
    /// The gated step.
    pub step: StepId,
    /// Editable inputs, in the gate's order.
    pub inputs: Vec<(String, TextArea<'static>)>,
    /// Where keys go.
    pub focus: ApprovalFocus,
    /// The rejection comment being typed.
    pub comment: LineInput,
    /// Keys are ignored until it lets go.
    pub guard: KeyGuard,
    /// How many keys the guard has dropped (shown, so the operator knows they did nothing).
    pub ignored: u32,
}

impl ApprovalModal {
    /// The keys the prompt answers in its focus.
    pub fn bindings(&self) -> Vec<Binding> {
        match self.focus {
            ApprovalFocus::Choices => {
                let mut b = CHOICES.to_vec();
                if !self.inputs.is_empty() {
                    b.push(EDIT_INPUTS);
                }
                b
            }
            ApprovalFocus::Input(_) => INPUT.to_vec(),
            ApprovalFocus::Comment => COMMENT.to_vec(),
        }
    }

    /// The prompt for `approval`, inputs filled with their initial values, deaf to keys until
    /// `guard` lets go.
    pub fn new(approval: &ApprovalRecord, guard: KeyGuard) -> ApprovalModal {
        let inputs = approval
            .inputs
            .iter()
            .map(|(name, value)| {
                let lines = if value.is_empty() {
                    vec![String::new()]
                } else {
                    value.lines().map(str::to_string).collect()
                };
                (name.clone(), editor_at_end(lines))
            })
            .collect();
        ApprovalModal {
            run: approval.run.clone(),
            step: approval.step.clone(),
            inputs,
            focus: ApprovalFocus::Choices,
            comment: LineInput::default(),
            guard,
            ignored: 0,
        }
    }

    /// Draws the prompt over `area`.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        model: &Model,
        theme: &Theme,
        keymap: &Keymap,
    ) {
        let a = self;
        let record = model
            .approvals
            .iter()
            .position(|r| r.run == a.run && r.step == a.step);
        let total = model.approvals.len();
        let position = record
            .map(|i| format!(" — {} of {total}", i + 1))
            .unwrap_or_default();
        let record = record.and_then(|i| model.approvals.get(i));
        let workflow = model
            .runs
            .iter()
            .find(|r| r.id == a.run)
            .map(|r| format!(" ({})", r.workflow))
            .unwrap_or_default();
        let width = area.width.saturating_sub(4).min(78);
        let inner_width = width.saturating_sub(2).max(1) as usize;
        let mut lines = vec![
            label("run", format!("{}{workflow}", a.run), theme),
            label("step", a.step.to_string(), theme),
        ];
        if let Some(deadline) = record.and_then(|r| r.deadline) {
            lines.push(label(
                "times",
                format!("out in {}", format_ms(deadline.millis_since(model.now))),
                theme,
            ));
        }
        lines.push(Line::default());
        let prompt = record.map(|r| r.prompt.as_str()).unwrap_or("");
        let mut wrapped_rows = 0usize;
        for l in prompt.lines() {
            let plain = text::strip_ansi(l).into_owned();
            wrapped_rows += plain.chars().count().max(1).div_ceil(inner_width);
            lines.push(Line::styled(
                plain,
                theme.text().add_modifier(Modifier::BOLD),
            ));
        }
        if let Some(action) = record.and_then(|r| r.action.as_deref()) {
            lines.push(Line::default());
            // The engine words the action itself (`$ command`, `POST url` and body, …).
            for l in action.lines() {
                let plain = text::strip_ansi(l).into_owned();
                wrapped_rows += (plain.chars().count() + 2).div_ceil(inner_width);
                lines.push(Line::from(vec![
                    Span::styled("  ", theme.accent()),
                    Span::styled(plain, theme.warning()),
                ]));
            }
        }
        let extra_wrap = wrapped_rows.saturating_sub(
            prompt.lines().count()
                + record
                    .and_then(|r| r.action.as_deref())
                    .map(|x| x.lines().count())
                    .unwrap_or(0),
        );
        let input_rows: u16 = a
            .inputs
            .iter()
            .map(|(_, t)| (t.lines().len() as u16).clamp(1, 4))
            .sum();
        let comment_rows = if a.focus == ApprovalFocus::Comment {
            2
        } else {
            0
        };
        let text_rows = lines.len() as u16 + extra_wrap as u16;
        let inputs_block = if a.inputs.is_empty() {
            0
        } else {
            1 + input_rows + a.inputs.len() as u16
        };
        let height = (text_rows + inputs_block + comment_rows + 2 + 2).min(area.height);
        let rect = centered(area, width, height);
        frame.render_widget(Clear, rect);
        let block = frame_block(format!(" ⚑ Approval needed{position} "), theme);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let text_height = text_rows.min(inner.height);
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }),
            Rect {
                height: text_height,
                ..inner
            },
        );
        let mut y = inner.y + text_height;
        let bottom = inner.y + inner.height;
        if !a.inputs.is_empty() && y < bottom {
            y += 1;
            for (i, (name, editor)) in a.inputs.iter().enumerate() {
                if y >= bottom {
                    break;
                }
                let focused = a.focus == ApprovalFocus::Input(i);
                let style = if focused {
                    theme.accent()
                } else {
                    theme.muted()
                };
                frame.render_widget(
                    Paragraph::new(Line::styled(format!("{name}:"), style)),
                    Rect::new(inner.x, y, inner.width, 1),
                );
                y += 1;
                let rows = (editor.lines().len() as u16)
                    .clamp(1, 4)
                    .min(bottom.saturating_sub(y));
                if rows == 0 {
                    break;
                }
                let field = Rect::new(inner.x + 2, y, inner.width.saturating_sub(2), rows);
                if focused {
                    frame.render_widget(editor, field);
                } else {
                    let shown: Vec<Line> = editor
                        .lines()
                        .iter()
                        .map(|l| Line::styled(l.clone(), theme.text()))
                        .collect();
                    frame.render_widget(Paragraph::new(shown), field);
                }
                y += rows;
            }
        }
        if a.focus == ApprovalFocus::Comment && y + 1 < bottom {
            y += 1;
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("why reject? ", theme.accent()),
                    Span::styled(a.comment.text.clone(), theme.text()),
                    Span::styled("▏", theme.accent()),
                ])),
                Rect::new(inner.x, y, inner.width, 1),
            );
        }
        let choices = if a.guard.holds(model.clock) {
            let dropped = match a.ignored {
                0 => String::new(),
                1 => " (1 key dropped)".to_string(),
                n => format!(" ({n} keys dropped)"),
            };
            Line::styled(
                format!("keys ignored for a moment — the prompt just opened{dropped}"),
                theme.warning(),
            )
        } else {
            footer(&a.bindings(), keymap, theme)
        };
        if inner.height > 0 {
            frame.render_widget(
                Paragraph::new(choices),
                Rect::new(inner.x, bottom - 1, inner.width, 1),
            );
        }
    }
}

impl App {
    pub(super) fn approval_key(
        &mut self,
        key: Key,
        event: KeyEvent,
        mut modal: ApprovalModal,
    ) -> Option<Modal> {
        if modal.guard.holds(self.model.clock) {
            modal.ignored += 1;
            self.note(format!(
                "{} key(s) ignored: the approval prompt had just opened",
                modal.ignored
            ));
            return Some(Modal::Approval(modal));
        }
        match dispatch(&modal.bindings(), &self.keymap, key) {
            Some(Cmd::Approve) => return self.decide(modal, true, None),
            Some(Cmd::Reject) => modal.focus = ApprovalFocus::Comment,
            Some(Cmd::Later) => {
                let waiting = self.model.approvals.len();
                self.note(format!(
                    "decision put off: {waiting} approval(s) pending, `{}` to open",
                    self.keymap.primary(Action::Approval).unwrap_or_default()
                ));
                return None;
            }
            Some(Cmd::EditInputs) => modal.focus = ApprovalFocus::Input(0),
            Some(Cmd::NextInput) => {
                if let ApprovalFocus::Input(i) = modal.focus {
                    modal.focus = if i + 1 < modal.inputs.len() {
                        ApprovalFocus::Input(i + 1)
                    } else {
                        ApprovalFocus::Choices
                    };
                }
            }
            Some(Cmd::Choices) => modal.focus = ApprovalFocus::Choices,
            Some(Cmd::SendRejection) => {
                let comment = modal.comment.text.trim().to_string();
                let comment = (!comment.is_empty()).then_some(comment);
                return self.decide(modal, false, comment);
            }
            Some(Cmd::Clear) => modal.comment.text.clear(),
            Some(Cmd::Type) => match modal.focus {
                ApprovalFocus::Input(i) => {
                    if let Some((_, editor)) = modal.inputs.get_mut(i) {
                        editor.input(event);
                    }
                }
                _ => {
                    modal.comment.edit(event.code);
                }
            },
            _ => {}
        }
        Some(Modal::Approval(modal))
    }

    /// Sends the decision and closes the prompt; the gate leaves the queue once the engine has
    /// it (on failure it stays, to open again). The next queued gate does not open by itself
    /// (a second press of the key just used must not decide it): the banner names it.
    fn decide(
        &mut self,
        modal: ApprovalModal,
        approved: bool,
        comment: Option<String>,
    ) -> Option<Modal> {
        let inputs: IndexMap<String, String> = modal
            .inputs
            .iter()
            .map(|(name, editor)| (name.clone(), editor.lines().join("\n")))
            .collect();
        if let Some(why) = approved
            .then(|| self.bad_arguments(&modal, &inputs))
            .flatten()
        {
            // The operator's edit stays in the prompt, to be corrected.
            self.note(why);
            return Some(Modal::Approval(modal));
        }
        let verb = if approved { "approving" } else { "rejecting" };
        let doing = format!("{verb} {}/{}", modal.run, modal.step);
        self.model
            .deciding
            .insert((modal.run.clone(), modal.step.clone()));
        let command = Command::Decide {
            run: modal.run,
            step: modal.step,
            approved,
            via: None,
            comment,
            inputs,
        };
        self.send(command, doing);
        None
    }

    /// What is wrong with the edited arguments of a tool call's gate, if anything.
    fn bad_arguments(
        &self,
        modal: &ApprovalModal,
        inputs: &IndexMap<String, String>,
    ) -> Option<String> {
        let gate = self
            .model
            .approvals
            .iter()
            .find(|r| r.run == modal.run && r.step == modal.step)?;
        let tool = gate.tool.as_deref()?;
        let text = inputs.get(ARGUMENTS_INPUT)?;
        let why = edited_arguments(text).err()?;
        Some(format!("the `{tool}` call was not approved: {why}"))
    }
}
