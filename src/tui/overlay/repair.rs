//! The repair prompt (`F` on a failed step): the model's fix of the step, asked for on the
//! planner desk's thread, shown as a diff of the workflow; approved, it is kept as a plan
//! version and the run continues from that step with it (as `baton repair --approve`);
//! rejected or closed, nothing changes.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{BindKey, Binding, Cmd, Modal, Tone, dispatch, footer, frame_block};
use crate::spec::StepId;
use crate::store::RunId;
use crate::tui::app::App;
use crate::tui::effect::{Effect, Ticket};
use crate::tui::keymap::{Action, Key, Keymap};
use crate::tui::plan::{PlanDone, PlanJob, Proposal};
use crate::tui::theme::Theme;

const DECIDE: &[Binding] = &[
    Binding::new(
        BindKey::Action(Action::Approve),
        "apply, continue the run",
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
        BindKey::Fixed("esc"),
        "close (nothing changes)",
        Cmd::Close,
        Tone::Quiet,
    ),
];

const WAIT: &[Binding] = &[
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
        BindKey::Fixed("esc"),
        "close (nothing changes)",
        Cmd::Close,
        Tone::Quiet,
    ),
];

/// Its tables, for help.
pub(super) fn catalogue() -> Vec<(&'static str, Vec<Binding>)> {
    vec![
        ("a repair proposal", DECIDE.to_vec()),
        ("a repair being asked for", WAIT.to_vec()),
    ]
}

/// The repair prompt's state.
#[derive(Debug)]
pub struct RepairModal {
    /// The run.
    pub run: RunId,
    /// The failed step.
    pub step: StepId,
    /// The call in flight (the proposal, or applying it) and what it does.
    pub busy: Option<(Ticket, String)>,
    /// The proposal, once it came.
    pub proposal: Option<Box<Proposal>>,
    /// The last thing to say (and whether it is a failure).
    pub note: Option<(String, bool)>,
    /// First row shown.
    pub offset: usize,
}

impl RepairModal {
    /// The keys it answers now: approve and reject only for a valid proposal.
    pub fn bindings(&self) -> Vec<Binding> {
        let valid = self
            .proposal
            .as_ref()
            .is_some_and(|p| p.problems.is_empty());
        if valid && self.busy.is_none() {
            DECIDE.to_vec()
        } else {
            WAIT.to_vec()
        }
    }

    /// The text shown: the diff, the model's account, or what went wrong.
    fn lines<'a>(&self, theme: &Theme) -> Vec<Line<'a>> {
        let shown = |t: &str| crate::sanitize::escape(t, false).into_owned();
        let mut lines = Vec::new();
        if let Some(p) = &self.proposal {
            lines.push(Line::styled(
                format!("proposed by {}/{}", shown(&p.provider), shown(&p.model)),
                theme.muted(),
            ));
            for l in p.diff.lines() {
                let style = match l.chars().next() {
                    Some('+') => theme.ok(),
                    Some('-') => theme.error(),
                    Some('@') => theme.accent(),
                    _ => theme.text(),
                };
                lines.push(Line::styled(shown(l), style));
            }
            if !p.summary.trim().is_empty() {
                lines.push(Line::default());
                lines.push(Line::styled(shown(p.summary.trim()), theme.text()));
            }
            for problem in &p.problems {
                lines.push(Line::styled(shown(problem), theme.error()));
            }
            if !p.problems.is_empty() {
                lines.push(Line::styled(
                    "no valid proposal after the repair rounds; nothing changed",
                    theme.error(),
                ));
            }
        }
        if let Some((_, doing)) = &self.busy {
            lines.push(Line::styled(format!("⟳ {doing}"), theme.accent()));
        }
        if let Some((note, error)) = &self.note {
            let style = if *error { theme.error() } else { theme.muted() };
            lines.push(Line::styled(shown(note), style));
        }
        lines
    }

