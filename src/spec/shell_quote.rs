//! Writing values into a shell command: each quoted for the place the lexer (`shell_lex.rs`)
//! found for it, and a check that no value ends a heredoc early.

use std::fmt;

use super::shell_lex::{Quoting, Refusal, Site, lex};

/// Words the shell reads as syntax at the start of a command, so never left bare.
const RESERVED: [&str; 16] = [
    "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in", "select",
    "then", "time", "until", "while",
];

/// Quotes `s` for a POSIX shell word: left as is when it is a plain word (letters, digits and
/// `_@%+:./-`, not a reserved word), otherwise wrapped in single quotes with each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+:./-".contains(c))
        && !RESERVED.contains(&s);
    if plain {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Why a value cannot be written at its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaceable {
    /// The place itself is refused.
    Refused(Refusal),
    /// The value holds a NUL byte, which no command can.
    Nul,
    /// A line break in a comment would end it.
    NewlineInComment,
    /// Arithmetic takes whole numbers only.
    NotANumber,
    /// A line of the value would end the heredoc it is in (the delimiter is named).
    EndsHeredoc(String),
}

impl fmt::Display for Unplaceable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unplaceable::Refused(r) => write!(f, "a value cannot be placed safely {r}"),
            Unplaceable::Nul => f.write_str("the value holds a NUL byte, which a command cannot"),
            Unplaceable::NewlineInComment => {
                f.write_str("the value holds a line break, which would end the comment it is in")
            }
            Unplaceable::NotANumber => f.write_str(
                "the value is inside arithmetic (`$((…))`), where only a whole number is safe",
            ),
            Unplaceable::EndsHeredoc(d) => write!(
                f,
                "the value holds a line starting with `{d}`, which would end the heredoc it is in \
                 (bash ends one inside `$(…)` at `{d})`); use a delimiter the value cannot hold"
            ),
        }
    }
}

/// `value` written for its place: quoted for its context, then escaped once per backquote level.
pub fn place(value: &str, site: &Site) -> Result<String, Unplaceable> {
    if value.contains('\0') {
        return Err(Unplaceable::Nul);
    }
    let quoting = site.quoting.map_err(Unplaceable::Refused)?;
    let mut text = match quoting {
        Quoting::Bare => shell_quote(value),
        Quoting::Double => escape(value, b"\\\"$`"),
        Quoting::Single => value.replace('\'', "'\\''"),
        Quoting::Heredoc => escape(value, b"\\$`"),
        Quoting::QuotedHeredoc => value.to_string(),
        Quoting::Comment if value.contains('\n') => return Err(Unplaceable::NewlineInComment),
        Quoting::Comment => value.to_string(),
        Quoting::Arith => {
            let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Unplaceable::NotANumber);
            }
            value.to_string()
        }
    };
    for _ in 0..site.backquotes {
        text = escape(&text, b"\\$`");
    }
    Ok(text)
}

/// `s` with a `\` before each of `special`.
fn escape(s: &str, special: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii() && special.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value that could not be written into a command, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceError {
    /// Why.
    pub why: Unplaceable,
    /// 1-based line of the place in the rendered command.
    pub line: usize,
    /// 1-based column (in characters) of the place in the rendered command.
    pub col: usize,
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (the value at line {}, column {} of the command)",
            self.why, self.line, self.col
        )?;
        if let Unplaceable::Refused(r) = &self.why {
            write!(f, "; {}", r.hint())?;
        }
        Ok(())
    }
}

/// `text` (a command with a marker for each value) with every value written for its place.
pub fn fill(text: &str, values: &[String]) -> Result<String, PlaceError> {
    let layout = lex(text);
    let mut sites = layout.sites;
    sites.sort_by_key(|s| s.offset);
    let at = |offset: usize, why: Unplaceable| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        PlaceError { why, line, col }
    };
    let mut out = String::with_capacity(text.len() + values.iter().map(String::len).sum::<usize>());
    // (offset in `text`, how much longer `out` is than `text` from there on)
    let mut shifts: Vec<(usize, isize)> = Vec::with_capacity(sites.len());
    let mut last = 0;
    let mut shift = 0isize;
    for site in &sites {
        let len = super::shell_lex::marker(site.index).len();
        let value = values.get(site.index).map_or("", String::as_str);
        let placed = place(value, site).map_err(|why| at(site.offset, why))?;
        out.push_str(&text[last..site.offset]);
        out.push_str(&placed);
        last = site.offset + len;
        shift += placed.len() as isize - len as isize;
        shifts.push((last, shift));
    }
    out.push_str(&text[last..]);
    if let Some(stray) = out.find('\0') {
        // Only template text or a `| raw` value can put a NUL there.
        return Err(at(stray.min(text.len()), Unplaceable::Nul));
    }
    let moved = |offset: usize| -> usize {
        let i = shifts.partition_point(|&(o, _)| o <= offset);
        let d = if i == 0 { 0 } else { shifts[i - 1].1 };
        (offset as isize + d) as usize
    };
    for body in &layout.bodies {
        let touched = sites
            .iter()
            .any(|s| s.offset >= body.start && s.offset < body.end);
        if !touched {
            continue;
        }
        let (start, end) = (moved(body.start), moved(body.end));
        let lines = out.get(start..end).unwrap_or("");
        if ends_early(lines, &body.delimiter, body.strip_tabs, body.quoted) {
            let site = sites
                .iter()
                .find(|s| s.offset >= body.start && s.offset < body.end)
                .map_or(body.start, |s| s.offset);
            return Err(at(site, Unplaceable::EndsHeredoc(body.delimiter.clone())));
        }
    }
    Ok(out)
}

/// Could a line of `body` end the heredoc before its own terminator? Lines joined by a trailing
/// `\` (which an unquoted heredoc removes) are checked both apart and joined. A line that only
/// starts with the delimiter counts too: inside `$(…)` bash ends the heredoc at `EOF)`,
/// `EOF )` or `EOF#)` and runs the lines after it as commands (and dash mangles such lines).
fn ends_early(body: &str, delimiter: &str, strip_tabs: bool, quoted: bool) -> bool {
    let hit = |text: &str| {
        text.split('\n').any(|line| {
            let line = if strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            match delimiter {
                // `<<''` ends at an empty line.
                "" => line.is_empty(),
                _ => line.starts_with(delimiter),
            }
        })
    };
    let body = body.strip_suffix('\n').unwrap_or(body);
    hit(body) || (!quoted && hit(&body.replace("\\\n", "")))
}
