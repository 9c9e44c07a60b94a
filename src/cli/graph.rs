//! `baton graph FILE`: a workflow's steps as topological levels and dependency edges.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::spec::{self, Dag, Workflow};

/// Show a workflow's plan: the levels (steps that can run together) and the edges.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print Graphviz `dot` instead of text.
    #[arg(long)]
    pub dot: bool,
}

/// Prints the graph; returns the exit code (1 when the file is invalid).
pub fn run(args: GraphArgs) -> i32 {
    match spec::load_file(&args.file) {
        Ok(wf) => {
            let dag = Dag::new(&wf);
            let text = if args.dot {
                dot(&wf, &dag)
            } else {
                text(&wf, &dag)
            };
            out!("{}", super::common::Shown::stdout(false).text(&text));
            0
        }
        Err(diags) => {
            errout!(
                "{}",
                super::common::Shown::stderr().text(&diags.to_string())
            );
            1
        }
    }
}

/// The plan as text: a header, one line per level, then the edges.
pub fn text(wf: &Workflow, dag: &Dag) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} steps, {} levels",
        wf.name,
        wf.steps.len(),
        dag.levels().len()
    );
    for (n, level) in dag.levels().iter().enumerate() {
        let names: Vec<String> = level
            .iter()
            .map(|&i| {
                let s = &wf.steps[i];
                format!("{} ({})", s.id, s.kind.key())
            })
            .collect();
        let _ = writeln!(out, "level {n}: {}", names.join(", "));
    }
    let edges = dag.edges();
    if !edges.is_empty() {
        let _ = writeln!(out, "edges:");
        for (from, to) in edges {
            let _ = writeln!(out, "  {} → {}", dag.id(from), dag.id(to));
        }
    }
    out
}

/// A Graphviz quoted string: `"` and `\` escaped, once.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The plan as Graphviz `dot`. A node's label is its name (or id) over its kind, the two
/// joined by dot's own line break (`\n`), which must not be escaped again.
pub fn dot(wf: &Workflow, dag: &Dag) -> String {
    let quote = |s: &str| format!("\"{}\"", dot_escape(s));
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&wf.name));
    let _ = writeln!(out, "  rankdir=LR;");
    for s in &wf.steps {
        let _ = writeln!(
            out,
            "  {} [label=\"{}\\n{}\"];",
            quote(s.id.as_str()),
            dot_escape(s.label()),
            dot_escape(s.kind.key())
        );
    }
    for (from, to) in dag.edges() {
        let _ = writeln!(out, "  {} -> {};", quote(dag.id(from)), quote(dag.id(to)));
    }
    let _ = writeln!(out, "}}");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_labels_are_escaped_once_and_keep_their_line_break() {
        let wf = crate::spec::parse_str(
            "name: 'say \"hi\" \\ bye'\nsteps:\n  - id: a\n    name: 'Say \"x\" \\ y'\n    run: echo\n  - id: z\n    run: echo\n    depends_on: [a]\n",
            std::path::Path::new("wf.yaml"),
        )
        .unwrap();
        let dot = super::dot(&wf, &crate::spec::Dag::new(&wf));
        assert!(dot.contains(r#"digraph "say \"hi\" \\ bye" {"#), "{dot}");
        assert!(
            dot.contains(r#"  "a" [label="Say \"x\" \\ y\nrun"];"#),
            "{dot}"
        );
        assert!(dot.contains(r#"  "z" [label="z\nrun"];"#), "{dot}");
        assert!(dot.contains(r#"  "a" -> "z";"#), "{dot}");
    }
}
