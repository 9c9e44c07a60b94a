//! The command line's way onto Temporal: `baton run FILE --temporal` (start, then follow the
//! run until it ends), `cancel`/`pause`/`resume`/`approve`/`reject` of a Temporal run, and
//! `baton worker`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};

use super::Op;
use super::client::{Cluster, FOLLOW_EVERY, new_run_id};
use super::settings::TemporalSection;
use super::wire::{DecideRequest, RunInput, RunView};
use crate::cli::common::Shown;
use crate::config::{ConfigFile, Paths};
use crate::store::{Decision, EventKind, RunState, StepStatus, Timestamp};

/// The `[temporal]` section of the config file.
pub fn settings(data_dir: Option<&Path>) -> anyhow::Result<TemporalSection> {
    let paths = Paths::resolve(data_dir)?;
    Ok(ConfigFile::load(&paths.config_file())?.temporal)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    crate::cli::common::runtime()
}

/// `baton run FILE --temporal`: validates here, starts the run, follows it to its end.
pub fn run_file(data_dir: Option<&Path>, args: &crate::cli::run::RunArgs) -> anyhow::Result<i32> {
    let settings = settings(data_dir)?;
    let params = crate::cli::run::parse_params(&args.params)?;
    let request = crate::engine::request_from_file(&args.file, params)?;
    let wf = crate::spec::parse_str(&request.source, &args.file).map_err(|d| anyhow!("{d}"))?;
    let params = crate::spec::resolve_params(&wf, &request.params)
        .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let input = RunInput {
        source: request.source,
        path: Some(args.file.display().to_string()),
        params,
        workdir: None,
        queue: settings.task_queue().to_string(),
        log_limit: settings.log_limit(),
        grace_ms: settings.grace.map_or(5_000, |g| g.get().as_millis() as u64),
        parent: None,
    };
    super::driver::parse(&input).map_err(|why| anyhow!("{why}"))?;
    let rt = runtime()?;
    rt.block_on(async {
        let cluster = Cluster::connect(&settings).await?;
        let id = new_run_id();
        cluster.start(&id, input).await?;
        crate::outln!(
            "run {id} started on Temporal ({}, queue {})",
            settings.address(),
            settings.task_queue()
        );
        if args.detach {
            return Ok(0);
        }
        let approving = Approving {
            all: args.follow.approve_all,
            steps: args.follow.approve.clone(),
        };
        follow(&cluster, id.as_str(), &approving).await
    })
}

/// The gates `baton run --approve STEP` / `--approve-all` decide as they open.
struct Approving {
    all: bool,
    steps: Vec<String>,
}

impl Approving {
    fn covers(&self, step: &str) -> bool {
        self.all || self.steps.iter().any(|s| s == step)
    }
}

