//! `run:` with `on: HOST`: one attempt of a shell command on another host, over the shared SSH
//! connection (`remote/`), with the semantics of a local one: logs line by line, exit codes,
//! pause (SIGSTOP of the remote group), timeouts and cancel (TERM, grace, KILL) on the host.
//!
//! The command runs there in a process group of its own under a small wrapper; its first line
//! on stdout names that group and is not logged. Signals are separate `ssh HOST kill …` calls
//! over the same connection.

use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::shell::{Ending, ShellCommand, collect, outcome, pump, sleep_until_opt};
use super::{Attempt, AttemptResult, Directive, Failure, LogSink, PausableDeadline};
use crate::remote::{Host, Ssh, script};
use crate::store::{LogStream, RemoteProcess};

/// Told where a remote attempt's process group runs, once it is known.
pub type RemoteSpawned = Arc<dyn Fn(RemoteProcess) + Send + Sync>;

/// The group on the host: its id and its leader's start time.
type Group = (u32, String);

/// Runs one attempt of `cmd` on `host`.
pub async fn run(
    cmd: ShellCommand,
    host: Arc<Host>,
    ssh: Arc<Ssh>,
    mut attempt: Attempt,
    spawned: RemoteSpawned,
) -> AttemptResult {
    let _session = connect(&ssh, &host, &mut attempt).await?;
    let cwd = cmd.cwd.as_ref().map(|d| d.to_string_lossy().into_owned());
    let input =
        script::step(&cmd.command, &cmd.shell, cwd.as_deref(), &cmd.env).map_err(Failure::fatal)?;
    let mut command = ssh.command(&host.ssh);
    command
        .arg(script::start(attempt.grace, &input.end))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| Failure::fatal(format!("cannot start `ssh` for host `{}`: {e}", host.name)))?;
    // The environment and the command go through stdin, never on a command line; stdin then
    // stays open until the attempt ends: the host stops the step when it closes early.
    let (release, held) = oneshot::channel::<()>();
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(input.text.as_bytes()).await;
            let _ = held.await;
        });
    }
    let (marked, marker) = oneshot::channel();
    let out_reader = child.stdout.take().map(|s| {
        tokio::spawn(stdout_after_marker(
            s,
            marked,
            attempt.log.clone(),
            attempt.max_line,
        ))
    });
    let err_reader = child.stderr.take().map(|s| {
        tokio::spawn(pump(
            s,
            LogStream::Stderr,
            attempt.log.clone(),
            attempt.max_line,
        ))
    });
    let mut remote = Remote {
        ssh: ssh.clone(),
        host: host.clone(),
        group: None,
        stopping: None,
        done: false,
    };
    let (status, ended) = watch(&mut child, &mut remote, &mut attempt, marker, spawned).await;
    drop(release);
    if let Some(e) = remote.finish().await {
        (attempt.log)(
            LogStream::System,
            &format!("cannot stop the step's processes on its host: {e}"),
        );
    }
    let stdout = collect(out_reader).await;
    let stderr = collect(err_reader).await;
    let status = status.map_err(|e| Failure::retryable(format!("cannot wait for ssh: {e}")))?;
    if status.code() == Some(255)
        && ended.is_none()
        && let Some(lost) = lost(&ssh, &host, &remote, &stderr).await
    {
        return Err(lost);
    }
    outcome(status, ended, stdout, stderr, attempt.timeout)
}

