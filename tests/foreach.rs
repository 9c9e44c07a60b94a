//! `for_each:` fan-out, run for real: items see `item` and `item_index`, `max_parallel` caps
//! them (observed by the items themselves, under `flock`), `fail_fast` cancels or lets finish,
//! the list of outputs flows downstream, a retry re-runs only the failed items, and after a
//! `kill -9` a resume re-runs no item that had completed. Also the validation messages.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/engine.rs"]
mod harness;

use std::path::Path;

use baton::spec::{self, Diagnostics};
use baton::store::{RunState, StepStatus};
use harness::{Harness, PATIENCE, eventually};
use serde_json::json;

fn statuses(h: &Harness, id: &baton::store::RunId, step: &str) -> Vec<StepStatus> {
    h.step(id, step).items.iter().map(|i| i.status).collect()
}

fn lines(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn items_of_a_list_literal_and_of_a_param_see_item_and_item_index() {
    let h = Harness::new();
    let out = h.path("out");
    let yaml = format!(
        r#"
name: fan
params:
  hosts: {{ default: [web1, "web 2"] }}
steps:
  - id: literal
    for_each: [a, "b c"]
    run: echo {{{{ item_index }}}}={{{{ item }}}} >> {out}
  - id: param
    for_each: "{{{{ params.hosts }}}}"
    run: echo {{{{ item }}}}
"#,
        out = out.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(lines(&out), ["0=a", "1=b c"]);
    assert_eq!(h.output(&id, "param"), json!(["web1", "web 2"]));
    assert_eq!(statuses(&h, &id, "param"), [StepStatus::Succeeded; 2]);
    // The step's log holds its items' lines; one item's stream holds its own.
    let mut all = h.logs(&id, "param");
    all.sort();
    assert_eq!(all, ["web 2", "web1"]);
    assert_eq!(h.logs(&id, "param[1]"), ["web 2"]);
}

#[test]
fn the_list_of_item_outputs_flows_downstream_in_order() {
    let h = Harness::new();
    let yaml = r#"
name: fan
steps:
  - id: square
    for_each: [3, 1, 2]
    transform: { expr: "item * item" }
  - id: total
    depends_on: [square]
    transform: { expr: "steps.square.output[0] + steps.square.output | sum" }
  - id: none
    for_each: "{{ [] }}"
    run: echo never
"#;
    let (id, state) = h.run_to_end(yaml);
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.output(&id, "square"), json!([9, 1, 4]));
    assert_eq!(h.output(&id, "total"), json!(23));
    // An empty list: the step succeeds with `[]`.
    assert_eq!(h.step(&id, "none").status, StepStatus::Succeeded);
    assert_eq!(h.output(&id, "none"), json!([]));
}

/// Each item counts itself in (under `flock`), records the highest count, and waits for the
/// test to let it go; the test lets them go one at a time. Without a cap all six would be in.
#[test]
fn max_parallel_is_never_exceeded() {
    let h = Harness::new();
    let d = h.dir.path().display().to_string();
    std::fs::write(h.path("count"), "0\n").unwrap();
    std::fs::write(h.path("max"), "0\n").unwrap();
    let enter = r#"n=$(( $(cat "$1/count") + 1 )); echo $n > "$1/count"; if [ $n -gt $(cat "$1/max") ]; then echo $n > "$1/max"; fi"#;
    let leave = r#"echo $(( $(cat "$1/count") - 1 )) > "$1/count""#;
    let script = format!(
        "#!/bin/sh\nd=$1; i=$2\nflock \"$d/lock\" sh -c '{enter}' _ \"$d\"\ntouch \"$d/in-$i\"\n\
         while [ ! -f \"$d/go-$i\" ]; do sleep 0.02; done\n\
         flock \"$d/lock\" sh -c '{leave}' _ \"$d\"\ntouch \"$d/out-$i\"\n"
    );
    std::fs::write(h.path("item.sh"), script).unwrap();
    let yaml = format!(
        "name: fan\nsteps:\n  - id: fan\n    for_each: [a, b, c, d, e, f]\n    max_parallel: 2\n    \
         run: sh {d}/item.sh {d} {{{{ item_index }}}}\n"
    );
    let id = h.start(&yaml);
    for i in 0..6 {
        eventually(PATIENCE, &format!("item {i} to start"), || {
            h.path(&format!("in-{i}")).exists()
        });
        std::fs::write(h.path(&format!("go-{i}")), "").unwrap();
        eventually(PATIENCE, &format!("item {i} to end"), || {
            h.path(&format!("out-{i}")).exists()
        });
    }
    assert_eq!(h.wait(&id), RunState::Succeeded);
    let max = std::fs::read_to_string(h.path("max")).unwrap();
    assert_eq!(max.trim(), "2", "at most two items ran at once");
}

#[test]
fn fail_fast_cancels_the_other_items() {
    let h = Harness::new();
    let d = h.dir.path().display().to_string();
    // Item 0 fails; item 1 waits for a file that never comes; the others must never start.
    let yaml = format!(
        r#"
name: fan
steps:
  - id: fan
    for_each: [0, 1, 2, 3]
    max_parallel: 2
    run: |
      touch {d}/started-{{{{ item }}}}
      if [ {{{{ item }}}} -eq 0 ]; then exit 3; fi
      while [ ! -f {d}/never ]; do sleep 0.05; done
"#
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    let rec = h.step(&id, "fan");
    assert_eq!(rec.status, StepStatus::Failed);
    assert_eq!(
        statuses(&h, &id, "fan"),
        [
            StepStatus::Failed,
            StepStatus::Cancelled,
            StepStatus::Cancelled,
            StepStatus::Cancelled
        ]
    );
    assert!(
        rec.error.as_deref().unwrap_or("").contains("item 0 (0)"),
        "{rec:?}"
    );
    assert!(!h.path("started-2").exists() && !h.path("started-3").exists());
}

#[test]
fn without_fail_fast_the_other_items_finish_and_the_step_fails_at_the_end() {
    let h = Harness::new();
    let d = h.dir.path().display().to_string();
    let yaml = format!(
        r#"
name: fan
steps:
  - id: fan
    for_each: [0, 1, 2, 3]
    max_parallel: 2
    fail_fast: false
    run: |
      if [ {{{{ item }}}} -eq 0 ]; then exit 3; fi
      echo {{{{ item }}}} >> {d}/done
  - id: after
    depends_on: [fan]
    run: echo after
"#
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    assert_eq!(lines(&h.path("done")), ["1", "2", "3"]);
    let mut expected = vec![StepStatus::Succeeded; 4];
    expected[0] = StepStatus::Failed;
    assert_eq!(statuses(&h, &id, "fan"), expected);
    let rec = h.step(&id, "fan");
    assert_eq!(rec.status, StepStatus::Failed);
    assert_eq!(rec.exit_code, Some(3));
    assert_eq!(h.step(&id, "after").status, StepStatus::Skipped);
}

#[test]
fn a_retry_runs_only_the_failed_items_again() {
    let h = Harness::new();
    let d = h.dir.path().display().to_string();
    std::fs::write(h.path("broken"), "").unwrap();
    let yaml = format!(
        r#"
name: fan
steps:
  - id: fan
    for_each: [a, b, c]
    fail_fast: false
    run: |
      echo {{{{ item }}}} >> {d}/ran
      if [ {{{{ item }}}} = b ] && [ -f {d}/broken ]; then exit 1; fi
      echo {{{{ item }}}}
"#
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    std::fs::remove_file(h.path("broken")).unwrap();
    h.engine.retry_run(&id).unwrap();
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(lines(&h.path("ran")), ["a", "b", "b", "c"]);
    assert_eq!(h.output(&id, "fan"), json!(["a", "b", "c"]));
}

/// The owner is killed while two items run and two have completed; the resume runs the rest
/// and no completed item again.
#[test]
fn after_a_kill_a_resume_runs_no_completed_item_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = dir.path().display().to_string();
    let wf = dir.path().join("fan.yaml");
    std::fs::write(
        &wf,
        format!(
            r#"
name: fan
steps:
  - id: fan
    for_each: [0, 1, 2, 3, 4, 5]
    max_parallel: 2
    run: |
      echo {{{{ item }}}} >> {d}/ran
      if [ {{{{ item }}}} -ge 2 ] && [ ! -f {d}/release ]; then
        touch {d}/started-{{{{ item }}}}
        while [ ! -f {d}/never ]; do sleep 0.05; done
      fi
      echo {{{{ item }}}} >> {d}/done
"#
        ),
    )
    .unwrap();
    // Events go out once durable: this one has items 0 and 1 stored as succeeded, and items 2
    // and 3 running with their process groups stored (a kill before that could leave a group
    // no one knows of).
    let mut owner = bin::run_until_an_event(&data, &wf, |l| {
        l.contains("\"type\":\"step\"")
            && l.matches("\"status\":\"succeeded\"").count() >= 2
            && l.matches("\"process\":[").count() >= 2
    });
    eventually(PATIENCE, "items 2 and 3 to run", || {
        dir.path().join("started-2").exists() && dir.path().join("started-3").exists()
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    std::fs::write(dir.path().join("release"), "").unwrap();

    let ls = bin::baton(&data).args(["ls", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    // The groups the dead owner's items left were stopped when the store was opened again.
    assert_eq!(harness::processes_mentioning(&format!("{d}/never")), [0; 0]);
    let out = bin::baton(&data).args(["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));

    // Every item completed once; items 0 and 1 (completed before the kill) ran once; the two
    // running at the kill ran again (without blocking: `release` exists now).
    assert_eq!(
        lines(&dir.path().join("done")),
        ["0", "1", "2", "3", "4", "5"]
    );
    assert_eq!(
        lines(&dir.path().join("ran")),
        ["0", "1", "2", "2", "3", "3", "4", "5"]
    );
    let show = bin::baton(&data).args(["show", &id]).output().unwrap();
    let t = bin::text(&show);
    assert!(t.contains("  [5] 5"), "{t}");
}

fn errors(text: &str) -> Diagnostics {
    match spec::parse_str(text, Path::new("wf.yaml")) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(d) => d,
    }
}

fn at(d: &Diagnostics, place: &str, needle: &str) {
    let found = d
        .iter()
        .find(|x| x.message.contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic containing {needle:?} in:\n{d}"));
    assert_eq!(found.location(), place, "{d}");
    assert!(found.hint.is_some(), "no hint: {found}");
}

#[test]
fn fan_out_mistakes_are_reported_at_their_place() {
    let d = errors(
        "name: w\nsteps:\n  - id: a\n    for_each: web1\n    run: echo {{ item }}\n  - id: b\n    for_each: [x]\n    max_parallel: 0\n    run: echo {{ item }}\n  - id: c\n    run: echo {{ item_index }}\n  - id: e\n    fail_fast: false\n    run: echo\n",
    );
    at(
        &d,
        "wf.yaml:4:15",
        "`for_each` must be a list or a template",
    );
    at(
        &d,
        "wf.yaml:8:19",
        "`max_parallel` is 0; it must be at least 1",
    );
    assert!(
        !d.to_string().contains("step `a` has no `for_each`"),
        "a broken `for_each` is still a fan-out for `item`:\n{d}"
    );
    at(
        &d,
        "wf.yaml:11:10",
        "reads `item_index`, but step `c` has no `for_each`",
    );
    at(&d, "wf.yaml:13:5", "has `fail_fast` but no `for_each`");
    let d = errors(
        "name: w\nsteps:\n  - id: a\n    for_each: \"{{ item }}\"\n    when: item == 1\n    run: echo\n  - id: g\n    for_each: [1]\n    approval: { prompt: ok? }\n",
    );
    at(&d, "wf.yaml:4:15", "`for_each` of step `a` reads `item`");
    at(&d, "wf.yaml:5:11", "`when` of step `a` reads `item`");
    at(
        &d,
        "wf.yaml:8:15",
        "step `g` has `for_each` and `approval:`, which cannot go together: a gate on a fan-out would be asked once per item",
    );
    let gate = d.iter().find(|x| x.message.contains("step `g`")).unwrap();
    assert!(
        gate.hint
            .as_deref()
            .is_some_and(|h| h.contains("`depends_on: [g-approval]` on `g`")),
        "{d}"
    );
}
