//! Runs and steps as OpenTelemetry spans, and their OTLP/JSON encoding (the `ExportTraceService`
//! request of `opentelemetry-proto`, with trace and span ids as hex, as OTLP/JSON has them).
//!
//! Ids are derived from the run's id, so a run resumed by another process, or whose spans are
//! sent twice, lands in the same trace with the same spans: the trace is the run, its span the
//! root, a step's span its child, a fan-out item's span the step's child.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::store::{ItemRecord, RunRecord, StepRecord, StepStatus, Timestamp, item_key};

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// 16 bytes, hex.
    pub trace_id: String,
    /// 8 bytes, hex.
    pub span_id: String,
    /// The parent's span id (none for a run).
    pub parent: Option<String>,
    /// `run wf`, `step id`, `item id[i]`.
    pub name: String,
    /// Start and end, in milliseconds since the epoch.
    pub start: Timestamp,
    /// End.
    pub end: Timestamp,
    /// `Some(why)` when it failed (status ERROR), `None` when it did not.
    pub error: Option<String>,
    /// Attributes, in order.
    pub attributes: Vec<(&'static str, Value)>,
}

fn hex_of(seed: &str, bytes: usize) -> String {
    Sha256::digest(seed.as_bytes())[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn trace_id(run: &str) -> String {
    hex_of(&format!("baton trace {run}"), 16)
}

fn span_id(run: &str, what: &str) -> String {
    hex_of(&format!("baton span {run} {what}"), 8)
}

/// The span of a run that ended (none before it has).
pub fn run_span(run: &RunRecord) -> Option<Span> {
    if !run.state.is_terminal() {
        return None;
    }
    let id = run.id.as_str();
    let start = run.started_at.unwrap_or(run.created_at);
    let failed = !matches!(run.state, crate::store::RunState::Succeeded);
    let mut attributes = vec![
        ("baton.run.id", json!(id)),
        ("baton.workflow", json!(run.workflow)),
        ("baton.run.state", json!(run.state.as_str())),
        ("baton.run.steps_done", json!(run.steps_done)),
        ("baton.run.steps_total", json!(run.steps_total)),
    ];
    if let Some(parent) = &run.parent {
        attributes.push(("baton.run.parent", json!(parent.run.as_str())));
    }
    Some(Span {
        trace_id: trace_id(id),
        span_id: span_id(id, ""),
        parent: None,
        name: format!("run {}", run.workflow),
        start,
        end: run.finished_at.unwrap_or(start).max(start),
        error: failed
            .then(|| (run.reason.clone()).unwrap_or_else(|| format!("run {}", run.state.as_str()))),
        attributes,
    })
}

/// The spans of a step that ended: its own, and one per item of a fan-out that ran. A step
/// that never started (skipped, or cancelled before it ran) has none.
pub fn step_spans(run: &str, rec: &StepRecord) -> Vec<Span> {
    let (Some(start), Some(end)) = (rec.started_at, rec.finished_at) else {
        return Vec::new();
    };
    if !rec.status.is_terminal() {
        return Vec::new();
    }
    let step = rec.step.as_str();
    let mut attributes = vec![
        ("baton.step.id", json!(step)),
        ("baton.step.kind", json!(rec.kind)),
        ("baton.step.status", json!(rec.status.as_str())),
        ("baton.step.attempt", json!(rec.attempt)),
    ];
    if let Some(code) = rec.exit_code {
        attributes.push(("baton.step.exit_code", json!(code)));
    }
    if let Some(ms) = rec.duration_ms {
        attributes.push(("baton.step.duration_ms", json!(ms)));
    }
    if rec.approval_wait_ms > 0 {
        attributes.push(("baton.step.approval_wait_ms", json!(rec.approval_wait_ms)));
    }
    let m = &rec.metrics;
    let llm = [
        ("gen_ai.system", m.provider.as_ref().map(|p| json!(p))),
        ("gen_ai.request.model", m.model.as_ref().map(|p| json!(p))),
        ("gen_ai.usage.input_tokens", m.tokens_in.map(|t| json!(t))),
        ("gen_ai.usage.output_tokens", m.tokens_out.map(|t| json!(t))),
        ("baton.llm.cost_usd", m.cost_usd.map(|c| json!(c))),
    ];
    attributes.extend(llm.into_iter().filter_map(|(k, v)| Some((k, v?))));
    let own = span_id(run, step);
    let mut spans = vec![Span {
        trace_id: trace_id(run),
        span_id: own.clone(),
        parent: Some(span_id(run, "")),
        name: format!("step {step}"),
        start,
        end: end.max(start),
        error: failed(rec.status).then(|| rec.error.clone().unwrap_or_default()),
        attributes,
    }];
    for (i, item) in rec.items.iter().enumerate() {
        if let Some(span) = item_span(run, &rec.step, i, item, &own) {
            spans.push(span);
        }
    }
    spans
}

fn item_span(
    run: &str,
    step: &crate::spec::StepId,
    i: usize,
    item: &ItemRecord,
    parent: &str,
) -> Option<Span> {
    let (start, end) = (item.started_at?, item.finished_at?);
    let key = item_key(step, i);
    let mut attributes = vec![
        ("baton.step.id", json!(step.as_str())),
        ("baton.item.index", json!(i)),
        ("baton.step.status", json!(item.status.as_str())),
        ("baton.step.attempt", json!(item.attempt)),
    ];
    if let Some(code) = item.exit_code {
        attributes.push(("baton.step.exit_code", json!(code)));
    }
    Some(Span {
        trace_id: trace_id(run),
        span_id: span_id(run, key.as_str()),
        parent: Some(parent.to_string()),
        name: format!("item {key}"),
        start,
        end: end.max(start),
        error: failed(item.status).then(|| item.error.clone().unwrap_or_default()),
        attributes,
    })
}

fn failed(status: StepStatus) -> bool {
    matches!(status, StepStatus::Failed | StepStatus::Cancelled)
}

/// The OTLP/JSON body of an export of `spans` by service `service` (`host.name` given).
pub fn export_body(service: &str, host: &str, spans: &[Span]) -> Value {
    let resource = json!({
        "attributes": [
            attribute("service.name", &json!(service)),
            attribute("service.version", &json!(env!("CARGO_PKG_VERSION"))),
            attribute("host.name", &json!(host)),
        ]
    });
    let spans: Vec<Value> = spans.iter().map(span_json).collect();
    json!({
        "resourceSpans": [{
            "resource": resource,
            "scopeSpans": [{
                "scope": { "name": "baton", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }]
    })
}

fn span_json(s: &Span) -> Value {
    let nanos = |t: Timestamp| (u128::from(t.0) * 1_000_000).to_string();
    let mut v = json!({
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "name": s.name,
        // SPAN_KIND_INTERNAL
        "kind": 1,
        "startTimeUnixNano": nanos(s.start),
        "endTimeUnixNano": nanos(s.end),
        "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
        "status": match &s.error {
            // STATUS_CODE_ERROR
            Some(why) => json!({ "code": 2, "message": why }),
            // STATUS_CODE_OK
            None => json!({ "code": 1 }),
        },
    });
    if let Some(parent) = &s.parent {
        v["parentSpanId"] = json!(parent);
    }
    v
}

/// `{"key": K, "value": {"stringValue"|"intValue"|"doubleValue"|"boolValue": V}}`.
fn attribute(key: &str, value: &Value) -> Value {
    let value = match value {
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n.as_f64() }),
        Value::String(s) => json!({ "stringValue": s }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunState;

    fn step(status: StepStatus) -> StepRecord {
        let mut rec = StepRecord::pending("build".into(), 2);
        rec.kind = "run".into();
        rec.status = status;
        rec.attempt = 2;
        rec.exit_code = Some(3);
        rec.error = Some("exit 3".into());
        rec.started_at = Some(Timestamp(1_000));
        rec.finished_at = Some(Timestamp(1_500));
        rec
    }

    #[test]
    fn a_step_s_span_is_a_child_of_its_run_s_with_attempt_and_exit_code() {
        let spans = step_spans("r1", &step(StepStatus::Failed));
        let [span] = spans.as_slice() else {
            panic!("{spans:?}")
        };
        assert_eq!(span.trace_id.len(), 32);
        assert_eq!(span.span_id.len(), 16);
        assert_eq!(span.trace_id, trace_id("r1"));
        assert_eq!(span.parent.as_deref(), Some(span_id("r1", "").as_str()));
        assert_eq!(span.error.as_deref(), Some("exit 3"));
        let attrs: Vec<_> = span.attributes.iter().map(|(k, _)| *k).collect();
        assert!(attrs.contains(&"baton.step.attempt") && attrs.contains(&"baton.step.exit_code"));
        // The same step of another run is another trace; sent again, the same span.
        assert_ne!(
            step_spans("r2", &step(StepStatus::Failed))[0].trace_id,
            span.trace_id
        );
        assert_eq!(step_spans("r1", &step(StepStatus::Failed))[0], *span);
        // Not ended, or never started: no span.
        assert!(step_spans("r1", &step(StepStatus::Running)).is_empty());
        let mut skipped = StepRecord::pending("x".into(), 1);
        skipped.status = StepStatus::Skipped;
        assert!(step_spans("r1", &skipped).is_empty());
    }

    #[test]
    fn items_are_children_of_their_step_and_a_run_span_waits_for_its_end() {
        let mut rec = step(StepStatus::Succeeded);
        let mut item = ItemRecord::pending(json!("web1"));
        item.status = StepStatus::Succeeded;
        item.started_at = Some(Timestamp(1_100));
        item.finished_at = Some(Timestamp(1_200));
        rec.items = vec![item, ItemRecord::pending(json!("web2"))];
        let spans = step_spans("r1", &rec);
        assert_eq!(spans.len(), 2, "an item that never ran has no span");
        assert_eq!(spans[1].parent.as_ref(), Some(&spans[0].span_id));
        assert_eq!(spans[1].name, "item build[0]");
        let mut run = crate::store::tests::run("r1", RunState::Running);
        run.workflow = "deploy".into();
        run.started_at = Some(Timestamp(950));
        run.finished_at = None;
        assert!(run_span(&run).is_none());
        run.state = RunState::Succeeded;
        run.finished_at = Some(Timestamp(2_000));
        let span = run_span(&run).unwrap();
        assert_eq!(span.parent, None);
        assert_eq!(Some(span.span_id.clone()), spans[0].parent);
        let body = export_body("baton", "h", &[span]);
        let s = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["startTimeUnixNano"], "950000000");
        assert_eq!(s["endTimeUnixNano"], "2000000000");
        assert_eq!(s["status"]["code"], 1);
    }
}
