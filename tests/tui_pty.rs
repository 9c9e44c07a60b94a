//! The console in a real pseudo-terminal: the pty helper itself, then `tui::run` over the
//! in-memory backend (this test binary re-runs itself inside the pty): open the announced gate
//! and approve it once the prompt takes keys, pause, quit with active runs, and the terminal
//! restored — also after SIGTERM; and the screen answering keys while a command hangs.

#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/memory_backend.rs"]
mod memory_backend;
#[path = "support/pty.rs"]
mod pty;

use std::time::Duration;

use portable_pty::CommandBuilder;
use pty::Pty;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn pty_helper_sends_keys_and_reads_the_screen_of_a_real_program() {
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", "printf hello; read x; printf \" got %s\" \"$x\""]);
    let mut pty = Pty::spawn(cmd, 40, 5).expect("a pty");
    pty.wait_for("hello", WAIT).expect("the greeting");
    pty.send("abc\r").expect("typing");
    let screen = pty.wait_for("got abc", WAIT).expect("the echo");
    assert!(screen.starts_with("helloabc"), "{screen}");
    assert!(pty.wait_exit(WAIT).expect("an exit"));
}

/// The console as a child of the pty (run only by the tests below, with `--ignored`).
#[test]
#[ignore = "runs inside the pty started by the console tests"]
fn console_child() {
    let backend = fixture::backend();
    let options = baton::tui::TuiOptions::default();
    let outcome = baton::tui::run(backend.clone(), options);
    println!("exit: {outcome:?}");
    println!("sent: {}", backend.sent().len());
}

/// The in-memory backend whose `send` does not return until someone opens the FIFO named by
/// `BATON_TEST_SEND_GATE` for writing: a socket round trip that hangs.
struct HangingSend {
    inner: std::sync::Arc<memory_backend::MemoryBackend>,
    gate: std::path::PathBuf,
}

impl baton::engine::RunReader for HangingSend {
    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<baton::store::RunId> {
        self.inner.resolve_run(id_or_prefix)
    }
    fn runs(&self) -> anyhow::Result<Vec<baton::store::RunRecord>> {
        self.inner.runs()
    }
    fn run(&self, id: &baton::store::RunId) -> anyhow::Result<baton::store::RunRecord> {
        self.inner.run(id)
    }
    fn run_detail(&self, run: &baton::store::RunId) -> anyhow::Result<baton::engine::RunDetail> {
        self.inner.run_detail(run)
    }
    fn step_output(
        &self,
        run: &baton::store::RunId,
        step: &baton::spec::StepId,
    ) -> anyhow::Result<Option<baton::store::StepOutput>> {
        self.inner.step_output(run, step)
    }
    fn step_outputs(
        &self,
        run: &baton::store::RunId,
    ) -> anyhow::Result<std::collections::HashMap<baton::spec::StepId, baton::store::StepOutput>>
    {
        self.inner.step_outputs(run)
    }
    fn logs(
        &self,
        run: &baton::store::RunId,
        step: Option<&baton::spec::StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<baton::store::LogLine>> {
        self.inner.logs(run, step, after, limit)
    }
    fn tail_logs(
        &self,
        run: &baton::store::RunId,
        step: Option<&baton::spec::StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<baton::store::LogLine>> {
        self.inner.tail_logs(run, step, limit)
    }
    fn events(&self, run: &baton::store::RunId) -> anyhow::Result<Vec<baton::store::Event>> {
        self.inner.events(run)
    }
}

impl baton::engine::RunControl for HangingSend {
    fn start(&self, request: baton::engine::StartRequest) -> anyhow::Result<baton::store::RunId> {
        self.inner.start(request)
    }
    fn send(&self, command: baton::engine::Command) -> anyhow::Result<()> {
        // Opening a FIFO for reading blocks until a writer opens it.
        std::fs::File::open(&self.gate)?;
        self.inner.send(command)
    }
    fn subscribe(&self) -> baton::engine::Subscription {
        self.inner.subscribe()
    }
}

impl baton::engine::Backend for HangingSend {}

/// The console over [`HangingSend`] (run only by the test below, with `--ignored`).
#[test]
#[ignore = "runs inside the pty started by the console tests"]
fn console_hanging_child() {
    let gate = std::env::var_os("BATON_TEST_SEND_GATE").expect("the gate's path");
    let backend = std::sync::Arc::new(HangingSend {
        inner: fixture::backend(),
        gate: gate.into(),
    });
    let outcome = baton::tui::run(backend, baton::tui::TuiOptions::default());
    println!("exit: {outcome:?}");
}

/// `q` with runs active, then `l`: the console leaves them interrupted and says so; the screen
/// then.
fn quit_leaving_runs_interrupted(pty: &mut Pty) -> String {
    pty.send("q").expect("typing");
    pty.wait_for("still active", WAIT)
        .expect("the quit question");
    pty.send("l").expect("typing");
    pty.wait_for("exit: Ok(LeaveInterrupted)", WAIT)
        .expect("the exit")
}

fn console() -> Pty {
    child("console_child", &[])
}

fn child(name: &str, env: &[(&str, &std::path::Path)]) -> Pty {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = CommandBuilder::new(exe);
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ]);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    Pty::spawn(cmd, 100, 30).expect("a pty")
}

