//! Temporal runs through the one read API: [`Both`] reads local runs from the local reader and
//! Temporal runs (ids starting with `t`) from the cluster, so `ls` lists them side by side and
//! `show` and `logs` take either id. Reads are queries answered by a workflow worker (any
//! `baton worker` on the runs' queue), with the list from the server's visibility store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;

use super::client::Cluster;
use super::commands::view_of;
use super::driver::log_seq;
use super::is_run_id;
use super::settings::TemporalSection;
use crate::engine::{RunDetail, RunReader};
use crate::spec::StepId;
use crate::store::{Event, LogLine, RunId, RunRecord, StepOutput};

/// How many Temporal runs `ls` looks at.
const LISTED: usize = 200;
/// How long one run may take to answer before `ls` shows it without its figures.
const ANSWER: Duration = Duration::from_secs(3);

/// Local runs and Temporal runs, read as one.
pub struct Both {
    local: Arc<dyn RunReader>,
    settings: TemporalSection,
    rt: tokio::runtime::Runtime,
    /// Runs that ended, as they ended: they never change, so they are asked once.
    ended: Mutex<HashMap<String, RunRecord>>,
    /// A cluster that cannot be listed is said in baton's own log, not on stderr (a console
    /// draws there).
    quiet: bool,
    /// The connection, kept between calls (a console reads every few seconds); made again
    /// after a call through it failed.
    connected: Mutex<Option<Cluster>>,
}

impl Both {
    /// Reads local runs through `local`, and Temporal runs from the cluster `settings` name.
    pub fn new(local: Arc<dyn RunReader>, settings: TemporalSection) -> anyhow::Result<Both> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Both {
            local,
            settings,
            rt,
            ended: Mutex::new(HashMap::new()),
            quiet: false,
            connected: Mutex::new(None),
        })
    }

    /// Says a cluster that cannot be listed in baton's own log only.
    pub fn quiet(mut self) -> Both {
        self.quiet = true;
        self
    }

    /// Runs `f` against the cluster, through the kept connection or a new one.
    pub(super) fn on_cluster<T>(
        &self,
        f: impl AsyncFnOnce(&Cluster) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let kept = self.connected.lock().ok().and_then(|c| c.clone());
        self.rt.block_on(async {
            let cluster = match kept {
                Some(c) => c,
                None => Cluster::connect(&self.settings).await?,
            };
            let result = f(&cluster).await;
            if let Ok(mut slot) = self.connected.lock() {
                *slot = result.is_ok().then_some(cluster);
            }
            result
        })
    }

    fn detail(&self, id: &RunId) -> anyhow::Result<RunDetail> {
        self.on_cluster(async |c| Ok(view_of(c, id.as_str()).await?.detail))
    }

    /// The Temporal runs, newest first, each as its workflow answers (or as the list shows
    /// it, when no worker answers in time). Runs are asked all at once, so the list takes at
    /// most [`ANSWER`]; one that ended is asked only the first time.
    fn temporal_runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        let known = self.ended.lock().map(|m| m.clone()).unwrap_or_default();
        let runs = self.on_cluster(async |c| {
            let ids = c.list(LISTED).await?;
            let asked = ids.iter().map(|id| async {
                if let Some(run) = known.get(id) {
                    return run.clone();
                }
                match tokio::time::timeout(ANSWER, c.view(id)).await {
                    Ok(Ok(Some(view))) => view.detail.run,
                    _ => unanswered(id),
                }
            });
            Ok(futures::future::join_all(asked).await)
        })?;
        if let Ok(mut ended) = self.ended.lock() {
            for run in runs.iter().filter(|r| r.state.is_terminal()) {
                ended.insert(run.id.0.clone(), run.clone());
            }
        }
        Ok(runs)
    }
}

/// A run the list names but whose workflow did not answer.
fn unanswered(id: &str) -> RunRecord {
    RunRecord {
        id: RunId(id.to_string()),
        workflow: "(no worker answered)".into(),
        workflow_path: None,
        source: String::new(),
        params: Default::default(),
        workdir: None,
        state: crate::store::RunState::Pending,
        created_at: crate::store::Timestamp(0),
        started_at: None,
        finished_at: None,
        owner: None,
        reason: None,
        steps_total: 0,
        steps_done: 0,
        stopped: Default::default(),
        parent: None,
    }
}

/// The lines of a run's ended steps, and the tails of its running ones (numbered as they
/// will be once their steps end: see `driver::log_seq`).
async fn all_lines(c: &Cluster, run: &str) -> anyhow::Result<Vec<LogLine>> {
    let mut lines = c.logs(run).await?;
    let view = view_of(c, run).await?;
    for progress in c.running(run).await.unwrap_or_default() {
        let Some(rec) = view.detail.steps.get(progress.idx) else {
            continue;
        };
        let step = match progress.item {
            Some(item) => crate::store::item_key(&rec.step, item),
            None => rec.step.clone(),
        };
        let base = view.log_base.get(&step.0).copied().unwrap_or(0);
        let slot = (progress.idx, progress.item);
        lines.extend(progress.tail.into_iter().map(|l| LogLine {
            seq: log_seq(slot, base + l.seq),
            step: step.clone(),
            ..l
        }));
    }
    Ok(lines)
}

impl RunReader for Both {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        let mut all = self.local.runs()?;
        match self.temporal_runs() {
            Ok(more) => all.extend(more),
            Err(e) if self.quiet => tracing::warn!("Temporal runs are not listed: {e:#}"),
            Err(e) => crate::errln!("baton: Temporal runs are not listed: {e:#}"),
        }
        all.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(all)
    }

    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        if is_run_id(id_or_prefix) {
            return Ok(RunId(id_or_prefix.to_string()));
        }
        self.local.resolve_run(id_or_prefix)
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        if !is_run_id(id.as_str()) {
            return self.local.run(id);
        }
        Ok(self.detail(id)?.run)
    }

    fn run_detail(&self, id: &RunId) -> anyhow::Result<RunDetail> {
        if !is_run_id(id.as_str()) {
            return self.local.run_detail(id);
        }
        self.detail(id)
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        if !is_run_id(run.as_str()) {
            return self.local.step_output(run, step);
        }
        Ok(self.step_outputs(run)?.remove(step))
    }

    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>> {
        if !is_run_id(run.as_str()) {
            return self.local.step_outputs(run);
        }
        let view = self.on_cluster(async |c| view_of(c, run.as_str()).await)?;
        Ok(view
            .outputs
            .into_iter()
            .map(|(k, v)| (StepId(k), v))
            .collect())
    }

    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        if !is_run_id(run.as_str()) {
            return self.local.logs(run, step, after, limit);
        }
        let lines = self.on_cluster(async |c| all_lines(c, run.as_str()).await)?;
        let mut lines: Vec<LogLine> = lines
            .into_iter()
            .filter(|l| l.seq > after && step.is_none_or(|s| &l.step == s))
            .collect();
        lines.sort_by_key(|l| l.seq);
        lines.truncate(limit);
        Ok(lines)
    }

    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        if !is_run_id(run.as_str()) {
            return self.local.tail_logs(run, step, limit);
        }
        let mut lines = self.logs(run, step, 0, usize::MAX)?;
        let cut = lines.len().saturating_sub(limit);
        Ok(lines.split_off(cut))
    }

    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        if !is_run_id(run.as_str()) {
            return self.local.events(run);
        }
        Err(anyhow!(
            "run {run} runs on Temporal: its history is the workflow's, `temporal workflow show \
             --workflow-id {run}` prints it"
        ))
    }
}
