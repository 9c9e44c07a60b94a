//! Getting around the console: jumps to the next failed / running / waiting step or run, the
//! runs list's orders and pinning, the message history, redraw and suspend, the mouse, the
//! ETA and a paused run's clock — checked on the model and the effects the update returns.

#[path = "support/console.rs"]
mod console;
#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/memory_backend.rs"]
mod memory_backend;

use baton::store::{Event, EventKind, RunId, RunState, Timestamp};
use baton::tui::Msg;
use baton::tui::effect::Effect;
use baton::tui::model::Screen;
use console::Console;
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

fn selected_run(c: &Console) -> String {
    c.app
        .model
        .selected_run()
        .map(|r| r.id.0.clone())
        .unwrap_or_default()
}

fn selected_step(c: &Console) -> String {
    c.app
        .model
        .detail
        .as_ref()
        .and_then(|d| d.selected_step())
        .map(|s| s.step.0.clone())
        .unwrap_or_default()
}

fn shown_runs(c: &Console) -> Vec<String> {
    let m = &c.app.model;
    m.filtered_runs()
        .into_iter()
        .map(|i| m.runs[i].id.0.clone())
        .collect()
}

fn status(c: &Console) -> String {
    c.app
        .model
        .status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

fn mouse(c: &mut Console, kind: MouseEventKind, column: u16, row: u16) {
    c.update(Msg::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }));
}

#[test]
fn e_r_and_w_jump_to_the_next_failed_running_and_waiting_run() {
    let mut c = Console::new();
    assert_eq!(selected_run(&c), "r-0004");
    c.chars("e");
    assert_eq!(selected_run(&c), "r-0002", "the failed run");
    c.chars("r");
    assert_eq!(selected_run(&c), "r-0004", "round to the running run");
    c.chars("W");
    assert_eq!(selected_run(&c), "r-0003", "the paused run");
    c.chars("W");
    assert_eq!(selected_run(&c), "r-0004", "the run whose gate waits");
}

#[test]
fn in_a_run_the_jumps_go_to_its_steps_and_say_when_there_is_none() {
    let mut c = Console::new();
    c.key(KeyCode::Enter);
    assert_eq!(c.app.model.screen, Screen::Detail);
    c.chars("W");
    assert_eq!(selected_step(&c), "gate");
    c.chars("r");
    assert_eq!(selected_step(&c), "review");
    c.chars("e");
    assert_eq!(
        selected_step(&c),
        "review",
        "no failed step: the selection stays"
    );
    assert_eq!(status(&c), "no failed step in this run");
}

#[test]
fn o_cycles_the_runs_order_and_p_pins_the_active_runs_keeping_the_selection() {
    let mut c = Console::new();
    assert_eq!(shown_runs(&c), ["r-0004", "r-0003", "r-0002", "r-0001"]);
    c.chars("o");
    assert_eq!(shown_runs(&c), ["r-0002", "r-0004", "r-0003", "r-0001"]);
    assert_eq!(
        selected_run(&c),
        "r-0004",
        "the selected run stays selected"
    );
    assert!(c.screen(100, 24).contains("Runs (4) by state"));
    c.chars("o");
    assert_eq!(shown_runs(&c), ["r-0001", "r-0002", "r-0003", "r-0004"]);
    c.chars("P");
    assert_eq!(shown_runs(&c), ["r-0003", "r-0004", "r-0001", "r-0002"]);
    assert!(c.screen(100, 24).contains("by duration, active first"));
    c.chars("o").chars("P");
    assert_eq!(shown_runs(&c), ["r-0004", "r-0003", "r-0002", "r-0001"]);
    assert_eq!(selected_run(&c), "r-0004");
}

#[test]
fn m_shows_what_the_status_line_said_newest_first() {
    let mut c = Console::new();
    c.chars("o").chars("o");
    c.chars("m");
    let screen = c.screen(100, 24);
    assert!(screen.contains("Messages (2)"), "{screen}");
    let newest = screen.find("runs sorted by duration");
    let older = screen.find("runs sorted by state");
    assert!(
        newest.is_some() && older.is_some() && newest < older,
        "{screen}"
    );
    c.key(KeyCode::Esc);
    assert!(c.app.model.modals.is_empty());
}

#[test]
fn ctrl_l_asks_for_a_full_redraw_and_ctrl_z_for_a_suspend() {
    let mut c = Console::new();
    let redraw = c.update(Msg::Key(
        crossterm::event::KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL),
        c.now,
    ));
    assert_eq!(redraw, vec![Effect::Redraw]);
    let suspend = c.update(Msg::Key(
        crossterm::event::KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL),
        c.now,
    ));
    assert_eq!(suspend, vec![Effect::Suspend]);
}

