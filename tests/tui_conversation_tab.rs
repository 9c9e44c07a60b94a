//! The Conversation tab of an agent step, drawn from the run's history as the store gives it:
//! each turn with its model, tokens and cost; each call with its arguments; who approved,
//! rejected (and why) or edited a call, and when; results folded to one line until unfolded
//! with `enter`; the whole conversation's totals in the title; and what the model is writing
//! now, live, under the last turn (and under the step's log in the Logs tab). Text from the
//! model and the tools reaches the screen without its escape sequences.

#[path = "support/console.rs"]
mod console;
#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/memory_backend.rs"]
mod memory_backend;

use baton::spec::StepId;
use baton::store::{
    AgentCall, AgentEntry, ApprovalRecord, Decision, Event, EventKind, LogLine, LogStream, RunId,
    StepStatus,
};
use baton::tui::effect::Effect;
use console::Console;
use crossterm::event::KeyCode;
use fixture::ms_ago;
use indexmap::IndexMap;
use serde_json::json;

fn at(ago: u64, kind: EventKind) -> Event {
    Event {
        run: RunId("r-0004".into()),
        ts: ms_ago(ago),
        kind,
    }
}

fn agent(ago: u64, entry: AgentEntry) -> Event {
    at(
        ago,
        EventKind::Agent {
            step: StepId::from("review"),
            entry,
        },
    )
}

fn turn(text: &str, calls: &[(&str, serde_json::Value)], cost: Option<f64>) -> AgentEntry {
    AgentEntry::Turn {
        provider: "anthropic".into(),
        model: "claude".into(),
        text: text.into(),
        calls: calls
            .iter()
            .enumerate()
            .map(|(i, (name, arguments))| AgentCall {
                id: format!("call_{}_{i}", text.len()),
                name: name.to_string(),
                arguments: arguments.clone(),
            })
            .collect(),
        tokens_in: 1200,
        tokens_out: 80,
        cost_usd: cost,
    }
}

fn asked(ago: u64, action: &str) -> Event {
    let record = ApprovalRecord {
        run: RunId("r-0004".into()),
        step: StepId::from("review"),
        prompt: "The agent wants to call `shell`".into(),
        action: Some(action.into()),
        inputs: IndexMap::new(),
        requested_at: ms_ago(ago),
        deadline: None,
        decision: None,
        approvers: Vec::new(),
        tool: Some("shell".into()),
    };
    at(
        ago,
        EventKind::ApprovalRequested {
            approval: Box::new(record),
        },
    )
}

fn decided(ago: u64, by: &str, approved: bool, comment: Option<&str>) -> Event {
    let decision = Decision {
        approved,
        by: by.into(),
        uid: None,
        at: ms_ago(ago),
        comment: comment.map(String::from),
        inputs: IndexMap::new(),
    };
    at(
        ago,
        EventKind::ApprovalDecided {
            step: StepId::from("review"),
            decision,
        },
    )
}

/// The review agent's history: a call approved and edited by ann, one rejected by bob, and
/// a final answer whose price is unknown.
fn history() -> Vec<Event> {
    let first = "Let me look.\x1b]52;c;ZXZpbA==\x07";
    let id1 = format!("call_{}_0", first.len());
    let id2 = format!("call_{}_0", "Now clean.".len());
    vec![
        agent(
            11_000,
            turn(
                first,
                &[("shell", json!({"command": "du -sh /var"}))],
                Some(0.0042),
            ),
        ),
        asked(10_900, "shell: $ du -sh /var"),
        decided(10_000, "ann", true, None),
        agent(
            10_000,
            AgentEntry::CallEdited {
                id: id1.clone(),
                arguments: json!({"command": "du -sh /var/log"}),
                by: "ann".into(),
            },
        ),
        agent(10_000, AgentEntry::CallStarted { id: id1.clone() }),
        agent(
            9_000,
            AgentEntry::CallResult {
                id: id1,
                content: "12G\t/var/log\nsecond line of the result\nthird".into(),
                is_error: false,
            },
        ),
        agent(
            8_000,
            turn(
                "Now clean.",
                &[("shell", json!({"command": "rm -rf /var/log/old"}))],
                Some(0.0050),
            ),
        ),
        asked(7_900, "shell: $ rm -rf /var/log/old"),
        decided(7_000, "bob", false, Some("keep them")),
        agent(
            7_000,
            AgentEntry::CallResult {
                id: id2,
                content: "an operator refused this call: keep them".into(),
                is_error: true,
            },
        ),
        agent(6_000, turn("Old logs fill /var.", &[], None)),
    ]
}

