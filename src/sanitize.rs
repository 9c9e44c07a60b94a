//! The one sanitiser for text that reaches a terminal: bytes from steps, agents, logs and stored
//! records are data, never terminal instructions.
//!
//! [`scan`] splits text into printable runs, SGR colour sequences and everything else a terminal
//! would act on (other escape sequences, C0 and C1 control characters, DEL). The console turns
//! SGR into styles and drops the rest (`tui/text.rs`); the command line keeps SGR only on a
//! colour terminal and shows the rest escaped, `cat -v` style (`^[]52;c;…^G`), so it is visible
//! and inert ([`escape`]). JSON output escapes what serde_json leaves raw ([`json_safe`]); a
//! line that redraws itself with `\r` shows what a terminal would finally show ([`collapse_cr`]).

use std::borrow::Cow;

/// A piece of scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Printable text; may hold `\t` and `\n`, nothing else below 0x20.
    Text(&'a str),
    /// An SGR sequence (`ESC [ … m`); the parameters (`1;31`).
    Sgr(&'a str),
    /// Anything else a terminal would act on, whole as it came (an escape sequence, a control
    /// character, or an unfinished sequence up to the end of the text).
    Control(&'a str),
}

/// Whether `c` is a control character a terminal acts on (tab and newline are layout, not
/// instructions).
fn is_control(c: char) -> bool {
    (c < ' ' && c != '\t' && c != '\n') || ('\u{7f}'..='\u{9f}').contains(&c)
}

/// Whether `text` holds anything [`scan`] would report as other than plain text.
pub fn needs_sanitising(text: &str) -> bool {
    text.bytes()
        .any(|b| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f || b == 0xc2)
        && text.chars().any(is_control)
}

/// Walks `text`, reporting printable runs, SGR sequences and other controls in order.
pub fn scan<'a>(text: &'a str, mut emit: impl FnMut(Piece<'a>)) {
    let mut start = 0;
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        if !is_control(c) {
            i += c.len_utf8();
            continue;
        }
        if start < i {
            emit(Piece::Text(&text[start..i]));
        }
        let end = if c == '\x1b' {
            escape_end(text, i)
        } else {
            i + c.len_utf8()
        };
        let whole = &text[i..end];
        match whole
            .strip_prefix("\x1b[")
            .and_then(|s| s.strip_suffix('m'))
        {
            Some(params) if is_sgr_params(params) => emit(Piece::Sgr(params)),
            _ => emit(Piece::Control(whole)),
        }
        start = end;
        i = end;
    }
    if start < text.len() {
        emit(Piece::Text(&text[start..]));
    }
}

/// SGR parameters are digits, `;` and `:` only (anything else ending in `m` is another CSI).
fn is_sgr_params(params: &str) -> bool {
    params
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b';' || b == b':')
}

/// The end of the escape sequence starting at `at` (an ESC). An unfinished sequence runs to
/// the end of the text.
fn escape_end(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let Some(&kind) = bytes.get(at + 1) else {
        return bytes.len();
    };
    match kind {
        b'[' => {
            // CSI: parameter and intermediate bytes, then one final byte in 0x40..=0x7e.
            let mut j = at + 2;
            while j < bytes.len() && (0x20..=0x3f).contains(&bytes[j]) {
                j += 1;
            }
            if j < bytes.len() && (0x40..=0x7e).contains(&bytes[j]) {
                j + 1
            } else {
                // Malformed or unfinished: the ESC [ alone is the control; the rest is text.
                at + 2
            }
        }
        b']' | b'P' | b'_' | b'^' | b'X' => {
            // OSC / DCS / APC / PM / SOS: up to BEL or ST (ESC \).
            let mut j = at + 2;
            while j < bytes.len() {
                if bytes[j] == 0x07 {
                    return j + 1;
                }
                if bytes[j] == 0x1b && bytes.get(j + 1) == Some(&b'\\') {
                    return j + 2;
                }
                j += 1;
            }
            bytes.len()
        }
        // Two-byte escapes (ESC 7, ESC =, ESC c, …); never split a multi-byte char.
        k if k.is_ascii() => at + 2,
        _ => at + 1,
    }
}

