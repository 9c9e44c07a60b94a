//! A dry run: every step of a workflow rendered the way a run renders it (the pipeline's own
//! `prepare`) — the exact shell command, HTTP request, agent prompt and tools, sub-workflow call
//! — in DAG order, with `when:` evaluated where it can be and upstream results shown as
//! placeholders (`⟨steps.build.output⟩`). Nothing is executed and no store is opened: what it
//! needs is handed in. Secrets are masked in every line.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use super::pipeline::render::{Action, Prepared, StepView, prepare};
use super::secrets::RunSecrets;
use crate::secrets::Redactor;
use crate::spec::validate::step_references;
use crate::spec::{Dag, Step, Templates, Workflow};

/// What a dry run is given.
pub struct DryRun<'a> {
    /// The workflow, validated.
    pub workflow: &'a Workflow,
    /// Its params, resolved (defaults filled in).
    pub params: IndexMap<String, Value>,
    /// The run's secrets (`secrets:`, `env_file:`), masked in what is shown.
    pub secrets: RunSecrets,
    /// Other values to mask (provider keys).
    pub masked: Vec<String>,
    /// Where its shell steps would run.
    pub workdir: Option<PathBuf>,
    /// Hosts of `on:` steps.
    pub ssh: &'a crate::remote::Ssh,
    /// Where a `workflow:` step's bare name is looked up.
    pub workflow_dirs: &'a [PathBuf],
}

/// One step, as a dry run shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DryStep {
    /// Its id.
    pub id: String,
    /// Its kind's key.
    pub kind: &'static str,
    /// Whether it would run.
    pub verdict: Verdict,
    /// What it would do, line by line (secrets masked).
    pub lines: Vec<String>,
}

impl DryStep {
    /// Its heading, numbered `n`: `2. build (run) — runs if …`.
    pub fn heading(&self, n: usize) -> String {
        let verdict = match &self.verdict {
            Verdict::Runs => String::new(),
            Verdict::RunsIf(expr) => format!(" — runs if {expr}"),
            Verdict::Skipped(why) => format!(" — skipped: {why}"),
            Verdict::Unrendered(why) => format!(" — cannot be shown before a run: {why}"),
        };
        format!("{n}. {} ({}){verdict}", self.id, self.kind)
    }
}

/// Whether a step would run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It runs (its `when:`, if any, is true).
    Runs,
    /// Its `when:` reads upstream results: it runs if the expression holds then.
    RunsIf(String),
    /// Its `when:` is false: skipped, with the reason.
    Skipped(String),
    /// It cannot be rendered before a run (e.g. a filter on a placeholder): why.
    Unrendered(String),
}

/// The run id templates see in a dry run (`run.id`, `BATON_RUN_ID`).
pub const DRY_RUN_ID: &str = "dry-run";

impl DryRun<'_> {
    /// Every step, in DAG order (level by level; handlers last).
    pub fn steps(&self) -> Vec<DryStep> {
        let templates = Templates::new();
        let redactor = Redactor::new(
            self.masked
                .iter()
                .cloned()
                .chain(self.secrets.0.values().cloned()),
        );
        let dag = Dag::new(self.workflow);
        let mut order: Vec<usize> = dag.levels().iter().flatten().copied().collect();
        order.sort_by_key(|&i| self.workflow.steps[i].handler.is_some());
        order
            .into_iter()
            .map(|idx| {
                let mut shown = self.step(&templates, idx);
                shown.lines = shown
                    .lines
                    .iter()
                    .map(|l| redactor.redact(l).into_owned())
                    .collect();
                if let Verdict::Unrendered(why) | Verdict::Skipped(why) = &mut shown.verdict {
                    *why = redactor.redact(why).into_owned();
                }
                shown
            })
            .collect()
    }

    fn step(&self, templates: &Templates, idx: usize) -> DryStep {
        let step = &self.workflow.steps[idx];
        let ctx = self.context(templates, step);
        let mut shown = DryStep {
            id: step.id.to_string(),
            kind: step.kind.key(),
            verdict: Verdict::Runs,
            lines: Vec::new(),
        };
        if let Some(expr) = &step.when {
            let upstream = templates
                .expression_references(expr)
                .is_ok_and(|refs| refs.iter().any(|r| r.root == "steps"));
            shown.verdict = match templates.eval_when(expr, &ctx) {
                _ if upstream => Verdict::RunsIf(expr.clone()),
                Ok(true) => Verdict::Runs,
                Ok(false) => Verdict::Skipped(format!("`when` is false: {expr}")),
                Err(e) => Verdict::Unrendered(format!("when: {e}")),
            };
            if matches!(shown.verdict, Verdict::Skipped(_)) {
                return shown;
            }
        }
        let view = StepView {
            templates,
            workflow: self.workflow,
            idx,
            ctx: &ctx,
            run: DRY_RUN_ID,
            workdir: self.workdir.as_deref(),
            ssh: self.ssh,
            workflow_dirs: self.workflow_dirs,
        };
        match prepare(&view) {
            Ok(prepared) => shown.lines = describe(step, &prepared),
            Err(e) => shown.verdict = Verdict::Unrendered(e),
        }
        shown
    }

    /// The context `step` renders with: params, env, secrets and run as a run has them; each
    /// upstream result it reads a placeholder naming it; a fan-out's `item` one too.
    fn context(&self, templates: &Templates, step: &Step) -> Value {
        let mut steps = Map::new();
        for r in step_references(templates, step) {
            if r.root == "steps" && !r.path.is_empty() {
                let name = format!("⟨{r}⟩");
                place(&mut steps, &r.path, Value::String(name));
            }
        }
        let secrets: Map<String, Value> = self
            .secrets
            .0
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut ctx = json!({
            "params": self.params,
            "env": self.workflow.env,
            "secrets": secrets,
            "run": {
                "id": DRY_RUN_ID,
                "workflow": self.workflow.name,
                "started_at": crate::time::Timestamp::now().rfc3339(),
                "status": "⟨run.status⟩",
                "failed_steps": [],
                "error": "⟨run.error⟩",
            },
            "steps": steps,
        });
        if step.for_each.is_some() {
            ctx["item"] = json!("⟨item⟩");
            ctx["item_index"] = json!("⟨item_index⟩");
        }
        ctx
    }
}

