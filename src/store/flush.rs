//! Group commit: callers that need durability wait for one fsync that covers all their writes.
//!
//! A step finishing, a gate decided and a run finishing must be on disk before their Events go
//! out. When many steps finish at once (a wide fan-out), one background thread flushes once for
//! all of them instead of once each. A request may name a file to sync as well (a run's log
//! file, whose lines must be durable no later than the step results after them): the thread
//! syncs it before sled's flush, so that the asker, a run's driver, never waits for a disk.

use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::oneshot;

/// Hands flush requests to a background thread that batches them.
#[derive(Clone)]
pub struct Flusher {
    inner: Arc<Inner>,
}

/// Who waits for a flush: a task, a thread blocked on it, or a call made on the flushing
/// thread. sled's own error is kept (it is `Clone`), so the cause (a full disk) reaches the
/// run's driver.
enum Waiter {
    Task(oneshot::Sender<Result<(), sled::Error>>),
    Thread(mpsc::SyncSender<Result<(), sled::Error>>),
    Call(Then),
}

/// What the flushing thread does once a flush has ended, told its result (see
/// [`Flusher::request_then`]).
pub type Then = Box<dyn FnOnce(Result<(), sled::Error>) + Send>;

impl Waiter {
    fn tell(self, result: Result<(), sled::Error>) {
        match self {
            Waiter::Task(tx) => {
                let _ = tx.send(result);
            }
            Waiter::Thread(tx) => {
                let _ = tx.send(result);
            }
            Waiter::Call(then) => then(result),
        }
    }
}

/// A file synced with a flush (see [`Flusher::request_syncing`]); one file is synced once per
/// flush however many requests name it.
pub type SyncFile = Arc<std::fs::File>;

/// One request: who is told, and the file to sync first, if any.
type Request = (Waiter, Option<SyncFile>);

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    /// Flushes made (each one fsync of sled's log, however many asked for it).
    flushes: Arc<std::sync::atomic::AtomicU64>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Told when the thread has let go of the database (closing it).
    closed: Mutex<Option<mpsc::Receiver<()>>>,
}

/// How long dropping the store waits for sled to close. sled 0.34 can hang in the flush it
/// makes when the database is dropped (spacejam/sled#1412); everything that had to be durable
/// was flushed already, so after this the thread is left behind rather than the process hung.
const CLOSE_PATIENCE: Duration = Duration::from_secs(10);

impl Drop for Inner {
    /// Stops the thread and waits for it, so the database is closed when the store is dropped
    /// (and can be opened again at once).
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let closed = self
            .closed
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .map(|c| c.recv_timeout(CLOSE_PATIENCE));
        let Ok(mut thread) = self.thread.lock() else {
            return;
        };
        match closed {
            Some(Err(mpsc::RecvTimeoutError::Timeout)) => {
                tracing::error!(
                    "the store did not close within {CLOSE_PATIENCE:?} (a sled hang); leaving it"
                );
            }
            _ => {
                if let Some(handle) = thread.take() {
                    let _ = handle.join();
                }
            }
        }
    }
}

