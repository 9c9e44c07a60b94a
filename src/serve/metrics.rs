//! `GET /metrics`: the store's runs and steps, and the engine's live figures, in Prometheus'
//! text exposition format (version 0.0.4), computed at each scrape from the records (so a
//! restart loses nothing): runs by workflow and state, step durations and gate waits as
//! histograms, retries, LLM tokens and cost by provider, and the steps waiting for a slot.

use std::collections::BTreeMap;
use std::fmt::Write;

use indexmap::IndexMap;

use crate::engine::{Engine, RunDetail, RunReader};
use crate::providers::price::{Price, price_of};
use crate::providers::types::Usage;

/// Upper bounds (seconds) of the step duration histogram.
const STEP_BUCKETS: [f64; 10] = [0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];
/// Upper bounds (seconds) of the gate wait histogram.
const GATE_BUCKETS: [f64; 8] = [1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 14_400.0, 86_400.0];

/// The exposition for everything in `engine`'s store; `prices` are the configured ones.
pub fn collect(engine: &Engine, prices: &IndexMap<String, Price>) -> anyhow::Result<String> {
    let mut details = Vec::new();
    for run in engine.runs()? {
        match engine.run_detail(&run.id) {
            Ok(d) => details.push(d),
            Err(e) => tracing::warn!("metrics: run {} is unreadable: {e:#}", run.id),
        }
    }
    let live = Live {
        // From the records, as the API shows them: a run whose end is written is not active,
        // though its driver may take a moment more to let go.
        active_runs: details.iter().filter(|d| d.run.state.is_active()).count(),
        waiting_for_slot: engine.steps_waiting_for_slot(),
        store: engine.store().write_counts(),
    };
    Ok(render(&details, live, prices))
}

/// What only the running engine knows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    /// Runs under way (pending, running or paused), as their records say.
    pub active_runs: usize,
    /// Steps ready to run but waiting for a slot of the global limit.
    pub waiting_for_slot: usize,
    /// What this process has written to the store since it opened it.
    pub store: crate::store::WriteCounts,
}

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, b) in bounds.iter().enumerate() {
            if value <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }
}

/// Labels in a fixed order: `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Figures {
    runs: BTreeMap<Labels, u64>,
    steps: BTreeMap<Labels, Histogram>,
    retries: BTreeMap<Labels, u64>,
    gates: BTreeMap<Labels, Histogram>,
    tokens: BTreeMap<Labels, u64>,
    cost: BTreeMap<Labels, f64>,
}

