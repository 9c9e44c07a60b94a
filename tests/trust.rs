//! Files and identities belong to their user, checked with a second OS user (nobody, uid
//! 65534): it cannot read a stored byte, reach the control socket, or plant a file or socket
//! baton follows; and `$USER` does not name who decided a gate.
//!
//! Acting as another user takes root: run as anyone else, these tests fail saying so (CI runs
//! as root).

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::{baton, baton_bare, text};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const NOBODY: u32 = 65534;

const GATED: &str = r#"
name: gated
steps:
  - id: build
    run: echo s3cret-step-output
  - id: gate
    approval: "Ship it?"
    depends_on: [build]
"#;

fn need_root() {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "these tests act as a second OS user (nobody, uid {NOBODY}) and need root; run them as \
         root (CI does)"
    );
}

/// A directory everyone may enter (0755), so that only baton's own modes protect what it
/// stores beneath it.
fn open_world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A directory like `/tmp`: anyone may create files in it (sticky, 01777).
fn shared_tmp() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

/// `cmd` run as nobody (std drops root's supplementary groups too).
fn as_nobody(cmd: &mut Command) -> &mut Command {
    cmd.uid(NOBODY).gid(NOBODY).env("HOME", "/nonexistent")
}

fn sh_as_nobody(script: &str, cwd: &Path) -> Output {
    as_nobody(Command::new("sh").args(["-c", script]).current_dir(cwd))
        .output()
        .unwrap()
}

/// Polls `f` until it gives a value (the shared `eventually`, which fails after 20 s).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut found = None;
    harness::eventually(Duration::from_secs(20), what, || {
        found = f();
        found.is_some()
    });
    found.expect("eventually returned, so the value is there")
}

/// Starts `baton run --wait-for-gates` as root and waits for its gate; returns the owner and
/// the run id.
fn owner_at_gate(data: &Path, wf: &Path) -> (Owner, String) {
    let child = start_owner(baton(data).args(["run", "--wait-for-gates"]).arg(wf));
    let id = eventually("the gate opens", || {
        let ls = baton(data).args(["ls", "--json"]).output().ok()?;
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).ok()?;
        let id = runs[0]["id"].as_str()?.to_string();
        let show = baton(data).args(["show", &id, "--json"]).output().ok()?;
        let detail: serde_json::Value = serde_json::from_slice(&show.stdout).ok()?;
        (detail["steps"][1]["record"]["status"] == "waiting_approval").then_some(id)
    });
    (child, id)
}

/// A baton started by a test, killed when dropped (so a failing assertion leaves none behind).
struct Owner(Option<Child>);

impl Owner {
    /// Waits for it to end by itself.
    fn wait(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("a child not yet waited for");
        child.wait().unwrap()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_owner(cmd: &mut Command) -> Owner {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Owner(Some(child))
}

/// Every file and directory under `dir` (root sees them all).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().unwrap().is_dir() {
            walk(&path, out);
        }
    }
}

/// Whether nobody can connect to the Unix socket at `path`: a forked child drops to nobody and
/// tries (only async-signal-safe calls after the fork).
fn nobody_can_connect(path: &Path) -> bool {
    // SAFETY: sockaddr_un is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_encoded_bytes();
    assert!(bytes.len() < addr.sun_path.len(), "socket path too long");
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: the child makes only async-signal-safe calls, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: as above; every argument is valid.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                libc::_exit(3);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let rc = libc::connect(
                fd,
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            );
            libc::_exit(if rc == 0 { 0 } else { 1 });
        }
    }
    let mut status = 0;
    // SAFETY: waiting for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = libc::WEXITSTATUS(status);
    assert_ne!(code, 3, "the child could not become nobody");
    code == 0
}

#[test]
fn another_user_cannot_read_a_stored_byte_or_reach_the_socket() {
    need_root();
    let world = open_world();
    let wf = world.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let data = world.path().join("data");
    let (owner, _) = owner_at_gate(&data, &wf);

    let mut paths = Vec::new();
    walk(&data, &mut paths);
    let files: Vec<&PathBuf> = paths.iter().filter(|p| p.is_file()).collect();
    assert!(
        files.iter().any(|f| std::fs::read(f)
            .unwrap()
            .windows(18)
            .any(|w| w == b"s3cret-step-output")),
        "the step's output is stored somewhere under {}: {paths:?}",
        data.display()
    );
    for path in &files {
        let read = as_nobody(Command::new("cat").arg(path)).output().unwrap();
        assert!(
            !read.status.success() && read.stdout.is_empty(),
            "nobody read {}",
            path.display()
        );
    }
    let list = as_nobody(Command::new("ls").arg(&data)).output().unwrap();
    assert!(!list.status.success(), "nobody listed {}", data.display());
    let socket = data.join("store").join("control.sock");
    assert!(socket.exists());
    assert!(!nobody_can_connect(&socket), "nobody reached the socket");
    drop(owner);
}

