//! Starting a local shell step with `clone3` and waiting for it on its pidfd, without std's
//! `Command` and tokio's process driver.
//!
//! A chain of `run: "true"` steps is bounded by what happens between one child's exit and the
//! next child's start. What this saves at every step, against std's `Command` (which uses
//! glibc's `posix_spawn`):
//! - the copy of baton's whole environment into fresh strings (std makes one whenever a
//!   variable is added, and every step adds `BATON_RUN_ID` and `BATON_STEP_ID`): here the
//!   child's environment is an array of pointers into baton's own `environ`, the step's
//!   variables in front;
//! - `posix_spawn`'s walk over all 64 signals in the child, two `sigaction` calls each, while
//!   baton waits: the kernel resets the handlers (`CLONE_CLEAR_SIGHAND`) and the child resets
//!   only `SIGPIPE`;
//! - the child's stack mapped and unmapped at every spawn (the unmapping flushes the other
//!   CPU's TLB): one stack per spawning thread is kept;
//! - `pidfd_open`, `open("/dev/null")` and the descriptor-limit checks of the file actions:
//!   the kernel hands over the pidfd (`CLONE_PIDFD`), and `/dev/null` is opened once;
//! - tokio's shared reaper and orphan queue: a step waits on its own pidfd.
//!
//! The child gets what std gives it: an empty signal mask, `SIGPIPE` back to its default (Rust
//! ignores it), `/dev/null` as stdin, the two pipes as stdout and stderr, its own process group,
//! and no other descriptor (baton opens everything close-on-exec). [`available`] says whether
//! this machine allows it (x86-64, Linux 5.5 for `CLONE_CLEAR_SIGHAND`, no seccomp filter
//! refusing `clone3` or killing the child that calls `sched_setaffinity`); when not, the shell
//! executor starts the step through tokio as before.

use std::ffi::{CString, c_char};
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

/// Whether steps can be started here: `clone3` works, and descriptors 0, 1 and 2 are open
/// (else a pipe could be given one of them, and the child's stdout and stderr would be
/// shuffled). Asked once per process.
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: fcntl(F_GETFD) on any number only reads the descriptor table.
        let standard_open = (0..3).all(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0);
        standard_open && clone_works()
    })
}

/// A started step: its process and the read ends of its stdout and stderr.
pub(super) struct Started {
    pub child: Child,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
    /// Whether the spawning thread was kept off the child's CPU during its exec (see
    /// `Plan::parent`).
    #[cfg_attr(not(test), expect(dead_code))]
    pub aside: bool,
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
    // SAFETY: F_SETFL on a descriptor we own. `pipe2` made it with no status flag but
    // `O_CLOEXEC` (a descriptor flag, which F_SETFL leaves alone), so there is nothing to read
    // back first.
    if unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
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
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings; it is read, not
    // kept past the spawn. An entry is read only up to the end of the longest name it could
    // match (values can be long), and never past its NUL: no name holds one (`c_string`
    // refused them above).
    unsafe {
        let mut count = 0;
        while !environ.is_null() && !(*environ.add(count)).is_null() {
            count += 1;
        }
        let mut pointers = Vec::with_capacity(strings.len() + count + 1);
        pointers.extend(strings.iter().map(|s| s.as_ptr()));
        for i in 0..count {
            let entry = *environ.add(i);
            let sets = |name: &String| {
                let name = name.as_bytes();
                name.iter()
                    .enumerate()
                    .all(|(at, &b)| *entry.add(at) as u8 == b)
                    && *entry.add(name.len()) as u8 == b'='
            };
            if !own.keys().any(sets) {
                pointers.push(entry);
            }
        }
        pointers.push(std::ptr::null());
        Ok((strings, pointers))
    }
}

