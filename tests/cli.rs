//! The headless command line, as a user runs it: exit codes, output, gates, ids, the lock.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::{baton, text};
use harness::{PATIENCE, eventually, output_within};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// `baton run FILE` in the background: the process that owns the store while it runs.
fn start_owner(data: &Path, wf: &Path) -> std::process::Child {
    baton(data)
        .arg("run")
        .arg(wf)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

const GATED: &str = r#"
name: gated
steps:
  - id: build
    run: echo built
  - id: gate
    approval: "Ship it?"
    depends_on: [build]
  - id: ship
    run: echo shipped
    depends_on: [gate]
"#;

/// `run -q` follows only the Events it prints or answers: its gates still reach it, and
/// `--approve-all` answers them (a follower not told of them would wait forever).
#[test]
fn a_quiet_run_still_answers_its_gates() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let child = baton(&dir.path().join("d"))
        .args(["run", "-q", "--approve-all"])
        .arg(&wf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_within(child, PATIENCE, "the quiet gated run to end");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "", "a quiet run that succeeds prints nothing");
}

#[test]
fn run_prints_progress_and_exits_zero_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let out = baton(&dir.path().join("d"))
        .arg("run")
        .arg(&wf)
        .arg("--approve-all")
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("✓ build"), "{t}");
    assert!(t.contains("built"), "{t}");
    assert!(t.contains("approved by"), "{t}");
    assert!(t.contains("--approve-all"), "{t}");
    assert!(t.contains("succeeded"), "{t}");
}

#[test]
fn a_gate_without_a_terminal_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let out = baton(&dir.path().join("d"))
        .arg("run")
        .arg(&wf)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("--approve gate"), "{t}");
    assert!(t.contains("no terminal"), "{t}");
    // Said as the decision, the step's failure and the run's end; not more.
    assert_eq!(t.matches("pass --approve gate").count(), 3, "{t}");
}