#[test]
fn console_approves_pauses_and_quits_leaving_runs_interrupted() {
    let mut pty = console();
    pty.wait_for("gate waits for approval", WAIT)
        .expect("the banner");
    assert!(pty.alternate_screen());
    pty.send("a").expect("typing");
    pty.wait_until("the prompt taking keys", WAIT, |s| {
        s.contains("Approval needed") && s.contains("esc  later")
    })
    .expect("the prompt, its guard let go");
    pty.send("A").expect("typing");
    pty.wait_for("approved r-0004/gate", WAIT)
        .expect("the decision");
    pty.send(" ").expect("typing");
    pty.wait_for("pausing run r-0004", WAIT).expect("the pause");
    let screen = quit_leaving_runs_interrupted(&mut pty);
    assert!(screen.contains("sent: 2"), "{screen}");
    assert!(pty.wait_exit(WAIT).expect("an exit"));
    assert!(!pty.alternate_screen(), "the main screen is back");
    assert!(!pty.cursor_hidden(), "the cursor is shown again");
}

#[test]
fn sigterm_restores_the_terminal() {
    let mut pty = console();
    pty.wait_for("waits for approval", WAIT)
        .expect("the first frame");
    let pid = pty.pid().expect("a pid") as libc::pid_t;
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    pty.wait_for("exit: Ok(Signal(15))", WAIT)
        .expect("the signal exit");
    assert!(pty.wait_exit(WAIT).expect("an exit"));
    assert!(!pty.alternate_screen());
    assert!(!pty.cursor_hidden());
}

#[test]
fn the_screen_answers_keys_while_a_command_hangs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let gate = dir.path().join("send-gate");
    let path = std::ffi::CString::new(gate.as_os_str().as_encoded_bytes()).expect("a path");
    // SAFETY: a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let mut pty = child("console_hanging_child", &[("BATON_TEST_SEND_GATE", &gate)]);
    pty.wait_for("gate waits for approval", WAIT)
        .expect("the first frame");
    pty.send(" ").expect("typing");
    pty.wait_for("working… pausing run r-0004", WAIT)
        .expect("the pause in flight");
    // The pause is stuck in the backend; the screen still moves and opens overlays.
    pty.send("j").expect("typing");
    pty.send("?").expect("typing");
    pty.wait_for("Keys — ? or esc to close", WAIT)
        .expect("help, while the pause hangs");
    pty.send("\x1b").expect("typing");
    pty.wait_until("help closed", WAIT, |s| {
        !s.contains("Keys — ?") && s.contains("working… pausing")
    })
    .expect("help closed, the pause still in flight");
    let release = std::fs::OpenOptions::new()
        .write(true)
        .open(&gate)
        .expect("the gate opens");
    drop(release);
    pty.wait_until("the pause done", WAIT, |s| {
        s.contains("pausing run r-0004") && !s.contains("working…")
    })
    .expect("the pause reached the engine");
    quit_leaving_runs_interrupted(&mut pty);
    assert!(pty.wait_exit(WAIT).expect("an exit"));
}

