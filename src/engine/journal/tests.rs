//! The journal's tests: batches, announcements and flushes.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use tokio::sync::broadcast::error::TryRecvError;

use super::Journal;
use crate::engine::shared::{EngineConfig, EngineShared};
use crate::ids::StepId;
use crate::store::{Event, EventKind, RunId, RunState, StepRecord, StepStatus, Store, Timestamp};

fn engine() -> (tempfile::TempDir, Arc<EngineShared>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (
        dir,
        Arc::new(EngineShared::new(store, EngineConfig::default())),
    )
}

fn state_event(journal: &mut Journal, state: RunState) {
    journal.event(EventKind::RunState {
        state,
        reason: None,
    });
}

/// Commits a batch that must last (Running, with an acknowledgement), then one that need
/// not (Paused), which must not overtake it; returns the acknowledgement.
fn durable_then_not(journal: &mut Journal) -> tokio::sync::oneshot::Receiver<()> {
    state_event(journal, RunState::Running);
    journal.must_last();
    let (ack, acked) = tokio::sync::oneshot::channel();
    journal.when_durable(ack);
    journal.commit().unwrap();
    state_event(journal, RunState::Paused);
    journal.commit().unwrap();
    acked
}

fn state_of(event: Event) -> RunState {
    match event.kind {
        EventKind::RunState { state, .. } => state,
        other => panic!("not a run state: {other:?}"),
    }
}

/// A step's record that follows one of the same step with the same status takes its place:
/// a shell step's attempt and its process group are one event, not two. A change of status
/// is always its own event, and numbering stays without gaps.
#[tokio::test]
async fn a_record_with_the_same_status_replaces_the_one_before_it() {
    let (_dir, engine) = engine();
    let mut events = engine.events.subscribe();
    let run = RunId("r1".into());
    let mut journal = Journal::fresh(engine.clone(), run.clone());
    let step = |id: &str, status: StepStatus, pid: Option<u32>| {
        let mut record = StepRecord::pending(StepId(id.into()), 1);
        record.status = status;
        record.attempt = 1;
        record.process = pid.map(|pid| (pid, Timestamp::now()));
        EventKind::Step {
            record: Box::new(record),
        }
    };
    journal.event(step("a", StepStatus::Running, None));
    journal.event(step("a", StepStatus::Running, Some(4242)));
    journal.event(step("b", StepStatus::Running, None));
    journal.event(step("a", StepStatus::Succeeded, Some(4242)));
    journal.commit().unwrap();
    journal.event(step("a", StepStatus::Succeeded, Some(4242)));
    journal.commit().unwrap();
    let summary = |e: &crate::store::Event| match &e.kind {
        EventKind::Step { record } => (
            record.step.to_string(),
            record.status,
            record.process.map(|(pid, _)| pid),
        ),
        other => panic!("not a step's record: {other:?}"),
    };
    let expected = vec![
        ("a".to_string(), StepStatus::Running, Some(4242)),
        ("b".to_string(), StepStatus::Running, None),
        ("a".to_string(), StepStatus::Succeeded, Some(4242)),
        // A later batch's record is its own event, whatever came before it.
        ("a".to_string(), StepStatus::Succeeded, Some(4242)),
    ];
    let announced: Vec<_> = (0..4)
        .map(|_| summary(&events.try_recv().expect("announced")))
        .collect();
    assert_eq!(announced, expected);
    let stored = engine.store.events(&run).unwrap();
    assert_eq!(stored.iter().map(summary).collect::<Vec<_>>(), expected);
    assert_eq!(engine.store.last_event_seq(&run).unwrap(), 4);
}

/// The flushing thread announces a durable batch once it is flushed, and what was
/// committed after it behind it, with nobody awaiting the journal: a flush that went well
/// does not need the driver woken.
#[tokio::test]
async fn a_flushed_batch_goes_out_from_the_flushing_thread_with_what_follows_it() {
    let (_dir, engine) = engine();
    let mut events = engine.events.subscribe();
    let mut journal = Journal::fresh(engine.clone(), RunId("r1".into()));
    let acked = durable_then_not(&mut journal);
    // Bounded, so that a journal needing its driver polled fails here instead of hanging.
    let unasked = async {
        let first = events.recv().await.unwrap();
        let second = events.recv().await.unwrap();
        acked.await.expect("told once durable");
        (state_of(first), state_of(second))
    };
    let announced = tokio::time::timeout(std::time::Duration::from_secs(60), unasked).await;
    assert_eq!(
        announced.expect("announced without the driver"),
        (RunState::Running, RunState::Paused)
    );
    assert!(journal.is_idle());
    journal.settle().expect("nothing failed");
    // Idle again: the next batch that need not last goes out at once.
    state_event(&mut journal, RunState::Running);
    journal.commit().unwrap();
    assert_eq!(state_of(events.try_recv().unwrap()), RunState::Running);
}

/// A failed flush announces nothing of its batch nor of what followed it, drops the
/// acknowledgements, and wakes the driver, which is told why.
#[tokio::test]
async fn a_failed_flush_announces_nothing_and_tells_the_driver() {
    let (_dir, engine) = engine();
    let mut events = engine.events.subscribe();
    let mut journal = Journal::fresh(engine.clone(), RunId("r1".into()));
    // A pipe cannot be synced (EINVAL): what a disk refusing the sync looks like.
    let (reader, _writer) = std::io::pipe().unwrap();
    journal.sync_first(Arc::new(std::fs::File::from(OwnedFd::from(reader))));
    let acked = durable_then_not(&mut journal);
    // Not watching every flush: only the failure wakes it.
    journal.flush_news(false).await;
    let err = journal.settle().expect_err("the sync failed");
    assert!(
        format!("{err:#}").contains("cannot flush the store"),
        "{err:#}"
    );
    assert!(
        acked.await.is_err(),
        "the acknowledgement is dropped unsent"
    );
    assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
    journal.abandon();
    assert!(journal.is_idle());
}

/// The run's end waits for its last flushes: once `drain` returns, every batch is out.
#[tokio::test]
async fn drain_returns_once_every_batch_is_announced() {
    let (_dir, engine) = engine();
    let mut events = engine.events.subscribe();
    let mut journal = Journal::fresh(engine.clone(), RunId("r1".into()));
    for state in [RunState::Running, RunState::Paused, RunState::Succeeded] {
        state_event(&mut journal, state);
        journal.must_last();
        journal.commit().unwrap();
    }
    journal.drain().await.expect("drained");
    for state in [RunState::Running, RunState::Paused, RunState::Succeeded] {
        assert_eq!(state_of(events.try_recv().unwrap()), state);
    }
}
