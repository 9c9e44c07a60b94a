//! Overlays, kept as a stack on the model: the approval prompt, confirmations, help, the `:`
//! palette and the start-a-run form. Only their state lives here; keys are handled in
//! `action.rs` and drawing in `view/modal.rs`.

use tui_textarea::{CursorMove, TextArea};

use crate::spec::StepId;
use crate::store::{ApprovalRecord, RunId};

use super::guard::KeyGuard;
use super::model::LineInput;
use super::workflows::WorkflowEntry;
use crate::spec::ParamSpec;

/// One overlay.
#[derive(Debug)]
pub enum Modal {
    /// A gate waiting for a decision.
    Approval(ApprovalModal),
    /// A destructive action waiting for a yes.
    Confirm(Confirm),
    /// The key list.
    Help {
        /// First row shown.
        offset: usize,
    },
    /// The `:` command line.
    Palette(LineInput),
    /// Params of a run to start.
    StartForm(StartForm),
}

impl Modal {
    /// Whether this is the approval prompt of `run`/`step`.
    pub fn is_approval_for(&self, run: &RunId, step: &StepId) -> bool {
        matches!(self, Modal::Approval(a) if a.run == *run && a.step == *step)
    }
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

/// The start-a-run form.
#[derive(Debug)]
pub struct StartForm {
    /// The workflow.
    pub workflow: WorkflowEntry,
    /// One field per declared param.
    pub fields: Vec<FormField>,
    /// Focused field.
    pub focus: usize,
    /// Why the last start failed (one problem a line).
    pub error: Option<String>,
    /// The start in flight, if any.
    pub starting: Option<super::effect::Ticket>,
}

/// A param's field.
#[derive(Debug)]
pub struct FormField {
    /// The param's name.
    pub name: String,
    /// Its declaration.
    pub param: ParamSpec,
    /// The value being typed (multi-line allowed).
    pub editor: TextArea<'static>,
}

impl StartForm {
    /// A form for `workflow`, fields holding the defaults.
    pub fn new(workflow: WorkflowEntry) -> StartForm {
        let fields = workflow
            .params
            .iter()
            .map(|(name, param)| {
                let initial = match &param.default {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                FormField {
                    name: name.clone(),
                    param: param.clone(),
                    editor: editor_at_end(initial.lines().map(str::to_string).collect()),
                }
            })
            .collect();
        StartForm {
            workflow,
            fields,
            focus: 0,
            error: None,
            starting: None,
        }
    }

    /// The value typed in each field (empty fields are left out, so defaults apply).
    pub fn values(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.name.clone(), f.editor.lines().join("\n")))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

/// A text editor holding `lines`, the cursor after the last character (so typing appends).
fn editor_at_end(lines: Vec<String>) -> TextArea<'static> {
    let mut editor = TextArea::new(lines);
    editor.move_cursor(CursorMove::Bottom);
    editor.move_cursor(CursorMove::End);
    editor
}
