//! Keys become engine commands: approvals (announced, opened on the operator's key, deaf to keys
//! for a moment after opening), pause/resume, cancel with confirmation, retry, quitting with
//! active runs, remapped keys, live Events, log search and scroll-back.

#[path = "support/console.rs"]
mod console;
#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/memory_backend.rs"]
mod memory_backend;

use baton::engine::Command;
use baton::spec::StepId;
use baton::store::{Event, EventKind, LogStream, RunId, RunState};
use std::time::Duration;

use baton::tui::Msg;
use baton::tui::TuiExit;
use baton::tui::config::KeyBinding;
use baton::tui::effect::{Done, Effect, Load};
use baton::tui::keymap::{Action, Key, Keymap};
use baton::tui::model::Screen;
use baton::tui::overlay::Modal;
use baton::tui::overlay::{self, BindKey, Binding, Cmd};
use console::Console;
use crossterm::event::KeyCode;
use crossterm::event::KeyEvent;
use indexmap::IndexMap;

fn release() -> RunId {
    RunId("r-0004".into())
}

fn deploy_gate_requested() -> Event {
    let mut deploy = fixture::gate_approval();
    deploy.step = StepId::from("deploy");
    deploy.prompt = "Roll out to every region?".into();
    Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::ApprovalRequested {
            approval: Box::new(deploy),
        },
    }
}

/// The commands the update asked to send, in order.
fn sent(c: &Console) -> Vec<Command> {
    c.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { command, .. } => Some(command.clone()),
            _ => None,
        })
        .collect()
}

fn decisions(c: &Console) -> Vec<Command> {
    sent(c)
        .into_iter()
        .filter(|s| matches!(s, Command::Decide { .. }))
        .collect()
}

#[test]
fn an_undecided_gate_at_start_is_announced_not_opened() {
    let mut c = Console::new();
    assert!(c.app.model.modals.is_empty());
    let screen = c.screen(100, 24);
    assert!(
        screen.contains("⚑ release r-0004 / gate waits for approval: Deploy to prod? risk=low")
            && screen.contains("a to open"),
        "{screen}"
    );
}

#[test]
fn y_typed_in_a_log_while_a_gate_arrives_copies_and_leaves_the_gate_waiting() {
    let mut c = Console::new();
    c.key(KeyCode::Enter).key(KeyCode::Tab);
    for _ in 0..5 {
        c.chars("y").after(Duration::from_millis(50));
    }
    assert_eq!(c.event(&deploy_gate_requested()), vec![Effect::Bell]);
    for _ in 0..20 {
        c.chars("y").after(Duration::from_millis(50));
    }
    assert_eq!(decisions(&c), vec![], "no key decided a gate");
    assert!(c.app.model.modals.is_empty(), "no prompt took the keyboard");
    assert_eq!(c.app.model.approvals.len(), 2);
    let output = &c.terminal_output();
    assert_eq!(
        output.iter().filter(|o| *o == "\x07").count(),
        1,
        "one bell"
    );
    assert_eq!(
        output.iter().filter(|o| o.starts_with("\x1b]52;")).count(),
        25,
        "every y copied"
    );
    let screen = c.screen(100, 30);
    assert!(
        screen.contains("r-0004 / gate waits for approval") && screen.contains("(+1 more)"),
        "{screen}"
    );
}

#[test]
fn the_prompt_ignores_keys_inside_its_guard_and_takes_them_after() {
    let mut c = Console::new();
    c.chars("a").chars("A").after(Duration::from_millis(300));
    c.chars("A").key(KeyCode::Esc);
    assert_eq!(decisions(&c), vec![]);
    assert!(matches!(
        c.app.model.modals.last(),
        Some(Modal::Approval(a)) if a.ignored == 3
    ));
    let screen = c.screen(80, 24);
    assert!(screen.contains("keys ignored for a moment"), "{screen}");
    assert!(
        screen.contains("3 key(s) ignored: the approval prompt had just opened"),
        "{screen}"
    );
    // 500 ms after `a`: keys count again.
    c.after(Duration::from_millis(200));
    assert!(!c.screen(80, 24).contains("keys ignored for a moment"));
    c.chars("A");
    assert!(matches!(
        decisions(&c).first(),
        Some(Command::Decide { approved: true, .. })
    ));
}

#[test]
fn the_guard_interval_is_the_configured_one() {
    let mut c = Console::new();
    c.app.approval_guard = Duration::from_secs(2);
    c.chars("a").after(Duration::from_millis(1_900)).chars("A");
    assert_eq!(decisions(&c), vec![]);
    c.after(Duration::from_millis(100)).chars("A");
    assert_eq!(decisions(&c).len(), 1);
}

