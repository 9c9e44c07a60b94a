//! Group commit: callers that need durability wait for one fsync that covers all their writes.
//!
//! A step finishing, a gate decided and a run finishing must be on disk before their Events go
//! out. When many steps finish at once (a wide fan-out), one background thread flushes once for
//! all of them instead of once each.

use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use anyhow::anyhow;
use tokio::sync::oneshot;

/// Hands flush requests to a background thread that batches them.
#[derive(Clone)]
pub struct Flusher {
    inner: Arc<Inner>,
}

type Waiter = oneshot::Sender<Result<(), String>>;

struct Inner {
    tx: Mutex<Option<mpsc::Sender<Waiter>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    /// Stops the thread and waits for it, so the database is closed when the store is dropped
    /// (and can be opened again at once).
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut thread) = self.thread.lock()
            && let Some(handle) = thread.take()
        {
            let _ = handle.join();
        }
    }
}

impl Flusher {
    /// Starts the flushing thread for `db`; it ends when every `Flusher` clone is dropped.
    pub fn new(db: sled::Db) -> Flusher {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let spawned = std::thread::Builder::new()
            .name("baton-flush".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Everyone who asked before this fsync starts is covered by it.
                    let mut waiters = vec![first];
                    waiters.extend(rx.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for w in waiters {
                        let _ = w.send(result.clone());
                    }
                }
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
                thread: Mutex::new(thread),
            }),
        }
    }

    /// Waits until every write made before this call is on disk.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.request().await
    }

    /// Asks for every write made before this call to be made durable, without waiting: the
    /// returned ticket resolves when it is. Tickets resolve in the order they were asked for.
    pub fn request(&self) -> FlushTicket {
        let (tx, rx) = oneshot::channel();
        let sent = match self.inner.tx.lock() {
            Ok(guard) => guard.as_ref().is_some_and(|sender| sender.send(tx).is_ok()),
            Err(_) => false,
        };
        FlushTicket {
            rx: sent.then_some(rx),
        }
    }
}

/// A flush under way; await it for the result.
pub struct FlushTicket {
    rx: Option<oneshot::Receiver<Result<(), String>>>,
}

impl std::future::Future for FlushTicket {
    type Output = anyhow::Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(rx) = self.rx.as_mut() else {
            return std::task::Poll::Ready(Err(anyhow!("the store's flush thread has stopped")));
        };
        std::pin::Pin::new(rx).poll(cx).map(|r| {
            r.map_err(|_| anyhow!("the store's flush thread has stopped"))?
                .map_err(|e| anyhow!("cannot flush the store: {e}"))
        })
    }
}