#[test]
fn a_data_dir_another_user_owns_or_can_write_is_refused_and_nothing_in_it_is_followed() {
    need_root();
    let world = shared_tmp();
    let precious = world.path().join("root-only");
    std::fs::write(&precious, "precious").unwrap();
    std::fs::set_permissions(&precious, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Nobody makes a BATON_HOME with a lock symlink to root's file and a config of its own.
    let planted = sh_as_nobody(
        &format!(
            "mkdir -p home/store home/config && ln -s {} home/store/owner.lock && \
             printf '[engine]\\nconcurrency = 1\\n' > home/config/config.toml",
            precious.display()
        ),
        world.path(),
    );
    assert!(planted.status.success(), "{}", text(&planted));
    let home = world.path().join("home");
    let ls = baton_bare()
        .arg("ls")
        .env("BATON_HOME", &home)
        .output()
        .unwrap();
    let t = text(&ls);
    assert_eq!(ls.status.code(), Some(2), "{t}");
    assert!(t.contains("belongs to nobody (uid 65534)"), "{t}");
    assert!(t.contains("chown root"), "{t}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");

    // A config dir nobody owns is refused too, even beside a data dir of root's own.
    let config = home.join("config");
    let mine = world.path().join("mine");
    let ls = baton(&mine)
        .arg("ls")
        .env("BATON_CONFIG_DIR", &config)
        .output()
        .unwrap();
    let t = text(&ls);
    assert_eq!(ls.status.code(), Some(2), "{t}");
    assert!(t.contains(&config.display().to_string()), "{t}");
    assert!(t.contains("belongs to nobody"), "{t}");

    // Root's own directory, but anyone may write it: refused, with the fix.
    let open = world.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let ls = baton(&open).arg("ls").output().unwrap();
    let t = text(&ls);
    assert_eq!(ls.status.code(), Some(2), "{t}");
    assert!(t.contains(&format!("chmod 700 {}", open.display())), "{t}");
}

#[test]
fn a_lock_file_symlink_in_an_own_data_dir_is_not_followed() {
    need_root();
    let world = open_world();
    let precious = world.path().join("root-only");
    std::fs::write(&precious, "precious").unwrap();
    let data = world.path().join("data");
    std::fs::create_dir_all(data.join("store")).unwrap();
    std::os::unix::fs::symlink(&precious, data.join("store").join("owner.lock")).unwrap();
    let ls = baton(&data).arg("ls").output().unwrap();
    let t = text(&ls);
    assert_eq!(ls.status.code(), Some(2), "{t}");
    assert!(t.contains("is a symbolic link"), "{t}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
}

#[test]
fn a_control_socket_another_user_serves_is_not_asked() {
    need_root();
    let world = shared_tmp();
    let wf = world.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    // Nobody runs a baton of its own, with a control socket of its own.
    let made = sh_as_nobody("mkdir nob", world.path());
    assert!(made.status.success(), "{}", text(&made));
    let theirs = world.path().join("nob");
    let their_owner = start_owner(
        as_nobody(&mut baton(&theirs))
            .args(["run", "--wait-for-gates"])
            .arg(&wf)
            .current_dir(&theirs)
            .env("BATON_CONFIG_DIR", theirs.join("config")),
    );
    let their_socket = theirs.join("store").join("control.sock");
    eventually("nobody's baton listens", || {
        their_socket.exists().then_some(())
    });

    // Root's store is held (so `ls` asks its owner), and nobody's socket sits where the owner's
    // would be.
    let data = world.path().join("data");
    let created = baton(&data).arg("ls").output().unwrap();
    assert!(created.status.success(), "{}", text(&created));
    let mut lock = std::fs::OpenOptions::new()
        .write(true)
        .open(data.join("store").join("owner.lock"))
        .unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    writeln!(lock, "{} 0", std::process::id()).unwrap();
    std::fs::rename(&their_socket, data.join("store").join("control.sock")).unwrap();

    let ls = baton(&data).args(["ls", "--json"]).output().unwrap();
    let t = text(&ls);
    assert_eq!(ls.status.code(), Some(2), "{t}");
    assert!(t.contains("served by nobody (uid 65534)"), "{t}");
    assert!(!t.contains("gated"), "nobody's answer was believed: {t}");
    drop(their_owner);
}

#[test]
fn the_decider_is_the_os_user_whatever_user_says() {
    need_root();
    let world = open_world();
    let wf = world.path().join("gated.yaml");
    std::fs::write(&wf, GATED).unwrap();
    let data = world.path().join("data");
    let (owner, id) = owner_at_gate(&data, &wf);
    let approve = baton(&data)
        .args(["approve", &id, "gate"])
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .output()
        .unwrap();
    let t = text(&approve);
    assert!(approve.status.success(), "{t}");
    assert!(t.contains("approved by root"), "{t}");
    assert!(owner.wait().success());
    let show = baton(&data).args(["show", &id, "--json"]).output().unwrap();
    let detail: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let decision = &detail["approvals"][0]["decision"];
    assert_eq!(decision["by"], "root", "{detail}");
    assert_eq!(decision["uid"], 0, "{detail}");

    // Deciding with a flag is the OS user's decision as well.
    let run = baton(&data)
        .args(["run", "--approve-all"])
        .arg(&wf)
        .env("USER", "mallory")
        .output()
        .unwrap();
    let t = text(&run);
    assert!(run.status.success(), "{t}");
    assert!(t.contains("approved by root (--approve-all)"), "{t}");
    assert!(!t.contains("mallory"), "{t}");
}
