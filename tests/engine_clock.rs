//! The engine reads time only through the clock in its config: a test injects one that stands
//! still and sees every time the engine records — a run's start and end, a retry's start, a
//! cache entry's age — come from it.

#[path = "support/engine.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use baton::engine::clock::ManualClock;
use baton::engine::{EngineConfig, RunReader};
use baton::store::{EventKind, RunState, StepStatus, Timestamp};
use harness::Harness;

const T: Timestamp = Timestamp(1_700_000_000_000);

fn harness(clock: Arc<ManualClock>) -> Harness {
    Harness::with(EngineConfig {
        grace: Duration::from_millis(300),
        clock,
        ..EngineConfig::default()
    })
}

#[test]
fn a_runs_times_and_its_retry_start_come_from_the_injected_clock() {
    let h = harness(Arc::new(ManualClock::at(T)));
    let yaml = r#"
name: flaky
steps:
  - id: flaky
    run: exit 3
    retry: { max_attempts: 2, initial: 250ms, jitter: false }
"#;
    let (id, state) = h.run_to_end(yaml);
    assert_eq!(state, RunState::Failed);
    let run = h.engine.run(&id).unwrap();
    assert_eq!(run.created_at, T);
    assert_eq!(run.started_at, Some(T));
    assert_eq!(run.finished_at, Some(T));
    let retry_at: Vec<Option<Timestamp>> = h
        .event_kinds(&id)
        .into_iter()
        .filter_map(|k| match k {
            EventKind::Step { record } if record.status == StepStatus::Retrying => {
                Some(record.retry_at)
            }
            _ => None,
        })
        .collect();
    assert_eq!(retry_at, [Some(Timestamp(T.0 + 250))]);
}

#[test]
fn a_cached_result_expires_when_the_clock_passes_its_ttl() {
    let clock = Arc::new(ManualClock::at(T));
    let h = harness(clock.clone());
    let marker = h.path("ran");
    let yaml = format!(
        "name: cached\nsteps:\n  - id: build\n    run: echo once >> {}\n    cache: {{ ttl: 1h }}\n",
        marker.display()
    );
    let count = || {
        std::fs::read_to_string(&marker)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(h.run_to_end(&yaml).1, RunState::Succeeded);
    clock.advance(Duration::from_secs(59 * 60));
    let (second, _) = h.run_to_end(&yaml);
    assert_eq!(h.step(&second, "build").status, StepStatus::Cached);
    assert_eq!(count(), 1);
    clock.advance(Duration::from_secs(2 * 60));
    let (third, _) = h.run_to_end(&yaml);
    assert_eq!(h.step(&third, "build").status, StepStatus::Succeeded);
    assert_eq!(count(), 2);
}