#[test]
fn a_click_selects_a_row_a_second_click_opens_it_and_the_wheel_scrolls() {
    let mut c = Console::new();
    c.screen(100, 24);
    // Header, the gate's banner, the list's border and its column titles: r-0002 is row 6.
    mouse(&mut c, MouseEventKind::Down(MouseButton::Left), 10, 6);
    assert_eq!(selected_run(&c), "r-0002");
    assert_eq!(c.app.model.screen, Screen::Runs);
    mouse(&mut c, MouseEventKind::ScrollUp, 10, 6);
    assert_eq!(selected_run(&c), "r-0004");
    mouse(&mut c, MouseEventKind::ScrollDown, 10, 6);
    assert_eq!(selected_run(&c), "r-0001");
    mouse(&mut c, MouseEventKind::Down(MouseButton::Left), 10, 7);
    mouse(&mut c, MouseEventKind::Down(MouseButton::Left), 10, 7);
    assert_eq!(c.app.model.screen, Screen::Detail);
    assert_eq!(selected_run(&c), "r-0001");
}

#[test]
fn a_click_in_the_step_tree_selects_that_step() {
    let mut c = Console::new();
    c.key(KeyCode::Enter);
    let screen = c.screen(100, 24);
    let row = screen
        .lines()
        .position(|l| l.contains("⚑ gate"))
        .expect("the gate's row");
    mouse(
        &mut c,
        MouseEventKind::Down(MouseButton::Left),
        5,
        row as u16,
    );
    assert_eq!(selected_step(&c), "gate");
}

#[test]
fn no_click_or_wheel_can_decide_a_gate() {
    let mut c = Console::new();
    c.open_approval();
    let screen = c.screen(80, 24);
    for (y, line) in screen.lines().enumerate() {
        for x in (0..line.chars().count()).step_by(4) {
            mouse(
                &mut c,
                MouseEventKind::Down(MouseButton::Left),
                x as u16,
                y as u16,
            );
            mouse(&mut c, MouseEventKind::ScrollDown, x as u16, y as u16);
        }
    }
    assert_eq!(c.app.model.modals.len(), 1, "the prompt is still open");
    assert!(c.backend.sent().is_empty(), "nothing was sent");
}

#[test]
fn a_running_run_shows_how_long_is_left_from_past_runs_of_its_workflow() {
    let mut c = Console::new();
    // A past release that took 5 minutes; this one has run 1m05s.
    let past = fixture::run("r-0000", "release", RunState::Succeeded, 6, 6, 600_000);
    c.app.model.put_run(past);
    let screen = c.screen(100, 24);
    assert!(screen.contains("running · ~3m55s left"), "{screen}");
    c.key(KeyCode::Enter);
    let screen = c.screen(100, 24);
    assert!(screen.contains("1m05s · ~3m55s left"), "{screen}");
}

/// Moves run r-0004 to `state` at `ts` as the engine does: its stored record first, then the
/// Event (the console reads the record again on a state change).
fn engine_moves(c: &mut Console, state: RunState, ts: Timestamp) {
    let id = RunId("r-0004".into());
    {
        let mut store = c.backend.store.lock().unwrap_or_else(|p| p.into_inner());
        for run in store.runs.iter_mut().filter(|r| r.id == id) {
            run.enter_state(state, ts);
        }
        if let Some(d) = store.details.get_mut(&id) {
            d.run.enter_state(state, ts);
        }
    }
    c.event(&Event {
        run: id,
        ts,
        kind: EventKind::RunState {
            state,
            reason: None,
        },
    });
}

#[test]
fn a_paused_runs_clock_stands_still_and_goes_on_without_a_jump() {
    let mut c = Console::new();
    c.key(KeyCode::Enter);
    engine_moves(&mut c, RunState::Paused, fixture::NOW);
    c.app.model.now = Timestamp(fixture::NOW.0 + 600_000);
    let screen = c.screen(100, 24);
    assert!(screen.contains("paused 1m05s"), "{screen}");
    let resumed = c.app.model.now;
    engine_moves(&mut c, RunState::Running, resumed);
    c.app.model.now = Timestamp(c.app.model.now.0 + 5_000);
    let screen = c.screen(100, 24);
    assert!(screen.contains("running 1m10s"), "{screen}");
}