/// Makes sure the host's shared connection is up and takes one of its sessions, unless the
/// run is cancelled first.
async fn connect(
    ssh: &Ssh,
    host: &Host,
    attempt: &mut Attempt,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Failure> {
    let log = attempt.log.clone();
    let waiting = move || {
        let line = format!(
            "waiting for one of host `{}`'s {} sessions (`max_sessions`)",
            host.name, host.max_sessions.0
        );
        log(LogStream::System, &line);
    };
    let session = async {
        let session = ssh.step_session(host, waiting).await;
        ssh.connect(&host.name, &host.ssh).await.map(|()| session)
    };
    tokio::select! {
        r = session => r.map_err(|e| Failure {
            error: e.message,
            retryable: e.retryable,
            ..Failure::default()
        }),
        _ = super::wait_cancelled(&mut attempt.control) => Err(Failure::cancelled()),
    }
}

/// Follows the attempt until `ssh` ends: pause, resume, cancel and the time limit act on the
/// remote group once its id is known (and at once when it becomes known).
async fn watch(
    child: &mut tokio::process::Child,
    remote: &mut Remote,
    attempt: &mut Attempt,
    marker: oneshot::Receiver<Group>,
    spawned: RemoteSpawned,
) -> (std::io::Result<std::process::ExitStatus>, Option<Ending>) {
    let mut clock = PausableDeadline::start(attempt.timeout, Instant::now());
    let mut frozen = false;
    let mut ended: Option<Ending> = None;
    let mut marker = Some(marker);
    loop {
        let state = *attempt.control.borrow_and_update();
        match state {
            Directive::Paused if !frozen && ended.is_none() => {
                clock.pause(Instant::now());
                frozen = true;
                remote.signal("STOP", attempt).await;
            }
            Directive::Running if frozen => {
                clock.resume(Instant::now());
                frozen = false;
                remote.signal("CONT", attempt).await;
            }
            Directive::Cancelled if ended.is_none() => {
                ended = Some(Ending::Cancelled);
                remote.stop(attempt.grace);
            }
            _ => {}
        }
        if ended.is_none() && clock.expired(Instant::now()) {
            ended = Some(Ending::TimedOut);
            remote.stop(attempt.grace);
        }
        let wake = if ended.is_some() {
            None
        } else {
            clock.expires_at(Instant::now())
        };
        let next_marker = async {
            match marker.as_mut() {
                Some(m) => m.await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => return (status, ended),
            group = next_marker => {
                marker = None;
                if let Some(group) = group {
                    spawned(RemoteProcess {
                        host: remote.host.name.clone(),
                        ssh: remote.host.ssh.clone(),
                        pgid: group.0,
                        started: group.1.clone(),
                    });
                    remote.group = Some(group);
                    if ended.is_some() {
                        remote.stop(attempt.grace);
                    } else if frozen {
                        remote.signal("STOP", attempt).await;
                    }
                }
            }
            changed = attempt.control.changed(), if ended.is_none() => {
                if changed.is_err() {
                    ended = Some(Ending::Cancelled);
                    remote.stop(attempt.grace);
                }
            }
            _ = sleep_until_opt(wake) => {}
        }
    }
}

/// The attempt's group on its host, and a stop under way.
struct Remote {
    ssh: Arc<Ssh>,
    host: Arc<Host>,
    group: Option<Group>,
    stopping: Option<tokio::task::JoinHandle<Result<(), String>>>,
    done: bool,
}

impl Remote {
    /// SIGSTOP or SIGCONT the group; a failure is said in the step's log.
    async fn signal(&self, signal: &str, attempt: &Attempt) {
        let Some((pgid, _)) = &self.group else {
            return;
        };
        let line = script::signal(*pgid, signal);
        if let Err(e) = self.ssh.exec(&self.host.name, &self.host.ssh, &line).await {
            (attempt.log)(
                LogStream::System,
                &format!("cannot send SIG{signal} to the step's processes: {e}"),
            );
        }
    }

    /// Starts stopping the group (TERM, grace, KILL on the host), once.
    fn stop(&mut self, grace: std::time::Duration) {
        let Some((pgid, started)) = self.group.clone() else {
            return;
        };
        if self.stopping.is_some() {
            return;
        }
        let (ssh, host) = (self.ssh.clone(), self.host.clone());
        let line = script::stop(pgid, &started, grace);
        self.stopping = Some(tokio::spawn(async move {
            ssh.exec(&host.name, &host.ssh, &line).await
        }));
    }

    /// Waits for a stop under way; its error, if it failed.
    async fn finish(&mut self) -> Option<String> {
        self.done = true;
        match self.stopping.take()?.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(e.to_string()),
        }
    }
}

impl Drop for Remote {
    /// An attempt dropped before its end (the engine is going away) stops its group.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let (Some(_), Ok(_)) = (&self.group, tokio::runtime::Handle::try_current()) {
            self.stop(std::time::Duration::from_secs(1));
        }
    }
}

/// `ssh` said 255: the connection was lost, or the command itself exited 255. A lost one
/// fails the attempt (retryably), after stopping the group over a new connection.
async fn lost(ssh: &Ssh, host: &Host, remote: &Remote, stderr: &str) -> Option<Failure> {
    let Some((pgid, started)) = &remote.group else {
        let said = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        ssh.lost(&host.ssh).await;
        return Some(Failure::retryable(format!(
            "host `{}` ({}): the connection failed before the command started: {}",
            host.name,
            host.destination(),
            crate::sanitize::strip(said.trim())
        )));
    };
    if ssh.alive(&host.ssh).await {
        return None;
    }
    ssh.lost(&host.ssh).await;
    let line = script::stop(*pgid, started, std::time::Duration::from_secs(2));
    let cleanup = match ssh.exec(&host.name, &host.ssh, &line).await {
        Ok(()) => format!("its processes there (group {pgid}) were stopped over a new connection"),
        Err(e) => format!("its processes there (group {pgid}) may still run: {e}"),
    };
    Some(Failure::retryable(format!(
        "the connection to host `{}` ({}) was lost while the command ran; {cleanup}",
        host.name,
        host.destination()
    )))
}

/// Reads stdout: lines before the marker (a login script's chatter) are logged, the marker is
/// sent on `marked`, and the rest is pumped into the log as usual.
async fn stdout_after_marker(
    stream: tokio::process::ChildStdout,
    marked: oneshot::Sender<Group>,
    log: LogSink,
    max_line: usize,
) -> String {
    let mut reader = BufReader::new(stream);
    let mut before = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return before,
            Ok(_) => {}
        }
        if let Some(group) = script::parse_marker(&line) {
            let _ = marked.send(group);
            break;
        }
        let text = line.trim_end_matches(['\n', '\r']);
        log(LogStream::Stdout, text);
        before.push_str(text);
        before.push('\n');
        if before.len() > max_line {
            break;
        }
    }
    before + &pump(reader, LogStream::Stdout, log, max_line).await
}
