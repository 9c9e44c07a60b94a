//! The disk-triage example (`workflows/disk-triage.yaml`) end to end with the real binary,
//! against the fake provider: `list_dir` and `read_file` run unattended, the one `shell`
//! command waits at the gate showing its exact command line until `baton approve` from another
//! shell, and the agent answers from what the tools returned. With `BATON_README_CAPTURE=1`
//! the run's output is printed: the README's captured run comes from here.

#[path = "support/agent_run.rs"]
mod agent_run;
#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use std::path::Path;
use std::process::Stdio;

use agent_run::{Place, calls, decide, results};
use fake_llm::{FakeLlm, Reply};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_triage_example_asks_before_its_shell_command_and_answers_from_the_tools() {
    let fake = FakeLlm::start().await;
    let place = Place::new(&fake, "");
    // A small disk to look at: one directory of old logs, one of caches.
    let srv = place.path("srv");
    std::fs::create_dir_all(srv.join("logs")).unwrap();
    std::fs::create_dir_all(srv.join("cache")).unwrap();
    std::fs::write(srv.join("logs/app.log"), "x".repeat(300_000)).unwrap();
    std::fs::write(
        srv.join("logs/rotate.conf"),
        "# rotation disabled during the migration\nrotate 0\n",
    )
    .unwrap();
    std::fs::write(srv.join("cache/blob"), "y".repeat(40_000)).unwrap();
    let du = "du -xh --max-depth=2 srv | sort -h";
    fake.push(calls(&[("list_dir", json!({"path": "srv"}))]));
    fake.push(calls(&[("shell", json!({"command": du}))]));
    fake.push(calls(&[(
        "read_file",
        json!({"path": "srv/logs/rotate.conf"}),
    )]));
    fake.push(Reply::Text(
        "1. srv/logs (app.log): log rotation is disabled (rotate.conf says so since the \
         migration).\n2. srv/cache: a build cache.\nRe-enable rotation; clear the cache if \
         it is not needed. Nothing was deleted."
            .into(),
    ));
    let wf = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/disk-triage.yaml");
    let owner = place
        .baton(&["run", "--wait-for-gates", "-p", "path=srv"])
        .arg(&wf)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();
    let gate = place.gate_showing_at(&id, 1, &format!("shell: $ {du}"));
    assert!(
        gate["prompt"].as_str().unwrap().contains("`shell`"),
        "{gate}"
    );
    let before = fake.requests();
    assert_eq!(
        before.len(),
        2,
        "list_dir ran without asking; the shell call waits"
    );
    decide(&place, &["approve", &id, "triage"]);
    let out = owner.wait_with_output().unwrap();
    let shown = bin::text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    let told = results(&reqs[3].body);
    assert!(
        told[0].contains("logs/") && told[0].contains("cache/"),
        "{told:?}"
    );
    assert!(
        told[1].contains("exit code: 0") && told[1].contains("srv/logs"),
        "the approved command ran and its output reached the model: {told:?}"
    );
    assert!(told[2].contains("rotation disabled"), "{told:?}");
    assert!(shown.contains("Re-enable rotation"), "{shown}");
    assert_eq!(
        shown.matches("triage         started").count(),
        1,
        "past the gate the attempt goes on: {shown}"
    );
    assert!(shown.contains("triage         continues"), "{shown}");
    assert!(
        srv.join("logs/app.log").exists(),
        "nothing was deleted: {shown}"
    );
    if std::env::var_os("BATON_README_CAPTURE").is_some() {
        println!("{shown}");
    }
}
