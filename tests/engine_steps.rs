//! The engine runs every step kind against real processes and a real HTTP server.

#[path = "support/engine.rs"]
mod harness;
#[path = "support/http_server.rs"]
mod http_server;

use baton::engine::RunReader;
use baton::store::{EventKind, RunState, StepStatus};
use harness::Harness;
use serde_json::json;

#[test]
fn shell_output_is_parsed_json_and_flows_downstream() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: flow
steps:
  - id: produce
    run: "echo '{\"version\": \"1.2.3\", \"count\": 2}'"
  - id: consume
    run: echo "v={{ steps.produce.output.version | raw }} n={{ steps.produce.output.count }}"
    depends_on: [produce]
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(
        h.output(&id, "produce"),
        json!({"version": "1.2.3", "count": 2})
    );
    assert_eq!(h.output(&id, "consume"), json!("v=1.2.3 n=2"));
    let rec = h.step(&id, "consume");
    assert_eq!(rec.exit_code, Some(0));
    assert_eq!(rec.attempt, 1);
}

/// A step's process group, reported as it starts, usually goes in the batch that records the
/// start (one commit and flush a step of a chain, not two; counted with a probe on the
/// profiling build: 503 inserts for 500 steps, 985 before): every step's is still recorded.
#[test]
fn every_step_of_a_shell_chain_has_its_process_group_recorded() {
    let steps: String = (0..20)
        .map(|i| match i {
            0 => "  - id: s0\n    run: \"true\"\n".to_string(),
            _ => format!(
                "  - id: s{i}\n    run: \"true\"\n    depends_on: [s{}]\n",
                i - 1
            ),
        })
        .collect();
    let h = Harness::new();
    let (id, state) = h.run_to_end(&format!("name: chain\nsteps:\n{steps}"));
    assert_eq!(state, RunState::Succeeded);
    let kinds = h.event_kinds(&id);
    let recorded: std::collections::HashSet<&str> = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::Step { record } if record.process.is_some() => Some(record.step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        recorded.len(),
        20,
        "every step's process group: {recorded:?}"
    );
    // A step's attempt and its group, reported in one batch, are one record (the journal keeps
    // the later of two with the same status): a step writes its start once, not twice. A
    // group reported after the batch is written still makes a second, so this allows a few.
    let starts_without_group = kinds
        .iter()
        .filter(|k| {
            matches!(k, EventKind::Step { record }
                if record.status == StepStatus::Running && record.process.is_none())
        })
        .count();
    assert!(
        starts_without_group <= 5,
        "{starts_without_group} of 20 steps' starts were written apart from their groups"
    );
}

#[test]
fn interpolated_params_stay_one_shell_argument() {
    let h = Harness::new();
    let marker = h.path("must-not-exist");
    let yaml = r#"
name: quoting
params:
  name: { default: x }
steps:
  - id: greet
    run: printf '%s|' {{ params.name }}
"#;
    let evil = format!("a; touch {}", marker.display());
    let id = h.start_with(yaml, &[("name", &evil)]);
    assert_eq!(h.wait(&id), RunState::Succeeded);
    assert_eq!(h.output(&id, "greet"), json!(format!("{evil}|")));
    assert!(!marker.exists(), "the param was executed as a command");
}

