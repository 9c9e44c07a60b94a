//! Every example in `workflows/` validates (CI runs this), and the CLI reports on files the way
//! the docs say: exit codes, human and JSON output, the graph.

#[path = "support/bin.rs"]
mod bin;

use std::path::{Path, PathBuf};
use std::process::Command;

use baton::spec::{self, Dag};

fn workflow_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_workflow_validates_including_its_agents() {
    let files = workflow_files();
    assert!(
        files.len() >= 4,
        "expected the example workflows, found {files:?}"
    );
    for path in files {
        let wf = spec::load_file(&path)
            .unwrap_or_else(|d| panic!("{} is invalid:\n{d}", path.display()));
        let agents = spec::check_agents(&wf, &baton::agents::known_names(&[]));
        assert!(agents.is_empty(), "{}: {agents:?}", path.display());
        let dag = Dag::new(&wf);
        let levelled: usize = dag.levels().iter().map(Vec::len).sum();
        assert_eq!(levelled, wf.steps.len(), "{}", path.display());
    }
}

/// The example commands are valid `sh` (checked with `sh -n`, templates replaced by a word).
#[test]
fn every_example_run_command_is_valid_shell() {
    for path in workflow_files() {
        let wf = spec::load_file(&path).unwrap_or_else(|d| panic!("{d}"));
        for step in &wf.steps {
            let spec::StepKind::Run(run) = &step.kind else {
                continue;
            };
            let mut text = String::new();
            let mut rest = run.command.as_str();
            while let Some(start) = rest.find("{{") {
                text.push_str(&rest[..start]);
                text.push_str("WORD");
                rest = rest[start..]
                    .find("}}")
                    .map_or("", |end| &rest[start + end + 2..]);
            }
            text.push_str(rest);
            let status = Command::new("sh")
                .args(["-n", "-c", &text])
                .status()
                .expect("sh runs");
            assert!(
                status.success(),
                "{} step `{}`: `sh -n` rejects:\n{text}",
                path.display(),
                step.id
            );
        }
    }
}

#[test]
fn the_required_examples_exist() {
    let names: Vec<String> = workflow_files()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for wanted in [
        "demo.yaml",
        "release.yaml",
        "code-review.yaml",
        "automatosx-deploy.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "missing workflows/{wanted}"
        );
    }
}

#[test]
fn the_demo_runs_three_shell_steps_in_parallel_then_a_transform_and_a_gate() {
    let wf = spec::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/demo.yaml"))
        .unwrap();
    let dag = Dag::new(&wf);
    let kinds = |level: usize| -> Vec<&str> {
        dag.levels()[level]
            .iter()
            .map(|&i| wf.steps[i].kind.key())
            .collect()
    };
    assert_eq!(kinds(0), vec!["run", "run", "run"]);
    assert_eq!(kinds(1), vec!["transform"]);
    assert_eq!(kinds(2), vec!["approval"]);
}

/// Every ```yaml block of the language reference that looks like a whole workflow (has
/// `steps:` at the start of a line) validates, so the docs stay in step with the code.
#[test]
fn the_whole_workflows_in_the_language_reference_validate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/workflow-language.md");
    let doc = std::fs::read_to_string(&path).expect("docs/workflow-language.md is readable");
    let mut checked = 0;
    for (n, block) in doc.split("```yaml\n").skip(1).enumerate() {
        let Some(end) = block.find("```") else {
            continue;
        };
        let text = &block[..end];
        if !text.lines().any(|l| l.starts_with("steps:")) {
            continue;
        }
        let name = format!("docs-block-{n}.yaml");
        if let Err(d) = spec::parse_str(text, Path::new(&name)) {
            panic!("a workflow in the docs is invalid:\n{text}\n{d}");
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected whole workflows in the docs, found {checked}"
    );
}

fn baton(args: &[&str]) -> (i32, String, String) {
    let out = bin::baton_bare()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the baton binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/spec/{name}")
}

#[test]
fn validate_exits_zero_when_every_file_is_valid() {
    let (code, out, _) = baton(&["validate", "workflows/demo.yaml", "workflows/release.yaml"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok: workflows/demo.yaml (demo, 6 steps)"),
        "{out}"
    );
}

#[test]
fn validate_exits_one_and_reports_each_problem_with_its_place() {
    let bad = fixture("broken.yaml");
    let (code, _, err) = baton(&["validate", "workflows/demo.yaml", &bad]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{bad}:6:5")), "{err}");
    assert!(err.contains("did you mean `depends_on`?"), "{err}");
    assert!(
        err.contains("dependency cycle: build → test → build"),
        "{err}"
    );
    assert!(err.contains("1 of 2 file(s) invalid"), "{err}");
}

#[test]
fn validate_json_output_is_one_document_for_tools() {
    let bad = fixture("broken.yaml");
    let (code, out, _) = baton(&["validate", "--json", "workflows/demo.yaml", &bad]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("stdout is JSON");
    assert_eq!(v["valid"], false);
    assert_eq!(v["files"][0]["valid"], true);
    assert_eq!(v["files"][0]["steps"], 6);
    let diags = v["files"][1]["diagnostics"].as_array().unwrap();
    assert!(
        diags.iter().any(|d| d["line"] == 6 && d["col"] == 5),
        "{out}"
    );
}

#[test]
fn validate_accepts_extra_agent_names() {
    let file = fixture("custom-agent.yaml");
    let (code, _, err) = baton(&["validate", &file]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("uses agent `release-notes`, which no profile defines"),
        "{err}"
    );
    let (code, _, err) = baton(&["validate", "--agent", "release-notes", &file]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn graph_prints_levels_and_edges() {
    let (code, out, err) = baton(&["graph", "workflows/demo.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("demo: 6 steps, 4 levels\n"), "{out}");
    assert!(
        out.contains("level 0: disk (run), kernel (run), count (run)"),
        "{out}"
    );
    assert!(out.contains("  summary → gate"), "{out}");
    let (code, out, _) = baton(&["graph", "--dot", "workflows/demo.yaml"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("digraph \"demo\""), "{out}");
    assert!(out.contains("\"gate\" -> \"greet\";"), "{out}");
}

#[test]
fn graph_of_an_invalid_file_shows_the_problems() {
    let (code, out, err) = baton(&["graph", &fixture("broken.yaml")]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("error: "), "{err}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["validate", "--help"],
        &["graph", "--help"],
    ] {
        let (code, out, err) = baton(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

/// `validate` knows the providers of the config file (here, only `local`).
#[test]
fn validate_checks_provider_names_against_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        "[[providers]]\nname = \"local\"\nkind = \"ollama\"\n",
    )
    .unwrap();
    let wf = dir.path().join("wf.yaml");
    std::fs::write(
        &wf,
        "name: x\nsteps:\n  - { id: a, agent: writer, prompt: p, provider: locl }\n",
    )
    .unwrap();
    let out = bin::baton_bare()
        .arg("validate")
        .arg(&wf)
        .env("BATON_CONFIG_DIR", &config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("wf.yaml:3:50"), "{err}");
    assert!(
        err.contains("provider `locl`, which is not configured"),
        "{err}"
    );
    assert!(err.contains("did you mean `local`?"), "{err}");
    let out = bin::baton_bare()
        .args(["validate", "--provider", "locl"])
        .arg(&wf)
        .env("BATON_CONFIG_DIR", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
