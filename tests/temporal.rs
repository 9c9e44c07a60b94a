//! Runs on Temporal, end to end: a real dev server on 127.0.0.1 (from the venv of
//! `tests/temporal-dev.sh`), real `baton worker` processes, and `baton` commands from other
//! processes. Built with `--features temporal`.
#![cfg(feature = "temporal")]

#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;
#[path = "support/pty.rs"]
mod pty;
#[path = "support/temporal.rs"]
mod temporal_support;

use bin::text;
use harness::eventually;
use serde_json::Value;
use temporal_support::{Cluster, PATIENCE};

/// The run id `baton run --temporal` printed (`run tYYYYMMDD-…`).
fn run_id(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with('t') && w.len() > 10 && w.contains('-'))
        .unwrap_or_else(|| panic!("no run id in:\n{out}"))
        .to_string()
}

/// `baton show RUN --json`.
fn show(c: &Cluster, run: &str) -> Value {
    let out = c.baton().args(["show", "--json", run]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `baton show RUN --json`, or None while the run cannot say yet.
fn try_show(c: &Cluster, run: &str) -> Option<Value> {
    let out = c.baton().args(["show", "--json", run]).output().ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// A step's output as `show --json` gives it.
fn output(shown: &Value, step: &str) -> Value {
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["record"]["step"] == step)
        .map(|s| s["output"].clone())
        .unwrap_or(Value::Null)
}

/// `baton run --temporal WF` to its end, which must be a success: the run id and `show --json`.
fn run_to_success(c: &Cluster, wf: &std::path::Path) -> (String, Value) {
    let out = c
        .baton()
        .args(["run", "--temporal"])
        .arg(wf)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let run = run_id(&said);
    let shown = show(c, &run);
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    (run, shown)
}

#[test]
fn a_run_spreads_its_steps_over_two_queues_and_succeeds() {
    let mut c = Cluster::start();
    let first = c.add_worker(&["baton", "alpha"]);
    let second = c.add_worker(&["baton", "beta"]);
    let wf = c.workflow(
        "two.yaml",
        r#"
name: two-queues
steps:
  - id: a
    queue: alpha
    run: echo "a on $PPID"
  - id: b
    queue: beta
    depends_on: [a]
    env:
      A: "{{ steps.a.output }}"
    run: echo "b on $PPID after $A"
"#,
    );
    let (run, shown) = run_to_success(&c, &wf);
    let a = format!("a on {}", c.workers[first].pid());
    assert_eq!(output(&shown, "a"), Value::String(a.clone()));
    let b = format!("b on {} after {a}", c.workers[second].pid());
    assert_eq!(output(&shown, "b"), Value::String(b));
    // The server's own CLI lists it.
    let listed = c.server.cli(&["workflow", "list"]);
    assert!(text(&listed).contains(&run), "{}", text(&listed));
    // And `baton ls` lists it beside local runs.
    let ls = c.baton().arg("ls").output().unwrap();
    assert!(text(&ls).contains(&run), "{}", text(&ls));
    c.record_history(&run, "two-queues");
}

#[test]
fn a_killed_worker_s_step_runs_again_on_the_other_worker_of_its_queue() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    c.add_worker(&["baton"]);
    let marks = c.path("marks");
    let go = c.path("go");
    let wf = c.workflow(
        "kill.yaml",
        &format!(
            r#"
name: survive
steps:
  - id: slow
    run: |
      echo "$PPID $$" >> {marks}
      while [ ! -e {go} ]; do sleep 0.1; done
      echo "done on $PPID"
"#,
            marks = marks.display(),
            go = go.display()
        ),
    );
    let run = c
        .baton()
        .args(["run", "--temporal"])
        .arg(&wf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let read_marks = || -> Vec<(u32, i32)> {
        std::fs::read_to_string(&marks)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (w, g) = l.split_once(' ')?;
                Some((w.parse().ok()?, g.parse().ok()?))
            })
            .collect()
    };
    eventually(PATIENCE, "the step to start", || read_marks().len() == 1);
    let (victim, group) = read_marks()[0];
    let index = c.workers.iter().position(|w| w.pid() == victim);
    let index = index.expect("the step runs under one of the two workers");
    // SIGKILL: no goodbye to the server; only the missed heartbeats tell.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    let _ = c.workers[index].child.wait();
    // The dead worker's process group is an orphan now: stop it, as a host's reboot would.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    eventually(PATIENCE, "the step to start again", || {
        read_marks().len() == 2
    });
    let survivor = c.workers[1 - index].pid();
    assert_eq!(read_marks()[1].0, survivor, "{:?}", read_marks());
    std::fs::write(&go, "").unwrap();
    let out = run.wait_with_output().unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let shown = show(&c, &run_id(&said));
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    let done = format!("done on {survivor}");
    assert_eq!(output(&shown, "slow"), Value::String(done));
    c.record_history(&run_id(&said), "worker-killed");
}

