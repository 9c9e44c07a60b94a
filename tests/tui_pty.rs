//! The console in a real pseudo-terminal: the pty helper itself, then `tui::run` over the
//! in-memory backend (this test binary re-runs itself inside the pty): open the announced gate
//! and approve it once the prompt takes keys, pause, quit with active runs, and the terminal restored — also after SIGTERM.

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

fn console() -> Pty {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = CommandBuilder::new(exe);
    cmd.args([
        "--ignored",
        "--exact",
        "console_child",
        "--nocapture",
        "--test-threads=1",
    ]);
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
        s.contains("Approval needed") && !s.contains("keys ignored for a moment")
    })
    .expect("the prompt, its guard let go");
    pty.send("A").expect("typing");
    pty.wait_for("approved r-0004/gate", WAIT)
        .expect("the decision");
    pty.send(" ").expect("typing");
    pty.wait_for("pausing run r-0004", WAIT).expect("the pause");
    pty.send("q").expect("typing");
    pty.wait_for("still active", WAIT)
        .expect("the quit question");
    pty.send("l").expect("typing");
    let screen = pty
        .wait_for("exit: Ok(LeaveInterrupted)", WAIT)
        .expect("the exit");
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
