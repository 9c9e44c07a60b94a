//! Overlays, kept as a stack on the model: the approval prompt, confirmations, help, the `:`
//! palette and the start-a-run form. Each is a component in a file of its own: its state, one
//! `bindings()` table, its key handling and its drawing. Dispatch, the hint bar, the help
//! overlay and each overlay's footer all read the same table, so a remapped key or a new
//! binding shows everywhere at once.

mod approval;
mod confirm;
mod dry_run;
mod help;
mod messages;
mod palette;
mod plan;
mod plan_view;
mod repair;
mod start_form;

pub use approval::{ApprovalFocus, ApprovalModal};
pub use confirm::Confirm;
pub use dry_run::DryRunView;
pub use help::Help;
pub use messages::Messages;
pub use palette::{PALETTE_COMMANDS, Palette};
pub use plan::{PlanEditor, PlanStage};
pub use repair::RepairModal;
pub use start_form::{FormField, StartForm};

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;
use tui_textarea::{CursorMove, TextArea};

use crate::spec::StepId;
use crate::store::RunId;

use super::app::App;
use super::keymap::{Action, Key, Keymap};
use super::model::Model;
use super::theme::Theme;

/// One overlay.
#[derive(Debug)]
pub enum Modal {
    /// A gate waiting for a decision.
    Approval(ApprovalModal),
    /// A destructive action waiting for a yes.
    Confirm(Confirm),
    /// The key list.
    Help(Help),
    /// What the status line said.
    Messages(Messages),
    /// The `:` command line.
    Palette(Palette),
    /// Params of a run to start.
    StartForm(StartForm),
    /// A request, and the plan drafted for it.
    Plan(Box<PlanEditor>),
    /// A model's fix of a failed step.
    Repair(Box<RepairModal>),
    /// A workflow's steps as they would run.
    DryRun(DryRunView),
}

/// What a key in an overlay asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// Approve the gate.
    Approve,
    /// Start writing why the gate is rejected.
    Reject,
    /// Close the prompt, the gate still waiting.
    Later,
    /// Move to the gate's inputs.
    EditInputs,
    /// Next input (after the last: back to the choices).
    NextInput,
    /// Back to the choices.
    Choices,
    /// Reject with the comment typed.
    SendRejection,
    /// Yes, do it.
    Yes,
    /// No, close.
    No,
    /// Quit and wait for the active runs.
    Wait,
    /// Quit and leave the active runs interrupted.
    Leave,
    /// Quit and cancel the active runs.
    CancelAll,
    /// Scroll up.
    Up,
    /// Scroll down.
    Down,
    /// Close the overlay.
    Close,
    /// Run the palette's command.
    Run,
    /// Complete the palette's command.
    Complete,
    /// Start the form's workflow.
    Start,
    /// Next field, or start after the last.
    Enter,
    /// Next field.
    NextField,
    /// Previous field.
    PrevField,
    /// Clear the text field.
    Clear,
    /// Typing into the focused text.
    Type,
    /// Ask the planner for a draft.
    Draft,
    /// Save the plan into the workflows folder.
    Save,
    /// Start the plan.
    RunPlan,
    /// Ask for another draft with a follow-up instruction.
    Revise,
}

/// How a key is written in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKey {
    /// The keys of a keymap action (remappable).
    Action(Action),
    /// A key the overlay owns (`enter`, `tab`, `w`).
    Fixed(&'static str),
    /// Any other key: typed into a text field.
    Text,
}

/// How a binding looks in a footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// The safe or main choice.
    Main,
    /// The choice that approves.
    Ok,
    /// The choice that rejects or destroys.
    Danger,
    /// The way out.
    Quiet,
}

/// One row of an overlay's key table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The key.
    pub key: BindKey,
    /// What it does, as the hint bar, the footer and help say it.
    pub label: &'static str,
    /// What it asks for.
    pub cmd: Cmd,
    /// Its look in a footer.
    pub tone: Tone,
}