#[test]
fn enter_on_a_waiting_step_opens_its_prompt() {
    let mut c = Console::new();
    c.key(KeyCode::Enter);
    // Rows: test, diff (L0), review, notify (L1), gate (L2), deploy (L3).
    c.key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Down);
    assert!(c.app.model.modals.is_empty());
    let screen = c.screen(120, 30);
    assert!(screen.contains("enter approval"), "{screen}");
    c.key(KeyCode::Enter);
    assert!(matches!(
        c.app.model.modals.last(),
        Some(Modal::Approval(a)) if a.step == StepId::from("gate")
    ));
}

#[test]
fn capital_a_approves_the_gate_with_the_edited_inputs() {
    let mut c = Console::new();
    c.open_approval()
        .key(KeyCode::Tab)
        .chars(" today")
        .key(KeyCode::Esc)
        .chars("A");
    let sent = sent(&c);
    let Some(Command::Decide {
        run,
        step,
        approved,
        via,
        comment,
        inputs,
    }) = sent.first()
    else {
        panic!("expected a decision, got {sent:?}");
    };
    assert_eq!((run, step), (&release(), &StepId::from("gate")));
    assert!(approved);
    assert_eq!(via, &None);
    assert_eq!(comment, &None);
    assert_eq!(inputs["note"], "ship it today");
    assert!(c.app.model.modals.is_empty());
    assert!(c.app.model.approvals.is_empty());
}

#[test]
fn capital_x_rejects_with_the_comment_typed() {
    let mut c = Console::new();
    c.open_approval()
        .chars("X")
        .chars("too risky")
        .key(KeyCode::Enter);
    let sent = sent(&c);
    assert!(matches!(
        sent.first(),
        Some(Command::Decide { approved: false, comment: Some(text), .. }) if text == "too risky"
    ));
}

#[test]
fn esc_puts_the_decision_off_and_a_reopens_it() {
    let mut c = Console::new();
    c.open_approval().key(KeyCode::Esc);
    assert!(c.app.model.modals.is_empty());
    assert_eq!(c.app.model.approvals.len(), 1);
    assert!(sent(&c).is_empty());
    c.chars("a");
    assert!(matches!(
        c.app.model.modals.last(),
        Some(Modal::Approval(_))
    ));
}

#[test]
fn an_approval_event_rings_the_bell_and_queues_behind_the_open_one() {
    let mut c = Console::new();
    c.open_approval();
    assert_eq!(c.event(&deploy_gate_requested()), vec![Effect::Bell]);
    assert_eq!(c.app.model.approvals.len(), 2);
    assert_eq!(c.app.model.modals.len(), 1, "the second waits in the queue");
    // Deciding the first does not open the second: a second `A` must not decide it.
    c.chars("A").chars("A");
    assert_eq!(decisions(&c).len(), 1);
    assert!(c.app.model.modals.is_empty());
    let screen = c.screen(100, 24);
    assert!(
        screen.contains("r-0004 / deploy waits for approval"),
        "{screen}"
    );
    assert!(screen.contains("1 more waiting, `a` to open"), "{screen}");
    c.open_approval();
    assert!(
        matches!(c.app.model.modals.last(), Some(Modal::Approval(a)) if a.step == StepId::from("deploy"))
    );
    assert!(c.screen(80, 24).contains("1 of 1"));
}

#[test]
fn a_decided_event_closes_the_prompt_decided_elsewhere() {
    let mut c = Console::new();
    c.open_approval();
    let decision = baton::store::Decision {
        approved: true,
        by: "someone".into(),
        uid: Some(1000),
        at: fixture::NOW,
        comment: None,
        inputs: IndexMap::new(),
    };
    let event = Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::ApprovalDecided {
            step: StepId::from("gate"),
            decision,
        },
    };
    c.event(&event);
    assert!(c.app.model.modals.is_empty());
    assert!(c.app.model.approvals.is_empty());
}

#[test]
fn space_pauses_a_running_run_and_resumes_a_paused_one() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).chars(" ").key(KeyCode::Down).chars(" ");
    assert_eq!(
        sent(&c),
        vec![
            Command::Pause(release()),
            Command::Resume(RunId("r-0003".into()))
        ]
    );
}

#[test]
fn cancel_is_sent_only_after_confirmation() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).chars("c");
    assert!(sent(&c).is_empty());
    c.chars("n");
    assert!(sent(&c).is_empty());
    c.chars("c").chars("y");
    assert_eq!(sent(&c), vec![Command::Cancel(release())]);
}

#[test]
fn retry_is_sent_for_failed_runs_only() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).chars("R");
    assert!(sent(&c).is_empty());
    c.key(KeyCode::Down).key(KeyCode::Down).chars("R");
    assert_eq!(sent(&c), vec![Command::Retry(RunId("r-0002".into()))]);
}

