//! The control socket, as another process uses it: a console attached to the baton that owns
//! the store sees its runs live and steers them; a headless owner takes no new runs.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::text;
use std::time::{Duration, Instant};

use baton::control::{Client, Remote, Role};
use baton::engine::{Backend, Command, Feed, RunControl, RunReader, StartRequest, Subscription};
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
    let _server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
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
    let _server = baton::control::serve(h.engine.clone(), Role::Headless, h.rt.handle()).unwrap();
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
    let server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
    let socket = baton::control::socket_path(&h.path("store"));
    assert!(socket.exists());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only its user may talk to the owner");
    drop(server);
    assert!(!socket.exists());
    assert!(Client::connect(&h.path("store"), None).unwrap().is_none());
}

/// An owner that goes right after its run ended (a headless `baton run`) still streams that
/// end to an attached console before the stream closes, many times over (each run is a race
/// between the last Events and the owner's exit).
#[test]
fn an_owner_going_away_first_streams_what_it_announced() {
    const QUICK: &str = "name: quick\nsteps:\n  - id: a\n    transform: { expr: \"1\" }\n  - id: b\n    transform: { expr: \"2\" }\n    depends_on: [a]\n";
    for _ in 0..20 {
        let h = Harness::new();
        let server =
            baton::control::serve(h.engine.clone(), Role::Headless, h.rt.handle()).unwrap();
        let mut feed = attach(&h).subscribe();
        let (id, state) = h.run_to_end(QUICK);
        assert_eq!(state, RunState::Succeeded);
        drop(server);
        let mut ended = false;
        loop {
            match feed.next_blocking() {
                Feed::Event(e) => {
                    ended |= e.run == id
                        && matches!(e.kind, EventKind::RunState { state, .. } if state.is_terminal());
                }
                Feed::Lagged => {}
                Feed::Closed => break,
            }
        }
        assert!(
            ended,
            "the run's end reached the subscriber before its stream closed"
        );
    }
}

/// An owner dropped on the one worker of the runtime its subscribers' streams run on (the
/// command line's engine runtime) still streams what it announced before it went: the
/// worker's other tasks move to another thread while it waits for them. Blocking the worker
/// instead, it waited out its farewell and hung up with the Event unsent.
#[test]
fn an_owner_dropped_on_its_runtimes_only_worker_still_streams_what_it_announced() {
    const QUICK: &str = "name: quick\nsteps:\n  - id: a\n    transform: { expr: \"1\" }\n";
    let h = Harness::as_the_cli();
    let server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
    let mut feed = attach(&h).subscribe();
    let engine = h.engine.clone();
    // The run is created (its first Event announced) and the owner dropped in one task, with
    // no await between: until the owner's drop, no other task has run on the worker.
    let id =
        h.rt.block_on(h.rt.spawn(async move {
            let id = engine
                .start(StartRequest {
                    source: QUICK.to_string(),
                    path: None,
                    params: Default::default(),
                    workdir: None,
                })
                .unwrap();
            drop(server);
            id
        }))
        .unwrap();
    let mut created = false;
    loop {
        match feed.next_blocking() {
            Feed::Event(e) => {
                created |= e.run == id && matches!(e.kind, EventKind::RunCreated { .. })
            }
            Feed::Lagged => {}
            Feed::Closed => break,
        }
    }
    assert!(
        created,
        "the run's creation reached the subscriber before its stream closed"
    );
}

/// A follower of one run (`baton run` through an owner) is sent that run's Events only, from
/// its first to its last, while other runs start and end beside it.
#[test]
fn a_followed_run_streams_its_own_events_from_its_first() {
    const QUICK: &str = "name: quick\nsteps:\n  - id: a\n    transform: { expr: \"1\" }\n  - id: b\n    transform: { expr: \"2\" }\n    depends_on: [a]\n";
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
    let remote = attach(&h);
    let request = StartRequest {
        source: GATED.to_string(),
        path: None,
        params: Default::default(),
        workdir: None,
    };
    let (id, mut feed) = remote.start_following(request).unwrap();
    // While the followed run waits at its gate, other runs go from start to end: their
    // Events are announced while the follower's stream is open.
    h.wait_gate(&id, "gate");
    for _ in 0..5 {
        assert_eq!(h.run_to_end(QUICK).1, RunState::Succeeded);
    }
    h.decide(&id, "gate", true, None);
    let mut seen = Vec::new();
    loop {
        match feed.next_blocking() {
            Feed::Event(e) => {
                assert_eq!(e.run, id, "only the followed run's Events: {:?}", e.kind);
                let end =
                    matches!(e.kind, EventKind::RunState { state, .. } if state.is_terminal());
                seen.push(e.kind);
                if end {
                    break;
                }
            }
            Feed::Lagged => panic!("a quiet owner does not lag"),
            Feed::Closed => panic!("the owner stopped streaming before the run ended"),
        }
    }
    assert!(
        matches!(seen.first(), Some(EventKind::RunCreated { .. })),
        "from its first Event: {seen:?}"
    );
    let done = seen
        .iter()
        .filter(
            |k| matches!(k, EventKind::Step { record } if record.status == StepStatus::Succeeded),
        )
        .count();
    assert_eq!(done, 3, "its three steps' ends: {seen:?}");
    // A start the owner refuses is an error, not a stream.
    let bad = StartRequest {
        source: "name: bad\nsteps: []\n".to_string(),
        path: None,
        params: Default::default(),
        workdir: None,
    };
    let err = remote.start_following(bad).map(|(id, _)| id).unwrap_err();
    assert!(format!("{err:#}").contains("answered by"), "{err:#}");
}

