//! Reaching the Temporal cluster of `[temporal]`: the connection (address, namespace, TLS,
//! API key), a run's handle, and the requests the CLI makes of runs — start, query, signal,
//! Update, cancel, list.

use std::time::Duration;

use anyhow::{Context, anyhow};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowCancelOptions,
    WorkflowDescribeOptions, WorkflowExecuteUpdateOptions, WorkflowFetchHistoryOptions,
    WorkflowHandle, WorkflowListOptions, WorkflowQueryOptions, WorkflowSignalOptions,
    WorkflowStartOptions,
};

use super::settings::TemporalSection;
use super::wire::{DecideRequest, Progress, RunInput, RunView, WORKFLOW_TYPE};
use super::workflow::BatonRun;
use crate::store::{LogLine, RunId};

/// A connected client, with the section it came from.
#[derive(Clone)]
pub struct Cluster {
    /// The SDK's client.
    pub client: Client,
    /// Where it connects.
    pub settings: TemporalSection,
}

impl Cluster {
    /// Connects as `[temporal]` says; the error names the address and what to check.
    pub async fn connect(settings: &TemporalSection) -> anyhow::Result<Cluster> {
        let url = url(settings.address())?;
        let api_key = match &settings.api_key_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| {
                        format!("cannot read [temporal] api_key_file {}", path.display())
                    })?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        let options = ConnectionOptions::new(url.clone())
            .maybe_tls_options(tls(settings)?)
            .maybe_api_key(api_key);
        let connection = Connection::connect(options.build()).await.map_err(|e| {
            anyhow!(
                "cannot reach the Temporal server at {url}: {e}; check `[temporal] address` in \
                 the config file, or start a dev server (`temporal server start-dev`)"
            )
        })?;
        let client = Client::new(connection, ClientOptions::new(settings.namespace()).build())
            .map_err(|e| anyhow!("cannot use namespace `{}`: {e}", settings.namespace()))?;
        Ok(Cluster {
            client,
            settings: settings.clone(),
        })
    }

    /// The handle of run `id`.
    pub fn handle(&self, id: &str) -> WorkflowHandle<Client, BatonRun> {
        self.client.get_workflow_handle::<BatonRun>(id)
    }

    /// Run `id`'s whole history as the SDK's replayer reads it back
    /// (`WorkflowHistory::from_json`): what the replay test's fixtures are.
    pub async fn history_json(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        self.handle(id)
            .fetch_history(WorkflowFetchHistoryOptions::builder().build())
            .to_json()
            .await
            .map_err(|e| anyhow!("cannot read the history of run {id}: {e}"))
    }

    /// Starts `input` as run `id`.
    pub async fn start(&self, id: &RunId, input: RunInput) -> anyhow::Result<()> {
        let queue = input.queue.clone();
        let options = WorkflowStartOptions::new(queue, id.0.clone()).build();
        self.client
            .start_workflow(BatonRun::run, input, options)
            .await
            .map_err(|e| anyhow!("cannot start run {id} on Temporal: {e}"))?;
        Ok(())
    }

    /// The run as its workflow answers (`None` before its first task ran).
    pub async fn view(&self, id: &str) -> anyhow::Result<Option<RunView>> {
        self.handle(id)
            .query(BatonRun::view, (), WorkflowQueryOptions::default())
            .await
            .map_err(|e| not_answering(id, e))
    }

    /// The logs of its ended steps.
    pub async fn logs(&self, id: &str) -> anyhow::Result<Vec<LogLine>> {
        self.handle(id)
            .query(BatonRun::logs, (), WorkflowQueryOptions::default())
            .await
            .map_err(|e| not_answering(id, e))
    }

    /// What its running steps' last heartbeats carried (their logs' tails), in no order.
    pub async fn running(&self, id: &str) -> anyhow::Result<Vec<Progress>> {
        let described = self
            .handle(id)
            .describe(WorkflowDescribeOptions::default())
            .await
            .map_err(|e| anyhow!("cannot describe run {id}: {e}"))?;
        let mut out = Vec::new();
        for activity in &described.raw().pending_activities {
            let Some(details) = &activity.heartbeat_details else {
                continue;
            };
            for payload in &details.payloads {
                if let Ok(progress) = serde_json::from_slice::<Progress>(&payload.data) {
                    out.push(progress);
                }
            }
        }
        Ok(out)
    }

    /// Why the run's workflow is closed, when it is (it failed before its first step, or was
    /// terminated); `None` while it runs or cannot be told.
    pub async fn ended_early(&self, id: &str) -> Option<String> {
        let described = self
            .handle(id)
            .describe(WorkflowDescribeOptions::default())
            .await
            .ok()?;
        let status = described.status();
        if status == temporalio_client::WorkflowExecutionStatus::Running {
            return None;
        }
        Some(format!(
            "its workflow is {status:?}; `temporal workflow show --workflow-id {id}` says why"
        ))
    }

    /// Pauses (`true`) or resumes it.
    pub async fn freeze(&self, id: &str, pause: bool) -> anyhow::Result<()> {
        let h = self.handle(id);
        let sent = if pause {
            h.signal(BatonRun::pause, (), WorkflowSignalOptions::default())
                .await
        } else {
            h.signal(BatonRun::resume, (), WorkflowSignalOptions::default())
                .await
        };
        sent.map_err(|e| anyhow!("cannot signal run {id}: {e}"))
    }

    /// Decides a gate; the run's validator refuses a step that does not wait.
    pub async fn decide(&self, id: &str, request: DecideRequest) -> anyhow::Result<String> {
        self.handle(id)
            .execute_update(
                BatonRun::decide,
                request,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .map_err(|e| anyhow!("run {id}: {e}"))
    }

    /// Cancels it: its steps' process groups get SIGTERM, then SIGKILL after the grace.
    pub async fn cancel(&self, id: &str) -> anyhow::Result<()> {
        self.handle(id)
            .cancel(WorkflowCancelOptions::default())
            .await
            .map_err(|e| anyhow!("cannot cancel run {id}: {e}"))
    }

    /// The ids of the runs the namespace holds, newest first, at most `limit`.
    pub async fn list(&self, limit: usize) -> anyhow::Result<Vec<String>> {
        use futures::StreamExt;
        let query = format!("WorkflowType = '{WORKFLOW_TYPE}'");
        let options = WorkflowListOptions::builder().limit(limit).build();
        let mut listed = self.client.list_workflows(query, options);
        let mut ids = Vec::new();
        while let Some(w) = listed.next().await {
            let w = w.map_err(|e| anyhow!("cannot list Temporal runs: {e}"))?;
            ids.push(w.id().to_string());
        }
        Ok(ids)
    }
}

