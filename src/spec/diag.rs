//! Diagnostics: problems found in a workflow file, each with file:line:col, the source line, a
//! caret under the column and a hint, rendered the way rustc and ripgrep do.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::types::Pos;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The file is not valid.
    #[default]
    Error,
    /// Worth knowing; the file is valid (e.g. where `| raw` turns quoting off).
    Note,
}

/// One problem in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// An error, or a note that does not make the file invalid.
    #[serde(default)]
    pub level: Level,
    /// The file as the user named it.
    pub file: String,
    /// 1-based line (0 when the problem has no place, e.g. an unreadable file).
    pub line: u32,
    /// 1-based column, in characters (0 when unknown).
    pub col: u32,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The source line the problem is on, without its line break.
    pub snippet: Option<String>,
}

impl Diagnostic {
    /// A problem at `pos` in `src`; the snippet is taken from `src`.
    pub fn at(src: &Source<'_>, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Error,
            file: src.file.to_string(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
            hint: None,
            snippet: src.line(pos.line).map(str::to_string),
        }
    }

    /// A problem with the file as a whole (no line).
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Error,
            file: file.into(),
            line: 0,
            col: 0,
            message: message.into(),
            hint: None,
            snippet: None,
        }
    }

    /// The same diagnostic with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// The same diagnostic with a hint when there is one.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    /// `file:line:col` (or just `file` when there is no line).
    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}:{}", self.file, self.line, self.col.max(1))
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Note => "note",
        };
        writeln!(f, "{level}: {}", self.message)?;
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        writeln!(f, "{gutter}--> {}", self.location())?;
        if let Some(snippet) = &self.snippet {
            let (shown, caret_at) = crop(snippet, self.col.saturating_sub(1) as usize);
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{number} | {shown}")?;
            // Keep tabs in the padding so the caret lines up under tab-indented text.
            let pad: String = shown
                .chars()
                .take(caret_at)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(f, "{gutter} | {pad}^")?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "{gutter} = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Longest source line shown whole; longer ones are cut to a window around the column.
const SNIPPET_WIDTH: usize = 100;

/// The part of `line` to show and the caret's character index in it.
fn crop(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SNIPPET_WIDTH {
        return (line.to_string(), col);
    }
    let half = SNIPPET_WIDTH / 2;
    let start = col
        .saturating_sub(half)
        .min(chars.len().saturating_sub(SNIPPET_WIDTH));
    let end = (start + SNIPPET_WIDTH).min(chars.len());
    let mut shown = String::new();
    let mut caret = col - start.min(col);
    if start > 0 {
        shown.push('…');
        caret += 1;
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push('…');
    }
    (shown, caret)
}

/// Every problem found in one file (or several), in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No problems yet.
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    /// Adds a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Adds every problem of `other`.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    /// True when there is no problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sorts by file, then line and column, keeping the discovery order of equal places.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.0.len() > 1 {
            writeln!(f)?;
            writeln!(f, "{} problems found", self.0.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A workflow file's text and name, for snippets.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The file name as shown in diagnostics.
    pub file: &'a str,
    /// The whole text.
    pub text: &'a str,
    /// Byte offset of the start of each line, found the first time a line is asked for (most
    /// files that are read have no problem to show).
    line_starts: std::cell::OnceCell<Vec<usize>>,
}

impl<'a> Source<'a> {
    /// `text` named `file`; its lines are indexed when one is first asked for.
    pub fn new(file: &'a str, text: &'a str) -> Source<'a> {
        Source {
            file,
            text,
            line_starts: std::cell::OnceCell::new(),
        }
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line(&self, line: u32) -> Option<&'a str> {
        let idx = (line as usize).checked_sub(1)?;
        let line_starts = self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(self.text.match_indices('\n').map(|(i, _)| i + 1));
            starts
        });
        let start = *line_starts.get(idx)?;
        let end = line_starts
            .get(idx + 1)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        let text = self.text.get(start..end)?;
        Some(text.strip_suffix('\r').unwrap_or(text))
    }
}

/// Edit distance between two short strings, by characters: insertions, deletions, substitutions
/// and swaps of two neighbours each count one (optimal string alignment).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// The candidate closest to `word`, when it is close enough to be a likely typo.
///
/// Spelling variants (`dependsOn`, `depends-on`, `DEPENDS_ON`) match exactly.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let word_norm = norm(word);
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if norm(c) == word_norm {
            0
        } else {
            edit_distance(word, c)
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate, if any.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("depends_on", "depends_on"), 0);
        assert_eq!(edit_distance("depnds_on", "depends_on"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("retyr", "retry"), 1);
    }

    #[test]
    fn closest_finds_typos_and_spelling_variants_but_not_strangers() {
        let keys = ["depends_on", "when", "retry", "timeout"];
        assert_eq!(closest("depnds_on", keys), Some("depends_on"));
        assert_eq!(closest("Depends-On", keys), Some("depends_on"));
        assert_eq!(closest("retyr", keys), Some("retry"));
        assert_eq!(closest("banana", keys), None);
    }

    #[test]
    fn display_shows_location_snippet_caret_and_hint() {
        let src = Source::new("wf.yaml", "steps:\n  - id: a\n    rn: echo\n");
        let d = Diagnostic::at(&src, Pos { line: 3, col: 5 }, "unknown key `rn`")
            .with_hint("did you mean `run`?");
        let text = d.to_string();
        assert!(text.contains("error: unknown key `rn`"), "{text}");
        assert!(text.contains("\n --> wf.yaml:3:5"), "{text}");
        assert!(text.contains("3 |     rn: echo"), "{text}");
        assert!(text.contains("  |     ^"), "{text}");
        assert!(text.contains("\n  = hint: did you mean `run`?"), "{text}");
    }

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = format!("{}X{}", "a".repeat(300), "b".repeat(300));
        let src = Source::new("f", &line);
        let text = Diagnostic::at(&src, Pos { line: 1, col: 301 }, "here").to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[3].chars().count() < 120, "{text}");
        let shown: Vec<char> = lines[3].chars().collect();
        let caret = lines[4].chars().position(|c| c == '^').unwrap();
        assert_eq!(shown[caret], 'X', "{text}");
    }

    #[test]
    fn source_lines_handle_crlf_and_out_of_range() {
        let src = Source::new("f", "a\r\nb");
        assert_eq!(src.line(1), Some("a"));
        assert_eq!(src.line(2), Some("b"));
        assert_eq!(src.line(3), None);
        assert_eq!(src.line(0), None);
    }
}