/// What the child does between `clone3` and `execve`, prepared by the parent: the child
/// shares the parent's memory and only reads this, but for `error`.
#[repr(C)]
struct Plan {
    /// Null: exit at once (the probe in [`available`]).
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Null: stay in baton's directory.
    cwd: *const c_char,
    stdin: libc::c_int,
    stdout: libc::c_int,
    stderr: libc::c_int,
    /// The errno of the step that failed, written by the child before it exits with 127.
    error: libc::c_int,
    /// The spawning thread, to be kept off the child's CPU until the child has exec'd; 0: leave
    /// it be. `clone3` with `CLONE_VFORK` suspends it until the child's `execve` has let go of
    /// baton's memory, half-way through the exec; the kernel may wake it on the child's CPU
    /// (a scheduler that packs tasks does, most of the time), and there it preempts the exec
    /// for the run's bookkeeping while the other CPUs idle. On two CPUs that was about a
    /// tenth of every step of a chain. So the child, before its `execve`, narrows the thread's
    /// CPUs to `cpus` less its own, and the thread widens them back to `cpus` when `clone3`
    /// returns: the step's process and the bookkeeping run side by side.
    parent: libc::pid_t,
    /// The spawning thread's CPUs, as they were and are put back.
    cpus: libc::cpu_set_t,
    /// Set by the child once it has narrowed the spawning thread's CPUs.
    aside: libc::c_int,
}

/// `struct clone_args` of `clone3(2)`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Signal handlers are reset to the default in the child, by the kernel (Linux 5.5).
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// Stack of the child until its `execve`, one per spawning thread: the parent is suspended
/// until then (`CLONE_VFORK`), so it is never used twice at once.
const CHILD_STACK: usize = 32 * 1024;

/// The child, on its own stack, sharing baton's memory until `execve`: system calls only, no
/// allocation, no lock, nothing that could unwind. Its signal handlers were reset by the
/// kernel, so no handler of baton's can run here.
///
/// # Safety
/// `plan` points to a `Plan` that outlives the call (the parent waits in `clone3`).
unsafe extern "C" fn child(plan: *mut Plan) -> ! {
    // SAFETY: as the function's contract says; every call is a thin system-call wrapper.
    unsafe {
        let p = &*plan;
        if p.parent != 0 {
            // See `Plan::parent`. Best effort: a refusal changes nothing but the speed.
            let mut cpu: libc::c_uint = 0;
            let got = libc::syscall(
                libc::SYS_getcpu,
                &mut cpu as *mut libc::c_uint,
                std::ptr::null_mut::<libc::c_uint>(),
                std::ptr::null_mut::<libc::c_void>(),
            );
            let mut others = p.cpus;
            if got == 0 && (cpu as usize) < libc::CPU_SETSIZE as usize {
                libc::CPU_CLR(cpu as usize, &mut others);
                if libc::CPU_COUNT(&others) > 0
                    && libc::sched_setaffinity(
                        p.parent,
                        std::mem::size_of::<libc::cpu_set_t>(),
                        &others,
                    ) == 0
                {
                    std::ptr::write_volatile(&mut (*plan).aside, 1);
                }
            }
        }
        if p.program.is_null() {
            libc::_exit(0);
        }
        let fail = |plan: *mut Plan| -> ! {
            std::ptr::write_volatile(&mut (*plan).error, *libc::__errno_location());
            libc::_exit(127)
        };
        if libc::setpgid(0, 0) != 0 {
            fail(plan);
        }
        // Rust ignores SIGPIPE, and an ignored signal stays ignored across exec.
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        if libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut()) != 0 {
            fail(plan);
        }
        // All three are 3 or above (see `available`), so none is overwritten before it is
        // copied, and the copies are not close-on-exec.
        for (from, to) in [(p.stdin, 0), (p.stdout, 1), (p.stderr, 2)] {
            if libc::dup2(from, to) < 0 {
                fail(plan);
            }
        }
        if !p.cwd.is_null() && libc::chdir(p.cwd) != 0 {
            fail(plan);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
            fail(plan);
        }
        libc::execve(p.program, p.argv, p.envp);
        fail(plan)
    }
}

