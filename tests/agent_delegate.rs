//! Delegation, as the whole program runs it against a fake provider on 127.0.0.1: an agent
//! whose profile lists `delegates_to:` hands a subtask to another profile with `delegate`,
//! which works in a nested conversation with its own prompt, tools and gate; the nested turns
//! are journaled inside the step's, shown nested, and a run killed during or after a
//! delegation resumes without running a completed call (nested or not) again.

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
use serde_json::{Value, json};

/// `lead` may ask `scribe`, who writes files (gated) and runs commands (trusted).
const TEAM: &str = "name: team\nagents:\n  lead:\n    system: You coordinate the work.\n    delegates_to: [scribe]\n  scribe:\n    system: You write things down.\n    tools: [write_file, {name: shell, approve: false}]\nsteps:\n  - id: plan\n    agent: lead\n    prompt: Get the notes written.\n";

fn delegate(task: &str) -> Reply {
    calls(&[("delegate", json!({"agent": "scribe", "task": task}))])
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegate_works_in_its_own_conversation_with_its_own_tools_and_gate() {
    let fake = FakeLlm::start().await;
    fake.push(delegate("Write notes.md saying hello."));
    fake.push(calls(&[(
        "write_file",
        json!({"path": "notes.md", "content": "hello"}),
    )]));
    fake.push(Reply::Text("Wrote notes.md.".into()));
    fake.push(Reply::Text("The scribe wrote the notes.".into()));
    let place = Place::new(&fake, TEAM);
    let owner = place
        .baton(&["run", "--wait-for-gates", "wf.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();
    let gate = place.gate_showing(&id, "write_file: notes.md (5 bytes)\n\nhello");
    assert!(
        gate["prompt"]
            .as_str()
            .unwrap()
            .starts_with("[delegated to `scribe`] The agent wants to call `write_file`"),
        "{gate}"
    );
    decide(&place, &["approve", &id, "plan"]);
    let out = owner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(
        std::fs::read_to_string(place.path("notes.md")).unwrap(),
        "hello"
    );

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(tool_names(&reqs[0].body), ["delegate"]);
    let offered = &reqs[0].body["tools"][0];
    assert_eq!(
        offered["input_schema"]["properties"]["agent"]["enum"],
        json!(["scribe"])
    );
    // The scribe's own conversation: its prompt, its tools, the task as its only message.
    let scribe = &reqs[1].body;
    assert!(
        scribe["system"]
            .to_string()
            .contains("You write things down."),
        "{scribe}"
    );
    assert_eq!(tool_names(scribe), ["write_file", "shell"]);
    assert_eq!(
        scribe["messages"][0]["content"],
        "Write notes.md saying hello."
    );
    let told = results(&reqs[3].body);
    assert!(
        told[0].contains("Wrote notes.md.") && told[0].contains("[scribe answered over 2 turn(s)"),
        "{told:?}"
    );
    let detail = place.json(&["show", &id, "--json"]);
    assert_eq!(detail["steps"][0]["output"], "The scribe wrote the notes.");
    // The scribe's turns are the step's cost: its tokens count in the step's metrics.
    let all_in: u64 = reqs.iter().map(|r| fake_llm::input_tokens(&r.body)).sum();
    let lead_in = fake_llm::input_tokens(&reqs[0].body) + fake_llm::input_tokens(&reqs[3].body);
    let metrics = &detail["steps"][0]["record"]["metrics"];
    assert_eq!(
        metrics["tokens_in"], all_in,
        "{metrics} (the lead's own: {lead_in})"
    );
    let shown = bin::text(&place.baton(&["show", &id, "--events"]).output().unwrap());
    assert!(shown.contains("↳ scribe asked for write_file"), "{shown}");
    let logs = bin::text(&place.baton(&["logs", &id]).output().unwrap());
    assert!(
        logs.contains("delegating to scribe: Write notes.md"),
        "{logs}"
    );
    assert!(logs.contains("↳ scribe: calling write_file"), "{logs}");
}

/// The workflow's profiles may only name profiles that exist; the model may only ask those
/// its profile lists (it is told whom it may ask).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegates_are_checked_in_the_file_and_at_the_call() {
    let fake = FakeLlm::start().await;
    let bad = TEAM.replace("delegates_to: [scribe]", "delegates_to: [scrib]");
    let place = Place::new(&fake, &bad);
    let out = place.baton(&["validate", "wf.yaml"]).output().unwrap();
    let t = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("agent `lead` delegates to `scrib`, which no profile defines")
            && t.contains("did you mean `scribe`?"),
        "{t}"
    );

    fake.push(calls(&[(
        "delegate",
        json!({"agent": "security", "task": "Audit everything."}),
    )]));
    fake.push(Reply::Text("I will do it myself.".into()));
    let place = Place::new(&fake, TEAM);
    let out = place.baton(&["run", "wf.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    let told = results(&fake.requests()[1].body);
    assert_eq!(
        told,
        ["you may not delegate to `security`; you may ask: scribe"]
    );
}

/// kill -9 while the delegate's second turn is being written, after its first call ran: on
/// `baton resume` the delegation goes on where it was (that turn asked again, the completed
/// nested call not run again), and the lead finishes with the delegate's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_during_a_delegation_continues_it_without_repeating_its_calls() {
    let fake = FakeLlm::start().await;
    fake.push(delegate("Record that we ran."));
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo scribe >> ran.txt"}),
    )]));
    fake.push(Reply::Held {
        before: "Recorded ".into(),
        gate: fake_llm::Gate::new(),
        after: "never sent".into(),
    });
    fake.push(Reply::Text("Recorded it.".into()));
    fake.push(Reply::Text("Done: the scribe recorded it.".into()));
    let place = Place::new(&fake, TEAM);
    let run = place.baton(&["run", "--json", "wf.yaml"]);
    let mut owner = bin::wait_until_an_event(run, |l| {
        l.contains("\"delegated\"") && l.contains("\"call_result\"")
    });
    harness::eventually(harness::PATIENCE, "the delegate's second turn", || {
        fake.hits() == 3
    });
    owner.kill().unwrap();
    owner.wait().unwrap();

    let id = place.run_id();
    let out = place.baton(&["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(fake.hits(), 5, "only the cut-off turn was asked again");
    assert_eq!(
        std::fs::read_to_string(place.path("ran.txt")).unwrap(),
        "scribe\n",
        "the delegate's completed call did not run again"
    );
    let reqs = fake.requests();
    assert_eq!(
        reqs[3].body["messages"], reqs[2].body["messages"],
        "the delegate's conversation was rebuilt from the journal"
    );
    assert!(results(&reqs[4].body)[0].contains("Recorded it."));
    let detail = place.json(&["show", &id, "--json"]);
    assert_eq!(
        detail["steps"][0]["output"],
        "Done: the scribe recorded it."
    );
}

/// kill -9 while the lead's next turn is being written, after the delegation's result was
/// recorded: on `baton resume` the delegation is not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_delegation_is_not_run_again_on_resume() {
    let fake = FakeLlm::start().await;
    fake.push(delegate("Record that we ran."));
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo scribe >> ran.txt"}),
    )]));
    fake.push(Reply::Text("Recorded it.".into()));
    fake.push(Reply::Held {
        before: "Done".into(),
        gate: fake_llm::Gate::new(),
        after: "never sent".into(),
    });
    fake.push(Reply::Text("Done after the restart.".into()));
    let place = Place::new(&fake, TEAM);
    let run = place.baton(&["run", "--json", "wf.yaml"]);
    let mut owner = bin::wait_until_an_event(run, |l| {
        l.contains("\"call_result\"") && !l.contains("\"delegated\"")
    });
    harness::eventually(harness::PATIENCE, "the lead's second turn", || {
        fake.hits() == 4
    });
    owner.kill().unwrap();
    owner.wait().unwrap();

    let id = place.run_id();
    let out = place.baton(&["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(fake.hits(), 5, "no delegate turn was asked again");
    assert_eq!(
        std::fs::read_to_string(place.path("ran.txt")).unwrap(),
        "scribe\n"
    );
    let reqs = fake.requests();
    assert_eq!(reqs[4].body["messages"], reqs[3].body["messages"]);
    let detail = place.json(&["show", &id, "--json"]);
    assert_eq!(detail["steps"][0]["output"], "Done after the restart.");
    // The recorded turns count, the delegate's among them (read back from the journal); the
    // turn cut off by the kill was never recorded.
    let counted: u64 = [0, 1, 2, 4]
        .iter()
        .map(|&i| fake_llm::input_tokens(&reqs[i].body))
        .sum();
    let metrics = &detail["steps"][0]["record"]["metrics"];
    assert_eq!(metrics["tokens_in"], counted, "{metrics}");
}
