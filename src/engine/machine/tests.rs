//! The machine driven without an engine: property tests over random event orders (here) and
//! single cases (`cases.rs`), through a fake driver that checks every effect.

mod cases;
mod handlers;
mod items;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::engine::context::RunContext;
use crate::engine::secrets::RunSecrets;
use crate::spec::{OnTimeout, Workflow};
use crate::store::{
    Decision, RunId, RunRecord, RunState, StepOutput, StepRecord, StepStatus, StepTable, Timestamp,
};

/// `when:` as the tests choose it: `true`, `false`, and anything else cannot be evaluated.
struct Conditions;

impl WhenEval for Conditions {
    fn eval_when(&self, expr: &str, _ctx: &Value) -> Result<bool, String> {
        match expr {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("cannot evaluate `{expr}`")),
        }
    }
}

/// One generated step: its dependencies (on earlier steps), its `when:`, `continue_on_error`.
#[derive(Debug, Clone)]
struct Shape {
    deps: Vec<usize>,
    when: Option<&'static str>,
    continue_on_error: bool,
}

fn workflow(shapes: &[Shape], concurrency: usize) -> Arc<Workflow> {
    let mut y = format!("name: prop\nconcurrency: {concurrency}\nsteps:\n");
    for (i, s) in shapes.iter().enumerate() {
        y.push_str(&format!("  - id: s{i}\n    transform: {{ expr: \"1\" }}\n"));
        y.push_str("    idempotent: false\n");
        if !s.deps.is_empty() {
            let deps: Vec<String> = s.deps.iter().map(|d| format!("s{d}")).collect();
            y.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
        }
        if let Some(w) = s.when {
            y.push_str(&format!("    when: \"{w}\"\n"));
        }
        if s.continue_on_error {
            y.push_str("    continue_on_error: true\n");
        }
    }
    Arc::new(crate::spec::parse_str(&y, Path::new("prop.yaml")).expect("generated workflow"))
}

fn machine(wf: &Arc<Workflow>, stored: StepTable, concurrency: usize) -> (RunMachine, Vec<Effect>) {
    let run = RunRecord {
        id: RunId("r-prop".into()),
        workflow: wf.name.clone(),
        workflow_path: None,
        source: String::new(),
        params: Default::default(),
        workdir: None,
        state: RunState::Pending,
        created_at: Timestamp(0),
        started_at: None,
        finished_at: None,
        owner: None,
        reason: None,
        steps_total: wf.steps.len() as u32,
        steps_done: 0,
        stopped: Default::default(),
        parent: None,
    };
    let ctx = RunContext::new(wf, &run, &RunSecrets::default());
    RunMachine::restore(wf.clone(), run.id, stored, ctx, concurrency, at(0))
}

fn at(ms: u64) -> Now {
    Now {
        wall: Timestamp(1_700_000_000_000 + ms),
        mono: Duration::from_millis(ms),
    }
}

fn ok() -> StepEnd {
    StepEnd::Succeeded {
        output: StepOutput::default(),
        exit_code: Some(0),
        cached: false,
        metrics: Default::default(),
    }
}

fn failed(cancelled: bool) -> StepEnd {
    StepEnd::Failed {
        error: "boom".into(),
        exit_code: Some(1),
        cancelled,
        output: None,
    }
}

/// What a random run does next; the numbers pick among what is possible at that point.
#[derive(Debug, Clone)]
enum Act {
    Done(usize, u8),
    Report(usize, u8),
    Decide(usize, bool),
    Timeout(usize),
    Pause,
    Resume,
    Cancel,
    Interrupt,
    StoreFailed,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (any::<usize>(), 0u8..4).prop_map(|(i, h)| Act::Done(i, h)),
        3 => (any::<usize>(), 0u8..4).prop_map(|(i, h)| Act::Report(i, h)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, a)| Act::Decide(i, a)),
        1 => any::<usize>().prop_map(Act::Timeout),
        1 => Just(Act::Pause),
        1 => Just(Act::Resume),
        1 => Just(Act::Cancel),
        1 => Just(Act::Interrupt),
        1 => Just(Act::StoreFailed),
    ]
}

fn shapes() -> impl Strategy<Value = Vec<Shape>> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<usize>(), 0..3),
            prop_oneof![4 => Just(None), 2 => Just(Some("true")), 2 => Just(Some("false")), 1 => Just(Some("1 == 2"))],
            any::<bool>(),
        ),
        1..10,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (deps, when, continue_on_error))| {
                let mut deps: Vec<usize> = if i == 0 {
                    Vec::new()
                } else {
                    deps.into_iter().map(|d| d % i).collect()
                };
                deps.sort_unstable();
                deps.dedup();
                Shape {
                    deps,
                    when,
                    continue_on_error,
                }
            })
            .collect()
    })
}

