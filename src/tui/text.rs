//! Log text made safe to draw: `\r` progress lines collapsed, very long lines cut on a char
//! boundary, ANSI SGR colours parsed into styles (other escape sequences dropped, by the one sanitiser in
//! `crate::sanitize`), and plain-text
//! search that yields byte ranges for highlighting.
//!
//! Everything here is pure and allocation-light: it runs on every captured line.

use std::borrow::Cow;
use std::ops::Range;

use ratatui::style::{Color, Modifier, Style};

use crate::sanitize::{self, Piece};

/// Lines longer than this (in bytes, after `\r` collapse) are cut, keeping a note of how much.
pub const MAX_LINE_BYTES: usize = 4096;

/// Spaces a tab expands to.
const TAB: &str = "    ";

/// A run of text in one style.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Printable text (no control characters).
    pub text: String,
    /// Its style from the SGR sequences before it.
    pub style: Style,
}

pub use crate::sanitize::collapse_cr;

/// Cuts `line` to at most `max_bytes` on a char boundary, noting how many bytes were dropped.
pub fn truncate_line(line: &str, max_bytes: usize) -> Cow<'_, str> {
    if line.len() <= max_bytes {
        return Cow::Borrowed(line);
    }
    let mut cut = max_bytes;
    while cut > 0 && !line.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}… (+{} bytes)", &line[..cut], line.len() - cut))
}

/// Prepares a captured line for the log buffer: collapse `\r`, then cut if very long.
pub fn prepare_line(raw: &str) -> String {
    truncate_line(collapse_cr(raw), MAX_LINE_BYTES).into_owned()
}

/// Whether `text` holds an escape sequence or control character that parsing would change.
pub fn needs_parsing(text: &str) -> bool {
    text.contains('\t') || sanitize::needs_sanitising(text)
}

/// Splits a line into styled segments, interpreting SGR (`ESC [ ... m`) and dropping every
/// other escape sequence and control character (see `crate::sanitize`). Tabs become spaces.
pub fn parse_ansi(text: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut style = Style::default();
    let mut current = String::new();
    sanitize::scan(text, |piece| match piece {
        Piece::Text(t) => push_text(&mut current, t),
        Piece::Sgr(params) => {
            let next = apply_sgr(style, params);
            if next != style {
                if !current.is_empty() {
                    segments.push(Segment {
                        text: std::mem::take(&mut current),
                        style,
                    });
                }
                style = next;
            }
        }
        Piece::Control(_) => {}
    });
    if !current.is_empty() {
        segments.push(Segment {
            text: current,
            style,
        });
    }
    segments
}

/// The text a reader sees: escape sequences and control characters removed, tabs expanded.
pub fn strip_ansi(text: &str) -> Cow<'_, str> {
    if !needs_parsing(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    sanitize::scan(text, |piece| {
        if let Piece::Text(t) = piece {
            push_text(&mut out, t)
        }
    });
    Cow::Owned(out)
}

/// Appends printable text for a cell: tabs expanded, newlines dropped (a line is drawn as one).
fn push_text(out: &mut String, text: &str) {
    for part in text.split_inclusive(['\t', '\n']) {
        if let Some(p) = part.strip_suffix('\t') {
            out.push_str(p);
            out.push_str(TAB);
        } else {
            out.push_str(part.strip_suffix('\n').unwrap_or(part));
        }
    }
}

/// Applies one SGR parameter list (`1;31`, `38;5;208`, `` = reset) to a style.
fn apply_sgr(mut style: Style, params: &str) -> Style {
    let mut codes = params.split([';', ':']).map(|p| {
        if p.is_empty() {
            0
        } else {
            p.parse::<u16>().unwrap_or(u16::MAX)
        }
    });
    while let Some(code) = codes.next() {
        style = match code {
            0 => Style::default(),
            1 => style.add_modifier(Modifier::BOLD),
            2 => style.add_modifier(Modifier::DIM),
            3 => style.add_modifier(Modifier::ITALIC),
            4 => style.add_modifier(Modifier::UNDERLINED),
            7 => style.add_modifier(Modifier::REVERSED),
            9 => style.add_modifier(Modifier::CROSSED_OUT),
            22 => style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style.remove_modifier(Modifier::ITALIC),
            24 => style.remove_modifier(Modifier::UNDERLINED),
            27 => style.remove_modifier(Modifier::REVERSED),
            29 => style.remove_modifier(Modifier::CROSSED_OUT),
            30..=37 => style.fg(basic_color(code - 30, false)),
            39 => style.fg(Color::Reset),
            40..=47 => style.bg(basic_color(code - 40, false)),
            49 => style.bg(Color::Reset),
            90..=97 => style.fg(basic_color(code - 90, true)),
            100..=107 => style.bg(basic_color(code - 100, true)),
            38 | 48 => match extended_color(&mut codes) {
                Some(color) if code == 38 => style.fg(color),
                Some(color) => style.bg(color),
                None => style,
            },
            _ => style,
        };
    }
    style
}

