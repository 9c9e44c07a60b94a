//! `baton ls`, `baton show`, `baton logs`: read what the store holds.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::common::{self, Reach, Shown, human_ms};
use crate::engine::RunReader;
use crate::spec::StepId;
use crate::store::{LogLine, LogStream, RunId, RunRecord, RunState, StepStatus, StoreInUse};

/// `baton ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// One JSON object per run, in an array.
    #[arg(long)]
    pub json: bool,
    /// Show at most this many runs (newest first).
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
    /// Only runs in this state.
    #[arg(long, value_name = "STATE", value_parser = [
        "pending", "running", "paused", "succeeded", "failed", "cancelled", "interrupted",
    ])]
    pub state: Option<String>,
    /// Only runs of the workflow with this name.
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Only runs created within this long (e.g. `2h`, `7d`).
    #[arg(long, value_name = "AGE")]
    pub since: Option<crate::spec::Dur>,
}

impl LsArgs {
    /// Whether `run` passes the filters, at `now`.
    fn keeps(&self, run: &RunRecord, now: crate::store::Timestamp) -> bool {
        self.state
            .as_deref()
            .is_none_or(|s| run.state.as_str() == s)
            && self.workflow.as_deref().is_none_or(|w| run.workflow == w)
            && self
                .since
                .is_none_or(|d| now.millis_since(run.created_at) <= d.get().as_millis() as u64)
    }
}

/// `baton show`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The run id (a unique prefix is enough).
    pub run: String,
    /// The run, its steps, gates and outputs as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also the run's history: every transition, gate and decision, oldest first.
    #[arg(long)]
    pub events: bool,
}

/// `baton logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The run id (a unique prefix is enough).
    pub run: String,
    /// Only this step's lines.
    pub step: Option<String>,
    /// Keep printing new lines until the run stops (asking the baton that owns the store).
    #[arg(long, short)]
    pub follow: bool,
    /// Prefix each line with its time.
    #[arg(long, short)]
    pub timestamps: bool,
    /// Print the lines as they were captured, escape sequences included (for pipes); by
    /// default everything but colours is shown escaped (`^[]52;…`).
    #[arg(long)]
    pub raw: bool,
}

fn elapsed(run: &RunRecord) -> String {
    match run.finished_at.is_some() || run.state.is_active() {
        true => run.elapsed_ms(crate::time::Timestamp::now()),
        false => None,
    }
    .map(human_ms)
    .unwrap_or_else(|| "-".into())
}

/// `baton ls`.
pub fn ls(data_dir: Option<&Path>, args: LsArgs) -> anyhow::Result<i32> {
    let now = crate::store::Timestamp::now();
    let runs: Vec<RunRecord> = common::reader(data_dir)?
        .runs()?
        .into_iter()
        .filter(|r| args.keeps(r, now))
        .take(args.limit)
        .collect();
    let shown = Shown::stdout(false);
    if args.json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "workflow": r.workflow, "state": r.state,
                    "steps_done": r.steps_done, "steps_total": r.steps_total,
                    "created_at": r.created_at.rfc3339(),
                    "started_at": r.started_at.map(|t| t.rfc3339()),
                    "finished_at": r.finished_at.map(|t| t.rfc3339()),
                    "reason": r.reason,
                    "parent": r.parent.as_ref().map(|p| &p.run),
                })
            })
            .collect();
        outln!("{}", shown.json(serde_json::to_string_pretty(&rows)?));
        return Ok(0);
    }
    let filtered = args.state.is_some() || args.workflow.is_some() || args.since.is_some();
    if runs.is_empty() && filtered {
        outln!("no runs match these filters");
        return Ok(0);
    }
    if runs.is_empty() {
        outln!("no runs yet; start one with `baton run workflows/demo.yaml`");
        return Ok(0);
    }
    outln!(
        "{:<26} {:<12} {:<24} {:>9} {:>9}  CREATED",
        "RUN",
        "STATE",
        "WORKFLOW",
        "STEPS",
        "ELAPSED"
    );
    for r in &runs {
        outln!(
            "{:<26} {:<12} {:<24} {:>9} {:>9}  {}",
            r.id.0,
            r.state.as_str(),
            truncate(&shown.text(&r.workflow), 24),
            format!("{}/{}", r.steps_done, r.steps_total),
            elapsed(r),
            r.created_at.local(),
        );
    }
    Ok(0)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// `baton show RUN`.
