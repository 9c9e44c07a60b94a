//! Workflow handlers (`on_success`, `on_failure`, `on_exit`) and `notify:` targets, through a
//! real engine, real shell steps, a real HTTP server and, for a crash, the real binary.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/engine.rs"]
mod harness;
#[path = "support/http_server.rs"]
mod http_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use baton::engine::{Command, RunControl, RunReader};
use baton::store::{RunState, StepStatus};
use harness::{Harness, PATIENCE, eventually};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[test]
fn a_failed_run_runs_on_failure_and_on_exit_with_the_outcome_in_their_context() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: handled
steps:
  - id: build
    run: echo building; exit 3
on_success:
  - id: celebrate
    run: echo yay
on_failure:
  - id: report
    run: "echo {{ run.status }} {{ run.failed_steps | join(',') }} {{ steps.build.exit_code }}"
on_exit:
  - id: always
    transform: { expr: "run.status ~ ' ' ~ run.workflow ~ ' ' ~ (run.error or '')" }
"#,
    );
    assert_eq!(state, RunState::Failed);
    assert_eq!(h.output(&id, "on_failure.report"), json!("failed build 3"));
    let always = h.output(&id, "on_exit.always");
    assert_eq!(
        always,
        json!("failed handled step `build` failed: exited with code 3"),
        "{always}"
    );
    let skipped = h.step(&id, "on_success.celebrate");
    assert_eq!(skipped.status, StepStatus::Skipped);
    assert_eq!(
        skipped.skip_reason.as_deref(),
        Some("`on_success`: the run failed")
    );
}

#[test]
fn a_failing_handler_is_reported_and_the_succeeded_run_stays_succeeded() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: ok
steps:
  - id: work
    run: "true"
on_success:
  - id: page
    run: echo cannot reach the pager >&2; exit 7
on_exit:
  - id: after
    run: echo {{ run.status }}
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.step(&id, "on_success.page").status, StepStatus::Failed);
    assert_eq!(h.output(&id, "on_exit.after"), json!("succeeded"));
    let run = h.engine.run_detail(&id).unwrap().run;
    let reason = run.reason.unwrap_or_default();
    assert!(
        reason.contains("handler `on_success.page` failed"),
        "{reason}"
    );
}

#[test]
fn a_cancelled_run_still_runs_on_exit() {
    let h = Harness::new();
    let id = h.start(
        r#"
name: long
steps:
  - id: wait
    run: sleep 60
  - id: never
    depends_on: [wait]
    run: "true"
on_exit:
  - id: note
    run: echo {{ run.status }}
"#,
    );
    h.wait_step(&id, "wait", |r| r.status == StepStatus::Running);
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    assert_eq!(h.output(&id, "on_exit.note"), json!("cancelled"));
    assert_eq!(h.step(&id, "never").status, StepStatus::Cancelled);
}

/// A crash while `on_exit` runs: on resume the finished `on_success` handler is not run again,
/// the interrupted one is.
#[test]
fn a_handler_that_finished_before_a_crash_does_not_run_again_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("crash.yaml");
    let log = dir.path().join("log");
    let flag = dir.path().join("flag");
    std::fs::write(
        &wf,
        format!(
            "name: crash\nsteps:\n  - id: work\n    run: 'true'\non_success:\n  - id: told\n    run: 'echo told >> {log}'\non_exit:\n  - id: slow\n    run: 'echo slow >> {log}; if [ ! -f {flag} ]; then touch {flag}; sleep 60; fi'\n",
            log = log.display(),
            flag = flag.display()
        ),
    )
    .unwrap();
    let mut owner = bin::run_until_a_process_is_recorded(&data, &wf, Some("on_exit.slow"));
    eventually(PATIENCE, "the handler to start", || flag.exists());
    owner.kill().unwrap();
    owner.wait().unwrap();

    let ls = bin::baton(&data).args(["ls", "--json"]).output().unwrap();
    let runs: Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(runs[0]["state"], "interrupted", "{runs}");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let out = bin::baton(&data).args(["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "told\nslow\nslow\n",
        "on_success ran once, on_exit twice"
    );
}

/// HMAC-SHA256 written out from its definition (RFC 2104), independent of baton's.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(move |x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

