//! Schedules under paused tokio time: a real engine on a real store, the scheduler's clock
//! injected so that its wall time moves with tokio's. Fires, catch-up after a downtime per
//! policy, and overlap (skip vs queue) are read from what the scheduler reports and the runs
//! the engine holds.

use std::sync::Arc;
use std::time::Duration;

use baton::engine::clock::Clock;
use baton::engine::machine::Now;
use baton::engine::{Command, Engine, EngineConfig, RunReader};
use baton::identity::Operator;
use baton::serve::Catalogue;
use baton::serve::scheduler::{Fire, Outcome, Scheduler};
use baton::spec::StepId;
use baton::store::{RunId, RunState, StepStatus, Store, Timestamp};

/// Wall time that starts at `base` and moves with tokio's (paused) clock.
#[derive(Debug)]
struct TestClock {
    base: Timestamp,
    origin: tokio::time::Instant,
}

impl Clock for TestClock {
    fn now(&self) -> Now {
        let elapsed = self.origin.elapsed();
        Now {
            wall: Timestamp(self.base.0 + elapsed.as_millis() as u64),
            mono: elapsed,
        }
    }
}

fn at(text: &str) -> Timestamp {
    let ts: jiff::Timestamp = text.parse().unwrap();
    Timestamp(ts.as_millisecond() as u64)
}

struct Setup {
    dir: tempfile::TempDir,
    engine: Engine,
    catalogue: Catalogue,
    clock: Arc<dyn Clock>,
}

impl Setup {
    fn new(workflow: &str, base: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let flows = dir.path().join("workflows");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::write(flows.join("w.yaml"), workflow).unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let engine = Engine::open(
            store,
            EngineConfig::default(),
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TestClock {
            base: at(base),
            origin: tokio::time::Instant::now(),
        });
        Setup {
            catalogue: Catalogue::new(vec![flows]),
            dir,
            engine,
            clock,
        }
    }

    fn spawn(&self) -> Scheduler {
        Scheduler::spawn(
            self.engine.clone(),
            self.catalogue.clone(),
            self.catalogue.entries(),
            self.clock.clone(),
        )
    }

    fn mark(&self) -> Option<Timestamp> {
        self.engine.store().schedule_mark("w").unwrap()
    }

    fn gate_open(&self, run: &RunId) -> bool {
        self.engine.run_detail(run).is_ok_and(|d| {
            d.steps
                .iter()
                .any(|s| s.status == StepStatus::WaitingApproval)
        })
    }

    /// Waits, without moving tokio's clock (the store's flush deadline runs on it), for the
    /// run to end, and checks it succeeded.
    async fn succeeds(&self, id: &RunId) {
        let ended = || self.engine.run(id).is_ok_and(|r| r.state.is_terminal());
        until("the run to end", ended).await;
        let run = self.engine.run(id).unwrap();
        assert_eq!(run.state, RunState::Succeeded, "run {id}: {:?}", run.reason);
    }

    async fn approve(&self, run: &RunId) {
        let (engine, run) = (self.engine.clone(), run.clone());
        tokio::task::spawn_blocking(move || {
            engine.send_as(
                Command::Decide {
                    run,
                    step: StepId::from("gate"),
                    approved: true,
                    via: None,
                    comment: None,
                    inputs: Default::default(),
                },
                &Operator::current(),
            )
        })
        .await
        .unwrap()
        .unwrap();
    }
}

