//! The control socket: while one baton owns the store, other invocations ask it.
//!
//! sled lets one process open the store. That process (a console, `baton run`, `resume`,
//! `retry`) listens on `control.sock` in the store directory, and `baton ls`, `show`, `logs`
//! and `cancel` started meanwhile send it one request each: a line of JSON, answered by a line
//! of JSON. A console opened meanwhile attaches through [`Remote`], a [`Backend`] whose Events
//! come as a stream of lines on a connection of their own. Only the lock holder serves, so a
//! socket file left by a dead owner is replaced by the next one, and a client that finds nobody
//! listening reports the lock error it started from. The socket is made readable and writable
//! by its user only.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::engine::{Backend, Command, Engine, Feed, RunDetail, StartRequest, Subscription};
use crate::identity::Operator;
use crate::spec::StepId;
use crate::store::{Event, LogLine, RunId, RunRecord, StepOutput};

/// A request is one line; longer ones are refused.
const MAX_REQUEST: u64 = 64 * 1024;

/// How long a client waits for the owner's answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The socket of a store directory.
pub fn socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join("control.sock")
}

/// What a client asks of the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Every run, newest first.
    Runs,
    /// The run an id or a unique prefix names.
    Resolve {
        /// Id or prefix.
        run: String,
    },
    /// One run's record, with its workflow source.
    Run {
        /// The run.
        run: RunId,
    },
    /// One run's steps (planned ones included) and outputs.
    Steps {
        /// The run.
        run: RunId,
    },
    /// One run's gates.
    Approvals {
        /// The run.
        run: RunId,
    },
    /// One run's history.
    Events {
        /// The run.
        run: RunId,
    },
    /// Log lines after `after`, at most `limit`.
    Logs {
        /// The run.
        run: RunId,
        /// Only this step's lines.
        step: Option<StepId>,
        /// Lines with a greater seq.
        after: u64,
        /// At most this many.
        limit: usize,
    },
    /// Cancel a run.
    Cancel {
        /// The run.
        run: RunId,
    },
    /// A run with its steps and gates, for a detail view.
    Detail {
        /// The run.
        run: RunId,
    },
    /// A step's output.
    Output {
        /// The run.
        run: RunId,
        /// The step.
        step: StepId,
    },
    /// The newest log lines.
    TailLogs {
        /// The run.
        run: RunId,
        /// Only this step's lines.
        step: Option<StepId>,
        /// At most this many.
        limit: usize,
    },
    /// Start a workflow.
    Start {
        /// What to start.
        request: StartRequest,
    },
    /// Pause, resume, cancel, decide or retry.
    Send {
        /// The command.
        command: Command,
    },
    /// Every Event from now on, a line each (`{"event": …}`, or `{"lagged": n}` when some were
    /// missed), until the client hangs up.
    Subscribe,
}

/// What the owner streams to a subscriber: `ready` first, once nothing more can be missed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Streamed {
    Ready,
    Event(Box<Event>),
    Lagged(u64),
}

/// The owner's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Value),
    Error(String),
}

/// Listens while it lives; dropping it stops listening and removes the socket file.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What kind of owner answers, which decides what it takes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A console or `baton serve`: it runs whatever it is asked to while it lives.
    Console,
    /// A headless `baton run`, `resume` or `retry`: it ends with its run, so it takes no new
    /// runs (a start, a retry, the resume of an interrupted run).
    Headless,
}

/// Starts answering requests for `engine`'s store on `rt`. Call it only while holding the
/// store (an opened `Store` is the proof): any socket file already there is a dead owner's.
pub fn serve(engine: Engine, owner: Owner, rt: &tokio::runtime::Handle) -> anyhow::Result<Server> {
    let path = socket_path(engine.store().dir());
    let std_listener = bind_private(&path)?;
    std_listener.set_nonblocking(true)?;
    let listener = {
        let _in_runtime = rt.enter();
        tokio::net::UnixListener::from_std(std_listener)?
    };
    let task = rt.spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: try again soon rather than spin.
                    tracing::warn!("control socket: cannot accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let engine = engine.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(stream, engine, owner).await {
                    tracing::warn!("control socket: {e:#}");
                }
            });
        }
    });
    Ok(Server { path, task })
}