pub fn show(data_dir: Option<&Path>, args: ShowArgs) -> anyhow::Result<i32> {
    let runs = common::reader(data_dir)?;
    let id = runs.resolve_run(&args.run)?;
    let detail = runs.run_detail(&id)?;
    let (run, steps, approvals) = (&detail.run, &detail.steps, &detail.approvals);
    let safe = Shown::stdout(false);
    if args.json {
        let outputs = runs.step_outputs(&id)?;
        let steps_json: Vec<_> = steps
            .iter()
            .map(|s| {
                let output = outputs.get(&s.step);
                json!({"record": s, "output": output.map(|o| &o.output), "outputs": output.map(|o| &o.outputs)})
            })
            .collect();
        let mut run_json = serde_json::to_value(run)?;
        if let Some(obj) = run_json.as_object_mut() {
            obj.remove("source");
        }
        let mut shown = json!({"run": run_json, "steps": steps_json, "approvals": approvals});
        if args.events {
            shown["events"] = serde_json::to_value(runs.events(&id)?)?;
        }
        outln!("{}", safe.json(serde_json::to_string_pretty(&shown)?));
        return Ok(0);
    }
    print_run(run, steps, &safe);
    print_steps(steps, &safe, runs.as_ref(), 0);
    for a in approvals {
        outln!();
        outln!("gate `{}`: {}", a.step, safe.text(&a.prompt));
        match &a.decision {
            Some(d) => outln!(
                "  {} by {} at {}{}",
                d.verb(),
                safe.text(&d.by),
                d.at.local(),
                d.comment
                    .as_deref()
                    .map(|c| format!(": {}", safe.text(c)))
                    .unwrap_or_default()
            ),
            None => outln!("  waiting since {}", a.requested_at.local()),
        }
    }
    if args.events {
        outln!();
        outln!("history (UTC)");
        for e in runs.events(&id)? {
            let at = e.ts.rfc3339();
            outln!(
                "  {}  {}",
                &at[..at.len() - 1].replace('T', " "),
                safe.text(&e.kind.describe())
            );
        }
    }
    Ok(0)
}

/// The run's summary and its step table's heading.
fn print_run(run: &RunRecord, steps: &[crate::store::StepRecord], safe: &Shown) {
    outln!("run       {}", run.id);
    outln!(
        "workflow  {}{}",
        safe.text(&run.workflow),
        run.workflow_path
            .as_deref()
            .map(|p| format!(" ({})", safe.text(p)))
            .unwrap_or_default()
    );
    outln!(
        "state     {}{}",
        run.state,
        run.reason
            .as_deref()
            .map(|r| format!(": {}", safe.text(r)))
            .unwrap_or_default()
    );
    outln!(
        "steps     {}/{} done, elapsed {}",
        steps.iter().filter(|s| s.status.is_terminal()).count(),
        run.steps_total,
        elapsed(run)
    );
    if !run.params.is_empty() {
        let params: Vec<String> = run.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        outln!("params    {}", safe.text(&params.join(" ")));
    }
    if let Some(parent) = &run.parent {
        outln!("parent    {} (step `{}`)", parent.run, parent.step);
    }
    outln!();
    outln!(
        "{:<20} {:<17} {:>8} {:>9}  DETAIL",
        "STEP",
        "STATUS",
        "ATTEMPT",
        "TIME"
    );
}

