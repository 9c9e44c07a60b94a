//! Where the engine's live Events go: every subscriber of the broadcast (the console, the
//! control socket's clients, OpenTelemetry), and subscribers that want only some of them.
//!
//! A broadcast wakes every waiting receiver at every Event. `baton run -q` prints a step only
//! when it fails, yet its thread was woken for each step's transitions and log lines, a
//! wake-up of another thread per step on the engine's side: 30 µs a step of a chain of
//! `run: "true"` (session 17, paired). A subscriber that names what it wants
//! ([`Events::subscribe_where`]) is sent only that, tested on the engine's thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};

use crate::store::Event;

/// Which Events a picky subscriber wants.
pub type Pick = fn(&Event) -> bool;

/// The engine's live Events.
#[derive(Clone)]
pub struct Events {
    all: broadcast::Sender<Event>,
    picky: Arc<Picky>,
}

#[derive(Default)]
struct Picky {
    /// Whether `subscribers` has any, read without the lock at every Event.
    any: AtomicBool,
    subscribers: Mutex<Vec<(Pick, mpsc::UnboundedSender<Event>)>>,
}

impl Events {
    /// A broadcast keeping `capacity` Events for slow receivers (a slower one is told it
    /// lagged).
    pub fn new(capacity: usize) -> Events {
        Events {
            all: broadcast::channel(capacity).0,
            picky: Arc::default(),
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
            subscribers.retain(|(pick, tx)| {
                !tx.is_closed() && (!pick(&event) || tx.send(event.clone()).is_ok())
            });
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
        let mut subscribers = self
            .picky
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subscribers.push((pick, tx));
        self.picky.any.store(true, Ordering::Release);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::Events;
    use crate::store::{Event, EventKind, RunId, RunState, Timestamp};

    fn state(state: RunState) -> Event {
        Event {
            run: RunId("r".into()),
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
}