#[test]
fn quitting_with_active_runs_asks_and_reports_the_choice() {
    for (key, exit) in [
        ('w', TuiExit::WaitForRuns),
        ('l', TuiExit::LeaveInterrupted),
        ('c', TuiExit::CancelRuns),
    ] {
        let mut c = Console::new();
        c.key(KeyCode::Esc).chars("q");
        assert_eq!(c.app.exit, None);
        c.chars(&key.to_string());
        assert_eq!(c.app.exit, Some(exit));
    }
    let mut c = Console::new();
    c.key(KeyCode::Esc).chars("q").key(KeyCode::Esc);
    assert_eq!(c.app.exit, None);
    assert!(c.app.model.modals.is_empty());
}

#[test]
fn remapped_keys_replace_the_defaults_and_show_in_hints() {
    let mut overrides = IndexMap::new();
    overrides.insert("cancel".to_string(), KeyBinding::One("C".into()));
    overrides.insert("approve".to_string(), KeyBinding::One("ctrl-y".into()));
    let keymap = Keymap::with_overrides(&overrides).expect("a keymap");
    let mut c = Console::with_keymap(keymap);
    c.key(KeyCode::Esc).chars("c");
    assert!(c.app.model.modals.is_empty());
    c.chars("C");
    assert!(matches!(c.app.model.modals.last(), Some(Modal::Confirm(_))));
    c.key(KeyCode::Esc);
    assert!(c.screen(100, 24).contains("C cancel"));
    c.open_approval();
    assert!(c.screen(100, 24).contains("ctrl-y approve"));
    c.chars("A");
    assert!(sent(&c).is_empty());
    c.ctrl('y');
    assert!(matches!(
        sent(&c).first(),
        Some(Command::Decide { approved: true, .. })
    ));
}

#[test]
fn a_remap_that_lets_a_copy_key_approve_is_refused_at_start() {
    let mut overrides = IndexMap::new();
    overrides.insert("approve".to_string(), KeyBinding::One("y".into()));
    let err = Keymap::with_overrides(&overrides)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e
            .contains("[tui.keys]: `y` is bound to approve and also to copy")
            && e.contains("no other view uses")),
        "{err:?}"
    );
}

#[test]
fn live_log_events_stream_into_the_open_run_and_step_events_replace_records() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).key(KeyCode::Enter);
    let line = fixture::line(
        11,
        "review",
        LogStream::Stdout,
        "streamed \x1b[33mlive\x1b[0m line",
    );
    c.event(&Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::Log { line },
    });
    let mut review = fixture::step("review", baton::store::StepStatus::Succeeded, Some(15_000));
    review.attempt = 2;
    review.max_attempts = 3;
    c.event(&Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::Step {
            record: Box::new(review),
        },
    });
    let screen = c.screen(100, 30);
    assert!(screen.contains("[review] streamed live line"), "{screen}");
    assert!(screen.contains("✓ review"), "{screen}");
    assert_eq!(c.app.model.runs[0].steps_done, 4);
}

#[test]
fn run_state_events_update_the_list() {
    let mut c = Console::new();
    c.perform = false;
    c.key(KeyCode::Esc);
    let effects = c.event(&Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::RunState {
            state: RunState::Paused,
            reason: Some("paused by tester".into()),
        },
    });
    assert_eq!(c.app.model.runs[0].state, RunState::Paused);
    assert_eq!(effects, vec![Effect::Load(Load::Run(release()))]);
    // A flood of Events while the read is in flight asks once more, after it.
    let again = c.event(&Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::RunState {
            state: RunState::Running,
            reason: None,
        },
    });
    assert_eq!(again, vec![]);
    let mut record = c.app.model.runs[0].clone();
    record.steps_done = 5;
    let after = c.update(Msg::Done(Box::new(Done::Run(release(), Ok(record)))));
    assert_eq!(c.app.model.runs[0].steps_done, 5);
    assert_eq!(after, vec![Effect::Load(Load::Run(release()))]);
}

#[test]
fn log_search_moves_between_hits_with_n_and_shift_n() {
    let mut c = Console::new();
    c.key(KeyCode::Esc)
        .key(KeyCode::Enter)
        .key(KeyCode::Tab)
        .chars("/test")
        .key(KeyCode::Enter);
    let position = |c: &Console| {
        c.app
            .model
            .detail
            .as_ref()
            .and_then(|d| d.log_view.search.as_ref())
            .map(|s| s.position())
    };
    assert_eq!(position(&c).as_deref(), Some("4 of 4"));
    c.chars("n");
    assert_eq!(position(&c).as_deref(), Some("1 of 4"));
    c.chars("N").chars("N");
    assert_eq!(position(&c).as_deref(), Some("3 of 4"));
    assert!(
        !c.app
            .model
            .detail
            .as_ref()
            .is_some_and(|d| d.log_view.follow)
    );
}

