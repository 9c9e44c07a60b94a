//! The plan editor (`p`): a request box; the model's draft, made on the planner desk's thread,
//! opens in an editor checked as `baton validate` checks a file on every change (each problem
//! beside its line) with the DAG beside it; the operator edits, asks for another draft with a
//! follow-up instruction, saves it into the workflows folder or runs it. Every draft is a plan
//! version, and so is every edit that is saved, run, revised or left.

use crossterm::event::KeyEvent;
use ratatui::style::{Modifier, Style};
use tui_textarea::{CursorMove, TextArea};

use super::{BindKey, Binding, Cmd, Modal, Tone, dispatch, editor_at_end};
use crate::tui::app::App;
use crate::tui::effect::{Effect, Load, Ticket};
use crate::tui::keymap::Key;
use crate::tui::plan::{DagRow, Drafted, Edit, PlanCheck, PlanDone, PlanJob};

const REQUEST: &[Binding] = &[
    Binding::new(BindKey::Fixed("enter"), "draft", Cmd::Draft, Tone::Ok),
    Binding::new(BindKey::Fixed("esc"), "close", Cmd::Close, Tone::Quiet),
    Binding::new(
        BindKey::Text,
        "type what the workflow should do",
        Cmd::Type,
        Tone::Main,
    ),
];

const EDIT: &[Binding] = &[
    Binding::new(BindKey::Fixed("ctrl-r"), "run", Cmd::RunPlan, Tone::Ok),
    Binding::new(BindKey::Fixed("ctrl-s"), "save", Cmd::Save, Tone::Main),
    Binding::new(
        BindKey::Fixed("ctrl-t"),
        "another draft",
        Cmd::Revise,
        Tone::Main,
    ),
    Binding::new(BindKey::Fixed("esc"), "close", Cmd::Close, Tone::Quiet),
    Binding::new(BindKey::Text, "edit the workflow", Cmd::Type, Tone::Main),
];

const FOLLOW_UP: &[Binding] = &[
    Binding::new(BindKey::Fixed("enter"), "redraft", Cmd::Draft, Tone::Ok),
    Binding::new(BindKey::Fixed("esc"), "back", Cmd::Choices, Tone::Quiet),
    Binding::new(BindKey::Text, "type what to change", Cmd::Type, Tone::Main),
];

const BUSY: &[Binding] = &[Binding::new(
    BindKey::Fixed("esc"),
    "close (the draft is still kept)",
    Cmd::Close,
    Tone::Quiet,
)];

/// Every table of the editor, for help.
pub(super) fn catalogue() -> Vec<(&'static str, Vec<Binding>)> {
    vec![
        ("the plan request", REQUEST.to_vec()),
        ("the plan editor", EDIT.to_vec()),
        ("a plan's follow-up", FOLLOW_UP.to_vec()),
        ("a plan being drafted", BUSY.to_vec()),
    ]
}

