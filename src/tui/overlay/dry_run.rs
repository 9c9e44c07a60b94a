//! The dry run (`d` on a workflow): every step of the selected workflow rendered as a run would
//! render it (`engine/dry_run.rs`), in DAG order, shown in an overlay. Nothing runs and nothing
//! is stored; the rendering is done on the planner desk's quick thread.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph};

use super::{BindKey, Binding, Cmd, Modal, Tone, dispatch, footer, frame_block};
use crate::engine::dry_run::DryStep;
use crate::tui::app::App;
use crate::tui::effect::Effect;
use crate::tui::keymap::{Action, Key, Keymap};
use crate::tui::plan::PlanJob;
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
    Binding::new(BindKey::Fixed("esc"), "close", Cmd::Close, Tone::Quiet),
];

/// The dry run overlay's state.
#[derive(Debug)]
pub struct DryRunView {
    /// The workflow's name.
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// Its steps once rendered, or why they cannot be.
    pub steps: Option<Result<Vec<DryStep>, String>>,
    /// First row shown.
    pub offset: usize,
}

impl DryRunView {
    fn lines<'a>(&self, theme: &Theme) -> Vec<Line<'a>> {
        let shown = |t: &str| crate::sanitize::escape(t, false).into_owned();
        let mut lines = vec![Line::styled(
            "nothing runs, nothing is stored; ⟨…⟩ marks what a run fills in",
            theme.muted(),
        )];
        match &self.steps {
            None => lines.push(Line::styled("⟳ rendering…", theme.accent())),
            Some(Err(e)) => lines.extend(e.lines().map(|l| Line::styled(shown(l), theme.error()))),
            Some(Ok(steps)) => {
                for (n, step) in steps.iter().enumerate() {
                    lines.push(Line::default());
                    lines.push(Line::styled(shown(&step.heading(n + 1)), theme.accent()));
                    for l in &step.lines {
                        lines.push(Line::styled(format!("   {}", shown(l)), theme.text()));
                    }
                }
            }
        }
        lines
    }

    /// Draws it over `area`.
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap) {
        let width = area.width.saturating_sub(8).max(40);
        let rect = crate::tui::view::centered(area, width, area.height.saturating_sub(4));
        frame.render_widget(Clear, rect);
        let block = frame_block(format!(" Dry run of {} ", self.name), theme);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let lines = self.lines(theme);
        let offset = self.offset.min(lines.len().saturating_sub(1));
        let body = Rect {
            height: inner.height.saturating_sub(2),
            ..inner
        };
        frame.render_widget(Paragraph::new(lines).scroll((offset as u16, 0)), body);
        let keys = Rect {
            y: inner.y + inner.height.saturating_sub(1),
            height: 1.min(inner.height),
            ..inner
        };
        frame.render_widget(Paragraph::new(footer(BINDINGS, keymap, theme)), keys);
    }
}

impl App {
    /// `d` on a workflow: renders its steps in the background and shows them.
    pub(crate) fn dry_run(&mut self) {
        let Some(entry) = self
            .model
            .workflows
            .get(self.model.workflows_selected)
            .cloned()
        else {
            return;
        };
        if let Some(e) = &entry.error {
            return self.error(e.clone());
        }
        self.effect(Effect::Plan(PlanJob::DryRun(entry.path.clone())));
        self.model.modals.push(Modal::DryRun(DryRunView {
            name: entry.name,
            file: entry.path,
            steps: None,
            offset: 0,
        }));
    }

    pub(super) fn dry_run_key(&mut self, key: Key, mut view: DryRunView) -> Option<Modal> {
        match dispatch(BINDINGS, &self.keymap, key) {
            Some(Cmd::Close) => return None,
            Some(Cmd::Down) => view.offset += 1,
            Some(Cmd::Up) => view.offset = view.offset.saturating_sub(1),
            _ => {}
        }
        Some(Modal::DryRun(view))
    }

    /// The steps of `file` came back.
    pub(crate) fn dry_run_done(&mut self, file: PathBuf, steps: Result<Vec<DryStep>, String>) {
        for modal in self.model.modals.iter_mut() {
            if let Modal::DryRun(view) = modal
                && view.file == file
                && view.steps.is_none()
            {
                view.steps = Some(steps);
                return;
            }
        }
    }
}
