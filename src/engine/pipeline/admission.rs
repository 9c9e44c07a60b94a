//! The admission stage: a step waits for its rate limit, then its named lock, then a slot of
//! the engine's global limit, in that order (a step holding a lock never waits for a token).
//! A cancel ends any of these waits, and the step ends cancelled.

use std::sync::Arc;

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, watch};

use super::StepJob;
use crate::engine::shared::EngineShared;
use crate::spec::RateLimit;
use crate::steps::{Directive, Failure, LogSink, wait_cancelled};
use crate::store::LogStream;

/// What a step holds while it runs; dropping it lets the next step in.
pub(super) struct Admitted {
    _lock: Option<OwnedMutexGuard<()>>,
    _permit: OwnedSemaphorePermit,
}

/// Admits the step, whose rendered lock name is `lock`.
pub(super) async fn admit(job: &StepJob, lock: Option<&str>) -> Result<Admitted, Failure> {
    let mut control = job.control.clone();
    let step = job.step();
    if let Some(limit) = &step.rate_limit {
        let bucket = limit.key.as_deref().unwrap_or(&step.id.0);
        rate_limit(&job.engine, bucket, limit, &job.log, &mut control).await?;
    }
    let lock = match lock {
        Some(name) => Some(take_lock(&job.engine, name, &job.log, &mut control).await?),
        None => None,
    };
    let permit = {
        let _waiting = WaitingForSlot::count(&job.engine.waiting_for_slot);
        take_permit(&job.engine.global, &mut control).await?
    };
    Ok(Admitted {
        _lock: lock,
        _permit: permit,
    })
}

/// Waits until the bucket `bucket` gives a start (`max` per `per`, shared by every step and
/// run naming it).
async fn rate_limit(
    engine: &EngineShared,
    bucket: &str,
    limit: &RateLimit,
    log: &LogSink,
    control: &mut watch::Receiver<Directive>,
) -> Result<(), Failure> {
    while let Err(wait) = engine.take_token(bucket, limit.max, limit.per.get()) {
        log(
            LogStream::System,
            &format!("rate limit `{bucket}`: waiting {} ms", wait.as_millis()),
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wait_cancelled(control) => return Err(Failure::cancelled()),
        }
    }
    Ok(())
}

/// Takes the named lock, saying in the log when it has to wait for it.
async fn take_lock(
    engine: &EngineShared,
    name: &str,
    log: &LogSink,
    control: &mut watch::Receiver<Directive>,
) -> Result<OwnedMutexGuard<()>, Failure> {
    let lock = engine.lock(name);
    if let Ok(guard) = lock.clone().try_lock_owned() {
        return Ok(guard);
    }
    log(LogStream::System, &format!("waiting for lock `{name}`"));
    tokio::select! {
        guard = lock.lock_owned() => Ok(guard),
        _ = wait_cancelled(control) => Err(Failure::cancelled()),
    }
}

/// Counts a step among those waiting for a slot while it lives.
struct WaitingForSlot<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> WaitingForSlot<'a> {
    fn count(counter: &'a std::sync::atomic::AtomicUsize) -> WaitingForSlot<'a> {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        WaitingForSlot(counter)
    }
}

impl Drop for WaitingForSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Takes a slot of the engine's global step limit.
async fn take_permit(
    global: &Arc<Semaphore>,
    control: &mut watch::Receiver<Directive>,
) -> Result<OwnedSemaphorePermit, Failure> {
    tokio::select! {
        p = global.clone().acquire_owned() => p.map_err(|_| Failure::cancelled()),
        _ = wait_cancelled(control) => Err(Failure::cancelled()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::rig::{Rig, poll_once};
    use super::*;
    use crate::time::Dur;

    fn sink(rig: &Rig) -> LogSink {
        rig.job("name: w\nsteps:\n  - id: s\n    run: 'true'\n", "s")
            .log
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_admits_max_per_window_then_one_per_refill() {
        let rig = Rig::new();
        let (log, mut control) = (sink(&rig), rig.control.subscribe());
        let limit = RateLimit {
            key: None,
            max: 2,
            per: Dur(Duration::from_secs(10)),
        };
        for _ in 0..2 {
            let admitted = rate_limit(&rig.engine, "api", &limit, &log, &mut control);
            assert_eq!(poll_once(&mut Box::pin(admitted)).await, Some(Ok(())));
        }
        let mut control2 = rig.control.subscribe();
        let mut third = Box::pin(rate_limit(&rig.engine, "api", &limit, &log, &mut control2));
        assert_eq!(poll_once(&mut third).await, None);
        assert!(
            rig.logged()
                .contains(&"rate limit `api`: waiting 5000 ms".to_string())
        );
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert_eq!(poll_once(&mut third).await, None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(poll_once(&mut third).await, Some(Ok(())));
        // Another bucket is not held back by this one.
        let other = rate_limit(&rig.engine, "other", &limit, &log, &mut control);
        assert_eq!(poll_once(&mut Box::pin(other)).await, Some(Ok(())));
    }

    #[tokio::test]
    async fn a_lock_excludes_a_second_holder_until_the_first_lets_go() {
        let rig = Rig::new();
        let (log, mut control) = (sink(&rig), rig.control.subscribe());
        let first = take_lock(&rig.engine, "deploy", &log, &mut control)
            .await
            .unwrap();
        let mut control2 = rig.control.subscribe();
        let mut second = Box::pin(take_lock(&rig.engine, "deploy", &log, &mut control2));
        assert!(poll_once(&mut second).await.is_none());
        assert_eq!(rig.logged(), ["waiting for lock `deploy`"]);
        let mut control3 = rig.control.subscribe();
        let other = take_lock(&rig.engine, "other", &log, &mut control3);
        assert!(poll_once(&mut Box::pin(other)).await.is_some());
        drop(first);
        assert!(second.await.is_ok());
    }

    #[tokio::test]
    async fn a_cancel_ends_the_wait_for_a_lock_or_a_slot() {
        let rig = Rig::new();
        let log = sink(&rig);
        let _held = rig.engine.lock("deploy").try_lock_owned().unwrap();
        let full = Arc::new(Semaphore::new(0));
        let (mut c1, mut c2) = (rig.control.subscribe(), rig.control.subscribe());
        let mut lock = Box::pin(take_lock(&rig.engine, "deploy", &log, &mut c1));
        let mut slot = Box::pin(take_permit(&full, &mut c2));
        assert!(poll_once(&mut lock).await.is_none());
        assert!(poll_once(&mut slot).await.is_none());
        rig.control.send_replace(Directive::Cancelled);
        // Ended at once: nothing else has to happen first.
        assert!(poll_once(&mut lock).await.unwrap().unwrap_err().cancelled);
        assert!(poll_once(&mut slot).await.unwrap().unwrap_err().cancelled);
    }
}
