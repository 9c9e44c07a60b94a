//! Drawing, purely from the model: header, the approval banner, the current view, the status
//! line, the key hints (generated from the keymap) and the overlays. Nothing here changes state.

mod child_rows;
mod conversation;
mod detail;
mod hit;
pub use hit::{Hit, hit};
mod hints;
mod lists;
mod logs;
mod panes;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::keymap::Keymap;
use super::model::{InputTarget, Model, Screen};
use super::theme::Theme;
use crate::store::{RunRecord, RunState, Timestamp};

/// Narrowest usable terminal.
pub const MIN_WIDTH: u16 = 60;
/// Shortest usable terminal.
pub const MIN_HEIGHT: u16 = 16;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, model: &Model, theme: &Theme, keymap: &Keymap) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [header, banner, body, status, hint_bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_rows(model)),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, model, theme, keymap);
    draw_banner(frame, banner, model, theme, keymap);
    match model.screen {
        Screen::Runs => lists::runs(frame, body, model, theme),
        Screen::Workflows => lists::workflows(frame, body, model, theme),
        Screen::Detail => match &model.detail {
            Some(d) => detail::draw(frame, body, d, (model.now, model.eta_ms(&d.run)), theme),
            None => lists::runs(frame, body, model, theme),
        },
    }
    draw_status(frame, status, model, theme);
    hints::draw(frame, hint_bar, model, theme, keymap);
    for m in &model.modals {
        m.draw(frame, area, model, theme, keymap);
    }
}

/// The body area of a screen of `area`.
pub(super) fn body(area: Rect, model: &Model) -> Rect {
    let banner = banner_rows(model);
    Rect {
        y: area.y + 1 + banner,
        height: area.height.saturating_sub(3 + banner),
        ..area
    }
}

/// Rows of the main list or tab content in a screen of `area` (for paging).
pub fn content_rows(area: Rect, model: &Model) -> usize {
    body(area, model).height.saturating_sub(3) as usize
}

/// Rows of the log pane in a screen of `area`.
pub fn log_rows(area: Rect, model: &Model) -> usize {
    detail::content_area(body(area, model))
        .height
        .saturating_sub(2) as usize
}

/// The sequence number of the first log line the log pane of a screen of `area` shows now.
pub fn log_top(area: Rect, model: &Model) -> Option<u64> {
    let d = model.detail.as_ref()?;
    let pane = detail::content_area(body(area, model));
    let rows = pane.height.saturating_sub(2) as usize;
    let width = pane.width.saturating_sub(2).max(1) as usize;
    logs::first_shown(d, rows, width)
}

/// The banner takes a row while a gate waits and its prompt is not open.
fn banner_rows(model: &Model) -> u16 {
    let prompt_open = model
        .modals
        .iter()
        .any(|m| matches!(m, super::overlay::Modal::Approval(_)));
    u16::from(!model.approvals.is_empty() && !prompt_open)
}

