//! Static checks of `run:` command templates: a value placed where no quoting makes it safe is
//! an error, and every `| raw` (the opt-out of quoting) is listed as a note, each at its own
//! file:line:col. The same lexer decides at run time (`shell_lex.rs`); this finds the problems
//! before anything runs.

use super::bytes::find_any;
use super::diag::{Diagnostic, Level, Source};
use super::shell_lex::{lex, push_marker};
use super::types::{Pos, StepKind, Workflow};

/// One `{{ … }}` of a template: where it starts and the expression inside.
struct Expression<'t> {
    offset: usize,
    text: &'t str,
}

/// The template with each `{{ … }}` replaced by a marker and `{% … %}` / `{# … #}` removed (a
/// `{% raw %}` block is kept as text), and the expressions in marker order.
fn skeleton(tpl: &str) -> (String, Vec<Expression<'_>>) {
    let mut out = String::with_capacity(tpl.len());
    let mut exprs = Vec::new();
    let mut i = 0;
    while let Some(k) = tpl[i..].find('{').map(|k| i + k) {
        out.push_str(&tpl[i..k]);
        let rest = &tpl[k..];
        let close = match rest.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ => {
                out.push('{');
                i = k + 1;
                continue;
            }
        };
        let Some(end) = tag_end(&tpl[k + 2..], close).map(|e| k + 2 + e) else {
            out.push_str(rest);
            return (out, exprs);
        };
        let inner = &tpl[k + 2..end];
        i = end + 2;
        if close == "}}" {
            push_marker(&mut out, exprs.len());
            exprs.push(Expression {
                offset: k,
                text: inner.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()),
            });
        } else if close == "%}" && inner.trim_matches(['-', '+', ' ']).trim() == "raw" {
            let body_end = tpl[i..].find("endraw").map_or(tpl.len(), |e| i + e);
            let body = &tpl[i..body_end];
            out.push_str(body.rfind("{%").map_or(body, |b| &body[..b]));
            i = tpl[body_end..]
                .find("%}")
                .map_or(tpl.len(), |e| body_end + e + 2);
        }
    }
    out.push_str(&tpl[i..]);
    (out, exprs)
}