fn header<'a>(seen: &'a http_server::Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_finished_run_is_posted_signed_to_a_webhook_to_slack_and_to_a_command() {
    let h = Harness::new();
    let server = http_server::serve(|_, _, _| (200, "{}".into()));
    let key = h.path("hook.key");
    std::fs::write(&key, "s3cret-key\n").unwrap();
    let told = h.path("told.json");
    let yaml = format!(
        r#"
name: notified
secrets: [NOTIFY_TEST_TOKEN]
steps:
  - id: leak
    run: echo "token is {{{{ secrets.NOTIFY_TEST_TOKEN }}}}"; exit 1
notify:
  - webhook: {base}/hook
    secret_file: {key}
  - slack: {base}/slack
    on: [run_failed]
  - command: cat > {told}
"#,
        base = server.base,
        key = key.display(),
        told = told.display()
    );
    // SAFETY: set before the run starts, in this test's own process, read only by the engine.
    unsafe { std::env::set_var("NOTIFY_TEST_TOKEN", "tok-123456789") };
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    eventually(PATIENCE, "both posts and the command", || {
        server.seen.lock().unwrap().len() == 2 && told.exists()
    });
    let seen = server.seen.lock().unwrap().clone();
    let hook = seen
        .iter()
        .find(|s| s.path == "/hook")
        .expect("the webhook");
    let expected = format!(
        "sha256={}",
        hmac_sha256(b"s3cret-key", hook.body.as_bytes())
    );
    assert_eq!(
        header(hook, "x-baton-signature-256"),
        Some(expected.as_str())
    );
    let body: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(body["event"], "run_failed");
    assert_eq!(body["run"]["id"], id.0.as_str());
    assert_eq!(body["run"]["failed_steps"], json!(["leak"]));
    let slack = seen.iter().find(|s| s.path == "/slack").expect("slack");
    let text: Value = serde_json::from_str(&slack.body).unwrap();
    assert!(text["text"].as_str().unwrap().contains("failed"), "{text}");
    eventually(PATIENCE, "the command's input to be written", || {
        std::fs::read_to_string(&told).is_ok_and(|t| t.ends_with('}'))
    });
    let by_command: Value = serde_json::from_str(&std::fs::read_to_string(&told).unwrap()).unwrap();
    assert_eq!(by_command["run"]["state"], "failed");
    for s in seen
        .iter()
        .map(|s| s.body.clone())
        .chain([by_command.to_string()])
    {
        assert!(!s.contains("tok-123456789"), "a secret was sent: {s}");
    }
}

#[test]
fn a_failing_target_is_retried_and_the_run_still_succeeds() {
    let h = Harness::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = http_server::serve(move |_, _, _| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            (503, "{}".into())
        } else {
            (200, "{}".into())
        }
    });
    let yaml = format!(
        "name: flaky\nsteps:\n  - id: a\n    run: 'true'\nnotify:\n  - webhook: {}/hook\n",
        server.base
    );
    let (_, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    eventually(PATIENCE, "the third attempt to be accepted", || {
        calls.load(Ordering::SeqCst) >= 3
    });
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two refusals, then one delivery");
    assert!(
        seen.iter().all(|s| s.body == seen[0].body),
        "the same notice each time"
    );
}

#[test]
fn a_gate_waiting_longer_than_its_limit_is_notified() {
    let h = Harness::new();
    let server = http_server::serve(|_, _, _| (200, "{}".into()));
    let yaml = format!(
        r#"
name: gated
steps:
  - id: ship
    approval:
      prompt: Ship it?
notify:
  - slack: {base}/slack
    on: [gate_waiting]
    gate_waiting: 200ms
"#,
        base = server.base
    );
    let id = h.start(&yaml);
    h.wait_gate(&id, "ship");
    let seen = Arc::new(Mutex::new(Vec::new()));
    eventually(PATIENCE, "the gate-waiting notice", || {
        *seen.lock().unwrap() = server.seen.lock().unwrap().clone();
        !seen.lock().unwrap().is_empty()
    });
    let body: Value = serde_json::from_str(&seen.lock().unwrap()[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("step `ship`") && text.contains("Ship it?"),
        "{text}"
    );
    h.decide(&id, "ship", true, None);
    assert_eq!(h.wait(&id), RunState::Succeeded);
}
