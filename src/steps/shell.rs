//! `run:` a shell command in its own process group, streaming stdout and stderr line by line.
//!
//! The group is what pause, cancel and timeouts act on, so grandchildren (a `sleep` started by
//! a script) are frozen and killed with their parent.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::Instant;

use super::{
    Attempt, AttemptResult, Directive, Failure, LogSink, PausableDeadline, Success, output_value,
};
use crate::process_group::{group_alive, signal_group};
use crate::store::{LINE_NOTE_ROOM, LogStream, line_cut_note};

/// Captured stdout/stderr kept for the step's output (for templates and JSON outputs); the
/// log keeps its own head and tail. Stored in the run's journal, so kept small.
const MAX_CAPTURE: usize = 1024 * 1024;

/// A rendered shell command, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ShellCommand {
    /// The command line.
    pub command: String,
    /// The shell (`sh` by default).
    pub shell: String,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Environment added to baton's own (on another host: the whole environment added to
    /// its login's).
    pub env: IndexMap<String, String>,
    /// The host it runs on (`on:`); `None`: here.
    pub on: Option<std::sync::Arc<crate::remote::Host>>,
}

/// The process groups of every shell step running in this process, so that a second Ctrl-C
/// can kill them all at once.
#[derive(Debug, Default)]
pub struct ProcessGroups(std::sync::Mutex<std::collections::HashSet<i32>>);

impl ProcessGroups {
    fn insert(&self, pgid: i32) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pgid);
    }

    fn remove(&self, pgid: i32) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pgid);
    }

    /// SIGKILLs every group (after SIGCONT, in case one is frozen).
    pub fn kill_all(&self) {
        for &pgid in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            signal_group(pgid, libc::SIGCONT);
            signal_group(pgid, libc::SIGKILL);
        }
    }
}