/// The text with every control shown `cat -v` style (`ESC` as `^[`, `BEL` as `^G`, DEL as `^?`,
/// C1 characters as `M-^[` …) so it is visible but inert. SGR colours are kept when
/// `keep_sgr` (a colour terminal), else dropped.
pub fn escape(text: &str, keep_sgr: bool) -> Cow<'_, str> {
    if !needs_sanitising(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    scan(text, |piece| match piece {
        Piece::Text(t) => out.push_str(t),
        Piece::Sgr(params) if keep_sgr => {
            out.push_str("\x1b[");
            out.push_str(params);
            out.push('m');
        }
        Piece::Sgr(_) => {}
        Piece::Control(c) => c.chars().for_each(|ch| push_visible(&mut out, ch)),
    });
    Cow::Owned(out)
}

/// The text without any escape sequence or control character (tabs and newlines kept): what
/// a reader sees, and what is safe to hand to a clipboard.
pub fn strip(text: &str) -> Cow<'_, str> {
    if !needs_sanitising(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    scan(text, |piece| {
        if let Piece::Text(t) = piece {
            out.push_str(t);
        }
    });
    Cow::Owned(out)
}

/// One character in `cat -v` notation when it is a control, as it is otherwise.
fn push_visible(out: &mut String, c: char) {
    let code = c as u32;
    match code {
        0x00..=0x1f if c != '\t' && c != '\n' => {
            out.push('^');
            out.push(char::from(b'@' + code as u8));
        }
        0x7f => out.push_str("^?"),
        0x80..=0x9f => {
            out.push_str("M-^");
            out.push(char::from(b'@' + (code - 0x80) as u8));
        }
        _ => out.push(c),
    }
}

/// Keeps only what a terminal would finally show of a line that redraws itself with `\r`:
/// the last non-empty segment (a trailing `\r`, as in CRLF text, is ignored).
pub fn collapse_cr(line: &str) -> &str {
    let trimmed = line.trim_end_matches('\r');
    match trimmed.rsplit('\r').find(|segment| !segment.is_empty()) {
        Some(segment) => segment,
        None => trimmed,
    }
}

/// JSON text (from serde_json, which escapes C0 controls already) with DEL and C1 characters
/// escaped too (`\u009b`); they can only occur inside strings, where the escape is valid.
pub fn json_safe(json: String) -> String {
    if !json.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<Piece<'_>> {
        let mut out = Vec::new();
        scan(text, |p| out.push(p));
        out
    }

    #[test]
    fn every_kind_of_sequence_is_one_control_piece() {
        let text = "a\x1b]52;c;aGk=\x07b\x1b[?1000hc\x1b[1;31md\x1bP1$qm\x1b\\e\u{9b}2Jf\x07";
        assert_eq!(
            pieces(text),
            vec![
                Piece::Text("a"),
                Piece::Control("\x1b]52;c;aGk=\x07"),
                Piece::Text("b"),
                Piece::Control("\x1b[?1000h"),
                Piece::Text("c"),
                Piece::Sgr("1;31"),
                Piece::Text("d"),
                Piece::Control("\x1bP1$qm\x1b\\"),
                Piece::Text("e"),
                Piece::Control("\u{9b}"),
                Piece::Text("2Jf"),
                Piece::Control("\x07"),
            ]
        );
    }

    #[test]
    fn escaped_text_shows_every_control_and_keeps_colour_only_when_asked() {
        let text = "x\x1b]0;pwned\x07\x1b[2J\x1b[32mok\x1b[0m\r\x7f\u{9b}\ty\n";
        assert_eq!(
            escape(text, true),
            "x^[]0;pwned^G^[[2J\x1b[32mok\x1b[0m^M^?M-^[\ty\n"
        );
        assert_eq!(escape(text, false), "x^[]0;pwned^G^[[2Jok^M^?M-^[\ty\n");
        assert_eq!(strip(text), "xok\ty\n");
        assert!(matches!(escape("plain\ttext\n", false), Cow::Borrowed(_)));
    }

    #[test]
    fn unfinished_and_malformed_sequences_do_not_swallow_or_panic() {
        assert_eq!(escape("a\x1b", false), "a^[");
        assert_eq!(escape("a\x1b[12", false), "a^[[12");
        assert_eq!(escape("a\x1b]52;c;x", false), "a^[]52;c;x");
        assert_eq!(escape("\x1bé", false), "^[é");
        assert_eq!(escape("\x1b[3;1>m", true), "^[[3;1>m");
    }

    #[test]
    fn json_keeps_c1_and_del_escaped() {
        let json = serde_json::to_string("a\x1b]52\u{9b}\x7f").unwrap();
        assert_eq!(json_safe(json), "\"a\\u001b]52\\u009b\\u007f\"");
    }
}