/// `⚑ release r-0004 / gate waits for approval: Deploy to prod? — a to open (+1 more)`: the
/// oldest waiting gate, announced without taking the keyboard.
fn draw_banner(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, keymap: &Keymap) {
    let Some(gate) = model.approvals.first().filter(|_| area.height > 0) else {
        return;
    };
    let workflow = model
        .runs
        .iter()
        .find(|r| r.id == gate.run)
        .map(|r| format!("{} ", r.workflow))
        .unwrap_or_default();
    let prompt = gate.prompt.lines().next().unwrap_or_default();
    let prompt = super::text::strip_ansi(prompt);
    let key = keymap
        .primary(super::keymap::Action::Approval)
        .unwrap_or_else(|| "-".into());
    let more = match model.approvals.len() {
        1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    let head = format!(
        " ⚑ {workflow}{} / {} waits for approval",
        gate.run, gate.step
    );
    let tail = format!(" — {key} to open{more} ");
    let room = (area.width as usize).saturating_sub(head.chars().count() + tail.chars().count());
    let prompt = if prompt.is_empty() || room < 6 {
        String::new()
    } else {
        fit(&format!(": {prompt}"), room).trim_end().to_string()
    };
    let style = theme
        .warning()
        .add_modifier(ratatui::style::Modifier::REVERSED);
    let line = Line::from(vec![
        Span::styled(head, style.add_modifier(ratatui::style::Modifier::BOLD)),
        Span::styled(prompt, style),
        Span::styled(tail, style.add_modifier(ratatui::style::Modifier::BOLD)),
    ]);
    frame.render_widget(Paragraph::new(fit_line(line, area.width)), area);
}

/// `line` padded to `width` with the style of its last span, so the banner is one solid bar.
fn fit_line(mut line: Line<'static>, width: u16) -> Line<'static> {
    let used: usize = line.spans.iter().map(|s| s.width()).sum();
    let style = line.spans.last().map(|s| s.style).unwrap_or_default();
    line.spans.push(Span::styled(
        " ".repeat((width as usize).saturating_sub(used)),
        style,
    ));
    line
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let lines = vec![
        Line::styled("Terminal too small", theme.error()),
        Line::styled(
            format!(
                "{}×{} — baton needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
                area.width, area.height
            ),
            theme.text(),
        ),
        Line::styled("enlarge the window, or press q to quit", theme.muted()),
    ];
    let height = (lines.len() as u16).min(area.height);
    let y = area.y + area.height.saturating_sub(height) / 2;
    let rect = Rect::new(area.x, y, area.width, height);
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).centered(), rect);
}

fn draw_header(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, keymap: &Keymap) {
    let view = match model.screen {
        Screen::Runs => "Runs".to_string(),
        Screen::Workflows => "Workflows".to_string(),
        Screen::Detail => model
            .detail
            .as_ref()
            .map(|d| format!("{} · {}", d.run.workflow, d.run.id))
            .unwrap_or_else(|| "Runs".into()),
    };
    let running = model
        .runs
        .iter()
        .filter(|r| r.state == RunState::Running)
        .count();
    let mut spans = vec![
        Span::styled(
            " baton ",
            theme.header().add_modifier(ratatui::style::Modifier::BOLD),
        ),
        Span::styled(format!(" {view} "), theme.header()),
        Span::styled(format!("│ {running} running "), theme.header()),
    ];
    if let Some(owner) = &model.attached {
        spans.push(Span::styled(
            format!("│ attached to {owner} "),
            theme.header(),
        ));
    }
    if !model.approvals.is_empty() {
        let key = keymap
            .primary(super::keymap::Action::Approval)
            .unwrap_or_default();
        spans.push(Span::styled(
            format!("│ ⚑ {} approval(s) pending ({key}) ", model.approvals.len()),
            theme.header().patch(theme.warning()),
        ));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    spans.push(Span::styled(
        " ".repeat((area.width as usize).saturating_sub(used)),
        theme.header(),
    ));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let line = if let Some((target, input)) = &model.input {
        let label = match target {
            InputTarget::RunsFilter => "filter",
            InputTarget::LogSearch => "search",
        };
        let mut spans = vec![
            Span::styled(format!("{label}: /"), theme.accent()),
            Span::styled(input.text.clone(), theme.text()),
            Span::styled("▏", theme.accent()),
        ];
        if *target == InputTarget::LogSearch
            && let Some(s) = model
                .detail
                .as_ref()
                .and_then(|d| d.log_view.search.as_ref())
        {
            spans.push(Span::styled(format!("  {}", s.position()), theme.muted()));
        }
        Line::from(spans)
    } else if let Some((_, doing)) = model.working.last() {
        let more = match model.working.len() {
            1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        Line::styled(format!("⟳ working… {doing}{more}"), theme.accent())
    } else if let Some(status) = &model.status {
        let style = if status.error {
            theme.error()
        } else {
            theme.ok()
        };
        Line::styled(status.text.clone(), style)
    } else {
        Line::default()
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A rectangle of at most `width`×`height` centred in `area`.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Elapsed times for people (`850ms`, `3.2s`, `1m05s`, `2h03m`).
pub use crate::time::format_elapsed_ms as format_ms;

/// How long a run has been going (or went).
pub fn run_elapsed(run: &RunRecord, now: Timestamp) -> Option<u64> {
    run.elapsed_ms(now)
}

/// When a run started, in local time (`offset_s` east of UTC): `14:02:11` today, `Nov 29`
/// before.
pub(crate) fn local_start(at: Timestamp, now: Timestamp, offset_s: i64) -> String {
    let (t, today) = (broken_down(at, offset_s), broken_down(now, offset_s));
    if (t.tm_year, t.tm_yday) == (today.tm_year, today.tm_yday) {
        format!("{:02}:{:02}:{:02}", t.tm_hour, t.tm_min, t.tm_sec)
    } else {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = MONTHS.get(t.tm_mon as usize).copied().unwrap_or("?");
        format!("{month} {:02}", t.tm_mday)
    }
}

/// `at` shifted by `offset_s`, broken down as a calendar time.
// libc marks `time_t` deprecated on musl only (for musl 1.2's 64-bit change); it is 64-bit on
// both targets baton builds for.
#[allow(deprecated)]
fn broken_down(at: Timestamp, offset_s: i64) -> libc::tm {
    let secs = ((at.0 / 1000) as i64 + offset_s) as libc::time_t;
    // SAFETY: gmtime_r writes only into the zeroed struct we own (left zeroed on failure).
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&secs, &mut tm);
        tm
    }
}

/// The local time zone's offset east of UTC at `at`, in seconds (the OS's zone, from
/// /etc/localtime or `TZ`; 0 when it cannot be had).
#[allow(deprecated)] // `time_t` on musl, as above
pub fn utc_offset_s(at: Timestamp) -> i64 {
    let secs = (at.0 / 1000) as libc::time_t;
    // SAFETY: localtime_r writes only into the zeroed struct we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff as i64
        }
    }
}