/// Runs one attempt of the command.
pub async fn run(cmd: &ShellCommand, mut attempt: Attempt) -> AttemptResult {
    let program = program(cmd);
    let cannot_start = |e: std::io::Error| {
        let why = if crate::descriptors::is_out_of_descriptors(&e) {
            crate::descriptors::OUT_OF_DESCRIPTORS.to_string()
        } else {
            e.to_string()
        };
        Failure::fatal(format!(
            "cannot start `{}`{}: {why}",
            cmd.shell,
            cmd.cwd
                .as_ref()
                .map(|d| format!(" in {}", d.display()))
                .unwrap_or_default()
        ))
    };
    // baton's own spawn (`clone3`, the step's variables put in front of baton's environment)
    // where the machine allows it; else tokio's `Command`, which also does the path search
    // when the shell was not found in baton's `PATH` or the step sets its own.
    let (mut child, out, err): (Process, Option<Stream>, Option<Stream>) =
        if program.is_absolute() && super::spawn::available() {
            let started = super::spawn::start(
                &program,
                &cmd.shell,
                &cmd.command,
                &cmd.env,
                cmd.cwd.as_deref(),
            )
            .map_err(cannot_start)?;
            (
                Process::Spawned(started.child),
                Some(Box::new(started.stdout)),
                Some(Box::new(started.stderr)),
            )
        } else {
            let mut command = Command::new(&program);
            command
                // `$0` is the shell as named, wherever it was found.
                .arg0(&cmd.shell)
                .arg("-c")
                .arg(&cmd.command)
                .envs(&cmd.env)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            if let Some(dir) = &cmd.cwd {
                command.current_dir(dir);
            }
            let mut child = command.spawn().map_err(cannot_start)?;
            let out = child.stdout.take().map(|s| Box::new(s) as Stream);
            let err = child.stderr.take().map(|s| Box::new(s) as Stream);
            (Process::Tokio(child), out, err)
        };
    let pgid = child.id() as i32;
    attempt.groups.insert(pgid);
    (attempt.spawned)(pgid as u32);
    let mut group = GroupGuard {
        pgid,
        done: false,
        groups: attempt.groups.clone(),
    };

    // Both streams are read in this task, beside the wait: no task of their own to start,
    // wake and join at every step.
    let out = read_all(
        out,
        LogStream::Stdout,
        attempt.log.clone(),
        attempt.max_line,
    );
    let err = read_all(
        err,
        LogStream::Stderr,
        attempt.log.clone(),
        attempt.max_line,
    );
    tokio::pin!(out, err);
    let (mut stdout, mut stderr) = (None, None);
    // The streams once read to their end: closed after the step has been reported (below).
    let mut spent: [Option<Stream>; 2] = [None, None];

    let mut clock = PausableDeadline::start(attempt.timeout, Instant::now());
    let mut frozen = false;
    let mut ended: Option<Ending> = None;
    let status = loop {
        let state = *attempt.control.borrow_and_update();
        match state {
            Directive::Paused if !frozen && ended.is_none() => {
                signal_group(pgid, libc::SIGSTOP);
                clock.pause(Instant::now());
                frozen = true;
            }
            Directive::Running if frozen => {
                signal_group(pgid, libc::SIGCONT);
                clock.resume(Instant::now());
                frozen = false;
            }
            Directive::Cancelled if ended.is_none() => {
                ended = Some(Ending::Cancelled);
                terminate(pgid, frozen, attempt.grace);
                frozen = false;
            }
            _ => {}
        }
        if ended.is_none() && clock.expired(Instant::now()) {
            ended = Some(Ending::TimedOut);
            terminate(pgid, frozen, attempt.grace);
        }
        let wake = if ended.is_some() {
            None
        } else {
            clock.expires_at(Instant::now())
        };
        tokio::select! {
            status = child.wait() => break status,
            (text, stream) = &mut out, if stdout.is_none() => {
                stdout = Some(text);
                spent[0] = stream;
            }
            (text, stream) = &mut err, if stderr.is_none() => {
                stderr = Some(text);
                spent[1] = stream;
            }
            changed = attempt.control.changed(), if ended.is_none() => {
                if changed.is_err() {
                    ended = Some(Ending::Cancelled);
                    terminate(pgid, frozen, attempt.grace);
                }
            }
            _ = sleep_until_opt(wake) => {}
        }
    };
    // The leader is gone; stop whatever it left behind in its group.
    if group_alive(pgid) {
        terminate(pgid, false, attempt.grace);
    }
    group.done = true;
    if stdout.is_none() || stderr.is_none() {
        // A pipe can stay open in a process that escaped the group; do not wait for it
        // forever (what it wrote is in the log all the same).
        let rest = async {
            if stdout.is_none() {
                let (text, stream) = (&mut out).await;
                stdout = Some(text);
                spent[0] = stream;
            }
            if stderr.is_none() {
                let (text, stream) = (&mut err).await;
                stderr = Some(text);
                spent[1] = stream;
            }
        };
        let _ = tokio::time::timeout(STREAMS_AFTER_EXIT, rest).await;
    }
    let (stdout, stderr) = (stdout.unwrap_or_default(), stderr.unwrap_or_default());
    drop_later((child, spent));

    let status =
        status.map_err(|e| Failure::retryable(format!("cannot wait for the command: {e}")))?;
    outcome(status, ended, stdout, stderr, attempt.timeout)
}

/// Drops a finished step's process handle and spent streams once the tasks ready now have
/// run. Closing them is six system calls (each descriptor taken out of the reactor, then
/// closed); done here, before the step's result is reported, they would delay the next step
/// of a chain, which the report starts. Nothing waits on them: the process is reaped and the
/// streams are at their end.
fn drop_later<T: Send + 'static>(spent: T) {
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        drop(spent);
    });
}

/// One of a started step's output streams.
type Stream = Box<dyn AsyncRead + Unpin + Send>;

/// How long a step's streams are read once its process has ended: a process that left the
/// group can hold them open.
const STREAMS_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Reads one of a step's streams into its log to its end; the capped copy kept for the
/// step's output, and the stream, still open, for the caller to close.
async fn read_all(
    stream: Option<Stream>,
    which: LogStream,
    log: LogSink,
    max_line: usize,
) -> (String, Option<Stream>) {
    match stream {
        Some(mut stream) => {
            let text = pump(&mut stream, which, log, max_line).await;
            (text, Some(stream))
        }
        None => (String::new(), None),
    }
}

/// A started attempt's process, however it was started.
enum Process {
    Spawned(super::spawn::Child),
    Tokio(tokio::process::Child),
}