/// Waits for `cond` without moving tokio's clock: other tasks and threads run meanwhile.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 60 s for {what}"
        );
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn started(fire: &Fire) -> Option<RunId> {
    match &fire.outcome {
        Outcome::Started(id) => Some(id.clone()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_schedule_fires_at_each_cron_time_and_its_runs_finish() {
    let s = Setup::new(
        "name: w\nschedule: { cron: \"*/10 * * * * *\", overlap: allow }\nsteps:\n  - { id: a, run: 'true' }\n",
        "2026-01-01T00:00:05Z",
    );
    let scheduler = s.spawn();
    assert_eq!(scheduler.scheduled, ["w"]);
    // Time moves a fire at a time; each is waited for before the next.
    for n in 1..=3 {
        let step = if n == 1 { 6 } else { 10 };
        tokio::time::sleep(Duration::from_secs(step)).await;
        until("the next fire", || scheduler.fires().len() >= n).await;
    }
    let fires = scheduler.fires();
    let times: Vec<Timestamp> = fires.iter().take(3).map(|f| f.at).collect();
    assert_eq!(
        times,
        [
            at("2026-01-01T00:00:10Z"),
            at("2026-01-01T00:00:20Z"),
            at("2026-01-01T00:00:30Z")
        ]
    );
    for fire in &fires[..3] {
        let id = started(fire).unwrap_or_else(|| panic!("{fire:?}"));
        s.succeeds(&id).await;
    }
    drop(s.dir);
}

/// Runs the schedule until its mark is saved, stops it for 33 s of downtime (three missed
/// fires), starts it again, and returns the fires of its catch-up. (Paused time stays within a
/// minute of the real clock: the store's flush deadline is taken from `std::time::Instant`.)
async fn after_downtime(catchup: &str) -> Vec<Fire> {
    let s = Setup::new(
        &format!(
            "name: w\nschedule: {{ cron: \"*/10 * * * * *\", catchup: {catchup}, overlap: allow }}\nsteps:\n  - {{ id: a, run: 'true' }}\n"
        ),
        "2026-01-01T00:00:05Z",
    );
    let mut first = s.spawn();
    until("the first mark", || {
        s.mark() == Some(at("2026-01-01T00:00:05Z"))
    })
    .await;
    first.stop();
    tokio::time::advance(Duration::from_secs(33)).await;
    let second = s.spawn();
    until("the mark after the catch-up", || {
        s.mark() == Some(at("2026-01-01T00:00:38Z"))
    })
    .await;
    let fires = second.fires();
    for id in fires.iter().filter_map(started) {
        s.succeeds(&id).await;
    }
    fires
}

#[tokio::test(start_paused = true)]
async fn missed_fires_are_dropped_by_catchup_none() {
    assert_eq!(after_downtime("none").await, []);
}

#[tokio::test(start_paused = true)]
async fn catchup_latest_runs_only_the_newest_missed_fire() {
    let fires = after_downtime("latest").await;
    let times: Vec<Timestamp> = fires.iter().map(|f| f.at).collect();
    assert_eq!(times, [at("2026-01-01T00:00:30Z")]);
    assert!(started(&fires[0]).is_some(), "{fires:?}");
}

#[tokio::test(start_paused = true)]
async fn catchup_all_runs_every_missed_fire_oldest_first() {
    let fires = after_downtime("all").await;
    let times: Vec<Timestamp> = fires.iter().map(|f| f.at).collect();
    assert_eq!(
        times,
        [
            at("2026-01-01T00:00:10Z"),
            at("2026-01-01T00:00:20Z"),
            at("2026-01-01T00:00:30Z")
        ]
    );
    assert!(fires.iter().all(|f| started(f).is_some()), "{fires:?}");
}

/// A run held at a gate while two more fires come; returns the scheduler and the first run.
async fn two_fires_during_a_gated_run(s: &Setup) -> (Scheduler, RunId) {
    let scheduler = s.spawn();
    tokio::time::sleep(Duration::from_secs(6)).await;
    until("the first run", || scheduler.fires().len() == 1).await;
    let first = started(&scheduler.fires()[0]).expect("a run");
    until("its gate", || s.gate_open(&first)).await;
    for n in [2, 3] {
        tokio::time::sleep(Duration::from_secs(10)).await;
        until("the next fire", || scheduler.fires().len() >= n).await;
    }
    assert!(s.engine.is_active(&first));
    (scheduler, first)
}

const GATED: &str = "name: w\nschedule: { cron: \"*/10 * * * * *\", overlap: OVERLAP }\nsteps:\n  - { id: gate, approval: \"go?\" }\n";

#[tokio::test(start_paused = true)]
async fn overlap_skip_drops_fires_while_the_last_run_is_active() {
    let s = Setup::new(&GATED.replace("OVERLAP", "skip"), "2026-01-01T00:00:05Z");
    let (scheduler, first) = two_fires_during_a_gated_run(&s).await;
    let outcomes: Vec<Outcome> = scheduler.fires()[1..3]
        .iter()
        .map(|f| f.outcome.clone())
        .collect();
    assert_eq!(outcomes, [Outcome::Skipped, Outcome::Skipped]);
    s.approve(&first).await;
    until("the first run to be over", || !s.engine.is_active(&first)).await;
    // The next run is the next fire's, at :40; the skipped ones never run.
    tokio::time::sleep(Duration::from_secs(15)).await;
    until("the next fire", || scheduler.fires().len() >= 4).await;
    let next = &scheduler.fires()[3];
    assert_eq!(next.at, at("2026-01-01T00:00:40Z"));
    assert!(started(next).is_some(), "{next:?}");
    assert_eq!(s.engine.runs().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn overlap_queue_starts_the_waiting_fires_when_the_last_run_ends() {
    let s = Setup::new(&GATED.replace("OVERLAP", "queue"), "2026-01-01T00:00:05Z");
    let (scheduler, first) = two_fires_during_a_gated_run(&s).await;
    let outcomes: Vec<Outcome> = scheduler.fires()[1..3]
        .iter()
        .map(|f| f.outcome.clone())
        .collect();
    assert_eq!(outcomes, [Outcome::Queued, Outcome::Queued]);
    s.approve(&first).await;
    // Without any more time passing, the fire queued at :20 starts once the first run ends.
    until("the queued fire's run", || scheduler.fires().len() == 4).await;
    let queued = &scheduler.fires()[3];
    assert_eq!(queued.at, at("2026-01-01T00:00:20Z"));
    let second = started(queued).expect("a run");
    until("its gate", || s.gate_open(&second)).await;
    assert_eq!(s.engine.runs().unwrap().len(), 2);
}
