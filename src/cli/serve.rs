//! `baton serve`: own the store with no console, and run workflows for every other baton.
//!
//! Consoles attach to it and detach without stopping anything; `baton run`, `resume` and
//! `retry` typed anywhere run in it and are followed where they were typed. SIGINT, SIGTERM or
//! SIGHUP stops it (exit 0): its active runs are left interrupted (`baton resume RUN` continues them).

use std::path::Path;

use anyhow::anyhow;

use super::common;
use crate::control::Role;

/// Serves until SIGINT, SIGTERM or SIGHUP.
pub fn serve(data_dir: Option<&Path>) -> anyhow::Result<i32> {
    let opened = common::open_to_own(data_dir)?;
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let _socket = common::serve(&engine, Role::Console, &rt).ok_or_else(|| {
        anyhow!(
            "cannot listen on the control socket in {} (see {})",
            opened.store.dir().display(),
            opened.paths.logs().display()
        )
    })?;
    let mut signals = super::signals::Signals::install(&rt)?;
    errln!(
        "baton process {} owns the store at {}: `baton` attaches a console, `baton run FILE` \
         runs here; Ctrl-C, SIGTERM or SIGHUP stops (active runs are left interrupted)",
        std::process::id(),
        opened.store.dir().display()
    );
    let stop = rt.block_on(signals.next());
    let active = engine.active_runs();
    errln!(
        "{}: stopping; active runs are left interrupted",
        stop.name()
    );
    rt.block_on(engine.interrupt_all());
    for id in &active {
        errln!("run {id} left interrupted; `baton resume {id}` continues it");
    }
    // Stopping when asked is serve's normal end: exit 0 once every run is safely interrupted.
    Ok(0)
}
