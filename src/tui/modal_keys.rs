//! Keys of the overlays: the approval prompt (`A` approve, `X` reject with a comment, `esc`
//! later, `tab` to edit inputs; deaf to keys while its guard holds), confirmations (`y`/`n`),
//! help, the `:` palette and the start form.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use indexmap::IndexMap;
use serde_json::Value;

use crate::engine::{Command, StartRequest};

use super::TuiExit;
use super::app::App;
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
                    match self.backend.send(Command::Cancel(run.clone())) {
                        Ok(()) => self.note(format!("cancelling run {run}")),
                        Err(e) => self.error(format!("cannot cancel run {run}: {e:#}")),
                    }
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
                    self.exit = Some(choice);
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

    /// Sends the decision. The next queued gate does not open by itself (a second press of the
    /// key just used must not decide it): the banner names it.
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
        let command = Command::Decide {
            run: modal.run.clone(),
            step: modal.step.clone(),
            approved,
            via: None,
            comment,
            inputs,
        };
        match self.backend.send(command) {
            Ok(()) => {
                let verb = if approved { "approved" } else { "rejected" };
                self.model
                    .approvals
                    .retain(|a| !(a.run == modal.run && a.step == modal.step));
                let waiting = self.model.approvals.len();
                let more = if waiting == 0 {
                    String::new()
                } else {
                    format!(
                        "; {waiting} more waiting, `{}` to open",
                        self.keymap.primary(Action::Approval).unwrap_or_default()
                    )
                };
                self.note(format!("{verb} {}/{}{more}", modal.run, modal.step));
                None
            }
            Err(e) => {
                self.error(format!("cannot decide {}/{}: {e:#}", modal.run, modal.step));
                Some(Modal::Approval(modal))
            }
        }
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

    /// Starts the form's workflow; opens the new run. The file is read and validated again
    /// (it may have changed since it was listed) and the params are resolved the way the engine
    /// will resolve them, so problems show in the form, one a line.
    fn submit(&mut self, mut form: StartForm) -> Option<Modal> {
        let path = form.workflow.path.clone();
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                form.error = Some(format!("cannot read {}: {e}", path.display()));
                return Some(Modal::StartForm(form));
            }
        };
        let wf = match crate::spec::parse_str(&source, &path) {
            Ok(wf) => wf,
            Err(diags) => {
                form.error = Some(super::workflows::summary(diags.iter(), diags.len()));
                return Some(Modal::StartForm(form));
            }
        };
        let params: IndexMap<String, Value> = form
            .values()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        if let Err(problems) = crate::spec::resolve_params(&wf, &params) {
            form.error = Some(problems);
            return Some(Modal::StartForm(form));
        }
        let request = StartRequest {
            source,
            path: Some(path),
            params,
            workdir: None,
        };
        match self.backend.start(request) {
            Ok(run) => {
                self.note(format!("started run {run} of {}", form.workflow.name));
                if let Ok(runs) = self.backend.runs() {
                    self.model.set_runs(runs);
                }
                self.open_run(&run);
                None
            }
            Err(e) => {
                form.error = Some(format!("{e:#}"));
                Some(Modal::StartForm(form))
            }
        }
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