/// Where `close` ends the tag whose inside starts `s`, skipping string literals.
fn tag_end(s: &str, close: &str) -> Option<usize> {
    let b = s.as_bytes();
    let close = close.as_bytes();
    let mut i = 0;
    let mut quote = None;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (None, c) if c == close[0] && b[i..].starts_with(close) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The filter names an expression applies at its top level (`a | b(1) | c` → b, c).
fn filters(expr: &str) -> Vec<&str> {
    let b = expr.as_bytes();
    let (mut depth, mut quote, mut out) = (0i32, None, Vec::new());
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (None, b'(' | b'[' | b'{') => depth += 1,
            (None, b')' | b']' | b'}') => depth -= 1,
            (None, b'|') if depth == 0 => {
                let name = expr[i + 1..].trim_start();
                let len = name
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(name.len());
                out.push(&name[..len]);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The file position of byte `offset` of a template written at `pos`: found by looking for the
/// template's line in the file near where it should be; `pos` itself when it cannot be found
/// (e.g. a quoted scalar with escapes).
fn position(src: &Source<'_>, pos: Pos, tpl: &str, offset: usize) -> Pos {
    let before = &tpl[..offset];
    let k = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let line_end = tpl[offset..].find('\n').map_or(tpl.len(), |p| offset + p);
    let line = &tpl[line_start..line_end];
    let in_line = tpl[line_start..offset].chars().count() as u32;
    for n in [pos.line + k, pos.line + k + 1] {
        let Some(text) = src.line(n) else { continue };
        let from = if n == pos.line {
            text.char_indices()
                .nth(pos.col.saturating_sub(1) as usize)
                .map_or(0, |(b, _)| b)
        } else {
            0
        };
        if let Some(at) = text.get(from..).and_then(|t| t.find(line)) {
            let col = text[..from + at].chars().count() as u32 + in_line + 1;
            return Pos { line: n, col };
        }
    }
    pos
}

/// Errors for values in `command` (the `run` of step `step`) placed where no quoting is safe.
pub fn check_command(
    src: &Source<'_>,
    step: &str,
    command: &str,
    pos: Pos,
    out: &mut Vec<Diagnostic>,
) {
    if !may_refuse(command) {
        return;
    }
    let (text, exprs) = skeleton(command);
    for site in lex(&text).sites {
        let (Err(why), Some(e)) = (site.quoting, exprs.get(site.index)) else {
            continue;
        };
        if filters(e.text).iter().any(|f| matches!(*f, "raw" | "safe")) {
            continue; // the author opted out; listed as a note instead
        }
        out.push(
            Diagnostic::at(
                src,
                position(src, pos, command, e.offset),
                format!(
                    "`{{{{ {} }}}}` in `run` of step `{step}` cannot be quoted safely {why}",
                    e.text
                ),
            )
            .with_hint(why.hint()),
        );
    }
}

/// Whether any value of `command` could be refused: every refusal needs a `\\`, a `$`, a
/// heredoc's `<<` or a backquote somewhere in the text. Most commands have none, and need no
/// lexing.
fn may_refuse(command: &str) -> bool {
    find_any(command.as_bytes(), [b'\\', b'$', b'<', b'`']).is_some()
}

/// Whether a step may write a value unquoted: a `run` command that names `raw` or `safe`
/// (neither filter can be used without its name in the text). Most do not, and need no look
/// at their templates.
pub fn may_write_raw(kind: &StepKind) -> bool {
    matches!(kind, StepKind::Run(r) if names_raw_or_safe(&r.command))
}

/// Whether `raw` or `safe` is in the text: one pass that stops only at an `a`, the second
/// letter of both (two substring searches cost each step of a large workflow more than its
/// whole check; an `r` or an `s` is in most commands many times).
fn names_raw_or_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    // An `a` first in the text starts neither word.
    let mut from = 1;
    while let Some(a) = find_any(bytes.get(from..).unwrap_or_default(), [b'a']).map(|k| from + k) {
        let word = &bytes[a - 1..];
        if word.starts_with(b"raw") || word.starts_with(b"safe") {
            return true;
        }
        from = a + 1;
    }
    false
}

/// A note at every `| raw` (or `| safe`) in a `run` command: the places where a value is
/// written into the command without quoting.
pub fn raw_uses(wf: &Workflow, src: &Source<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in &wf.steps {
        let StepKind::Run(r) = &step.kind else {
            continue;
        };
        if !may_write_raw(&step.kind) {
            continue; // no `raw` or `safe` in it: nothing to note
        }
        let (_, exprs) = skeleton(&r.command);
        for e in exprs {
            if !filters(e.text).iter().any(|f| matches!(*f, "raw" | "safe")) {
                continue;
            }
            let mut d = Diagnostic::at(
                src,
                position(src, step.pos.body, &r.command, e.offset),
                format!(
                    "`{{{{ {} }}}}` in `run` of step `{}` is written into the command without quoting",
                    e.text, step.id
                ),
            )
            .with_hint("`| raw` is for values you control; a value from a param, a step's output or an LLM can run commands here");
            d.level = Level::Note;
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::shell_lex::marker;
    use super::*;

    #[test]
    fn raw_or_safe_is_found_wherever_it_is_written() {
        for text in [
            "echo {{ x | raw }}",
            "unsafe",
            "draw",
            "safe",
            "echo rs s r",
            "",
            "sa",
            "ra",
            "r",
            "echo {{ x | saf }}",
            "raw",
            "a",
            "aa",
            "saraw",
            "ssafe",
            "saafe",
            "rraaw",
            "echo {{ params.env }} {{ steps['a'].stdout | trim }} and then a safe",
            "echo {{ params.env }} {{ steps['a'].stdout | trim }} and then a saf",
        ] {
            let expected = text.contains("raw") || text.contains("safe");
            assert_eq!(names_raw_or_safe(text), expected, "{text:?}");
        }
    }

    #[test]
    fn skeleton_marks_values_and_drops_tags() {
        let (text, exprs) = skeleton("a {{ x | raw }}{% if y %}'{{ \"}}\" }}'{% endif %}{# c #}");
        assert_eq!(text, format!("a {}'{}'", marker(0), marker(1)));
        assert_eq!(exprs[0].text, "x | raw");
        assert_eq!(exprs[1].text, "\"}}\"");
        assert_eq!(filters("a | default('|') | raw"), vec!["default", "raw"]);
        assert_eq!(marker(12), "\u{0}12\u{0}");
    }

    proptest::proptest! {
        /// The shortcut in `check_command` is sound: without `\\`, `$`, `<` or a backquote,
        /// the lexer places every value where it can be quoted.
        #[test]
        fn without_backslash_dollar_heredoc_or_backquote_every_value_can_be_quoted(
            parts in proptest::collection::vec("[a-z0-9 '\"|&;(){}#=*?!\\[\\]~%^+,.:/@\n\t>-]{0,12}", 1..6)
        ) {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                text.push_str(part);
                push_marker(&mut text, i);
            }
            proptest::prop_assume!(!may_refuse(&text));
            for site in lex(&text).sites {
                proptest::prop_assert!(site.quoting.is_ok(), "{text:?}: {:?}", site.quoting);
            }
        }
    }

    #[test]
    fn values_after_a_dollar_or_backslash_or_in_a_heredoc_word_are_still_checked() {
        for command in [
            "echo ${{ x }}",
            "echo \\{{ x }}",
            "cat <<{{ x }}\nhi\n{{ x }}\n",
            "echo `cat <<EOF\n{{ x }}\nEOF`",
            "echo ${a:-{{ x }}}",
        ] {
            assert!(may_refuse(command), "{command}");
            let mut out = Vec::new();
            check_command(
                &Source::new("t.yaml", command),
                "s",
                command,
                Pos { line: 1, col: 1 },
                &mut out,
            );
            assert_eq!(out.len(), 1, "{command}: {out:?}");
        }
        let mut out = Vec::new();
        check_command(
            &Source::new("t.yaml", "x"),
            "s",
            "echo {{ x }} | tr a b",
            Pos { line: 1, col: 1 },
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn only_commands_that_name_raw_or_safe_may_write_a_value_unquoted() {
        let run = |command: &str| {
            StepKind::Run(super::super::types::RunSpec {
                command: command.into(),
                shell: None,
                cwd: None,
                on: None,
            })
        };
        assert!(may_write_raw(&run("echo {{ x | raw }}")));
        assert!(may_write_raw(&run("echo {{ x|safe }}")));
        assert!(!may_write_raw(&run("echo {{ x | trim }}")));
    }
}