#[test]
fn json_mode_prints_one_event_per_line_and_the_run_can_be_inspected_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let out = baton(&data)
        .arg("run")
        .arg(&wf)
        .args(["--json", "--approve", "gate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut run_id = None;
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["type"].is_string(), "{line}");
        if let Some(id) = v["run"].as_str() {
            run_id = Some(id.to_string());
        }
    }
    let id = run_id.expect("events name their run");

    let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(runs[0]["state"], "succeeded");

    let prefix = &id[..id.len() - 2];
    let show = baton(&data).args(["show", prefix]).output().unwrap();
    let t = text(&show);
    assert!(show.status.success(), "{t}");
    assert!(t.contains("approved by"), "{t}");
    assert!(t.contains("--approve gate"), "{t}");
    assert!(!t.contains("history"), "the history only when asked: {t}");

    // The history, as text and as JSON: created, the gate opened and decided, the end.
    let show = baton(&data)
        .args(["show", prefix, "--events"])
        .output()
        .unwrap();
    let t = text(&show);
    assert!(show.status.success(), "{t}");
    let history = &t[t.find("history (UTC)").expect("a history section")..];
    let order: Vec<usize> = [
        "run created (gated)",
        "build succeeded",
        "gate approval requested",
        "gate approved by",
        "ship succeeded",
        "run succeeded",
    ]
    .iter()
    .map(|what| {
        history
            .find(what)
            .unwrap_or_else(|| panic!("{what}: {history}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{history}");
    let show = baton(&data)
        .args(["show", prefix, "--json", "--events"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let events = v["events"].as_array().expect("events in the JSON");
    assert_eq!(events[0]["type"], "run_created");
    assert_eq!(events.last().unwrap()["type"], "run_state");
    assert_eq!(events.last().unwrap()["state"], "succeeded");

    let logs = baton(&data)
        .args(["logs", prefix, "build"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("built"),
        "{}",
        text(&logs)
    );
}

#[test]
fn bad_params_and_files_exit_two_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = baton(&data).args(["run", "nope.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("nope.yaml"), "{}", text(&out));
    let wf = dir.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let out = baton(&data)
        .arg("run")
        .arg(&wf)
        .args(["-p", "novalue"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("KEY=VALUE"), "{}", text(&out));
    let out = baton(&data)
        .arg("run")
        .arg(&wf)
        .args(["-p", "env=a", "-p", "env=b"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("`-p env` is given twice"), "{t}");
}

/// A kill while a run is being created can leave its stored workflow with no run to name it
/// (the record is written last): `baton gc` removes it, whatever its age, and keeps every run.
#[test]
fn gc_removes_the_workflow_of_a_run_whose_creation_was_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("w.yaml");
    std::fs::write(&wf, "name: w\nsteps:\n  - id: a\n    run: echo hi\n").unwrap();
    let out = baton(&data).arg("run").arg(&wf).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let db_dir = data.join("store").join("db");
    {
        // What `create_run` had written when the kill came: the claim, or the claim and plan.
        let db = sled::open(&db_dir).unwrap();
        let sources = db.open_tree("sources").unwrap();
        sources.insert("cut-after-claim", "name: x\n").unwrap();
        sources.insert("cut-after-plan", "name: y\n").unwrap();
        db.open_tree("plans")
            .unwrap()
            .insert("cut-after-plan", "{}")
            .unwrap();
        db.flush().unwrap();
    }
    let gc = baton(&data)
        .args(["gc", "--older-than", "30d"])
        .output()
        .unwrap();
    let t = text(&gc);
    assert!(gc.status.success(), "{t}");
    assert!(
        t.contains("deleted 0 run(s)")
            && t.contains("removed the stored workflows of 2 run(s) whose creation was cut short"),
        "{t}"
    );
    let again = baton(&data)
        .args(["gc", "--older-than", "30d"])
        .output()
        .unwrap();
    assert!(!text(&again).contains("cut short"), "{}", text(&again));
    let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let show = baton(&data).args(["show", &id]).output().unwrap();
    assert!(show.status.success(), "{}", text(&show));
    let db = sled::open(&db_dir).unwrap();
    for tree in ["sources", "plans"] {
        let keys: Vec<String> = db
            .open_tree(tree)
            .unwrap()
            .iter()
            .keys()
            .map(|k| String::from_utf8(k.unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(keys, std::slice::from_ref(&id), "{tree}");
    }
}

#[test]
fn a_second_process_is_told_which_pid_holds_the_store_and_can_follow_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("slow.yaml");
    std::fs::write(
        &wf,
        "name: slow\nsteps:\n  - id: tick\n    run: 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.1; done'\n",
    )
    .unwrap();
    let mut owner = start_owner(&data, &wf);
    // Wait for the owner to answer with the run.
    let mut id = None;
    eventually(PATIENCE, "the owner to answer with the run", || {
        let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap_or_default();
        id = runs[0]["id"].as_str().map(str::to_string);
        id.is_some()
    });
    let id = id.unwrap_or_default();
    // What needs the store itself is told who has it.
    let gc = baton(&data)
        .args(["gc", "--older-than", "30d"])
        .output()
        .unwrap();
    let t = text(&gc);
    assert_eq!(gc.status.code(), Some(2), "{t}");
    assert!(t.contains(&format!("baton process {}", owner.id())), "{t}");

    let follow = baton(&data)
        .args(["logs", "--follow", &id])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&follow.stdout);
    assert!(follow.status.success(), "{}", text(&follow));
    assert!(t.contains("tick 1") && t.contains("tick 6"), "{t}");
    assert_eq!(owner.wait().unwrap().code(), Some(0));
}

#[test]
fn ctrl_c_cancels_a_headless_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("long.yaml");
    let pidfile = dir.path().join("pid");
    std::fs::write(
        &wf,
        format!(
            "name: long\nsteps:\n  - id: wait\n    run: 'sleep 60 & echo $! > {}; wait'\n",
            pidfile.display()
        ),
    )
    .unwrap();
    let child = baton(&data)
        .arg("run")
        .arg(&wf)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let grandchild = harness::read_pid(&pidfile);
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancelled"));
    eventually(
        PATIENCE,
        "the step's process to die with the Ctrl-C",
        || !harness::alive(grandchild),
    );
}

#[test]
fn a_non_idempotent_step_caught_running_by_a_crash_waits_for_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("once.yaml");
    let log = dir.path().join("log");
    let flag = dir.path().join("flag");
    std::fs::write(
        &wf,
        format!(
            "name: once\nsteps:\n  - id: first\n    run: 'true'\n  - id: charge\n    depends_on: [first]\n    idempotent: false\n    run: 'echo charge >> {log}; if [ ! -f {flag} ]; then touch {flag}; sleep 60; fi'\n",
            log = log.display(),
            flag = flag.display()
        ),
    )
    .unwrap();
    // Events go out only once durable: this one says `charge` runs, its process recorded.
    let mut owner = bin::run_until_a_process_is_recorded(&data, &wf, Some("charge"));
    eventually(PATIENCE, "the step to start", || flag.exists());
    owner.kill().unwrap();
    owner.wait().unwrap();

    let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(runs[0]["state"], "interrupted", "{runs}");
    // The count of finished steps comes from the journal, not the record's lagging copy.
    assert_eq!(runs[0]["steps_done"], 1, "{runs}");
    let id = runs[0]["id"].as_str().unwrap().to_string();

    // Without a terminal or --approve, the operator's decision is "no": it is not run again.
    let out = baton(&data).args(["resume", &id]).output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("idempotent: false"), "{t}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "charge\n");

    // Approved explicitly, a retry runs it again.
    let out = baton(&data)
        .args(["retry", &id, "--approve", "charge"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "charge\ncharge\n");
}

/// Finished runs older than `[engine] retention` (30 days unless set) are deleted when an
/// engine starts; interrupted runs are kept, and `"forever"` keeps everything.
#[test]
fn old_finished_runs_are_deleted_by_retention_when_an_engine_starts() {
    use baton::store::{RunId, RunRecord, RunState, Store, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let day = 86_400_000;
    let now = Timestamp::now().0;
    {
        // `--data-dir` holds the store in `store/` beside baton's logs.
        let store = Store::open(&data.join("store")).unwrap();
        for (id, state, age_days) in [
            ("r-old-done", RunState::Succeeded, 40),
            ("r-old-stuck", RunState::Interrupted, 40),
            ("r-recent", RunState::Failed, 10),
        ] {
            store
                .put_run(&RunRecord {
                    id: RunId(id.into()),
                    workflow: "w".into(),
                    workflow_path: None,
                    source: String::new(),
                    params: Default::default(),
                    workdir: None,
                    state,
                    created_at: Timestamp(now - age_days * day - 1000),
                    started_at: None,
                    finished_at: Some(Timestamp(now - age_days * day)),
                    owner: None,
                    reason: None,
                    steps_total: 0,
                    steps_done: 0,
                    stopped: Default::default(),
                    parent: None,
                })
                .unwrap();
        }
        store.flush_blocking().unwrap();
    }
    let wf = dir.path().join("quick.yaml");
    std::fs::write(&wf, "name: quick\nsteps:\n  - id: a\n    run: 'true'\n").unwrap();
    let ids = |data: &Path| -> Vec<String> {
        let ls = baton(data).args(["ls", "--json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
        runs.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };

    std::fs::write(
        config.join("config.toml"),
        "[engine]\nretention = \"forever\"\n",
    )
    .unwrap();
    let out = baton(&data)
        .env("BATON_CONFIG_DIR", &config)
        .arg("run")
        .arg(&wf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let kept = ids(&data);
    assert!(kept.contains(&"r-old-done".to_string()), "{kept:?}");

    std::fs::remove_file(config.join("config.toml")).unwrap();
    let out = baton(&data)
        .env("BATON_CONFIG_DIR", &config)
        .arg("run")
        .arg(&wf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let left = ids(&data);
    assert!(!left.contains(&"r-old-done".to_string()), "{left:?}");
    assert!(left.contains(&"r-old-stuck".to_string()), "{left:?}");
    assert!(left.contains(&"r-recent".to_string()), "{left:?}");
    assert_eq!(left.len(), 4, "the two new runs too: {left:?}");
}

/// While one baton owns the store, `ls`, `show`, `logs` and `cancel` from another shell ask
/// it over its control socket.
#[test]
fn other_invocations_ask_the_owner_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("long.yaml");
    std::fs::write(
        &wf,
        "name: long\nsteps:\n  - id: hello\n    run: echo hello from the owner\n  - id: wait\n    run: sleep 60\n    depends_on: [hello]\n  - id: never\n    run: echo never\n    depends_on: [wait]\n",
    )
    .unwrap();
    let mut owner = start_owner(&data, &wf);
    let socket = data.join("store").join("control.sock");
    // Wait until the owner answers and `wait` runs.
    let mut runs = serde_json::Value::Null;
    eventually(PATIENCE, "the owner to answer with `wait` running", || {
        if !socket.exists() {
            return false;
        }
        let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
        if !ls.status.success() {
            return false;
        }
        runs = serde_json::from_slice(&ls.stdout).unwrap();
        let show = baton(&data)
            .args(["show", runs[0]["id"].as_str().unwrap_or("-"), "--json"])
            .output()
            .unwrap();
        let detail: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap_or_default();
        // `ls` read the run a moment before `show` did: both must say it runs.
        runs[0]["state"] == "running" && detail["steps"][1]["record"]["status"] == "running"
    });
    assert_eq!(runs[0]["state"], "running", "{runs}");
    let id = runs[0]["id"].as_str().unwrap().to_string();
    let prefix = &id[..id.len() - 2];

    let show = baton(&data)
        .args(["show", prefix, "--events"])
        .output()
        .unwrap();
    let t = text(&show);
    assert!(show.status.success(), "{t}");
    assert!(t.contains("hello                succeeded"), "{t}");
    assert!(t.contains("wait                 running"), "{t}");
    assert!(t.contains("never                pending"), "{t}");
    assert!(t.contains("run created (long)"), "{t}");

    let logs = baton(&data)
        .args(["logs", prefix, "hello"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("hello from the owner"),
        "{}",
        text(&logs)
    );

    let cancel = baton(&data).args(["cancel", prefix]).output().unwrap();
    let t = text(&cancel);
    assert!(cancel.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "run {id} cancelled (by baton process {})",
            owner.id()
        )),
        "{t}"
    );
    assert_eq!(
        owner.wait().unwrap().code(),
        Some(3),
        "the owner's run was cancelled"
    );
    assert!(
        !socket.exists(),
        "the owner removed its socket on the way out"
    );

    // With nobody owning the store, the same commands open it themselves.
    let show = baton(&data)
        .args(["show", prefix, "--json"])
        .output()
        .unwrap();
    let detail: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(detail["run"]["state"], "cancelled");
    assert_eq!(detail["steps"][2]["record"]["status"], "cancelled");
}

/// A headless run started with `--wait-for-gates` (say by cron, with no terminal) holds its
/// gates open; `baton approve` or `baton reject` from another shell decides them.
#[test]
fn a_headless_run_waits_at_its_gate_for_approve_or_reject_from_another_shell() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    for approve in [true, false] {
        let data = dir.path().join(if approve { "yes" } else { "no" });
        let owner = baton(&data)
            .arg("run")
            .arg(&wf)
            .arg("--wait-for-gates")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the gate is open.
        let mut id = String::new();
        eventually(PATIENCE, "the gate to open", || {
            let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
            let Ok(runs) = serde_json::from_slice::<serde_json::Value>(&ls.stdout) else {
                return false;
            };
            let Some(run) = runs[0]["id"].as_str() else {
                return false;
            };
            let show = baton(&data).args(["show", run, "--json"]).output().unwrap();
            let detail: serde_json::Value =
                serde_json::from_slice(&show.stdout).unwrap_or_default();
            id = run.to_string();
            detail["steps"][1]["record"]["status"] == "waiting_approval"
        });

        // A step that has no gate, and a gate that is not this one, are refused with the list.
        let wrong = baton(&data)
            .args(["approve", &id, "build"])
            .output()
            .unwrap();
        let t = text(&wrong);
        assert_eq!(wrong.status.code(), Some(2), "{t}");
        assert!(t.contains("no gate `build`; waiting: gate"), "{t}");

        let (verb, past) = if approve {
            ("approve", "approved")
        } else {
            ("reject", "rejected")
        };
        let decided = baton(&data)
            .args([verb, &id, "gate", "-m", "checked the diff"])
            .output()
            .unwrap();
        let t = text(&decided);
        assert!(decided.status.success(), "{t}");
        assert!(
            t.contains(&format!("gate `gate` of run {id} {past} by ")),
            "{t}"
        );

        let out = owner.wait_with_output().unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains(&format!("baton approve {id} gate")),
            "{printed}"
        );
        assert_eq!(
            out.status.code(),
            Some(if approve { 0 } else { 1 }),
            "{printed}"
        );
        let show = baton(&data)
            .args(["show", &id, "--events"])
            .output()
            .unwrap();
        let t = text(&show);
        assert!(t.contains(&format!("gate {past} by ")), "{t}");
        assert!(t.contains(": checked the diff"), "{t}");
        // Once the run is over, nobody is waiting.
        let again = baton(&data).args([verb, &id, "gate"]).output().unwrap();
        let t = text(&again);
        assert_eq!(again.status.code(), Some(2), "{t}");
        assert!(t.contains("not running anywhere"), "{t}");
    }
}

/// `baton serve` owns the store with no console: `baton run` typed elsewhere runs in it and is
/// followed there; SIGTERM stops it and leaves what was running interrupted, resumable.
#[test]
fn serve_runs_what_other_invocations_start_until_it_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let quick = dir.path().join("quick.yaml");
    std::fs::write(
        &quick,
        "name: quick\nsteps:\n  - id: a\n    run: echo quick\n",
    )
    .unwrap();
    let long = dir.path().join("long.yaml");
    std::fs::write(
        &long,
        "name: long\nsteps:\n  - id: nap\n    run: sleep 60\n",
    )
    .unwrap();
    let daemon = baton(&data)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = data.join("store").join("control.sock");
    eventually(PATIENCE, "the daemon to listen", || socket.exists());

    let out = baton(&data).arg("run").arg(&quick).output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("running in baton process {}", daemon.id())),
        "{t}"
    );
    assert!(t.contains("quick"), "{t}");

    // A long run, followed from a shell that then goes away; the daemon keeps it.
    let mut follower = baton(&data)
        .arg("run")
        .arg(&long)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    eventually(PATIENCE, "the long run to start in the daemon", || {
        let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap_or_default();
        runs.as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["workflow"] == "long" && r["state"] == "running")
        })
    });
    follower.kill().unwrap();
    follower.wait().unwrap();

    // SIGTERM: the daemon stops, and the run it had is interrupted, not lost.
    // SAFETY: kill(2) on the daemon we spawned.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let out = daemon.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("left interrupted"), "{said}");
    let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let states: Vec<(&str, &str)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["workflow"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(states.contains(&("quick", "succeeded")), "{states:?}");
    assert!(states.contains(&("long", "interrupted")), "{states:?}");
}

/// A reader holding the store for a moment (`baton ls` in a monitoring loop, say) does not make
/// a `baton run` started at that instant fail: it waits for the store.
#[test]
fn a_run_waits_for_a_reader_that_holds_the_store_for_a_moment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("quick.yaml");
    std::fs::write(&wf, "name: quick\nsteps:\n  - id: a\n    run: echo quick\n").unwrap();
    let reader = baton::store::Store::open(&data.join("store")).unwrap();
    let run = baton(&data).arg("run").arg(&wf).spawn().unwrap();
    // The scenario, not a wait for an event: the reader holds the store a moment longer (the
    // run retries every 20 ms; nothing it does meanwhile can be observed from outside).
    std::thread::sleep(Duration::from_millis(500));
    drop(reader);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
