//! Agents' memory, as the whole program runs it against a fake provider on 127.0.0.1: a note
//! kept with `remember` in one run is read with `recall` in the next (of the same workflow,
//! or of another naming the same `memory:` scope), secrets masked; `baton memory` lists,
//! shows and clears the notes, through the owner while `baton serve` holds the store and on
//! the store itself once it is gone.

#[path = "support/agent_run.rs"]
mod agent_run;
#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use agent_run::{Place, calls, results};
use fake_llm::{FakeLlm, Reply};
use serde_json::json;

const TOKEN: &str = "tok-9f8e7d6c5b";

const FIRST: &str = "name: ops-notes\nsecrets: [TEAM_TOKEN]\nsteps:\n  - id: learn\n    agent: devops\n    prompt: Note what you found.\n    tools: [remember]\n";

/// Another workflow that reads the first one's notes by naming its scope.
const SECOND: &str = "name: follow-up\nmemory: ops-notes\nsteps:\n  - id: check\n    agent: devops\n    prompt: What did we learn last time?\n    tools: [recall]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_remembered_in_one_run_is_recalled_in_the_next_and_baton_memory_manages_it() {
    let fake = FakeLlm::start().await;
    let note = format!("ci-3 log rotation was off; the deploy token is {TOKEN}");
    fake.push(calls(&[("remember", json!({"note": note, "key": "ci-3"}))]));
    fake.push(Reply::Text("Noted.".into()));
    // The same note again (as a call run again after a crash would): still one note.
    fake.push(calls(&[(
        "remember",
        json!({"note": "ci-3 needs a bigger disk"}),
    )]));
    fake.push(calls(&[(
        "remember",
        json!({"note": "ci-3 needs a bigger disk"}),
    )]));
    fake.push(Reply::Text("Noted again.".into()));
    let place = Place::new(&fake, FIRST);
    for _ in 0..2 {
        let out = place
            .baton(&["run", "wf.yaml"])
            .env("TEAM_TOKEN", TOKEN)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    }
    assert!(
        results(&fake.requests()[1].body)[0]
            .contains("Remembered as `ci-3` in the notes of `ops-notes`"),
        "{:?}",
        results(&fake.requests()[1].body)
    );

    fake.push(calls(&[("recall", json!({}))]));
    fake.push(calls(&[("recall", json!({"query": "DISK ci-3"}))]));
    fake.push(Reply::Text("Rotation was off; the disk is small.".into()));
    std::fs::write(place.path("second.yaml"), SECOND).unwrap();
    let out = place.baton(&["run", "second.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    let told = results(&fake.requests()[7].body);
    assert_eq!(told.len(), 2, "{told:?}");
    let all: Vec<&str> = told[0].lines().collect();
    assert_eq!(all.len(), 2, "one note per key: {told:?}");
    assert!(
        all[0].starts_with("[ci-3] (")
            && all[0].ends_with("ci-3 log rotation was off; the deploy token is ***"),
        "the secret was masked before the note was stored: {all:?}"
    );
    assert!(all[1].ends_with("ci-3 needs a bigger disk"), "{all:?}");
    let matching: Vec<&str> = told[1].lines().collect();
    assert_eq!(matching.len(), 1, "{told:?}");
    assert!(matching[0].ends_with("ci-3 needs a bigger disk"));

    // `baton serve` owns the store now: the notes are read and cleared through it.
    let mut daemon = place
        .baton(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let socket = place.root.join("data/store/control.sock");
    harness::eventually(harness::PATIENCE, "the daemon to listen", || {
        socket.exists()
    });
    let ls = bin::text(&place.baton(&["memory", "ls"]).output().unwrap());
    let row = ls
        .lines()
        .find(|l| l.starts_with("ops-notes"))
        .unwrap_or_default();
    assert_eq!(row.split_whitespace().nth(1), Some("2"), "{ls}");
    let show = place
        .baton(&["memory", "show", "--scope", "ops-notes", "ci-3"])
        .output()
        .unwrap();
    let shown = bin::text(&show);
    assert!(shown.contains("ci-3 log rotation was off"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    let json = place.json(&["memory", "ls", "--scope", "ops-notes", "--json"]);
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json[0]["step"], "learn");

    let cleared = place
        .baton(&["memory", "clear", "--scope", "ops-notes"])
        .output()
        .unwrap();
    assert_eq!(cleared.status.code(), Some(0), "{}", bin::text(&cleared));
    assert!(bin::text(&cleared).contains("removed 2 note(s) from `ops-notes`"));
    // SAFETY: kill(2) on the daemon we spawned.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let stopped = daemon.wait().unwrap();
    assert!(stopped.success(), "{stopped:?}");
    // Read on the store itself: the clear was durable.
    let empty = place
        .baton(&["memory", "ls", "--scope", "ops-notes"])
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(1), "{}", bin::text(&empty));
    assert!(bin::text(&empty).contains("no notes in `ops-notes`"));
}
