//! Snapshot tests of every view and overlay of the console, drawn into ratatui's TestBackend.

#[path = "support/console.rs"]
mod console;
#[path = "support/fixture.rs"]
mod fixture;
#[path = "support/memory_backend.rs"]
mod memory_backend;

use console::Console;
use crossterm::event::KeyCode;

/// The console on the runs list, its undecided gate announced by the banner.
fn runs() -> Console {
    Console::new()
}

/// The release run open.
fn release() -> Console {
    let mut c = runs();
    c.key(KeyCode::Enter);
    c
}

#[test]
fn approval_modal_opens_on_a_for_the_announced_gate() {
    let mut c = Console::new();
    c.open_approval();
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn approval_modal_ignores_keys_for_a_moment_after_it_opens() {
    let mut c = Console::new();
    c.chars("aA");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn approval_modal_asks_why_on_reject() {
    let mut c = Console::new();
    c.open_approval().chars("X").chars("too risky");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn approval_modal_edits_inputs_after_tab() {
    let mut c = Console::new();
    c.open_approval().key(KeyCode::Tab).chars(" today");
    insta::assert_snapshot!(c.screen(100, 30));
}

#[test]
fn runs_view_at_80x24_shows_state_progress_and_pending_approvals() {
    insta::assert_snapshot!(runs().screen(80, 24));
}

#[test]
fn runs_view_filter_narrows_the_list_as_you_type() {
    let mut c = runs();
    c.chars("/fail");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn workflows_view_lists_files_with_descriptions_and_errors() {
    let mut c = runs();
    c.chars(":workflows").key(KeyCode::Enter);
    insta::assert_snapshot!(c.screen(100, 24));
}

#[test]
fn start_form_shows_each_param_with_its_default() {
    let mut c = runs();
    c.chars("n")
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Enter);
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn run_detail_shows_the_step_tree_by_level_and_all_logs() {
    insta::assert_snapshot!(release().screen(100, 30));
}

#[test]
fn run_detail_at_80x24() {
    insta::assert_snapshot!(release().screen(80, 24));
}

#[test]
fn logs_of_one_step_with_timestamps_and_search_position() {
    let mut c = release();
    c.key(KeyCode::Enter).chars("t/ok").key(KeyCode::Enter);
    insta::assert_snapshot!(c.screen(100, 24));
}

#[test]
fn logs_wrap_long_lines() {
    let mut c = release();
    c.key(KeyCode::Tab).chars("w");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn context_tab_shows_params_and_outputs_as_a_foldable_tree() {
    let mut c = release();
    c.chars("]")
        .key(KeyCode::Tab)
        .key(KeyCode::Down)
        .key(KeyCode::Down)
        .key(KeyCode::Down);
    c.key(KeyCode::Down).key(KeyCode::Down).key(KeyCode::Right);
    insta::assert_snapshot!(c.screen(100, 24));
}

#[test]
fn metrics_tab_shows_duration_bars_retries_waits_and_tokens() {
    let mut c = release();
    c.chars("]]");
    insta::assert_snapshot!(c.screen(100, 24));
}

#[test]
fn events_tab_shows_the_run_history() {
    let mut c = release();
    c.chars("]]]");
    insta::assert_snapshot!(c.screen(100, 24));
}

#[test]
fn cancel_asks_for_confirmation() {
    let mut c = runs();
    c.chars("c");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn quit_with_active_runs_offers_wait_leave_or_cancel() {
    let mut c = runs();
    c.chars("q");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn help_overlay_lists_every_key_from_the_keymap() {
    let mut c = runs();
    c.chars("?");
    insta::assert_snapshot!(c.screen(80, 40));
}

#[test]
fn command_palette_completes_commands() {
    let mut c = runs();
    c.chars(":t");
    insta::assert_snapshot!(c.screen(80, 24));
}

#[test]
fn too_small_terminal_gets_a_clear_message() {
    insta::assert_snapshot!(runs().screen(50, 12));
}
