//! How shell steps are started, seen from outside by strace: the shell is found in `PATH` once,
//! not searched again by every step.

use std::process::{Command, Stdio};

#[test]
fn steps_start_their_shell_without_searching_path_each_time() {
    let dir = tempfile::tempdir().unwrap();
    // Directories without a shell in them come first, so a search by name fails in each.
    let mut path = String::new();
    for i in 0..4 {
        let empty = dir.path().join(format!("empty{i}"));
        std::fs::create_dir(&empty).unwrap();
        path.push_str(&format!("{}:", empty.display()));
    }
    path.push_str(&std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    let wf = dir.path().join("wf.yaml");
    let mut text = String::from("name: starts\nsteps:\n");
    for i in 0..10 {
        text.push_str(&format!("  - id: s{i}\n    run: \"true\"\n"));
    }
    std::fs::write(&wf, text).unwrap();
    let trace = dir.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_baton"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["run", "-q"])
        .arg(&wf)
        .env("PATH", &path)
        .env("BATON_CONFIG_DIR", dir.path().join("config"))
        .stdin(Stdio::null())
        .output()
        .expect("strace runs (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&trace).unwrap();
    // Each step's shell is started once, under its own name (`$0` is `sh`).
    let shells = calls
        .lines()
        .filter(|l| l.contains("[\"sh\", \"-c\", \"true\"]") && !l.contains("= -1"))
        .count();
    let misses = calls
        .lines()
        .filter(|l| l.contains("/empty") && l.contains("ENOENT"))
        .count();
    assert_eq!(shells, 10, "{calls}");
    assert_eq!(misses, 0, "{calls}");
}