/// The state letter of process `pid` (`R`, `S`, `T`, …) from /proc, or None when it is gone.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Whether any process is left in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    // Signal 0 checks existence; a zombie reaped by the worker is gone.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// `baton run --temporal FILE` in the background, its output collected.
fn spawn_run(c: &Cluster, wf: &std::path::Path) -> std::process::Child {
    c.baton()
        .args(["run", "--temporal"])
        .arg(wf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The run id of the newest Temporal run `baton ls --json` lists.
fn newest_run(c: &Cluster) -> Option<String> {
    let out = c.baton().args(["ls", "--json"]).output().ok()?;
    let rows: Value = serde_json::from_slice(&out.stdout).ok()?;
    rows.as_array()?
        .iter()
        .filter_map(|r| r["id"].as_str())
        .find(|id| id.starts_with('t'))
        .map(str::to_string)
}

#[test]
fn a_gate_is_approved_with_baton_approve_from_a_third_process() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    c.add_worker(&["baton"]);
    let wf = c.workflow(
        "gate.yaml",
        r#"
name: gated
steps:
  - id: build
    run: echo built
  - id: ship
    depends_on: [build]
    approve: true
    env:
      BUILT: "{{ steps.build.output }}"
    run: echo "shipped $BUILT"
"#,
    );
    let run = spawn_run(&c, &wf);
    let mut id = None;
    eventually(PATIENCE, "the gate to wait", || {
        id = id.clone().or_else(|| newest_run(&c));
        let shown = id.as_ref().and_then(|id| try_show(&c, id));
        shown.is_some_and(|s| s["approvals"].as_array().is_some_and(|a| !a.is_empty()))
    });
    let id = id.unwrap();
    let out = c
        .baton()
        .args(["approve", &id, "ship", "-m", "looks right"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = show(&c, &id);
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    assert_eq!(
        output(&shown, "ship"),
        Value::String("shipped built".into())
    );
    let decision = &shown["approvals"][0]["decision"];
    assert_eq!(decision["approved"], true, "{shown}");
    assert_eq!(decision["comment"], "looks right", "{shown}");
    let me = baton::identity::Operator::current().name;
    assert_eq!(decision["by"], me, "{shown}");
    c.record_history(&id, "gate");
    // The Update is in the server's history, with who decided.
    let history = c.server.cli(&["workflow", "show", "--workflow-id", &id]);
    assert!(
        text(&history).contains("WorkflowExecutionUpdate"),
        "{}",
        text(&history)
    );
}

#[test]
fn pause_stops_the_step_s_processes_on_its_worker_and_resume_continues_them() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    let pids = c.path("pids");
    let go = c.path("go");
    let wf = c.workflow(
        "pause.yaml",
        &format!(
            r#"
name: pausable
steps:
  - id: spin
    run: |
      echo $$ > {pids}
      while [ ! -e {go} ]; do sleep 0.1; done
"#,
            pids = pids.display(),
            go = go.display()
        ),
    );
    let run = spawn_run(&c, &wf);
    let group = || -> Option<i32> { std::fs::read_to_string(&pids).ok()?.trim().parse().ok() };
    eventually(PATIENCE, "the step to start", || group().is_some());
    let pgid = group().unwrap();
    let id = newest_run(&c).expect("the run is listed");
    let out = c.baton().args(["pause", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    eventually(PATIENCE, "the step's shell to stop (state T)", || {
        process_state(pgid) == Some('T')
    });
    let shown = show(&c, &id);
    assert_eq!(shown["run"]["state"], "paused", "{shown}");
    let out = c.baton().args(["resume", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    eventually(PATIENCE, "the step's shell to run again", || {
        process_state(pgid).is_some_and(|s| s != 'T')
    });
    std::fs::write(&go, "").unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    c.record_history(&id, "pause");
}

#[test]
fn cancel_stops_the_run_and_leaves_no_process() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    let pids = c.path("pids");
    let wf = c.workflow(
        "cancel.yaml",
        &format!(
            r#"
name: cancellable
steps:
  - id: forever
    run: |
      trap '' TERM
      echo $$ > {pids}
      sleep 1000 &
      wait
"#,
            pids = pids.display()
        ),
    );
    let run = spawn_run(&c, &wf);
    let group = || -> Option<i32> { std::fs::read_to_string(&pids).ok()?.trim().parse().ok() };
    eventually(PATIENCE, "the step to start", || group().is_some());
    let pgid = group().unwrap();
    assert!(group_alive(pgid));
    let id = newest_run(&c).expect("the run is listed");
    let out = c.baton().args(["cancel", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = run.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    // A shell that ignores SIGTERM gets SIGKILL after the grace: nothing of the group is left.
    eventually(PATIENCE, "the step's process group to be gone", || {
        !group_alive(pgid)
    });
    let shown = show(&c, &id);
    assert_eq!(shown["run"]["state"], "cancelled", "{shown}");
    let listed = c
        .server
        .cli(&["workflow", "describe", "--workflow-id", &id]);
    assert!(
        text(&listed).to_lowercase().contains("cancel"),
        "{}",
        text(&listed)
    );
    c.record_history(&id, "cancel");
}

/// CPU time (user + system, in clock ticks) process `pid` has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command: state is field 3, utime 14 and stime 15 (1-based).
    let at = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    at(14) + at(15)
}

/// CPU time of the children this process has waited for, in milliseconds.
fn children_cpu_ms() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// The benchmark of the README: 200 short steps at once, on the local engine and on Temporal
/// with two workers, in one sitting. Prints figures; asserts only that both runs succeed.
/// `cargo test --release --features temporal --test temporal fan_out -- --ignored --nocapture`
#[test]
#[ignore]
fn fan_out_of_200_short_steps_local_and_on_temporal() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    c.add_worker(&["baton"]);
    let mut yaml = String::from("name: fan-out\nconcurrency: 200\nsteps:\n");
    for i in 0..200 {
        yaml.push_str(&format!("  - id: s{i}\n    run: echo {i}\n"));
    }
    let wf = c.workflow("fan.yaml", &yaml);
    let tick_ms = 1000 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;

    let local_data = c.path("local-store");
    let before = children_cpu_ms();
    let started = std::time::Instant::now();
    let out = c
        .baton()
        .arg("--data-dir")
        .arg(&local_data)
        .args(["run", "--quiet"])
        .arg(&wf)
        .output()
        .unwrap();
    let local_wall = started.elapsed();
    let local_cpu = children_cpu_ms() - before;
    assert!(out.status.success(), "{}", text(&out));

    let pids: Vec<u32> = c.workers.iter().map(|w| w.pid()).collect();
    let server = c.server_pid();
    let ticks = |pids: &[u32]| pids.iter().map(|p| cpu_ticks(*p)).sum::<u64>();
    let (w0, s0, b0) = (ticks(&pids), cpu_ticks(server), children_cpu_ms());
    let started = std::time::Instant::now();
    let out = c
        .baton()
        .args(["run", "--temporal"])
        .arg(&wf)
        .output()
        .unwrap();
    let temporal_wall = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let workers_cpu = (ticks(&pids) - w0) * tick_ms;
    let server_cpu = (cpu_ticks(server) - s0) * tick_ms;
    let client_cpu = children_cpu_ms() - b0;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("200-step fan-out (load average {})", load.trim());
    println!("  local engine : wall {local_wall:?}, cpu {local_cpu} ms (baton run and its steps)");
    println!(
        "  Temporal     : wall {temporal_wall:?}, cpu {} ms (workers {workers_cpu} ms with their \
         steps, dev server {server_cpu} ms, client {client_cpu} ms)",
        workers_cpu + server_cpu + client_cpu
    );
    println!(
        "  ratio        : wall {:.1}x, cpu {:.1}x",
        temporal_wall.as_secs_f64() / local_wall.as_secs_f64(),
        (workers_cpu + server_cpu + client_cpu) as f64 / local_cpu.max(1) as f64
    );
}

/// `baton run --temporal --approve-all` decides each gate as it opens (recorded as the OS
/// user, "approved with --approve-all"), and an approval step's output is its inputs as the
/// gate showed them, as on the local engine.
#[test]
fn approve_all_decides_the_gates_and_an_approval_step_yields_its_inputs() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    let wf = c.workflow(
        "approve-all.yaml",
        r#"
name: approve-all
steps:
  - id: gate
    approval:
      prompt: Say hello?
      inputs:
        name: { default: world }
  - id: greet
    depends_on: [gate]
    run: echo "hello {{ steps.gate.output.name }}"
"#,
    );
    let out = c
        .baton()
        .args(["run", "--temporal", "--approve-all"])
        .arg(&wf)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("gate `gate`: Say hello? approved by"),
        "{said}"
    );
    let id = run_id(&said);
    let shown = show(&c, &id);
    assert_eq!(output(&shown, "gate"), serde_json::json!({"name": "world"}));
    let logs = c.baton().args(["logs", &id, "greet"]).output().unwrap();
    assert!(text(&logs).contains("hello world"), "{}", text(&logs));
    let approvals = shown["approvals"].to_string();
    assert!(
        approvals.contains("approved with --approve-all"),
        "{approvals}"
    );
}

/// A `for_each:` over a list a previous step printed (evaluated on a worker, never in the
/// workflow code): its items run as activities on the queue's workers, an item that fails is
/// tried again by the step's retry policy, the step's output is the items' outputs in order,
/// and each item's log is read by its key (`fan[1]`).
#[test]
fn a_fan_out_runs_its_items_as_activities_and_retries_a_failed_item() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    c.add_worker(&["baton"]);
    let tried = c.path("b-tried");
    let wf = c.workflow(
        "fan.yaml",
        &format!(
            r#"
name: fan-out
steps:
  - id: list
    run: echo '["a", "b", "c", "d"]'
  - id: fan
    depends_on: [list]
    for_each: "{{{{ steps.list.stdout }}}}"
    max_parallel: 2
    retry: {{ max_attempts: 2, initial: 10ms, jitter: false }}
    run: |
      if [ "{{{{ item }}}}" = b ] && [ ! -e {tried} ]; then
        touch {tried}; echo "b fails once"; exit 3
      fi
      echo "{{{{ item_index }}}}:{{{{ item }}}} on $PPID"
  - id: after
    depends_on: [fan]
    run: echo "{{{{ steps.fan.output | length }}}} items"
"#,
            tried = tried.display()
        ),
    );
    let (run, shown) = run_to_success(&c, &wf);
    let items = output(&shown, "fan");
    let items: Vec<&str> = items
        .as_array()
        .unwrap_or_else(|| panic!("a list: {items}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect();
    assert_eq!(items.len(), 4, "{items:?}");
    let workers: Vec<u32> = c.workers.iter().map(|w| w.pid()).collect();
    for (i, (got, name)) in items.iter().zip(["a", "b", "c", "d"]).enumerate() {
        let (head, pid) = got.split_once(" on ").unwrap_or_else(|| panic!("{got}"));
        assert_eq!(head, format!("{i}:{name}"));
        assert!(workers.contains(&pid.parse().unwrap()), "{got} {workers:?}");
    }
    assert_eq!(output(&shown, "after"), Value::String("4 items".into()));
    let record = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["record"]["step"] == "fan")
        .map(|s| s["record"].clone())
        .unwrap();
    let b = &record["items"][1];
    assert_eq!(b["status"], "succeeded", "{record}");
    assert_eq!(b["attempt"], 2, "{record}");
    let logs = c.baton().args(["logs", &run, "fan[1]"]).output().unwrap();
    let logs = text(&logs);
    assert!(logs.contains("b fails once"), "{logs}");
    assert!(logs.contains("1:b on"), "{logs}");
    c.record_history(&run, "fan-out");
}

/// The console, opened with `[temporal]` configured, lists a Temporal run beside the local
/// ones, announces its gate, and approves it with the same keys as a local gate: the decision
/// is an Update recorded with the console's OS user, the run goes on on its worker, and the
/// console sees it end (it reads Temporal runs again every few seconds).
#[test]
fn the_console_lists_a_temporal_run_and_approves_its_gate() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    let wf = c.workflow(
        "ship.yaml",
        r#"
name: ship-it
steps:
  - id: build
    run: echo built
  - id: gate
    depends_on: [build]
    approval:
      prompt: Ship the build?
  - id: ship
    depends_on: [gate]
    run: echo shipped
"#,
    );
    let out = c
        .baton()
        .args(["run", "--temporal", "--detach"])
        .arg(&wf)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let run = run_id(&said);

    let mut cmd = portable_pty::CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
    cmd.env("BATON_HOME", c.path(""));
    cmd.env("BATON_CONFIG_DIR", c.path("config"));
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    cmd.cwd(c.path(""));
    let mut console = pty::Pty::spawn(cmd, 160, 40).expect("a pty");
    console
        .wait_for(
            &format!("ship-it {run} / gate waits for approval"),
            PATIENCE,
        )
        .expect("the Temporal run's gate announced");
    console.send("a").expect("typing");
    console
        // Its choices row says `esc  later` only once its guard has let go (waiting for the
        // guard's hint to go could match a frame drawn halfway).
        .wait_until("the prompt taking keys", PATIENCE, |s| {
            s.contains("Ship the build?") && s.contains("esc  later")
        })
        .expect("the prompt, its guard let go");
    console.send("A").expect("typing");
    console
        .wait_for(&format!("approved {run}/gate"), PATIENCE)
        .expect("the decision");
    eventually(PATIENCE, "the run to succeed", || {
        try_show(&c, &run).is_some_and(|s| s["run"]["state"] == "succeeded")
    });
    let shown = show(&c, &run);
    let decision = &shown["approvals"][0]["decision"];
    let me = baton::identity::Operator::current();
    assert_eq!(decision["by"], me.name.as_str(), "{decision}");
    assert_eq!(decision["approved"], true, "{decision}");
    assert_eq!(output(&shown, "ship"), Value::String("shipped".into()));
    // The console reads it again and sees it end: nothing is active, so `q` quits at once.
    console
        .wait_until("the run shown as ended", PATIENCE, |s| {
            !s.contains("waits for approval") && s.contains("succeeded")
        })
        .expect("the run's end on the screen");
    console.send("q").expect("typing");
    assert!(console.wait_exit(PATIENCE).expect("an exit"));
    assert!(!console.alternate_screen(), "the main screen is back");
}

/// A `workflow:` step on Temporal: a worker reads the child file and renders its params, the
/// child runs as a child workflow `PARENT.STEP` (listed by the server, read with `baton show`),
/// its `outputs:` become the step's output, and the parent's next step reads them.
#[test]
fn a_workflow_step_runs_its_child_as_a_child_workflow_and_takes_its_outputs() {
    let mut c = Cluster::start();
    c.add_worker(&["baton"]);
    c.workflow(
        "greet.yaml",
        r#"
name: greet
params:
  who: { default: nobody }
outputs:
  greeting: "{{ steps.hello.output }}"
steps:
  - id: hello
    run: echo "hello {{ params.who }}"
"#,
    );
    let wf = c.workflow(
        "parent.yaml",
        r#"
name: parent
steps:
  - id: name
    run: echo ann
  - id: sub
    depends_on: [name]
    workflow:
      path: greet.yaml
      params:
        who: "{{ steps.name.output }}"
  - id: after
    depends_on: [sub]
    run: echo "child said {{ steps.sub.output.greeting }}"
"#,
    );
    let (run, shown) = run_to_success(&c, &wf);
    assert_eq!(
        output(&shown, "sub"),
        serde_json::json!({"greeting": "hello ann"})
    );
    assert_eq!(
        output(&shown, "after"),
        Value::String("child said hello ann".into())
    );
    let child = format!("{run}.sub");
    let shown_child = show(&c, &child);
    assert_eq!(shown_child["run"]["state"], "succeeded", "{shown_child}");
    assert_eq!(shown_child["run"]["parent"]["run"], run.as_str());
    let listed = text(&c.server.cli(&["workflow", "list"]));
    assert!(listed.contains(&child), "{listed}");
    c.record_history(&run, "sub-workflow");
}

/// `n` workers whose config names a fake provider on loopback (Anthropic family), its key only
/// in their environment (`KEY`).
fn workers_with_fake_provider(c: &mut Cluster, fake: &fake_llm::FakeLlm, n: usize) {
    let config = c.path("config/config.toml");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"fake\"\nkind = \"anthropic\"\nbase_url = \"{}\"\nmodel = \"fake-model\"\n",
        fake.url()
    ));
    std::fs::write(&config, toml).unwrap();
    for _ in 0..n {
        c.add_worker_with(&["baton"], &[("ANTHROPIC_API_KEY", KEY)]);
    }
}