/// Where the editor is.
#[derive(Debug)]
pub enum PlanStage {
    /// Typing the request.
    Request(TextArea<'static>),
    /// Editing the draft.
    Edit,
    /// Typing a follow-up instruction about the draft.
    FollowUp(TextArea<'static>),
}

/// The plan editor's state.
#[derive(Debug)]
pub struct PlanEditor {
    /// What the operator asked for first.
    pub request: String,
    /// Where the editor is.
    pub stage: PlanStage,
    /// The draft's text, as edited.
    pub editor: TextArea<'static>,
    /// The plan version the text was last kept as, and that text.
    pub version: Option<(String, String)>,
    /// Who wrote the last draft (`provider/model`).
    pub author: Option<String>,
    /// The model's account of the last draft.
    pub summary: String,
    /// The newest check, and the text it checked.
    pub check: PlanCheck,
    /// The text `check` is of (the text typed since is being checked).
    pub checked: String,
    /// The DAG of the newest text that parsed.
    pub dag: Vec<DagRow>,
    /// A draft, save or start in flight, and what it does.
    pub busy: Option<(Ticket, String)>,
    /// The last thing to say (and whether it is a failure).
    pub note: Option<(String, bool)>,
}

impl Default for PlanEditor {
    fn default() -> Self {
        PlanEditor {
            request: String::new(),
            stage: PlanStage::Request(editor_at_end(vec![String::new()])),
            editor: TextArea::default(),
            version: None,
            author: None,
            summary: String::new(),
            check: PlanCheck::default(),
            checked: String::new(),
            dag: Vec::new(),
            busy: None,
            note: None,
        }
    }
}

/// A text as the editor holds it: lines joined, ending in one line break.
fn normal(text: &str) -> String {
    let mut out = text.lines().collect::<Vec<_>>().join("\n");
    out.push('\n');
    out
}

impl PlanEditor {
    /// The keys it answers now.
    pub fn bindings(&self) -> Vec<Binding> {
        if self.busy.is_some() {
            return BUSY.to_vec();
        }
        match self.stage {
            PlanStage::Request(_) => REQUEST.to_vec(),
            PlanStage::Edit => EDIT.to_vec(),
            PlanStage::FollowUp(_) => FOLLOW_UP.to_vec(),
        }
    }

    /// The text being edited.
    pub fn text(&self) -> String {
        normal(&self.editor.lines().join("\n"))
    }

    /// The edit to keep before a job: the text differs from its version.
    fn edit(&self) -> Option<Edit> {
        let text = self.text();
        (self.version.as_ref().map(|(_, t)| t) != Some(&text)).then(|| Edit {
            parent: self.version.as_ref().map(|(id, _)| id.clone()),
            request: self.request.clone(),
        })
    }

    /// A draft arrived: it replaces the text, with its check and version.
    fn drafted(&mut self, d: Drafted) {
        let shown = crate::sanitize::escape(&d.yaml, false).into_owned();
        let mut editor = TextArea::new(shown.lines().map(str::to_string).collect());
        editor.set_line_number_style(Style::default().add_modifier(Modifier::DIM));
        editor.move_cursor(CursorMove::Top);
        self.editor = editor;
        self.version = Some((d.version, normal(&d.yaml)));
        self.author = Some(format!("{}/{}", d.provider, d.model));
        self.summary = crate::sanitize::escape(d.summary.trim(), false).into_owned();
        let text = self.text();
        self.checked(text, d.check);
        self.stage = PlanStage::Edit;
    }

    fn checked(&mut self, text: String, check: PlanCheck) {
        if let Some(dag) = &check.dag {
            self.dag = dag.clone();
        }
        self.check = check;
        self.checked = text;
    }

    /// Whether the newest check is of the text as it is now.
    pub fn check_is_current(&self) -> bool {
        self.checked == self.text()
    }
}

impl App {
    /// `p`: the request box.
    pub(crate) fn open_plan(&mut self) {
        if !self
            .model
            .modals
            .iter()
            .any(|m| matches!(m, Modal::Plan(_)))
        {
            self.model.modals.push(Modal::Plan(Box::default()));
        }
    }

    pub(super) fn plan_key(
        &mut self,
        key: Key,
        event: KeyEvent,
        mut plan: Box<PlanEditor>,
    ) -> Option<Modal> {
        match dispatch(&plan.bindings(), &self.keymap, key) {
            Some(Cmd::Close) => return self.close_plan(*plan),
            Some(Cmd::Draft) => self.ask_draft(&mut plan),
            Some(Cmd::Choices) => plan.stage = PlanStage::Edit,
            Some(Cmd::Revise) => {
                plan.stage = PlanStage::FollowUp(editor_at_end(vec![String::new()]));
            }
            Some(Cmd::Save) => {
                self.plan_job(&mut plan, "saving the plan", |ticket, p| PlanJob::Save {
                    ticket,
                    yaml: p.text(),
                    edit: p.edit(),
                })
            }
            Some(Cmd::RunPlan) => {
                self.plan_job(&mut plan, "starting the plan", |ticket, p| PlanJob::Run {
                    ticket,
                    yaml: p.text(),
                    edit: p.edit(),
                    version: p.version.as_ref().map(|(id, _)| id.clone()),
                })
            }
            Some(Cmd::Type) => match &mut plan.stage {
                PlanStage::Request(input) | PlanStage::FollowUp(input) => {
                    input.input(event);
                }
                PlanStage::Edit => {
                    plan.note = None;
                    let before = plan.text();
                    plan.editor.input(event);
                    let text = plan.text();
                    if text != before {
                        self.effect(Effect::Plan(PlanJob::Check(text)));
                    }
                }
            },
            _ => {}
        }
        Some(Modal::Plan(plan))
    }

    /// Sends the request (or the follow-up about the draft) to the desk.
    fn ask_draft(&mut self, plan: &mut PlanEditor) {
        let (typed, revise) = match &plan.stage {
            PlanStage::Request(input) => (input.lines().join("\n"), None),
            PlanStage::FollowUp(input) => {
                let version = plan.version.as_ref().map(|(id, _)| id.clone());
                (input.lines().join("\n"), Some((plan.text(), version)))
            }
            PlanStage::Edit => return,
        };
        let typed = typed.trim().to_string();
        if typed.is_empty() {
            plan.note = Some(("type a request first".into(), true));
            return;
        }
        let edit = revise.as_ref().and_then(|_| plan.edit());
        if revise.is_none() {
            plan.request = typed.clone();
        }
        let text = plan.text();
        if let (Some(_), Some((_, kept))) = (&edit, plan.version.as_mut()) {
            // The draft job keeps the edit first: closing meanwhile must not keep it twice.
            *kept = text;
        }
        let ticket = self.ticket("drafting a plan".into());
        plan.busy = Some((ticket, "drafting… (asking the model)".into()));
        plan.note = None;
        self.effect(Effect::Plan(PlanJob::Draft {
            ticket,
            request: typed,
            revise,
            edit,
        }));
    }

    /// Saves or runs a valid text; an invalid one stays, with a word on why.
    fn plan_job(
        &mut self,
        plan: &mut PlanEditor,
        doing: &str,
        job: impl FnOnce(Ticket, &PlanEditor) -> PlanJob,
    ) {
        if !plan.check_is_current() {
            plan.note = Some(("still checking the last change; try again".into(), true));
            return;
        }
        if !plan.check.is_valid() {
            let n = plan.check.problems.len().max(1);
            plan.note = Some((format!("fix the {n} problem(s) first"), true));
            return;
        }
        let ticket = self.ticket(doing.to_string());
        plan.busy = Some((ticket, format!("{doing}…")));
        plan.note = None;
        let job = job(ticket, plan);
        self.effect(Effect::Plan(job));
    }

    /// Closes the editor; an edit not kept yet is kept as a plan version first.
    fn close_plan(&mut self, plan: PlanEditor) -> Option<Modal> {
        if let (Some(edit), PlanStage::Edit | PlanStage::FollowUp(_)) = (plan.edit(), &plan.stage) {
            let ticket = self.ticket("keeping the edited plan".into());
            self.effect(Effect::Plan(PlanJob::Keep {
                ticket,
                yaml: plan.text(),
                edit,
            }));
        } else if plan.busy.is_some() {
            self.note("the draft goes on; `baton plans` lists it when it is done".into());
        }
        None
    }

    /// A result of the desk.
    pub(crate) fn plan_done(&mut self, done: PlanDone) {
        if let PlanDone::Note(t, note) = &done {
            for m in self.model.modals.iter_mut() {
                if let Modal::Repair(r) = m
                    && r.busy.as_ref().is_some_and(|b| b.0 == *t)
                {
                    r.note = Some((crate::sanitize::escape(note, false).into_owned(), false));
                    return;
                }
            }
        }
        let ticket = match &done {
            PlanDone::DryRun(..) => {
                if let PlanDone::DryRun(file, steps) = done {
                    self.dry_run_done(file, steps);
                }
                return;
            }
            PlanDone::Proposed(t, _) | PlanDone::Repaired(t, _) => {
                self.finish(*t);
                return self.repair_done(done);
            }
            PlanDone::Note(..) | PlanDone::Checked(..) => None,
            PlanDone::Drafted(t, _)
            | PlanDone::Kept(t, _)
            | PlanDone::Saved(t, _)
            | PlanDone::Started(t, _) => Some(*t),
        };
        if let Some(t) = ticket {
            self.finish(t);
        }
        let at = self.model.modals.iter().position(|m| {
            matches!(m, Modal::Plan(p) if ticket.is_none() || p.busy.as_ref().map(|b| b.0) == ticket)
        });
        let Some(i) = at else {
            return self.plan_done_closed(done);
        };
        if let Modal::Plan(mut plan) = self.model.modals.remove(i)
            && self.plan_result(&mut plan, done)
        {
            self.model.modals.insert(i, Modal::Plan(plan));
        }
    }

    /// Folds a result into the open editor; returns whether it stays open.
    fn plan_result(&mut self, plan: &mut PlanEditor, done: PlanDone) -> bool {
        let failed = |e: String| Some((crate::sanitize::escape(&e, false).into_owned(), true));
        match done {
            PlanDone::Note(t, note) if plan.busy.as_ref().is_some_and(|b| b.0 == t) => {
                plan.note = Some((crate::sanitize::escape(&note, false).into_owned(), false));
            }
            PlanDone::Checked(text, check) if plan.text() == text => plan.checked(text, check),
            PlanDone::Drafted(_, result) => {
                plan.busy = None;
                match result {
                    Ok(d) => plan.drafted(d),
                    Err(e) => plan.note = failed(e),
                }
            }
            PlanDone::Saved(_, Ok((file, kept))) => {
                plan.busy = None;
                if let Some(id) = kept {
                    plan.version = Some((id, plan.text()));
                }
                let id = plan.version.as_ref().map(|(id, _)| id.clone());
                let text = format!(
                    "saved to {} (plan version {})",
                    file.display(),
                    id.unwrap_or_default()
                );
                plan.note = Some((text.clone(), false));
                self.note(text);
                self.reload_workflows();
            }
            PlanDone::Started(_, Ok((run, _))) => {
                self.note(format!("started run {run} of the plan"));
                self.load(Load::Runs);
                self.open_run(&run);
                return false;
            }
            PlanDone::Saved(_, Err(e)) | PlanDone::Started(_, Err(e)) => {
                plan.busy = None;
                plan.note = failed(e);
            }
            _ => {}
        }
        true
    }

    /// A result that came after its editor closed.
    fn plan_done_closed(&mut self, done: PlanDone) {
        match done {
            PlanDone::Kept(_, Ok(Some(id))) => {
                self.note(format!("the edited plan is kept as plan version {id}"));
            }
            PlanDone::Drafted(_, Ok(d)) => {
                self.note(format!("the draft is kept as plan version {}", d.version));
            }
            PlanDone::Kept(_, Err(e))
            | PlanDone::Drafted(_, Err(e))
            | PlanDone::Saved(_, Err(e))
            | PlanDone::Started(_, Err(e)) => self.error(e),
            _ => {}
        }
    }
}
