//! Where the engine's live Events go: every subscriber of the broadcast (the console,
//! OpenTelemetry, a client of every run), and subscribers that want only some of them.
//!
//! A broadcast wakes every waiting receiver at every Event. `baton run -q` prints a step only
//! when it fails, yet its thread was woken for each step's transitions and log lines, a
//! wake-up of another thread per step on the engine's side: 30 µs a step of a chain of
//! `run: "true"` (session 17, paired). A subscriber that names what it wants
//! ([`Events::subscribe_where`]) is sent only that, tested on the engine's thread.
//!
//! A follower of one run (`baton run` through an owner, a socket client's `follow`) has a
//! [`RunFeed`]: sixteen clients each following their own run through `baton serve` had
//! every Event of every run cloned sixteen times and dropped fifteen (session 19).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, broadcast, mpsc};

use crate::store::{Event, RunId};

/// Which Events a picky subscriber wants.
pub type Pick = fn(&Event) -> bool;

/// The engine's live Events.
#[derive(Clone)]
pub struct Events {
    all: broadcast::Sender<Event>,
    picky: Arc<Picky>,
    /// How many Events a run's feed keeps for a slow reader (as the broadcast does).
    capacity: usize,
}

#[derive(Default)]
struct Picky {
    /// Whether `subscribers` has any, read without the lock at every Event.
    any: AtomicBool,
    subscribers: Mutex<Vec<Subscriber>>,
}

enum Subscriber {
    /// Those Events `Pick` wants, none lost.
    Picked(Pick, mpsc::UnboundedSender<Event>),
    /// One run's and its child runs', the oldest dropped when the reader falls behind.
    Run(Arc<Feed>),
}

impl Subscriber {
    /// Hands `event` on if wanted; `false` once the reader has gone.
    fn offer(&self, event: &Event) -> bool {
        match self {
            Subscriber::Picked(pick, tx) => {
                !tx.is_closed() && (!pick(event) || tx.send(event.clone()).is_ok())
            }
            Subscriber::Run(feed) => {
                // The list holds one reference, the reader the other.
                if Arc::strong_count(feed) < 2 {
                    return false;
                }
                if event.run.is_within(&feed.run) {
                    feed.push(event.clone());
                }
                true
            }
        }
    }
}

impl Drop for Picky {
    /// The engine is gone: every run's reader is told, after what it has been sent.
    fn drop(&mut self) {
        let subscribers = self
            .subscribers
            .get_mut()
            .unwrap_or_else(|e| e.into_inner());
        for subscriber in subscribers.drain(..) {
            if let Subscriber::Run(feed) = subscriber {
                feed.lock().closed = true;
                feed.ready.notify_one();
            }
        }
    }
}

impl Events {
    /// A broadcast keeping `capacity` Events for slow receivers (a slower one is told it
    /// lagged), and run feeds keeping as many.
    pub fn new(capacity: usize) -> Events {
        Events {
            all: broadcast::channel(capacity).0,
            picky: Arc::default(),
            capacity,
        }
    }

    /// Sends an Event to its picky subscribers that want it, then to every broadcast receiver.
    pub fn send(&self, event: Event) {
        if self.picky.any.load(Ordering::Acquire) {
            let mut subscribers = self
                .picky
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // A subscriber that has gone is dropped at the next Event, picked or not.
            subscribers.retain(|s| s.offer(&event));
            self.picky
                .any
                .store(!subscribers.is_empty(), Ordering::Release);
        }
        let _ = self.all.send(event);
    }

    /// Every Event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.all.subscribe()
    }

    /// The Events `pick` wants, from now on, none lost (the channel is unbounded: pick few).
    pub fn subscribe_where(&self, pick: Pick) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.add(Subscriber::Picked(pick, tx));
        rx
    }

    /// The Events of `run` and of its child runs, from now on; nothing else wakes the reader.
    pub fn subscribe_run(&self, run: RunId) -> RunFeed {
        let feed = Arc::new(Feed {
            run,
            capacity: self.capacity.max(1),
            state: Mutex::default(),
            ready: Notify::new(),
        });
        self.add(Subscriber::Run(feed.clone()));
        RunFeed(feed)
    }

    fn add(&self, subscriber: Subscriber) {
        let mut subscribers = self
            .picky
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subscribers.push(subscriber);
        self.picky.any.store(true, Ordering::Release);
    }
}

impl super::Engine {
    /// Live Events from now on, every run's.
    pub fn live_events(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Live Events from now on that `pick` wants, none lost; nothing else wakes the receiver.
    pub fn live_events_where(&self, pick: Pick) -> mpsc::UnboundedReceiver<Event> {
        self.shared.events.subscribe_where(pick)
    }

    /// Live Events of `run` and its child runs, from now on.
    pub fn live_run_events(&self, run: RunId) -> RunFeed {
        self.shared.events.subscribe_run(run)
    }

    /// Starts a run like [`super::Engine::start_run`], with a feed of its Events from its
    /// first (subscribed once its id is drawn, before anything of it is announced).
    pub fn start_run_following(
        &self,
        request: super::StartRequest,
    ) -> anyhow::Result<(RunId, RunFeed)> {
        let mut feed = None;
        let id = self.create(request, None, None, |id| {
            feed = Some(self.live_run_events(id.clone()));
        })?;
        let feed = feed.unwrap_or_else(|| self.live_run_events(id.clone()));
        Ok((id, feed))
    }
}

/// One run's live Events (its child runs' included), read like a broadcast receiver: a reader
/// that falls more than the capacity behind loses the oldest and is told how many, and the
/// newest, its run's end among them, are always there to read.
pub struct RunFeed(Arc<Feed>);

struct Feed {
    run: RunId,
    capacity: usize,
    state: Mutex<FeedState>,
    /// Holds a permit when an Event arrives with nobody waiting: no wake-up is lost.
    ready: Notify,
}

#[derive(Default)]
struct FeedState {
    queue: VecDeque<Event>,
    /// Dropped (the oldest) since the reader last heard.
    lagged: u64,
    /// The engine has gone: nothing more will come.
    closed: bool,
}

impl Feed {
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, event: Event) {
        let mut state = self.lock();
        if state.queue.len() >= self.capacity {
            state.queue.pop_front();
            state.lagged += 1;
        }
        state.queue.push_back(event);
        drop(state);
        self.ready.notify_one();
    }
}

