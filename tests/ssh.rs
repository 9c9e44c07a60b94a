//! Steps on other hosts (`on:`), against a real sshd on 127.0.0.1 (`support/sshd.rs`): logs,
//! exit codes and retries; pause, cancel and timeouts acting on the remote process group; a
//! dropped connection; a changed host key; a crashed owner's leftovers stopped on resume.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/engine.rs"]
mod harness;
#[path = "support/sshd.rs"]
mod sshd;

use std::sync::Arc;
use std::time::Duration;

use baton::engine::{Command, EngineConfig, RunControl};
use baton::remote::{Ssh, SshSection};
use baton::store::{RunState, StepStatus};
use harness::{Harness, PATIENCE, alive, eventually, processes_mentioning, read_pid, state_of};
use sshd::Sshd;

/// An engine whose config file names `h1` (the sshd) and keeps the user's ssh config out.
fn engine_for(sshd: &Sshd) -> Harness {
    engine_with(sshd.fields())
}

/// An engine whose config file names `h1` with `fields`.
fn engine_with(fields: baton::remote::HostFields) -> Harness {
    let hosts = indexmap::IndexMap::from([("h1".to_string(), fields)]);
    let defaults = SshSection {
        config_file: Some("/dev/null".into()),
        ..SshSection::default()
    };
    Harness::with(EngineConfig {
        grace: Duration::from_millis(300),
        ssh: Arc::new(Ssh::new(hosts, defaults, None)),
        ..EngineConfig::default()
    })
}

#[test]
fn a_remote_step_streams_its_lines_and_exit_code_and_is_retried() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let flag = h.path("flag");
    let yaml = format!(
        r#"
name: remote
env: {{ GREETING: hello }}
steps:
  - id: twice
    on: h1
    run: 'echo "$GREETING from $(hostname)"; echo oops >&2; if [ -e {f} ]; then echo second; else touch {f}; exit 3; fi'
    retry: {{ max_attempts: 2, initial: 10ms, jitter: false }}
  - id: fails
    on: h1
    run: exit 7
"#,
        f = flag.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    let twice = h.step(&id, "twice");
    assert_eq!(
        (twice.status, twice.attempt, twice.exit_code),
        (StepStatus::Succeeded, 2, Some(0))
    );
    let logs = h.logs(&id, "twice");
    let hello = logs.iter().filter(|l| l.starts_with("hello from ")).count();
    assert_eq!(hello, 2, "each attempt's lines are logged: {logs:?}");
    assert!(
        logs.iter().any(|l| l == "oops"),
        "stderr is logged: {logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("exited with code 3")),
        "{logs:?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains("@baton-pgid")),
        "the group marker is baton's, not the step's: {logs:?}"
    );
    let out = h.output(&id, "twice");
    assert!(out.as_str().is_some_and(|o| o.ends_with("second")), "{out}");
    let fails = h.step(&id, "fails");
    assert_eq!(
        (fails.status, fails.exit_code),
        (StepStatus::Failed, Some(7))
    );
}

#[test]
fn a_secret_in_the_env_reaches_the_host_but_no_command_line_there() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let pidfile = h.path("pid");
    let yaml = format!(
        r#"
name: secret
steps:
  - id: s
    on: h1
    env: {{ TOKEN: s3cr3t-8d1f }}
    run: 'case "$TOKEN" in s3cr3t-*) ;; *) exit 9;; esac; sleep 300 & echo $! > {p}; wait'
"#,
        p = pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    assert!(alive(child));
    assert_eq!(
        processes_mentioning("s3cr3t-8d1f"),
        Vec::<i32>::new(),
        "no process shows the secret in its command line"
    );
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
}

#[test]
fn pause_freezes_the_remote_group_and_resume_thaws_it() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let pidfile = h.path("pid");
    let yaml = format!(
        "name: p\nsteps:\n  - id: s\n    on: h1\n    run: 'sleep 300 & echo $! > {}; wait'\n",
        pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    h.wait_step(&id, "s", |r| {
        r.status == StepStatus::Running && r.remote.is_some()
    });
    h.engine.send(Command::Pause(id.clone())).unwrap();
    h.wait_step(&id, "s", |r| r.status == StepStatus::Paused);
    eventually(PATIENCE, "the remote grandchild to be stopped (T)", || {
        state_of(child) == Some('T')
    });
    h.engine.send(Command::Resume(id.clone())).unwrap();
    eventually(PATIENCE, "the remote grandchild to run again", || {
        matches!(state_of(child), Some('S' | 'R'))
    });
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
}

#[test]
fn cancel_leaves_nothing_on_the_host_not_even_a_grandchild_ignoring_sigterm() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let pidfile = h.path("pid");
    let yaml = format!(
        r#"
name: stubborn
steps:
  - id: s
    on: h1
    run: 'trap "" TERM; sh -c "trap \"\" TERM; sleep 300" & echo $! > {}; while true; do sleep 1; done'
"#,
        pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    h.wait_step(&id, "s", |r| r.remote.is_some());
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    assert!(
        !alive(child),
        "the step ends only once its remote group is gone"
    );
    assert_eq!(h.step(&id, "s").status, StepStatus::Cancelled);
}