impl Process {
    /// Its pid, which is its process group's too.
    fn id(&self) -> u32 {
        match self {
            Process::Spawned(child) => child.id(),
            // Not yet waited for, so its pid is known.
            Process::Tokio(child) => child.id().unwrap_or(0),
        }
    }

    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Process::Spawned(child) => child.wait().await,
            Process::Tokio(child) => child.wait().await,
        }
    }
}

/// How an attempt that ran to its end went, from the exit status and why it ended.
pub(super) fn outcome(
    status: std::process::ExitStatus,
    ended: Option<Ending>,
    stdout: String,
    stderr: String,
    timeout: Option<Duration>,
) -> AttemptResult {
    let code = status.code();
    match ended {
        Some(Ending::Cancelled) => Err(Failure {
            stdout,
            stderr,
            exit_code: code,
            ..Failure::cancelled()
        }),
        Some(Ending::TimedOut) => Err(Failure {
            error: format!(
                "timed out after {} of running time",
                crate::time::format_duration(timeout.unwrap_or_default())
            ),
            timed_out: true,
            retryable: true,
            exit_code: code,
            stdout,
            stderr,
            cancelled: false,
        }),
        None if status.success() => Ok(Success {
            output: output_value(&stdout),
            stdout,
            stderr,
            exit_code: code,
            metrics: Default::default(),
        }),
        None => {
            use std::os::unix::process::ExitStatusExt;
            let error = match (code, status.signal()) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "ended abnormally".to_string(),
            };
            Err(Failure {
                error,
                exit_code: code,
                retryable: true,
                stdout,
                stderr,
                timed_out: false,
                cancelled: false,
            })
        }
    }
}

/// The shell to start: its path, found in `PATH` once per process, when it is named without
/// one. Started by name, every step would search `PATH` itself, an `execve` per entry until
/// one succeeds (eight failed ones a step on a usual `PATH`). A step that sets its own `PATH`,
/// or a `PATH` with a relative entry (which depends on the step's directory), is left to the
/// usual search.
fn program(cmd: &ShellCommand) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static FOUND: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    let by_name = PathBuf::from(&cmd.shell);
    if cmd.shell.contains('/') || cmd.env.contains_key("PATH") {
        return by_name;
    }
    let mut found = FOUND
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    found
        .entry(cmd.shell.clone())
        .or_insert_with(|| search_path(&cmd.shell))
        .clone()
        .unwrap_or(by_name)
}

/// The first regular, executable file named `name` in this process's `PATH`, as `execvp`
/// would find it; `None` when there is none, or when `PATH` has a relative entry.
fn search_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if dirs.iter().any(|d| !d.is_absolute()) {
        return None;
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

pub(super) enum Ending {
    Cancelled,
    TimedOut,
}

/// SIGTERM the group (SIGCONT first if frozen), then SIGKILL whatever is left after `grace`.
fn terminate(pgid: i32, frozen: bool, grace: Duration) {
    if frozen {
        signal_group(pgid, libc::SIGCONT);
    }
    signal_group(pgid, libc::SIGTERM);
    // SIGTERM can be ignored; the kill after the grace period cannot.
    tokio::spawn(async move {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !group_alive(pgid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20).min(grace)).await;
        }
        signal_group(pgid, libc::SIGKILL);
    });
}