/// Every step of the workflow file `file` as a dry run shows it, with params `given` (defaults
/// filled in), the hosts and provider keys of `config`, and `workflow:` calls looked up in
/// `dirs`. Reads files only; runs nothing and opens no store.
pub fn render_file(
    file: &std::path::Path,
    given: &IndexMap<String, Value>,
    config: &crate::config::ConfigFile,
    dirs: &[PathBuf],
) -> anyhow::Result<Vec<DryStep>> {
    let source = crate::spec::read_source(file).map_err(|d| anyhow::anyhow!("{d}"))?;
    let wf = crate::spec::parse_str(&source, file).map_err(|d| anyhow::anyhow!("{d}"))?;
    let problems = crate::spec::check_calls(&wf, dirs);
    if !problems.is_empty() {
        anyhow::bail!("{}", crate::spec::Diagnostics(problems));
    }
    let params = crate::spec::resolve_params(&wf, given)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let workdir = std::env::current_dir().ok();
    let env = &crate::providers::process_env;
    let secrets = RunSecrets::resolve(
        &wf,
        Some(&file.display().to_string()),
        &source,
        workdir.as_deref().and_then(std::path::Path::to_str),
        env,
    )?;
    let ssh = crate::remote::Ssh::new(config.hosts.clone(), config.ssh.clone(), None);
    let dry = DryRun {
        workflow: &wf,
        params,
        secrets,
        masked: crate::providers::secrets(&config.providers, env),
        workdir,
        ssh: &ssh,
        workflow_dirs: dirs,
    };
    Ok(dry.steps())
}

/// Sets `path` in `map` to `leaf`, making objects on the way; a deeper path wins over a leaf.
fn place(map: &mut Map<String, Value>, path: &[std::borrow::Cow<'_, str>], leaf: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        map.entry(first.as_ref()).or_insert(leaf);
        return;
    }
    let entry = map
        .entry(first.as_ref())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        place(inner, rest, leaf);
    }
}

/// Header names whose values are credentials whatever they hold.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
];

/// What a rendered step would do, line by line.
fn describe(step: &Step, prepared: &Prepared) -> Vec<String> {
    let action = match prepared {
        Prepared::Approval(q) => {
            let mut lines = vec![format!("asks: {}", q.prompt)];
            lines.extend(q.inputs.iter().map(|(k, v)| format!("input {k} = {v}")));
            return lines;
        }
        Prepared::Action(action) => action,
    };
    match action {
        Action::Shell(c) => {
            let mut lines = vec![match &c.on {
                Some(host) => format!("on {}: $ {}", host.name, c.command),
                None => format!("$ {}", c.command),
            }];
            if let Some(cwd) = &c.cwd {
                lines.push(format!("in {}", cwd.display()));
            }
            let env: Vec<String> = c
                .env
                .iter()
                .filter(|(k, _)| !k.starts_with("BATON_"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !env.is_empty() {
                lines.push(format!("env {}", env.join(" ")));
            }
            lines
        }
        Action::Http(r) => {
            let mut lines = vec![format!("{} {}", r.method, r.url)];
            for (name, value) in &r.headers {
                let credential = CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str());
                lines.push(format!(
                    "{name}: {}",
                    if credential { "***" } else { value }
                ));
            }
            if let Some(json) = &r.json {
                lines.extend(pretty(json).lines().map(str::to_string));
            }
            if let Some(text) = &r.text {
                lines.extend(text.lines().map(str::to_string));
            }
            lines
        }
        Action::Agent { spec, prompt, .. } => {
            let mut head = format!("agent {}", spec.agent);
            if let Some(p) = &spec.provider {
                head.push_str(&format!(" via {p}"));
            }
            if let Some(m) = &spec.model {
                head.push_str(&format!(" model {m}"));
            }
            let mut lines = vec![head];
            if !spec.tools.is_empty() {
                let tools: Vec<&str> = spec.tools.iter().map(|t| t.name.as_str()).collect();
                lines.push(format!("tools: {}", tools.join(", ")));
            }
            lines.extend(prompt.lines().map(|l| format!("> {l}")));
            lines
        }
        Action::Workflow(call) => vec![format!(
            "workflow {} with params {}",
            call.path.display(),
            Value::Object(call.params.clone().into_iter().collect())
        )],
        Action::Value(_) | Action::Sleep(_) => vec![action.describe()],
    }
    .into_iter()
    .chain(for_each_line(step))
    .collect()
}

fn for_each_line(step: &Step) -> Option<String> {
    step.for_each
        .as_ref()
        .map(|_| "once for each item of its `for_each:` list (⟨item⟩)".to_string())
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
