//! Line diffs of workflow texts (`baton plans diff`, a repair's proposal): the longest common
//! subsequence of lines, printed as `-`/`+`/` ` lines with a few lines of context.

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// In both.
    Same(&'a str),
    /// Only in the old text.
    Gone(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// Longest texts diffed line by line (the table is `old × new`); longer ones are shown as
/// wholly replaced.
const MAX_LINES: usize = 4000;

/// The lines of `old` and `new`, aligned.
pub fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len() > MAX_LINES || b.len() > MAX_LINES {
        return a
            .into_iter()
            .map(Line::Gone)
            .chain(b.into_iter().map(Line::Added))
            .collect();
    }
    // common[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut common = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Line::Same(a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || common[i][j + 1] > common[i + 1][j]) {
            out.push(Line::Added(b[j]));
            j += 1;
        } else {
            out.push(Line::Gone(a[i]));
            i += 1;
        }
    }
    out
}

/// A repair of step `step` as shown before it is applied: the workflow as it ran against the
/// proposed one, three lines of context.
pub fn step_change(step: &crate::spec::StepId, ran: &str, proposed: &str) -> String {
    unified(
        &format!("{step} (as it ran)"),
        &format!("{step} (proposed)"),
        ran,
        proposed,
        3,
    )
}

/// A unified-style diff (`--- old`, `+++ new`, changed lines with `context` lines around);
/// empty when the texts are the same.
pub fn unified(old_name: &str, new_name: &str, old: &str, new: &str, context: usize) -> String {
    let all = lines(old, new);
    if all.iter().all(|l| matches!(l, Line::Same(_))) {
        return String::new();
    }
    let near_change = |k: usize| {
        let lo = k.saturating_sub(context);
        let hi = (k + context + 1).min(all.len());
        all[lo..hi].iter().any(|l| !matches!(l, Line::Same(_)))
    };
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    let mut skipped = false;
    for (k, line) in all.iter().enumerate() {
        match line {
            Line::Same(text) if near_change(k) => out.push_str(&format!(" {text}\n")),
            Line::Same(_) => {
                if !skipped {
                    out.push_str("@@\n");
                }
                skipped = true;
                continue;
            }
            Line::Gone(text) => out.push_str(&format!("-{text}\n")),
            Line::Added(text) => out.push_str(&format!("+{text}\n")),
        }
        skipped = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_shows_as_gone_and_added_between_its_neighbours() {
        let d = lines("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(
            d,
            [
                Line::Same("a"),
                Line::Gone("b"),
                Line::Added("B"),
                Line::Same("c"),
                Line::Added("d")
            ]
        );
        let u = unified(
            "old",
            "new",
            "1\n2\n3\n4\n5\n6\n",
            "1\n2\n3\n4\n5\nsix\n",
            1,
        );
        assert_eq!(u, "--- old\n+++ new\n@@\n 5\n-6\n+six\n");
        assert_eq!(unified("a", "b", "same\n", "same\n", 3), "");
    }
}
