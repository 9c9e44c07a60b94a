//! `baton` with no command: the console, with the engine running behind it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::common::{self, Reach};
use crate::config::{ConfigFile, Paths};
use crate::control::{Remote, Role};
use crate::engine::Backend;
use crate::tui::plan::PlanDesk;
use crate::tui::{TuiExit, TuiOptions};

/// Opens the console; when it closes, does what the operator chose for active runs.
pub fn open(data_dir: Option<&Path>, theme: Option<String>) -> anyhow::Result<i32> {
    let opened = match common::open_or_ask(data_dir)? {
        Reach::Store(opened) => opened,
        Reach::Owner(owner) => return attach(data_dir, owner, theme),
    };
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    // Other invocations (`baton ls`, `show`, `logs`, `cancel`, a console) ask this one meanwhile.
    let _socket = common::serve(&engine, Role::Console, &rt);
    let options = TuiOptions {
        config: opened.config.tui.clone(),
        theme,
        workflow_dirs: vec![PathBuf::from("workflows"), opened.paths.workflows_dir()],
        plans: Some(PlanDesk::for_machine(&opened.paths, &opened.config)),
    };
    let backend: Arc<dyn Backend> = Arc::new(engine.clone());
    let backend = crate::temporal::console_backend(backend, opened.config.temporal.clone())?;
    let exit = {
        let _guard = rt.enter();
        super::quiet_log::screen_in_use(true);
        let exit = crate::tui::run(backend, options);
        super::quiet_log::screen_in_use(false);
        exit
    };
    let exit = match exit {
        Ok(exit) => exit,
        Err(e) => {
            // The console failed (the terminal is already restored): stop the runs it owned
            // cleanly, resumable, before reporting.
            rt.block_on(engine.interrupt_all());
            return Err(e);
        }
    };
    let active = engine.active_runs();
    match exit {
        TuiExit::Quit => {}
        TuiExit::WaitForRuns => {
            errln!(
                "waiting for {} run(s) to finish (Ctrl-C leaves them interrupted)…",
                active.len()
            );
            rt.block_on(async {
                let all = async {
                    for id in &active {
                        engine.wait(id).await;
                    }
                };
                tokio::select! {
                    _ = all => {}
                    _ = tokio::signal::ctrl_c() => engine.interrupt_all().await,
                }
            });
        }
        TuiExit::LeaveInterrupted | TuiExit::Signal(_) => {
            rt.block_on(engine.interrupt_all());
            for id in &active {
                errln!("run {id} left interrupted; `baton resume {id}` continues it");
            }
        }
        TuiExit::CancelRuns => {
            rt.block_on(engine.cancel_all());
            for id in &active {
                errln!("run {id} cancelled");
            }
        }
    }
    Ok(0)
}

/// The console attached to the baton that owns the store: everything goes through that one,
/// and quitting leaves its runs running there.
fn attach(data_dir: Option<&Path>, owner: Remote, theme: Option<String>) -> anyhow::Result<i32> {
    let paths = Paths::secured(data_dir)?;
    let config = ConfigFile::load(&paths.config_file())?;
    let who = owner.client().owner();
    let options = TuiOptions {
        config: config.tui.clone(),
        theme,
        workflow_dirs: vec![PathBuf::from("workflows"), paths.workflows_dir()],
        plans: Some(PlanDesk::for_machine(&paths, &config)),
    };
    let backend: Arc<dyn Backend> = Arc::new(owner);
    let backend = crate::temporal::console_backend(backend, config.temporal.clone())?;
    match crate::tui::run(backend, options)? {
        TuiExit::Signal(_) => {}
        _ => errln!("detached from {who}; its runs go on there"),
    }
    Ok(0)
}
