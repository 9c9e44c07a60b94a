//! Faults baton must come through honestly: a full disk, a crash that leaves processes behind,
//! the signals of a dropped session, a closed pipe, too few file descriptors.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::baton;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use harness::{alive, eventually, read_pid};

/// Generous: these wait for a process to end, and only a hang should ever reach it.
const PATIENCE: Duration = Duration::from_secs(120);

/// Waits for `child` to exit; a hang fails the test.
fn exit_of(child: &mut Child, what: &str) -> ExitStatus {
    let mut status = None;
    eventually(PATIENCE, what, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

/// The store's view of a run, via `baton show --json`.
fn show(data: &Path, run: &str) -> serde_json::Value {
    let out = baton(data).args(["show", run, "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn step_status(shown: &serde_json::Value, step: &str) -> String {
    shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["record"]["step"] == step)
        .map(|s| s["record"]["status"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The newest run's id.
fn newest_run(data: &Path) -> String {
    let out = baton(data).args(["ls", "--json"]).output().unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    runs[0]["id"].as_str().unwrap().to_string()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started.
    unsafe { libc::kill(pid as i32, sig) };
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "this test needs root: it mounts a small tmpfs to fill (CI runs the tests as root)"
        );
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount a tmpfs at {}", at.display());
        Tmpfs(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot resize the tmpfs at {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_run_interrupted_and_it_resumes_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), "8m");
    let data = disk.0.join("d");
    let ran = dir.path().join("ran.log");
    let wf = dir.path().join("fill.yaml");
    std::fs::write(
        &wf,
        format!(
            "name: fill\nsteps:\n  - id: first\n    run: echo first >> {ran}\n  - id: flood\n    depends_on: [first]\n    run: seq 1 1000000\n  - id: last\n    depends_on: [flood]\n    run: echo last >> {ran}\n",
            ran = ran.display()
        ),
    )
    .unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut run = baton(&data)
        .arg("run")
        .arg(&wf)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = exit_of(&mut run, "`baton run` to end on a full disk");
    let printed = std::fs::read_to_string(&out).unwrap();
    let said = format!("{printed}{}", std::fs::read_to_string(&err).unwrap());
    assert_eq!(status.code(), Some(4), "{said}");
    assert!(!printed.contains("✓ flood"), "{said}");
    assert!(!printed.contains("✓ last"), "{said}");
    assert!(printed.contains("interrupted"), "{said}");
    assert!(said.contains("the disk is full"), "{said}");
    assert!(said.contains(&data.display().to_string()), "{said}");
    assert!(said.contains("free at least"), "{said}");
    // baton's own log degrades quietly: one warning, not one per line.
    assert!(
        said.matches("cannot write its own log").count() <= 1,
        "{said}"
    );

    // The reserve gave its room for the run's last record, which the next open (here a
    // `show`, on the disk still full) puts into the store in place of "its owner is gone".
    let reserve = data.join("store").join("space-reserve");
    assert!(!reserve.exists(), "the reserve should have been released");
    let id = newest_run(&data);
    let shown = show(&data, &id);
    assert_eq!(shown["run"]["state"], "interrupted", "{shown}");
    assert_eq!(step_status(&shown, "first"), "succeeded", "{shown}");
    let reason = shown["run"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the disk is full"), "{shown}");
    assert!(reason.contains(&data.display().to_string()), "{shown}");
    let text = baton(&data).args(["show", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("interrupted: cannot write to the store at"),
        "{text}"
    );
    assert!(text.contains("the disk is full"), "{text}");
    let doctor = baton(&data).arg("doctor").output().unwrap();
    let doctor = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.contains("no space reserve"), "{doctor}");

    disk.resize("256m");

    let resumed = baton(&data).args(["resume", &id]).output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stdout)
    );
    let shown = show(&data, &id);
    assert_eq!(shown["run"]["state"], "succeeded", "{shown}");
    assert!(
        reserve.exists(),
        "the reserve should be made again once there is room"
    );
    for step in ["first", "flood", "last"] {
        assert_eq!(step_status(&shown, step), "succeeded", "{shown}");
    }
    // What was stored before the disk filled stayed: `first` did not run again.
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "first\nlast\n");
    let logs = baton(&data).args(["logs", &id, "flood"]).output().unwrap();
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(logs.lines().count() >= 50_000, "{}", logs.lines().count());
    assert!(logs.lines().any(|l| l.ends_with(" 50000") || l == "50000"));
}

/// A workflow whose step starts `sleep` in its group (pid in `pidfile`) and waits, the first
/// time; when run again (a resume) it just succeeds.
fn stoppable(dir: &Path) -> (PathBuf, PathBuf) {
    let wf = dir.join("long.yaml");
    let pidfile = dir.join("pid");
    let flag = dir.join("flag");
    std::fs::write(
        &wf,
        format!(
            "name: long\nsteps:\n  - id: wait\n    run: 'if [ -f {flag} ]; then echo again; else touch {flag}; sleep 600 & echo $! > {pid}; wait; fi'\n",
            flag = flag.display(),
            pid = pidfile.display()
        ),
    )
    .unwrap();
    (wf, pidfile)
}

#[test]
fn sighup_and_sigterm_stop_a_headless_run_resumable_with_their_exit_codes() {
    for (sig, code) in [(libc::SIGHUP, 129), (libc::SIGTERM, 143)] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d");
        let (wf, pidfile) = stoppable(dir.path());
        let mut run = baton(&data)
            .arg("run")
            .arg(&wf)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let sleeper = read_pid(&pidfile);
        signal(run.id(), sig);
        let status = exit_of(&mut run, "`baton run` to stop on a signal");
        assert_eq!(status.code(), Some(code), "signal {sig}");
        eventually(PATIENCE, "the step's process to be stopped", || {
            !alive(sleeper)
        });
        let id = newest_run(&data);
        assert_eq!(show(&data, &id)["run"]["state"], "interrupted");
        let resumed = baton(&data).args(["resume", &id]).output().unwrap();
        assert_eq!(resumed.status.code(), Some(0), "signal {sig}");
    }
}

#[test]
fn sighup_stops_serve_and_leaves_its_runs_interrupted_with_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let (wf, pidfile) = stoppable(dir.path());
    let mut daemon = baton(&data)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socket = data.join("store").join("control.sock");
    eventually(PATIENCE, "serve to listen", || socket.exists());
    let mut follower = baton(&data)
        .arg("run")
        .arg(&wf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sleeper = read_pid(&pidfile);
    signal(daemon.id(), libc::SIGHUP);
    let status = exit_of(&mut daemon, "serve to stop on SIGHUP");
    assert_eq!(status.code(), Some(0));
    exit_of(&mut follower, "the follower to end with its owner");
    eventually(PATIENCE, "the step's process to be stopped", || {
        !alive(sleeper)
    });
    let id = newest_run(&data);
    assert_eq!(show(&data, &id)["run"]["state"], "interrupted");
}

#[test]
fn a_crash_leaves_no_process_behind_once_the_store_is_opened_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("stubborn.yaml");
    let (child_pid, leader_pid) = (dir.path().join("child"), dir.path().join("leader"));
    // A child that ignores SIGTERM, in the step's group; the leader will die before the owner.
    std::fs::write(
        &wf,
        format!(
            "name: stubborn\nsteps:\n  - id: s\n    run: '(trap \"\" TERM; exec sleep 600) & echo $! > {child}; echo $$ > {leader}; sleep 600'\n",
            child = child_pid.display(),
            leader = leader_pid.display()
        ),
    )
    .unwrap();
    let mut owner = bin::run_until_a_process_is_recorded(&data, &wf, None);
    let (child, leader) = (read_pid(&child_pid), read_pid(&leader_pid));
    owner.kill().unwrap();
    owner.wait().unwrap();
    signal(leader as u32, libc::SIGKILL);
    eventually(PATIENCE, "the leader to die", || !alive(leader));
    assert!(alive(child), "the stubborn child should outlive its leader");

    // Any open of the store (here `ls`) sweeps the dead owner's run and stops its group.
    let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
    assert!(ls.status.success());
    eventually(PATIENCE, "the stubborn child to be stopped", || {
        !alive(child)
    });
    let id = newest_run(&data);
    assert_eq!(show(&data, &id)["run"]["state"], "interrupted");
}

/// A pipe whose reader has already gone.
fn closed_pipe() -> Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills the two descriptors, which we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    Stdio::from(writer)
}

