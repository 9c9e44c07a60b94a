//! Runs on Temporal: a run is a `baton.run` workflow whose deterministic code is baton's own
//! run machine (`driver.rs`), each step an activity that a `baton worker` runs with the local
//! executors (`step.rs`, `activity.rs`), gates Updates, pause and resume signals, cancel the
//! workflow's cancellation. The CLI reaches runs through `client.rs` and reads them through
//! [`crate::engine::RunReader`] (`reader.rs`). Built with the `temporal` cargo feature; the
//! config section (`settings.rs`) is read by every build.

pub mod settings;

#[cfg(feature = "temporal")]
pub mod activity;
#[cfg(feature = "temporal")]
pub mod client;
#[cfg(feature = "temporal")]
pub mod commands;
#[cfg(feature = "temporal")]
pub mod console;
#[cfg(feature = "temporal")]
pub mod driver;
#[cfg(feature = "temporal")]
pub mod logbuf;
#[cfg(feature = "temporal")]
pub mod reader;
#[cfg(feature = "temporal")]
pub mod serve;
#[cfg(feature = "temporal")]
pub mod step;
#[cfg(feature = "temporal")]
pub mod wire;
#[cfg(feature = "temporal")]
pub mod workflow;

pub use settings::{BackendKind, DEFAULT_QUEUE, TemporalSection};

#[cfg(feature = "temporal")]
pub use commands::{command, reader_with, run_file, worker};
#[cfg(feature = "temporal")]
pub use console::console_backend;

/// Whether `id` names a run on Temporal: their ids start with `t` (local ones with `r`).
pub fn is_run_id(id: &str) -> bool {
    id.starts_with('t')
}

/// What an operator asks of a Temporal run from the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `baton cancel`.
    Cancel,
    /// `baton pause`.
    Pause,
    /// `baton resume`.
    Resume,
    /// `baton approve` / `baton reject`.
    Decide {
        /// The gated step.
        step: String,
        /// Approve or reject.
        approved: bool,
        /// Why.
        comment: Option<String>,
        /// Edited inputs (an `approval` step's).
        inputs: indexmap::IndexMap<String, String>,
    },
}

#[cfg(not(feature = "temporal"))]
mod without {
    //! What the commands say when this baton was built without Temporal.

    use std::path::Path;

    fn unavailable() -> anyhow::Error {
        anyhow::anyhow!(
            "this baton was built without Temporal support; build it with \
             `cargo install --path . --features temporal` (see docs/temporal.md)"
        )
    }

    /// `baton run FILE --temporal`.
    pub fn run_file(
        _data_dir: Option<&Path>,
        _args: &crate::cli::run::RunArgs,
    ) -> anyhow::Result<i32> {
        Err(unavailable())
    }

    /// `baton cancel|pause|resume|approve|reject` on a Temporal run.
    pub fn command(_data_dir: Option<&Path>, _run: &str, _op: super::Op) -> anyhow::Result<i32> {
        Err(unavailable())
    }

    /// `baton worker`.
    pub fn worker(_data_dir: Option<&Path>, _queues: &[String]) -> anyhow::Result<i32> {
        Err(unavailable())
    }

    /// The console's backend, as is: there are no Temporal runs to list beside it.
    pub fn console_backend(
        local: std::sync::Arc<dyn crate::engine::Backend>,
        _settings: super::TemporalSection,
    ) -> anyhow::Result<std::sync::Arc<dyn crate::engine::Backend>> {
        Ok(local)
    }

    /// The local reader, as is: there are no Temporal runs to list beside it.
    pub fn reader_with(
        _data_dir: Option<&Path>,
        local: Box<dyn crate::engine::RunReader>,
    ) -> anyhow::Result<Box<dyn crate::engine::RunReader>> {
        Ok(local)
    }
}

#[cfg(not(feature = "temporal"))]
pub use without::{command, console_backend, reader_with, run_file, worker};