/// The console over a run whose stored log has 100,000 lines, `needle N` every 10,000th
/// (run only by the test below, with `--ignored`).
#[test]
#[ignore = "runs inside the pty started by the console tests"]
fn console_big_log_child() {
    let backend = fixture::backend();
    {
        let mut store = backend.store.lock().expect("the store");
        let lines = (1..=100_000u64)
            .map(|seq| {
                let text = if seq % 10_000 == 7 {
                    format!("needle {seq}")
                } else {
                    format!("hay {seq}")
                };
                fixture::line(seq, "test", baton::store::LogStream::Stdout, &text)
            })
            .collect();
        store
            .logs
            .insert(baton::store::RunId("r-0004".into()), lines);
    }
    let outcome = baton::tui::run(backend, baton::tui::TuiOptions::default());
    println!("exit: {outcome:?}");
}

#[test]
fn search_finds_every_hit_of_a_100000_line_log_and_n_shows_the_oldest() {
    let mut pty = child("console_big_log_child", &[]);
    pty.wait_for("gate waits for approval", WAIT)
        .expect("the first frame");
    pty.wait_for("r-0004", WAIT).expect("the runs");
    pty.send("\r").expect("typing");
    pty.wait_for("hay 100000", WAIT)
        .expect("the run's log tail");
    pty.send("\t/needle\r").expect("typing");
    pty.wait_for("/needle 10 of 10", WAIT)
        .expect("every hit of the whole log counted");
    pty.send("n").expect("typing");
    let screen = pty
        .wait_for("needle 7 ", WAIT)
        .expect("the oldest hit, read from the store");
    assert!(screen.contains("1 of 10"), "{screen}");
    pty.send("G").expect("typing");
    pty.wait_for("hay 100000", WAIT)
        .expect("the last line again");
    quit_leaving_runs_interrupted(&mut pty);
    assert!(pty.wait_exit(WAIT).expect("an exit"));
}

#[test]
fn ctrl_z_hands_the_terminal_back_to_the_shell_and_fg_brings_the_console_back() {
    // An interactive shell with job control, as an operator has, runs the console as a job.
    let mut cmd = CommandBuilder::new("bash");
    cmd.args(["--norc", "--noprofile", "-i"]);
    cmd.env("PS1", "shell$ ");
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    let mut pty = Pty::spawn(cmd, 100, 30).expect("a pty");
    pty.wait_for("shell$ ", WAIT).expect("the prompt");
    let exe = std::env::current_exe().expect("the test binary");
    pty.send(&format!(
        "{} --ignored --exact console_child --nocapture --test-threads=1\r",
        exe.display()
    ))
    .expect("typing");
    pty.wait_for("gate waits for approval", WAIT)
        .expect("the console");
    assert!(pty.alternate_screen());
    pty.send("\x1a").expect("ctrl-z");
    let shell = pty
        .wait_until("the shell's report of the stopped job", WAIT, |s| {
            s.contains("Stopped")
        })
        .expect("the job stopped");
    assert!(
        !pty.alternate_screen(),
        "the shell's screen is back: {shell}"
    );
    assert!(!pty.cursor_hidden(), "with its cursor");
    pty.send("fg\r").expect("typing");
    pty.wait_until("the console drawn again", WAIT, |s| {
        s.contains("gate waits for approval") && !s.contains("Stopped")
    })
    .expect("the console back");
    assert!(pty.alternate_screen());
    // It still answers keys: quit, leaving the active runs interrupted.
    quit_leaving_runs_interrupted(&mut pty);
    pty.send("exit\r").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the shell's exit"));
}