/// The exposition of `runs` and the live figures.
pub fn render(runs: &[RunDetail], live: Live, prices: &IndexMap<String, Price>) -> String {
    let mut f = Figures::default();
    for d in runs {
        let wf = d.run.workflow.clone();
        *f.runs
            .entry(vec![
                ("workflow", wf.clone()),
                ("state", d.run.state.to_string()),
            ])
            .or_default() += 1;
        for s in &d.steps {
            let by_kind = vec![("workflow", wf.clone()), ("kind", s.kind.clone())];
            if let Some(ms) = s.duration_ms {
                f.steps
                    .entry(by_kind.clone())
                    .or_default()
                    .observe(&STEP_BUCKETS, ms as f64 / 1000.0);
            }
            if s.attempt > 1 {
                *f.retries.entry(by_kind).or_default() += u64::from(s.attempt - 1);
            }
            if s.approval_wait_ms > 0 {
                f.gates
                    .entry(vec![("workflow", wf.clone())])
                    .or_default()
                    .observe(&GATE_BUCKETS, s.approval_wait_ms as f64 / 1000.0);
            }
            count_llm(&mut f, &s.metrics, prices);
        }
    }
    let mut out = String::new();
    family(
        &mut out,
        "baton_runs",
        "gauge",
        "Runs in the store, by workflow and state.",
    );
    for (labels, n) in &f.runs {
        sample(&mut out, "baton_runs", labels, *n as f64);
    }
    family(
        &mut out,
        "baton_active_runs",
        "gauge",
        "Runs active in this process.",
    );
    sample(
        &mut out,
        "baton_active_runs",
        &Vec::new(),
        live.active_runs as f64,
    );
    family(
        &mut out,
        "baton_steps_waiting_for_slot",
        "gauge",
        "Steps ready to run but waiting for a slot of the global step limit.",
    );
    sample(
        &mut out,
        "baton_steps_waiting_for_slot",
        &Vec::new(),
        live.waiting_for_slot as f64,
    );
    for (name, help, n) in [
        (
            "baton_store_journal_commits_total",
            "Batches of run transitions this process has written to the store, one sled operation each.",
            live.store.journal_commits,
        ),
        (
            "baton_store_flushes_total",
            "fsyncs of the store by this process, each covering every write made before it.",
            live.store.flushes,
        ),
    ] {
        family(&mut out, name, "counter", help);
        sample(&mut out, name, &Vec::new(), n as f64);
    }
    histograms(
        &mut out,
        "baton_step_duration_seconds",
        "How long steps took, by workflow and kind.",
        &STEP_BUCKETS,
        &f.steps,
    );
    family(
        &mut out,
        "baton_step_retries_total",
        "counter",
        "Attempts beyond the first, by workflow and kind.",
    );
    for (labels, n) in &f.retries {
        sample(&mut out, "baton_step_retries_total", labels, *n as f64);
    }
    histograms(
        &mut out,
        "baton_gate_wait_seconds",
        "How long gates waited for a decision, by workflow.",
        &GATE_BUCKETS,
        &f.gates,
    );
    family(
        &mut out,
        "baton_llm_tokens_total",
        "counter",
        "LLM tokens, by provider and direction (in: prompt, out: answer).",
    );
    for (labels, n) in &f.tokens {
        sample(&mut out, "baton_llm_tokens_total", labels, *n as f64);
    }
    family(
        &mut out,
        "baton_llm_cost_dollars_total",
        "counter",
        "What LLM calls cost in US dollars, by provider (calls to models of unknown price left out).",
    );
    for (labels, c) in &f.cost {
        sample(&mut out, "baton_llm_cost_dollars_total", labels, *c);
    }
    out
}

fn count_llm(f: &mut Figures, m: &crate::store::StepMetrics, prices: &IndexMap<String, Price>) {
    let Some(provider) = m.provider.clone() else {
        return;
    };
    let (tokens_in, tokens_out) = (m.tokens_in.unwrap_or(0), m.tokens_out.unwrap_or(0));
    *f.tokens
        .entry(vec![
            ("provider", provider.clone()),
            ("direction", "in".into()),
        ])
        .or_default() += tokens_in;
    *f.tokens
        .entry(vec![
            ("provider", provider.clone()),
            ("direction", "out".into()),
        ])
        .or_default() += tokens_out;
    if let Some(price) = m.model.as_deref().and_then(|model| price_of(model, prices)) {
        let usage = Usage {
            input_tokens: tokens_in,
            output_tokens: tokens_out,
        };
        *f.cost.entry(vec![("provider", provider)]).or_default() += price.cost(usage);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &Labels, value: f64) {
    let _ = write!(out, "{name}");
    if !labels.is_empty() {
        let parts: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = write!(out, "{{{}}}", parts.join(","));
    }
    let _ = writeln!(out, " {value}");
}

fn histograms(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[f64],
    hs: &BTreeMap<Labels, Histogram>,
) {
    family(out, name, "histogram", help);
    for (labels, h) in hs {
        for (i, b) in bounds.iter().enumerate() {
            let mut l = labels.clone();
            l.push(("le", b.to_string()));
            sample(out, &format!("{name}_bucket"), &l, h.counts[i] as f64);
        }
        let mut l = labels.clone();
        l.push(("le", "+Inf".into()));
        sample(out, &format!("{name}_bucket"), &l, h.count as f64);
        sample(out, &format!("{name}_sum"), labels, h.sum);
        sample(out, &format!("{name}_count"), labels, h.count as f64);
    }
}

/// A label value as the text format writes it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
