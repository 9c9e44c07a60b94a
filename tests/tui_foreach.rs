//! A fan-out step in the console: a folding group of item rows under its step (state and
//! label), and the log pane scoped to the selected item's lines.

#[path = "support/console.rs"]
mod console;
#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/memory_backend.rs"]
mod memory_backend;

use baton::store::{ItemRecord, LogStream, RunId, StepStatus};
use console::Console;
use crossterm::event::KeyCode;
use serde_json::json;

/// The release run with a fan-out step `hosts` over three hosts (one failed), each with a log
/// line of its own, opened.
fn release_with_a_fan_out() -> Console {
    let c = Console::new();
    {
        let mut store = c.backend.store.lock().unwrap();
        let run = RunId("r-0004".into());
        let mut fan = fixture::step("hosts", StepStatus::Failed, Some(900));
        fan.index = 99;
        fan.items = ["web1", "web2", "web3"]
            .iter()
            .map(|h| ItemRecord {
                status: StepStatus::Succeeded,
                ..ItemRecord::pending(json!(h))
            })
            .collect();
        fan.items[1].status = StepStatus::Failed;
        fan.items[1].error = Some("exited with code 2".into());
        store.details.get_mut(&run).unwrap().steps.push(fan);
        let lines = store.logs.get_mut(&run).unwrap();
        for (i, host) in ["web1", "web2", "web3"].iter().enumerate() {
            let seq = 900 + i as u64;
            let key = format!("hosts[{i}]");
            lines.push(fixture::line(
                seq,
                &key,
                LogStream::Stdout,
                &format!("deployed to {host}"),
            ));
        }
    }
    let mut c = c;
    c.key(KeyCode::Enter);
    c
}

/// Moves the tree's selection down until `row` is selected (the test fails if it never is).
fn select(c: &mut Console, wanted: impl Fn(&baton::tui::model::Detail) -> bool) {
    for _ in 0..30 {
        if c.app.model.detail.as_ref().is_some_and(&wanted) {
            return;
        }
        c.key(KeyCode::Down);
    }
    panic!("never selected the wanted row");
}

#[test]
fn a_fan_out_step_is_a_folding_group_of_its_items() {
    let mut c = release_with_a_fan_out();
    let screen = c.screen(100, 30);
    assert!(screen.contains("▾ hosts"), "{screen}");
    assert!(screen.contains("3/3 items"), "{screen}");
    assert!(screen.contains("├ ✓ [0] web1"), "{screen}");
    assert!(
        screen.contains("├ ✗ [1] web2           exited with"),
        "{screen}"
    );
    assert!(screen.contains("└ ✓ [2] web3"), "{screen}");
    // ← on the step folds its items away; → brings them back.
    select(&mut c, |d| {
        d.selected_step().is_some_and(|s| s.step.0 == "hosts")
    });
    c.key(KeyCode::Left);
    let folded = c.screen(100, 30);
    assert!(folded.contains("▸ hosts"), "{folded}");
    assert!(!folded.contains("[0] web1"), "{folded}");
    c.key(KeyCode::Right);
    assert!(c.screen(100, 30).contains("[1] web2"));
}

#[test]
fn selecting_an_item_scopes_the_log_pane_to_its_lines() {
    let mut c = release_with_a_fan_out();
    select(&mut c, |d| d.selected_item().is_some_and(|(i, _)| i == 1));
    c.key(KeyCode::Enter);
    let screen = c.screen(120, 30);
    assert!(screen.contains("item hosts[1] (web2)"), "{screen}");
    assert!(screen.contains("deployed to web2"), "{screen}");
    assert!(!screen.contains("deployed to web1"), "{screen}");
    assert!(!screen.contains("deployed to web3"), "{screen}");
}