impl Binding {
    /// A binding.
    pub const fn new(key: BindKey, label: &'static str, cmd: Cmd, tone: Tone) -> Binding {
        Binding {
            key,
            label,
            cmd,
            tone,
        }
    }

    /// Whether `key` presses this binding.
    pub fn matches(&self, key: Key, keymap: &Keymap) -> bool {
        match self.key {
            BindKey::Action(action) => keymap.is(key, action),
            BindKey::Fixed(text) => Key::parse(text).is_ok_and(|k| k == key),
            BindKey::Text => true,
        }
    }

    /// The key as shown (`A`, `ctrl-s`), `None` for typing.
    pub fn shown_key(&self, keymap: &Keymap) -> Option<String> {
        match self.key {
            BindKey::Action(action) => keymap.primary(action),
            BindKey::Fixed(text) => Some(text.to_string()),
            BindKey::Text => None,
        }
    }

    /// Every key as shown (`q/ctrl-c`), or `type` for typing.
    pub fn all_keys(&self, keymap: &Keymap) -> String {
        match self.key {
            BindKey::Action(action) => keymap.label(action),
            BindKey::Fixed(text) => text.to_string(),
            BindKey::Text => "type".to_string(),
        }
    }
}

/// The command of the first binding `key` presses.
pub fn dispatch(bindings: &[Binding], keymap: &Keymap, key: Key) -> Option<Cmd> {
    bindings
        .iter()
        .find(|b| b.matches(key, keymap))
        .map(|b| b.cmd)
}

/// `(key, label)` pairs of the bindings that have a key, for the hint bar.
/// A second key for the same command is named in help only.
pub fn hint_pairs(bindings: &[Binding], keymap: &Keymap) -> Vec<(String, String)> {
    shown(bindings)
        .filter_map(|b| b.shown_key(keymap).map(|k| (k, b.label.to_string())))
        .collect()
}

/// The bindings a footer or the hint bar shows: one per command, typing left out.
fn shown(bindings: &[Binding]) -> impl Iterator<Item = &Binding> {
    bindings.iter().enumerate().filter_map(|(i, b)| {
        let first = !bindings[..i].iter().any(|o| o.cmd == b.cmd);
        (first && b.key != BindKey::Text).then_some(b)
    })
}

impl Modal {
    /// Whether this is the approval prompt of `run`/`step`.
    pub fn is_approval_for(&self, run: &RunId, step: &StepId) -> bool {
        matches!(self, Modal::Approval(a) if a.run == *run && a.step == *step)
    }

    /// The keys this overlay answers now, first match wins.
    pub fn bindings(&self) -> Vec<Binding> {
        match self {
            Modal::Approval(a) => a.bindings(),
            Modal::Confirm(c) => c.bindings().to_vec(),
            Modal::Help(_) => help::BINDINGS.to_vec(),
            Modal::Messages(_) => messages::BINDINGS.to_vec(),
            Modal::Palette(_) => palette::BINDINGS.to_vec(),
            Modal::StartForm(f) => f.bindings(),
            Modal::Plan(p) => p.bindings(),
            Modal::Repair(r) => r.bindings(),
            Modal::DryRun(_) => dry_run::BINDINGS.to_vec(),
        }
    }

    /// What the hint bar shows for it at `model.clock`.
    pub fn hints(&self, model: &Model, keymap: &Keymap) -> Vec<(String, String)> {
        match self {
            Modal::Approval(a) if a.guard.holds(model.clock) => approval::guard_hints(keymap),
            other => hint_pairs(&other.bindings(), keymap),
        }
    }

    /// Draws it over `area`.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        model: &Model,
        theme: &Theme,
        keymap: &Keymap,
    ) {
        match self {
            Modal::Approval(a) => a.draw(frame, area, model, theme, keymap),
            Modal::Confirm(c) => c.draw(frame, area, theme, keymap),
            Modal::Help(h) => h.draw(frame, area, model, theme, keymap),
            Modal::Messages(m) => m.draw(frame, area, model, theme),
            Modal::Palette(p) => p.draw(frame, area, theme),
            Modal::StartForm(f) => f.draw(frame, area, theme, keymap),
            Modal::Plan(p) => p.draw(frame, area, theme, keymap),
            Modal::Repair(r) => r.draw(frame, area, theme, keymap),
            Modal::DryRun(d) => d.draw(frame, area, theme, keymap),
        }
    }
}

