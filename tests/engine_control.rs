//! Approvals, pause/resume and cancel, against real processes.

#[path = "support/engine.rs"]
mod harness;

use std::time::Duration;

use baton::engine::{Command, RunControl, RunReader};
use baton::store::{EventKind, RunState, StepStatus};
use harness::{Harness, PATIENCE, alive, eventually, read_pid, state_of};
use serde_json::json;

const GATED: &str = r#"
name: gated
steps:
  - id: gate
    approval:
      prompt: "Ship version {{ params.version }}?"
      inputs:
        note: { default: "v{{ params.version }}" }
  - id: ship
    run: echo shipped
    depends_on: [gate]
params:
  version: { default: "1.0" }
"#;

#[test]
fn an_approved_gate_lets_the_run_continue_and_records_who() {
    let h = Harness::new();
    let id = h.start(GATED);
    let gate = h.wait_gate(&id, "gate");
    assert_eq!(gate.prompt, "Ship version 1.0?");
    assert_eq!(gate.inputs.get("note").map(String::as_str), Some("v1.0"));
    h.decide(&id, "gate", true, Some("looks good"));
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(h.output(&id, "gate"), json!({"note": "v1.0"}));
    let detail = h.engine.run_detail(&id).unwrap();
    let decision = detail.approvals[0].decision.clone().unwrap();
    assert!(decision.approved);
    assert_eq!(decision.by, baton::identity::Operator::current().name);
    assert_eq!(decision.uid, Some(baton::identity::current_uid()));
    assert_eq!(decision.comment.as_deref(), Some("looks good"));
    assert!(h.step(&id, "gate").approval_wait_ms <= decision.at.0);
}

#[test]
fn edited_inputs_become_the_gate_output_and_reach_later_steps() {
    let h = Harness::new();
    let id = h.start(GATED);
    h.wait_gate(&id, "gate");
    let mut inputs = indexmap::IndexMap::new();
    inputs.insert("note".to_string(), "edited by hand".to_string());
    inputs.insert("unknown".to_string(), "ignored".to_string());
    h.engine
        .send(Command::Decide {
            run: id.clone(),
            step: baton::spec::StepId::from("gate"),
            approved: true,
            via: None,
            comment: None,
            inputs,
        })
        .unwrap();
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(h.output(&id, "gate"), json!({"note": "edited by hand"}));
    let decision = h.engine.run_detail(&id).unwrap().approvals[0]
        .decision
        .clone()
        .unwrap();
    assert_eq!(
        decision.inputs.get("note").map(String::as_str),
        Some("edited by hand")
    );
}

#[test]
fn a_rejected_gate_fails_the_step_and_skips_what_follows() {
    let h = Harness::new();
    let id = h.start(GATED);
    h.wait_gate(&id, "gate");
    h.decide(&id, "gate", false, Some("not today"));
    assert_eq!(h.wait(&id), RunState::Failed);
    let gate = h.step(&id, "gate");
    let me = baton::identity::Operator::current().name;
    assert_eq!(
        gate.error.as_deref(),
        Some(format!("rejected by {me}: not today").as_str())
    );
    assert_eq!(h.step(&id, "ship").status, StepStatus::Skipped);
}

#[test]
fn a_gate_that_times_out_follows_on_timeout() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: timeouts
steps:
  - id: reject_me
    approval: { prompt: "?", timeout: 50ms }
  - id: approve_me
    approval: { prompt: "?", timeout: 50ms, on_timeout: approve }
"#,
    );
    assert_eq!(state, RunState::Failed);
    let rejected = h.step(&id, "reject_me");
    assert_eq!(rejected.status, StepStatus::Failed);
    assert!(
        rejected
            .error
            .as_deref()
            .unwrap()
            .starts_with("rejected by timeout")
    );
    assert_eq!(h.step(&id, "approve_me").status, StepStatus::Succeeded);
}