/// Kills the group if the attempt's future is dropped before the process ended.
struct GroupGuard {
    pgid: i32,
    done: bool,
    groups: std::sync::Arc<ProcessGroups>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.groups.remove(self.pgid);
        if !self.done {
            signal_group(self.pgid, libc::SIGCONT);
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

pub(super) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

pub(super) async fn collect(reader: Option<tokio::task::JoinHandle<String>>) -> String {
    let Some(handle) = reader else {
        return String::new();
    };
    let abort = handle.abort_handle();
    // A pipe can stay open in a process that escaped the group; do not wait for it forever.
    match tokio::time::timeout(Duration::from_secs(2), handle).await {
        Ok(Ok(text)) => text,
        _ => {
            abort.abort();
            String::new()
        }
    }
}

/// Reads a stream line by line into the log, keeping a capped copy. A line longer than
/// `max_line` is cut: the rest of it is read and counted, never held.
pub(super) async fn pump(
    stream: impl AsyncRead + Unpin,
    which: LogStream,
    log: LogSink,
    max_line: usize,
) -> String {
    let mut reader = Buffered::new(stream);
    let mut captured = String::new();
    // Grown by the first line: a quiet stream allocates nothing here.
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (n, cut) = match read_line_capped(&mut reader, &mut buf, max_line).await {
            Ok(read) => read,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let cut = if cut > 0 {
            // Room for the note, so that the line with it is within `max_line`.
            let keep = max_line.saturating_sub(LINE_NOTE_ROOM);
            let more = buf.len().saturating_sub(keep);
            buf.truncate(keep);
            cut + more as u64
        } else {
            0
        };
        let text = String::from_utf8_lossy(&buf);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = if cut > 0 {
            std::borrow::Cow::Owned(format!("{line}{}", line_cut_note(cut)))
        } else {
            std::borrow::Cow::Borrowed(line)
        };
        log(which, &line);
        if captured.len() < MAX_CAPTURE {
            captured.push_str(&line);
            captured.push('\n');
        }
    }
    captured
}

/// Like `read_until(b'\n')`, but keeps at most `max` bytes in `buf` and skips the rest of a
/// longer line. Returns the bytes read and how many of them were skipped.
async fn read_line_capped<R: AsyncRead + Unpin>(
    reader: &mut Buffered<R>,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, u64)> {
    let mut total = 0;
    let mut cut = 0u64;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((total, cut));
        }
        let (used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        let kept = used.min(room);
        buf.extend_from_slice(&available[..kept]);
        // The newline itself is not part of the line, so it does not count as cut.
        let newline = usize::from(done && kept < used);
        cut += (used - kept - newline) as u64;
        reader.consume(used);
        total += used;
        if done {
            return Ok((total, cut));
        }
    }
}

/// A read buffer over a step's pipe whose memory is never zeroed: tokio's `BufReader` zeroes
/// its buffer when it is made, and at 64 KiB a stream that was a quarter of all the
/// instructions of a chain of `run: "true"` steps (most steps print little or nothing). Reads
/// go into the spare capacity. It starts at 512 bytes and doubles whenever a read fills it,
/// up to 64 KiB (a full pipe in one read): a quiet step's stream never asks the allocator for
/// the 64 KiB it took at every step. 512 bytes, not a page: glibc serves a block of up to
/// about 1 KiB from a per-thread cache, and a larger one from its shared bins, first merging
/// every small block freed since (`malloc_consolidate`), which at 4 KiB made freeing a quiet
/// step's two buffers 4 % of the engine thread's time in that chain.
struct Buffered<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    /// Room for the next read.
    room: usize,
}

impl<R: AsyncRead + Unpin> Buffered<R> {
    const CAPACITY: usize = 64 * 1024;
    const FIRST: usize = 512;

    fn new(inner: R) -> Buffered<R> {
        Buffered {
            inner,
            buf: Vec::new(),
            pos: 0,
            room: Self::FIRST,
        }
    }

