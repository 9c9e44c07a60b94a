//! The real `baton` binary in a pseudo-terminal, over a real store in a temp dir: start a gated
//! run from the Workflows view, open its announced gate with `a` and approve it with `A`; type
//! `y` in its log while the gate arrives and find the gate still waiting; start a long run, pause it with `space`
//! (the screen, the frozen process and the store agree), resume it, cancel it with `c`; quit
//! with `q` and find the terminal restored. Also: an idle console uses (almost) no CPU, and a
//! terminal that hangs up ends the console with its runs left interrupted.
//!
//! Every wait is "until the screen says so", with a generous limit: nothing here depends on how
//! fast the machine is. Set `BATON_CONSOLE_CAPTURE=DIR` to keep text captures of the screens.

#[path = "support/pty.rs"]
mod pty;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use baton::store::{EventKind, RunId, RunState, StepStatus, Store};
use portable_pty::CommandBuilder;
use pty::Pty;
use serde_json::Value;

/// Long enough for a loaded 2-core machine building other things at the same time.
const WAIT: Duration = Duration::from_secs(90);

const GATED: &str = r#"name: gated
description: Build, wait for a human, ship
params:
  target: { default: staging, enum: [staging, prod], description: where to ship }
steps:
  - id: build
    run: for i in 1 2 3; do echo "building part $i"; sleep 0.3; done
  - id: gate
    approval:
      prompt: "Ship the build to {{ params.target }}?"
    depends_on: [build]
  - id: ship
    run: echo shipping to {{ params.target }}
    depends_on: [gate]
"#;

const LONG: &str = r#"name: long
description: Sleeps for half a minute
steps:
  - id: nap
    run: echo napping; sleep 30; echo woke
  - id: after
    run: echo after the nap
    depends_on: [nap]
"#;

const DOWN: &str = "\x1b[B";
const TAB: &str = "\t";
const CTRL_S: &str = "\x13";

