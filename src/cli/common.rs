//! What every command needs: the paths, the config file, the store, an engine on a runtime.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::Context;

use crate::agents::{AgentCatalog, ProfileSource};
use crate::config::{ConfigFile, Paths};
use crate::control::{self, Client, Remote};
use crate::engine::{Engine, EngineConfig, Notebook, RunReader};
use crate::providers::{HealthFile, Router};
use crate::steps::agent::LlmRuntime;
use crate::store::{Store, StoreInUse, Timestamp};

/// An open store with its paths and config.
pub struct Opened {
    /// Where things live.
    pub paths: Paths,
    /// The config file.
    pub config: ConfigFile,
    /// The store (this process owns it now).
    pub store: Store,
}

/// Resolves paths, reads the config and opens the store.
pub fn open(data_dir: Option<&Path>) -> anyhow::Result<Opened> {
    let paths = Paths::secured(data_dir)?;
    let config = ConfigFile::load(&paths.config_file())?;
    let store = Store::open(&paths.store())?;
    init_logging(&paths);
    Ok(Opened {
        paths,
        config,
        store,
    })
}

/// Where a command reaches the runs: the store itself, or the baton that owns it.
pub enum Reach {
    /// This process opened the store: no other baton runs anything now.
    Store(Box<Opened>),
    /// Another process owns the store; reads and commands go to it over its socket.
    Owner(Remote),
}

impl Reach {
    /// The read API, over whichever it is.
    pub fn reader(&self) -> &dyn RunReader {
        match self {
            Reach::Store(opened) => &opened.store,
            Reach::Owner(remote) => remote,
        }
    }

    /// The notes agents keep, over whichever it is.
    pub fn notebook(&self) -> &dyn Notebook {
        match self {
            Reach::Store(opened) => &opened.store,
            Reach::Owner(remote) => remote,
        }
    }
}

/// How long a store held by someone who does not answer on its socket is waited for: a
/// reader (`baton ls`, …) lets go within moments, and an owner on its way out has stopped
/// listening but still holds the store for a moment.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens the store; when another live baton owns it and listens, reaches that one instead.
pub fn open_or_ask(data_dir: Option<&Path>) -> anyhow::Result<Reach> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let e = match open(data_dir) {
            Ok(opened) => return Ok(Reach::Store(Box::new(opened))),
            Err(e) => e,
        };
        let Some(in_use) = e.downcast_ref::<StoreInUse>() else {
            return Err(e);
        };
        if let Some(client) = Client::connect(&in_use.dir, in_use.pid)? {
            return Ok(Reach::Owner(Remote::new(client)));
        }
        if std::time::Instant::now() >= deadline {
            return Err(e);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The runs to read, from the store or from the baton that owns it.
pub fn reader(data_dir: Option<&Path>) -> anyhow::Result<Box<dyn RunReader>> {
    let local: Box<dyn RunReader> = match open_or_ask(data_dir)? {
        Reach::Store(opened) => Box::new(opened.store),
        Reach::Owner(remote) => Box::new(remote),
    };
    // With `[temporal]` configured, its runs are listed beside these and read by their ids.
    crate::temporal::reader_with(data_dir, local)
}

/// Opens the store for work that needs it here (`gc`, `serve`); says who has it otherwise.
pub fn open_to_own(data_dir: Option<&Path>) -> anyhow::Result<Opened> {
    match open_or_ask(data_dir)? {
        Reach::Store(opened) => Ok(*opened),
        Reach::Owner(owner) => Err(StoreInUse {
            dir: Paths::resolve(data_dir)?.store(),
            pid: owner.client().pid(),
        }
        .into()),
    }
}

/// Answers other invocations on the store's control socket while the returned guard lives.
/// Without it they would only be told the store is in use, so a failure is a warning.
pub fn serve(
    engine: &Engine,
    role: control::Role,
    rt: &tokio::runtime::Runtime,
) -> Option<control::Server> {
    match control::serve(engine.clone(), role, rt.handle()) {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::warn!("no control socket: {e:#}");
            None
        }
    }
}

/// Keeps baton's own log writer thread; dropping it writes what waits (see [`flush_own_log`]).
static OWN_LOG: std::sync::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>> =
    std::sync::Mutex::new(None);

/// How many lines of baton's own log may wait for its writer thread (beyond them, lines are
/// dropped, not waited for). baton logs a few lines a run; tracing-appender's default, 128,000,
/// is a channel of 4 MiB whose every slot is written when it is made: about a thousand page
/// faults, some 3.5 ms of every command's start (README, "The chain, session 20").
const OWN_LOG_LINES_WAITING: usize = 1024;

/// baton's own diagnostics go to a daily file under the data dir (`logfile.rs`), never to the
/// terminal the console draws on, written by `tracing_appender`'s own thread: a slow or full
/// disk never holds an engine thread (lines beyond its buffer are dropped, not waited for).
/// `BATON_LOG` sets the filter (default `info`).
fn init_logging(paths: &Paths) {
    let dir = paths.logs();
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let file = super::quiet_log::QuietLog::new(super::logfile::DailyLog::new(dir.clone()), dir);
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(OWN_LOG_LINES_WAITING)
        .lossy(true)
        .thread_name("baton-log")
        .finish(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false)
        .with_ansi(false)
        .try_init();
    if installed.is_ok() {
        *OWN_LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
    }
}

/// Writes the lines of baton's own log that wait for its writer thread; call before the
/// process exits (statics are never dropped).
pub fn flush_own_log() {
    drop(OWN_LOG.lock().unwrap_or_else(|e| e.into_inner()).take());
}