    /// What is buffered, reading more when nothing is; empty at the end of the stream.
    async fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.buf.reserve(self.room);
            // `read_buf` fills the spare capacity without initialising it first.
            let read = self.inner.read_buf(&mut self.buf).await?;
            if read == self.buf.capacity() {
                self.room = (self.room * 2).min(Self::CAPACITY);
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{Buffered, ShellCommand, program, pump};
    use crate::store::LogStream;

    #[test]
    fn a_shell_named_without_a_path_is_started_by_the_path_found_in_path() {
        let cmd = |shell: &str, env: &[(&str, &str)]| ShellCommand {
            command: "true".into(),
            shell: shell.into(),
            cwd: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            on: None,
        };
        let found = program(&cmd("sh", &[("BATON_STEP_ID", "s")]));
        assert!(found.is_absolute(), "{found:?}");
        assert!(found.ends_with("sh"), "{found:?}");
        // Its own PATH, or a path, is left as written.
        assert_eq!(
            program(&cmd("sh", &[("PATH", "/x")])),
            std::path::Path::new("sh")
        );
        assert_eq!(program(&cmd("./sh", &[])), std::path::Path::new("./sh"));
    }

    /// Hands out its bytes `step` at a time, as a pipe does with a slow writer.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl tokio::io::AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let end = (self.at + self.step)
                .min(self.bytes.len())
                .min(self.at + buf.remaining());
            buf.put_slice(&self.bytes[self.at..end]);
            self.at = end;
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn the_read_buffer_starts_small_and_grows_to_a_full_pipe_only_when_filled() {
        let quiet = Trickle {
            bytes: b"ok\n".to_vec(),
            at: 0,
            step: usize::MAX / 2,
        };
        let mut reader = Buffered::new(quiet);
        assert_eq!(reader.fill_buf().await.unwrap(), b"ok\n");
        reader.consume(3);
        assert!(reader.fill_buf().await.unwrap().is_empty());
        assert!(reader.buf.capacity() < Buffered::<Trickle>::CAPACITY);
        assert_eq!(reader.room, Buffered::<Trickle>::FIRST);

        let loud = Trickle {
            bytes: vec![b'x'; Buffered::<Trickle>::CAPACITY * 4],
            at: 0,
            step: usize::MAX / 2,
        };
        let mut reader = Buffered::new(loud);
        let mut total = 0;
        loop {
            let n = reader.fill_buf().await.unwrap().len();
            if n == 0 {
                break;
            }
            assert!(n <= Buffered::<Trickle>::CAPACITY);
            reader.consume(n);
            total += n;
        }
        assert_eq!(total, Buffered::<Trickle>::CAPACITY * 4);
        assert_eq!(reader.room, Buffered::<Trickle>::CAPACITY);
    }

    #[tokio::test]
    async fn lines_across_reads_and_past_the_buffer_are_read_whole_or_cut() {
        let long = "x".repeat(Buffered::<Trickle>::CAPACITY * 2 + 7);
        let text = format!("first\n{long}\nlast without newline");
        for step in [3, 1000, usize::MAX / 2] {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let seen = lines.clone();
            let log: crate::steps::LogSink = Arc::new(move |_: LogStream, l: &str| {
                seen.lock().unwrap().push(l.to_string());
            });
            let stream = Trickle {
                bytes: text.clone().into_bytes(),
                at: 0,
                step,
            };
            let captured = pump(stream, LogStream::Stdout, log, 1000).await;
            let lines = lines.lock().unwrap().clone();
            assert_eq!(lines.len(), 3, "{step}");
            assert_eq!(lines[0], "first");
            assert!(
                lines[1].starts_with("xxx") && lines[1].len() <= 1000,
                "{step}"
            );
            assert!(lines[1].ends_with(&format!("(+{} bytes cut)", long.len() - 952)));
            assert_eq!(lines[2], "last without newline");
            assert_eq!(captured, format!("{}\n", lines.join("\n")));
        }
    }

    #[tokio::test]
    async fn a_finished_steps_pipes_are_closed_soon_after_its_result() {
        // The step names its own stdout and stderr: the pipes, whose inodes baton's read ends
        // share. Other tests' descriptors in this process do not matter: these two are ours.
        let cmd = ShellCommand {
            command: "readlink /proc/$$/fd/1 /proc/$$/fd/2".into(),
            shell: "sh".into(),
            cwd: None,
            env: indexmap::IndexMap::new(),
            on: None,
        };
        let (_control, directives) = tokio::sync::watch::channel(crate::steps::Directive::Running);
        let attempt = crate::steps::Attempt {
            log: Arc::new(|_: LogStream, _: &str| {}),
            control: directives,
            timeout: None,
            grace: std::time::Duration::from_secs(1),
            max_line: 1000,
            groups: Arc::default(),
            spawned: Arc::new(|_| {}),
        };
        let done = super::run(&cmd, attempt).await.expect("the step succeeds");
        let pipes: Vec<&str> = done.stdout.lines().collect();
        assert_eq!(pipes.len(), 2, "{:?}", done.stdout);
        assert!(pipes.iter().all(|p| p.starts_with("pipe:[")), "{pipes:?}");
        let open = || {
            std::fs::read_dir("/proc/self/fd")
                .expect("/proc/self/fd lists")
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .any(|link| pipes.iter().any(|p| link.as_os_str() == *p))
        };
        // Closed by a task of their own once the tasks ready at the step's end have run: a
        // few turns of this runtime, with nothing to wait for.
        for _ in 0..100 {
            if !open() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("a finished step's pipes {pipes:?} are still open");
    }
}