#[test]
fn a_remote_timeout_stops_the_remote_group() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let pidfile = h.path("pid");
    let yaml = format!(
        "name: t\nsteps:\n  - id: s\n    on: h1\n    timeout: 1s\n    run: 'sleep 300 & echo $! > {}; wait'\n",
        pidfile.display()
    );
    let (id, state) = {
        let id = h.start(&yaml);
        (id.clone(), h.wait(&id))
    };
    assert_eq!(state, RunState::Failed);
    let child = read_pid(&pidfile);
    assert!(!alive(child), "the timed-out group is gone from the host");
    let error = h.step(&id, "s").error.unwrap_or_default();
    assert!(error.contains("timed out"), "{error}");
}

#[test]
fn a_dropped_connection_fails_the_attempt_naming_the_host_and_the_retry_runs() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let (pidfile, flag) = (h.path("pid"), h.path("flag"));
    let yaml = format!(
        r#"
name: drop
steps:
  - id: s
    on: h1
    run: 'if [ -e {f} ]; then echo second; exit 0; fi; touch {f}; sleep 300 & echo $! > {p}; wait'
    retry: {{ max_attempts: 2, initial: 10ms, jitter: false }}
"#,
        f = flag.display(),
        p = pidfile.display()
    );
    let id = h.start(&yaml);
    let child = read_pid(&pidfile);
    h.wait_step(&id, "s", |r| r.remote.is_some());
    assert!(sshd.drop_connections() > 0, "a connection to drop");
    assert_eq!(h.wait(&id), RunState::Succeeded);
    let step = h.step(&id, "s");
    assert_eq!(step.attempt, 2);
    let logs = h.logs(&id, "s").join("\n");
    assert!(
        logs.contains("the connection to host `h1` (127.0.0.1) was lost"),
        "{logs}"
    );
    assert!(
        !alive(child),
        "the first attempt's process is gone from the host"
    );
}

#[test]
fn a_changed_host_key_is_refused_with_an_error_naming_the_host() {
    let mut sshd = Sshd::start();
    let h = engine_for(&sshd);
    sshd.change_host_key();
    let marker = h.path("ran");
    let yaml = format!(
        "name: k\nsteps:\n  - id: s\n    on: h1\n    run: touch {}\n    retry: 3\n",
        marker.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    let step = h.step(&id, "s");
    let error = step.error.unwrap_or_default();
    assert!(
        error.starts_with("host `h1` (127.0.0.1): its host key has CHANGED"),
        "{error}"
    );
    assert_eq!(step.attempt, 1, "a refused key is not retried");
    assert!(!marker.exists(), "nothing ran on a host whose key changed");
}

#[test]
fn workflow_hosts_are_rendered_from_params_and_on_is_a_template() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    let yaml = format!(
        r#"
name: fleet
params: {{ target: web, port: "{port}" }}
hosts:
  web: {{ address: 127.0.0.1, port: "{{{{ params.port }}}}", user: {user}, identity_file: {key}, known_hosts: {kh}, workdir: /tmp, env: {{ ROLE: "{{{{ params.target }}}}" }} }}
steps:
  - id: s
    on: "{{{{ params.target }}}}"
    run: 'echo "$ROLE in $(pwd)"'
"#,
        port = sshd.port,
        user = sshd::user(),
        key = sshd.client_key().display(),
        kh = sshd.known_hosts().display(),
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded, "{:?}", h.step(&id, "s").error);
    assert_eq!(h.output(&id, "s"), serde_json::json!("web in /tmp"));
}

/// `baton` with a config dir whose config file names `h1` (the sshd).
fn cli(sshd: &Sshd, data: &std::path::Path) -> std::process::Command {
    let config = data.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("[ssh]\nconfig_file = \"/dev/null\"\n\n{}", sshd.toml("h1")),
    )
    .unwrap();
    let mut cmd = bin::baton(&data.join("data"));
    cmd.env("BATON_CONFIG_DIR", &config);
    cmd
}