/// An owner that is not `baton serve` answers an HTTP client on its socket with a 503 that
/// says who serves the API, and still answers batons after it.
#[test]
fn an_http_client_of_a_console_is_told_who_serves_the_api() {
    use std::io::{Read, Write};
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
    let socket = baton::control::socket_path(&h.path("store"));
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    stream
        .write_all(b"GET /v1/runs HTTP/1.1\r\nHost: baton\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("served by `baton serve`"), "{answer}");
    let remote = Remote::new(Client::connect(&h.path("store"), None).unwrap().unwrap());
    assert!(remote.runs().unwrap().is_empty());
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
    let _server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
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
    let _server = baton::control::serve(h.engine.clone(), Role::Headless, h.rt.handle()).unwrap();
    let wf = h.path("wf.yaml");
    std::fs::write(&wf, "name: x\nsteps:\n  - id: a\n    run: 'true'\n").unwrap();
    let out = baton_cli(&h, h.dir.path(), &["run", wf.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("does not start new runs"), "{t}");
    assert!(h.engine.runs().unwrap().is_empty());
}

/// Sends `lines` on a new connection to the owner of `store` and returns its answers, a JSON
/// value each.
fn exchange(store: &std::path::Path, lines: &[&str]) -> Vec<serde_json::Value> {
    use std::io::{BufRead, BufReader, Write};
    let socket = baton::control::socket_path(store);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let mut answers = BufReader::new(stream.try_clone().unwrap());
    lines
        .iter()
        .map(|line| {
            stream.write_all(format!("{line}\n").as_bytes()).unwrap();
            let mut answer = String::new();
            answers.read_line(&mut answer).unwrap();
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{line}: {answer:?}: {e}"))
        })
        .collect()
}

fn our_hello() -> String {
    format!(
        r#"{{"hello":{{"protocol":{},"baton":"{}"}}}}"#,
        baton::control::PROTOCOL_VERSION,
        env!("CARGO_PKG_VERSION")
    )
}

/// Whatever arrives on the socket gets an answer that says what went wrong, and the owner
/// keeps serving.
#[test]
fn a_request_the_owner_cannot_read_is_answered_with_why() {
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
    let understood = |v: &serde_json::Value| {
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a request this baton understands"))
    };
    // Instead of a hello, and after one.
    for garbage in ["hello", "{\"op\": \"launch_missiles\"", ""] {
        let answers = exchange(&h.path("store"), &[garbage]);
        assert!(understood(&answers[0]), "{garbage:?}: {answers:?}");
        let hello = our_hello();
        let answers = exchange(&h.path("store"), &[&hello, garbage, r#"{"op":"runs"}"#]);
        assert_eq!(
            answers[0]["hello"]["protocol"],
            baton::control::PROTOCOL_VERSION
        );
        assert!(understood(&answers[1]), "{garbage:?}: {answers:?}");
        assert_eq!(answers[2], serde_json::json!({"ok": []}), "still serving");
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

/// A client of another protocol version, newer or older (protocol 1 sent a request with no
/// hello), is refused with both versions and what to do; nothing it asked is done.
#[test]
fn an_owner_refuses_a_client_of_another_protocol_naming_both_versions() {
    let h = Harness::new();
    let _server = baton::control::serve(h.engine.clone(), Role::Console, h.rt.handle()).unwrap();
    let ours = format!("protocol {}", baton::control::PROTOCOL_VERSION);
    let newer = r#"{"hello":{"protocol":99,"baton":"9.9.9"}}"#;
    let old_start = r#"{"op":"start","request":{"source":"name: x\nsteps:\n  - id: a\n    run: 'true'\n","path":null,"params":{}}}"#;
    for (first, theirs) in [(newer, "protocol 99"), (old_start, "protocol 1")] {
        let answers = exchange(&h.path("store"), &[first]);
        let why = answers[0]["error"].as_str().unwrap_or_default();
        assert!(why.contains(theirs) && why.contains(&ours), "{why}");
        assert!(why.contains("stop the owner"), "says what to do: {why}");
    }
    assert!(
        h.engine.runs().unwrap().is_empty(),
        "the old client's start was not done"
    );
}

/// An owner that speaks another protocol (older or newer) is refused by this baton's client
/// before it sends a request, with both versions.
#[test]
fn a_client_refuses_an_owner_of_another_protocol_naming_both_versions() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let answers = [
        (
            r#"{"hello":{"protocol":99,"baton":"9.9.9"}}"#,
            "protocol 99",
        ),
        (
            r#"{"error":"not a request this baton understands: unknown variant `hello`"}"#,
            "protocol 1",
        ),
    ];
    for (answer, theirs) in answers {
        let socket = baton::control::socket_path(dir.path());
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let owner = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream)
                .write_all(format!("{answer}\n").as_bytes())
                .unwrap();
            line
        });
        let err = Client::connect(dir.path(), Some(4242))
            .unwrap_err()
            .to_string();
        let hello = owner.join().unwrap();
        assert!(hello.contains("\"hello\""), "{hello}");
        let ours = format!("protocol {}", baton::control::PROTOCOL_VERSION);
        assert!(err.contains(theirs) && err.contains(&ours), "{err}");
        assert!(err.contains("baton process 4242"), "names the owner: {err}");
    }
}

/// An owner, faked on a real socket, whose run's record never says it has ended: only the
/// Event it pushes does. A follower that polled the record would wait for ever. It answers a
/// follow (start and stream) the way `baton serve` does: the run's id, then its Events.
fn fake_owner_whose_run_ends_only_by_its_event(store: &std::path::Path) {
    use baton::control::protocol::{Greeting, Hello, Reply, Request, Streamed};
    use baton::store::{Event, RunId, RunRecord, Timestamp};
    use std::io::{BufRead, BufReader, Write};
    let listener =
        std::os::unix::net::UnixListener::bind(baton::control::socket_path(store)).unwrap();
    let id = RunId("r-fake".into());
    let record = RunRecord {
        id: id.clone(),
        workflow: "fake".into(),
        workflow_path: None,
        source: String::new(),
        params: Default::default(),
        workdir: None,
        state: RunState::Running,
        created_at: Timestamp(1),
        started_at: Some(Timestamp(1)),
        finished_at: None,
        owner: None,
        reason: None,
        steps_total: 1,
        steps_done: 0,
        stopped: Default::default(),
        parent: None,
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (stream, id, record) = (stream.unwrap(), id.clone(), record.clone());
            std::thread::spawn(move || {
                let mut lines = BufReader::new(&stream);
                let send = |item: String| (&stream).write_all(format!("{item}\n").as_bytes());
                let mut line = String::new();
                lines.read_line(&mut line).unwrap();
                send(serde_json::to_string(&Greeting::Hello(Hello::ours())).unwrap()).unwrap();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let reply = match serde_json::from_str::<Request>(&line).unwrap() {
                        Request::Run { .. } => Reply::Ok(serde_json::json!(record)),
                        Request::Follow { .. } => {
                            send(serde_json::to_string(&Reply::Ok(serde_json::json!(id))).unwrap())
                                .unwrap();
                            let ended = Event {
                                run: id.clone(),
                                ts: Timestamp(2),
                                kind: EventKind::RunState {
                                    state: RunState::Succeeded,
                                    reason: None,
                                },
                            };
                            let item = Streamed::Event(Box::new(ended));
                            send(serde_json::to_string(&item).unwrap()).unwrap();
                            // Held open until the follower leaves.
                            let _ = lines.read_line(&mut line);
                            return;
                        }
                        other => Reply::Error(format!("the fake owner does not do {other:?}")),
                    };
                    send(serde_json::to_string(&reply).unwrap()).unwrap();
                }
            });
        }
    });
}

/// `baton run` through an owner ends when the owner pushes the run's final state, not when a
/// poll of the record says so.
#[test]
fn a_run_started_through_an_owner_is_reported_finished_by_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let _held = baton::store::OwnerLock::acquire(&store).unwrap();
    fake_owner_whose_run_ends_only_by_its_event(&store);
    let wf = dir.path().join("wf.yaml");
    std::fs::write(&wf, "name: fake\nsteps:\n  - id: a\n    run: 'true'\n").unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["run", "--json"])
        .arg(&wf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = harness::output_within(child, Duration::from_secs(30), "the follower to end");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        printed.contains(r#""type":"run_state","state":"succeeded""#),
        "{printed}"
    );
}