/// `host:port` or a URL, as a URL.
fn url(address: &str) -> anyhow::Result<temporalio_client::Url> {
    let text = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    text.parse()
        .map_err(|e| anyhow!("`[temporal] address = \"{address}\"` is not an address: {e}"))
}

/// The TLS options `[temporal]` asks for, if any.
fn tls(s: &TemporalSection) -> anyhow::Result<Option<temporalio_client::TlsOptions>> {
    let wanted =
        s.tls || s.ca_cert.is_some() || s.client_cert.is_some() || s.api_key_file.is_some();
    if !wanted {
        return Ok(None);
    }
    let read = |p: &std::path::PathBuf, what: &str| {
        std::fs::read(p).with_context(|| format!("cannot read [temporal] {what} {}", p.display()))
    };
    let mut tls = temporalio_client::TlsOptions::default();
    if let Some(ca) = &s.ca_cert {
        tls.server_root_ca_cert = Some(read(ca, "ca_cert")?);
    }
    tls.domain = s.server_name.clone();
    match (&s.client_cert, &s.client_key) {
        (Some(cert), Some(key)) => {
            let client = temporalio_client::ClientTlsOptions::builder()
                .client_cert(read(cert, "client_cert")?)
                .client_private_key(read(key, "client_key")?)
                .build();
            tls.client_tls_options = Some(client);
        }
        (None, None) => {}
        _ => {
            anyhow::bail!("[temporal] client_cert and client_key go together: give both or neither")
        }
    }
    Ok(Some(tls))
}

fn not_answering(id: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "run {id} does not answer: {e}; is a `baton worker` serving its queue, and is {id} a \
         Temporal run of this namespace?"
    )
}

/// A new run id: `t`, the UTC date and time, and a random tag (`t20261201-001234-k3f9qz`).
pub fn new_run_id() -> RunId {
    let mut jitter = crate::engine::policy::Jitter::from_entropy();
    let now = crate::store::Timestamp::now().rfc3339();
    RunId::stamped('t', &now, 6, || jitter.next_unit())
}

/// How long the CLI waits between looks at a run it follows.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(250);