/// The step rows; a `workflow:` step's child run's rows follow it, indented (`depth` levels).
fn print_steps(
    steps: &[crate::store::StepRecord],
    safe: &Shown,
    runs: &dyn RunReader,
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    for s in steps {
        let detail = match s.status {
            StepStatus::Failed => s.error.clone().unwrap_or_default(),
            StepStatus::Skipped => s.skip_reason.clone().unwrap_or_default(),
            StepStatus::Retrying => s.error.clone().unwrap_or_default(),
            _ => {
                let mut parts = Vec::new();
                if let Some(c) = s.exit_code {
                    parts.push(format!("exit {c}"));
                }
                if let Some(p) = &s.metrics.provider {
                    parts.push(format!("{p}/{}", s.metrics.model.as_deref().unwrap_or("?")));
                }
                if let (Some(i), Some(o)) = (s.metrics.tokens_in, s.metrics.tokens_out) {
                    parts.push(format!("tokens {i}→{o}"));
                }
                if let Some(cost) = s.metrics.cost_usd {
                    parts.push(format!(
                        "cost {}",
                        crate::providers::price::show_cost(Some(cost))
                    ));
                }
                if s.approval_wait_ms > 0 {
                    parts.push(format!(
                        "waited {} for approval",
                        human_ms(s.approval_wait_ms)
                    ));
                }
                parts.join(", ")
            }
        };
        outln!(
            "{:<20} {:<17} {:>8} {:>9}  {}",
            truncate(&format!("{indent}{}", s.step), 20),
            s.status.as_str(),
            if s.attempt > 0 {
                format!("{}/{}", s.attempt, s.max_attempts)
            } else {
                "-".into()
            },
            s.duration_ms.map(human_ms).unwrap_or_else(|| "-".into()),
            safe.text(&detail)
        );
        print_items(s, safe);
        if let Some(child) = &s.child_run {
            match runs.run_detail(child) {
                Ok(detail) if depth < crate::spec::calls::MAX_DEPTH => {
                    outln!("{indent}  ↳ run {child} ({})", detail.run.state);
                    print_steps(&detail.steps, safe, runs, depth + 1);
                }
                _ => outln!("{indent}  ↳ run {child}"),
            }
        }
    }
}

/// A fan-out step's items, under its row: `[index] label`, status, attempt, time, detail.
fn print_items(s: &crate::store::StepRecord, safe: &Shown) {
    for (i, item) in s.items.iter().enumerate() {
        let name = format!("  [{i}] {}", safe.text(&item.label()));
        let time = match (item.started_at, item.finished_at) {
            (Some(a), Some(b)) => human_ms(b.millis_since(a)),
            _ => "-".into(),
        };
        let detail = match (&item.error, item.exit_code) {
            (Some(e), _) if item.status != StepStatus::Succeeded => safe.text(e).into_owned(),
            (_, Some(c)) => format!("exit {c}"),
            _ => String::new(),
        };
        outln!(
            "{:<20} {:<17} {:>8} {:>9}  {}",
            truncate(&name, 20),
            item.status.as_str(),
            if item.attempt > 0 {
                format!("{}/{}", item.attempt, s.max_attempts)
            } else {
                "-".into()
            },
            time,
            detail
        );
    }
}

fn print_line(line: &LogLine, all_steps: bool, timestamps: bool, shown: &Shown) {
    let ts = if timestamps {
        format!("{} ", line.ts.rfc3339())
    } else {
        String::new()
    };
    let step = if all_steps {
        format!("{:<14} ", line.step.0)
    } else {
        String::new()
    };
    let mark = match line.stream {
        LogStream::Stdout => "│",
        LogStream::Stderr => "!",
        LogStream::System => "·",
    };
    outln!("{ts}{step}{mark} {}", shown.line(&line.text));
}

