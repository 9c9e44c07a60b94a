//! The client's side of the control socket: [`Client`] keeps connections to the owner (each
//! opened with a hello), and [`Remote`] is the `RunReader` and `RunControl` over them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::protocol::{Greeting, Hello, Reply, Request, Streamed, check_welcome};
use crate::engine::{
    Backend, Command, Feed, Notebook, RunControl, RunDetail, RunReader, StartRequest, Subscription,
};
use crate::identity::Operator;
use crate::spec::StepId;
use crate::store::{Event, LogLine, Note, NoteScope, RunId, RunRecord, StepOutput};

/// How long a client waits for the owner's answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections kept open for the next request, at most.
const IDLE_KEPT: usize = 8;

/// One connection to the owner, past its hello.
#[derive(Debug)]
struct Connection {
    lines: BufReader<UnixStream>,
}

impl Connection {
    /// Sends a line and reads the answer (`None`: the owner hung up first).
    fn exchange(&mut self, line: &[u8]) -> std::io::Result<Option<String>> {
        self.lines.get_mut().write_all(line)?;
        let mut answer = String::new();
        if self.lines.read_line(&mut answer)? == 0 {
            return Ok(None);
        }
        Ok(Some(answer))
    }
}

/// The line to the process that owns a store. Cheap to clone: clones share their connections.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    pid: Option<u32>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Client {
    /// The owner of the store in `store_dir`, if one is listening; `pid` is the lock file's.
    /// A listener that is not this user's, or that speaks another protocol version, is an
    /// error saying so: nothing is sent to it.
    pub fn connect(store_dir: &Path, pid: Option<u32>) -> anyhow::Result<Option<Client>> {
        let path = super::socket_path(store_dir);
        let Ok(stream) = UnixStream::connect(&path) else {
            return Ok(None);
        };
        let client = Client {
            path,
            pid,
            idle: Arc::new(Mutex::new(Vec::new())),
        };
        let first = client.greet(stream, None)?;
        client.put_back(first);
        Ok(Some(client))
    }

    /// The owner's pid, as its lock file says.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Who answers, for messages.
    pub fn owner(&self) -> String {
        self.pid
            .map_or("the baton that owns the store".into(), |p| {
                format!("baton process {p}")
            })
    }

    /// A new connection to the owner, past its hello.
    fn open(&self) -> anyhow::Result<Connection> {
        self.open_with(None)
    }

    /// A new connection to the owner, past its hello; `then` is sent with the hello (when the
    /// owner refuses the hello, it reads nothing after it).
    fn open_with(&self, then: Option<&Request>) -> anyhow::Result<Connection> {
        let stream = UnixStream::connect(&self.path)
            .with_context(|| format!("cannot reach {} at {}", self.owner(), self.path.display()))?;
        self.greet(stream, then)
    }

    /// Checks who listens, then exchanges hellos: both sides must speak this protocol.
    fn greet(&self, stream: UnixStream, then: Option<&Request>) -> anyhow::Result<Connection> {
        check_listener(&stream, &self.path)?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        let mut conn = Connection {
            lines: BufReader::new(stream),
        };
        let mut hello = line_of(&Greeting::Hello(Hello::ours()))?;
        if let Some(request) = then {
            hello.extend(line_of(request)?);
        }
        let answer = conn
            .exchange(&hello)
            .with_context(|| format!("no answer from {}", self.owner()))?
            .ok_or_else(|| anyhow!("{} hung up on this baton's hello", self.owner()))?;
        check_welcome(&answer, &self.owner())?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_KEPT {
            idle.push(conn);
        }
    }

    /// Sends one request and decodes the answer. A kept connection the owner has closed
    /// meanwhile is replaced once by a new one.
    pub fn call<T: DeserializeOwned>(&self, request: &Request) -> anyhow::Result<T> {
        let line = line_of(request)?;
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (conn, answer) = match kept.map(|mut conn| (conn.exchange(&line), conn)) {
            Some((Ok(Some(answer)), conn)) => (conn, answer),
            _ => {
                let mut conn = self.open()?;
                let answer = conn
                    .exchange(&line)
                    .with_context(|| format!("no answer from {}", self.owner()))?
                    .ok_or_else(|| {
                        anyhow!("{} closed the connection without an answer", self.owner())
                    })?;
                (conn, answer)
            }
        };
        self.put_back(conn);
        match serde_json::from_str::<Reply>(&answer)
            .with_context(|| format!("an answer from {} is unreadable", self.owner()))?
        {
            Reply::Ok(value) => serde_json::from_value(value)
                .with_context(|| format!("an answer from {} is unreadable", self.owner())),
            Reply::Error(e) => bail!("{e} (answered by {})", self.owner()),
        }
    }

    /// Sends a request whose answer is a stream on a connection of its own, and hands it over
    /// (no timeout: a quiet stream is not a dead one).
    fn open_stream(&self, request: &Request) -> anyhow::Result<BufReader<UnixStream>> {
        let conn = self.open_with(Some(request))?;
        conn.lines.get_ref().set_read_timeout(None)?;
        Ok(conn.lines)
    }
}

fn line_of(item: &impl serde::Serialize) -> anyhow::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(item)?;
    line.push(b'\n');
    Ok(line)
}

