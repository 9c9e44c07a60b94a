//! The owner's side of the control socket: accepts connections, checks who connects and what
//! protocol they speak, and answers each request from its engine.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::runtime::RuntimeFlavor;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::protocol::{Greeting, Hello, MAX_LINE, Reply, Request, Streamed, check_greeting};
use crate::engine::events::RunFeed;
use crate::engine::{Command, Engine, Notebook, RunControl, RunReader};
use crate::identity::Operator;
use crate::ids::RunId;
use crate::store::Event;

/// What kind of owner serves, which decides what it takes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A console or `baton serve`: it runs whatever it is asked to while it lives.
    Console,
    /// A headless `baton run`, `resume` or `retry`: it ends with its run, so it takes no new
    /// runs (a start, a retry, the resume of an interrupted run).
    Headless,
}

/// Listens while it lives; dropping it stops listening, hangs up on every client and removes
/// the socket file.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    http: HttpSlot,
    http_task: Option<tokio::task::JoinHandle<()>>,
    /// Tells subscribers' streams this owner is going.
    closing: tokio::sync::watch::Sender<bool>,
    /// Ends (disconnects) once every subscriber's stream has written what it had.
    streams: std::sync::Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    /// The streams run on a current-thread runtime (see [`FarewellWait`]).
    current_thread: bool,
}

/// How an owner on its way out waits for its subscribers' streams, which are tasks on the
/// runtime it serves on (a current-thread one with `served_on_current`), from the thread that
/// drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FarewellWait {
    /// The streams run on other threads than this one: block until they have ended.
    Block,
    /// This thread may be a worker of a multi-thread runtime, the one the streams run on: its
    /// other tasks move to another thread while it waits, or the streams could wait for it.
    BlockInPlace,
    /// This thread drives the current-thread runtime the streams run on: they cannot run while
    /// it waits, so waiting would only take [`FAREWELL`]. They end with their connections.
    Skip,
}

fn farewell_wait(served_on_current: bool) -> FarewellWait {
    let Ok(here) = tokio::runtime::Handle::try_current() else {
        return FarewellWait::Block;
    };
    match (
        here.runtime_flavor() == RuntimeFlavor::CurrentThread,
        served_on_current,
    ) {
        (true, true) => FarewellWait::Skip,
        // Another runtime's streams: they go on while this one blocks.
        (true, false) => FarewellWait::Block,
        (false, _) => FarewellWait::BlockInPlace,
    }
}