#[test]
fn scrolling_above_the_ring_fetches_older_lines_from_the_store() {
    let mut c = Console::new();
    {
        let mut store = c.backend.store.lock().expect("the store");
        let lines: Vec<_> = (1..=12_500)
            .map(|seq| {
                fixture::line(
                    seq,
                    if seq % 2 == 0 { "test" } else { "diff" },
                    LogStream::Stdout,
                    &format!("line {seq}"),
                )
            })
            .collect();
        store.logs.insert(release(), lines);
    }
    c.key(KeyCode::Esc).key(KeyCode::Enter);
    let first = |c: &Console| {
        c.app
            .model
            .detail
            .as_ref()
            .and_then(|d| d.logs_all.first_seq())
    };
    assert_eq!(first(&c), Some(2_501));
    // Scrolling past the first line held reads the page before it.
    c.key(KeyCode::Tab);
    for _ in 0..2_000 {
        c.key(KeyCode::PageUp);
    }
    assert!(first(&c).is_some_and(|f| f < 2_501), "{:?}", first(&c));
    // `g` goes to the first line of the whole log, `G` to the last.
    c.key(KeyCode::Home);
    assert_eq!(first(&c), Some(1));
    assert!(c.screen(100, 30).contains("line 1\n") || c.screen(100, 30).contains("line 1 "));
    c.key(KeyCode::End);
    assert!(c.screen(100, 30).contains("line 12500"));
}

#[test]
fn start_form_starts_the_workflow_with_the_typed_params() {
    let mut c = Console::new();
    c.key(KeyCode::Esc)
        .chars("n")
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Enter);
    c.key(KeyCode::Tab)
        .chars("first line")
        .alt_enter()
        .chars("second")
        .ctrl('s');
    let started = c.backend.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].params["env"], serde_json::json!("staging"));
    assert_eq!(
        started[0].params["notes"],
        serde_json::json!("first line\nsecond")
    );
    assert!(started[0].source.contains("name: release"));
    assert!(c.app.model.modals.is_empty());
}

#[test]
fn start_form_shows_the_params_problems_and_starts_nothing() {
    let mut c = Console::new();
    c.key(KeyCode::Esc)
        .chars("n")
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Enter);
    // Replace `staging` with a value outside the enum.
    for _ in 0.."staging".len() {
        c.key(KeyCode::Backspace);
    }
    c.chars("qa").ctrl('s');
    assert!(c.backend.started().is_empty());
    let Some(Modal::StartForm(form)) = c.app.model.modals.last() else {
        panic!("the form stays open");
    };
    let error = form.error.clone().unwrap_or_default();
    assert!(
        error.contains("param `env`") && error.contains("staging"),
        "{error}"
    );
    let screen = c.screen(100, 30);
    assert!(
        screen.contains("param `env` is") && screen.contains("qa"),
        "{screen}"
    );
}

#[test]
fn start_form_of_a_file_that_stopped_validating_shows_its_first_problem() {
    let mut c = Console::new();
    c.key(KeyCode::Esc)
        .chars("n")
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Enter);
    let Some(Modal::StartForm(form)) = c.app.model.modals.last() else {
        panic!("the form is open");
    };
    let path = form.workflow.path.clone();
    std::fs::write(
        &path,
        "name: release\nsteps:\n  - id: a\n    run: echo\n    depends_on: [gone]\n",
    )
    .expect("the file is rewritten");
    c.ctrl('s');
    assert!(c.backend.started().is_empty());
    let Some(Modal::StartForm(form)) = c.app.model.modals.last() else {
        panic!("the form stays open");
    };
    let error = form.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("release.yaml:5:") && error.contains("gone"),
        "{error}"
    );
}

#[test]
fn a_resumed_steps_clock_adds_its_new_stint_to_the_time_it_ran_before() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).key(KeyCode::Enter);
    let mut review = fixture::step("review", baton::store::StepStatus::Paused, Some(40_000));
    review.attempt = 1;
    review.level = 1;
    review.index = 2;
    c.event(&Event {
        run: release(),
        ts: fixture::ms_ago(30_000),
        kind: EventKind::Step {
            record: Box::new(review.clone()),
        },
    });
    review.status = baton::store::StepStatus::Running;
    c.event(&Event {
        run: release(),
        ts: fixture::ms_ago(5_000),
        kind: EventKind::Step {
            record: Box::new(review),
        },
    });
    // 40 s before the pause, 5 s since the resume.
    let screen = c.screen(100, 30);
    let row = screen
        .lines()
        .find(|l| l.contains("● review"))
        .unwrap_or_default();
    assert!(row.contains("45.0s"), "{screen}");
}