#[test]
fn an_approve_gate_shows_the_exact_command_before_running_it() {
    let h = Harness::new();
    let marker = h.path("ran");
    let yaml = format!(
        r#"
name: approve
params:
  target: {{ default: "prod east" }}
steps:
  - id: deploy
    run: touch {} && echo deploying {{{{ params.target }}}}
    approve: true
"#,
        marker.display()
    );
    let id = h.start(&yaml);
    let gate = h.wait_gate(&id, "deploy");
    let action = gate.action.unwrap();
    assert!(action.starts_with("$ touch "), "{action}");
    assert!(action.ends_with("echo deploying 'prod east'"), "{action}");
    assert!(!marker.exists(), "the command ran before approval");
    h.decide(&id, "deploy", true, None);
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert!(marker.exists());
}

#[test]
fn pause_freezes_the_process_group_and_resume_continues_it() {
    let h = Harness::new();
    let pidfile = h.path("pid");
    let ticks = h.path("ticks");
    let yaml = format!(
        r#"
name: pausable
steps:
  - id: ticker
    run: 'sh -c "while true; do echo x >> {t}; sleep 0.02; done" & echo $! > {p}; wait'
"#,
        t = ticks.display(),
        p = pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    h.wait_step(&id, "ticker", |r| r.status == StepStatus::Running);
    h.engine.send(Command::Pause(id.clone())).unwrap();
    h.wait_step(&id, "ticker", |r| r.status == StepStatus::Paused);
    // The grandchild is stopped (state T) and makes no progress while paused.
    eventually(PATIENCE, "the grandchild to be stopped", || {
        state_of(child) == Some('T')
    });
    let before = std::fs::read_to_string(&ticks).unwrap_or_default().len();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        std::fs::read_to_string(&ticks).unwrap_or_default().len(),
        before
    );
    assert_eq!(
        h.engine.store().run(&id).unwrap().unwrap().state,
        RunState::Paused
    );

    h.engine.send(Command::Resume(id.clone())).unwrap();
    h.wait_step(&id, "ticker", |r| r.status == StepStatus::Running);
    eventually(PATIENCE, "progress after resume", || {
        std::fs::read_to_string(&ticks).unwrap_or_default().len() > before
    });
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
}