/// The fake provider's key, which only the workers have.
const KEY: &str = "sk-ant-t3mp0ral";

/// A model turn that calls the `shell` tool with `command`.
fn shell_call(command: String) -> fake_llm::Reply {
    fake_llm::Reply::Calls {
        text: String::new(),
        calls: vec![("shell".into(), serde_json::json!({ "command": command }))],
    }
}

/// An agent step on Temporal: the agent loop runs on a worker with the worker's providers (a
/// fake one on loopback here, its key only in the worker's environment); its risky `shell`
/// call opens the step's gate in the run, `baton approve` from another process decides it (an
/// Update), the call runs once, and the answer is the step's output. Each turn is journaled in
/// the run's history, masked.
#[test]
fn an_agent_step_runs_on_a_worker_and_its_risky_call_is_approved_with_baton_approve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(fake_llm::FakeLlm::start());
    let mut c = Cluster::start();
    let marks = c.path("checked.txt");
    // The call prints the worker's own key: it is masked wherever it goes.
    let command = format!(
        "echo checked >> {}; echo \"key=$ANTHROPIC_API_KEY\"",
        marks.display()
    );
    fake.push(shell_call(command));
    fake.push(fake_llm::Reply::Text("The disk is fine.".into()));
    workers_with_fake_provider(&mut c, &fake, 1);
    let wf = c.workflow(
        "triage.yaml",
        "name: triage\nsteps:\n  - id: look\n    agent: devops\n    prompt: Check the disk.\n    tools: [shell]\n  - id: leak\n    depends_on: [look]\n    run: echo \"key=$ANTHROPIC_API_KEY\"\n",
    );
    let run = spawn_run(&c, &wf);
    let mut id = None;
    eventually(PATIENCE, "the call's gate to open", || {
        id = id.clone().or_else(|| newest_run(&c));
        id.as_ref()
            .and_then(|id| try_show(&c, id))
            .is_some_and(|s| {
                s["approvals"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|g| g["tool"] == "shell" && g["decision"].is_null())
                })
            })
    });
    let id = id.unwrap();
    assert!(!marks.exists(), "the call waits for its decision");
    let out = c.baton().args(["approve", &id, "look"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = show(&c, &id);
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    assert_eq!(
        output(&shown, "look"),
        Value::String("The disk is fine.".into())
    );
    assert_eq!(std::fs::read_to_string(&marks).unwrap(), "checked\n");
    // A step that prints the worker's own key shows it masked, as a local run does.
    let logs = text(&c.baton().args(["logs", &id, "leak"]).output().unwrap());
    assert!(logs.contains("key=***"), "{logs}");
    assert_eq!(output(&shown, "leak"), Value::String("key=***".into()));
    let record = &shown["steps"][0]["record"];
    assert_eq!(record["metrics"]["provider"], "fake", "{record}");
    assert!(
        record["metrics"]["tokens_in"].as_u64().unwrap_or(0) > 0,
        "{record}"
    );
    let gate = &shown["approvals"][0];
    let me = baton::identity::Operator::current();
    assert_eq!(gate["decision"]["by"], me.name.as_str(), "{gate}");
    assert!(
        gate["action"]
            .as_str()
            .unwrap_or_default()
            .contains("echo checked"),
        "{gate}"
    );
    // The model saw the call's result.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "two turns");
    let told = requests[1].body.to_string();
    assert!(told.contains("key="), "the call's result: {told}");
    // Nothing of the worker's key is in the run's history: not in the journaled turns, not
    // in the step's log.
    let history =
        text(
            &c.server
                .cli(&["workflow", "show", "--workflow-id", &id, "--output", "json"]),
        );
    assert!(
        history.contains("agent_entry"),
        "the turns are journaled: {history}"
    );
    assert!(!history.contains(KEY));
    c.record_history(&id, "agent");
}

/// A worker killed while its agent step waits for the model: the step runs again on the other
/// worker, goes on from the turns journaled in the run, and the call that completed before the
/// kill does not run twice.
#[test]
fn a_killed_worker_s_agent_step_goes_on_elsewhere_without_running_a_done_call_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(fake_llm::FakeLlm::start());
    let mut c = Cluster::start();
    let marks = c.path("ran.txt");
    fake.push(shell_call(format!("echo $PPID >> {}", marks.display())));
    // The next answer never ends on the worker that asked for it.
    fake.push(fake_llm::Reply::Held {
        before: "The disk".into(),
        gate: fake_llm::Gate::new(),
        after: " is fine.".into(),
    });
    fake.push(fake_llm::Reply::Text("The disk is fine.".into()));
    workers_with_fake_provider(&mut c, &fake, 2);
    let wf = c.workflow(
        "triage.yaml",
        "name: triage\nsteps:\n  - id: look\n    agent: devops\n    prompt: Check the disk.\n    tools: [{name: shell, approve: false}]\n",
    );
    let run = spawn_run(&c, &wf);
    let ran = || -> Vec<u32> {
        std::fs::read_to_string(&marks)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    eventually(
        PATIENCE,
        "the call to run and the model to be asked again",
        || ran().len() == 1 && fake.hits() == 2,
    );
    let victim = ran()[0];
    let index = c.workers.iter().position(|w| w.pid() == victim);
    let index = index.expect("the call ran under one of the two workers");
    // SIGKILL: only the missed heartbeats tell the server.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    let _ = c.workers[index].child.wait();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let id = newest_run(&c).expect("the run");
    let shown = show(&c, &id);
    assert_eq!(
        output(&shown, "look"),
        Value::String("The disk is fine.".into())
    );
    assert_eq!(ran(), [victim], "the call that completed did not run again");
    assert_eq!(fake.hits(), 3);
    // The third request carried the first turn's call and its result, from the journal.
    let body = fake.requests()[2].body.to_string();
    assert!(body.contains("echo $PPID"), "{body}");
}