#[test]
fn the_step_tree_follows_the_levels_the_engine_recorded_and_names_the_dependencies() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).key(KeyCode::Enter);
    // Rows: test, diff (L0), review, notify (L1), gate (L2), deploy (L3).
    c.key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Down);
    let screen = c.screen(100, 30);
    assert!(screen.contains("│L2 ⚑ gate"), "{screen}");
    assert!(
        screen.contains("gate · approval · after test, review"),
        "{screen}"
    );
}

#[test]
fn steps_caught_mid_way_by_an_interruption_show_as_interrupted_not_running() {
    let mut c = Console::new();
    // The engine writes the store before it sends the Event.
    if let Ok(mut store) = c.backend.store.lock() {
        store.runs[0].state = RunState::Interrupted;
    }
    c.event(&Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::RunState {
            state: RunState::Interrupted,
            reason: Some("its owner stopped".into()),
        },
    });
    c.key(KeyCode::Esc).key(KeyCode::Enter);
    let screen = c.screen(100, 30);
    let row = |step: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {step} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("review").contains("↯ review") && row("review").contains("interrupted"),
        "{screen}"
    );
    assert!(row("gate").contains("↯ gate"), "{screen}");
    assert!(row("test").contains("✓ test"), "{screen}");
    assert!(row("deploy").contains("○ deploy"), "{screen}");
}

#[test]
fn a_run_that_stops_with_a_gate_pending_takes_its_prompt_and_count_away() {
    let mut c = Console::new();
    c.open_approval();
    assert!(matches!(
        c.app.model.modals.last(),
        Some(Modal::Approval(_))
    ));
    if let Ok(mut store) = c.backend.store.lock() {
        store.runs[0].state = RunState::Cancelled;
    }
    c.event(&Event {
        run: release(),
        ts: fixture::NOW,
        kind: EventKind::RunState {
            state: RunState::Cancelled,
            reason: Some("cancelled by an operator".into()),
        },
    });
    assert!(c.app.model.modals.is_empty());
    assert!(c.app.model.approvals.is_empty());
    let screen = c.screen(100, 30);
    assert!(!screen.contains("approval(s) pending"), "{screen}");
    assert!(!screen.contains("waits for approval"), "{screen}");
}

#[test]
fn runs_are_listed_newest_first_even_when_made_in_the_same_second() {
    let mut c = Console::new();
    c.key(KeyCode::Esc);
    // Ids of one second differ only by a random tag: `-ytrc` sorts above `-yr9a`.
    let mut first = fixture::run("r20261122-031643-ytrc", "gated", RunState::Running, 0, 3, 0);
    first.created_at = fixture::ms_ago(0);
    let mut second = fixture::run("r20261122-031643-yr9a", "long", RunState::Pending, 0, 2, 0);
    second.created_at = baton::store::Timestamp(fixture::NOW.0 + 400);
    for record in [first, second] {
        c.event(&Event {
            run: record.id.clone(),
            ts: record.created_at,
            kind: EventKind::RunCreated {
                record: Box::new(record),
            },
        });
    }
    let order: Vec<&str> = c
        .app
        .model
        .runs
        .iter()
        .map(|r| r.workflow.as_str())
        .collect();
    assert_eq!(order[..2], ["long", "gated"]);
    c.chars("c");
    assert!(matches!(
        c.app.model.modals.last(),
        Some(Modal::Confirm(baton::tui::overlay::Confirm::CancelRun { workflow, .. })) if workflow == "long"
    ));
}

#[test]
fn palette_switches_views_and_themes_and_reports_unknown_commands() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).chars(":workflows").key(KeyCode::Enter);
    assert_eq!(c.app.model.screen, Screen::Workflows);
    c.chars(":theme light").key(KeyCode::Enter);
    assert_eq!(c.app.theme.name, "light");
    c.chars(":frobnicate").key(KeyCode::Enter);
    assert!(
        c.app
            .model
            .status
            .as_ref()
            .is_some_and(|s| s.error && s.text.contains("unknown command `:frobnicate`"))
    );
}

#[test]
fn y_copies_with_osc52() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).chars("y");
    assert_eq!(
        c.terminal_output(),
        vec![baton::tui::clipboard::osc52("r-0004")]
    );
}

#[test]
fn the_readme_key_list_is_the_keymap() {
    let table = Keymap::default().markdown_table();
    for doc in ["README.md", "docs/console.md"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
        let text = std::fs::read_to_string(&path).expect("the doc exists");
        assert!(
            text.contains(&table),
            "{} lists other keys than the keymap; paste this table there:\n{table}",
            path.display()
        );
    }
}