impl Flusher {
    /// Starts the flushing thread for `db`; it ends when every `Flusher` clone is dropped.
    pub fn new(db: sled::Db) -> Flusher {
        let (tx, rx) = mpsc::channel::<Request>();
        let (closed_tx, closed_rx) = mpsc::channel::<()>();
        let flushes = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = flushes.clone();
        let spawned = std::thread::Builder::new()
            .name("baton-flush".into())
            .spawn(move || {
                // A flush waits a moment rather than take the core from a step's driver.
                crate::background::this_thread();
                while let Ok(first) = rx.recv() {
                    // Everyone who asked before this fsync starts is covered by it.
                    let mut requests = vec![first];
                    requests.extend(rx.try_iter());
                    flush_for(&db, requests);
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                drop(db);
                let _ = closed_tx.send(());
            });
        let thread = match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::error!("cannot start the flush thread: {e}");
                None
            }
        };
        Flusher {
            inner: Arc::new(Inner {
                tx: Mutex::new(Some(tx)),
                flushes,
                closed: Mutex::new(thread.as_ref().map(|_| closed_rx)),
                thread: Mutex::new(thread),
            }),
        }
    }

    /// Flushes made so far: one per fsync, shared by every request it covered.
    pub fn flushes(&self) -> u64 {
        self.inner
            .flushes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every write made before this call is on disk.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.request().await
    }

    /// Asks for every write made before this call to be made durable, without waiting: the
    /// returned ticket resolves when it is. Tickets resolve in the order they were asked for.
    pub fn request(&self) -> FlushTicket {
        self.request_syncing(None)
    }

    /// [`Flusher::request`], and `file` (written before this call) is synced first: the ticket
    /// resolves once both are durable, or with the file's error.
    pub fn request_syncing(&self, file: Option<SyncFile>) -> FlushTicket {
        let (tx, rx) = oneshot::channel();
        let sent = self.send((Waiter::Task(tx), file));
        FlushTicket {
            rx: sent.then_some(rx),
            asked: std::time::Instant::now(),
            deadline: None,
        }
    }

    /// [`Flusher::request_syncing`] without a ticket: `then` is called on the flushing thread
    /// with the result, so that nobody is woken for a flush that went well unless `then` wakes
    /// them (a run's driver lets it announce the batch's Events). `false`, and `then` dropped
    /// uncalled, when the thread has stopped.
    pub fn request_then(&self, file: Option<SyncFile>, then: Then) -> bool {
        self.send((Waiter::Call(then), file))
    }

    /// Blocks this thread until every write made before this call is on disk, sharing the
    /// fsync with whoever else asked meanwhile (a dozen runs started at once flush once, not
    /// a dozen times). For synchronous code; within a task, await [`Flusher::request`].
    pub fn flush_blocking(&self) -> anyhow::Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        if !self.send((Waiter::Thread(tx), None)) {
            anyhow::bail!("the store's flush thread has stopped");
        }
        match rx.recv_timeout(FLUSH_PATIENCE) {
            Ok(result) => {
                result.map_err(|e| anyhow::Error::new(e).context("cannot flush the store"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(anyhow!(
                "the store did not finish a flush within {FLUSH_PATIENCE:?}"
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(anyhow!("the store's flush thread has stopped"))
            }
        }
    }

    fn send(&self, request: Request) -> bool {
        match self.inner.tx.lock() {
            Ok(guard) => guard
                .as_ref()
                .is_some_and(|sender| sender.send(request).is_ok()),
            Err(_) => false,
        }
    }
}

/// One flush for `requests`: the files they name synced first (each once; their index entries
/// are in sled), then sled; each asker is told its file's failure, or sled's result.
fn flush_for(db: &sled::Db, requests: Vec<Request>) {
    let mut synced: Vec<(SyncFile, Result<(), sled::Error>)> = Vec::new();
    for file in requests.iter().filter_map(|(_, f)| f.as_ref()) {
        if !synced.iter().any(|(s, _)| Arc::ptr_eq(s, file)) {
            synced.push((file.clone(), file.sync_data().map_err(sled::Error::Io)));
        }
    }
    let result = db.flush().map(|_| ());
    for (waiter, file) in requests {
        let failed = file.and_then(|f| {
            synced
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, &f))
                .and_then(|(_, r)| r.clone().err())
        });
        waiter.tell(match failed {
            Some(e) => Err(e),
            None => result.clone(),
        });
    }
}

/// How long a flush may take before it counts as failed. sled 0.34 can wait forever in a
/// flush once one of its own writes has failed (a full disk, no descriptors left); the run
/// must then stop and say so, not hang with its announcements held back.
pub const FLUSH_PATIENCE: Duration = Duration::from_secs(60);

/// A flush under way; await it for the result.
pub struct FlushTicket {
    rx: Option<oneshot::Receiver<Result<(), sled::Error>>>,
    asked: std::time::Instant,
    /// Made at the first poll (a timer needs the runtime, which the asker may not be on).
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl std::future::Future for FlushTicket {
    type Output = anyhow::Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let asked = self.asked;
        let deadline = self.deadline.get_or_insert_with(|| {
            let at = tokio::time::Instant::from_std(asked + FLUSH_PATIENCE);
            Box::pin(tokio::time::sleep_until(at))
        });
        if deadline.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Err(anyhow!(
                "the store did not finish a flush within {FLUSH_PATIENCE:?}"
            )));
        }
        let Some(rx) = self.rx.as_mut() else {
            return std::task::Poll::Ready(Err(anyhow!("the store's flush thread has stopped")));
        };
        std::pin::Pin::new(rx).poll(cx).map(|r| {
            r.map_err(|_| anyhow!("the store's flush thread has stopped"))?
                .map_err(|e| anyhow::Error::new(e).context("cannot flush the store"))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Flusher;

    #[tokio::test]
    async fn a_file_synced_with_a_flush_fails_only_the_requests_that_named_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .unwrap();
        let flusher = Flusher::new(db);
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        // A pipe cannot be synced (EINVAL): what a disk refusing the sync looks like.
        let (reader, _writer) = std::io::pipe().unwrap();
        let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(reader));
        let refused = flusher.request_syncing(Some(Arc::new(pipe)));
        let synced = flusher.request_syncing(Some(Arc::new(log)));
        let plain = flusher.request();
        let err = refused.await.expect_err("the pipe's sync fails its flush");
        assert!(format!("{err:#}").contains("flush"), "{err:#}");
        synced.await.expect("a regular file syncs");
        plain.await.expect("a flush naming no file succeeds");
    }

    /// A thread blocked on a flush is told like a task is, from plain threads and from within
    /// a runtime alike (a run started by `baton run` is created inside one).
    #[test]
    fn threads_block_on_shared_flushes_inside_and_outside_a_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .open()
            .unwrap();
        let tree = db.open_tree("t").unwrap();
        let flusher = Flusher::new(db);
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let (flusher, tree) = (&flusher, &tree);
                s.spawn(move || {
                    tree.insert([i], &[i][..]).unwrap();
                    flusher.flush_blocking().expect("a flush from a thread");
                });
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { flusher.flush_blocking() })
            .expect("a flush from inside a runtime");
    }
}
