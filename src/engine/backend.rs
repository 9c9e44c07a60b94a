//! How a client commands runs ([`RunControl`]) and, with the read API ([`RunReader`]), the
//! whole [`Backend`] the console uses.
//!
//! `engine::Engine` implements both in the process that owns the store; `control::Remote`
//! implements them over the owner's control socket, so the console attaches to another baton
//! without changing.

use indexmap::IndexMap;
use serde_json::Value;
use tokio::sync::broadcast;

use super::reader::RunReader;
use crate::spec::StepId;
use crate::store::{Event, RunId};

/// What a client asks of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// Stop scheduling and freeze running processes.
    Pause(RunId),
    /// Continue a paused run, or resume an interrupted one.
    Resume(RunId),
    /// Stop everything of the run.
    Cancel(RunId),
    /// Decide a gate.
    Decide {
        /// The run.
        run: RunId,
        /// The gated step.
        step: StepId,
        /// Approve or reject.
        approved: bool,
        /// How it was decided, when not by hand (`--approve-all`); who decided is not the
        /// client's to say: the engine records the OS user of the deciding process.
        via: Option<String>,
        /// Why.
        comment: Option<String>,
        /// Edited inputs.
        inputs: IndexMap<String, String>,
    },
    /// Re-run the failed, cancelled and skipped steps of a finished run.
    Retry(RunId),
    /// Replace a finished run's workflow with an approved repair of one step, then retry it
    /// from there (see `Engine::repair_run`).
    Repair {
        /// The run.
        run: RunId,
        /// The step repaired.
        step: StepId,
        /// The whole repaired workflow.
        source: String,
        /// The plan version that holds it.
        version: Option<String>,
    },
}

/// A request to start a workflow.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StartRequest {
    /// The workflow's source text.
    pub source: String,
    /// Where it came from (for relative paths and messages).
    pub path: Option<std::path::PathBuf>,
    /// Params given (strings from the command line or a form; JSON values from tools).
    pub params: IndexMap<String, Value>,
    /// Where its steps run (`None`: the engine's current directory). A client of another
    /// process's engine sends its own, so relative paths mean what its user meant.
    #[serde(default)]
    pub workdir: Option<std::path::PathBuf>,
}

/// What a subscription delivers next.
#[derive(Debug)]
pub enum Feed {
    /// Something happened.
    Event(Box<Event>),
    /// Events were missed (the subscriber was too slow): reload from the store.
    Lagged,
    /// No more events will come.
    Closed,
}

/// Live Events, read with a blocking call (the console reads them on a thread of its own).
pub struct Subscription(Box<dyn FnMut() -> Feed + Send>);

impl Subscription {
    /// A subscription that asks `next` for each item.
    pub fn new(next: impl FnMut() -> Feed + Send + 'static) -> Subscription {
        Subscription(Box::new(next))
    }

    /// The Events of an in-process broadcast channel.
    pub fn of_broadcast(mut rx: broadcast::Receiver<Event>) -> Subscription {
        Subscription::new(move || match rx.blocking_recv() {
            Ok(event) => Feed::Event(Box::new(event)),
            Err(broadcast::error::RecvError::Lagged(_)) => Feed::Lagged,
            Err(broadcast::error::RecvError::Closed) => Feed::Closed,
        })
    }

    /// Waits for the next item.
    pub fn next_blocking(&mut self) -> Feed {
        (self.0)()
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

/// Commands to runs: start one, steer one, and hear what happens. Implemented by the
/// [`crate::engine::Engine`] that owns the store and by `control::Remote` for another process.
pub trait RunControl: Send + Sync {
    /// Validate and start a workflow; returns the new run's id.
    fn start(&self, request: StartRequest) -> anyhow::Result<RunId>;
    /// Queue a command; its effects arrive as Events.
    fn send(&self, command: Command) -> anyhow::Result<()>;
    /// Live Events from now on (every run's). After [`Feed::Lagged`], reload with a
    /// [`RunReader`].
    fn subscribe(&self) -> Subscription;
    /// Live Events of `run` and its child runs only, from now on. Another process's owner
    /// sends only those, instead of every run's for the follower to drop.
    fn subscribe_run(&self, _run: &RunId) -> Subscription {
        self.subscribe()
    }
    /// [`RunControl::start`], and the new run's Events (its children's included) from its
    /// first: what a follower of one run needs.
    fn start_following(&self, request: StartRequest) -> anyhow::Result<(RunId, Subscription)> {
        let feed = self.subscribe();
        let id = self.start(request)?;
        Ok((id, feed))
    }
}

/// The engine, as the console sees it: read and command, here or in the owner.
pub trait Backend: RunReader + RunControl {
    /// The other process whose engine this is (`baton process 4242`), when the console is
    /// attached to one: quitting then leaves its runs running there.
    fn attached_to(&self) -> Option<String> {
        None
    }
}