/// Binds the socket where only its user can reach it from the first instant: in a fresh
/// directory of mode 0700, made 0600, then renamed into place (over a dead owner's).
fn bind_private(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    let dir = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let bound = (|| {
        let inner = dir.join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&inner)
            .with_context(|| format!("cannot listen on {}", inner.display()))?;
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", inner.display()))?;
        std::fs::rename(&inner, path)
            .with_context(|| format!("cannot move the socket to {}", path.display()))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    bound
}

async fn answer(
    stream: tokio::net::UnixStream,
    engine: Engine,
    owner: Owner,
) -> anyhow::Result<()> {
    // Who asks, as the kernel saw them connect: a decision is recorded as theirs.
    let peer = Operator::of_peer(&stream).context("cannot tell who connected")?;
    if peer.uid != crate::identity::current_uid() {
        bail!("refused a connection from {peer}: this store belongs to another user");
    }
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Subscribe) => return stream_events(engine, write).await,
        Ok(request) => {
            match tokio::task::spawn_blocking(move || handle(&engine, owner, &peer, request)).await
            {
                Ok(Ok(value)) => Reply::Ok(value),
                Ok(Err(e)) => Reply::Error(format!("{e:#}")),
                Err(e) => Reply::Error(format!("the request failed: {e}")),
            }
        }
        Err(e) => Reply::Error(format!("not a request this baton understands: {e}")),
    };
    let mut out = serde_json::to_vec(&reply)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await?;
    Ok(())
}

/// Streams every Event to a subscriber until it hangs up (or this owner ends).
async fn stream_events(
    engine: Engine,
    mut write: tokio::net::unix::OwnedWriteHalf,
) -> anyhow::Result<()> {
    let mut events = engine.live_events();
    drop(engine);
    let mut ready = serde_json::to_vec(&Streamed::Ready)?;
    ready.push(b'\n');
    write.write_all(&ready).await?;
    loop {
        let item = match events.recv().await {
            Ok(event) => Streamed::Event(Box::new(event)),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => Streamed::Lagged(n),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
        };
        let mut line = serde_json::to_vec(&item)?;
        line.push(b'\n');
        if write.write_all(&line).await.is_err() {
            // The subscriber hung up.
            return Ok(());
        }
    }
}

fn handle(
    engine: &Engine,
    owner: Owner,
    peer: &Operator,
    request: Request,
) -> anyhow::Result<Value> {
    let store = engine.store();
    let headless = |what: &str| {
        anyhow!(
            "baton process {} is a headless run that ends with its run, so it does not {what}; \
             do it once that run is over, or from a console or `baton serve`",
            std::process::id()
        )
    };
    let value = match request {
        Request::Runs => serde_json::to_value(store.runs()?)?,
        Request::Resolve { run } => serde_json::to_value(store.resolve_run(&run)?)?,
        Request::Run { run } => serde_json::to_value(store.run(&run)?)?,
        Request::Steps { run } => {
            let record = store
                .run(&run)?
                .ok_or_else(|| anyhow!("no run {run} in {}", store.dir().display()))?;
            serde_json::to_value(store.step_table(&record)?)?
        }
        Request::Approvals { run } => serde_json::to_value(store.approvals(&run)?)?,
        Request::Events { run } => serde_json::to_value(store.events(&run)?)?,
        Request::Logs {
            run,
            step,
            after,
            limit,
        } => serde_json::to_value(store.logs(&run, step.as_ref(), after, limit.min(10_000))?)?,
        Request::Cancel { run } => {
            engine.send_as(Command::Cancel(run), peer)?;
            Value::Null
        }
        Request::Detail { run } => serde_json::to_value(engine.run_detail(&run)?)?,
        Request::Output { run, step } => serde_json::to_value(store.output(&run, &step)?)?,
        Request::TailLogs { run, step, limit } => {
            serde_json::to_value(store.tail_logs(&run, step.as_ref(), limit.min(10_000))?)?
        }
        Request::Start { .. } if owner == Owner::Headless => {
            return Err(headless("start new runs"));
        }
        Request::Start { request } => serde_json::to_value(engine.start(request)?)?,
        Request::Send { command } => {
            match &command {
                Command::Retry(_) if owner == Owner::Headless => {
                    return Err(headless("retry runs"));
                }
                Command::Resume(run) if owner == Owner::Headless && !engine.is_active(run) => {
                    return Err(headless("resume interrupted runs"));
                }
                _ => {}
            }
            engine.send_as(command, peer)?;
            Value::Null
        }
        Request::Subscribe => bail!("a subscription is a connection of its own"),
    };
    Ok(value)
}

