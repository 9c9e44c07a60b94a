//! Keys of the overlays: the approval prompt (`A` approve, `X` reject with a comment, `esc`
//! later, `tab` to edit inputs; deaf to keys while its guard holds), confirmations (`y`/`n`),
//! help, the `:` palette and the start form.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use indexmap::IndexMap;

use crate::engine::Command;

use super::TuiExit;
use super::app::App;
use super::effect::Effect;
use super::keymap::{Action, Key};
use super::modal::{ApprovalFocus, ApprovalModal, Confirm, Modal, StartForm};
use super::model::{Screen, Tab};
use super::theme::Theme;

/// The palette's commands, for completion hints and help.
pub const PALETTE_COMMANDS: &[(&str, &str)] = &[
    ("runs", "show every run"),
    ("workflows", "show workflow files to start"),
    ("logs", "open the Logs tab"),
    ("context", "open the Context tab"),
    ("metrics", "open the Metrics tab"),
    ("events", "open the Events tab"),
    (
        "theme NAME",
        "switch theme (dark, light, high-contrast, monochrome or a file)",
    ),
    ("approvals", "open the pending approvals"),
    ("help", "show the keys"),
    ("quit", "leave the console"),
];

impl App {
    /// Sends a key to the top overlay.
    pub(crate) fn modal_key(&mut self, key: Key, event: KeyEvent) {
        let Some(top) = self.model.modals.pop() else {
            return;
        };
        let keep = match top {
            Modal::Help { offset } => self.help_key(key, offset),
            Modal::Palette(mut input) => match event.code {
                KeyCode::Esc => None,
                KeyCode::Enter => {
                    self.run_palette(input.text.trim());
                    None
                }
                other => {
                    input.edit(other);
                    Some(Modal::Palette(input))
                }
            },
            Modal::Confirm(confirm) => self.confirm_key(key, event.code, confirm),
            Modal::Approval(approval) => self.approval_key(key, event, approval),
            Modal::StartForm(form) => self.form_key(event, form),
        };
        if let Some(modal) = keep {
            self.model.modals.push(modal);
        }
    }

    fn help_key(&mut self, key: Key, offset: usize) -> Option<Modal> {
        let is = |a| self.keymap.is(key, a);
        if is(Action::Back) || is(Action::Help) || is(Action::Quit) {
            None
        } else if is(Action::Down) {
            Some(Modal::Help { offset: offset + 1 })
        } else if is(Action::Up) {
            Some(Modal::Help {
                offset: offset.saturating_sub(1),
            })
        } else {
            Some(Modal::Help { offset })
        }
    }

    fn confirm_key(&mut self, key: Key, code: KeyCode, confirm: Confirm) -> Option<Modal> {
        let yes = self.keymap.is(key, Action::Yes);
        let no = self.keymap.is(key, Action::No) || self.keymap.is(key, Action::Back);
        match &confirm {
            Confirm::CancelRun { run, .. } => {
                if yes {
                    self.send(
                        Command::Cancel(run.clone()),
                        format!("cancelling run {run}"),
                    );
                    None
                } else if no {
                    None
                } else {
                    Some(Modal::Confirm(confirm))
                }
            }
            Confirm::Quit { .. } => {
                let choice = match code {
                    KeyCode::Char('w') => Some(TuiExit::WaitForRuns),
                    KeyCode::Char('l') => Some(TuiExit::LeaveInterrupted),
                    KeyCode::Char('c') => Some(TuiExit::CancelRuns),
                    _ => None,
                };
                if let Some(choice) = choice {
                    self.effect(Effect::Exit(choice));
                    None
                } else if no {
                    None
                } else {
                    Some(Modal::Confirm(confirm))
                }
            }
        }
    }

    fn approval_key(
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
        match modal.focus {
            ApprovalFocus::Choices => {
                if self.keymap.is(key, Action::Approve) {
                    return self.decide(modal, true, None);
                }
                if self.keymap.is(key, Action::Reject) {
                    modal.focus = ApprovalFocus::Comment;
                } else if self.keymap.is(key, Action::Later) {
                    let waiting = self.model.approvals.len();
                    self.note(format!(
                        "decision put off: {waiting} approval(s) pending, `{}` to open",
                        self.keymap.primary(Action::Approval).unwrap_or_default()
                    ));
                    return None;
                } else if self.keymap.is(key, Action::NextPane) && !modal.inputs.is_empty() {
                    modal.focus = ApprovalFocus::Input(0);
                }
            }
            ApprovalFocus::Input(i) => match event.code {
                KeyCode::Esc => modal.focus = ApprovalFocus::Choices,
                KeyCode::Tab => {
                    modal.focus = if i + 1 < modal.inputs.len() {
                        ApprovalFocus::Input(i + 1)
                    } else {
                        ApprovalFocus::Choices
                    };
                }
                _ => {
                    if let Some((_, editor)) = modal.inputs.get_mut(i) {
                        editor.input(event);
                    }
                }
            },
            ApprovalFocus::Comment => match event.code {
                KeyCode::Esc => modal.focus = ApprovalFocus::Choices,
                KeyCode::Enter => {
                    let comment = modal.comment.text.trim().to_string();
                    let comment = (!comment.is_empty()).then_some(comment);
                    return self.decide(modal, false, comment);
                }
                other => {
                    modal.comment.edit(other);
                }
            },
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

    fn form_key(&mut self, event: KeyEvent, mut form: StartForm) -> Option<Modal> {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        match event.code {
            KeyCode::Esc => return None,
            KeyCode::Char('s') if ctrl => return self.submit(form),
            KeyCode::Enter if form.fields.is_empty() => return self.submit(form),
            KeyCode::Tab if !form.fields.is_empty() => {
                form.focus = (form.focus + 1) % form.fields.len();
            }
            KeyCode::BackTab if !form.fields.is_empty() => {
                form.focus = (form.focus + form.fields.len() - 1) % form.fields.len();
            }
            _ => {
                if let Some(field) = form.fields.get_mut(form.focus) {
                    field.editor.input(event);
                }
            }
        }
        Some(Modal::StartForm(form))
    }

    /// Starts the form's workflow on the worker (which reads and checks the file again); the
    /// form stays, saying `starting…`, until the run is started (then it opens) or refused
    /// (then the form shows why, one problem a line).
    fn submit(&mut self, mut form: StartForm) -> Option<Modal> {
        if form.starting.is_some() {
            return Some(Modal::StartForm(form));
        }
        let ticket = self.ticket(format!("starting {}", form.workflow.name));
        form.starting = Some(ticket);
        form.error = None;
        self.effect(Effect::Start {
            ticket,
            path: form.workflow.path.clone(),
            params: form.values(),
        });
        Some(Modal::StartForm(form))
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
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    fn perform_tab_shift(&mut self, steps: isize) {
        if steps > 0 {
            for _ in 0..steps {
                self.perform(Action::NextTab);
            }
        } else {
            for _ in 0..(-steps) {
                self.perform(Action::PrevTab);
            }
        }
    }
}
