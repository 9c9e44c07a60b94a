//! The operator console: a terminal UI over a [`Backend`](crate::engine::Backend) — runs, workflows, a run's step tree
//! with logs, context, metrics and history, approval prompts, and keyboard control.
//!
//! State (`model`) is kept apart from drawing (`view`). `App::update` folds keys, Events and
//! loaded results into the model and returns `Effect`s (send a command, start a run, read the
//! store, copy, bell, exit) without doing I/O; the runner performs them on a worker and feeds
//! the results back. [`run`] owns the terminal and the loop.

pub mod action;
pub mod app;
pub mod clipboard;
pub mod config;
pub mod conversation;
mod conversation_keys;
pub mod effect;
pub mod fan_rows;
pub mod frame;
pub mod guard;
pub mod json_tree;
pub mod keymap;
pub mod loaded;
pub mod logs;
pub mod model;
pub mod navigate;
pub mod overlay;
pub mod plan;
mod plan_work;
pub mod runner;
pub mod step_totals;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod view;
pub mod worker;
pub mod workflows;

pub use app::{App, Msg};
pub use config::TuiConfig;
pub use runner::{TuiOptions, run};

/// What the operator chose when leaving the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TuiExit {
    /// Left with no run active.
    Quit,
    /// Left with runs active and asked to wait for them to finish.
    WaitForRuns,
    /// Left with runs active and asked to leave them interrupted (resumable later).
    LeaveInterrupted,
    /// Left with runs active and asked to cancel them (the caller sends the cancels).
    CancelRuns,
    /// SIGTERM or SIGHUP arrived (the terminal is restored); treat active runs as left
    /// interrupted.
    Signal(i32),
}
