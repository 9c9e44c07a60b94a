//! An agent step's time limit, stopped while one of its tool calls waits for an operator: the
//! step's `timeout` bounds the agent's work, not how long a person takes to decide.

use tokio::sync::watch;
use tokio::time::Instant;

use super::PausableDeadline;
use crate::agents::{ActHost, CallQuestion, HostFuture};
use crate::store::{AgentEntry, Decision};

/// The run around the loop, with the step's clock stopped during each approval.
pub struct TimedHost<'h> {
    /// The run around the loop.
    pub inner: &'h dyn ActHost,
    /// The step's clock.
    pub clock: &'h watch::Sender<PausableDeadline>,
}

impl ActHost for TimedHost<'_> {
    fn recorded(&self) -> Result<Vec<AgentEntry>, String> {
        self.inner.recorded()
    }

    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>> {
        self.inner.record(entry)
    }

    fn ask(&self, question: CallQuestion) -> HostFuture<'_, Option<Decision>> {
        Box::pin(async move {
            self.clock.send_modify(|d| d.pause(Instant::now()));
            let decision = self.inner.ask(question).await;
            self.clock.send_modify(|d| d.resume(Instant::now()));
            decision
        })
    }
}

/// Resolves once the clock's budget is spent (never, without one).
pub async fn out_of_time(mut clock: watch::Receiver<PausableDeadline>) {
    loop {
        let at = clock.borrow_and_update().expires_at(Instant::now());
        let changed = match at {
            Some(at) => tokio::select! {
                _ = tokio::time::sleep_until(at) => {
                    if clock.borrow().expired(Instant::now()) {
                        return;
                    }
                    Ok(())
                }
                r = clock.changed() => r,
            },
            None => clock.changed().await,
        };
        if changed.is_err() {
            // The clock's owner is gone: nothing will stop it running out any more.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct SlowOperator;

    impl ActHost for SlowOperator {
        fn recorded(&self) -> Result<Vec<AgentEntry>, String> {
            Ok(Vec::new())
        }
        fn record(&self, _: AgentEntry) -> HostFuture<'_, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
        fn ask(&self, _: CallQuestion) -> HostFuture<'_, Option<Decision>> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                None
            })
        }
    }

    fn question() -> CallQuestion {
        CallQuestion {
            prompt: "?".into(),
            action: "shell: $ true".into(),
            tool: "shell".into(),
            arguments: r#"{"command": "true"}"#.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn time_waiting_for_an_operator_does_not_count_against_the_timeout() {
        let budget = Some(Duration::from_secs(60));
        let (clock, rx) = watch::channel(PausableDeadline::start(budget, Instant::now()));
        let host = TimedHost {
            inner: &SlowOperator,
            clock: &clock,
        };
        let decided = tokio::select! {
            _ = host.ask(question()) => true,
            _ = out_of_time(rx.clone()) => false,
        };
        assert!(
            decided,
            "ten minutes of waiting did not spend a one-minute budget"
        );
        let started = Instant::now();
        out_of_time(rx).await;
        assert_eq!(Instant::now() - started, Duration::from_secs(60));
    }
}