/// A fake driver: step tasks that report what they are told, and the invariants checked on
/// every effect.
struct Sim {
    m: RunMachine,
    ms: u64,
    /// Started tasks that have not reported their end.
    running: Vec<usize>,
    /// Open gates and when they opened.
    gates: HashMap<usize, Timestamp>,
    paused: bool,
    stopped: bool,
    ended: Option<RunState>,
    ends: Vec<u32>,
    status: Vec<StepStatus>,
}

impl Sim {
    fn new(wf: &Arc<Workflow>, concurrency: usize) -> Sim {
        let (m, effects) = machine(wf, StepTable::default(), concurrency);
        assert!(
            effects.is_empty(),
            "a new run changes no record: {effects:?}"
        );
        let n = wf.steps.len();
        let mut sim = Sim {
            m,
            ms: 0,
            running: Vec::new(),
            gates: HashMap::new(),
            paused: false,
            stopped: false,
            ended: None,
            ends: vec![0; n],
            status: vec![StepStatus::Pending; n],
        };
        sim.feed(Input::Begin);
        sim
    }

    fn feed(&mut self, input: Input) {
        self.ms += 1000;
        let effects = self.m.apply(input, at(self.ms), &Conditions);
        for e in effects {
            self.check(e);
        }
    }

    fn check(&mut self, effect: Effect) {
        assert!(self.ended.is_none(), "an effect after the end: {effect:?}");
        match effect {
            Effect::Step(rec) => self.record(&rec),
            Effect::Start { idx, .. } => {
                assert!(!self.paused, "step {idx} started while paused");
                assert!(!self.stopped, "step {idx} started after a stop");
                assert!(!self.running.contains(&idx), "step {idx} started twice");
                assert_eq!(self.ends[idx], 0, "step {idx} started after it ended");
                self.running.push(idx);
            }
            Effect::Signal(Signal::Pause) => self.paused = true,
            Effect::Signal(Signal::Resume) => {
                // After a stop, only the handlers' phase resumes the tasks (`handlers.rs`).
                self.paused = false;
                self.stopped = false;
            }
            Effect::Signal(Signal::Stop { .. }) => {
                self.stopped = true;
                self.paused = false;
                self.gates.clear();
            }
            Effect::GateOpened { idx, requested_at } => {
                assert!(self.running.contains(&idx), "a gate of a step not running");
                self.gates.insert(idx, requested_at);
            }
            Effect::GateDecided { idx, .. } => {
                assert!(self.gates.remove(&idx).is_some(), "a gate decided twice");
            }
            Effect::Ended(state) => {
                assert!(
                    self.running.is_empty(),
                    "the run ended with steps {:?} still running",
                    self.running
                );
                self.ended = Some(state);
            }
            _ => {}
        }
    }

    fn record(&mut self, rec: &StepRecord) {
        let i = rec.index as usize;
        if rec.status == StepStatus::Skipped {
            let reason = rec.skip_reason.as_deref().unwrap_or("");
            assert!(!reason.is_empty(), "step {i} skipped without a reason");
        }
        if rec.status.is_terminal() {
            self.ends[i] += 1;
            assert_eq!(self.ends[i], 1, "step {i} ended twice: {rec:?}");
            assert!(
                !self.running.contains(&i),
                "step {i} ended while its task runs"
            );
        }
        self.status[i] = rec.status;
    }

    fn pick(list: &[usize], n: usize) -> Option<usize> {
        (!list.is_empty()).then(|| list[n % list.len()])
    }