/// Refuses a socket whose listener is another user (`SO_PEERCRED`): someone who could put it
/// there would read every request and answer with whatever they like.
fn check_listener(stream: &UnixStream, path: &Path) -> anyhow::Result<()> {
    let uid = crate::identity::peer_uid(stream)
        .with_context(|| format!("cannot tell who listens on {}", path.display()))?;
    let me = crate::identity::current_uid();
    if uid != me {
        let listener = Operator::of_uid(uid);
        bail!(
            "the control socket {} is served by {listener}, not by you ({}); nothing was sent to \
             it. Remove it if you did not expect it, and keep baton's data directory yours \
             (`chmod 700` it)",
            path.display(),
            Operator::of_uid(me)
        );
    }
    Ok(())
}

/// The runs of another process (the baton that owns the store), read and commanded over its
/// control socket: a console attached to it, or a CLI command run while it lives.
#[derive(Debug, Clone)]
pub struct Remote {
    client: Client,
}

impl Remote {
    /// The owner behind `client`.
    pub fn new(client: Client) -> Remote {
        Remote { client }
    }

    /// The line to the owner.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Notebook for Remote {
    fn note_scopes(&self) -> anyhow::Result<Vec<NoteScope>> {
        self.client.call(&Request::NoteScopes)
    }

    fn notes(&self, scope: &str) -> anyhow::Result<Vec<Note>> {
        self.client.call(&Request::Notes {
            scope: scope.to_string(),
        })
    }

    fn forget(&self, scope: &str, key: Option<&str>) -> anyhow::Result<usize> {
        self.client.call(&Request::Forget {
            scope: scope.to_string(),
            key: key.map(str::to_string),
        })
    }
}

impl RunReader for Remote {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        self.client.call(&Request::Runs)
    }

    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        self.client.call(&Request::ResolveRun {
            run: id_or_prefix.to_string(),
        })
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        self.client.call(&Request::Run { run: id.clone() })
    }

    fn run_detail(&self, run: &RunId) -> anyhow::Result<RunDetail> {
        self.client.call(&Request::RunDetail { run: run.clone() })
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        self.client.call(&Request::StepOutput {
            run: run.clone(),
            step: step.clone(),
        })
    }

    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>> {
        self.client.call(&Request::StepOutputs { run: run.clone() })
    }

    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        self.client.call(&Request::Logs {
            run: run.clone(),
            step: step.cloned(),
            after,
            limit,
        })
    }

    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        self.client.call(&Request::TailLogs {
            run: run.clone(),
            step: step.cloned(),
            limit,
        })
    }

    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        self.client.call(&Request::Events { run: run.clone() })
    }
}

impl RunControl for Remote {
    fn start(&self, request: StartRequest) -> anyhow::Result<RunId> {
        // The steps run where this user is, as they would in a baton of their own.
        let request = from_here(request);
        self.client.call(&Request::Start { request })
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        self.client
            .call::<Value>(&Request::Send { command })
            .map(|_| ())
    }

    fn subscribe(&self) -> Subscription {
        self.subscription(&Request::Subscribe { run: None })
    }

    fn subscribe_run(&self, run: &RunId) -> Subscription {
        self.subscription(&Request::Subscribe {
            run: Some(run.clone()),
        })
    }

    fn start_following(&self, request: StartRequest) -> anyhow::Result<(RunId, Subscription)> {
        let request = from_here(request);
        let mut lines = self.client.open_stream(&Request::Follow { request })?;
        let mut first = String::new();
        lines
            .read_line(&mut first)
            .with_context(|| format!("no answer from {}", self.client.owner()))?;
        let id = match serde_json::from_str::<Reply>(&first)
            .with_context(|| format!("an answer from {} is unreadable", self.client.owner()))?
        {
            Reply::Ok(value) => serde_json::from_value::<RunId>(value)
                .with_context(|| format!("an answer from {} is unreadable", self.client.owner()))?,
            Reply::Error(e) => bail!("{e} (answered by {})", self.client.owner()),
        };
        Ok((id, streamed(lines)))
    }
}

/// A start request as this user's own baton would make it: the steps run where the user is.
fn from_here(mut request: StartRequest) -> StartRequest {
    if let Ok(here) = std::env::current_dir() {
        request.workdir.get_or_insert_with(|| here.clone());
        request.path = request.path.map(|p| here.join(p));
    }
    request
}

impl Remote {
    /// A subscription opened by `request`, once the owner says it is ready.
    fn subscription(&self, request: &Request) -> Subscription {
        let mut lines = match self.client.open_stream(request) {
            Ok(lines) => lines,
            Err(e) => {
                tracing::warn!("cannot subscribe to {}: {e:#}", self.client.owner());
                return Subscription::new(|| Feed::Closed);
            }
        };
        // Events from here on are all delivered: a request sent after this sees its effects.
        let mut first = String::new();
        if !matches!(
            lines
                .read_line(&mut first)
                .ok()
                .and_then(|_| serde_json::from_str(&first).ok()),
            Some(Streamed::Ready)
        ) {
            tracing::warn!("{} did not start the subscription", self.client.owner());
            return Subscription::new(|| Feed::Closed);
        }
        streamed(lines)
    }
}

/// The Events streamed on `lines`, a [`Streamed`] line each.
fn streamed(mut lines: BufReader<UnixStream>) -> Subscription {
    Subscription::new(move || {
        let mut line = String::new();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => Feed::Closed,
            Ok(_) => match serde_json::from_str::<Streamed>(&line) {
                Ok(Streamed::Event(event)) => Feed::Event(event),
                Ok(Streamed::Lagged(_)) => Feed::Lagged,
                // A line this baton cannot read: reload rather than guess.
                Ok(Streamed::Ready) | Err(_) => Feed::Lagged,
            },
        }
    })
}

impl Backend for Remote {
    fn attached_to(&self) -> Option<String> {
        Some(self.client.owner())
    }
}