#[test]
fn env_and_working_directory_reach_the_process() {
    let h = Harness::new();
    std::fs::create_dir_all(h.path("sub")).unwrap();
    let yaml = format!(
        r#"
name: envcwd
env: {{ GREETING: hello }}
steps:
  - id: show
    run: echo "$GREETING $TARGET $(pwd) $BATON_STEP_ID $BATON_RUN_ID"
    env: {{ TARGET: world }}
    cwd: {}
"#,
        h.path("sub").display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    let out = h.output(&id, "show");
    let text = out.as_str().unwrap();
    assert!(text.starts_with("hello world "), "{text}");
    assert!(text.ends_with(&format!("/sub show {id}")), "{text}");
}

/// A step that sets its own `PATH` is started by the shell's name, searched in that `PATH`
/// (baton's other steps start the shell by the path found once, without the search).
#[test]
fn a_step_that_sets_its_own_path_finds_its_commands_there() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::new();
    let bin = h.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = bin.join("greet");
    std::fs::write(&tool, "#!/bin/sh\necho \"hi from $0\"\necho careful >&2\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = format!(
        r#"
name: own-path
steps:
  - id: greet
    run: greet
    env: {{ PATH: "{}:/usr/bin:/bin" }}
"#,
        bin.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(
        h.output(&id, "greet"),
        json!(format!("hi from {}", tool.display()))
    );
    assert!(h.logs(&id, "greet").iter().any(|l| l == "careful"));
}

/// A working directory that does not exist fails the step with what and where.
#[test]
fn a_step_whose_directory_is_missing_fails_saying_so() {
    let h = Harness::new();
    let gone = h.path("gone");
    let yaml = format!(
        "name: nowhere\nsteps:\n  - id: here\n    run: \"true\"\n    cwd: {}\n",
        gone.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    let rec = h.step(&id, "here");
    assert_eq!(rec.status, StepStatus::Failed);
    let error = rec.error.unwrap_or_default();
    assert!(
        error.contains(&format!("cannot start `sh` in {}", gone.display()))
            && error.contains("No such file or directory"),
        "{error}"
    );
}

#[test]
fn stdout_and_stderr_stream_into_the_log_line_by_line() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: logs
steps:
  - id: talk
    run: "echo one; echo two >&2; printf 'three'"
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    let lines = h.logs(&id, "talk");
    for want in ["one", "two", "three"] {
        assert!(
            lines.iter().any(|l| l == want),
            "{want} missing from {lines:?}"
        );
    }
}

#[test]
fn a_failing_step_is_retried_until_it_succeeds() {
    let h = Harness::new();
    let counter = h.path("count");
    let yaml = format!(
        r#"
name: flaky
steps:
  - id: flaky
    run: 'n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; test $n -ge 3'
    retry: {{ max_attempts: 4, initial: 10ms, max: 20ms, jitter: false }}
"#,
        c = counter.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    let rec = h.step(&id, "flaky");
    assert_eq!(rec.attempt, 3);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "3");
    let retried = h
        .event_kinds(&id)
        .into_iter()
        .filter(
            |k| matches!(k, EventKind::Step { record } if record.status == StepStatus::Retrying),
        )
        .count();
    assert_eq!(retried, 2);
}

#[test]
fn retry_only_on_the_chosen_exit_codes() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: codes
steps:
  - id: fatal
    run: exit 2
    retry: { max_attempts: 5, initial: 10ms, on_exit_codes: [75] }
"#,
    );
    assert_eq!(state, RunState::Failed);
    let rec = h.step(&id, "fatal");
    assert_eq!(rec.attempt, 1);
    assert_eq!(rec.exit_code, Some(2));
    assert_eq!(rec.error.as_deref(), Some("exited with code 2"));
}

#[test]
fn a_step_over_its_timeout_is_killed_and_fails() {
    let h = Harness::new();
    let pidfile = h.path("pid");
    let yaml = format!(
        r#"
name: slow
steps:
  - id: slow
    run: 'sleep 30 & echo $! > {}; wait'
    timeout: 300ms
"#,
        pidfile.display()
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    let rec = h.step(&id, "slow");
    assert!(
        rec.error.as_deref().unwrap().contains("timed out"),
        "{rec:?}"
    );
    let pid = harness::read_pid(&pidfile);
    harness::eventually(
        harness::PATIENCE,
        "the grandchild to die with the timeout",
        || !harness::alive(pid),
    );
}

#[test]
fn continue_on_error_lets_dependents_run_and_the_run_succeed() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: coe
steps:
  - id: optional
    run: exit 1
    continue_on_error: true
  - id: after
    run: echo ran
    depends_on: [optional]
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.step(&id, "optional").status, StepStatus::Failed);
    assert_eq!(h.step(&id, "after").status, StepStatus::Succeeded);
}

#[test]
fn a_failure_skips_its_dependents_with_the_reason_and_spares_other_branches() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: skip
steps:
  - id: build
    run: exit 3
  - id: test
    run: echo test
    depends_on: [build]
  - id: deploy
    run: echo deploy
    depends_on: [test]
  - id: lint
    run: echo lint
"#,
    );
    assert_eq!(state, RunState::Failed);
    let test = h.step(&id, "test");
    assert_eq!(test.status, StepStatus::Skipped);
    assert!(
        test.skip_reason.as_deref().unwrap().contains("build"),
        "{test:?}"
    );
    assert_eq!(h.step(&id, "deploy").status, StepStatus::Skipped);
    assert_eq!(h.step(&id, "lint").status, StepStatus::Succeeded);
    let run = h.engine.store().run(&id).unwrap().unwrap();
    assert!(run.reason.as_deref().unwrap().contains("build"), "{run:?}");
}

