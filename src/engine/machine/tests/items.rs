//! Fan-out under random event orders: no item runs twice (across an interrupt and a restore
//! too), `max_parallel` is never exceeded, and `fail_fast` starts nothing after a failure and
//! cancels the rest.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::*;
use crate::store::item_key;

fn fan_workflow(n: usize, max_parallel: usize, fail_fast: bool) -> Arc<Workflow> {
    let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let y = format!(
        "name: fan\nsteps:\n  - id: fan\n    for_each: [{}]\n    max_parallel: {max_parallel}\n    \
         fail_fast: {fail_fast}\n    transform: {{ expr: \"item\" }}\n  - id: after\n    \
         depends_on: [fan]\n    transform: {{ expr: \"1\" }}\n",
        items.join(", ")
    );
    Arc::new(crate::spec::parse_str(&y, Path::new("fan.yaml")).expect("generated workflow"))
}

/// A fake driver of one fan-out step's items.
struct FanSim {
    m: RunMachine,
    ms: u64,
    cap: usize,
    fail_fast: bool,
    list: Vec<Value>,
    running: Vec<usize>,
    /// Plain steps (downstream of the fan-out) started and not ended.
    steps: Vec<usize>,
    /// Items started by this machine, ever.
    started: HashSet<usize>,
    /// Items that succeeded (across restores).
    succeeded: HashSet<usize>,
    failed_seen: bool,
    stopped: bool,
    paused: bool,
    ended: Option<RunState>,
    /// The last record of every step, and the outputs, as the store would hold them.
    stored: HashMap<usize, StepRecord>,
    outputs: HashMap<crate::spec::StepId, StepOutput>,
}

impl FanSim {
    fn new(wf: &Arc<Workflow>, cap: usize, fail_fast: bool, stored: StepTable) -> FanSim {
        let list = (0..wf_items(wf)).map(|i| Value::from(i as u64)).collect();
        let outputs = stored.outputs.clone();
        let (m, effects) = machine(wf, stored, 4);
        let mut sim = FanSim {
            m,
            ms: 0,
            cap,
            fail_fast,
            list,
            running: Vec::new(),
            steps: Vec::new(),
            started: HashSet::new(),
            succeeded: HashSet::new(),
            failed_seen: false,
            stopped: false,
            paused: false,
            ended: None,
            stored: HashMap::new(),
            outputs,
        };
        for e in effects {
            sim.check(e);
        }
        sim.feed(Input::Begin);
        sim
    }

    fn feed(&mut self, input: Input) {
        self.ms += 1000;
        let effects = self.m.apply(input, at(self.ms), &Conditions);
        let mut expand = None;
        for e in effects {
            if let Effect::Expand { idx, .. } = e {
                expand = Some(idx);
            } else {
                self.check(e);
            }
        }
        if let Some(idx) = expand {
            let items = Ok(self.list.clone());
            self.feed(Input::Items { idx, items });
        }
    }

    fn check(&mut self, effect: Effect) {
        assert!(self.ended.is_none(), "an effect after the end: {effect:?}");
        match effect {
            Effect::StartItem { item, value, .. } => {
                assert!(
                    !self.paused && !self.stopped,
                    "item {item} started while held"
                );
                assert!(self.started.insert(item), "item {item} started twice");
                assert!(!self.succeeded.contains(&item), "item {item} ran again");
                assert!(
                    !(self.fail_fast && self.failed_seen),
                    "item {item} started after a failure with fail_fast"
                );
                assert_eq!(value, self.list[item]);
                self.running.push(item);
                assert!(
                    self.running.len() <= self.cap,
                    "more than {} at once",
                    self.cap
                );
            }
            Effect::Start { idx, .. } => self.steps.push(idx),
            Effect::Step(rec) => {
                self.stored.insert(rec.index as usize, *rec);
            }
            Effect::Output(step, out) => {
                self.outputs.insert(step, out);
            }
            Effect::Signal(Signal::Pause) => self.paused = true,
            Effect::Signal(Signal::Resume) => self.paused = false,
            Effect::Signal(Signal::Stop { .. }) => {
                self.stopped = true;
                self.paused = false;
            }
            Effect::Ended(state) => {
                assert!(self.running.is_empty(), "ended with items running");
                assert!(self.steps.is_empty(), "ended with steps running");
                self.ended = Some(state);
            }
            _ => {}
        }
    }

    /// Item `n`-th of the running ends: 0 ok, 1 failed, 2 cancelled (only once told to stop).
    fn end_item(&mut self, n: usize, how: u8) {
        if self.running.is_empty() {
            return;
        }
        let item = self.running.remove(n % self.running.len());
        let end = match how {
            0 => StepEnd::Succeeded {
                output: StepOutput {
                    output: self.list[item].clone(),
                    ..StepOutput::default()
                },
                exit_code: None,
                cached: false,
                metrics: Default::default(),
            },
            1 if !self.stopped => {
                self.failed_seen = true;
                failed(false)
            }
            _ => failed(true),
        };
        if how == 0 {
            self.succeeded.insert(item);
        }
        let report = ItemReport::Done(Box::new(end));
        self.feed(Input::Item {
            idx: 0,
            item,
            report,
        });
    }

    fn drain(&mut self) {
        for _ in 0..1000 {
            if self.ended.is_some() {
                return;
            }
            if self.m.is_over() {
                self.feed(Input::Finish);
            } else if self.paused {
                self.feed(Input::Resume);
            } else if !self.running.is_empty() {
                self.end_item(0, 0);
            } else if let Some(idx) = self.steps.pop() {
                self.feed(Input::Done { idx, end: ok() });
            } else {
                panic!("the fan-out hangs: nothing runs, it is not over");
            }
        }
        panic!("the run did not end");
    }

