//! Templates that take long do not hold the engine: a step's `timeout:` and cancel stop a step
//! whose template is still rendering, and other steps run meanwhile.

#[path = "support/engine.rs"]
mod harness;

use baton::engine::{Command, RunControl, RunReader};
use baton::store::{RunState, StepStatus};
use harness::Harness;

/// A template that spends seconds of CPU before its fuel runs out: each instruction does a lot.
const SPIN: &str = "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = range(8) | map('string') | join %}{% endfor %}{% endfor %}";

#[test]
fn a_step_timeout_stops_a_cpu_bound_template_while_other_steps_run() {
    let h = Harness::new();
    // Two of them: the harness has two async workers, which they would both hold.
    let yaml = format!(
        r#"
name: spin
steps:
  - id: spin-a
    timeout: 200ms
    run: "true {SPIN}"
  - id: spin-b
    timeout: 200ms
    run: "true {SPIN}"
  - id: other
    run: echo ok
"#
    );
    let (id, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Failed);
    for step in ["spin-a", "spin-b"] {
        let rec = h.step(&id, step);
        assert_eq!(rec.status, StepStatus::Failed);
        let error = rec.error.unwrap_or_default();
        assert!(
            error.contains("timed out after 200ms while rendering its templates"),
            "{error}"
        );
    }
    assert_eq!(h.step(&id, "other").status, StepStatus::Succeeded);
}

#[test]
fn cancel_stops_a_step_whose_template_is_rendering() {
    let h = Harness::new();
    let yaml = format!(
        r#"
name: spin
steps:
  - id: first
    run: echo go
  - id: spin
    depends_on: [first]
    run: "true {SPIN}"
"#
    );
    let id = h.start(&yaml);
    h.wait_step(&id, "first", |r| r.status == StepStatus::Succeeded);
    h.engine.send(Command::Cancel(id.clone())).unwrap();
    assert_eq!(h.wait(&id), RunState::Cancelled);
    assert_eq!(h.step(&id, "spin").status, StepStatus::Cancelled);
}

#[test]
fn a_runaway_template_fails_its_step_when_its_budget_runs_out() {
    let h = Harness::new();
    let yaml = r#"
name: spin
steps:
  - id: spin
    run: "true {% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
"#;
    let (id, state) = h.run_to_end(yaml);
    assert_eq!(state, RunState::Failed);
    let error = h.step(&id, "spin").error.unwrap_or_default();
    assert!(error.contains("whole budget"), "{error}");
}

#[test]
fn a_hostile_step_output_reaches_the_next_command_as_data() {
    let h = Harness::new();
    let canary = h.path("canary");
    let c = canary.display();
    let payload =
        format!("x\"; touch {c}; \"$(touch {c})`touch {c}`'; touch {c}; '\nEOF\ntouch {c}");
    let yaml = r#"
name: relay
params:
  p: { default: "" }
steps:
  - id: src
    run: printf '%s' {{ params.p }}
  - id: quoted
    depends_on: [src]
    run: |-
      printf '%s' "got: {{ steps.src.stdout }}"
  - id: heredoc
    depends_on: [src]
    run: |
      cat <<EOF
      {{ steps.src.stdout }}
      EOF
"#;
    let id = h.start_with(yaml, &[("p", &payload)]);
    let state = h.wait(&id);
    assert!(!canary.exists(), "a payload ran");
    assert_eq!(state, RunState::Failed);
    let stdout = |step: &str| {
        h.engine
            .step_output(&id, &baton::spec::StepId::from(step))
            .unwrap()
            .map(|o| o.stdout)
            .unwrap_or_default()
    };
    assert_eq!(stdout("quoted").trim_end(), format!("got: {payload}"));
    // The payload holds a line `EOF`, which would end the heredoc: the step is refused.
    let error = h.step(&id, "heredoc").error.unwrap_or_default();
    assert!(error.contains("would end the heredoc"), "{error}");
}