/// Every key of a binding (none for typing).
fn binding_keys(b: &Binding, keymap: &Keymap) -> Vec<Key> {
    match b.key {
        BindKey::Action(action) => keymap.keys(action).to_vec(),
        BindKey::Fixed(text) => vec![Key::parse(text).expect("a fixed key parses")],
        BindKey::Text => vec![],
    }
}

/// In each overlay state: every binding's every key reaches it (no binding above takes the
/// key), it has a label, the hint bar shows the first key of each command, and help lists it.
fn check_overlay(c: &mut Console, state: &str) {
    let keymap = c.app.keymap.clone();
    c.app.model.clock = c.now;
    let Some(top) = c.app.model.modals.last() else {
        panic!("{state}: no overlay open");
    };
    let bindings = top.bindings();
    assert!(!bindings.is_empty(), "{state}: no bindings");
    let hints: String = top
        .hints(&c.app.model, &keymap)
        .iter()
        .map(|(k, l)| format!(" {k} {l} "))
        .collect();
    let catalogue = overlay::catalogue();
    for b in &bindings {
        assert!(!b.label.trim().is_empty(), "{state}: {b:?} has no label");
        assert!(
            catalogue.iter().any(|(_, list)| list.contains(b)),
            "{state}: help does not list {b:?}"
        );
        for key in binding_keys(b, &keymap) {
            let first = bindings.iter().find(|o| o.matches(key, &keymap));
            assert_eq!(
                first.map(|f| f.cmd),
                Some(b.cmd),
                "{state}: `{key}` of `{}` is taken by {first:?}",
                b.label
            );
        }
        let first_of_cmd = bindings.iter().find(|o| o.cmd == b.cmd) == Some(b);
        if let (true, Some(key)) = (first_of_cmd, b.shown_key(&keymap)) {
            assert!(
                hints.contains(&format!(" {key} {} ", b.label)),
                "{state}: the hint bar lacks `{key} {}`: {hints}",
                b.label
            );
        }
    }
    assert!(
        bindings
            .iter()
            .any(|b| b.cmd != Cmd::Type && b.label.contains("close")
                || matches!(b.cmd, Cmd::Later | Cmd::Choices | Cmd::No | Cmd::Close)),
        "{state}: no way out"
    );
}

/// Presses the first key of `action`.
fn press(c: &mut Console, keymap: &Keymap, action: Action) {
    let key = keymap.keys(action)[0];
    c.update(Msg::Key(KeyEvent::new(key.code, key.mods), c.now));
}

fn every_overlay_state(keymap: Keymap) {
    let mut c = Console::with_keymap(keymap.clone());
    c.open_approval();
    check_overlay(&mut c, "approval, choices");
    c.key(KeyCode::Tab);
    check_overlay(&mut c, "approval, inputs");
    c.key(KeyCode::Esc).chars("X");
    check_overlay(&mut c, "approval, comment");
    let mut c = Console::with_keymap(keymap.clone());
    c.key(KeyCode::Esc);
    press(&mut c, &keymap, Action::Cancel);
    check_overlay(&mut c, "confirm cancel");
    let mut c = Console::with_keymap(keymap.clone());
    c.key(KeyCode::Esc).chars("q");
    check_overlay(&mut c, "confirm quit");
    let mut c = Console::with_keymap(keymap.clone());
    c.chars("?");
    check_overlay(&mut c, "help");
    let mut c = Console::with_keymap(keymap.clone());
    c.chars(":");
    check_overlay(&mut c, "palette");
    let mut c = Console::with_keymap(keymap.clone());
    c.key(KeyCode::Esc).chars("n");
    press(&mut c, &keymap, Action::Down);
    press(&mut c, &keymap, Action::Down);
    c.key(KeyCode::Enter);
    check_overlay(&mut c, "start form");
    let mut c = Console::with_keymap(keymap.clone());
    c.key(KeyCode::Esc);
    press(&mut c, &keymap, Action::Plan);
    check_overlay(&mut c, "plan request");
    let mut c = Console::with_keymap(keymap.clone());
    c.key(KeyCode::Esc).chars("n");
    press(&mut c, &keymap, Action::Down);
    press(&mut c, &keymap, Action::DryRun);
    check_overlay(&mut c, "dry run");
}

#[test]
fn every_overlay_binding_is_reachable_labelled_hinted_and_in_help() {
    every_overlay_state(Keymap::default());
    let mut overrides = IndexMap::new();
    overrides.insert("approve".to_string(), KeyBinding::One("ctrl-y".into()));
    overrides.insert("later".to_string(), KeyBinding::One("L".into()));
    overrides.insert("cancel".to_string(), KeyBinding::One("C".into()));
    overrides.insert("down".to_string(), KeyBinding::One("ctrl-n".into()));
    every_overlay_state(Keymap::with_overrides(&overrides).expect("a keymap"));
}