#[test]
fn a_closed_pipe_ends_a_command_quietly_and_does_not_interrupt_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("chatty.yaml");
    std::fs::write(
        &wf,
        "name: chatty\nsteps:\n  - id: a\n    run: seq 1 1000\n  - id: b\n    depends_on: [a]\n    run: echo done\n",
    )
    .unwrap();
    let run = baton(&data)
        .arg("run")
        .arg(&wf)
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    let id = newest_run(&data);
    assert_eq!(show(&data, &id)["run"]["state"], "succeeded");

    for args in [
        vec!["ls"],
        vec!["show", id.as_str()],
        vec!["logs", id.as_str()],
    ] {
        let out = baton(&data)
            .args(&args)
            .stdout(closed_pipe())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {said}");
        assert!(said.is_empty(), "{args:?}: {said}");
    }
}

#[test]
fn few_descriptors_cap_the_steps_at_once_and_say_so_instead_of_hanging() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let wf = dir.path().join("wide.yaml");
    let mut yaml = String::from("name: wide\nconcurrency: 200\nsteps:\n");
    for i in 0..200 {
        yaml.push_str(&format!("  - id: s{i}\n    run: echo {i}\n"));
    }
    std::fs::write(&wf, yaml).unwrap();
    let mut cmd = baton(&data);
    cmd.arg("run").arg("-q").arg(&wf);
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: only setrlimit, async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut run = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = exit_of(&mut run, "`baton run` to end with few descriptors");
    let said = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&err).unwrap()
    );
    assert_eq!(status.code(), Some(0), "{said}");
    assert!(said.contains("steps run at once"), "{said}");
    assert!(said.contains("open-files limit is 256"), "{said}");
}

