//! The system `ssh`, one shared connection per host: a master started once (ControlMaster,
//! ControlPersist) with its control socket in a private 0700 directory, which every step,
//! signal and stop to that host goes through. Host keys are checked as OpenSSH checks them
//! (`BatchMode`: an unknown or changed key is refused, never accepted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use tokio::process::Command;

use super::host::{Host, HostFields, MaxSessions, SshSection};

/// How long an idle shared connection stays open after its last use.
const PERSIST: &str = "60";
/// How long connecting to a host may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a signal or a stop over an open connection may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a host could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// For people: which host, what ssh said, what to do.
    pub message: String,
    /// A later try could succeed (a refused host key or login will not).
    pub retryable: bool,
}

/// One shared connection: whether its master is known to be up, and its sessions.
struct Connection {
    up: tokio::sync::Mutex<bool>,
    steps: Arc<tokio::sync::Semaphore>,
    control: tokio::sync::Semaphore,
}

impl Connection {
    /// Sessions one connection carries at once: `steps` for steps, and a few more for signals
    /// and stops, so that a pause of many steps still reaches them.
    fn new(steps: MaxSessions) -> Connection {
        Connection {
            up: tokio::sync::Mutex::new(false),
            steps: Arc::new(tokio::sync::Semaphore::new(steps.0)),
            control: tokio::sync::Semaphore::new(MaxSessions::CONTROL),
        }
    }
}

/// The hosts of the config file and the shared connections of this process.
pub struct Ssh {
    hosts: IndexMap<String, HostFields>,
    defaults: SshSection,
    control_dir: PathBuf,
    /// Per connection (control socket name): whether its master is known to be up.
    masters: Mutex<HashMap<String, Arc<Connection>>>,
}

impl std::fmt::Debug for Ssh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .field("control_dir", &self.control_dir)
            .finish()
    }
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh::new(IndexMap::new(), SshSection::default(), None)
    }
}

impl Ssh {
    /// The config file's hosts and `[ssh]` defaults; control sockets go under `data_dir`
    /// (or the runtime dir when that path would be too long for a socket).
    pub fn new(
        hosts: IndexMap<String, HostFields>,
        defaults: SshSection,
        data_dir: Option<&Path>,
    ) -> Ssh {
        Ssh {
            hosts,
            defaults,
            control_dir: control_dir(data_dir),
            masters: Mutex::new(HashMap::new()),
        }
    }

    /// The config file's hosts.
    pub fn configured(&self) -> &IndexMap<String, HostFields> {
        &self.hosts
    }

    /// The host `name` means: the workflow's entry (`own`, rendered), else the config file's,
    /// else OpenSSH's own configuration of that name.
    pub fn resolve(&self, name: &str, own: Option<&HostFields>) -> Result<Host, String> {
        let none = HostFields::default();
        let fields = own.or_else(|| self.hosts.get(name)).unwrap_or(&none);
        Host::new(name, fields, &self.defaults)
    }

    /// `ssh` with the connection-sharing options and `target` (options and destination).
    pub fn command(&self, target: &[String]) -> Command {
        self.command_as(target, "auto")
    }