/// How long an owner on its way out waits for its subscribers' streams to write the Events it
/// announced (a console attached to a `baton run` sees the run end).
const FAREWELL: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for Server {
    fn drop(&mut self) {
        // Subscribers get every Event announced before this owner goes, then the streams end.
        let _ = self.closing.send(true);
        let streams = self.streams.lock().ok().and_then(|mut s| s.take());
        if let Some(streams) = streams {
            match farewell_wait(self.current_thread) {
                FarewellWait::Block => {
                    let _ = streams.recv_timeout(FAREWELL);
                }
                FarewellWait::BlockInPlace => {
                    let _ = tokio::task::block_in_place(|| streams.recv_timeout(FAREWELL));
                }
                FarewellWait::Skip => {}
            }
        }
        self.task.abort();
        if let Some(task) = &self.http_task {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Server {
    /// Answers the connections that speak HTTP with `app` (`baton serve`'s API), on `rt`:
    /// `curl --unix-socket control.sock http://baton/v1/runs`. Until then they get a 503 that
    /// says who serves the API.
    pub fn serve_http(&mut self, app: axum::Router, rt: &tokio::runtime::Handle) {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        if let Ok(mut slot) = self.http.lock() {
            *slot = Some(tx);
        }
        self.http_task = Some(rt.spawn(async move {
            if let Err(e) = axum::serve(HttpConnections(rx), app).await {
                tracing::warn!("HTTP API on the control socket: {e}");
            }
        }));
    }
}

/// A connection that began with an HTTP request line: its first byte read back in front.
pub type HttpStream =
    tokio::io::Join<tokio::io::Chain<std::io::Cursor<Vec<u8>>, OwnedReadHalf>, OwnedWriteHalf>;

/// Where HTTP connections go once the API is served.
type HttpSlot = std::sync::Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Sender<HttpStream>>>>;

/// The HTTP connections found on the control socket, as a listener axum serves.
struct HttpConnections(tokio::sync::mpsc::Receiver<HttpStream>);

impl axum::serve::Listener for HttpConnections {
    type Io = HttpStream;
    type Addr = ();

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.0.recv().await {
            Some(stream) => (stream, ()),
            // The socket's server is gone, and this task with it in a moment.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(())
    }
}

/// Starts answering requests for `engine`'s store on `rt`. Call it only while holding the
/// store (an opened `Store` is the proof): any socket file already there is a dead owner's.
pub fn serve(engine: Engine, role: Role, rt: &tokio::runtime::Handle) -> anyhow::Result<Server> {
    let path = super::socket_path(engine.store().dir());
    let std_listener = bind_private(&path)?;
    std_listener.set_nonblocking(true)?;
    let listener = {
        let _in_runtime = rt.enter();
        tokio::net::UnixListener::from_std(std_listener)?
    };
    let http = HttpSlot::default();
    let slot = http.clone();
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    // Each subscriber's stream holds a sender: the receiver disconnects when all have ended.
    let (stream_tx, streams) = std::sync::mpsc::channel::<()>();
    let task = rt.spawn(async move {
        // Dropped with this task (the Server dropped): every connection ends with it.
        let mut connections = tokio::task::JoinSet::new();
        // Until the owner is going; then no new connection is taken, and this task's sender
        // goes, so that only the streams' senders keep the owner waiting.
        let mut accepting = Some((closing_rx, stream_tx));
        loop {
            tokio::select! {
                accepted = listener.accept(), if accepting.is_some() => match accepted {
                    Ok((stream, _)) => {
                        let Some((closing, alive)) = &accepting else {
                            continue;
                        };
                        let engine = engine.clone();
                        let http = slot.clone();
                        let farewell = Farewell {
                            closing: closing.clone(),
                            _alive: alive.clone(),
                        };
                        connections.spawn(async move {
                            if let Err(e) = answer(stream, engine, role, http, farewell).await {
                                tracing::warn!("control socket: {e:#}");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of descriptors, say: try again soon rather than spin.
                        tracing::warn!("control socket: cannot accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next() => {}
                _ = going(&mut accepting) => accepting = None,
                else => return,
            }
        }
    });
    Ok(Server {
        path,
        task,
        http,
        http_task: None,
        closing,
        streams: std::sync::Mutex::new(Some(streams)),
        current_thread: rt.runtime_flavor() == RuntimeFlavor::CurrentThread,
    })
}

/// Binds the socket where only its user can reach it from the first instant: in a fresh
/// directory of mode 0700, made 0600, then renamed into place (over a dead owner's).
pub(crate) fn bind_private(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
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

/// This owner, for messages.
fn me() -> String {
    format!("baton process {}", std::process::id())
}

/// One connection: the hello, then requests answered one at a time until the client hangs up
/// (or subscribes, which turns the connection into a stream of Events); or, when it opens
/// with an HTTP request line, the HTTP API.
async fn answer(
    stream: tokio::net::UnixStream,
    engine: Engine,
    role: Role,
    http: HttpSlot,
    farewell: Farewell,
) -> anyhow::Result<()> {
    // Who asks, as the kernel saw them connect: a decision is recorded as theirs.
    let peer = crate::identity::peer_uid(&stream).context("cannot tell who connected")?;
    if peer != crate::identity::current_uid() {
        bail!(
            "refused a connection from {}: this store belongs to another user",
            Operator::of_uid(peer)
        );
    }
    let (mut read, mut write) = stream.into_split();
    // A hello is JSON (`{`); an HTTP request line starts with its method (`GET`, `POST`).
    let mut first = [0u8; 1];
    if read.read(&mut first).await? == 0 {
        return Ok(());
    }
    let read = std::io::Cursor::new(first.to_vec()).chain(read);
    if first[0].is_ascii_uppercase() {
        return to_http(tokio::io::join(read, write), &http).await;
    }
    let mut lines = BufReader::new(read);
    let Some(first) = read_line(&mut lines).await? else {
        return Ok(());
    };
    match first.and_then(|line| check_greeting(&line, &me())) {
        Ok(_) => write_line(&mut write, &Greeting::Hello(Hello::ours())).await?,
        Err(why) => return write_line(&mut write, &Reply::Error(why)).await,
    }
    loop {
        let Some(line) = read_line(&mut lines).await? else {
            return Ok(());
        };
        let request = line.and_then(|line| {
            serde_json::from_str::<Request>(&line)
                .map_err(|e| format!("not a request this baton understands: {e}"))
        });
        let reply = match request {
            Ok(Request::Subscribe { run }) => {
                let events = match run {
                    Some(run) => Source::Run(engine.live_run_events(run)),
                    None => Source::All(engine.live_events()),
                };
                drop(engine);
                write_line(&mut write, &Streamed::Ready).await?;
                return stream_events(events, lines, write, farewell).await;
            }
            Ok(Request::Follow { request }) => {
                let started = start_following(&engine, role, request).await;
                drop(engine);
                let (reply, events) = match started {
                    Ok((id, events)) => (Reply::Ok(serde_json::to_value(id)?), Some(events)),
                    Err(why) => (Reply::Error(why), None),
                };
                write_line(&mut write, &reply).await?;
                return match events {
                    Some(events) => {
                        stream_events(Source::Run(events), lines, write, farewell).await
                    }
                    None => Ok(()),
                };
            }
            Ok(request) => answer_one(&engine, role, peer, request).await,
            Err(why) => Reply::Error(why),
        };
        write_line(&mut write, &reply).await?;
    }
}

/// The next line (`None`: the client hung up), or why it cannot be read (too long, not text).
async fn read_line(
    lines: &mut (impl tokio::io::AsyncBufRead + Unpin),
) -> anyhow::Result<Option<Result<String, String>>> {
    let mut line = Vec::new();
    let n = (&mut *lines)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && n as u64 >= MAX_LINE {
        return Ok(Some(Err(format!(
            "a request longer than {} MiB; nothing was done",
            MAX_LINE >> 20
        ))));
    }
    Ok(Some(String::from_utf8(line).map_err(|_| {
        "not a request this baton understands: it is not UTF-8".to_string()
    })))
}

/// Hands an HTTP connection to the API, or answers 503 where this owner serves none.
async fn to_http(stream: HttpStream, http: &HttpSlot) -> anyhow::Result<()> {
    let sender = http.lock().ok().and_then(|slot| slot.clone());
    let stream = match sender {
        Some(to_api) => match to_api.send(stream).await {
            Ok(()) => return Ok(()),
            Err(lost) => lost.0,
        },
        None => stream,
    };
    // The request head is read first: a socket closed with bytes unread resets the client.
    let mut stream = stream;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut chunk).await? {
            0 => break,
            n => head.extend_from_slice(&chunk[..n]),
        }
    }
    let body = serde_json::json!({
        "error": format!("{} owns this store and serves no HTTP API", me()),
        "hint": "the HTTP API is served by `baton serve`",
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

async fn write_line(write: &mut OwnedWriteHalf, item: &impl Serialize) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(item)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    Ok(())
}

/// Carries out one request on a blocking thread (reads and writes of the store wait for the
/// disk), and says how it went.
async fn answer_one(engine: &Engine, role: Role, peer: u32, request: Request) -> Reply {
    let engine = engine.clone();
    match blocking(move || handle(&engine, role, peer, request)).await {
        Ok(value) => Reply::Ok(value),
        Err(why) => Reply::Error(why),
    }
}

/// Runs `work` on a blocking thread; its error, or the thread's, as the text a client is sent.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(e) => Err(format!("the request failed: {e}")),
    }
}

/// Starts a run for `follow` on a blocking thread (its first write waits for the disk), with
/// a feed of its Events from its first.
async fn start_following(
    engine: &Engine,
    role: Role,
    request: crate::engine::StartRequest,
) -> Result<(RunId, RunFeed), String> {
    if role == Role::Headless {
        return Err(headless("start new runs").to_string());
    }
    let engine = engine.clone();
    blocking(move || engine.start_run_following(request)).await
}

/// What a subscriber is streamed: every Event, or one run's and its child runs'.
enum Source {
    All(tokio::sync::broadcast::Receiver<Event>),
    Run(RunFeed),
}

impl Source {
    async fn recv(&mut self) -> Result<Event, RecvError> {
        match self {
            Source::All(rx) => rx.recv().await,
            Source::Run(feed) => feed.recv().await,
        }
    }

    fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        match self {
            Source::All(rx) => rx.try_recv(),
            Source::Run(feed) => feed.try_recv(),
        }
    }
}

/// Streams the Events of `events` to a subscriber until it hangs up (or this owner ends).
/// Events that are already waiting go out together, in one write.
async fn stream_events(
    mut events: Source,
    mut read: impl tokio::io::AsyncRead + Unpin,
    mut write: OwnedWriteHalf,
    farewell: Farewell,
) -> anyhow::Result<()> {
    let Farewell {
        mut closing,
        _alive,
    } = farewell;
    let mut out = Vec::new();
    let mut going = false;
    loop {
        // `None`: the owner is going; what it announced goes out, then the stream ends.
        let mut next = if going {
            None
        } else {
            tokio::select! {
                next = events.recv() => Some(next),
                _ = closing.wait_for(|going| *going) => None,
                // A stream of one run may be quiet for good: a hang-up is seen here, not only
                // by the next write.
                () = hung_up(&mut read) => return Ok(()),
            }
        };
        loop {
            let item = match next.take() {
                Some(Ok(event)) => Some(Streamed::Event(Box::new(event))),
                Some(Err(RecvError::Lagged(n))) => Some(Streamed::Lagged(n)),
                // The owner is ending: what it announced still goes out.
                Some(Err(RecvError::Closed)) => {
                    let _ = write.write_all(&out).await;
                    return Ok(());
                }
                None => {
                    going = true;
                    match events.try_recv() {
                        Ok(event) => Some(Streamed::Event(Box::new(event))),
                        Err(TryRecvError::Lagged(n)) => Some(Streamed::Lagged(n)),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => {
                            let _ = write.write_all(&out).await;
                            return Ok(());
                        }
                    }
                }
            };
            if let Some(item) = item {
                serde_json::to_writer(&mut out, &item)?;
                out.push(b'\n');
                if out.len() >= STREAM_BATCH {
                    break;
                }
            }
            next = match events.try_recv() {
                Ok(event) => Some(Ok(event)),
                Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                // Going: an empty queue ends the stream (above); else wait for more.
                Err(TryRecvError::Empty) if going => None,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
            };
        }
        if !out.is_empty() && write.write_all(&out).await.is_err() {
            // The subscriber hung up.
            return Ok(());
        }
        out.clear();
    }
}

/// Resolves when the peer has hung up (or its side can no longer be read); a subscriber sends
/// nothing more, so anything it does send is dropped.
async fn hung_up(read: &mut (impl tokio::io::AsyncRead + Unpin)) {
    let mut sink = [0u8; 256];
    while let Ok(1..) = read.read(&mut sink).await {}
}

/// Resolves once the owner is going (never after that: `accepting` is `None` then).
async fn going(
    accepting: &mut Option<(
        tokio::sync::watch::Receiver<bool>,
        std::sync::mpsc::Sender<()>,
    )>,
) {
    match accepting {
        Some((closing, _)) => {
            let _ = closing.wait_for(|going| *going).await;
        }
        None => std::future::pending().await,
    }
}

/// What a connection needs to say goodbye: the owner's "going" flag, and a sender whose drop
/// (with the connection) tells the owner this stream is done.
struct Farewell {
    closing: tokio::sync::watch::Receiver<bool>,
    _alive: std::sync::mpsc::Sender<()>,
}

/// A subscriber's waiting Events are written together up to about this many bytes.
const STREAM_BATCH: usize = 64 * 1024;

/// Why a headless owner refuses to `what`.
fn headless(what: &str) -> anyhow::Error {
    anyhow!(
        "{} is a headless run that ends with its run, so it does not {what}; do it once that \
         run is over, or from a console or `baton serve`",
        me()
    )
}

/// Carries out one request: a read from the store, or a command on behalf of the user `peer`.
fn handle(engine: &Engine, role: Role, peer: u32, request: Request) -> anyhow::Result<Value> {
    fn json(value: impl Serialize) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(value)?)
    }
    match request {
        Request::Runs => json(engine.runs()?),
        Request::ResolveRun { run } => json(engine.resolve_run(&run)?),
        Request::Run { run } => json(RunReader::run(engine, &run)?),
        Request::RunDetail { run } => json(engine.run_detail(&run)?),
        Request::StepOutput { run, step } => json(engine.step_output(&run, &step)?),
        Request::StepOutputs { run } => json(engine.step_outputs(&run)?),
        Request::Logs {
            run,
            step,
            after,
            limit,
        } => json(RunReader::logs(
            engine,
            &run,
            step.as_ref(),
            after,
            limit.min(10_000),
        )?),
        Request::TailLogs { run, step, limit } => {
            json(engine.tail_logs(&run, step.as_ref(), limit.min(10_000))?)
        }
        Request::Events { run } => json(RunReader::events(engine, &run)?),
        Request::Start { .. } if role == Role::Headless => Err(headless("start new runs")),
        Request::Start { request } => json(engine.start(request)?),
        Request::Send { command } => {
            match &command {
                Command::Retry(_) if role == Role::Headless => {
                    return Err(headless("retry runs"));
                }
                Command::Repair { .. } if role == Role::Headless => {
                    return Err(headless("repair runs"));
                }
                Command::Resume(run) if role == Role::Headless && !engine.is_active(run) => {
                    return Err(headless("resume interrupted runs"));
                }
                _ => {}
            }
            engine.send_as(command, &Operator::of_uid(peer))?;
            Ok(Value::Null)
        }
        Request::NoteScopes => json(engine.note_scopes()?),
        Request::Notes { scope } => json(Notebook::notes(engine, &scope)?),
        Request::Forget { scope, key } => json(engine.forget(&scope, key.as_deref())?),
        Request::Subscribe { .. } | Request::Follow { .. } => {
            bail!("a subscription is a connection of its own")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FarewellWait, farewell_wait};
    use tokio::runtime::Builder;

    /// An owner dropped on the thread that drives its current-thread runtime does not wait for
    /// streams that cannot run while it waits; from anywhere else it waits, and on a worker of
    /// a multi-thread runtime it first hands that worker's tasks to another thread.
    #[test]
    fn an_owner_going_away_waits_only_for_streams_that_can_run_meanwhile() {
        assert_eq!(farewell_wait(false), FarewellWait::Block);
        assert_eq!(farewell_wait(true), FarewellWait::Block);

        let current = Builder::new_current_thread().build().unwrap();
        let on_current = current.block_on(async { (farewell_wait(true), farewell_wait(false)) });
        assert_eq!(on_current, (FarewellWait::Skip, FarewellWait::Block));

        let multi = Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let on_worker = multi
            .block_on(multi.spawn(async { farewell_wait(false) }))
            .unwrap();
        assert_eq!(on_worker, FarewellWait::BlockInPlace);
    }
}
