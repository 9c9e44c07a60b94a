//! The progress line of a headless run with many steps, on a terminal: one line at the
//! bottom of stderr (`[██████░░░░░░] 120/500 steps · 8 running · 1m02s`) that every printed
//! line goes above. It holds only counts and times (never text from a step), is drawn at most
//! ten times a second, and is cleared when the run ends.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Runs with fewer steps than this get no progress line (their lines say enough).
pub const MIN_STEPS: u32 = 10;

/// How often the line may be redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// The line on screen, if any, and when it was drawn.
static LINE: Mutex<Option<(String, Instant)>> = Mutex::new(None);

fn line() -> std::sync::MutexGuard<'static, Option<(String, Instant)>> {
    LINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a run of `steps` steps shows a progress line: stderr is a terminal and there are
/// many steps.
pub fn wanted(steps: u32) -> bool {
    steps >= MIN_STEPS && std::io::stderr().is_terminal()
}

/// `[██████░░░░░░] 120/500 steps · 8 running · 1m02s`.
pub fn text(done: u32, total: u32, running: u32, elapsed: Duration) -> String {
    const WIDTH: u32 = 20;
    let filled = (done.min(total) * WIDTH).checked_div(total).unwrap_or(0);
    format!(
        "[{}{}] {done}/{total} steps · {running} running · {}",
        "█".repeat(filled as usize),
        "░".repeat((WIDTH - filled) as usize),
        crate::time::format_elapsed_ms(elapsed.as_millis() as u64)
    )
}

/// Shows `text` as the progress line (redrawn at most every `REDRAW` unless `now`).
pub fn show(text: String, now: bool) {
    let mut line = line();
    if !now && line.as_ref().is_some_and(|(_, at)| at.elapsed() < REDRAW) {
        if let Some((shown, _)) = line.as_mut() {
            // Drawn with the next line printed, or the next redraw.
            *shown = text;
        }
        return;
    }
    draw(&text);
    *line = Some((text, Instant::now()));
}

/// Takes the progress line away for good.
pub fn clear() {
    if line().take().is_some() {
        erase();
    }
}

/// Runs `print` with the progress line out of the way, then puts it back below.
pub fn around(print: impl FnOnce()) {
    let mut line = line();
    if line.is_none() {
        drop(line);
        return print();
    }
    erase();
    print();
    if let Some((text, at)) = line.as_mut() {
        draw(text);
        *at = Instant::now();
    }
}

fn erase() {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\r\x1b[2K").and_then(|()| err.flush());
}

fn draw(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{text}").and_then(|()| err.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_steps_and_fills_its_bar_in_proportion() {
        let t = text(5, 20, 3, Duration::from_secs(62));
        assert_eq!(t, "[█████░░░░░░░░░░░░░░░] 5/20 steps · 3 running · 1m02s");
        assert!(text(0, 0, 0, Duration::ZERO).starts_with("[░░░░░░░░░░░░░░░░░░░░] 0/0"));
        assert!(text(30, 20, 0, Duration::ZERO).starts_with("[████████████████████] 30/20"));
    }
}
