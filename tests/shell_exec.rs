//! How shell steps start and end, seen from outside: the shell is found in `PATH` once, not
//! searched again by every step (by strace); a process a step leaves behind holding its output
//! open does not keep the step from ending; a step's commands run under the default scheduling
//! policy while baton's flushing threads run as background ones; steps run under a seccomp
//! filter that kills whoever sets CPU affinity.

use std::process::{Command, Stdio};

#[path = "support/bin.rs"]
mod bin;

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

/// A step that leaves a process of its own session behind, holding the step's output pipes
/// open, still ends: its pipes are read for a moment after its group is gone, then let go.
/// (The step waits until that process has left its group, which is then empty.)
#[test]
fn a_step_ends_when_a_process_it_left_behind_holds_its_output_open() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("escaped.pid");
    let wf = dir.path().join("wf.yaml");
    std::fs::write(
        &wf,
        format!(
            "name: escapes\nsteps:\n  - id: escape\n    run: \"echo before; setsid sh -c 'echo $$ > {p}; exec sleep 100000' & while [ ! -s {p} ]; do :; done; echo after\"\n  - id: next\n    run: echo next\n    depends_on: [escape]\n",
            p = pidfile.display()
        ),
    )
    .unwrap();
    let mut child = bin::baton(&dir.path().join("data"))
        .arg("run")
        .arg(&wf)
        .env("BATON_CONFIG_DIR", dir.path().join("config"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stdout }, &mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    // A deadline for the failure only: the run ends about two seconds after the step's shell.
    let shown = rx.recv_timeout(std::time::Duration::from_secs(60));
    let escaped = std::fs::read_to_string(&pidfile).unwrap_or_default();
    if let Ok(pid) = escaped.trim().parse::<i32>() {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let Ok(shown) = shown else {
        let _ = child.kill();
        panic!("the run did not end within 60 s: the step waited for its left-behind process");
    };
    let status = child.wait().unwrap();
    assert!(status.success(), "{shown}");
    assert!(
        shown.contains("before") && shown.contains("after"),
        "{shown}"
    );
    assert!(shown.contains("next"), "{shown}");
}

/// The scheduling policy of a task, from its `/proc/…/stat` text (field 41; the name, field 2,
/// is in parentheses and may hold spaces).
fn policy(stat: &str) -> u32 {
    let after_name = &stat[stat.rfind(')').expect("a stat line names its task") + 1..];
    after_name
        .split_whitespace()
        .nth(38)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no policy in {stat:?}"))
}

/// The threads that flush (sled's I/O pool and baton's group-commit thread) are `SCHED_BATCH`,
/// so that their wake-ups at every step do not take a core from the engine; the engine's
/// workers, and so the steps they start, keep the default policy (a step's commands must run
/// as they would anywhere else). The step itself reads baton's threads while it runs.
#[test]
fn flushing_threads_run_in_the_background_and_steps_do_not() {
    const SCHED_BATCH: u32 = 3;
    // baton is started with this test's policy (the default, unless the runner chose another),
    // and so are its engine's workers and their steps.
    // SAFETY: a plain query of the calling thread.
    let ours = unsafe { libc::sched_getscheduler(0) } as u32;
    let dir = tempfile::tempdir().unwrap();
    let (threads, own) = (dir.path().join("threads"), dir.path().join("own"));
    let wf = dir.path().join("wf.yaml");
    std::fs::write(
        &wf,
        format!(
            "name: policies\nsteps:\n  - id: look\n    run: \"for t in /proc/$PPID/task/*; do tr -d '\\\\n' < $t/comm; printf '\\\\t'; cat $t/stat; done > {t}; cat /proc/$$/stat > {o}\"\n",
            t = threads.display(),
            o = own.display()
        ),
    )
    .unwrap();
    let out = bin::baton(&dir.path().join("data"))
        .args(["run", "-q"])
        .arg(&wf)
        .env("BATON_CONFIG_DIR", dir.path().join("config"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", bin::text(&out));
    let listing = std::fs::read_to_string(&threads).unwrap();
    let named = |prefix: &str| -> Vec<u32> {
        listing
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, stat)| policy(stat))
            .collect()
    };
    let (pool, flush, engine) = (
        named("sled-io"),
        named("baton-flush"),
        named("baton-engine"),
    );
    assert!(!pool.is_empty() && !engine.is_empty(), "{listing}");
    assert!(pool.iter().all(|&p| p == SCHED_BATCH), "{listing}");
    assert_eq!(flush, [SCHED_BATCH], "{listing}");
    assert!(engine.iter().all(|&p| p == ours), "{listing}");
    assert_eq!(policy(&std::fs::read_to_string(&own).unwrap()), ours);
}

#[path = "support/engine.rs"]
mod harness;

/// A shell step's start and its process group are written together: the step is started,
/// reaches its spawn, and only then is the batch written, so a chain costs one write to the
/// store a step, not two (and one flush, as every completed step is flushed). Counted on the
/// runtime `baton run` uses, through the store's own counters.
#[test]
fn a_shell_step_is_started_and_its_process_recorded_in_one_write() {
    const STEPS: u64 = 20;
    let h = harness::Harness::as_the_cli();
    let mut yaml = String::from("name: chain\nsteps:\n  - id: s0\n    run: \"true\"\n");
    for i in 1..STEPS {
        yaml.push_str(&format!(
            "  - id: s{i}\n    run: \"true\"\n    depends_on: [s{}]\n",
            i - 1
        ));
    }
    let before = h.engine.store().write_counts();
    let id = h.start(&yaml);
    assert_eq!(h.wait(&id), baton::store::RunState::Succeeded);
    let after = h.engine.store().write_counts();
    let commits = after.journal_commits - before.journal_commits;
    // Every step's process group was recorded (a crash while it ran could stop it).
    let events = h.engine.store().events(&id).unwrap();
    for i in 0..STEPS {
        let step = format!("s{i}");
        assert!(
            events.iter().any(|e| matches!(&e.kind,
                baton::store::EventKind::Step { record }
                    if record.step.as_str() == step && record.process.is_some())),
            "no process recorded for {step}"
        );
    }
    // The run's start and end take a few writes of their own; a write for each process group
    // on top of each step's would be 2 a step.
    eprintln!(
        "{STEPS} steps: {commits} commits, {} flushes",
        after.flushes - before.flushes
    );
    assert!(
        commits <= STEPS + 4,
        "{commits} writes for {STEPS} steps: a step's process is written apart from its start"
    );
    assert!(
        after.flushes - before.flushes <= commits,
        "more flushes than writes"
    );
}

/// Installs a seccomp filter in the calling process (inherited by everything it starts) that
/// kills any process calling system call `nr`, as a hardened service manager's filter can.
#[cfg(target_arch = "x86_64")]
fn kill_whoever_calls(nr: libc::c_long) -> std::io::Result<()> {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    // seccomp_data: nr at offset 0, arch at offset 4.
    let mut filter = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            1,
            0,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, nr as u32, 0, 1),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with a filter program that outlives the call (the kernel copies it).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Under a seccomp filter that kills a process calling `sched_setaffinity` (which baton's own
/// spawn has the step's process call before its `execve`, to keep the engine off its CPU),
/// steps still run: the probe that decides how steps start meets the filter first, and they
/// start through tokio's `Command` instead.
#[cfg(target_arch = "x86_64")]
#[test]
fn steps_run_under_a_filter_that_kills_whoever_sets_cpu_affinity() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("wf.yaml");
    std::fs::write(
        &wf,
        "name: filtered\nsteps:\n  - id: a\n    run: echo one\n  - id: b\n    run: echo two\n    depends_on: [a]\n",
    )
    .unwrap();
    let mut command = bin::baton(&dir.path().join("data"));
    command
        .args(["run", "-q"])
        .arg(&wf)
        .env("BATON_CONFIG_DIR", dir.path().join("config"));
    // SAFETY: only system calls between fork and exec.
    unsafe {
        command.pre_exec(|| kill_whoever_calls(libc::SYS_sched_setaffinity));
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        bin::text(&out)
    );
    // The filter was in force: the same call from a process under it is fatal.
    let mut probe = Command::new("sh");
    probe
        .args(["-c", "exec taskset -p 1 $$"])
        .stdout(Stdio::null());
    // SAFETY: as above.
    unsafe {
        probe.pre_exec(|| kill_whoever_calls(libc::SYS_sched_setaffinity));
    }
    let status = probe.status().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
}
