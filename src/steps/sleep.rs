//! `sleep:` waits, on a clock that stops while the run is paused.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{Attempt, AttemptResult, Directive, Failure, PausableDeadline, Success};

/// Sleeps `duration` of running time.
pub async fn run(duration: Duration, mut attempt: Attempt) -> AttemptResult {
    let mut clock = PausableDeadline::start(Some(duration), Instant::now());
    loop {
        let state = *attempt.control.borrow_and_update();
        match state {
            Directive::Cancelled => return Err(Failure::cancelled()),
            Directive::Paused => clock.pause(Instant::now()),
            Directive::Running => clock.resume(Instant::now()),
        }
        if clock.expired(Instant::now()) {
            return Ok(Success {
                output: Value::Null,
                ..Success::default()
            });
        }
        let wake = clock.expires_at(Instant::now());
        tokio::select! {
            changed = attempt.control.changed() => {
                if changed.is_err() {
                    return Err(Failure::cancelled());
                }
            }
            _ = sleep_until_opt(wake) => {}
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
