//! Starting a local shell step with `posix_spawn` and waiting for it on a pidfd, without std's
//! `Command` and tokio's process driver.
//!
//! A chain of `run: "true"` steps is bounded by what happens between one child's exit and the
//! next child's start, and std's `Command` spent a quarter of that copying baton's whole
//! environment into fresh strings at every spawn (it does so whenever a variable is added, and
//! every step adds `BATON_RUN_ID` and `BATON_STEP_ID`). Here the child's environment is an
//! array of pointers into baton's own `environ`, with the step's variables in front: no copy of
//! a string that is not the step's own. tokio's driver reaps through a pidfd too, but through a
//! shared reaper and an orphan queue; a step waits on its own pidfd here.
//!
//! The child gets what std gives it: an empty signal mask, `SIGPIPE` back to its default (Rust
//! ignores it), `/dev/null` as stdin, the two pipes as stdout and stderr, its own process group,
//! and no other descriptor (baton opens everything close-on-exec). [`available`] says whether
//! this kernel and process allow it (a pidfd needs Linux 5.3, and a seccomp filter can refuse
//! it); when not, the shell executor starts the step through tokio as before.

use std::ffi::{CStr, CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::OnceLock;

use indexmap::IndexMap;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

unsafe extern "C" {
    /// The process's environment, as the C library keeps it.
    static environ: *const *const c_char;
}

/// Whether steps can be started here: `pidfd_open` works, and descriptors 0, 1 and 2 are open
/// (else a pipe could be given one of them, and the child's stdout and stderr would be
/// shuffled). Asked once per process.
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: fcntl(F_GETFD) on any number only reads the descriptor table.
        let standard_open = (0..3).all(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0);
        // SAFETY: getpid has no preconditions.
        standard_open && pidfd_open(unsafe { libc::getpid() }).is_ok()
    })
}

/// A started step: its process and the read ends of its stdout and stderr.
pub(super) struct Started {
    pub child: Child,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

/// A child process, reaped through its pidfd. Dropped before it was reaped, it is reaped by a
/// thread of its own, so that it never stays a zombie (the caller kills its group first).
pub(super) struct Child {
    pid: libc::pid_t,
    pidfd: AsyncFd<OwnedFd>,
    reaped: bool,
}

impl Child {
    /// The process id, which is also its process group's.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the process to end and reaps it. Cancel-safe.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            let mut ready = self.pidfd.readable().await?;
            if let Some(status) = reap(self.pid, libc::WNOHANG)? {
                self.reaped = true;
                return Ok(status);
            }
            ready.clear_ready();
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reaped || matches!(reap(self.pid, libc::WNOHANG), Ok(Some(_)) | Err(_)) {
            return;
        }
        let pid = self.pid;
        // Rare (an attempt dropped while its process runs), and waiting must not block the
        // engine: the process may take a moment to die.
        let waiter = std::thread::Builder::new()
            .name("baton-reap".into())
            .spawn(move || reap(pid, 0));
        if waiter.is_err() {
            // No thread to be had: wait here rather than leave a zombie.
            let _ = reap(pid, 0);
        }
    }
}

/// `waitpid` for one process, retried when interrupted; `None` while it runs (with `WNOHANG`).
fn reap(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our integer.
        match unsafe { libc::waitpid(pid, &mut status, flags) } {
            0 => return Ok(None),
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            _ => return Ok(Some(ExitStatus::from_raw(status))),
        }
    }
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just made and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The read end of a pipe, non-blocking, for the reactor. Only the read end: the write end
/// is the child's stdout, which must block when the pipe is full.
fn receiver(read: OwnedFd) -> io::Result<pipe::Receiver> {
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    pipe::Receiver::from_owned_fd_unchecked(read)
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a NUL byte in the command or its environment",
        )
    })
}

/// The child's environment: the step's variables, then every variable of baton's own that the
/// step does not set. The pointers into `environ` stay valid while baton does not change its
/// environment, which it never does while steps run (`set_var` is `unsafe` for this reason).
fn environment(own: &IndexMap<String, String>) -> io::Result<(Vec<CString>, Vec<*const c_char>)> {
    let mut strings = Vec::with_capacity(own.len());
    for (key, value) in own {
        let mut entry = Vec::with_capacity(key.len() + value.len() + 2);
        entry.extend_from_slice(key.as_bytes());
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        strings.push(c_string(&entry)?);
    }
    let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings; it is read, not
    // kept past the spawn.
    unsafe {
        let mut at = environ;
        while !at.is_null() && !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            let key = entry
                .iter()
                .position(|&b| b == b'=')
                .map_or(entry, |eq| &entry[..eq]);
            let overridden = std::str::from_utf8(key).is_ok_and(|k| own.contains_key(k));
            if !overridden {
                pointers.push(*at);
            }
            at = at.add(1);
        }
    }
    pointers.push(std::ptr::null());
    Ok((strings, pointers))
}

