//! Agents that act, as the whole program runs them against a fake provider on 127.0.0.1: a
//! risky tool call waits at the step's gate showing the exact call until `baton approve` or
//! `baton reject` from another shell decides it, and a run killed with SIGKILL in the middle of
//! an agent's loop continues its conversation on `baton resume`.

#[path = "support/agent_run.rs"]
mod agent_run;
#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use std::process::Stdio;

use agent_run::{Place, calls, decide, results};
use fake_llm::{FakeLlm, Reply};
use serde_json::json;

const GATED: &str = "steps:\n  - id: look\n    agent: devops\n    prompt: Free some space.\n    tools: [shell, write_file, read_file]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risky_call_waits_for_approve_or_reject_from_another_shell_and_the_agent_goes_on() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo cleaned > a.txt"}),
    )]));
    fake.push(calls(&[(
        "write_file",
        json!({"path": "w.txt", "content": "rm -rf /var/log\n"}),
    )]));
    fake.push(Reply::Text("Cleaned; the script was refused.".into()));
    let place = Place::new(&fake, GATED);
    let owner = place
        .baton(&["run", "--wait-for-gates", "wf.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();

    let gate = place.gate_showing(&id, "shell: $ echo cleaned > a.txt");
    assert!(
        gate["prompt"].as_str().unwrap().contains("`shell`"),
        "{gate}"
    );
    assert!(
        !place.path("a.txt").exists(),
        "nothing ran before the decision"
    );
    decide(&place, &["approve", &id, "look"]);

    place.gate_showing(&id, "write_file: w.txt (16 bytes)\n\nrm -rf /var/log");
    assert_eq!(
        std::fs::read_to_string(place.path("a.txt")).unwrap(),
        "cleaned\n"
    );
    let t = decide(&place, &["reject", &id, "look", "--note", "keep the logs"]);
    assert!(t.contains("rejected by"), "{t}");

    let out = owner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert!(
        !place.path("w.txt").exists(),
        "the rejected call did not run"
    );
    let told = results(&fake.requests()[2].body);
    assert!(
        told[0].contains("cleaned") || told[0].contains("exit code: 0"),
        "{told:?}"
    );
    assert!(
        told[1].contains("refused this call") && told[1].contains("keep the logs"),
        "{told:?}"
    );
    let events = bin::text(&place.baton(&["show", &id, "--events"]).output().unwrap());
    assert!(events.contains("look approved by "), "{events}");
    assert!(events.contains(": keep the logs"), "{events}");
    assert!(events.contains("look asked for shell"), "{events}");
}

/// `baton approve --args` edits the call at the gate: the edited command runs (the model's
/// never does), the model sees it, and the audit keeps the edit and who made it. Arguments
/// that are not a JSON object, or `--args` on a rejection, are refused and the gate waits on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_approve_with_args_runs_the_edited_call_and_the_audit_keeps_the_edit() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo model > a.txt"}),
    )]));
    fake.push(Reply::Text("Done as edited.".into()));
    let place = Place::new(&fake, GATED);
    let owner = place
        .baton(&["run", "--wait-for-gates", "wf.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();
    let gate = place.gate_showing(&id, "shell: $ echo model > a.txt");
    assert_eq!(gate["tool"], "shell", "{gate}");
    let shown: serde_json::Value =
        serde_json::from_str(gate["inputs"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(shown, json!({"command": "echo model > a.txt"}));

    let bad = place
        .baton(&["approve", &id, "look", "--args", "{\"command\": 1"])
        .output()
        .unwrap();
    let said = bin::text(&bad);
    assert!(!bad.status.success(), "{said}");
    assert!(
        said.contains("--args for the `shell` call at step `look`")
            && said.contains("not valid JSON (line 1, column"),
        "{said}"
    );
    let wrong = place
        .baton(&["reject", &id, "look", "--args", "{}"])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "{}", bin::text(&wrong));
    place.gate_showing(&id, "shell: $ echo model > a.txt");

    let edited = r#"{"command": "echo operator > a.txt"}"#;
    decide(&place, &["approve", &id, "look", "--args", edited]);
    let out = owner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(
        std::fs::read_to_string(place.path("a.txt")).unwrap(),
        "operator\n",
        "the edited command ran, not the model's"
    );
    let told = results(&fake.requests()[1].body);
    assert!(told[0].contains("edited this call's arguments"), "{told:?}");
    let detail = place.json(&["show", &id, "--json"]);
    let decision = &detail["approvals"][0]["decision"];
    assert_eq!(decision["approved"], true, "{detail}");
    let kept: serde_json::Value =
        serde_json::from_str(decision["inputs"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(kept, json!({"command": "echo operator > a.txt"}));
    let events = bin::text(&place.baton(&["show", &id, "--events"]).output().unwrap());
    let me = baton::identity::Operator::current().name;
    assert!(
        events.contains(&format!("arguments edited by {me}")),
        "{events}"
    );
}

const KILLED: &str = "steps:\n  - id: look\n    agent: devops\n    prompt: Look around.\n    tools: [read_file, {name: shell, approve: false}]\n";

/// kill -9 while the agent's second shell call runs: on `baton resume`, the first call (done)
/// does not run again and no recorded turn is asked again; the cut-off call could have changed
/// things, so it waits at the gate (though the step trusts `shell`) and runs again only once
/// the operator approves. The step then finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_while_a_call_runs_resumes_and_the_cut_off_call_waits_for_the_operator() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo first >> ran.txt"}),
    )]));
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo second >> ran.txt; [ -e resumed ] || sleep 600"}),
    )]));
    fake.push(Reply::Text("Done after the interruption.".into()));
    let place = Place::new(&fake, KILLED);
    let run = place.baton(&["run", "--json", "wf.yaml"]);
    let mut owner = bin::wait_until_an_event(run, |l| {
        l.contains("\"call_started\"") && l.contains("toolu_fake0_t2")
    });
    let ran = || std::fs::read_to_string(place.path("ran.txt")).unwrap_or_default();
    harness::eventually(harness::PATIENCE, "the second call to run", || {
        ran() == "first\nsecond\n"
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert_eq!(fake.hits(), 2);

    let id = place.run_id();
    // Run again, the call ends at once.
    std::fs::write(place.path("resumed"), "").unwrap();
    let resumed = place
        .baton(&["resume", "--wait-for-gates", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let gate = place.gate_showing(
        &id,
        "shell: $ echo second >> ran.txt; [ -e resumed ] || sleep 600",
    );
    assert!(
        gate["prompt"]
            .as_str()
            .unwrap()
            .contains("was running when baton stopped"),
        "{gate}"
    );
    assert_eq!(
        ran(),
        "first\nsecond\n",
        "nothing ran again before the decision"
    );
    decide(&place, &["approve", &id, "look"]);
    let out = resumed.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(fake.hits(), 3, "the recorded turns were not asked again");
    assert_eq!(
        ran(),
        "first\nsecond\nsecond\n",
        "the completed call ran once; the cut-off one again, once approved"
    );
    let told = results(&fake.requests()[2].body);
    assert_eq!(told.len(), 2, "{told:?}");
    let detail = place.json(&["show", &id, "--json"]);
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
}

/// kill -9 while the model is still writing its answer (half of it streamed): on `baton
/// resume`, the turn is asked again (the half answer was never recorded), the completed call
/// does not run again, and the step finishes with the new answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_while_the_model_answers_asks_that_turn_again_and_repeats_no_call() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo first >> ran.txt"}),
    )]));
    fake.push(Reply::Held {
        before: "The disk is full because ".into(),
        gate: fake_llm::Gate::new(),
        after: "never sent".into(),
    });
    fake.push(Reply::Text("Logs fill the disk.".into()));
    let place = Place::new(&fake, KILLED);
    let run = place.baton(&["run", "--json", "wf.yaml"]);
    let mut owner = bin::wait_until_an_event(run, |l| l.contains("\"call_result\""));
    harness::eventually(harness::PATIENCE, "the second turn to be asked", || {
        fake.hits() == 2
    });
    owner.kill().unwrap();
    owner.wait().unwrap();

    let id = place.run_id();
    let out = place.baton(&["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(fake.hits(), 3, "the cut-off turn was asked again, once");
    assert_eq!(
        std::fs::read_to_string(place.path("ran.txt")).unwrap(),
        "first\n",
        "the completed call did not run again"
    );
    let asked_again = &fake.requests()[2].body;
    assert_eq!(asked_again["messages"], fake.requests()[1].body["messages"]);
    let detail = place.json(&["show", &id, "--json"]);
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
    assert_eq!(
        detail["steps"][0]["output"], "Logs fill the disk.",
        "{detail}"
    );
}

/// The disk-triage example: `list_dir` runs unattended, the shell command waits at the gate
/// (the step's `approve: [shell]`) and is rejected with a note, which the agent is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_triage_example_asks_before_each_command_and_the_agent_hears_a_rejection() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[("list_dir", json!({}))]));
    fake.push(calls(&[(
        "shell",
        json!({"command": "du -xh --max-depth=2 . | sort -h"}),
    )]));
    fake.push(Reply::Text("The logs directory holds most of it.".into()));
    let mut place = Place::new(&fake, "");
    std::fs::create_dir_all(place.path("logs")).unwrap();
    place.cwd = place.root.clone();
    let wf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/disk-triage.yaml");
    let wf = baton::spec::load_file(&wf).unwrap_or_else(|d| panic!("{d}"));
    let (triage, path) = (&wf.steps[1], place.root.display().to_string());
    let baton::spec::StepKind::Agent(agent) = &triage.kind else {
        panic!("triage is an agent step")
    };
    assert_eq!(
        agent.approve_calls,
        baton::spec::CallApproval::Only(vec!["shell".into()])
    );
    let owner = place
        .baton(&["run", "--wait-for-gates", "-p", &format!("path={path}")])
        .arg(wf.source.as_ref().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();
    place.gate_showing_at(&id, 1, "shell: $ du -xh --max-depth=2 . | sort -h");
    decide(&place, &["reject", &id, "triage", "--note", "use df only"]);
    let out = owner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    let told = results(&fake.requests()[2].body);
    assert!(told[0].contains("logs/"), "{told:?}");
    assert!(told[1].contains("use df only"), "{told:?}");
}