#[test]
fn enter_in_the_start_form_moves_to_the_next_field_then_starts_and_never_adds_a_line() {
    let mut c = Console::new();
    c.key(KeyCode::Esc)
        .chars("n")
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Enter);
    c.key(KeyCode::Enter).chars("notes");
    let form = |c: &Console| match c.app.model.modals.last() {
        Some(Modal::StartForm(f)) => (f.focus, f.values()),
        _ => (usize::MAX, vec![]),
    };
    assert_eq!(form(&c).0, 1, "enter moved to the second field");
    c.ctrl('u').chars("tidy");
    assert_eq!(
        form(&c).1,
        vec![
            ("env".to_string(), "staging".to_string()),
            ("notes".to_string(), "tidy".to_string())
        ],
        "ctrl-u cleared the field"
    );
    c.key(KeyCode::Enter);
    let starts: Vec<&Effect> = c
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Start { .. }))
        .collect();
    assert!(
        matches!(starts[..], [Effect::Start { params, .. }] if params[1].1 == "tidy"),
        "{starts:?}"
    );
}

#[test]
fn the_palette_completes_a_prefix_with_tab_and_lists_aliases() {
    let mut c = Console::new();
    c.chars(":wo").key(KeyCode::Tab);
    let line = |c: &Console| match c.app.model.modals.last() {
        Some(Modal::Palette(p)) => p.input.text.clone(),
        _ => String::new(),
    };
    assert_eq!(line(&c), "workflows ");
    assert!(c.screen(100, 24).contains("(wf, w)"));
    c.ctrl('u').chars("t").key(KeyCode::Tab);
    assert_eq!(line(&c), "theme ");
    c.key(KeyCode::Enter);
    assert!(c.app.model.modals.is_empty());
}

fn store_lines(c: &Console, count: u64, text: impl Fn(u64) -> String) {
    let mut store = c.backend.store.lock().expect("the store");
    let lines = (1..=count)
        .map(|seq| {
            let step = if seq % 2 == 0 { "test" } else { "diff" };
            fixture::line(seq, step, LogStream::Stdout, &text(seq))
        })
        .collect();
    store.logs.insert(release(), lines);
}

fn search_position(c: &Console) -> Option<String> {
    c.app
        .model
        .detail
        .as_ref()
        .and_then(|d| d.log_view.search.as_ref())
        .map(|s| s.position())
}

#[test]
fn search_covers_the_whole_stored_log_and_n_goes_to_a_hit_older_than_the_ring() {
    let mut c = Console::new();
    store_lines(&c, 100_000, |seq| {
        if seq % 10_000 == 7 {
            format!("needle {seq}")
        } else {
            format!("hay {seq}")
        }
    });
    c.key(KeyCode::Esc).key(KeyCode::Enter).key(KeyCode::Tab);
    let searches_before = c.effects.len();
    c.chars("/needle").key(KeyCode::Enter);
    assert!(
        c.effects[searches_before..]
            .iter()
            .any(|e| matches!(e, Effect::Search(job) if job.query == "needle")),
        "a whole-log search was asked for"
    );
    assert_eq!(search_position(&c).as_deref(), Some("10 of 10"));
    // The first hit is far above the 10,000 lines held: its lines are read.
    c.chars("n");
    assert_eq!(search_position(&c).as_deref(), Some("1 of 10"));
    let screen = c.screen(100, 30);
    assert!(screen.contains("needle 7"), "{screen}");
}

#[test]
fn with_follow_off_the_lines_being_read_stay_however_fast_the_log_grows() {
    let mut c = Console::new();
    store_lines(&c, 10_000, |seq| format!("old {seq}"));
    c.key(KeyCode::Esc).key(KeyCode::Enter).key(KeyCode::Tab);
    c.key(KeyCode::PageUp).key(KeyCode::PageUp);
    let before = c.screen(100, 30);
    assert!(before.contains("old 99"), "{before}");
    for seq in 10_001..=25_000 {
        c.event(&Event {
            run: release(),
            ts: fixture::NOW,
            kind: EventKind::Log {
                line: fixture::line(seq, "test", LogStream::Stdout, &format!("new {seq}")),
            },
        });
    }
    assert_eq!(c.screen(100, 30), before, "the view did not move");
    {
        let mut store = c.backend.store.lock().expect("the store");
        let lines = store.logs.entry(release()).or_default();
        lines.extend(
            (10_001..=25_000)
                .map(|seq| fixture::line(seq, "test", LogStream::Stdout, &format!("new {seq}"))),
        );
    }
    c.chars("G");
    assert!(c.screen(100, 30).contains("new 25000"));
}