/// A plan with nothing to run yet: no program (the probe's), no descriptors, no thread to set
/// aside.
fn empty_plan() -> Plan {
    Plan {
        program: std::ptr::null(),
        argv: std::ptr::null(),
        envp: std::ptr::null(),
        cwd: std::ptr::null(),
        stdin: -1,
        stdout: -1,
        stderr: -1,
        error: 0,
        parent: 0,
        // SAFETY: an all-zero cpu_set_t is the empty set.
        cpus: unsafe { std::mem::zeroed() },
        aside: 0,
    }
}

/// Asks the child to set this thread aside (see `Plan::parent`), if it has other CPUs to go to.
fn ask_aside(plan: &mut Plan) {
    // SAFETY: sched_getaffinity writes at most the set's size into it; gettid cannot fail.
    unsafe {
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut plan.cpus) == 0
            && libc::CPU_COUNT(&plan.cpus) > 1
        {
            plan.parent = libc::gettid();
        }
    }
}

/// Once `clone3` has returned: gives this thread back the CPUs the child narrowed, if it did.
fn put_back(plan: &Plan) -> bool {
    // SAFETY: the child wrote it, if at all, before its exec or exit; clone3 has returned since.
    let aside = unsafe { std::ptr::read_volatile(&plan.aside) } != 0;
    if aside {
        // SAFETY: the set is a whole cpu_set_t, the one this thread had.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &plan.cpus);
        }
    }
    aside
}

