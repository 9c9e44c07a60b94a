//! A `workflow:` step's child run in the step tree: one row per step of the child run under
//! the parent's step (`   ↳ ✓ greet  120ms`), kept current by the child run's Events.

use ratatui::text::{Line, Span};

use super::{fit, format_ms};
use crate::store::{StepRecord, StepStatus};
use crate::tui::theme::{Theme, step_icon};

/// The row of the child run's step `c` of `kids`.
pub(super) fn child_line(
    kids: &[StepRecord],
    c: usize,
    selected: bool,
    width: usize,
    theme: &Theme,
) -> Line<'static> {
    let Some(step) = kids.get(c) else {
        return Line::default();
    };
    let info = match step.status {
        StepStatus::Failed | StepStatus::Cancelled => step.error.clone().unwrap_or_default(),
        StepStatus::Skipped => "skipped".to_string(),
        StepStatus::WaitingApproval => "awaiting approval".to_string(),
        _ => step.duration_ms.map(format_ms).unwrap_or_default(),
    };
    let info = crate::tui::text::strip_ansi(&info).into_owned();
    let name = crate::tui::text::strip_ansi(step.step.as_str()).into_owned();
    let name_width = width.saturating_sub(5 + 2 + 1 + info.chars().count().min(width / 3));
    let mut spans = vec![
        Span::styled("   ↳ ", theme.muted()),
        Span::styled(
            format!("{} ", step_icon(step.status)),
            theme.step(step.status),
        ),
        Span::raw(fit(&name, name_width)),
        Span::raw(" "),
        Span::styled(
            fit(&info, width.saturating_sub(5 + 2 + name_width + 1)),
            theme.step(step.status),
        ),
    ];
    if selected {
        for s in &mut spans {
            s.style = s.style.patch(theme.selection());
        }
    }
    Line::from(spans)
}