    fn table(&self) -> StepTable {
        let mut steps: Vec<StepRecord> = self.stored.values().cloned().collect();
        steps.sort_by_key(|r| r.index);
        StepTable {
            steps,
            outputs: self.outputs.clone(),
        }
    }
}

fn wf_items(wf: &Workflow) -> usize {
    match wf.steps[0].for_each.as_ref().map(|f| &f.items) {
        Some(crate::spec::ForEachItems::List(l)) => l.len(),
        _ => 0,
    }
}

#[derive(Debug, Clone)]
enum ItemAct {
    End(usize, u8),
    Pause,
    Resume,
}

fn item_act() -> impl Strategy<Value = ItemAct> {
    prop_oneof![
        8 => (any::<usize>(), 0u8..3).prop_map(|(n, h)| ItemAct::End(n, h)),
        1 => Just(ItemAct::Pause),
        1 => Just(ItemAct::Resume),
    ]
}

fn play(sim: &mut FanSim, acts: Vec<ItemAct>) {
    for a in acts {
        if sim.ended.is_some() || sim.stopped {
            return;
        }
        match a {
            ItemAct::End(n, how) => sim.end_item(n, how),
            ItemAct::Pause => sim.feed(Input::Pause),
            ItemAct::Resume => sim.feed(Input::Resume),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn items_run_once_within_max_parallel_and_fail_fast_cancels_the_rest(
        n in 0usize..12,
        cap in 1usize..4,
        fail_fast in any::<bool>(),
        acts in prop::collection::vec(item_act(), 0..40),
    ) {
        let wf = fan_workflow(n, cap, fail_fast);
        let mut sim = FanSim::new(&wf, cap, fail_fast, StepTable::default());
        play(&mut sim, acts);
        sim.drain();
        let fan = &sim.stored[&0];
        if sim.failed_seen {
            prop_assert_eq!(fan.status, StepStatus::Failed);
            prop_assert_eq!(sim.ended, Some(RunState::Failed));
            for (i, item) in fan.items.iter().enumerate() {
                if fail_fast && !sim.started.contains(&i) {
                    prop_assert_eq!(item.status, StepStatus::Cancelled, "item {}", i);
                }
                if !fail_fast {
                    prop_assert!(sim.started.contains(&i), "item {} never ran", i);
                }
            }
        } else if !sim.m.records()[0].items.iter().any(|i| i.status == StepStatus::Cancelled) {
            prop_assert_eq!(fan.status, StepStatus::Succeeded);
            prop_assert_eq!(sim.started.len(), n);
            let out = &sim.outputs[&crate::spec::StepId::from("fan")];
            prop_assert_eq!(&out.output, &Value::Array(sim.list.clone()));
        }
    }

    #[test]
    fn after_an_interrupt_a_restore_runs_no_item_that_completed(
        n in 1usize..10,
        cap in 1usize..4,
        before in prop::collection::vec(item_act(), 0..20),
    ) {
        let wf = fan_workflow(n, cap, true);
        let mut first = FanSim::new(&wf, cap, true, StepTable::default());
        // Items end well here (failures and cancels are the other test's).
        let before = before.into_iter().filter(|a| !matches!(a, ItemAct::End(_, 1 | 2))).collect();
        play(&mut first, before);
        if first.ended.is_some() {
            return Ok(());
        }
        first.feed(Input::Interrupt);
        while !first.running.is_empty() {
            first.end_item(0, 2);
        }
        while let Some(idx) = first.steps.pop() {
            first.feed(Input::Done { idx, end: failed(true) });
        }
        first.feed(Input::Finish);
        prop_assert_eq!(first.ended, Some(RunState::Interrupted));
        // The second owner: what the first stored, nothing else.
        let done = first.succeeded.clone();
        for i in &done {
            prop_assert!(first.outputs.contains_key(&item_key(&"fan".into(), *i)));
        }
        let mut second = FanSim::new(&wf, cap, true, first.table());
        second.succeeded = done.clone();
        second.drain();
        prop_assert_eq!(second.ended, Some(RunState::Succeeded));
        prop_assert_eq!(second.started.len() + done.len(), n);
        let out = &second.outputs[&crate::spec::StepId::from("fan")];
        prop_assert_eq!(&out.output, &Value::Array(second.list.clone()));
    }
}

#[test]
fn a_failure_stored_before_a_crash_keeps_fail_fast_after_the_restore() {
    let wf = fan_workflow(3, 2, true);
    let mut fan = StepRecord::planned(&wf, &crate::spec::Dag::new(&wf), 0);
    fan.status = StepStatus::Running;
    fan.items = (0..3)
        .map(|i| crate::store::ItemRecord::pending(Value::from(i)))
        .collect();
    fan.items[0].status = StepStatus::Failed;
    fan.items[1].status = StepStatus::Running;
    let stored = StepTable {
        steps: vec![fan],
        outputs: HashMap::new(),
    };
    let mut sim = FanSim::new(&wf, 2, true, stored);
    sim.failed_seen = true;
    sim.drain();
    assert!(sim.started.is_empty(), "items started: {:?}", sim.started);
    assert_eq!(sim.ended, Some(RunState::Failed));
    let items: Vec<StepStatus> = sim.stored[&0].items.iter().map(|i| i.status).collect();
    assert_eq!(
        items,
        [
            StepStatus::Failed,
            StepStatus::Cancelled,
            StepStatus::Cancelled
        ]
    );
}