/// Starts the child of `plan`: its pid and pidfd, once it has exec'd or exited.
#[cfg(target_arch = "x86_64")]
fn clone_child(plan: &mut Plan) -> io::Result<(libc::pid_t, OwnedFd)> {
    thread_local! {
        static STACK: std::cell::UnsafeCell<Box<[u128]>> =
            std::cell::UnsafeCell::new(vec![0u128; CHILD_STACK / 16].into_boxed_slice());
    }
    let mut pidfd: libc::c_int = -1;
    let stack = STACK.with(|s| {
        // SAFETY: only this thread uses its stack, and only while it waits in clone3.
        unsafe { (*s.get()).as_mut_ptr() as u64 }
    });
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64
            | CLONE_CLEAR_SIGHAND,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack,
        stack_size: CHILD_STACK as u64,
        ..Default::default()
    };
    let ret: i64;
    // SAFETY: clone3 with CLONE_VM | CLONE_VFORK: the parent is suspended until the child has
    // exec'd or exited, and the child never returns here: it starts on its own stack (16-byte
    // aligned at its top), calls `child` with the plan (kept in r12, which the kernel copies)
    // and that never returns. The parent goes on at `2:` with the child's pid in rax.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call {child}",
            "ud2",
            "2:",
            child = sym child,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &args as *const CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") plan as *mut Plan,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    // SAFETY: the kernel made the pidfd for us (close-on-exec); nothing else owns it.
    Ok((ret as libc::pid_t, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

#[cfg(not(target_arch = "x86_64"))]
fn clone_child(_: &mut Plan) -> io::Result<(libc::pid_t, OwnedFd)> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether `clone3` with a cleared signal table and a pidfd works here (x86-64, Linux 5.5),
/// and the child may set its parent thread aside: tried once with a child that does that and
/// exits at once, which must exit cleanly.
fn clone_works() -> bool {
    // The probe's child sets this thread aside too: a seccomp filter that kills a process
    // calling `sched_setaffinity` shows here, not in every step.
    let mut plan = empty_plan();
    ask_aside(&mut plan);
    match clone_child(&mut plan) {
        Ok((pid, _pidfd)) => {
            put_back(&plan);
            matches!(reap(pid, 0), Ok(Some(status)) if status.success())
        }
        Err(_) => false,
    }
}

/// `/dev/null`, opened once, for every step's stdin.
fn dev_null() -> io::Result<libc::c_int> {
    static NULL: OnceLock<io::Result<OwnedFd>> = OnceLock::new();
    match NULL.get_or_init(|| std::fs::File::open("/dev/null").map(OwnedFd::from)) {
        Ok(fd) => Ok(fd.as_raw_fd()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot open /dev/null: {e}"),
        )),
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
    let stdin = dev_null()?;
    let (out_read, out_write) = pipe()?;
    let (err_read, err_write) = pipe()?;
    let mut plan = Plan {
        program: program.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
        stdin,
        stdout: out_write.as_raw_fd(),
        stderr: err_write.as_raw_fd(),
        ..empty_plan()
    };
    ask_aside(&mut plan);
    let (pid, pidfd) = clone_child(&mut plan)?;
    let aside = put_back(&plan);
    // The child has its copies; baton's must close, or the readers never see the end.
    drop((out_write, err_write));
    // SAFETY: the child wrote it, if at all, before it exited; clone3 has returned since.
    let error = unsafe { std::ptr::read_volatile(&plan.error) };
    if error != 0 {
        // It never ran the command, and has exited: reap it.
        let _ = reap(pid, 0);
        return Err(io::Error::from_raw_os_error(error));
    }
    let child = Child {
        pid,
        // SAFETY: the `OwnedFd` is moved into the `AsyncFd`, which closes it when dropped.
        pidfd: unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)
            .inspect_err(|_| {
                // Out of room in the reactor: stop the child rather than lose track of it.
                crate::process_group::signal_group(pid, libc::SIGKILL);
                let _ = reap(pid, 0);
            })?,
        reaped: false,
    };
    Ok(Started {
        child,
        stdout: receiver(out_read)?,
        stderr: receiver(err_read)?,
        aside,
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
        assert!(
            available(),
            "clone3 with a pidfd works on every kernel CI runs on"
        );
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
        // Only a whole name overrides: a step's `PAT` or `PATHS` leaves baton's `PATH` alone.
        let (_, out, _) = run(
            r#"printf '%s|%s|%s' "$PATH" "$PAT" "$PATHS""#,
            &[("PAT", "p"), ("PATHS", "ps")],
            None,
        )
        .await;
        assert_eq!(out, format!("{path}|p|ps"));
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

    /// The CPUs a task may run on, as `/proc` shows them (`thread-self` for this thread).
    fn cpus_allowed(status: &str) -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list in /proc status")
            .trim()
            .to_string()
    }

    #[tokio::test]
    async fn the_spawning_thread_is_kept_aside_only_during_the_exec() {
        let mine = || cpus_allowed(&std::fs::read_to_string("/proc/thread-self/status").unwrap());
        let before = mine();
        // SAFETY: sched_getaffinity writes at most the set's size into it.
        let several = unsafe {
            let mut cpus: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut cpus) == 0
                && libc::CPU_COUNT(&cpus) > 1
        };
        for _ in 0..20 {
            let mut started = start(
                std::path::Path::new("/bin/sh"),
                "sh",
                "grep Cpus_allowed_list /proc/self/status",
                &IndexMap::new(),
                None,
            )
            .expect("started");
            // Where it can be done at all, it is done at every start.
            assert_eq!(started.aside, several);
            // The thread has its CPUs back, and the step got all of them.
            assert_eq!(mine(), before);
            let mut out = String::new();
            started.stdout.read_to_string(&mut out).await.unwrap();
            started.child.wait().await.unwrap();
            assert_eq!(cpus_allowed(&out), before, "{out}");
        }
    }

    #[tokio::test]
    async fn an_unstartable_program_is_an_error_and_a_dropped_child_is_reaped() {
        let env = IndexMap::new();
        let start_at = |program: &str, command: &str| {
            start(std::path::Path::new(program), "sh", command, &env, None)
        };
        let kind = |started: std::io::Result<super::Started>| started.err().map(|e| e.kind());
        assert_eq!(
            kind(start_at("/nonexistent/sh", "true")),
            Some(std::io::ErrorKind::NotFound)
        );
        assert_eq!(
            kind(start_at("/bin/sh", "a\0b")),
            Some(std::io::ErrorKind::InvalidInput)
        );
        let started = start_at("/bin/sh", "exec sleep 30").expect("started");
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