/// A line to the process that owns a store.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    pid: Option<u32>,
}

impl Client {
    /// The owner of the store in `store_dir`, if one is listening; `pid` is the lock file's.
    /// A listener that is not this user's is an error: nothing is sent to it.
    pub fn connect(store_dir: &Path, pid: Option<u32>) -> anyhow::Result<Option<Client>> {
        let path = socket_path(store_dir);
        let Ok(stream) = UnixStream::connect(&path) else {
            return Ok(None);
        };
        check_listener(&stream, &path)?;
        Ok(Some(Client { path, pid }))
    }

    /// A connection to the owner, once the kernel has said it runs as this user.
    fn stream(&self) -> anyhow::Result<UnixStream> {
        let stream = UnixStream::connect(&self.path)
            .with_context(|| format!("cannot reach {} at {}", self.owner(), self.path.display()))?;
        check_listener(&stream, &self.path)?;
        Ok(stream)
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

    /// Sends a request whose answer is a stream, and hands over the connection (no timeout:
    /// a quiet stream is not a dead one).
    fn open_stream(&self, request: &Request) -> anyhow::Result<UnixStream> {
        let mut stream = self.stream()?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        Ok(stream)
    }

    /// Sends one request and decodes the answer.
    pub fn call<T: DeserializeOwned>(&self, request: &Request) -> anyhow::Result<T> {
        let mut stream = self.stream()?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        let mut answer = String::new();
        BufReader::new(stream)
            .read_line(&mut answer)
            .with_context(|| format!("no answer from {}", self.owner()))?;
        if answer.is_empty() {
            bail!("{} closed the connection without an answer", self.owner());
        }
        match serde_json::from_str::<Reply>(&answer)
            .with_context(|| format!("an answer from {} is unreadable", self.owner()))?
        {
            Reply::Ok(value) => serde_json::from_value(value)
                .with_context(|| format!("an answer from {} is unreadable", self.owner())),
            Reply::Error(e) => bail!("{e} (answered by {})", self.owner()),
        }
    }
}

/// Refuses a socket whose listener is another user (`SO_PEERCRED`): someone who could put it
/// there would read every request and answer with whatever they like.
fn check_listener(stream: &UnixStream, path: &Path) -> anyhow::Result<()> {
    let listener = Operator::of_peer(stream)
        .with_context(|| format!("cannot tell who listens on {}", path.display()))?;
    let me = crate::identity::current_uid();
    if listener.uid != me {
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

/// A [`Backend`] over another process's control socket: the console attached to the baton
/// that owns the store.
#[derive(Debug, Clone)]
pub struct Remote {
    client: Client,
}

impl Remote {
    /// The owner behind `client`.
    pub fn new(client: Client) -> Remote {
        Remote { client }
    }

    /// The line to the owner, for requests beyond the [`Backend`] ones.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Backend for Remote {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        self.client.call(&Request::Runs)
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        self.client
            .call::<Option<RunRecord>>(&Request::Run { run: id.clone() })?
            .ok_or_else(|| anyhow!("no run {id} (asked {})", self.client.owner()))
    }

    fn run_detail(&self, run: &RunId) -> anyhow::Result<RunDetail> {
        self.client.call(&Request::Detail { run: run.clone() })
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        self.client.call(&Request::Output {
            run: run.clone(),
            step: step.clone(),
        })
    }

    fn step_outputs(
        &self,
        run: &RunId,
    ) -> anyhow::Result<std::collections::HashMap<StepId, StepOutput>> {
        let table: crate::store::StepTable =
            self.client.call(&Request::Steps { run: run.clone() })?;
        Ok(table.outputs)
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

    fn start(&self, mut request: StartRequest) -> anyhow::Result<RunId> {
        // The steps run where this user is, as they would in a baton of their own.
        if let Ok(here) = std::env::current_dir() {
            request.workdir.get_or_insert_with(|| here.clone());
            request.path = request.path.map(|p| here.join(p));
        }
        self.client.call(&Request::Start { request })
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        self.client
            .call::<Value>(&Request::Send { command })
            .map(|_| ())
    }

    fn subscribe(&self) -> Subscription {
        let stream = match self.client.open_stream(&Request::Subscribe) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!("cannot subscribe to {}: {e:#}", self.client.owner());
                return Subscription::new(|| Feed::Closed);
            }
        };
        let mut lines = BufReader::new(stream);
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

    fn attached_to(&self) -> Option<String> {
        Some(self.client.owner())
    }
}
