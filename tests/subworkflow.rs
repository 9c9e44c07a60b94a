//! Sub-workflows: a `workflow:` step runs another workflow as a child run, linked to its
//! parent, whose `outputs:` become the step's output, and which the parent's pause, cancel and
//! resume reach.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use std::path::Path;

use baton::engine::{Command, RunControl, RunReader};
use baton::store::{RunId, RunState, StepStatus};
use bin::{baton, run_until_an_event, text};
use harness::{Harness, PATIENCE, eventually, processes_mentioning, state_of};
use serde_json::Value;

const CHILD: &str = r#"
name: greet
params:
  who: { required: true }
steps:
  - id: hello
    run: echo "hello {{ params.who }}"
outputs:
  greeting: "{{ steps.hello.output }}"
"#;

fn show(data: &Path, run: &str) -> Value {
    let out = baton(data).args(["show", run, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn step<'v>(shown: &'v Value, id: &str) -> &'v Value {
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["record"]["step"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {shown}"))
}

fn first_run(data: &Path) -> String {
    let out = baton(data).args(["ls", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|r| r["parent"].is_null())
        .and_then(|r| r["id"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn a_childs_outputs_flow_to_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("greet.yaml"), CHILD).unwrap();
    let parent = dir.path().join("parent.yaml");
    std::fs::write(
        &parent,
        r#"
name: parent
params:
  who: { default: world }
steps:
  - id: child
    workflow: { path: ./greet.yaml, params: { who: "{{ params.who }}" } }
  - id: use
    depends_on: [child]
    run: echo "got {{ steps.child.output.greeting }}"
"#,
    )
    .unwrap();
    let out = baton(&data)
        .args(["run", "-q"])
        .arg(&parent)
        .args(["-p", "who=there"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let id = first_run(&data);
    let shown = show(&data, &id);
    assert_eq!(step(&shown, "use")["output"], "got hello there");
    let child = step(&shown, "child");
    let child_id = format!("{id}.child");
    assert_eq!(child["record"]["child_run"], child_id.as_str());
    assert_eq!(child["output"]["greeting"], "hello there");
    let shown_child = show(&data, &child_id);
    assert_eq!(shown_child["run"]["parent"]["run"], id.as_str());
    assert_eq!(shown_child["run"]["parent"]["step"], "child");
    assert_eq!(shown_child["run"]["state"], "succeeded");
}

#[test]
fn a_bare_name_is_found_in_the_workflows_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(dir.path().join("workflows")).unwrap();
    std::fs::write(dir.path().join("workflows/greeter.yaml"), CHILD).unwrap();
    let parent = dir.path().join("parent.yaml");
    std::fs::write(
        &parent,
        "name: parent\nsteps:\n  - id: child\n    workflow: { path: greet, params: { who: you } }\n",
    )
    .unwrap();
    let out = baton(&data)
        .current_dir(dir.path())
        .args(["run", "-q"])
        .arg(&parent)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = show(&data, &first_run(&data));
    assert_eq!(step(&shown, "child")["output"]["greeting"], "hello you");
}

#[test]
fn a_workflow_that_calls_itself_is_refused_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    std::fs::write(&a, "name: a\nsteps:\n  - id: go\n    workflow: ./b.yaml\n").unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "name: b\nsteps:\n  - id: back\n    workflow: ./a.yaml\n",
    )
    .unwrap();
    let out = baton(&dir.path().join("data"))
        .arg("validate")
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("a.yaml:4:15"), "{said}");
    assert!(said.contains("calls itself"), "{said}");
    assert!(said.contains("b.yaml → "), "{said}");
    let out = baton(&dir.path().join("data"))
        .arg("run")
        .arg(&a)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("calls itself"), "{}", text(&out));
}

/// A parent whose child runs `sleep` with `marker` in its command line.
fn sleeping_parent(h: &Harness, marker: &str) -> RunId {
    let child = h.path("child.yaml");
    std::fs::write(
        &child,
        format!("name: sleeper\nsteps:\n  - id: nap\n    run: sleep 300; echo {marker}\n"),
    )
    .unwrap();
    h.start(&format!(
        "name: parent\nsteps:\n  - id: child\n    workflow: {}\n",
        child.display()
    ))
}

#[test]
fn cancelling_the_parent_cancels_the_child_and_leaves_no_process() {
    let h = Harness::new();
    let marker = format!("subflow-cancel-{}", std::process::id());
    let id = sleeping_parent(&h, &marker);
    eventually(PATIENCE, "the child's process to start", || {
        !processes_mentioning(&marker).is_empty()
    });
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    let child = RunId(format!("{id}.child"));
    assert_eq!(h.wait(&child), RunState::Cancelled);
    assert_eq!(h.step(&id, "child").status, StepStatus::Cancelled);
    eventually(PATIENCE, "no process of the child left", || {
        processes_mentioning(&marker).is_empty()
    });
}

#[test]
fn an_interrupted_parent_leaves_its_child_interrupted_to_resume_with_it() {
    let h = Harness::new();
    let marker = format!("subflow-interrupt-{}", std::process::id());
    let id = sleeping_parent(&h, &marker);
    eventually(PATIENCE, "the child's process to start", || {
        !processes_mentioning(&marker).is_empty()
    });
    h.engine.interrupt_run(&id).unwrap();
    assert_eq!(h.wait(&id), RunState::Interrupted);
    let child = RunId(format!("{id}.child"));
    assert_eq!(h.wait(&child), RunState::Interrupted);
    eventually(PATIENCE, "no process of the child left", || {
        processes_mentioning(&marker).is_empty()
    });
}

#[test]
fn pausing_the_parent_freezes_the_childs_processes() {
    let h = Harness::new();
    let marker = format!("subflow-pause-{}", std::process::id());
    let id = sleeping_parent(&h, &marker);
    let mut pids = Vec::new();
    eventually(PATIENCE, "the child's process to start", || {
        pids = processes_mentioning(&marker);
        !pids.is_empty()
    });
    h.engine.send(Command::Pause(id.clone())).unwrap();
    eventually(PATIENCE, "the child's process stopped (state T)", || {
        pids.iter().all(|&p| state_of(p) == Some('T'))
    });
    let child = RunId(format!("{id}.child"));
    eventually(PATIENCE, "the child run paused", || {
        h.engine
            .run(&child)
            .is_ok_and(|r| r.state == RunState::Paused)
    });
    h.engine.send(Command::Resume(id.clone())).unwrap();
    eventually(PATIENCE, "the child's process running again", || {
        pids.iter().all(|&p| state_of(p) != Some('T'))
    });
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    eventually(PATIENCE, "no process of the child left", || {
        processes_mentioning(&marker).is_empty()
    });
}

#[test]
fn kill_9_and_resume_finish_both_without_rerunning_completed_steps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let count = dir.path().join("count");
    let go = dir.path().join("go");
    let c = count.display();
    std::fs::write(
        dir.path().join("child.yaml"),
        format!(
            r#"
name: child
steps:
  - id: first
    run: echo child-first >> {c}
  - id: wait
    depends_on: [first]
    run: while [ ! -e {g} ]; do sleep 0.05; done
outputs:
  done: "{{{{ steps.first.status }}}}"
"#,
            g = go.display()
        ),
    )
    .unwrap();
    let parent = dir.path().join("parent.yaml");
    std::fs::write(
        &parent,
        format!(
            r#"
name: parent
steps:
  - id: before
    run: echo parent-before >> {c}
  - id: child
    depends_on: [before]
    workflow: ./child.yaml
  - id: after
    depends_on: [child]
    run: echo "parent-after {{{{ steps.child.output.done }}}}" >> {c}
"#
        ),
    )
    .unwrap();
    // The child's `wait` step with its process group recorded: durable before it is printed.
    let mut owner = run_until_an_event(&data, &parent, |l| {
        l.contains("\"type\":\"step\"")
            && l.contains(".child\"")
            && l.contains("\"step\":\"wait\"")
            && l.contains("\"process\":[")
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    std::fs::write(&go, "").unwrap();
    let id = first_run(&data);
    let out = baton(&data).args(["resume", "-q", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = std::fs::read_to_string(&count)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        ["parent-before", "child-first", "parent-after succeeded"],
        "every completed step ran once (the running `wait` runs again, at least once)"
    );
    assert_eq!(
        show(&data, &format!("{id}.child"))["run"]["state"],
        "succeeded"
    );
}
