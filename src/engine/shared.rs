//! What every run of one engine shares: the store, the event bus, the global concurrency limit,
//! named locks, rate-limit buckets, templates and the secret redactor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::policy::RateBucket;
use crate::secrets::Redactor;
use crate::spec::template::Templates;
use crate::store::Store;

/// How an engine behaves.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Steps running at once across all runs.
    pub global_concurrency: usize,
    /// Steps of one run at once when the workflow does not say.
    pub run_concurrency: usize,
    /// Time between SIGTERM and SIGKILL when cancelling.
    pub grace: Duration,
    /// Values to redact from everything captured (API keys, tokens).
    pub secrets: Vec<String>,
    /// Agent names known besides the built-in and workflow-local ones (user profiles).
    pub extra_agents: Vec<String>,
    /// Providers and profiles for `agent` steps (`None`: agent steps fail with a hint).
    pub llm: Option<Arc<crate::steps::agent::LlmRuntime>>,
    /// How much of each step's log is kept.
    pub logs: super::run_log::LogLimits,
    /// The configured hosts and the shared SSH connections of `on:` steps.
    pub ssh: Arc<crate::remote::Ssh>,
    /// Where runs and step tasks read the time (the system's; tests inject their own).
    pub clock: Arc<dyn super::clock::Clock>,
    /// The workflows folders, where a `workflow:` step's bare name is looked up.
    pub workflow_dirs: Vec<std::path::PathBuf>,
    /// Drafts repair proposals for failed runs of `on_failure: { repair: true }` workflows
    /// (`None`: such a run says that no model can propose one).
    pub repairer: Option<Arc<dyn super::repair::Repairer>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            global_concurrency: 256,
            run_concurrency: 16,
            grace: Duration::from_secs(5),
            secrets: Vec::new(),
            extra_agents: Vec::new(),
            llm: None,
            logs: Default::default(),
            ssh: Default::default(),
            clock: Arc::new(super::clock::SystemClock::new()),
            workflow_dirs: vec![std::path::PathBuf::from("workflows")],
            repairer: None,
        }
    }
}

/// Engine-wide state shared by runs and step tasks.
pub struct EngineShared {
    /// The store.
    pub store: Store,
    /// Live events.
    pub events: super::events::Events,
    /// Templates (one environment for all).
    pub templates: Templates,
    /// Secret redaction.
    pub redactor: Redactor,
    /// Configuration.
    pub config: EngineConfig,
    /// The global step limit.
    pub global: Arc<Semaphore>,
    /// Steps admitted but for a slot of the global limit, waiting for one (`/metrics`).
    pub waiting_for_slot: std::sync::atomic::AtomicUsize,
    /// Live shell process groups.
    pub groups: Arc<crate::steps::shell::ProcessGroups>,
    /// The runs active in this process (a `workflow:` step starts and steers its child here).
    pub(super) active: Arc<Mutex<HashMap<crate::store::RunId, super::RunHandle>>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    buckets: Mutex<HashMap<String, RateBucket>>,
    epoch: Instant,
}

impl EngineShared {
    /// Builds the shared state.
    pub fn new(store: Store, config: EngineConfig) -> EngineShared {
        EngineShared {
            store,
            events: super::events::Events::new(1024),
            templates: Templates::new(),
            redactor: Redactor::new(config.secrets.clone()),
            global: Arc::new(Semaphore::new(config.global_concurrency.max(1))),
            waiting_for_slot: Default::default(),
            groups: Arc::default(),
            config,
            active: Arc::default(),
            locks: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        }
    }

    /// The named lock (created on first use).
    pub fn lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(name.to_string()).or_default().clone()
    }

    /// Takes a start from the bucket `key`, or says how long to wait.
    pub fn take_token(&self, key: &str, max: u32, per: Duration) -> Result<(), Duration> {
        let now = self.epoch.elapsed();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(key.to_string())
            .or_insert_with(|| RateBucket::new(max, per, now))
            .take(now)
    }
}