    /// `ssh` as [`Ssh::command`], with `ControlMaster` set to `master` (ssh keeps the first
    /// value given for an option).
    fn command_as(&self, target: &[String], master: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.options(target, master)).args(target);
        cmd.stdin(Stdio::null())
            // Not in baton's process group: a Ctrl-C at the terminal is baton's to handle.
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }

    fn options(&self, target: &[String], master: &str) -> Vec<String> {
        vec![
            "-oBatchMode=yes".into(),
            format!("-oConnectTimeout={}", CONNECT_TIMEOUT.as_secs()),
            "-oServerAliveInterval=5".into(),
            "-oServerAliveCountMax=3".into(),
            "-oLogLevel=ERROR".into(),
            format!("-oControlMaster={master}"),
            format!("-oControlPersist={PERSIST}"),
            format!("-oControlPath={}", self.socket(target).display()),
        ]
    }

    /// The control socket of the connection to `target`: named by a digest of its arguments,
    /// so two hosts at one address with other keys or users never share one.
    fn socket(&self, target: &[String]) -> PathBuf {
        self.control_dir.join(key(target))
    }

    /// The connection to `target`; the first to ask for it sets how many steps it carries.
    fn master(&self, target: &[String]) -> Arc<Connection> {
        self.master_with(target, MaxSessions::DEFAULT)
    }

    fn master_with(&self, target: &[String], steps: MaxSessions) -> Arc<Connection> {
        let mut masters = self.masters.lock().unwrap_or_else(|e| e.into_inner());
        masters
            .entry(key(target))
            .or_insert_with(|| Arc::new(Connection::new(steps)))
            .clone()
    }

    /// Makes sure the shared connection to `host` is up: one master per host, started by the
    /// first step that needs it while the others wait for it.
    pub async fn connect(&self, name: &str, target: &[String]) -> Result<(), ConnectError> {
        let master = self.master(target);
        let mut up = master.up.lock().await;
        let socket = self.socket(target);
        if *up && socket.exists() {
            return Ok(());
        }
        crate::fsperm::private_data_dir(&self.control_dir).map_err(|e| ConnectError {
            message: format!("host `{name}`: cannot make the control socket directory: {e:#}"),
            retryable: false,
        })?;
        // A master another baton process left (ControlPersist) serves this one too; a dead
        // one's socket is removed, or the new master could not take its place.
        if socket.exists() {
            if self.alive(target).await {
                *up = true;
                return Ok(());
            }
            let _ = std::fs::remove_file(&socket);
        }
        let mut cmd = self.command_as(target, "yes");
        cmd.arg("-fN").stdout(Stdio::null()).stderr(Stdio::piped());
        let out = run(cmd, CONNECT_TIMEOUT * 2)
            .await
            .map_err(|e| ConnectError {
                message: format!("host `{name}`: {e}"),
                retryable: true,
            })?;
        if !out.status.success() {
            return Err(connect_error(
                name,
                target,
                &String::from_utf8_lossy(&out.stderr),
            ));
        }
        *up = true;
        Ok(())
    }

    /// The shared connection to `target` was found broken: its master is told to exit (it
    /// may hang on a dead network), and the next step starts another.
    pub async fn lost(&self, target: &[String]) {
        let master = self.master(target);
        let mut up = master.up.lock().await;
        let mut cmd = self.command(target);
        cmd.args(["-O", "exit"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = run(cmd, COMMAND_TIMEOUT).await;
        *up = false;
    }

    /// Whether the master of `target` is running (`ssh -O check`).
    pub async fn alive(&self, target: &[String]) -> bool {
        let mut cmd = self.command(target);
        cmd.args(["-O", "check"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        matches!(run(cmd, COMMAND_TIMEOUT).await, Ok(o) if o.status.success())
    }

    /// A session for a step on the connection to `host`, waited for when all its
    /// `max_sessions` are taken, after calling `waiting` (`None` only if the count were
    /// closed, which it never is).
    pub async fn step_session(
        &self,
        host: &Host,
        waiting: impl FnOnce(),
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let steps = self.master_with(&host.ssh, host.max_sessions).steps.clone();
        if let Ok(session) = steps.clone().try_acquire_owned() {
            return Some(session);
        }
        waiting();
        steps.acquire_owned().await.ok()
    }

    /// Runs `line` (a command line for the host's shell) over the shared connection.
    pub async fn exec(&self, name: &str, target: &[String], line: &str) -> Result<(), String> {
        self.connect(name, target).await.map_err(|e| e.message)?;
        let connection = self.master(target);
        let _session = connection.control.acquire().await;
        let mut cmd = self.command(target);
        cmd.arg(line).stdout(Stdio::null()).stderr(Stdio::piped());
        let out = run(cmd, COMMAND_TIMEOUT)
            .await
            .map_err(|e| format!("host `{name}`: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "host `{name}`: `{line}` failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        ))
    }
}

/// Connects to `host` afresh (no shared connection) and runs `true`: how long that took.
pub async fn check(host: &Host) -> Result<Duration, ConnectError> {
    let mut cmd = Command::from(direct(&host.ssh));
    cmd.arg("true").kill_on_drop(true);
    let began = Instant::now();
    let out = run(cmd, CONNECT_TIMEOUT * 2)
        .await
        .map_err(|e| ConnectError {
            message: format!("host `{}`: {e}", host.name),
            retryable: true,
        })?;
    let took = began.elapsed();
    if out.status.success() {
        return Ok(took);
    }
    Err(connect_error(
        &host.name,
        &host.ssh,
        &String::from_utf8_lossy(&out.stderr),
    ))
}

/// `ssh` to `target` over a connection of its own (no sharing), its stderr piped.
pub(super) fn direct(target: &[String]) -> std::process::Command {
    let mut cmd = std::process::Command::new("ssh");
    cmd.args([
        "-oBatchMode=yes",
        "-oControlMaster=no",
        "-oControlPath=none",
    ])
    .arg(format!("-oConnectTimeout={}", CONNECT_TIMEOUT.as_secs()))
    .arg("-oLogLevel=ERROR")
    .args(target)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` to its end (stdout and stderr as it set them), within `limit`.
async fn run(mut cmd: Command, limit: Duration) -> Result<std::process::Output, String> {
    let child = cmd.spawn().map_err(|e| {
        format!("cannot start `ssh` ({e}); install the OpenSSH client (`apt-get install openssh-client`)")
    })?;
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("ssh failed: {e}")),
        Err(_) => Err(format!(
            "ssh did not finish within {}",
            crate::time::format_duration(limit)
        )),
    }
}

/// What ssh's complaint means, for people.
fn connect_error(name: &str, target: &[String], stderr: &str) -> ConnectError {
    let dest = target.last().map(String::as_str).unwrap_or(name);
    let said = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@'))
        .collect::<Vec<_>>()
        .join(" | ");
    let said = crate::sanitize::strip(&said).into_owned();
    let (what, retryable) = if stderr.contains("IDENTIFICATION HAS CHANGED")
        || stderr.contains("has changed and you have requested strict checking")
    {
        (
            format!(
                "its host key has CHANGED since it was recorded in known_hosts, and ssh refused \
                 it (this can be an attack). If the host was reinstalled, check the new key's \
                 fingerprint with its administrator, then `ssh-keygen -R {dest}` and connect once \
                 by hand to record it"
            ),
            false,
        )
    } else if stderr.contains("Host key verification failed")
        || stderr.contains("host key is known")
    {
        (
            format!(
                "its host key is not known (not in known_hosts), and ssh does not accept unknown \
                 keys for baton. Connect once by hand (`ssh {}`), check the fingerprint, and \
                 accept it",
                target.join(" ")
            ),
            false,
        )
    } else if stderr.contains("Permission denied") {
        (
            "ssh could not log in: check the host's `user` and `identity_file`, and that the key \
             is in the host's authorized_keys"
                .to_string(),
            false,
        )
    } else {
        ("cannot connect".to_string(), true)
    };
    ConnectError {
        message: format!("host `{name}` ({dest}): {what} — ssh said: {said}"),
        retryable,
    }
}

pub(super) fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(nothing)");
    crate::sanitize::strip(line.trim()).into_owned()
}

/// The first 16 hex digits of the SHA-256 of the arguments, NUL-separated.
fn key(target: &[String]) -> String {
    let mut hash = Sha256::new();
    for a in target {
        hash.update(a.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `DATA/ssh`, unless a socket there would pass the 108-byte limit of a socket's path (ssh
/// adds a 17-byte suffix while it makes one): then `$XDG_RUNTIME_DIR/baton-ssh`, else
/// `/tmp/baton-ssh-UID`. Made private (0700, this user's) before the first use.
fn control_dir(data_dir: Option<&Path>) -> PathBuf {
    const ROOM: usize = 108 - 1 - 16 - 17 - 1;
    if let Some(dir) = data_dir.map(|d| d.join("ssh"))
        && dir.as_os_str().len() <= ROOM
    {
        return dir;
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && run.is_absolute()
        && run.as_os_str().len() + 10 <= ROOM
    {
        return run.join("baton-ssh");
    }
    // SAFETY: geteuid has no preconditions.
    PathBuf::from(format!("/tmp/baton-ssh-{}", unsafe { libc::geteuid() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_complaints_become_errors_that_name_the_host_and_say_what_to_do() {
        let t = vec!["-oPort=2222".to_string(), "10.0.0.5".to_string()];
        let changed = connect_error(
            "web1",
            &t,
            "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n",
        );
        assert!(!changed.retryable);
        assert!(
            changed
                .message
                .starts_with("host `web1` (10.0.0.5): its host key has CHANGED")
        );
        let unknown = connect_error("web1", &t, "Host key verification failed.\n");
        assert!(unknown.message.contains("not known"), "{}", unknown.message);
        let refused = connect_error(
            "web1",
            &t,
            "ssh: connect to host 10.0.0.5 port 2222: Connection refused\n",
        );
        assert!(refused.retryable);
        assert!(refused.message.contains("Connection refused"));
    }

    #[test]
    fn a_socket_path_that_would_be_too_long_goes_to_a_short_private_place() {
        let long = PathBuf::from(format!("/{}", "d".repeat(100)));
        assert!(!control_dir(Some(&long)).starts_with(&long));
        assert_eq!(
            control_dir(Some(Path::new("/home/u/.local/share/baton"))),
            Path::new("/home/u/.local/share/baton/ssh")
        );
    }
}
