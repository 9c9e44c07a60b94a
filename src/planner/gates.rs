//! The rule that nothing a planner wrote changes things unseen: each planned `run` step, and
//! each `http` step that is not a GET or HEAD, gets `approve: true` written into its text; an
//! agent step may not turn its tools' approval off. An operator who says so (`--no-approve`)
//! lifts the rule.

use crate::spec::diag::Source;
use crate::spec::{CallApproval, Diagnostic, StepKind, Workflow};

/// Whether a step changes things by itself (so a person approves it first).
fn changes_things(kind: &StepKind) -> bool {
    match kind {
        StepKind::Run(_) => true,
        StepKind::Http(h) => !matches!(h.method.to_ascii_uppercase().as_str(), "GET" | "HEAD"),
        _ => false,
    }
}

/// `text` with `approve: true` added to every step that changes things and has no gate yet;
/// the rest of the text is left exactly as written. `wf` is `text` parsed.
pub fn add_gates(text: &str, wf: &Workflow) -> String {
    let mut places: Vec<usize> = wf
        .steps
        .iter()
        .filter(|s| !s.approve && changes_things(&s.kind))
        .filter_map(|s| offset_of(text, s.pos.step.line, s.pos.step.col))
        .collect();
    places.sort_unstable();
    let mut out = text.to_string();
    for at in places.into_iter().rev() {
        let line_start = out[..at].rfind('\n').map_or(0, |i| i + 1);
        if out[at..].starts_with('{') {
            out.insert_str(at + 1, " approve: true,");
        } else {
            let indent = " ".repeat(out[line_start..at].chars().count());
            out.insert_str(at, &format!("approve: true\n{indent}"));
        }
    }
    out
}

/// The byte offset of 1-based `line` and character `col` in `text`.
fn offset_of(text: &str, line: u32, col: u32) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n')
            .nth(line as usize - 2)
            .map(|(i, _)| i + 1)?
    };
    let rest = &text[line_start..];
    let within = rest
        .char_indices()
        .nth(col.saturating_sub(1) as usize)
        .map(|(i, _)| i)?;
    Some(line_start + within)
}

/// Agent steps of a plan that turn the approval of their tools' calls off.
pub fn ungated_tools(wf: &Workflow, file: &str, text: &str) -> Vec<Diagnostic> {
    let src = Source::new(file, text);
    let mut out = Vec::new();
    for step in &wf.steps {
        let StepKind::Agent(agent) = &step.kind else {
            continue;
        };
        let trusted: Vec<&str> = agent
            .tools
            .iter()
            .filter(|t| t.approve == Some(false))
            .map(|t| t.name.as_str())
            .collect();
        let problem = if agent.approve_calls != CallApproval::Default {
            Some("sets which tool calls ask a person (`approve: false` or a list)".to_string())
        } else if !trusted.is_empty() {
            Some(format!("turns off the approval of {}", trusted.join(", ")))
        } else {
            None
        };
        if let Some(problem) = problem {
            out.push(
                Diagnostic::at(
                    &src,
                    step.pos.step,
                    format!("planned agent step `{}` {problem}", step.id),
                )
                .with_hint(
                    "leave tool approvals at their defaults: calls that change things ask a \
                     person in a plan (the operator lifts this with --no-approve)",
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Workflow {
        crate::spec::parse_str(text, Path::new("plan.yaml")).unwrap()
    }

    #[test]
    fn run_steps_and_changing_requests_get_a_gate_and_the_rest_is_kept_as_written() {
        let text = "name: t\nsteps:\n  - id: a\n    run: echo a   # keep me\n  - {id: b, run: echo b, depends_on: [a]}\n  - id: c\n    http: { url: 'http://x.invalid/', method: POST }\n  - id: d\n    http: { url: 'http://x.invalid/' }\n  - id: e\n    approve: true\n    run: echo e\n";
        let gated = add_gates(text, &parse(text));
        let wf = parse(&gated);
        let approved: Vec<(&str, bool)> = wf
            .steps
            .iter()
            .map(|s| (s.id.0.as_str(), s.approve))
            .collect();
        assert_eq!(
            approved,
            [
                ("a", true),
                ("b", true),
                ("c", true),
                ("d", false),
                ("e", true)
            ]
        );
        assert!(gated.contains("    run: echo a   # keep me\n"), "{gated}");
        assert_eq!(gated.matches("approve: true").count(), 4, "{gated}");
    }

    #[test]
    fn an_agent_step_that_trusts_its_tools_is_a_problem_at_its_line() {
        let text = "steps:\n  - id: look\n    agent: devops\n    prompt: hi\n    tools: [{name: shell, approve: false}]\n";
        let problems = ungated_tools(&parse(text), "plan.yaml", text);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.contains("shell"), "{:?}", problems[0]);
        let fine = "steps:\n  - id: look\n    agent: devops\n    prompt: hi\n    tools: [shell]\n";
        assert!(ungated_tools(&parse(fine), "plan.yaml", fine).is_empty());
    }
}