/// Every overlay's table in every state, titled, for the help overlay (and its test).
pub fn catalogue() -> Vec<(&'static str, Vec<Binding>)> {
    let mut all = approval::catalogue();
    all.extend(confirm::catalogue());
    all.push(("help", help::BINDINGS.to_vec()));
    all.push(("the message history", messages::BINDINGS.to_vec()));
    all.push(("the : palette", palette::BINDINGS.to_vec()));
    all.push(("the start form", start_form::BINDINGS.to_vec()));
    all.extend(plan::catalogue());
    all.extend(repair::catalogue());
    all.push(("a dry run", dry_run::BINDINGS.to_vec()));
    all
}

impl App {
    /// Sends a key to the top overlay.
    pub(crate) fn modal_key(&mut self, key: Key, event: KeyEvent) {
        let Some(top) = self.model.modals.pop() else {
            return;
        };
        let keep = match top {
            Modal::Help(h) => self.help_key(key, h),
            Modal::Messages(m) => self.messages_key(key, m),
            Modal::Palette(p) => self.palette_key(key, event, p),
            Modal::Confirm(c) => self.confirm_key(key, c),
            Modal::Approval(a) => self.approval_key(key, event, a),
            Modal::StartForm(f) => self.form_key(key, event, f),
            Modal::Plan(p) => self.plan_key(key, event, p),
            Modal::Repair(r) => self.repair_key(key, r),
            Modal::DryRun(d) => self.dry_run_key(key, d),
        };
        if let Some(modal) = keep {
            self.model.modals.push(modal);
        }
    }
}

/// A footer line drawn from `bindings`: each key in reverse video, its label after it.
pub fn footer<'a>(bindings: &[Binding], keymap: &Keymap, theme: &Theme) -> Line<'a> {
    footer_lines(bindings, keymap, theme, usize::MAX)
        .pop()
        .unwrap_or_default()
}

/// The footer packed into lines of at most `width` columns.
pub fn footer_lines<'a>(
    bindings: &[Binding],
    keymap: &Keymap,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'a>> {
    let mut lines: Vec<Vec<Span<'a>>> = vec![Vec::new()];
    let mut used = 0;
    for b in shown(bindings) {
        let Some(key) = b.shown_key(keymap) else {
            continue;
        };
        let style = match b.tone {
            Tone::Main => theme.accent(),
            Tone::Ok => theme.ok().add_modifier(Modifier::BOLD),
            Tone::Danger => theme.error(),
            Tone::Quiet => theme.muted(),
        };
        let key = format!(" {key} ");
        let label = format!(" {}", b.label);
        let wide = key.chars().count() + label.chars().count();
        let line = lines
            .last_mut()
            .filter(|l| l.is_empty() || used + 3 + wide <= width);
        let line = match line {
            Some(line) => line,
            None => {
                lines.push(Vec::new());
                used = 0;
                lines.last_mut().expect("just pushed")
            }
        };
        if !line.is_empty() {
            line.push(Span::raw("   "));
            used += 3;
        }
        line.push(Span::styled(key, style.add_modifier(Modifier::REVERSED)));
        line.push(Span::raw(label));
        used += wide;
    }
    lines.into_iter().map(Line::from).collect()
}

pub(crate) fn frame_block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .title(Span::styled(title, theme.modal()))
        .border_style(theme.modal())
}

pub(crate) fn label<'a>(name: &str, value: String, theme: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<6}"), theme.muted()),
        Span::styled(value, theme.text()),
    ])
}

/// A text editor holding `lines`, the cursor after the last character (so typing appends).
pub(crate) fn editor_at_end(lines: Vec<String>) -> TextArea<'static> {
    let mut editor = TextArea::new(lines);
    editor.move_cursor(CursorMove::Bottom);
    editor.move_cursor(CursorMove::End);
    editor
}