/// Owns a `posix_spawn` attribute set or file-action list, destroyed on drop.
struct Spawn {
    attrs: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
}

impl Drop for Spawn {
    fn drop(&mut self) {
        // SAFETY: both were initialised in `start` before a `Spawn` was made.
        unsafe {
            libc::posix_spawnattr_destroy(&mut self.attrs);
            libc::posix_spawn_file_actions_destroy(&mut self.actions);
        }
    }
}

/// `posix_spawn`'s error numbers as `io::Error`s.
fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Starts `program` (an absolute path) as `arg0 -c command` in a process group of its own,
/// with `env` added to baton's environment, in `cwd` when given. Needs a tokio runtime.
pub(super) fn start(
    program: &Path,
    arg0: &str,
    command: &str,
    env: &IndexMap<String, String>,
    cwd: Option<&Path>,
) -> io::Result<Started> {
    let program = c_string(program.as_os_str().as_bytes())?;
    let args = [
        c_string(arg0.as_bytes())?,
        c_string(b"-c")?,
        c_string(command.as_bytes())?,
    ];
    let argv = [
        args[0].as_ptr(),
        args[1].as_ptr(),
        args[2].as_ptr(),
        std::ptr::null(),
    ];
    let cwd = cwd
        .map(|d| c_string(d.as_os_str().as_bytes()))
        .transpose()?;
    let (_strings, envp) = environment(env)?;
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;

    // SAFETY: the attribute set and file-action list are initialised before use and destroyed
    // by `Spawn`'s drop; every pointer handed to posix_spawn (program, argv, envp, cwd, the
    // path of /dev/null) outlives the call.
    let pid = unsafe {
        let mut spawn = Spawn {
            attrs: std::mem::zeroed(),
            actions: std::mem::zeroed(),
        };
        check(libc::posix_spawnattr_init(&mut spawn.attrs))?;
        if let Err(e) = check(libc::posix_spawn_file_actions_init(&mut spawn.actions)) {
            libc::posix_spawnattr_destroy(&mut spawn.attrs);
            return Err(e);
        }
        let mut signals: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut signals);
        check(libc::posix_spawnattr_setsigmask(&mut spawn.attrs, &signals))?;
        libc::sigaddset(&mut signals, libc::SIGPIPE);
        check(libc::posix_spawnattr_setsigdefault(
            &mut spawn.attrs,
            &signals,
        ))?;
        check(libc::posix_spawnattr_setpgroup(&mut spawn.attrs, 0))?;
        let flags = libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF
            | libc::POSIX_SPAWN_SETPGROUP;
        check(libc::posix_spawnattr_setflags(
            &mut spawn.attrs,
            flags as libc::c_short,
        ))?;
        check(libc::posix_spawn_file_actions_addopen(
            &mut spawn.actions,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDONLY,
            0,
        ))?;
        check(libc::posix_spawn_file_actions_adddup2(
            &mut spawn.actions,
            out_write.as_raw_fd(),
            1,
        ))?;
        check(libc::posix_spawn_file_actions_adddup2(
            &mut spawn.actions,
            err_write.as_raw_fd(),
            2,
        ))?;
        if let Some(dir) = &cwd {
            check(libc::posix_spawn_file_actions_addchdir_np(
                &mut spawn.actions,
                dir.as_ptr(),
            ))?;
        }
        let mut pid: libc::pid_t = 0;
        check(libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            &spawn.actions,
            &spawn.attrs,
            argv.as_ptr() as *const *mut c_char,
            envp.as_ptr() as *const *mut c_char,
        ))?;
        pid
    };
    // The child has its copies; baton's must close, or the readers never see the end.
    drop((out_write, err_write));
    let owned = |pidfd: io::Result<OwnedFd>| -> io::Result<Child> {
        Ok(Child {
            pid,
            // SAFETY: the `OwnedFd` is moved into the `AsyncFd`, which closes it when dropped.
            pidfd: unsafe {
                AsyncFd::register_with_interest(pidfd?, tokio::io::Interest::READABLE)?
            },
            reaped: false,
        })
    };
    let child = match owned(pidfd_open(pid)) {
        Ok(child) => child,
        Err(e) => {
            // Out of descriptors, most likely: stop the child rather than lose track of it.
            crate::process_group::signal_group(pid, libc::SIGKILL);
            let _ = reap(pid, 0);
            return Err(e);
        }
    };
    Ok(Started {
        child,
        stdout: receiver(out_read)?,
        stderr: receiver(err_read)?,
    })
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use tokio::io::AsyncReadExt;

    use super::{available, start};

    async fn run(command: &str, env: &[(&str, &str)], cwd: Option<&str>) -> (i32, String, String) {
        let env: IndexMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut started = start(
            std::path::Path::new("/bin/sh"),
            "sh",
            command,
            &env,
            cwd.map(std::path::Path::new),
        )
        .expect("started");
        let (mut out, mut err) = (String::new(), String::new());
        started.stdout.read_to_string(&mut out).await.unwrap();
        started.stderr.read_to_string(&mut err).await.unwrap();
        let status = started.child.wait().await.unwrap();
        (status.code().unwrap_or(-1), out, err)
    }

    #[tokio::test]
    async fn a_step_gets_its_streams_group_environment_directory_and_signals() {
        assert!(available(), "pidfd_open works on every kernel CI runs on");
        // Its own variables win over baton's, and baton's others are inherited.
        let path = std::env::var("PATH").unwrap();
        let (code, out, err) = run(
            r#"echo "$A|$PATH"; echo oops >&2; exit 3"#,
            &[("A", "1"), ("PATH", "/step/bin")],
            None,
        )
        .await;
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (3, "1|/step/bin\n", "oops\n")
        );
        let (_, out, _) = run(r#"printf %s "$PATH""#, &[], None).await;
        assert_eq!(out, path);
        // stdin is /dev/null, the directory is the one given, and the shell leads its group.
        let (_, out, _) = run(
            "cat; pwd; ps -o pgid= -p $$ | tr -d ' '; echo $$",
            &[],
            Some("/tmp"),
        )
        .await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "/tmp", "{out}");
        assert_eq!(lines[1], lines[2], "its own group: {out}");
        // SIGPIPE is back to its default (Rust ignores it) and no signal is blocked.
        let (_, out, _) = run("grep -E '^Sig(Ign|Blk)' /proc/self/status", &[], None).await;
        for line in out.lines() {
            let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
            assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{line}");
            if line.starts_with("SigBlk") {
                assert_eq!(mask, 0, "{line}");
            }
        }
        // None of baton's own descriptors reaches the child: only the standard three, and
        // whatever baton itself inherited open across exec (as std passes them on too).
        let inherited: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            // SAFETY: F_GETFD only reads the descriptor's flags.
            .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC == 0)
            .map(|fd| fd.to_string())
            .collect();
        let (_, out, _) = run("ls /proc/self/fd", &[], None).await;
        let extra: Vec<&str> = out
            .lines()
            .filter(|fd| !["0", "1", "2"].contains(fd) && !inherited.iter().any(|i| i == fd))
            .collect();
        // `ls` holds the directory it lists open too.
        assert!(extra.len() <= 1, "{extra:?} beyond {inherited:?}");
    }

    #[tokio::test]
    async fn an_unstartable_program_is_an_error_and_a_dropped_child_is_reaped() {
        let env = IndexMap::new();
        let missing = start(
            std::path::Path::new("/nonexistent/sh"),
            "sh",
            "true",
            &env,
            None,
        );
        assert_eq!(
            missing.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
        let nul = start(std::path::Path::new("/bin/sh"), "sh", "a\0b", &env, None);
        assert_eq!(
            nul.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::InvalidInput)
        );
        let started = start(
            std::path::Path::new("/bin/sh"),
            "sh",
            "exec sleep 30",
            &env,
            None,
        )
        .expect("started");
        let pid = started.child.id() as i32;
        crate::process_group::signal_group(pid, libc::SIGKILL);
        drop(started);
        // The drop or its reaping thread reaps it: a zombie would keep its /proc entry.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{pid} was never reaped"
            );
            std::thread::yield_now();
        }
    }
}