/// Prints each step's transitions until the run ends, approving the gates `approving` covers
/// (as the OS user running this, recorded in the history); exit 0 when it succeeded.
async fn follow(cluster: &Cluster, id: &str, approving: &Approving) -> anyhow::Result<i32> {
    let shown = Shown::stdout(false);
    let mut seen: HashMap<String, (StepStatus, u32)> = HashMap::new();
    let mut gates_seen = 0;
    loop {
        let view = match cluster.view(id).await {
            Ok(Some(view)) => view,
            // Not started yet, its workflow worker is between tasks, or it ended before its
            // run could begin (said by the server).
            Ok(None) | Err(_) => {
                if let Some(why) = cluster.ended_early(id).await {
                    crate::errln!("run {id}: {why}");
                    return Ok(1);
                }
                tokio::time::sleep(FOLLOW_EVERY).await;
                continue;
            }
        };
        for rec in &view.detail.steps {
            let now = (rec.status, rec.attempt);
            if rec.status != StepStatus::Pending && seen.get(&rec.step.0) != Some(&now) {
                seen.insert(rec.step.0.clone(), now);
                let line = EventKind::Step {
                    record: Box::new(rec.clone()),
                }
                .describe();
                crate::outln!("{}", shown.text(&line));
            }
        }
        for gate in view.detail.approvals.iter().skip(gates_seen) {
            gates_seen += 1;
            if gate.decision.is_some() {
                continue;
            }
            if !approving.covers(gate.step.as_str()) {
                crate::outln!(
                    "gate `{}`: {} (baton approve {id} {})",
                    gate.step,
                    shown.text(&gate.prompt),
                    gate.step
                );
                continue;
            }
            let operator = crate::identity::Operator::current();
            let flag = if approving.all {
                "--approve-all"
            } else {
                "--approve"
            };
            let decision = Decision {
                approved: true,
                by: operator.name.clone(),
                uid: Some(operator.uid),
                at: Timestamp::now(),
                comment: Some(format!("approved with {flag}")),
                inputs: Default::default(),
            };
            let request = DecideRequest {
                step: gate.step.0.clone(),
                decision,
            };
            cluster.decide(id, request).await?;
            crate::outln!(
                "gate `{}`: {} approved by {} ({flag})",
                gate.step,
                shown.text(&gate.prompt),
                operator.name
            );
        }
        let run = &view.detail.run;
        if run.state.is_terminal() {
            let why = run
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            crate::outln!("run {id} {}{}", run.state.as_str(), shown.text(&why));
            return Ok(if run.state == RunState::Succeeded {
                0
            } else {
                1
            });
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// `baton cancel|pause|resume|approve|reject RUN` for a Temporal run.
pub fn command(data_dir: Option<&Path>, run: &str, op: Op) -> anyhow::Result<i32> {
    let settings = settings(data_dir)?;
    let rt = runtime()?;
    rt.block_on(async {
        let cluster = Cluster::connect(&settings).await?;
        let said = apply(&cluster, run, op, &crate::identity::Operator::current()).await?;
        crate::outln!("{said}");
        Ok(0)
    })
}

/// Carries out `op` on run `run` as `operator` (the OS user of this process or, for a
/// console's command, of the console); what happened, for people.
pub async fn apply(
    cluster: &Cluster,
    run: &str,
    op: Op,
    operator: &crate::identity::Operator,
) -> anyhow::Result<String> {
    Ok(match op {
        Op::Cancel => {
            cluster.cancel(run).await?;
            format!("run {run} cancelling: its steps are stopped on their workers")
        }
        Op::Pause => {
            cluster.freeze(run, true).await?;
            format!("run {run} pausing; `baton resume {run}` continues it")
        }
        Op::Resume => {
            cluster.freeze(run, false).await?;
            format!("run {run} resuming")
        }
        Op::Decide {
            step,
            approved,
            comment,
            inputs,
        } => {
            let decision = Decision {
                approved,
                by: operator.name.clone(),
                uid: Some(operator.uid),
                at: Timestamp::now(),
                comment,
                inputs,
            };
            let request = DecideRequest {
                step: step.clone(),
                decision,
            };
            let verb = cluster.decide(run, request).await?;
            format!("step `{step}` of run {run} {verb}")
        }
    })
}

/// The run's view, for readers.
pub async fn view_of(cluster: &Cluster, run: &str) -> anyhow::Result<RunView> {
    cluster
        .view(run)
        .await?
        .ok_or_else(|| anyhow!("run {run} has not started yet"))
}

/// `baton worker --queue …`: serves the queues until SIGINT or SIGTERM.
pub fn worker(data_dir: Option<&Path>, queues: &[String]) -> anyhow::Result<i32> {
    let paths = Paths::resolve(data_dir)?;
    let config = ConfigFile::load(&paths.config_file())?;
    let settings = config.temporal.clone();
    let mut queues: Vec<String> = queues.to_vec();
    if queues.is_empty() {
        queues.push(settings.task_queue().to_string());
    }
    let ssh = crate::remote::Ssh::new(config.hosts.clone(), config.ssh.clone(), Some(&paths.data));
    // Agent steps use this worker's providers and profiles (their keys never leave it).
    let env = &crate::providers::process_env;
    let (catalog, problems) = crate::agents::AgentCatalog::load(Some(&paths.agents_dir()));
    for p in problems {
        crate::errln!("warning: {p}");
    }
    let mcp_servers = crate::mcp::configured(&config.mcp_servers, &paths.config_file())
        .map_err(|e| anyhow!("{e}"))?;
    let mut secrets = crate::providers::secrets(&config.providers, env);
    secrets.extend(crate::mcp::secret_values(&mcp_servers, env));
    let llm = std::sync::Arc::new(crate::steps::agent::LlmRuntime {
        router: crate::providers::Router::from_config(&config.providers, env),
        catalog,
        mcp_servers,
    });
    let rt = runtime()?;
    let local = tokio::task::LocalSet::new();
    local
        .block_on(
            &rt,
            super::serve::serve(settings, queues, ssh, Some(llm), secrets),
        )
        .context("baton worker")
}

/// The local reader with the Temporal runs of `[temporal]` beside it, when it is configured.
pub fn reader_with(
    data_dir: Option<&Path>,
    local: Box<dyn crate::engine::RunReader>,
) -> anyhow::Result<Box<dyn crate::engine::RunReader>> {
    let settings = settings(data_dir)?;
    if !settings.is_configured() {
        return Ok(local);
    }
    Ok(Box::new(super::reader::Both::new(
        Arc::from(local),
        settings,
    )?))
}
