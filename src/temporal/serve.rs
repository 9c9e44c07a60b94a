//! A `baton worker`'s life: one SDK worker per task queue — each runs steps (`baton.step`),
//! and the one on the runs' own queue runs their workflow code too — until SIGINT or SIGTERM,
//! then a graceful shutdown (steps in flight are cancelled: their process groups get
//! SIGTERM, then SIGKILL after the grace).

use std::sync::Arc;

use anyhow::anyhow;
use temporalio_sdk::{Runtime, Worker as SdkWorker, WorkerOptions};

use super::activity::StepActivities;
use super::client::Cluster;
use super::settings::TemporalSection;
use super::step::Worker;
use super::workflow::BatonRun;

/// Serves `queues` until a signal; runs on a `LocalSet` (the SDK's workers are not `Send`).
pub async fn serve(
    settings: TemporalSection,
    queues: Vec<String>,
    ssh: crate::remote::Ssh,
    llm: Option<Arc<crate::steps::agent::LlmRuntime>>,
    secrets: Vec<String>,
) -> anyhow::Result<i32> {
    let runtime = Runtime::from_current_tokio(Default::default())
        .map_err(|e| anyhow!("cannot start the Temporal runtime: {e}"))?;
    let cluster = Cluster::connect(&settings).await?;
    let identity = format!("{}@{}", std::process::id(), crate::identity::host_name());
    let shared = Arc::new(Worker {
        templates: crate::spec::Templates::new(),
        groups: Arc::default(),
        ssh: Arc::new(ssh),
        identity: identity.clone(),
        max_line: 64 << 10,
        llm,
        secrets,
    });
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for queue in &queues {
        let mut options = WorkerOptions::new(queue.clone())
            .client_identity_override(identity.clone())
            .register_activities(StepActivities {
                worker: shared.clone(),
            });
        if queue == settings.task_queue() {
            options = options
                .register_workflow::<BatonRun>()
                .map_err(|e| anyhow!("cannot register the baton.run workflow: {e}"))?;
        }
        let mut worker = SdkWorker::new(&runtime, cluster.client.clone(), options.build())
            .map_err(|e| anyhow!("cannot serve queue `{queue}`: {e}"))?;
        handles.push(worker.shutdown_handle());
        let queue = queue.clone();
        tasks.push(tokio::task::spawn_local(async move {
            worker
                .run()
                .await
                .map_err(|e| anyhow!("queue `{queue}`: {e}"))
        }));
    }
    crate::errln!(
        "baton worker {identity}: polling {} on {} (namespace {})",
        queues.join(", "),
        settings.address(),
        settings.namespace()
    );
    let mut stop = Box::pin(stop_signal());
    let mut all = Box::pin(async {
        let mut first_error = None;
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(e) => first_error = first_error.or(Some(anyhow!("a worker task failed: {e}"))),
            }
        }
        first_error
    });
    tokio::select! {
        _ = &mut stop => {
            crate::errln!("baton worker {identity}: stopping");
            for h in &handles {
                h();
            }
            if let Some(e) = all.await {
                return Err(e);
            }
            shared.groups.kill_all();
            Ok(0)
        }
        failed = &mut all => match failed {
            Some(e) => Err(e),
            None => Ok(0),
        },
    }
}

/// Resolves at SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