    fn play(&mut self, act: Act) {
        match act {
            Act::Done(n, how) => {
                let Some(idx) = Sim::pick(&self.running, n) else {
                    return;
                };
                self.running.retain(|&r| r != idx);
                self.gates.remove(&idx);
                let end = match how {
                    0 | 1 => ok(),
                    2 => failed(false),
                    _ => failed(true),
                };
                self.feed(Input::Done { idx, end });
            }
            Act::Report(n, how) => {
                let Some(idx) = Sim::pick(&self.running, n) else {
                    return;
                };
                let input = match how {
                    0 => Input::Attempt { idx, n: 2 },
                    1 => Input::Retrying {
                        idx,
                        at: Timestamp(self.ms + 5000),
                        error: "flaky".into(),
                        exit_code: Some(3),
                    },
                    2 => Input::Spawned { idx, pid: 4242 },
                    _ if self.gates.contains_key(&idx) => return,
                    _ => Input::GateOpened {
                        idx,
                        on_timeout: OnTimeout::Reject,
                    },
                };
                self.feed(input);
            }
            Act::Decide(n, approved) => {
                let open: Vec<usize> = self.gates.keys().copied().collect();
                let Some(idx) = Sim::pick(&open, n) else {
                    return;
                };
                let decision = Decision {
                    approved,
                    by: "ann".into(),
                    uid: Some(1000),
                    at: at(self.ms).wall,
                    comment: None,
                    inputs: Default::default(),
                };
                self.feed(Input::Decide { idx, decision });
            }
            Act::Timeout(n) => {
                let open: Vec<(usize, Timestamp)> =
                    self.gates.iter().map(|(k, v)| (*k, *v)).collect();
                if open.is_empty() {
                    return;
                }
                let (idx, requested_at) = open[n % open.len()];
                self.feed(Input::GateTimeout { idx, requested_at });
            }
            Act::Pause => self.feed(Input::Pause),
            Act::Resume => self.feed(Input::Resume),
            Act::Cancel => self.feed(Input::Cancel),
            Act::Interrupt => self.feed(Input::Interrupt),
            Act::StoreFailed => self.feed(Input::StoreFailed("disk full".into())),
        }
    }

    /// Lets the run end: resumed, gates approved, every task succeeding.
    fn drain(&mut self) {
        for _ in 0..10_000 {
            if self.ended.is_some() {
                return;
            }
            if self.m.is_over() {
                self.feed(Input::Finish);
            } else if self.paused {
                self.feed(Input::Resume);
            } else if let Some(&idx) = self.gates.keys().next() {
                self.play(Act::Decide(idx, true));
            } else if !self.running.is_empty() {
                self.play(Act::Done(0, 0));
            } else {
                panic!("the run hangs: nothing runs, it is not over");
            }
        }
        panic!("the run did not end");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_event_order_keeps_the_run_invariants(
        shapes in shapes(),
        concurrency in 1usize..4,
        acts in prop::collection::vec(act(), 0..60),
    ) {
        let wf = workflow(&shapes, concurrency);
        let mut sim = Sim::new(&wf, concurrency);
        for a in acts {
            if sim.ended.is_some() {
                break;
            }
            sim.play(a);
        }
        sim.drain();
        let state = sim.ended.expect("ended");
        if state == RunState::Interrupted {
            // Unfinished steps stay for the resume: each ended at most once (checked above).
            prop_assert!(sim.stopped);
        } else {
            for (i, n) in sim.ends.iter().enumerate() {
                prop_assert_eq!(*n, 1, "step {} ended {} times", i, n);
            }
        }
        let failed_hard = sim.status.iter().zip(&shapes).any(|(s, sh)| {
            *s == StepStatus::Failed && !sh.continue_on_error
        });
        let expected = match (sim.stopped, failed_hard) {
            (true, _) => state == RunState::Cancelled || state == RunState::Interrupted,
            (false, true) => state == RunState::Failed,
            (false, false) => state == RunState::Succeeded,
        };
        prop_assert!(expected, "ended {:?} (stopped: {}, failed: {})", state, sim.stopped, failed_hard);
    }

    #[test]
    fn cancel_reaches_every_running_step(
        shapes in shapes(),
        acts in prop::collection::vec(act(), 0..30),
    ) {
        let wf = workflow(&shapes, 3);
        let mut sim = Sim::new(&wf, 3);
        for a in acts {
            if sim.ended.is_some() || sim.stopped {
                break;
            }
            sim.play(a);
        }
        if sim.ended.is_none() && !sim.stopped {
            let running = sim.running.len();
            sim.feed(Input::Cancel);
            prop_assert!(sim.stopped, "a cancel with {} running signalled nothing", running);
            // Every task told to stop ends cancelled; the run waits for each.
            while let Some(&idx) = sim.running.first() {
                prop_assert!(sim.ended.is_none());
                sim.running.remove(0);
                sim.feed(Input::Done { idx, end: failed(true) });
            }
            prop_assert!(sim.m.is_over());
            sim.feed(Input::Finish);
            prop_assert_eq!(sim.ended, Some(RunState::Cancelled));
            prop_assert!(sim.status.iter().all(|s| s.is_terminal()));
        }
    }
}
