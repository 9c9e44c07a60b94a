//! A real `sshd` for the `on:` tests: its own host key, client key, known_hosts and
//! authorized_keys in a temp dir, listening on 127.0.0.1 at a port of its own (several stand
//! in for several hosts). It runs as the tests' user (root, as `tests/run.sh` runs them), and
//! nothing of that user's `~/.ssh` is read or written: hosts name the key and known_hosts
//! file, and `[ssh] config_file = "/dev/null"` keeps the user's client config out.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SSHD: &str = "/usr/sbin/sshd";

/// One sshd, stopped (with every session it started) when dropped.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
    /// Processes killed when it stops though they are not its listener's children: the
    /// sessions of a listener stopped while they went on ([`Sshd::stop_listening`]), and
    /// frozen ones ([`Sshd::freeze_connections`]), which would stay frozen after their
    /// session went.
    orphans: Vec<i32>,
}

impl Sshd {
    /// Starts one; fails the test, naming the command that provides sshd, when there is none.
    pub fn start() -> Sshd {
        assert!(
            Path::new(SSHD).exists() && which("ssh") && which("ssh-keygen"),
            "the SSH tests need OpenSSH's server and client ({SSHD}, ssh, ssh-keygen): run the \
             tests with `tests/run.sh`, which installs them, or `apt-get install openssh-server \
             openssh-client`"
        );
        let dir = tempfile::Builder::new().prefix("sshd").tempdir().unwrap();
        keygen(&dir.path().join("host_key"));
        keygen(&dir.path().join("client_key"));
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        // The privilege-separation directory sshd insists on.
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut port = free_port();
        let mut sshd = Sshd {
            child: spawn(dir.path(), port),
            dir,
            port,
            orphans: Vec::new(),
        };
        // Another test may take the port between its choice and sshd's bind: a new one then.
        for _ in 0..5 {
            match sshd.listening() {
                Err(log) if log.contains("Address already in use") => {
                    port = free_port();
                    sshd.port = port;
                    sshd.child = spawn(sshd.dir.path(), port);
                }
                Err(log) => panic!("{log}"),
                Ok(()) => break,
            }
        }
        sshd.trust_host_key();
        sshd.wait_listening();
        sshd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The client's private key.
    pub fn client_key(&self) -> PathBuf {
        self.path("client_key")
    }

    /// The known_hosts file that knows this sshd's key.
    pub fn known_hosts(&self) -> PathBuf {
        self.path("known_hosts")
    }

    /// The host's fields for a workflow's `hosts:` (YAML flow mapping).
    pub fn yaml(&self) -> String {
        format!(
            "{{ address: 127.0.0.1, port: {}, user: {}, identity_file: {}, known_hosts: {} }}",
            self.port,
            user(),
            self.client_key().display(),
            self.known_hosts().display()
        )
    }

    /// `[hosts.NAME]` for the config file.
    pub fn toml(&self, name: &str) -> String {
        format!(
            "[hosts.{name}]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\n",
            self.port,
            user(),
            self.client_key().display(),
            self.known_hosts().display()
        )
    }

    /// The host as the engine takes it from a config file.
    pub fn fields(&self) -> baton::remote::HostFields {
        baton::remote::HostFields {
            address: Some("127.0.0.1".into()),
            port: Some(self.port),
            user: Some(user()),
            identity_file: Some(self.client_key()),
            known_hosts: Some(self.known_hosts()),
            ..Default::default()
        }
    }

    /// Restarts this sshd with a new host key (the known_hosts file keeps the old one).
    pub fn change_host_key(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(self.path("host_key"));
        let _ = std::fs::remove_file(self.path("host_key.pub"));
        keygen(&self.path("host_key"));
        self.child = spawn(self.dir.path(), self.port);
        self.wait_listening();
    }

    /// Kills every session process of this sshd: each connection to it drops at once.
    pub fn drop_connections(&self) -> usize {
        let sessions = children_of(self.child.id() as i32);
        for &pid in &sessions {
            // SAFETY: kill(2) on a pid this sshd started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        sessions.len()
    }

    /// Freezes (SIGSTOP) every sshd process of its current connections, as a network that
    /// stopped carrying packets would: the host hears nothing of what the client does.
    pub fn freeze_connections(&mut self) {
        for session in children_of(self.child.id() as i32) {
            for pid in std::iter::once(session).chain(children_of(session)) {
                // SAFETY: kill(2) on a process this sshd started.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                self.orphans.push(pid);
            }
        }
    }

    /// Stops listening, as a host gone off the network: new connections are refused, and the
    /// sessions it had go on (frozen ones stay frozen) until [`Sshd::listen_again`] or the end.
    pub fn stop_listening(&mut self) {
        self.orphans.extend(self.sessions());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Listens again on the same port, with the same keys.
    pub fn listen_again(&mut self) {
        self.child = spawn(self.dir.path(), self.port);
        self.wait_listening();
    }

    /// Its sessions right now (one per connection).
    pub fn sessions(&self) -> Vec<i32> {
        children_of(self.child.id() as i32)
    }

    fn trust_host_key(&self) {
        let key = std::fs::read_to_string(self.path("host_key.pub")).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        let line = format!("[127.0.0.1]:{} {}\n", self.port, key.join(" "));
        std::fs::write(self.known_hosts(), line).unwrap();
    }

    fn wait_listening(&mut self) {
        if let Err(why) = self.listening() {
            panic!("{why}");
        }
    }

    /// Waits until sshd accepts connections; `Err` with its log if it ended before.
    fn listening(&mut self) -> Result<(), String> {
        let port = self.port;
        let log = self.path("sshd.log");
        let child = &mut self.child;
        let mut ended = None;
        super::harness::eventually(
            Duration::from_secs(30),
            &format!("sshd to listen on port {port}"),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    ended = Some(format!("sshd ended ({status}) before it listened: {log}"));
                    return true;
                }
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            },
        );
        ended.map_or(Ok(()), Err)
    }

    fn stop(&mut self) {
        self.drop_connections();
        for pid in self.orphans.drain(..) {
            // SAFETY: kill(2) on a session an earlier listener of this sshd started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(dir: &Path, port: u16) -> Child {
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
",
            d = dir.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
    Command::new(SSHD)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&config)
        .arg("-p")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"))
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed for {}", path.display());
}

/// A port free now, below the kernel's range of ephemeral ports (32768 and up by default),
/// so that no outgoing connection of another test takes it while this sshd is stopped (a host
/// that went away and comes back listens on the same port).
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        .wrapping_mul(2654435761)
        .wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
    (0..2000)
        .map(|i| 20000 + ((seed.wrapping_add(i * 104729)) % 12000) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The tests' user, from the OS.
pub fn user() -> String {
    baton::identity::Operator::current().name
}

fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rfind(')')
                    .and_then(|i| s[i + 1..].split_whitespace().nth(1)?.parse::<i32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}
