//! The command line's basics, through the real binary: the workflow JSON Schema, completions,
//! the manual page, `init`, `ls` filters, `pause`, `run --detach` and a quiet `run -q`.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/engine.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use baton::agents::schema::validate;
use baton::cli::schema::workflow_schema;
use bin::{baton, baton_bare, text};
use harness::{PATIENCE, eventually};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

fn examples() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(root().join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    let doc = std::fs::read_to_string(root().join("docs/workflow-language.md")).unwrap();
    for (n, block) in doc.split("```yaml\n").skip(1).enumerate() {
        let body = &block[..block.find("```").unwrap()];
        if body.lines().any(|l| l.starts_with("steps:")) {
            out.push((format!("docs block {n}"), body.to_string()));
        }
    }
    out
}

#[test]
fn the_schema_accepts_every_example_workflow() {
    let schema = workflow_schema();
    let all = examples();
    assert!(all.len() >= 8, "{}", all.len());
    for (name, text) in all {
        let errors = validate(&schema, &yaml(&text));
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn the_schema_rejects_broken_workflows() {
    let schema = workflow_schema();
    for (broken, why) in [
        (
            "name: x\nstep: []\n",
            "a misspelt top-level key, and no steps",
        ),
        ("name: x\nsteps:\n  - run: echo\n", "a step without an id"),
        (
            "name: x\nsteps:\n  - id: a\n    depends_on: [b]\n",
            "a step without a kind",
        ),
        (
            "name: x\nsteps: [{id: a, run: 'true'}]\nnotify:\n  - slack: ftp://x\n",
            "a notify URL that is not http(s)",
        ),
        (
            "name: x\nsteps: [{id: a, run: 'true'}]\nnotify:\n  - command: x\n    on: [sometimes]\n",
            "an unknown notify event",
        ),
    ] {
        let errors = validate(&schema, &yaml(broken));
        assert!(!errors.is_empty(), "accepted {why}: {broken}");
        // And the reader agrees that it is broken.
        assert!(
            baton::spec::parse_str(broken, Path::new("b.yaml")).is_err(),
            "{why}"
        );
    }
}

/// The schema's top level lists every key the reader knows (its unknown-key hint names them).
#[test]
fn the_schema_names_every_top_level_key_the_reader_knows() {
    let d = baton::spec::parse_str(
        "zzzzzzzzzz: 1\nsteps: [{id: a, run: 'true'}]\n",
        Path::new("k.yaml"),
    )
    .unwrap_err()
    .to_string();
    let known = d
        .split("known keys here: ")
        .nth(1)
        .expect("the hint")
        .lines()
        .next()
        .unwrap();
    let schema = workflow_schema();
    for key in known.split(", ") {
        assert!(
            schema["properties"].get(key.trim()).is_some(),
            "`{key}` is missing from the schema"
        );
    }
}

#[test]
fn baton_schema_prints_the_schema_the_examples_point_to() {
    let out = baton_bare().arg("schema").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, workflow_schema());
    let committed = std::fs::read_to_string(root().join("docs/workflow.schema.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&committed).unwrap(),
        printed,
        "docs/workflow.schema.json is stale: `baton schema > docs/workflow.schema.json`"
    );
    for (name, text) in examples().iter().filter(|(n, _)| n.ends_with(".yaml")) {
        assert!(
            text.starts_with("# yaml-language-server: $schema=../docs/workflow.schema.json"),
            "{name} has no schema modeline"
        );
    }
}

#[test]
fn completions_and_the_manual_page_list_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = baton_bare().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in ["run", "resume", "schema", "completions", "pause"] {
            assert!(script.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    let out = baton_bare().arg("man").output().unwrap();
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH baton 1"),
        "{page}"
    );
    assert!(
        page.contains("completions") && page.contains("validate"),
        "{page}"
    );
}

#[test]
fn init_writes_a_starter_that_validates_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("cfg");
    let out = baton_bare().arg("init").arg(&at).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let wf = at.join("workflows/hello.yaml");
    let out = baton_bare().arg("validate").arg(&wf).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // The config it wrote is read as baton's own config.
    let out = baton_bare()
        .env("BATON_CONFIG_DIR", &at)
        .env("BATON_HOME", dir.path().join("home"))
        .args(["agents"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // The modeline's schema is the one written beside it.
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(at.join("workflow.schema.json")).unwrap())
            .unwrap();
    assert!(validate(&schema, &yaml(&std::fs::read_to_string(&wf).unwrap())).is_empty());

    std::fs::write(&wf, "mine\n").unwrap();
    let out = baton_bare().arg("init").arg(&at).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not overwriting"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&wf).unwrap(), "mine\n");
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn ls(data: &Path, args: &[&str]) -> Vec<Value> {
    let out = baton(data)
        .arg("ls")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_quiet_run_prints_nothing_on_success_and_ls_filters_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let ok = write(
        dir.path(),
        "ok.yaml",
        "name: good\nsteps:\n  - id: a\n    run: echo hi\n",
    );
    let bad = write(
        dir.path(),
        "bad.yaml",
        "name: bad\nsteps:\n  - id: a\n    run: exit 4\n",
    );
    let out = baton(&data).args(["run", "-q"]).arg(&ok).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out), "", "`run -q` printed on success");
    let out = baton(&data).args(["run", "-q"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("exited with code 4"), "{}", text(&out));

    let states = |args: &[&str]| -> Vec<String> {
        ls(&data, args)
            .iter()
            .map(|r| format!("{} {}", r["workflow"], r["state"]))
            .collect()
    };
    assert_eq!(states(&["--state", "failed"]), ["\"bad\" \"failed\""]);
    assert_eq!(states(&["--workflow", "good"]), ["\"good\" \"succeeded\""]);
    assert_eq!(states(&["--since", "1h"]).len(), 2);
    assert_eq!(
        states(&["--state", "succeeded", "--workflow", "bad"]).len(),
        0
    );
    // Times are shown in the local zone, named.
    let out = baton(&data)
        .env("TZ", "Asia/Tokyo")
        .arg("ls")
        .output()
        .unwrap();
    assert!(text(&out).contains(" JST"), "{}", text(&out));
    let out = baton(&data).env("TZ", "UTC").arg("ls").output().unwrap();
    assert!(text(&out).contains(" UTC"), "{}", text(&out));
    let out = baton(&data)
        .args(["ls", "--state", "sleeping"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn run_detach_returns_with_the_id_and_the_run_goes_on_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let flag = dir.path().join("flag");
    let wf = write(
        dir.path(),
        "w.yaml",
        &format!(
            "name: detached\nsteps:\n  - id: wait\n    run: 'while [ ! -f {} ]; do sleep 0.05; done'\n",
            flag.display()
        ),
    );
    // It cannot have ended when `--detach` returns: its step waits for a file not yet made.
    let out = baton(&data)
        .args(["run", "--detach"])
        .arg(&wf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(id.starts_with('r'), "{id}");

    // Paused and resumed from other shells while its owner runs it.
    // An owner that is leaving has removed its socket before its lock: `ls` then fails, and
    // the next try reads the store.
    let state = |data: &Path| {
        let out = baton(data).args(["ls", "--json"]).output().unwrap();
        let runs: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        runs[0]["state"].as_str().unwrap_or("").to_string()
    };
    eventually(PATIENCE, "the run to run", || state(&data) == "running");
    let out = baton(&data).args(["pause", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    eventually(PATIENCE, "the run to pause", || state(&data) == "paused");
    let resumed = baton(&data)
        .args(["resume", &id, "-q"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    eventually(PATIENCE, "the run to resume", || state(&data) == "running");
    std::fs::write(&flag, "").unwrap();
    eventually(PATIENCE, "the run to succeed", || {
        state(&data) == "succeeded"
    });
    // Its follower may see the owner leave before the end is announced: only reap it.
    resumed.wait_with_output().unwrap();
}