/// A working directory with `workflows/`, a data dir and a config dir, all temporary.
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        let dir = tempfile::tempdir().expect("a temp dir");
        let workflows = dir.path().join("work/workflows");
        std::fs::create_dir_all(&workflows).expect("a workflows dir");
        std::fs::create_dir_all(dir.path().join("config")).expect("a config dir");
        std::fs::write(workflows.join("gated.yaml"), GATED).expect("a workflow file");
        std::fs::write(workflows.join("long.yaml"), LONG).expect("a workflow file");
        Place { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// `baton --data-dir DATA` in a 100×30 xterm, colours on.
    fn console(&self) -> Pty {
        self.console_in(CommandBuilder::new(env!("CARGO_BIN_EXE_baton")))
    }

    /// The console in a session of its own (`setsid`): the terminal is its input and output
    /// but not its controlling terminal, so a hang-up sends it no signal at all. A shell
    /// between them writes the console's exit code to `exit-code` in the temp dir.
    fn console_without_hang_up_signal(&self) -> Pty {
        let mut cmd = CommandBuilder::new("setsid");
        let script = format!(
            "\"$0\" \"$@\"; echo $? > '{}'",
            self.dir.path().join("exit-code").display()
        );
        cmd.args(["-w", "sh", "-c", &script, env!("CARGO_BIN_EXE_baton")]);
        self.console_in(cmd)
    }

    /// The exit code the console under [`Place::console_without_hang_up_signal`] left.
    fn exit_code_file(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("exit-code"))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn console_in(&self, mut cmd: CommandBuilder) -> Pty {
        cmd.arg("--data-dir");
        cmd.arg(self.data());
        cmd.cwd(self.work());
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.env("BATON_CONFIG_DIR", self.dir.path().join("config"));
        cmd.env("USER", "tester");
        Pty::spawn(cmd, 100, 30).expect("the console in a pty")
    }

    /// Runs a headless `baton` command on the same store; its stdout.
    fn baton(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("--data-dir")
            .arg(self.data())
            .args(args)
            .env("BATON_CONFIG_DIR", self.dir.path().join("config"))
            .current_dir(self.work())
            .output()
            .expect("baton runs");
        assert!(
            out.status.success(),
            "baton {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The id of the (only) run of `workflow`, from `baton ls --json`.
    fn run_of(&self, workflow: &str) -> String {
        let runs: Value = serde_json::from_str(&self.baton(&["ls", "--json"])).expect("JSON");
        let ids: Vec<&str> = runs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["workflow"] == workflow)
            .filter_map(|r| r["id"].as_str())
            .collect();
        assert_eq!(ids.len(), 1, "one run of {workflow}: {runs}");
        ids[0].to_string()
    }
}

/// Keeps a text capture of the screen when `BATON_CONSOLE_CAPTURE` names a directory.
fn capture(pty: &Pty, name: &str) {
    if let Some(dir) = std::env::var_os("BATON_CONSOLE_CAPTURE") {
        let path = Path::new(&dir).join(format!("{name}.txt"));
        let _ = std::fs::write(path, pty.rows().join("\n") + "\n");
    }
}

/// Whether some process under the console runs `name` in state `state` (`T`: stopped).
fn child_in_state(console: u32, name: &str, state: impl Fn(char) -> bool) -> bool {
    pty::descendants(console)
        .iter()
        .any(|(_, s, n)| n == name && state(*s))
}

/// The pid of the `sleep` under the console, once there is one.
fn sleep_under(console: u32) -> u32 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some((pid, _, _)) = pty::descendants(console)
            .into_iter()
            .find(|(_, _, n)| n == "sleep")
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the step's sleep never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process is gone (or dead, waiting to be reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Waits until `pid` is gone.
fn wait_gone(pid: u32) {
    let deadline = std::time::Instant::now() + WAIT;
    while !gone(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The row of the step tree that shows `step`.
fn tree_row<'s>(screen: &'s str, step: &str) -> &'s str {
    screen
        .lines()
        .find(|l| l.starts_with('│') && l.contains(&format!(" {step} ")))
        .unwrap_or_default()
}

#[test]
fn operator_starts_approves_pauses_resumes_cancels_and_quits_in_the_real_console() {
    let place = Place::new();
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT)
        .expect("the empty runs view");
    assert!(
        pty.alternate_screen(),
        "the console uses the alternate screen"
    );
    assert!(pty.cursor_hidden(), "the console hides the cursor");

    // The gated workflow, from the Workflows view, through its params form.
    pty.send("n").expect("typing");
    pty.wait_for("Workflows (2)", WAIT)
        .expect("the workflows view");
    pty.wait_for("Build, wait for a human, ship", WAIT)
        .expect("the workflow's description");
    capture(&pty, "workflows");
    pty.send("\r").expect("typing");
    pty.wait_for("Start gated", WAIT).expect("the params form");
    pty.wait_for("where to ship", WAIT)
        .expect("the param's description");
    pty.send(CTRL_S).expect("typing");
    let screen = pty
        .wait_for("waits for approval", WAIT)
        .expect("the banner, when the run reaches its gate");
    assert!(screen.contains("gated · r"), "the run is open: {screen}");
    assert!(
        screen.contains("gate waits for approval: Ship the build to staging? — a to open"),
        "{screen}"
    );
    assert!(!screen.contains("Approval needed"), "{screen}");
    pty.wait_for("[build] building part 3", WAIT)
        .expect("the build step's output streamed into the log");
    capture(&pty, "banner");
    approve_with_a_then_capital_a(&mut pty);
    let screen = pty
        .wait_for("✓ succeeded", WAIT)
        .expect("the run finishes once approved");
    pty.wait_for("[ship] shipping to staging", WAIT)
        .expect("the step after the gate ran");
    capture(&pty, "succeeded");
    assert!(!screen.contains("Approval needed"), "{screen}");
    for step in ["build", "gate", "ship"] {
        assert!(tree_row(&screen, step).contains('✓'), "{step}: {screen}");
    }

    // The long workflow: pause, resume, cancel.
    pty.send("n").expect("typing");
    pty.wait_for("Workflows (2)", WAIT)
        .expect("the workflows view");
    pty.send(DOWN).expect("typing");
    pty.send("\r").expect("typing");
    pty.wait_for("Start long", WAIT).expect("the start form");
    pty.send("\r").expect("typing");
    pty.wait_for("[nap] napping", WAIT)
        .expect("the long step started");
    let console = pty.pid().expect("the console's pid");
    let sleep = sleep_under(console);
    capture(&pty, "run-detail");

    pty.send(" ").expect("typing");
    let screen = pty
        .wait_until("a paused run and step", WAIT, |s| {
            s.contains("‖ paused") && tree_row(s, "nap").contains('‖')
        })
        .expect("the pause on screen");
    assert!(screen.contains("long · r"), "{screen}");
    capture(&pty, "paused");
    let deadline = std::time::Instant::now() + WAIT;
    while !child_in_state(console, "sleep", |s| s == 'T') {
        assert!(
            std::time::Instant::now() < deadline,
            "the paused step's process was not stopped: {:?}",
            pty::descendants(console)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    pty.send(" ").expect("typing");
    pty.wait_until("a running run and step", WAIT, |s| {
        s.contains("● running") && !s.contains("‖ paused") && tree_row(s, "nap").contains('●')
    })
    .expect("the resume on screen");
    let deadline = std::time::Instant::now() + WAIT;
    while !child_in_state(console, "sleep", |s| s != 'T') {
        assert!(
            std::time::Instant::now() < deadline,
            "the resumed step's process is still stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    pty.send("c").expect("typing");
    pty.wait_for("Cancel run?", WAIT).expect("the confirmation");
    pty.send("\x1b").expect("typing");
    pty.wait_until("the confirmation gone", WAIT, |s| {
        !s.contains("Cancel run?")
    })
    .expect("esc keeps the run");
    pty.send("\x1b").expect("typing");
    pty.wait_for("Runs (2)", WAIT).expect("the runs view");
    capture(&pty, "runs");
    // The newest run, selected at the top of the list, is the long one.
    pty.send("c").expect("typing");
    pty.wait_for("Cancel run?", WAIT).expect("the confirmation");
    pty.send("y").expect("typing");
    pty.wait_until("the cancelled run in the list", WAIT, |s| {
        s.lines()
            .any(|l| l.contains("■ long") && l.contains("cancelled"))
    })
    .expect("the run cancelled");
    pty.send("\r").expect("typing");
    let screen = pty
        .wait_for("■ cancelled", WAIT)
        .expect("the cancelled run open");
    assert!(tree_row(&screen, "nap").contains('■'), "{screen}");
    wait_gone(sleep);

    // Quit; should a run still count as active, leave it interrupted.
    pty.send("q").expect("typing");
    let exited = loop {
        if let Some(code) = pty.exit_code() {
            break code;
        }
        if pty.screen().contains("still active") {
            pty.send("l").expect("typing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(pty.wait_exit(WAIT).expect("the console ends"));
    assert_eq!(exited, 0, "exit code");
    assert!(!pty.alternate_screen(), "the main screen is back");
    assert!(!pty.cursor_hidden(), "the cursor is shown again");

    // The store, read by the headless commands, agrees with what the screen showed.
    let gated = place.run_of("gated");
    let show: Value =
        serde_json::from_str(&place.baton(&["show", "--json", &gated])).expect("JSON");
    assert_eq!(show["run"]["state"], "succeeded", "{show}");
    assert_eq!(show["approvals"][0]["decision"]["approved"], true, "{show}");
    assert_eq!(show["approvals"][0]["prompt"], "Ship the build to staging?");
    let statuses: Vec<&str> = show["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["record"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["succeeded", "succeeded", "succeeded"], "{show}");

    let long = place.run_of("long");
    let show: Value = serde_json::from_str(&place.baton(&["show", "--json", &long])).expect("JSON");
    assert_eq!(show["run"]["state"], "cancelled", "{show}");

    // Its history: paused, running again, cancelled, in that order; the step paused with it.
    let store = Store::open(&place.data().join("store")).expect("the store, now free");
    let events = store.events(&RunId(long)).expect("the history");
    let states: Vec<RunState> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RunState { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    let paused = states.iter().position(|s| *s == RunState::Paused);
    let resumed = paused.and_then(|p| {
        states[p..]
            .iter()
            .position(|s| *s == RunState::Running)
            .map(|i| p + i)
    });
    let cancelled = states.iter().rposition(|s| *s == RunState::Cancelled);
    assert!(
        matches!((paused, resumed, cancelled), (Some(p), Some(r), Some(c)) if p < r && r < c),
        "{states:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            &e.kind,
            EventKind::Step { record } if record.step.0 == "nap" && record.status == StepStatus::Paused
        )),
        "the step was recorded paused"
    );
}

/// Opens the announced gate with `a`, waits until the prompt takes keys (its "keys ignored"
/// hint gone) and approves with `A`.
fn approve_with_a_then_capital_a(pty: &mut Pty) {
    pty.send("a").expect("typing");
    // The title and the question may reach the screen in different reads: wait for both.
    pty.wait_until(
        "the prompt, opened with `a`, with its question",
        WAIT,
        |s| s.contains("Approval needed") && s.contains("Ship the build to staging?"),
    )
    .expect("the prompt, opened with `a`");
    pty.wait_until("the prompt taking keys", WAIT, |s| {
        s.contains("Approval needed") && s.contains("esc  later")
    })
    .expect("the guard lets go and the screen says so");
    capture(pty, "approval");
    pty.send("A").expect("typing");
}

/// How many OSC 52 copies the console has written.
fn copies(raw: &[u8]) -> usize {
    raw.windows(5).filter(|w| w == b"\x1b]52;").count()
}

/// The issue's accident: `y` (copy) typed again and again in a log while a gate arrives. The
/// gate announces itself and waits; every `y` is a copy; then `a` and `A` approve it.
#[test]
fn y_typed_in_a_log_while_a_gate_arrives_leaves_the_gate_waiting() {
    let place = Place::new();
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("n").expect("typing");
    pty.wait_for("Build, wait for a human, ship", WAIT)
        .expect("the workflows view");
    pty.send("\r").expect("typing");
    pty.wait_for("Start gated", WAIT).expect("the params form");
    pty.send(CTRL_S).expect("typing");
    pty.wait_for("[build] building part 1", WAIT)
        .expect("the run open, its log streaming");
    pty.send(TAB).expect("typing");
    pty.wait_for("f follow", WAIT)
        .expect("the log pane focused");

    // Each `y` is typed once the previous one was seen to copy, until ten came after the gate.
    let mut after_gate = 0;
    let mut typed = 0;
    while after_gate < 10 {
        let before = copies(&pty.raw());
        pty.send("y").expect("typing");
        typed += 1;
        let screen = pty
            .wait_until_output("the `y` copied", WAIT, |raw, s| {
                copies(raw) > before || s.contains("Approval needed") || s.contains("approved")
            })
            .expect("each y does something");
        assert!(
            !screen.contains("Approval needed") && !screen.contains("approved"),
            "a `y` typed in the log reached a gate (after {typed} keys):\n{screen}"
        );
        if screen.contains("gate waits for approval") {
            after_gate += 1;
        }
        assert!(typed < 5_000, "the gate never arrived:\n{screen}");
    }
    let screen = pty.screen();
    capture(&pty, "typing-y-at-a-gate");
    assert!(
        screen.contains("gate waits for approval: Ship the build to staging? — a to open"),
        "the banner: {screen}"
    );

    let run = place.run_of("gated");
    let show: Value = serde_json::from_str(&place.baton(&["show", "--json", &run])).expect("JSON");
    assert_eq!(show["run"]["state"], "running", "{show}");
    assert_eq!(show["approvals"][0]["decision"], Value::Null, "{show}");
    let gate = show["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["record"]["step"] == "gate")
        .map(|s| s["record"]["status"].clone());
    assert_eq!(gate, Some(Value::from("waiting_approval")), "{show}");

    approve_with_a_then_capital_a(&mut pty);
    pty.wait_for("[ship] shipping to staging", WAIT)
        .expect("the step after the gate ran");
    let show: Value = serde_json::from_str(&place.baton(&["show", "--json", &run])).expect("JSON");
    assert_eq!(show["approvals"][0]["decision"]["approved"], true, "{show}");
}

#[test]
fn an_idle_console_uses_almost_no_cpu() {
    let place = Place::new();
    let pty = place.console();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    let pid = pty.pid().expect("the console's pid");
    // Let start-up work (store open, first frame) settle before measuring.
    std::thread::sleep(Duration::from_secs(1));
    let before = pty::cpu_ticks(pid).expect("CPU time");
    std::thread::sleep(Duration::from_secs(3));
    let after = pty::cpu_ticks(pid).expect("CPU time");
    // 3 s of wall time is 300 ticks at USER_HZ=100 per core; idle means next to none.
    assert!(
        after - before < 20,
        "the idle console used {} CPU ticks in 3 s",
        after - before
    );
}

#[test]
fn a_terminal_that_hangs_up_without_a_signal_ends_the_console_and_leaves_its_run_interrupted() {
    let place = Place::new();
    let mut pty = place.console_without_hang_up_signal();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("n").expect("typing");
    pty.wait_for("Workflows (2)", WAIT)
        .expect("the workflows view");
    pty.send(DOWN).expect("typing");
    pty.send("\r").expect("typing");
    pty.wait_for("Start long", WAIT).expect("the start form");
    pty.send("\r").expect("typing");
    pty.wait_for("[nap] napping", WAIT)
        .expect("the long step started");
    let setsid = pty.pid().expect("setsid's pid");
    let console = pty::descendants(setsid)
        .into_iter()
        .find(|(_, _, name)| name == "baton")
        .map(|(pid, _, _)| pid)
        .expect("the console under setsid and sh");
    let sleep = sleep_under(console);
    // Paused, nothing on screen ticks: no redraw would find the terminal gone.
    pty.send(" ").expect("typing");
    pty.wait_for("‖ paused", WAIT).expect("the pause");
    pty.hang_up();
    // No SIGHUP comes: the console must notice the dead terminal by itself.
    wait_gone(console);
    let deadline = std::time::Instant::now() + WAIT;
    while place.exit_code_file().is_none_or(|c| c.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "no exit code written");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        place.exit_code_file().as_deref(),
        Some("0"),
        "the console's exit code"
    );
    wait_gone(sleep);
    let long = place.run_of("long");
    let show: Value = serde_json::from_str(&place.baton(&["show", "--json", &long])).expect("JSON");
    assert_eq!(show["run"]["state"], "interrupted", "{show}");
}

/// A console opened while a headless `baton run` owns the store attaches to it: it shows the
/// run live, pauses and resumes it there, and quitting leaves the run running in its owner.
#[test]
fn a_console_attaches_to_a_headless_run_and_detaches_without_stopping_it() {
    let place = Place::new();
    let mut owner = Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("--data-dir")
        .arg(place.data())
        .args(["run", "workflows/long.yaml"])
        .env("BATON_CONFIG_DIR", place.dir.path().join("config"))
        .current_dir(place.work())
        .stdout(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("the headless owner");
    let socket = place.data().join("store").join("control.sock");
    let deadline = std::time::Instant::now() + WAIT;
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the owner never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut pty = place.console();
    // The runs come from the owner a moment after the first frame.
    let attached = format!("attached to baton process {}", owner.id());
    pty.wait_until("the note and the owner's run", WAIT, |s| {
        s.contains(&attached) && s.contains("long")
    })
    .expect("the console says whose engine it shows");
    pty.wait_for("running", WAIT)
        .expect("the owner's run, live");
    capture(&pty, "attached");

    // Paused from the console, in the owner: its `sleep` is stopped.
    pty.send(" ").expect("typing");
    pty.wait_for("paused", WAIT)
        .expect("the pause, as the owner reports it");
    let sleep = sleep_under(owner.id());
    let frozen = std::time::Instant::now() + WAIT;
    while !child_in_state(owner.id(), "sleep", |s| s == 'T') {
        assert!(
            std::time::Instant::now() < frozen,
            "the owner's sleep was not stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    pty.send(" ").expect("typing");
    pty.wait_until("the resume", WAIT, |s| !s.contains("paused"))
        .expect("resumed");

    // Quitting asks nothing: the run belongs to the owner and goes on there.
    pty.send("q").expect("typing");
    assert!(
        pty.wait_exit(WAIT).expect("the console exits"),
        "exit code 0"
    );
    assert!(
        pty.screen()
            .contains(&format!("detached from baton process {}", owner.id())),
        "{}",
        pty.screen()
    );
    assert!(
        owner.try_wait().expect("the owner").is_none(),
        "the owner runs on"
    );
    assert!(!gone(sleep), "its step runs on");
    let long = place.run_of("long");
    let show: Value = serde_json::from_str(&place.baton(&["show", "--json", &long])).expect("JSON");
    assert_eq!(show["run"]["state"], "running", "{show}");

    place.baton(&["cancel", &long]);
    assert_eq!(owner.wait().expect("the owner ends").code(), Some(3));
    wait_gone(sleep);
}

const BURST: &str = r#"name: burst
description: Two steps that print at once
steps:
  - id: a
    run: for i in 1 2 3 4 5; do echo "a says $i"; done
  - id: b
    run: for i in 1 2 3 4 5; do echo "b says $i"; done
"#;

#[test]
fn every_line_printed_just_after_a_run_starts_reaches_the_all_steps_view_50_times_of_50() {
    let place = Place::new();
    let workflows = place.work().join("workflows");
    for old in ["gated.yaml", "long.yaml"] {
        std::fs::remove_file(workflows.join(old)).expect("a workflow file removed");
    }
    std::fs::write(workflows.join("burst.yaml"), BURST).expect("a workflow file");
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT)
        .expect("the empty runs view");
    let lines: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|s| (1..=5).map(move |i| format!("[{s}] {s} says {i}")))
        .collect();
    for round in 1..=50 {
        pty.send("n").expect("typing");
        pty.wait_for("Two steps that print at once", WAIT)
            .expect("the workflows view");
        pty.send("\r").expect("typing");
        pty.wait_for("Start burst", WAIT).expect("the start form");
        pty.send("\r").expect("typing");
        pty.wait_until("the run open and finished", WAIT, |s| {
            s.contains("burst · r") && s.contains("✓ succeeded")
        })
        .expect("the run, open, done");
        // A frame may be caught half drawn: wait for one with every line (a lost line never
        // comes, and the wait fails naming the round).
        pty.wait_until(&format!("round {round}: every line"), WAIT, |s| {
            s.contains("✓ succeeded") && lines.iter().all(|l| s.contains(l))
        })
        .expect("every line in the all-steps view");
        pty.send("\x1b").expect("typing");
        pty.wait_until("the runs view", WAIT, |s| {
            s.contains(&format!("Runs ({round})"))
        })
        .expect("back to the runs");
    }
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}

const FLOOD: &str = r#"name: flood
description: Prints a hundred thousand lines, one after another
steps:
  - id: pour
    run: |
      i=0
      while [ "$i" -lt 30000 ]; do i=$((i+1)); echo "line $i"; done
      touch started-reading
      while [ ! -e read ]; do sleep 0.05; done
      while [ "$i" -lt 100000 ]; do i=$((i+1)); echo "line $i"; done
"#;

/// The log pane's text lines (the right half of rows 4 to 27 of a 100×30 screen).
fn log_pane(pty: &Pty) -> Vec<String> {
    pty.rows()
        .iter()
        .skip(4)
        .take(24)
        .map(|r| r.chars().skip(41).collect())
        .collect()
}

#[test]
fn with_follow_off_the_lines_being_read_stay_put_while_the_log_grows_past_the_window() {
    let place = Place::new();
    let workflows = place.work().join("workflows");
    for old in ["gated.yaml", "long.yaml"] {
        std::fs::remove_file(workflows.join(old)).expect("a workflow file removed");
    }
    std::fs::write(workflows.join("flood.yaml"), FLOOD).expect("a workflow file");
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT)
        .expect("the empty runs view");
    pty.send("n").expect("typing");
    pty.wait_for("Prints a hundred thousand", WAIT)
        .expect("the workflows view");
    pty.send("\r").expect("typing");
    pty.wait_for("Start flood", WAIT).expect("the start form");
    pty.send("\r").expect("typing");
    let marker = place.work().join("started-reading");
    pty.wait_until("the first 30,000 lines", WAIT, |s| {
        s.contains("line 30000") && marker.exists()
    })
    .expect("the run open, its first lines shown");
    // Into the log, follow off, two pages back: the lines being read.
    pty.send(TAB).expect("typing");
    pty.send("f").expect("typing");
    pty.wait_until("follow off, still at the tail", WAIT, |s| {
        !s.contains("[follow]") && s.contains("line 30000")
    })
    .expect("follow off where the log was");
    pty.send("\x1b[5~\x1b[5~").expect("page up twice");
    pty.wait_until("two pages back", WAIT, |s| !s.contains("line 30000"))
        .expect("scrolled back");
    let reading = log_pane(&pty);
    assert!(
        reading.iter().any(|l| l.contains("line 2995")),
        "two pages back from line 30000: {reading:#?}"
    );
    // The step prints 70,000 more lines (the console keeps 10,000 in memory).
    std::fs::write(place.work().join("read"), "").expect("the go-ahead");
    pty.wait_for("✓ succeeded", WAIT).expect("the run done");
    assert_eq!(log_pane(&pty), reading, "the lines being read stayed put");
    // `G` goes to the newest line of the whole log.
    pty.send("G").expect("typing");
    pty.wait_for("line 100000", WAIT).expect("the newest line");
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}
