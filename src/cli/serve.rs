//! `baton serve`: own the store with no console, and run workflows for every other baton.
//!
//! Consoles attach to it and detach without stopping anything; `baton run`, `resume` and
//! `retry` typed anywhere run in it and are followed where they were typed. SIGINT or SIGTERM
//! stops it: its active runs are left interrupted (`baton resume RUN` continues them).

use std::path::Path;

use anyhow::{Context, anyhow};

use super::common;
use crate::control::Owner;

/// Serves until SIGINT or SIGTERM.
pub fn serve(data_dir: Option<&Path>) -> anyhow::Result<i32> {
    let opened = common::open_to_own(data_dir)?;
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let _control = common::serve(&engine, Owner::Console, &rt).ok_or_else(|| {
        anyhow!(
            "cannot listen on the control socket in {} (see {})",
            opened.store.dir().display(),
            opened.paths.logs().display()
        )
    })?;
    let (mut interrupt, mut terminate) = {
        let _in_runtime = rt.enter();
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?,
            signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?,
        )
    };
    eprintln!(
        "baton process {} owns the store at {}: `baton` attaches a console, `baton run FILE` \
         runs here; Ctrl-C or SIGTERM stops (active runs are left interrupted)",
        std::process::id(),
        opened.store.dir().display()
    );
    rt.block_on(async {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    });
    let active = engine.active_runs();
    rt.block_on(engine.interrupt_all());
    for id in &active {
        eprintln!("run {id} left interrupted; `baton resume {id}` continues it");
    }
    Ok(0)
}
