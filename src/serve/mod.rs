//! Production serving: what `baton serve` does besides owning the store — it fires the
//! workflows' schedules ([`scheduler`]), and with `--listen` serves a small versioned HTTP API
//! ([`api`]) with bearer-token auth ([`auth`]), signed webhooks ([`hooks`]) and Prometheus
//! metrics ([`metrics`]), on TCP ([`listen`]) and on the control socket.

pub mod api;
pub mod auth;
pub mod hooks;
pub mod listen;
pub mod metrics;
pub mod schedule;
pub mod scheduler;

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::engine::{Engine, RunControl, StartRequest};
use crate::store::RunId;
use crate::tui::workflows::{self, WorkflowEntry};

/// `[serve]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// A file holding the API token (mode 0600); `BATON_API_TOKEN` wins over it.
    pub token_file: Option<PathBuf>,
    /// Who a gate decided through the API is recorded as (default `api`).
    pub token_name: Option<String>,
}

/// `[hooks.NAME]` in the config file: `POST /v1/hooks/NAME` starts `workflow`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The workflow's name.
    pub workflow: String,
    /// A file holding the HMAC-SHA256 secret the sender signs with (mode 0600).
    pub secret_file: PathBuf,
    /// Params of the run; each value a template over the request's JSON (`{{ body.ref }}`).
    #[serde(default)]
    pub params: IndexMap<String, String>,
}

/// The workflows `baton serve` knows: the console's folders (`./workflows` and the config
/// dir's `workflows/`), read again at each use so a new file is known without a restart.
#[derive(Debug, Clone)]
pub struct Catalogue {
    dirs: Vec<PathBuf>,
}

/// Why a workflow did not start.
#[derive(Debug)]
pub enum StartError {
    /// The params do not fit the workflow's declarations (one problem per line).
    Params(String),
    /// Anything else (the file, the store).
    Other(anyhow::Error),
}

impl Catalogue {
    /// The workflows in `dirs`.
    pub fn new(dirs: Vec<PathBuf>) -> Catalogue {
        Catalogue { dirs }
    }

    /// The console's folders for these paths.
    pub fn of(paths: &crate::config::Paths) -> Catalogue {
        Catalogue::new(vec![PathBuf::from("workflows"), paths.workflows_dir()])
    }

    /// Every workflow file, valid or not.
    pub fn entries(&self) -> Vec<WorkflowEntry> {
        workflows::list(&self.dirs)
    }

    /// The first valid workflow named `name`.
    pub fn find(&self, name: &str) -> Option<WorkflowEntry> {
        self.entries()
            .into_iter()
            .find(|e| e.error.is_none() && e.name == name)
    }

    /// Starts a run of the workflow file of `entry` with `params`.
    pub fn start(
        &self,
        engine: &Engine,
        entry: &WorkflowEntry,
        params: IndexMap<String, Value>,
    ) -> Result<RunId, StartError> {
        let source = std::fs::read_to_string(&entry.path).map_err(|e| {
            StartError::Other(anyhow::anyhow!("cannot read {}: {e}", entry.path.display()))
        })?;
        let wf = crate::spec::parse_str(&source, &entry.path)
            .map_err(|d| StartError::Other(anyhow::anyhow!("{d}")))?;
        crate::spec::resolve_params(&wf, &params).map_err(StartError::Params)?;
        engine
            .start(StartRequest {
                source,
                path: Some(entry.path.clone()),
                params,
                workdir: None,
            })
            .map_err(StartError::Other)
    }
}