#[test]
fn a_false_when_skips_the_step_but_not_its_dependents() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: when
params:
  env: { default: staging }
steps:
  - id: prod_only
    run: echo prod
    when: params.env == "prod"
  - id: always
    run: echo always
    depends_on: [prod_only]
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    let skipped = h.step(&id, "prod_only");
    assert_eq!(skipped.status, StepStatus::Skipped);
    assert!(
        skipped.skip_reason.as_deref().unwrap().contains("when"),
        "{skipped:?}"
    );
    assert_eq!(h.step(&id, "always").status, StepStatus::Succeeded);
}

#[test]
fn http_steps_send_the_request_and_parse_the_answer() {
    let server = http_server::serve(|method, path, body| match (method, path) {
        ("GET", "/status") => (200, r#"{"healthy": true, "version": "2.0"}"#.into()),
        ("POST", "/deploy") => (201, format!(r#"{{"received": {body}}}"#)),
        _ => (404, r#"{"error": "no such thing"}"#.into()),
    });
    let h = Harness::new();
    let yaml = format!(
        r#"
name: http
steps:
  - id: status
    http: {{ url: "{base}/status" }}
  - id: deploy
    http:
      method: POST
      url: "{base}/deploy"
      headers: {{ x-version: "{{{{ steps.status.output.version }}}}" }}
      body: {{ version: "{{{{ steps.status.output.version }}}}" }}
      expect: [201]
    depends_on: [status]
  - id: missing
    http: {{ url: "{base}/nope" }}
"#,
        base = server.base
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    assert_eq!(
        h.output(&id, "status"),
        json!({"healthy": true, "version": "2.0"})
    );
    assert_eq!(
        h.output(&id, "deploy"),
        json!({"received": {"version": "2.0"}})
    );
    let missing = h.step(&id, "missing");
    assert_eq!(missing.status, StepStatus::Failed);
    assert!(
        missing.error.as_deref().unwrap().contains("answered 404"),
        "{missing:?}"
    );
    let seen = server.seen.lock().unwrap();
    let post = seen.iter().find(|s| s.method == "POST").unwrap();
    assert!(post.headers.contains(&("x-version".into(), "2.0".into())));
}

#[test]
fn transform_and_sleep_steps_produce_values() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: transform
params:
  n: { default: 3 }
steps:
  - id: pause
    sleep: 20ms
  - id: doubled
    transform: { expr: "params.n * 2" }
    depends_on: [pause]
  - id: summary
    transform: '{"total": {{ steps.doubled.output + 1 }}}'
    depends_on: [doubled]
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.output(&id, "doubled"), json!(6));
    assert_eq!(h.output(&id, "summary"), json!({"total": 7}));
}

/// The ends of a wide fan-out of transforms are written in batches, on the runtime `baton
/// run` uses: a step's message wakes the run's driver at once, and the driver lets the steps
/// ready to run report before it writes. Without that (session 23's build) each of 1,000
/// steps was a commit and a flush of its own, and a 5,000-wide fan-out took half as long
/// again; with it, a few dozen commits.
#[test]
fn a_wide_fan_out_of_transforms_is_written_in_batches() {
    const STEPS: u64 = 1000;
    let h = Harness::as_the_cli();
    let mut yaml = format!("name: fan\nconcurrency: {STEPS}\nsteps:\n");
    for i in 0..STEPS {
        yaml.push_str(&format!(
            "  - id: s{i}\n    transform: {{ expr: \"{i} * 2\" }}\n"
        ));
    }
    let before = h.engine.store().write_counts();
    let id = h.start(&yaml);
    assert_eq!(h.wait(&id), RunState::Succeeded);
    let after = h.engine.store().write_counts();
    let commits = after.journal_commits - before.journal_commits;
    eprintln!(
        "{STEPS} steps: {commits} commits, {} flushes",
        after.flushes - before.flushes
    );
    assert_eq!(h.output(&id, "s999"), json!(1998));
    assert!(
        commits <= STEPS / 10,
        "{commits} writes for {STEPS} transforms that all ended at once: their ends are not \
         batched"
    );
}

/// Each step is handed only the results its templates read; one that reads `steps` as a
/// whole sees every finished step, and a `when:` sees what it reads.
#[test]
fn a_step_sees_the_results_it_reads_and_all_of_them_when_it_reads_steps_whole() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: reads
steps:
  - id: a
    transform: { expr: "1" }
  - id: b
    transform: { expr: "2" }
  - id: only-b
    transform: { expr: "steps.b.output * 10" }
    depends_on: [a, b]
  - id: whole
    transform: { expr: "steps | length" }
    depends_on: [a, b, only-b]
  - id: gated
    transform: { expr: "'ran'" }
    when: "steps.whole.output == 3"
    depends_on: [whole]
"#,
    );
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.output(&id, "only-b"), json!(20));
    assert_eq!(h.output(&id, "whole"), json!(3));
    assert_eq!(h.output(&id, "gated"), json!("ran"));
}

