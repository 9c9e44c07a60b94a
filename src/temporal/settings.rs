//! `[temporal]` in the config file: where the Temporal server is and how to reach it. Read by
//! every build (a config written for a Temporal-enabled baton still loads without the feature);
//! used only with the `temporal` cargo feature.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::ByteSize;
use crate::time::Dur;

/// Which engine runs a workflow when `baton run` does not say (`[engine] backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// This process's own engine and store (the default).
    #[default]
    Local,
    /// A Temporal cluster, with `baton worker` processes running the steps.
    Temporal,
}

/// `[temporal]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemporalSection {
    /// The frontend's gRPC address, `host:port` or a URL (default `127.0.0.1:7233`).
    pub address: Option<String>,
    /// The namespace (default `default`).
    pub namespace: Option<String>,
    /// Connect with TLS (implied by any of the TLS files or an API key).
    #[serde(default)]
    pub tls: bool,
    /// A CA certificate (PEM) to trust instead of the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS, with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
    /// The TLS server name, when it differs from the address's host.
    pub server_name: Option<String>,
    /// A file holding the API key (Temporal Cloud); the key itself never sits in the config.
    pub api_key_file: Option<PathBuf>,
    /// The task queue of runs and of steps without `queue:` (default `baton`).
    pub task_queue: Option<String>,
    /// How much of a step's log its activity reports (the tail while it runs, the whole
    /// when it ends, cut in the middle past this; default 64 KiB).
    pub log_limit: Option<ByteSize>,
    /// Time between SIGTERM and SIGKILL when a step is cancelled (default 5s).
    pub grace: Option<Dur>,
}

/// Whether the config file makes Temporal the default backend (`[engine] backend`).
pub fn is_default(data_dir: Option<&std::path::Path>) -> anyhow::Result<bool> {
    let paths = crate::config::Paths::resolve(data_dir)?;
    let config = crate::config::ConfigFile::load(&paths.config_file())?;
    Ok(config.engine.backend == Some(BackendKind::Temporal))
}

/// The task queue runs use when neither `--queue` nor the config names one.
pub const DEFAULT_QUEUE: &str = "baton";

impl TemporalSection {
    /// The frontend's address.
    pub fn address(&self) -> &str {
        self.address.as_deref().unwrap_or("127.0.0.1:7233")
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    /// The queue of runs and of steps without `queue:`.
    pub fn task_queue(&self) -> &str {
        self.task_queue.as_deref().unwrap_or(DEFAULT_QUEUE)
    }

    /// Bytes of a step's log its activity reports.
    pub fn log_limit(&self) -> usize {
        self.log_limit.map_or(64 << 10, |b| b.0)
    }

    /// Whether the section says anything: `ls` lists Temporal runs only when it does.
    pub fn is_configured(&self) -> bool {
        self.address.is_some() || self.namespace.is_some()
    }
}
