//! The control socket, as another process uses it: a console attached to the baton that owns
//! the store sees its runs live and steers them; a headless owner takes no new runs.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::text;
use std::time::{Duration, Instant};

use baton::control::{Client, Owner, Remote};
use baton::engine::{Backend, Command, Feed, StartRequest, Subscription};
use baton::identity::Operator;
use baton::spec::StepId;
use baton::store::{EventKind, RunState, StepStatus};
use harness::Harness;

const GATED: &str = r#"
name: gated
steps:
  - id: build
    run: echo built
  - id: gate
    approval: "Ship it?"
    depends_on: [build]
  - id: ship
    transform: { expr: "'shipped'" }
    depends_on: [gate]
"#;

fn attach(h: &Harness) -> Remote {
    let client = Client::connect(&h.path("store"), Some(std::process::id()))
        .unwrap()
        .expect("the owner listens on its socket");
    Remote::new(client)
}

/// Reads the feed until `want` matches an Event (at most 500 items or 30 s).
fn wait_for(feed: &mut Subscription, want: impl Fn(&EventKind) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..500 {
        assert!(Instant::now() < deadline, "no such event in time");
        match feed.next_blocking() {
            Feed::Event(e) if want(&e.kind) => return,
            Feed::Event(_) | Feed::Lagged => {}
            Feed::Closed => panic!("the owner stopped streaming"),
        }
    }
    panic!("no such event among the first 500");
}

#[test]
fn an_attached_console_sees_the_owners_runs_live_and_steers_them() {
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Owner::Console, h.rt.handle()).unwrap();
    let remote = attach(&h);
    assert_eq!(
        remote.attached_to(),
        Some(format!("baton process {}", std::process::id()))
    );
    let mut feed = remote.subscribe();

    let id = remote
        .start(StartRequest {
            source: GATED.into(),
            path: None,
            params: Default::default(),
            workdir: None,
        })
        .unwrap();
    wait_for(
        &mut feed,
        |k| matches!(k, EventKind::ApprovalRequested { approval } if approval.step.0 == "gate"),
    );
    let detail = remote.run_detail(&id).unwrap();
    assert_eq!(detail.run.state, RunState::Running);
    let status = |name: &str| {
        detail
            .steps
            .iter()
            .find(|s| s.step.0 == name)
            .map(|s| s.status)
    };
    assert_eq!(status("build"), Some(StepStatus::Succeeded));
    assert_eq!(status("gate"), Some(StepStatus::WaitingApproval));
    assert_eq!(status("ship"), Some(StepStatus::Pending));
    assert!(detail.approvals[0].decision.is_none());

    remote
        .send(Command::Decide {
            run: id.clone(),
            step: StepId::from("gate"),
            approved: true,
            via: None,
            comment: Some("from another shell".into()),
            inputs: Default::default(),
        })
        .unwrap();
    wait_for(&mut feed, |k| {
        matches!(
            k,
            EventKind::RunState {
                state: RunState::Succeeded,
                ..
            }
        )
    });
    assert_eq!(h.wait(&id), RunState::Succeeded);

    assert_eq!(
        remote
            .step_output(&id, &StepId::from("ship"))
            .unwrap()
            .map(|o| o.output),
        Some(serde_json::json!("shipped"))
    );
    assert_eq!(remote.step_outputs(&id).unwrap().len(), 3);
    let history = remote.events(&id).unwrap();
    assert!(history.iter().any(|e| matches!(
        &e.kind,
        EventKind::ApprovalDecided { decision, .. } if decision.by == Operator::current().name
            && decision.uid == Some(Operator::current().uid)
    )));
    let lines = remote
        .tail_logs(&id, Some(&StepId::from("build")), 10)
        .unwrap();
    assert!(lines.iter().any(|l| l.text == "built"), "{lines:?}");
    assert_eq!(remote.runs().unwrap()[0].id, id);
    assert!(remote.run(&id).unwrap().source.contains("Ship it?"));
}