/// Performs the read the console asked for last, folds its result in, and returns the seqs of
/// the open run's all-steps view.
fn finish_the_read_and_list_all_steps(c: &mut Console) -> Vec<u64> {
    let Some(Effect::Load(load)) = c.effects.last().cloned() else {
        panic!("the read");
    };
    let mut results = Vec::new();
    baton::tui::worker::perform(c.backend.as_ref(), Effect::Load(load), &mut |d| {
        results.push(d)
    });
    for done in results {
        c.update(Msg::Done(Box::new(done)));
    }
    c.app
        .model
        .detail
        .as_ref()
        .map(|d| d.logs_all.iter().map(|l| l.seq).collect())
        .unwrap_or_default()
}

#[test]
fn lines_that_come_while_a_run_opens_or_out_of_order_all_reach_the_all_steps_view() {
    let mut c = Console::new();
    // The store holds 1, 2 and (another step's chunk, flushed first) 6.
    {
        let mut store = c.backend.store.lock().expect("the store");
        let lines = [1, 2, 6]
            .into_iter()
            .map(|seq| fixture::line(seq, "test", LogStream::Stdout, &format!("line {seq}")))
            .collect();
        store.logs.insert(release(), lines);
    }
    c.perform = false;
    c.key(KeyCode::Esc);
    let opened = c.effects.len();
    c.key(KeyCode::Enter);
    assert_eq!(
        c.effects[opened..],
        [Effect::Load(Load::Detail(release()))],
        "opening reads the run"
    );
    // Lines 3..=5 and 7 are announced while the read is in flight.
    for seq in [3, 4, 5, 7] {
        c.event(&Event {
            run: release(),
            ts: fixture::NOW,
            kind: EventKind::Log {
                line: fixture::line(seq, "diff", LogStream::Stdout, &format!("line {seq}")),
            },
        });
    }
    let seqs = finish_the_read_and_list_all_steps(&mut c);
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn lines_printed_before_a_run_is_opened_and_not_yet_stored_reach_its_all_steps_view() {
    let mut c = Console::new();
    // The store holds 3 and 6; 1 and 2 were announced before the run was opened (a run started
    // here prints before its id comes back) and are still in the engine's write-behind buffer.
    {
        let mut store = c.backend.store.lock().expect("the store");
        let lines = [3, 6]
            .into_iter()
            .map(|seq| fixture::line(seq, "test", LogStream::Stdout, &format!("line {seq}")))
            .collect();
        store.logs.insert(release(), lines);
    }
    c.perform = false;
    c.key(KeyCode::Esc);
    for seq in [1, 2] {
        c.event(&Event {
            run: release(),
            ts: fixture::NOW,
            kind: EventKind::Log {
                line: fixture::line(seq, "diff", LogStream::Stdout, &format!("line {seq}")),
            },
        });
    }
    c.key(KeyCode::Enter);
    let seqs = finish_the_read_and_list_all_steps(&mut c);
    assert_eq!(seqs, vec![1, 2, 3, 6]);
}

#[test]
fn the_hint_bar_at_80_columns_keeps_help_and_quit() {
    let mut c = Console::new();
    c.key(KeyCode::Esc).key(KeyCode::Enter).key(KeyCode::Tab);
    let screen = c.screen(80, 24);
    let bar = screen.lines().last().unwrap_or_default();
    assert!(bar.contains("? help") && bar.contains("q quit"), "{bar}");
    c.key(KeyCode::Tab);
    let screen = c.screen(80, 24);
    let bar = screen.lines().last().unwrap_or_default();
    assert!(bar.contains("? help") && bar.contains("q quit"), "{bar}");
}

#[test]
fn an_attached_console_says_so_in_its_header_and_notices_its_owner_exit() {
    let theme = baton::tui::theme::Theme::built_in("dark").expect("the dark theme");
    let owner = Some("baton process 4242".to_string());
    let (mut app, _) =
        baton::tui::App::new(Keymap::default(), theme, false, vec![], owner, fixture::NOW);
    let draw = |app: &mut baton::tui::App| {
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 24))
            .expect("a test terminal");
        terminal.draw(|f| app.draw(f)).expect("a frame");
        terminal.backend().to_string()
    };
    let screen = draw(&mut app);
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("attached to baton process 4242"),
        "{header}"
    );
    app.update(Msg::EngineClosed);
    let screen = draw(&mut app);
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.contains("baton process 4242, which has exited"),
        "{header}"
    );
    assert!(screen.contains("quit and open `baton` again"), "{screen}");
}