/// The release run open with its review agent's history in the store.
fn release() -> Console {
    let mut c = Console::new();
    c.backend
        .store
        .lock()
        .unwrap()
        .events
        .get_mut(&RunId("r-0004".into()))
        .unwrap()
        .extend(history());
    c.key(KeyCode::Enter);
    c
}

/// The release run open, its review agent selected, its Conversation tab shown and focused.
fn conversation() -> Console {
    let mut c = release();
    // Tree order: test, diff (level 0), review …
    c.key(KeyCode::Down).key(KeyCode::Down);
    c.chars("[").key(KeyCode::Tab);
    c
}

#[test]
fn an_agent_step_has_a_conversation_tab_and_other_steps_do_not() {
    let mut c = release();
    assert!(!c.screen(140, 40).contains("Conversation"));
    c.key(KeyCode::Down).key(KeyCode::Down);
    let screen = c.screen(140, 40);
    assert!(
        screen.contains("Events │ Conversation"),
        "the review agent selected: {screen}"
    );
    c.chars("[");
    assert!(c.screen(140, 40).contains("Conversation — review"));
}

#[test]
fn the_tab_shows_turns_calls_approvals_edits_results_folded_and_cost() {
    let mut c = conversation();
    let screen = c.screen(140, 40);
    assert!(
        screen.contains("Conversation — review · 3 turns · 2 calls · 3600 → 240 tokens · unknown"),
        "{screen}"
    );
    assert!(
        screen.contains("── turn 1 · anthropic/claude · 1200 → 80 tokens · $0.0042"),
        "{screen}"
    );
    assert!(screen.contains("Let me look."), "{screen}");
    assert!(
        !screen.contains("52;c") && !screen.contains("ZXZpbA"),
        "the model's escape sequence is not drawn: {screen}"
    );
    assert!(
        screen.contains(r#"⚙ shell {"command":"du -sh /var"}"#),
        "{screen}"
    );
    assert!(screen.contains("⚑ approved by ann at "), "{screen}");
    assert!(
        screen.contains(r#"✎ edited by ann: {"command":"du -sh /var/log"}"#),
        "{screen}"
    );
    assert!(
        screen.contains("▸ result (3 lines, 44 bytes): 12G    /var/log"),
        "{screen}"
    );
    assert!(!screen.contains("second line"), "folded: {screen}");
    assert!(
        screen.contains("⚑ rejected by bob at ") && screen.contains(": keep them"),
        "{screen}"
    );
    assert!(screen.contains("▸ refused or failed"), "{screen}");
    assert!(
        screen.contains("── turn 3 · anthropic/claude · 1200 → 80 tokens · unknown"),
        "{screen}"
    );
    assert!(screen.contains("Old logs fill /var."), "{screen}");
}

#[test]
fn enter_unfolds_a_result_and_y_copies_it() {
    let mut c = conversation();
    // Up from the newest: turn 3, the refusal, its call, turn 2, turn 1's result.
    for _ in 0..5 {
        c.key(KeyCode::Up);
    }
    c.key(KeyCode::Enter);
    let screen = c.screen(140, 40);
    assert!(
        screen.contains("▾ result (3 lines, 44 bytes)")
            && screen.contains("second line of the result"),
        "{screen}"
    );
    c.chars("y");
    assert!(
        c.effects.iter().any(|e| matches!(e, Effect::Copy(t)
            if t.starts_with("12G") && t.ends_with("/var/log\nsecond line of the result\nthird"))),
        "{:?}",
        c.effects
    );
    c.key(KeyCode::Enter);
    assert!(!c.screen(140, 40).contains("second line"));
}

#[test]
fn what_the_model_is_writing_shows_live_until_its_turn_is_recorded() {
    let mut c = conversation();
    let review = StepId::from("review");
    let line = LogLine {
        seq: 900,
        ts: ms_ago(500),
        step: review.clone(),
        stream: LogStream::Stdout,
        text: "Rotating the logs:".into(),
    };
    c.event(&at(500, EventKind::Log { line }));
    c.event(&at(
        400,
        EventKind::Partial {
            step: review.clone(),
            text: "first \x1b[2Jgzip the old \x1b]0;pwned\x07ones".into(),
        },
    ));
    let screen = c.screen(140, 40);
    assert!(screen.contains("── turn 4 · writing…"), "{screen}");
    assert!(screen.contains("Rotating the logs:"), "{screen}");
    assert!(screen.contains("first gzip the old ones▍"), "{screen}");
    assert!(!screen.contains("pwned"), "{screen}");

    // The Logs tab (all steps) draws it under the last line, with the step's name.
    c.chars("]");
    assert!(
        c.screen(140, 40)
            .contains("[review] first gzip the old ones▍"),
        "{}",
        c.screen(140, 40)
    );
    c.chars("[");

    c.event(&agent(
        300,
        turn("Rotating the logs:\nfirst gzip the old ones", &[], None),
    ));
    c.event(&at(
        300,
        EventKind::Partial {
            step: review.clone(),
            text: String::new(),
        },
    ));
    let screen = c.screen(140, 40);
    assert!(!screen.contains("writing…"), "{screen}");
    assert!(screen.contains("── turn 4 · anthropic/claude"), "{screen}");

    // A step that ends takes what it was writing with it.
    c.event(&at(
        200,
        EventKind::Partial {
            step: review.clone(),
            text: "cut off mid".into(),
        },
    ));
    assert!(c.screen(140, 40).contains("cut off mid▍"));
    let mut ended = c.app.model.detail.as_ref().unwrap().steps[2].clone();
    assert_eq!(ended.step, review);
    ended.status = StepStatus::Cancelled;
    c.event(&at(
        100,
        EventKind::Step {
            record: Box::new(ended),
        },
    ));
    let screen = c.screen(140, 40);
    assert!(
        screen.contains("Conversation — review") && !screen.contains("cut off mid"),
        "{screen}"
    );
}

/// Turns recorded while the tab reads the run's history are shown, each once: one stored
/// before the read (in its answer, and announced meanwhile) and one after it.
#[test]
fn turns_recorded_while_the_history_is_read_are_shown_once() {
    let mut c = release();
    c.key(KeyCode::Down).key(KeyCode::Down);
    c.perform = false;
    c.chars("[");
    let read = c.effects.last().cloned().expect("the history asked for");
    assert!(matches!(read, Effect::Load(_)), "{read:?}");
    let before = agent(200, turn("Stored before the read.", &[], None));
    c.backend
        .store
        .lock()
        .unwrap()
        .events
        .get_mut(&RunId("r-0004".into()))
        .unwrap()
        .push(before.clone());
    c.event(&before);
    let answer = {
        let mut done = Vec::new();
        baton::tui::worker::perform(c.backend.as_ref(), read, &mut |d| done.push(d));
        done
    };
    c.event(&agent(100, turn("Recorded after the read.", &[], None)));
    c.perform = true;
    for done in answer {
        c.update(baton::tui::Msg::Done(Box::new(done)));
    }
    let screen = c.screen(140, 40);
    let at = |text: &str| {
        screen
            .find(text)
            .unwrap_or_else(|| panic!("{text}: {screen}"))
    };
    assert!(
        at("── turn 4 ·") < at("Stored before the read."),
        "{screen}"
    );
    assert!(
        at("── turn 5 ·") < at("Recorded after the read."),
        "{screen}"
    );
    assert!(!screen.contains("── turn 6"), "no turn twice: {screen}");
}
