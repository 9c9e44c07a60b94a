//! The console with Temporal runs beside local ones: with `[temporal]` configured, the
//! console's backend is [`WithTemporal`] — local runs as before (the engine, or the owner it
//! attached to), and the runs of the cluster listed beside them ([`Both`]), read by their ids,
//! and cancelled, paused, resumed and decided on Temporal. Temporal runs send no Events, so the
//! subscription also says "reload" every [`POLL`], and the console reads the list and the open
//! run again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::Op;
use super::commands::apply;
use super::is_run_id;
use super::reader::Both;
use super::settings::TemporalSection;
use crate::engine::{
    Backend, Command, Feed, RunControl, RunDetail, RunReader, StartRequest, Subscription,
};
use crate::spec::StepId;
use crate::store::{Event, LogLine, RunId, RunRecord, StepOutput};

/// How often the console reads Temporal runs again.
pub const POLL: Duration = Duration::from_secs(2);

/// A console's backend with the runs of a Temporal cluster beside its local ones.
pub struct WithTemporal {
    local: Arc<dyn Backend>,
    both: Both,
}

impl WithTemporal {
    /// `local` with the cluster `settings` names beside it.
    pub fn new(local: Arc<dyn Backend>, settings: TemporalSection) -> anyhow::Result<Self> {
        let reader: Arc<dyn RunReader> = local.clone();
        Ok(WithTemporal {
            both: Both::new(reader, settings)?.quiet(),
            local,
        })
    }
}

/// The console's backend: `local`, with the Temporal runs beside it when `[temporal]` is set.
pub fn console_backend(
    local: Arc<dyn Backend>,
    settings: TemporalSection,
) -> anyhow::Result<Arc<dyn Backend>> {
    if !settings.is_configured() {
        return Ok(local);
    }
    Ok(Arc::new(WithTemporal::new(local, settings)?))
}

impl RunReader for WithTemporal {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        self.both.runs()
    }

    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        self.both.resolve_run(id_or_prefix)
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        self.both.run(id)
    }

    fn run_detail(&self, run: &RunId) -> anyhow::Result<RunDetail> {
        self.both.run_detail(run)
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        self.both.step_output(run, step)
    }

    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>> {
        self.both.step_outputs(run)
    }

    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        self.both.logs(run, step, after, limit)
    }

    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        self.both.tail_logs(run, step, limit)
    }

    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        self.both.events(run)
    }
}

impl RunControl for WithTemporal {
    fn start(&self, request: StartRequest) -> anyhow::Result<RunId> {
        self.local.start(request)
    }

    fn send(&self, command: Command) -> anyhow::Result<()> {
        let (run, op) = match &command {
            Command::Pause(run) => (run, Op::Pause),
            Command::Resume(run) => (run, Op::Resume),
            Command::Cancel(run) => (run, Op::Cancel),
            Command::Decide {
                run,
                step,
                approved,
                via,
                comment,
                inputs,
            } => {
                let comment = match (via, comment) {
                    (Some(via), None) => Some(via.clone()),
                    (_, comment) => comment.clone(),
                };
                let op = Op::Decide {
                    step: step.0.clone(),
                    approved: *approved,
                    comment,
                    inputs: inputs.clone(),
                };
                (run, op)
            }
            Command::Retry(run) | Command::Repair { run, .. } => {
                if is_run_id(run.as_str()) {
                    bail!(
                        "run {run} runs on Temporal, where a finished run is not retried or \
                         repaired; start the workflow again with `baton run --temporal`"
                    );
                }
                return self.local.send(command);
            }
        };
        if !is_run_id(run.as_str()) {
            return self.local.send(command);
        }
        let run = run.as_str();
        // The console's user decides: this process's OS user.
        let operator = crate::identity::Operator::current();
        let said = self
            .both
            .on_cluster(async |c| apply(c, run, op, &operator).await)?;
        tracing::info!("{said}");
        Ok(())
    }

    fn subscribe(&self) -> Subscription {
        polling(self.local.subscribe(), POLL)
    }
}

impl Backend for WithTemporal {
    fn attached_to(&self) -> Option<String> {
        self.local.attached_to()
    }
}

/// `inner`'s feed, with a [`Feed::Lagged`] ("read everything again") at least every `every`,
/// busy or not.
fn polling(mut inner: Subscription, every: Duration) -> Subscription {
    let (tx, rx) = channel();
    let forwarding = std::thread::Builder::new()
        .name("baton-tui-poll".into())
        .spawn(move || {
            loop {
                let feed = inner.next_blocking();
                let closed = matches!(feed, Feed::Closed);
                if tx.send(feed).is_err() || closed {
                    return;
                }
            }
        });
    if let Err(e) = forwarding {
        tracing::warn!("cannot start the console's polling thread: {e}");
        return Subscription::new(|| Feed::Closed);
    }
    let mut due = Instant::now() + every;
    Subscription::new(move || {
        let now = Instant::now();
        if now >= due {
            due = now + every;
            return Feed::Lagged;
        }
        match rx.recv_timeout(due - now) {
            Ok(feed) => feed,
            Err(RecvTimeoutError::Timeout) => {
                due = Instant::now() + every;
                Feed::Lagged
            }
            Err(RecvTimeoutError::Disconnected) => Feed::Closed,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_says_reload_at_least_every_period_even_when_busy() {
        let (tx, rx) = channel::<u32>();
        let inner = Subscription::new(move || match rx.recv() {
            Ok(n) => Feed::Event(Box::new(Event {
                run: RunId(format!("r{n}")),
                ts: crate::store::Timestamp(0),
                kind: crate::store::EventKind::RunState {
                    state: crate::store::RunState::Running,
                    reason: None,
                },
            })),
            Err(_) => Feed::Closed,
        });
        let mut feed = polling(inner, Duration::from_millis(50));
        tx.send(1).unwrap();
        assert!(matches!(feed.next_blocking(), Feed::Event(_)));
        // Nothing comes: a reload is asked for.
        assert!(matches!(feed.next_blocking(), Feed::Lagged));
        // Busy: events never stop coming (until the feed is dropped), and still a reload
        // comes within the period.
        let busy = std::thread::spawn(move || {
            for n in 2.. {
                if tx.send(n).is_err() {
                    return;
                }
            }
        });
        let mut lagged = false;
        for _ in 0..50_000_000 {
            if matches!(feed.next_blocking(), Feed::Lagged) {
                lagged = true;
                break;
            }
        }
        assert!(lagged, "no reload among a stream of events");
        drop(feed);
        let _ = busy.join();
    }
}
