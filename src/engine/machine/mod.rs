//! The run state machine: what a run does next — which steps are ready, which are skipped and
//! why, what a gate, a pause or a cancel changes, when the run ends — decided without I/O.
//!
//! [`RunMachine::apply`] takes one [`Input`] (with the moment it happened, and the `when:`
//! evaluator) and returns [`Effect`]s for a driver to perform in order: journal a record, start a
//! step task, signal the tasks, open or answer a gate. Nothing here touches tokio, the store,
//! processes or a clock, so it is tested by driving it with random event orders (`tests.rs`)
//! and could be replayed by a deterministic workflow runtime. The local driver is `run.rs`.

mod effect;
mod handlers;
mod input;
mod items;
mod restore;
pub mod retry;
mod state;
mod steps;
#[cfg(test)]
mod tests;

pub use effect::{Effect, Signal};
pub use input::{Input, ItemReport, Now, StepEnd, WhenEval};
pub use state::{RunMachine, WHEN_FALSE};