#[test]
fn an_agent_step_without_providers_fails_with_a_hint() {
    let h = Harness::new();
    let (id, state) = h.run_to_end(
        r#"
name: unsupported
steps:
  - id: ask
    agent: writer
    prompt: Write a haiku
"#,
    );
    assert_eq!(state, RunState::Failed);
    let rec = h.step(&id, "ask");
    let error = rec.error.as_deref().unwrap();
    assert!(error.contains("cannot call a model"), "{rec:?}");
    assert!(error.contains("OPENAI_API_KEY"), "{rec:?}");
}

#[test]
fn a_cached_step_runs_once_across_runs_and_its_result_is_reused() {
    let h = Harness::new();
    let marker = h.path("ran");
    let yaml = format!(
        r#"
name: cached
steps:
  - id: build
    run: echo once >> {}; echo b-1
    cache: {{ ttl: 1h }}
  - id: use
    run: echo "{{{{ steps.build.output }}}}-used"
    depends_on: [build]
"#,
        marker.display()
    );
    let (first, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.step(&first, "build").status, StepStatus::Succeeded);
    let (second, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(h.step(&second, "build").status, StepStatus::Cached);
    assert_eq!(h.output(&second, "build"), json!("b-1"));
    assert_eq!(h.output(&second, "use"), json!("b-1-used"));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "once\n");
    let logs = h.logs(&second, "build");
    assert!(
        logs.iter()
            .any(|l| l.contains(&format!("stored by run {first}"))),
        "{logs:?}"
    );
}

/// Starts from many threads in the same second draw run ids from one clock second: every start
/// must get a run of its own, none overwriting another (ids are claimed atomically, a taken
/// one drawn again).
#[test]
fn concurrent_starts_each_get_a_run_of_their_own() {
    let h = Harness::new();
    const STARTS: usize = 400;
    let ids: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let h = &h;
                s.spawn(move || {
                    (0..STARTS / 8)
                        .map(|i| {
                            h.start(&format!(
                                "name: w{w}-{i}\nsteps:\n  - id: a\n    transform: {{ expr: \"{i}\" }}\n"
                            ))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), STARTS, "every start has its own id");
    for id in &ids {
        assert_eq!(h.wait(id), RunState::Succeeded, "run {id}");
    }
    let names: std::collections::HashSet<String> = h
        .engine
        .runs()
        .unwrap()
        .into_iter()
        .map(|r| r.workflow)
        .collect();
    assert_eq!(names.len(), STARTS, "no run was written over another");
}

/// A run that cannot write a line (transforms only) creates no log file; a run with a shell
/// step has its file before the step starts, even when the step prints nothing.
#[test]
fn only_runs_that_can_log_create_a_log_file() {
    let h = Harness::new();
    let file = |id: &baton::store::RunId| h.path("store").join("logs").join(format!("{id}.chunks"));
    let (quiet, state) =
        h.run_to_end("name: quiet\nsteps:\n  - id: a\n    transform: { expr: \"1\" }\n");
    assert_eq!(state, RunState::Succeeded);
    assert!(!file(&quiet).exists(), "no file for a run with no lines");
    let (silent, state) = h.run_to_end("name: silent\nsteps:\n  - id: a\n    run: \"true\"\n");
    assert_eq!(state, RunState::Succeeded);
    assert!(
        file(&silent).exists(),
        "a shell step's run opens its file before the step"
    );
}