/// `baton logs RUN [STEP] [--follow]`.
pub fn logs(data_dir: Option<&Path>, args: LogsArgs) -> anyhow::Result<i32> {
    let step = args.step.as_deref().map(StepId::from);
    if crate::temporal::is_run_id(&args.run) {
        return logs_from(&*common::reader(data_dir)?, &args, step.as_ref());
    }
    let mut reach = open_for_logs(data_dir)?;
    let id = reach.reader().resolve_run(&args.run)?;
    let shown = Shown::stdout(args.raw);
    if !args.follow || matches!(reach, Reach::Store(_)) {
        print_logs(reach.reader(), &id, step.as_ref(), args.timestamps, &shown)?;
        if args.follow {
            // This process could open the store, so nobody is running the run.
            errln!("(run {id} is not running anywhere; nothing more will come)");
        }
        return Ok(0);
    }
    let mut follower = Follower::default();
    loop {
        match follower.poll(reach.reader(), &id, step.as_ref(), args.timestamps, &shown) {
            Ok(Some(state)) => {
                errln!("(run {state})");
                return Ok(0);
            }
            Ok(None) => std::thread::sleep(FOLLOW_EVERY),
            // The owner went away (its run ended, say): read the store, or ask the next owner.
            Err(e) if matches!(reach, Reach::Owner(_)) => {
                reach = open_for_logs(data_dir).map_err(|_| e)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// `baton logs` of a run any reader reads (a Temporal run: no owner to reach, no store).
fn logs_from(runs: &dyn RunReader, args: &LogsArgs, step: Option<&StepId>) -> anyhow::Result<i32> {
    let id = runs.resolve_run(&args.run)?;
    let shown = Shown::stdout(args.raw);
    if !args.follow {
        print_logs(runs, &id, step, args.timestamps, &shown)?;
        return Ok(0);
    }
    let mut follower = Follower::default();
    loop {
        if let Some(state) = follower.poll(runs, &id, step, args.timestamps, &shown)? {
            errln!("(run {state})");
            return Ok(0);
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}

fn open_for_logs(data_dir: Option<&Path>) -> anyhow::Result<Reach> {
    match common::open_or_ask(data_dir) {
        Err(e) if e.downcast_ref::<StoreInUse>().is_some() => bail!(
            "{e:#}\n(its control socket does not answer, so its logs can be read once it stops)"
        ),
        other => other,
    }
}

/// Follows a run's log step by step: each step's lines are stored in the order of their seq,
/// but steps store theirs at different moments (a capped step's tail when it ends).
#[derive(Default)]
struct Follower {
    /// The last seq printed of each step.
    after: HashMap<StepId, u64>,
    /// Steps seen finished, then read to their end.
    done: HashSet<StepId>,
}

impl Follower {
    /// Prints what is new; returns the run's state once it is over and all of it is printed.
    fn poll(
        &mut self,
        runs: &dyn RunReader,
        id: &RunId,
        only: Option<&StepId>,
        timestamps: bool,
        shown: &Shown,
    ) -> anyhow::Result<Option<RunState>> {
        // Read before the lines: the owner stores a step's (and a run's) every line before
        // recording that it finished.
        let detail = runs
            .run_detail(id)
            .map_err(|e| e.context(format!("run {id} is gone (deleted by `baton gc`?)")))?;
        let run = &detail.run;
        let mut new = Vec::new();
        let mut after = Vec::new();
        for rec in &detail.steps {
            let finished = rec.status.is_terminal();
            if !finished {
                // Retried: it has lines to come again.
                self.done.remove(&rec.step);
            }
            let waiting = rec.status == StepStatus::Pending && self.after.contains_key(&rec.step);
            if only.is_some_and(|s| !is_or_has(s, &rec.step))
                || self.done.contains(&rec.step)
                || waiting
            {
                continue;
            }
            let mut last = self.after.get(&rec.step).copied().unwrap_or(0);
            loop {
                // One item (`deploy[2]`), or a step with its items' lines.
                let stream = only.unwrap_or(&rec.step);
                let page = runs.logs(id, Some(stream), last, 10_000)?;
                let Some(l) = page.last() else { break };
                last = l.seq;
                new.extend(page);
            }
            after.push((rec.step.clone(), last, finished));
        }
        // Only now, so that an owner gone in the middle leaves nothing half printed.
        new.sort_by_key(|l| l.seq);
        for line in &new {
            print_line(
                line,
                only.is_none_or(|s| *s != line.step),
                timestamps,
                shown,
            );
        }
        for (step, last, finished) in after {
            if finished {
                self.done.insert(step.clone());
            }
            self.after.insert(step, last);
        }
        Ok((!run.state.is_active()).then_some(run.state))
    }
}

/// Whether `only` (a step or one of its items, `deploy[2]`) is or is in `step`.
fn is_or_has(only: &StepId, step: &StepId) -> bool {
    only == step || crate::store::parse_item_key(only.as_str()).is_some_and(|(s, _)| s == *step)
}

/// How often `logs --follow` asks the owner for new lines (it stores them within 200 ms).
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Prints a run's lines (of one step if given), in seq order.
fn print_logs(
    runs: &dyn RunReader,
    id: &RunId,
    step: Option<&StepId>,
    timestamps: bool,
    shown: &Shown,
) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let page = runs.logs(id, step, after, 10_000)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.seq;
        for line in &page {
            // A fan-out step's lines come from its items: each says which.
            let prefixed = step.is_none_or(|s| *s != line.step);
            print_line(line, prefixed, timestamps, shown);
        }
    }
}