/// Makes the spawned command start with only the descriptors from `first_free` up to `limit`
/// free: the limit (soft and hard, so it cannot be raised) is `limit`, and every number below
/// `first_free` is taken by an inherited copy of its stdin.
fn few_descriptors(cmd: &mut Command, limit: u64, first_free: i32) {
    use std::os::unix::process::CommandExt;
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: only setrlimit and dup2, async-signal-safe, run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for fd in 3..first_free {
                if libc::dup2(0, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[test]
fn steps_that_find_no_descriptor_left_fail_cleanly_and_the_store_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let go = dir.path().join("go");
    // Forty steps start at once (the limit allows 16 at a time) and hold their descriptors
    // until the test says go; with 60 descriptors left, fewer than half of 16 can start.
    let mut yaml = String::from("name: crowd\nconcurrency: 40\nsteps:\n");
    for i in 0..40 {
        yaml.push_str(&format!(
            "  - id: s{i}\n    run: 'echo up; until [ -e {go} ]; do sleep 0.05; done; echo done'\n",
            go = go.display()
        ));
    }
    let wf = dir.path().join("crowd.yaml");
    std::fs::write(&wf, yaml).unwrap();
    let mut cmd = baton(&data);
    cmd.arg("run").arg(&wf);
    few_descriptors(&mut cmd, 256, 256 - 60);
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut run = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let said = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    };
    let message = "too many open files: lower concurrency";
    eventually(PATIENCE, "a step to fail", || {
        said().contains("✗ ") || run.try_wait().unwrap().is_some()
    });
    std::fs::write(&go, "").unwrap();
    let status = exit_of(
        &mut run,
        "`baton run` to end with steps that could not start",
    );
    let said = said();
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(!said.contains("interrupted"), "{said}");

    let id = newest_run(&data);
    let shown = show(&data, &id);
    assert_eq!(shown["run"]["state"], "failed", "{shown}");
    let failed: Vec<&serde_json::Value> = shown["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["record"])
        .filter(|r| r["status"] == "failed")
        .collect();
    assert!(!failed.is_empty(), "{shown}");
    for r in &failed {
        let error = r["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{r}");
    }
    let text = baton(&data).args(["show", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(message), "{text}");
    let doctor = baton(&data).arg("doctor").output().unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(0), "{report}");
    assert!(report.contains("the store is healthy"), "{report}");
}