impl RunFeed {
    /// The next Event; `Lagged(n)` when `n` were dropped before it, `Closed` when the engine
    /// has gone and every Event sent has been read.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        loop {
            match self.try_recv() {
                Ok(event) => return Ok(event),
                Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => self.0.ready.notified().await,
            }
        }
    }

    /// [`RunFeed::recv`] without waiting: `Empty` when nothing has come.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        let mut state = self.0.lock();
        if state.lagged > 0 {
            return Err(TryRecvError::Lagged(std::mem::take(&mut state.lagged)));
        }
        match state.queue.pop_front() {
            Some(event) => Ok(event),
            None if state.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Events;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    use crate::store::{Event, EventKind, RunId, RunState, Timestamp};

    fn state(state: RunState) -> Event {
        of("r", state)
    }

    fn of(run: &str, state: RunState) -> Event {
        Event {
            run: RunId(run.into()),
            ts: Timestamp::now(),
            kind: EventKind::RunState {
                state,
                reason: None,
            },
        }
    }

    #[test]
    fn a_picky_subscriber_gets_what_it_picked_in_order_and_the_broadcast_gets_all() {
        let events = Events::new(16);
        let mut all = events.subscribe();
        let mut ended = events.subscribe_where(
            |e| matches!(&e.kind, EventKind::RunState { state, .. } if state.is_terminal()),
        );
        for s in [RunState::Running, RunState::Paused, RunState::Failed] {
            events.send(state(s));
        }
        let picked: Vec<Event> = std::iter::from_fn(|| ended.try_recv().ok()).collect();
        assert_eq!(picked.len(), 1, "{picked:?}");
        assert!(matches!(
            picked[0].kind,
            EventKind::RunState {
                state: RunState::Failed,
                ..
            }
        ));
        assert_eq!(std::iter::from_fn(|| all.try_recv().ok()).count(), 3);
        // Gone, it is forgotten at the next Event, even one it would not have picked.
        drop(ended);
        events.send(state(RunState::Running));
        assert!(events.picky.subscribers.lock().unwrap().is_empty());
        assert!(!events.picky.any.load(std::sync::atomic::Ordering::Acquire));
    }

    fn run_of(e: Result<Event, TryRecvError>) -> String {
        e.map(|e| e.run.0).unwrap_or_else(|e| format!("{e:?}"))
    }

    #[test]
    fn a_run_feed_gets_its_runs_and_its_childrens_events_only() {
        let events = Events::new(16);
        let mut feed = events.subscribe_run(RunId("r1".into()));
        for run in ["r1", "r10", "r2", "r1.build", "r1.build.deep", "r0.r1"] {
            events.send(of(run, RunState::Running));
        }
        let got: Vec<String> =
            std::iter::from_fn(|| feed.try_recv().ok().map(|e| e.run.0)).collect();
        assert_eq!(got, ["r1", "r1.build", "r1.build.deep"]);
        assert!(matches!(feed.try_recv(), Err(TryRecvError::Empty)));
        // Gone, it is forgotten at the next Event.
        drop(feed);
        events.send(state(RunState::Running));
        assert!(events.picky.subscribers.lock().unwrap().is_empty());
    }

    #[test]
    fn a_slow_run_feed_loses_the_oldest_is_told_how_many_and_keeps_the_end() {
        let events = Events::new(4);
        let mut feed = events.subscribe_run(RunId("r".into()));
        for _ in 0..9 {
            events.send(state(RunState::Running));
        }
        events.send(state(RunState::Succeeded));
        assert!(matches!(feed.try_recv(), Err(TryRecvError::Lagged(6))));
        let kinds: Vec<EventKind> =
            std::iter::from_fn(|| feed.try_recv().ok().map(|e| e.kind)).collect();
        assert_eq!(kinds.len(), 4);
        assert!(matches!(
            kinds[3],
            EventKind::RunState {
                state: RunState::Succeeded,
                ..
            }
        ));
        // The engine gone, the feed says so once it is read to its end.
        events.send(state(RunState::Running));
        drop(events);
        assert_eq!(run_of(feed.try_recv()), "r");
        assert!(matches!(feed.try_recv(), Err(TryRecvError::Closed)));
    }

    #[tokio::test]
    async fn a_waiting_run_feed_wakes_for_its_runs_event() {
        let events = Events::new(16);
        let mut feed = events.subscribe_run(RunId("r".into()));
        let sender = events.clone();
        let send = tokio::spawn(async move {
            sender.send(of("other", RunState::Running));
            sender.send(state(RunState::Failed));
        });
        let event = feed.recv().await.expect("the run's event");
        assert!(matches!(
            event.kind,
            EventKind::RunState {
                state: RunState::Failed,
                ..
            }
        ));
        send.await.unwrap();
        drop(events);
        assert!(matches!(feed.recv().await, Err(RecvError::Closed)));
    }
}