#[test]
fn a_headless_owner_takes_no_new_runs_but_is_cancelled_from_outside() {
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Owner::Headless, h.rt.handle()).unwrap();
    let remote = attach(&h);
    let err = remote
        .start(StartRequest {
            source: GATED.into(),
            path: None,
            params: Default::default(),
            workdir: None,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("headless run"), "{err}");
    assert!(err.contains("from a console"), "{err}");

    let id = h.start("name: slow\nsteps:\n  - id: wait\n    run: sleep 60\n");
    let mut feed = remote.subscribe();
    remote.send(Command::Pause(id.clone())).unwrap();
    wait_for(&mut feed, |k| {
        matches!(
            k,
            EventKind::RunState {
                state: RunState::Paused,
                ..
            }
        )
    });
    remote.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    let err = remote
        .send(Command::Retry(id.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not retry runs"), "{err}");
}

#[test]
fn the_socket_goes_with_its_server_and_nobody_answers_after() {
    let h = Harness::new();
    let server = baton::control::serve(h.engine.clone(), Owner::Console, h.rt.handle()).unwrap();
    let socket = baton::control::socket_path(&h.path("store"));
    assert!(socket.exists());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only its user may talk to the owner");
    drop(server);
    assert!(!socket.exists());
    assert!(Client::connect(&h.path("store"), None).unwrap().is_none());
}

fn baton_cli(h: &Harness, cwd: &std::path::Path, args: &[&str]) -> std::process::Output {
    bin::baton(h.dir.path())
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// `baton run`, `retry` and friends started while a console owns the store run in that
/// console, followed here as if they ran here (gates, output, exit code), in the caller's
/// directory.
#[test]
fn headless_commands_run_in_the_console_that_owns_the_store() {
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Owner::Console, h.rt.handle()).unwrap();
    let here = h.path("here");
    std::fs::create_dir_all(&here).unwrap();
    let flag = h.path("flag");
    std::fs::write(
        here.join("wf.yaml"),
        format!(
            "name: remote\nsteps:\n  - id: where\n    run: pwd\n  - id: gate\n    approval: \"Go on?\"\n    depends_on: [where]\n  - id: flaky\n    run: test -f {}\n    depends_on: [gate]\n",
            flag.display()
        ),
    )
    .unwrap();
    let out = baton_cli(&h, &here, &["run", "wf.yaml", "--approve", "gate"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "the flaky step fails: {t}");
    assert!(
        t.contains(&format!("running in baton process {}", std::process::id())),
        "{t}"
    );
    assert!(t.contains("✓ where"), "its progress is printed here: {t}");
    assert!(
        t.contains("approved by"),
        "its gate was answered from here: {t}"
    );
    let run = h.engine.runs().unwrap()[0].clone();
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        run.workdir.as_deref(),
        Some(here.canonicalize().unwrap().to_str().unwrap())
    );
    assert_eq!(
        h.output(&run.id, "where"),
        serde_json::json!(here.canonicalize().unwrap().display().to_string())
    );

    std::fs::write(&flag, "").unwrap();
    let out = baton_cli(&h, &here, &["retry", &run.id.0]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(h.engine.run(&run.id).unwrap().state, RunState::Succeeded);
}

#[test]
fn a_headless_owner_turns_a_new_run_away_with_why() {
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Owner::Headless, h.rt.handle()).unwrap();
    let wf = h.path("wf.yaml");
    std::fs::write(&wf, "name: x\nsteps:\n  - id: a\n    run: 'true'\n").unwrap();
    let out = baton_cli(&h, h.dir.path(), &["run", wf.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("does not start new runs"), "{t}");
    assert!(h.engine.runs().unwrap().is_empty());
}

/// Whatever arrives on the socket gets an answer that says what went wrong, and the owner
/// keeps serving.
#[test]
fn a_request_the_owner_cannot_read_is_answered_with_why() {
    use std::io::{BufRead, BufReader, Write};
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Owner::Console, h.rt.handle()).unwrap();
    let socket = baton::control::socket_path(&h.path("store"));
    for garbage in ["hello\n", "{\"op\": \"launch_missiles\"}\n", "\n"] {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        stream.write_all(garbage.as_bytes()).unwrap();
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).unwrap();
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a request this baton understands")),
            "{garbage:?}: {answer}"
        );
    }
    // A run the owner does not know is an error naming it, not a crash.
    let remote = attach(&h);
    let err = remote
        .run_detail(&baton::store::RunId("r-nope".into()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("r-nope"), "{err}");
    assert!(remote.runs().unwrap().is_empty(), "still serving");
}