/// The engine's runtime: one worker thread, plus tokio's pool for blocking work.
///
/// A run's steps are driven one transition at a time by its driver, and a step's own work in
/// baton is tens of microseconds (its command runs in its own process), so a second worker
/// mostly added hand-offs: each task a driver started woke the other worker to steal it. With
/// one, the step a driver starts runs on the same thread right after it (the driver yields
/// for it, see `engine::run`). Measured (README, *Performance*, session 16): a chain of 500
/// `run: "true"` steps 1.46× → 1.30× a shell loop, against the same build on two workers; the
/// other peer rows within the machine's spread.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("baton-engine")
        .build()
        .context("cannot start the async runtime")
}

/// An engine over the opened store, with the LLM providers and agent profiles of the config
/// (or discovered from the environment). Problems in user profile files are warnings.
pub fn engine(opened: &Opened, rt: &tokio::runtime::Runtime) -> anyhow::Result<Engine> {
    apply_retention(opened);
    let mut config: EngineConfig = opened.config.engine_config();
    let env = &crate::providers::process_env;
    let (catalog, problems) = AgentCatalog::load(Some(&opened.paths.agents_dir()));
    for p in problems {
        errln!("warning: {}", Shown::stderr().text(&p.to_string()));
    }
    config.extra_agents = catalog
        .iter()
        .filter(|p| p.source != ProfileSource::Builtin)
        .map(|p| p.name.clone())
        .collect();
    let limit = crate::descriptors::open_files_limit();
    let (cap, why) = crate::descriptors::cap_concurrency(config.global_concurrency, limit);
    if let Some(why) = why {
        tracing::warn!("{why}");
        errln!("baton: {why}");
    }
    config.global_concurrency = cap;
    config.secrets = crate::providers::secrets(&opened.config.providers, env);
    config.workflow_dirs = vec![PathBuf::from("workflows"), opened.paths.workflows_dir()];
    config.ssh = Arc::new(crate::remote::Ssh::new(
        opened.config.hosts.clone(),
        opened.config.ssh.clone(),
        Some(&opened.paths.data),
    ));
    let mcp_servers =
        crate::mcp::configured(&opened.config.mcp_servers, &opened.paths.config_file())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    config
        .secrets
        .extend(crate::mcp::secret_values(&mcp_servers, env));
    config.llm = Some(Arc::new(LlmRuntime {
        router: Router::from_config(&opened.config.providers, env)
            .map(|r| r.remembering(HealthFile::new(opened.paths.provider_health()))),
        catalog,
        mcp_servers,
    }));
    // Proposals for `on_failure: { repair: true }` runs (the planner is made when one fails).
    config.repairer = Some(Arc::new(crate::planner::auto::AutoRepair {
        paths: opened.paths.clone(),
        config: opened.config.clone(),
    }));
    let engine = Engine::open(opened.store.clone(), config, rt.handle().clone())?;
    crate::otel::start_configured(&engine, &opened.config.otel, &opened.paths.config_file())?;
    Ok(engine)
}

/// Deletes the runs that finished, and the cached step results stored, longer ago than
/// `[engine] retention` (30 days unless set).
/// A failure is logged: it must not stop the work the command was started for.
fn apply_retention(opened: &Opened) {
    let Some(age) = opened.config.retention().max_age() else {
        return;
    };
    let cutoff = Timestamp(
        Timestamp::now()
            .0
            .saturating_sub(age.as_millis().min(u64::MAX as u128) as u64),
    );
    match opened.store.gc(cutoff) {
        Ok(removed) if !removed.is_empty() => tracing::info!(
            "retention: deleted {} run(s) finished before {}",
            removed.len(),
            cutoff.rfc3339()
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("retention: cannot delete old runs: {e:#}"),
    }
    if let Err(e) = opened.store.prune_cache(cutoff) {
        tracing::warn!("retention: cannot prune the step cache: {e:#}");
    }
}

/// Elapsed times for people (`850ms`, `3.2s`, `1m05s`, `2h03m`).
pub use crate::time::format_elapsed_ms as human_ms;

/// How stored and step-provided text is printed: through the one sanitiser
/// (`crate::sanitize`), colours kept only on a colour terminal; `--raw` prints it as it is.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    raw: bool,
    colour: bool,
}

impl Shown {
    /// For standard output (`raw`: bytes as they are, for pipes).
    pub fn stdout(raw: bool) -> Shown {
        use std::io::IsTerminal;
        Shown {
            raw,
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// For messages on standard error: never raw, never coloured.
    pub fn stderr() -> Shown {
        Shown {
            raw: false,
            colour: false,
        }
    }

    /// Whether baton's own colours may be used.
    pub fn colour(&self) -> bool {
        self.colour && !self.raw
    }

    /// `text` safe for the terminal.
    pub fn text<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.raw {
            std::borrow::Cow::Borrowed(text)
        } else {
            crate::sanitize::escape(text, self.colour)
        }
    }

    /// A captured log line safe for the terminal: a line that redraws itself with `\r` (a
    /// progress bar) shows what a terminal would finally show, as in the console.
    pub fn line<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.raw {
            std::borrow::Cow::Borrowed(text)
        } else {
            crate::sanitize::escape(crate::sanitize::collapse_cr(text), self.colour)
        }
    }

    /// JSON text with DEL and C1 characters escaped too (serde_json escapes the rest).
    pub fn json(&self, json: String) -> String {
        if self.raw {
            json
        } else {
            crate::sanitize::json_safe(json)
        }
    }
}

/// Asks `question` on stderr and reads the answer from the terminal: `y` or `yes` is yes,
/// anything else no. Callers decide what no terminal means.
pub fn ask_yes(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stderr();
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the answer: {e}"))?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
