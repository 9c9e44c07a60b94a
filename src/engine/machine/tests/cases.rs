//! Single behaviours of the machine that a driver relies on, case by case.

use super::*;

#[test]
fn a_false_when_skips_with_its_reason_and_its_dependents_still_run() {
    let when_false = Shape {
        deps: vec![],
        when: Some("false"),
        continue_on_error: false,
    };
    let after = Shape {
        deps: vec![0],
        when: None,
        continue_on_error: false,
    };
    let wf = workflow(&[when_false, after], 2);
    let sim = Sim::new(&wf, 2);
    assert_eq!(sim.status[0], StepStatus::Skipped);
    let reason = sim.m.records()[0].skip_reason.clone().unwrap();
    assert_eq!(reason, format!("{WHEN_FALSE}: false"));
    assert_eq!(sim.running, vec![1]);
}

#[test]
fn a_when_that_cannot_be_evaluated_fails_its_step_and_skips_downstream() {
    let broken = Shape {
        deps: vec![],
        when: Some("1 == 2"),
        continue_on_error: false,
    };
    let after = Shape {
        deps: vec![0],
        when: None,
        continue_on_error: false,
    };
    let wf = workflow(&[broken, after], 2);
    let mut sim = Sim::new(&wf, 2);
    assert_eq!(sim.status[0], StepStatus::Failed);
    assert_eq!(
        sim.m.records()[0].error.as_deref(),
        Some("when: cannot evaluate `1 == 2`")
    );
    assert_eq!(
        sim.m.records()[1].skip_reason.as_deref(),
        Some("upstream `s0` failed")
    );
    sim.drain();
    assert_eq!(sim.ended, Some(RunState::Failed));
}

#[test]
fn results_that_arrive_while_paused_land_at_resume() {
    let one = Shape {
        deps: vec![],
        when: None,
        continue_on_error: false,
    };
    let wf = workflow(
        &[
            one.clone(),
            Shape {
                deps: vec![0],
                ..one
            },
        ],
        1,
    );
    let mut sim = Sim::new(&wf, 1);
    sim.feed(Input::Pause);
    sim.running.clear();
    sim.feed(Input::Done { idx: 0, end: ok() });
    assert_eq!(
        sim.status[0],
        StepStatus::Paused,
        "a held result is not recorded"
    );
    assert!(!sim.m.is_over());
    sim.feed(Input::Resume);
    assert_eq!(sim.status[0], StepStatus::Succeeded);
    assert_eq!(sim.running, vec![1], "the next step starts at resume");
}

#[test]
fn a_gate_timer_of_an_earlier_opening_decides_nothing() {
    let one = Shape {
        deps: vec![],
        when: None,
        continue_on_error: false,
    };
    let wf = workflow(&[one], 1);
    let mut sim = Sim::new(&wf, 1);
    sim.feed(Input::GateOpened {
        idx: 0,
        on_timeout: OnTimeout::Approve,
    });
    let opened = sim.gates[&0];
    sim.feed(Input::GateTimeout {
        idx: 0,
        requested_at: Timestamp(opened.0 - 1),
    });
    assert!(sim.gates.contains_key(&0), "a stale timer decided the gate");
    sim.feed(Input::GateTimeout {
        idx: 0,
        requested_at: opened,
    });
    assert!(!sim.gates.contains_key(&0));
    assert_eq!(sim.status[0], StepStatus::Running);
    assert_eq!(
        sim.m.records()[0].approval_wait_ms,
        2000,
        "from its opening to the timeout"
    );
}

#[test]
fn restoring_keeps_ended_steps_and_gates_a_non_idempotent_step_that_was_running() {
    let one = Shape {
        deps: vec![],
        when: None,
        continue_on_error: false,
    };
    let wf = workflow(
        &[
            one.clone(),
            Shape {
                deps: vec![0],
                ..one
            },
        ],
        2,
    );
    let dag = crate::spec::Dag::new(&wf);
    let mut first = StepRecord::planned(&wf, &dag, 0);
    first.status = StepStatus::Succeeded;
    let mut second = StepRecord::planned(&wf, &dag, 1);
    second.status = StepStatus::Running;
    second.process = Some((4242, Timestamp(7)));
    let stored = StepTable {
        steps: vec![first, second],
        outputs: Default::default(),
    };
    let (mut m, effects) = machine(&wf, stored, 2);
    assert!(matches!(
        effects[0],
        Effect::StopLeftover {
            idx: 1,
            pid: 4242,
            ..
        }
    ));
    assert!(
        matches!(&effects[1], Effect::Step(r) if r.index == 1 && r.status == StepStatus::Pending),
        "{effects:?}"
    );
    let effects = m.apply(Input::Begin, at(1), &Conditions);
    let starts: Vec<(usize, bool)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Start {
                idx, recovery_gate, ..
            } => Some((*idx, *recovery_gate)),
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![(1, true)],
        "only the unfinished step runs, gated"
    );
}

#[test]
fn restoring_skips_what_a_stored_failure_blocks_when_the_skips_were_not_stored() {
    let one = Shape {
        deps: vec![],
        when: None,
        continue_on_error: false,
    };
    let wf = workflow(
        &[
            one.clone(),
            Shape {
                deps: vec![0],
                ..one
            },
        ],
        2,
    );
    let dag = crate::spec::Dag::new(&wf);
    let mut first = StepRecord::planned(&wf, &dag, 0);
    first.status = StepStatus::Failed;
    first.error = Some("boom".into());
    let stored = StepTable {
        steps: vec![first],
        outputs: Default::default(),
    };
    let (mut m, effects) = machine(&wf, stored, 2);
    let skipped: Vec<(u32, Option<String>)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Step(r) if r.status == StepStatus::Skipped => {
                Some((r.index, r.skip_reason.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![(1, Some("upstream `s0` failed".to_string()))]);
    assert!(
        m.apply(Input::Begin, at(1), &Conditions)
            .iter()
            .all(|e| !matches!(e, Effect::Start { .. }))
    );
    assert!(m.is_over(), "nothing is left to run");
    let end = m.apply(Input::Finish, at(2), &Conditions);
    assert!(
        matches!(end.last(), Some(Effect::Ended(RunState::Failed))),
        "{end:?}"
    );
}
