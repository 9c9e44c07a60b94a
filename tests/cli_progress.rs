//! The progress line of a headless run with many steps, in a real pseudo-terminal: counts
//! above a bar at the bottom while the run goes, every step line printed above it, and nothing
//! of it left once the run ends. Without a terminal (a pipe) there is none.

#[path = "support/pty.rs"]
mod pty;

use std::time::Duration;

use portable_pty::CommandBuilder;

const WAIT: Duration = Duration::from_secs(90);

/// Twelve steps in a chain, each waiting for a file the test writes, so the run's progress is
/// watched step by step.
fn workflow(dir: &std::path::Path) -> std::path::PathBuf {
    let mut text = String::from("name: many\nsteps:\n");
    for i in 0..12 {
        text.push_str(&format!("  - id: s{i}\n    run: echo step {i}\n"));
        if i > 0 {
            text.push_str(&format!("    depends_on: [s{}]\n", i - 1));
        }
    }
    text.push_str(
        "  - id: hold\n    run: while [ ! -e go ]; do sleep 0.05; done\n    depends_on: [s11]\n",
    );
    let path = dir.join("many.yaml");
    std::fs::write(&path, text).expect("a workflow");
    path
}

#[test]
fn a_long_headless_run_shows_a_progress_line_that_goes_when_it_ends() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let wf = workflow(dir.path());
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
    cmd.arg("--data-dir");
    cmd.arg(dir.path().join("data"));
    cmd.args(["run"]);
    cmd.arg(&wf);
    cmd.cwd(dir.path());
    cmd.env("BATON_CONFIG_DIR", dir.path().join("config"));
    cmd.env("TERM", "xterm-256color");
    let mut pty = pty::Pty::spawn(cmd, 100, 30).expect("baton run in a pty");
    let screen = pty
        .wait_until("twelve steps done, the last waiting", WAIT, |s| {
            s.contains("12/13 steps · 1 running")
        })
        .expect("the progress line");
    // The step lines are above it; it is the last line with text.
    let last = screen.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(last.starts_with("[██████"), "{screen}");
    assert!(screen.contains("succeeded"), "{screen}");
    std::fs::write(dir.path().join("go"), "").expect("the go-ahead");
    let end = pty
        .wait_until("the run's last line", WAIT, |s| {
            s.lines()
                .any(|l| l.starts_with("run ") && l.contains("succeeded in"))
        })
        .expect("the run's end");
    assert!(pty.wait_exit(WAIT).expect("an exit"));
    assert!(
        !end.contains("steps ·"),
        "the progress line is gone:\n{end}"
    );
}

#[test]
fn without_a_terminal_there_is_no_progress_line() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let wf = workflow(dir.path());
    std::fs::write(dir.path().join("go"), "").expect("the go-ahead");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("run")
        .arg(&wf)
        .current_dir(dir.path())
        .env("BATON_CONFIG_DIR", dir.path().join("config"))
        .output()
        .expect("baton runs");
    assert!(out.status.success());
    let all = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&all);
    assert!(!text.contains("steps ·") && !text.contains('\r'), "{text}");
}