    /// Draws the prompt over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap) {
        let width = area.width.saturating_sub(8).max(40);
        let rect = crate::tui::view::centered(area, width, area.height.saturating_sub(4));
        frame.render_widget(Clear, rect);
        let title = format!(" Repair {} / {} ", self.run, self.step);
        let block = frame_block(title, theme);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let body = Rect {
            height: inner.height.saturating_sub(2),
            ..inner
        };
        let lines = self.lines(theme);
        let offset = self.offset.min(lines.len().saturating_sub(1));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((offset as u16, 0)),
            body,
        );
        let keys = Rect {
            y: inner.y + inner.height.saturating_sub(1),
            height: 1.min(inner.height),
            ..inner
        };
        frame.render_widget(
            Paragraph::new(footer(&self.bindings(), keymap, theme)),
            keys,
        );
    }
}

impl App {
    /// `F` on a failed step: asks the desk for a proposal and opens the prompt.
    pub(crate) fn ask_repair(&mut self) {
        let Some(d) = self.model.detail.as_ref() else {
            return;
        };
        let Some(step) = d.selected_step().map(|s| s.step.clone()) else {
            return;
        };
        let run = d.run.id.clone();
        let ticket = self.ticket(format!("asking for a fix of {run}/{step}"));
        self.effect(Effect::Plan(PlanJob::Repair {
            ticket,
            run: run.clone(),
            step: step.clone(),
        }));
        self.model.modals.push(Modal::Repair(Box::new(RepairModal {
            run,
            step,
            busy: Some((ticket, "asking the model for a fix…".into())),
            proposal: None,
            note: None,
            offset: 0,
        })));
    }

    pub(super) fn repair_key(&mut self, key: Key, mut modal: Box<RepairModal>) -> Option<Modal> {
        match dispatch(&modal.bindings(), &self.keymap, key) {
            Some(Cmd::Close | Cmd::Reject) => {
                let (run, step) = (&modal.run, &modal.step);
                self.note(format!(
                    "repair of {run}/{step} not applied; nothing changed"
                ));
                return None;
            }
            Some(Cmd::Approve) => {
                if let Some(proposal) = modal.proposal.clone() {
                    let ticket = self.ticket(format!("applying the repair of {}", modal.step));
                    modal.busy = Some((ticket, "applying the repair…".into()));
                    self.effect(Effect::Plan(PlanJob::ApplyRepair { ticket, proposal }));
                }
            }
            Some(Cmd::Down) => modal.offset += 1,
            Some(Cmd::Up) => modal.offset = modal.offset.saturating_sub(1),
            _ => {}
        }
        Some(Modal::Repair(modal))
    }

    /// A proposal, or the outcome of applying one.
    pub(crate) fn repair_done(&mut self, done: PlanDone) {
        let ticket = match &done {
            PlanDone::Proposed(t, _) | PlanDone::Repaired(t, _) => *t,
            _ => return,
        };
        let at = self.model.modals.iter().position(
            |m| matches!(m, Modal::Repair(r) if r.busy.as_ref().is_some_and(|b| b.0 == ticket)),
        );
        let Some(i) = at else {
            if let PlanDone::Repaired(_, Err(e)) = done {
                self.error(e);
            }
            return;
        };
        let Some(Modal::Repair(modal)) = self.model.modals.get_mut(i) else {
            return;
        };
        modal.busy = None;
        match done {
            PlanDone::Proposed(_, Ok(proposal)) => modal.proposal = Some(proposal),
            PlanDone::Proposed(_, Err(e)) | PlanDone::Repaired(_, Err(e)) => {
                modal.note = Some((e, true));
            }
            PlanDone::Repaired(_, Ok(version)) => {
                let (run, step) = (modal.run.clone(), modal.step.clone());
                self.model.modals.remove(i);
                self.note(format!(
                    "repair of {run}/{step} approved (plan version {version}); the run continues from `{step}`"
                ));
                self.refresh_detail(&run);
            }
            _ => {}
        }
    }
}