/// `[██████░░░░] 6/10`.
pub(crate) fn gauge(done: u32, total: u32, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        (done.min(total) as usize * width) / total as usize
    };
    format!(
        "{}{} {done}/{total}",
        "█".repeat(filled),
        "░".repeat(width - filled)
    )
}

/// A style that is `selected`'s when selected.
pub(crate) fn row_style(selected: bool, theme: &Theme) -> Style {
    if selected {
        theme.selection()
    } else {
        Style::default()
    }
}

/// First row to show so `selected` stays visible (centred when it can be) in `rows` rows.
pub(crate) fn scroll_offset(selected: usize, rows: usize, len: usize) -> usize {
    if rows == 0 || len <= rows {
        return 0;
    }
    selected.saturating_sub(rows / 2).min(len - rows)
}

/// `text` cut (with `…`) or padded with spaces to exactly `width` columns.
pub(crate) fn fit(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::with_capacity(width);
    let mut used = 0;
    let total: usize = text.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        out.push_str(text);
        used = total;
    } else if width > 0 {
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width - 1 {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_ms(850), "850ms");
        assert_eq!(format_ms(3_210), "3.2s");
        assert_eq!(format_ms(65_000), "1m05s");
        assert_eq!(format_ms(7_380_000), "2h03m");
    }

    #[test]
    fn gauges_fill_in_proportion() {
        assert_eq!(gauge(5, 10, 4), "██░░ 5/10");
        assert_eq!(gauge(0, 0, 3), "░░░ 0/0");
        assert_eq!(gauge(12, 10, 2), "██ 12/10");
    }

    #[test]
    fn scrolling_keeps_the_selection_visible() {
        for len in [0usize, 5, 100] {
            for selected in 0..len {
                let off = scroll_offset(selected, 10, len);
                assert!(off <= selected && selected < off + 10, "{selected} {off}");
            }
        }
    }
}