/// `5;n` (256 colours) or `2;r;g;b` (true colour), after a 38/48.
fn extended_color(codes: &mut impl Iterator<Item = u16>) -> Option<Color> {
    match codes.next()? {
        5 => u8::try_from(codes.next()?).ok().map(Color::Indexed),
        2 => {
            let r = u8::try_from(codes.next()?).ok()?;
            let g = u8::try_from(codes.next()?).ok()?;
            let b = u8::try_from(codes.next()?).ok()?;
            Some(Color::Rgb(r, g, b))
        }
        _ => None,
    }
}

fn basic_color(index: u16, bright: bool) -> Color {
    match (index, bright) {
        (0, false) => Color::Black,
        (1, false) => Color::Red,
        (2, false) => Color::Green,
        (3, false) => Color::Yellow,
        (4, false) => Color::Blue,
        (5, false) => Color::Magenta,
        (6, false) => Color::Cyan,
        (7, false) => Color::Gray,
        (0, true) => Color::DarkGray,
        (1, true) => Color::LightRed,
        (2, true) => Color::LightGreen,
        (3, true) => Color::LightYellow,
        (4, true) => Color::LightBlue,
        (5, true) => Color::LightMagenta,
        (6, true) => Color::LightCyan,
        _ => Color::White,
    }
}

/// Byte ranges of the non-overlapping occurrences of `query` in `haystack`.
///
/// Smart case: a query without upper-case letters matches ASCII letters of either case;
/// non-ASCII letters always match exactly.
pub fn find_matches(haystack: &str, query: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    if query.is_empty() || haystack.len() < query.len() {
        return found;
    }
    let fold = !query.chars().any(char::is_uppercase);
    let hay = haystack.as_bytes();
    let needle = query.as_bytes();
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        let b = hay[i];
        let first_ok = if fold {
            b.eq_ignore_ascii_case(&first)
        } else {
            b == first
        };
        if first_ok && haystack.is_char_boundary(i) {
            let window = &hay[i..i + needle.len()];
            let same = if fold {
                window.eq_ignore_ascii_case(needle)
            } else {
                window == needle
            };
            if same {
                found.push(i..i + needle.len());
                i += needle.len();
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Whether `haystack` contains `query` (smart case, as [`find_matches`]).
pub fn contains(haystack: &str, query: &str) -> bool {
    query.is_empty() || !find_matches(haystack, query).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriage_returns_keep_the_last_progress_segment() {
        assert_eq!(collapse_cr("10%\r50%\r100% done"), "100% done");
        assert_eq!(collapse_cr("windows line\r"), "windows line");
        assert_eq!(collapse_cr("a\rb\r\r"), "b");
        assert_eq!(collapse_cr("plain"), "plain");
        assert_eq!(collapse_cr("\r"), "");
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = "é".repeat(3000); // 6000 bytes, 2 per char
        let cut = truncate_line(&line, 4095);
        assert!(cut.starts_with(&"é".repeat(2047)));
        assert!(
            cut.ends_with("… (+1906 bytes)"),
            "{}",
            &cut[cut.len() - 20..]
        );
        assert_eq!(truncate_line("short", 10), "short");
    }

    #[test]
    fn sgr_colours_become_styles_and_reset_ends_them() {
        let segments = parse_ansi("\x1b[1;31merror\x1b[0m: bad \x1b[38;5;208mthing\x1b[m");
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[0].text, "error");
        assert_eq!(
            segments[0].style,
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        );
        assert_eq!(segments[1].text, ": bad ");
        assert_eq!(segments[1].style, Style::default());
        assert_eq!(segments[2].style, Style::default().fg(Color::Indexed(208)));
    }

    #[test]
    fn true_colour_and_bright_backgrounds_are_understood() {
        let segments = parse_ansi("\x1b[38;2;1;2;3;103mx");
        assert_eq!(
            segments[0].style,
            Style::default()
                .fg(Color::Rgb(1, 2, 3))
                .bg(Color::LightYellow)
        );
    }

    #[test]
    fn other_escapes_and_controls_are_dropped_and_tabs_expanded() {
        let text = "a\x1b[2Kb\x1b]0;title\x07c\x08d\te\x1b[";
        assert_eq!(strip_ansi(text), "abcd    e");
        let segments = parse_ansi(text);
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].text, "abcd    e");
    }

    #[test]
    fn malformed_sgr_parameters_do_not_panic() {
        for text in [
            "\x1b[38;5m",
            "\x1b[38;2;999;1;1m",
            "\x1b[99999999999m",
            "\x1b",
            "\x1bé",
        ] {
            let _ = parse_ansi(text);
            let _ = strip_ansi(text);
        }
        assert_eq!(strip_ansi("\x1bé"), "é");
    }

    #[test]
    fn search_is_smart_case_and_non_overlapping() {
        assert_eq!(
            find_matches("Error error ERROR", "error"),
            vec![0..5, 6..11, 12..17]
        );
        assert_eq!(find_matches("Error error", "Error"), vec![0..5]);
        assert_eq!(find_matches("aaaa", "aa"), vec![0..2, 2..4]);
        assert_eq!(find_matches("ééé", "é"), vec![0..2, 2..4, 4..6]);
        assert!(find_matches("abc", "").is_empty());
        assert!(contains("xyz", ""));
    }
}