#[test]
fn cancel_kills_a_process_tree_that_ignores_sigterm() {
    let h = Harness::new();
    let pidfile = h.path("pid");
    let yaml = format!(
        r#"
name: stubborn
steps:
  - id: stubborn
    run: 'trap "" TERM; sh -c "trap \"\" TERM; sleep 60" & echo $! > {}; while true; do sleep 1; done'
  - id: later
    run: echo never
    depends_on: [stubborn]
"#,
        pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    assert!(alive(child));
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    eventually(PATIENCE, "the grandchild to die with the cancel", || {
        !alive(child)
    });
    assert_eq!(h.step(&id, "stubborn").status, StepStatus::Cancelled);
    assert_eq!(h.step(&id, "later").status, StepStatus::Cancelled);
}

#[test]
fn cancelling_a_paused_run_still_kills_its_frozen_processes() {
    let h = Harness::new();
    let pidfile = h.path("pid");
    let yaml = format!(
        "name: frozen\nsteps:\n  - id: s\n    run: 'sleep 60 & echo $! > {}; wait'\n",
        pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    h.engine.send(Command::Pause(id.clone())).unwrap();
    h.wait_step(&id, "s", |r| r.status == StepStatus::Paused);
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    eventually(PATIENCE, "the frozen child to die with the cancel", || {
        !alive(child)
    });
}

#[test]
fn retry_reruns_only_the_failed_and_skipped_steps() {
    let h = Harness::new();
    let flag = h.path("flag");
    let log = h.path("log");
    let yaml = format!(
        r#"
name: retry
steps:
  - id: first
    run: echo first >> {log}
  - id: second
    run: 'echo second >> {log}; test -f {flag}'
    depends_on: [first]
  - id: third
    run: echo third >> {log}
    depends_on: [second]
"#,
        log = log.display(),
        flag = flag.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    std::fs::write(&flag, "").unwrap();
    h.engine.send(Command::Retry(id.clone())).unwrap();
    // From the moment the retry is accepted, the record says the run is under way again (a
    // follower polling it must not read its old end).
    assert_ne!(h.engine.run(&id).unwrap().state, RunState::Failed);
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "first\nsecond\nsecond\nthird\n"
    );
    // The retry's journal follows the first attempt's history: none of it is written over.
    let kinds = h.event_kinds(&id);
    assert!(
        matches!(kinds.first(), Some(EventKind::RunCreated { .. })),
        "{kinds:?}"
    );
    let states: Vec<RunState> = (kinds.iter())
        .filter_map(|k| match k {
            EventKind::RunState { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    let (failed, succeeded) = (
        states.iter().position(|s| *s == RunState::Failed),
        states.iter().position(|s| *s == RunState::Succeeded),
    );
    assert!(
        failed.is_some() && failed < succeeded,
        "the first end and the retry's both in order: {states:?}"
    );
}

#[test]
fn an_interrupted_run_resumes_and_reruns_only_what_had_not_finished() {
    let h = Harness::new();
    let log = h.path("log");
    let pidfile = h.path("pid");
    let yaml = format!(
        r#"
name: interrupted
steps:
  - id: done_first
    run: echo done_first >> {log}
  - id: long
    run: 'echo long >> {log}; if [ ! -f {pid} ]; then echo $$ > {pid}; sleep 60; fi'
    depends_on: [done_first]
  - id: last
    run: echo last >> {log}
    depends_on: [long]
"#,
        log = log.display(),
        pid = pidfile.display()
    );
    let id = h.start(&yaml);
    let pid = read_pid(&pidfile);
    h.rt.block_on(h.engine.interrupt_all());
    assert_eq!(
        h.engine.store().run(&id).unwrap().unwrap().state,
        RunState::Interrupted
    );
    eventually(PATIENCE, "the interrupted step's process to die", || {
        !alive(pid)
    });
    h.engine.send(Command::Resume(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "done_first\nlong\nlong\nlast\n"
    );
}

/// `approvers:` names who may decide a gate; anyone else is refused, with the list.
#[test]
fn only_a_listed_approver_may_decide_a_gate() {
    let me = baton::identity::Operator::current();
    let h = Harness::new();
    let id = h.start(&format!(
        "name: listed\nsteps:\n  - id: deploy\n    run: echo deployed\n    approve: true\n    \
         approvers: [nobody-here-1, {}]\n  - id: audit\n    approval: Audited?\n    \
         depends_on: [deploy]\n    approvers: [nobody-here-2]\n",
        me.name
    ));
    h.wait_gate(&id, "deploy");
    h.decide(&id, "deploy", true, None);
    let gate = h.wait_gate(&id, "audit");
    assert_eq!(gate.approvers, vec!["nobody-here-2".to_string()]);
    let refused = h
        .engine
        .send(Command::Decide {
            run: id.clone(),
            step: baton::spec::StepId::from("audit"),
            approved: true,
            via: None,
            comment: None,
            inputs: Default::default(),
        })
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(&format!("{me} may not decide")),
        "{refused}"
    );
    assert!(
        refused.contains("`approvers` are nobody-here-2"),
        "{refused}"
    );
    // Still open: the refusal decided nothing.
    h.wait_gate(&id, "audit");
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    let detail = h.engine.run_detail(&id).unwrap();
    let deploy = detail
        .approvals
        .iter()
        .find(|a| a.step.0 == "deploy")
        .unwrap();
    assert_eq!(
        deploy.decision.as_ref().map(|d| d.by.clone()),
        Some(me.name)
    );
}
