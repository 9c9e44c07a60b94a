//! `baton serve`: own the store with no console, and run workflows for every other baton.
//!
//! Consoles attach to it and detach without stopping anything; `baton run`, `resume` and
//! `retry` typed anywhere run in it and are followed where they were typed. It fires the
//! schedules of the workflows it knows, serves the HTTP API on the control socket (and on
//! `--listen ADDR`). SIGINT, SIGTERM or SIGHUP stops it (exit 0): its active runs are left interrupted
//! (`baton resume RUN` continues them).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;

use super::common;
use crate::control::Role;
use crate::serve::{
    Catalogue, api::Api, auth::ApiToken, hooks::Hooks, listen, scheduler::Scheduler,
};

/// `baton serve`'s options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Also serve the HTTP API on this address (e.g. `127.0.0.1:8080`; port 0 picks one, and
    /// the address is printed on stdout). A non-loopback address needs a token.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// Serves until SIGINT, SIGTERM or SIGHUP.
pub fn serve(data_dir: Option<&Path>, args: ServeArgs) -> anyhow::Result<i32> {
    let opened = common::open_to_own(data_dir)?;
    let token = ApiToken::load(&opened.config.serve, std::env::var("BATON_API_TOKEN").ok())?;
    if let Some(addr) = args.listen {
        listen::check_listen(addr, token.is_some())?;
    }
    let hooks = Hooks::load(&opened.config.hooks)?;
    let rt = common::runtime()?;
    let engine = common::engine(&opened, &rt)?;
    let mut socket = common::serve(&engine, Role::Console, &rt).ok_or_else(|| {
        anyhow!(
            "cannot listen on the control socket in {} (see {})",
            opened.store.dir().display(),
            opened.paths.logs().display()
        )
    })?;
    let catalogue = Catalogue::of(&opened.paths);
    let _in_runtime = rt.enter();
    let scheduler = Scheduler::spawn(
        engine.clone(),
        catalogue.clone(),
        catalogue.entries(),
        Arc::new(crate::engine::clock::SystemClock::new()),
    );
    let prices = opened
        .config
        .providers
        .iter()
        .flat_map(|p| p.prices.clone())
        .collect();
    let api = Api {
        engine: engine.clone(),
        catalogue,
        token,
        hooks,
        prices: Arc::new(prices),
        check_token: true,
    };
    // On the control socket the kernel vouches for the caller (its own user only): no token.
    let local = Api {
        check_token: false,
        ..api.clone()
    };
    socket.serve_http(crate::serve::api::router(local), rt.handle());
    if let Some(addr) = args.listen {
        let (bound, _task) = rt.block_on(listen::tcp(api, addr))?;
        // The first line on stdout: scripts (and tests) learn the port from it.
        println!("listening on http://{bound}");
        let _ = std::io::stdout().flush();
    }
    let mut signals = super::signals::Signals::install(&rt)?;
    errln!(
        "baton process {} owns the store at {}: `baton` attaches a console, `baton run FILE` \
         runs here; {} scheduled workflow(s); Ctrl-C, SIGTERM or SIGHUP stops (active runs \
         are left interrupted)",
        std::process::id(),
        opened.store.dir().display(),
        scheduler.scheduled.len()
    );
    let stop = rt.block_on(signals.next());
    drop(scheduler);
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