#[test]
fn resume_stops_what_a_killed_owner_left_on_the_host_before_running_the_step_again() {
    let mut sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let (pidfile, flag) = (dir.path().join("pid"), dir.path().join("flag"));
    let workflow = dir.path().join("wf.yaml");
    std::fs::write(
        &workflow,
        format!(
            "name: crash\nsteps:\n  - id: s\n    on: h1\n    run: 'if [ -e {f} ]; then echo again; exit 0; fi; touch {f}; sleep 300 & echo $! > {p}; wait'\n",
            f = flag.display(),
            p = pidfile.display()
        ),
    )
    .unwrap();
    let mut owner = cli(&sshd, dir.path())
        .args(["run", "--json"])
        .arg(&workflow)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(owner.stdout.take().unwrap());
    let mut id = None;
    for line in std::io::BufRead::lines(stdout) {
        let line = line.unwrap();
        if line.contains("\"remote\":{") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            id = v["run"].as_str().map(str::to_string);
            break;
        }
    }
    let id = id.expect("the remote process group was recorded, and the run named");
    let child = read_pid(&pidfile);
    // As if the network stopped, then the owner died: the host hears of neither.
    sshd.freeze_connections();
    owner.kill().unwrap();
    owner.wait().unwrap();
    for master in processes_mentioning(&format!("{}/ssh/", dir.path().join("data").display())) {
        // SAFETY: kill(2) on the dead owner's ssh master.
        unsafe { libc::kill(master, libc::SIGKILL) };
    }
    assert!(alive(child), "the step runs on, unseen, on the host");

    let out = cli(&sshd, dir.path())
        .args(["resume", &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", bin::text(&out));
    assert!(
        !alive(child),
        "resume stopped the leftover before running the step again"
    );
    let logs = cli(&sshd, dir.path()).args(["logs", &id]).output().unwrap();
    let logs = bin::text(&logs);
    assert!(
        logs.contains("stopped what the previous owner left running on host `h1`"),
        "{logs}"
    );
    assert!(logs.contains("again"), "{logs}");
}

#[test]
fn hosts_lists_the_configured_hosts_and_check_reports_latency_or_the_exact_error() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let mut cmd = cli(&sshd, dir.path());
    // A second host: the same sshd, checked against a known_hosts that does not know it.
    let config = dir.path().join("config/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let h2 = sshd.toml("h2").replace(
        &sshd.known_hosts().display().to_string(),
        &empty.display().to_string(),
    );
    std::fs::write(&config, format!("{text}\n{h2}")).unwrap();

    let list = cmd.arg("hosts").output().unwrap();
    let list = bin::text(&list);
    assert!(list.contains("h1"), "{list}");
    assert!(
        list.contains(&format!("-oPort={} ", sshd.port)) && list.contains("127.0.0.1"),
        "{list}"
    );
    let out = bin::baton(&dir.path().join("data"))
        .env("BATON_CONFIG_DIR", dir.path().join("config"))
        .args(["hosts", "check"])
        .output()
        .unwrap();
    let text = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("h1") && l.contains(" ok ") && l.ends_with(" ms")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("h2")
            && l.contains("FAILED host `h2` (127.0.0.1): its host key is not known")),
        "{text}"
    );
}

/// Starts twelve steps on `h1` that each mark that they started, note how many of them run
/// at that moment (started less finished), and wait for `go`; returns the run once `at_once`
/// of them have started.
fn twelve_waiting_steps(h: &Harness, at_once: usize) -> baton::store::RunId {
    let (started, finished, go) = (h.path("started"), h.path("finished"), h.path("go"));
    std::fs::create_dir_all(&started).unwrap();
    std::fs::create_dir_all(&finished).unwrap();
    let mut yaml = String::from("name: many\nconcurrency: 12\nsteps:\n");
    for i in 0..12 {
        yaml.push_str(&format!(
            "  - id: s{i}\n    on: h1\n    run: 'touch {s}/{i}; echo $(( $(ls {s} | wc -l) - $(ls {f} | wc -l) )) >> {m}; while [ ! -e {g} ]; do sleep 0.05; done; touch {f}/{i}'\n",
            s = started.display(),
            f = finished.display(),
            m = h.path("running").display(),
            g = go.display()
        ));
    }
    let id = h.start(&yaml);
    // The others wait for a session, and say so: none of them can start before `go`.
    let waiting = format!("waiting for one of host `h1`'s {at_once} sessions (`max_sessions`)");
    eventually(PATIENCE, &format!("{} steps to wait", 12 - at_once), || {
        (0..12)
            .filter(|i| h.logs(&id, &format!("s{i}")).contains(&waiting))
            .count()
            == 12 - at_once
    });
    eventually(
        PATIENCE,
        &format!("{at_once} steps to run on the host"),
        || std::fs::read_dir(&started).map(|d| d.count()).unwrap_or(0) == at_once,
    );
    id
}

/// The most steps any step saw running at once on the host.
fn most_at_once(h: &Harness) -> usize {
    let seen = std::fs::read_to_string(h.path("running")).unwrap();
    seen.lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn many_steps_to_one_host_share_one_connection_within_sshds_session_limit() {
    let sshd = Sshd::start();
    let h = engine_for(&sshd);
    // sshd's default MaxSessions is 10: eight steps run at once, the others wait their turn.
    let id = twelve_waiting_steps(&h, 8);
    assert_eq!(sshd.sessions().len(), 1, "one connection carries them all");
    std::fs::write(h.path("go"), "").unwrap();
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(std::fs::read_dir(h.path("started")).unwrap().count(), 12);
    assert!(most_at_once(&h) <= 8, "no more than eight at once");
}

#[test]
fn a_hosts_max_sessions_caps_the_steps_running_on_it_at_once() {
    let sshd = Sshd::start();
    let h = engine_with(baton::remote::HostFields {
        max_sessions: Some(baton::remote::MaxSessions(3)),
        ..sshd.fields()
    });
    let id = twelve_waiting_steps(&h, 3);
    std::fs::write(h.path("go"), "").unwrap();
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(std::fs::read_dir(h.path("started")).unwrap().count(), 12);
    assert!(most_at_once(&h) <= 3, "no more than three at once");
}
