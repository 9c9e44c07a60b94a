//! A store with a few runs in every interesting state, for console tests.

#![allow(dead_code)]

use std::sync::Arc;

use baton::engine::RunDetail;
use baton::spec::StepId;
use baton::store::{
    ApprovalRecord, Event, EventKind, LogLine, LogStream, RunId, RunRecord, RunState, StepMetrics,
    StepOutput, StepRecord, StepStatus, Timestamp,
};
use indexmap::IndexMap;
use serde_json::json;

use super::memory_backend::{MemoryBackend, Store};

/// The fixed "now" of every fixture.
pub const NOW: Timestamp = Timestamp(1_790_000_000_000);

pub const RELEASE_SOURCE: &str = "name: release
description: Test, review and deploy with a human gate
steps:
  - id: test
    run: cargo test
  - id: diff
    run: git diff
  - id: review
    agent: security
    prompt: rate it
    depends_on: [diff]
  - id: gate
    approval: { prompt: deploy? }
    depends_on: [test, review]
  - id: deploy
    name: Deploy to prod
    run: ./deploy.sh prod
    depends_on: [gate]
  - id: notify
    run: echo done
    depends_on: [test]
";

pub fn ms_ago(ms: u64) -> Timestamp {
    Timestamp(NOW.0 - ms)
}

pub fn run(
    id: &str,
    workflow: &str,
    state: RunState,
    done: u32,
    total: u32,
    started_ago: u64,
) -> RunRecord {
    RunRecord {
        id: RunId(id.into()),
        workflow: workflow.into(),
        workflow_path: Some(format!("workflows/{workflow}.yaml")),
        source: String::new(),
        params: IndexMap::new(),
        workdir: None,
        state,
        created_at: ms_ago(started_ago + 1000),
        started_at: Some(ms_ago(started_ago)),
        finished_at: if state.is_terminal() {
            Some(ms_ago(started_ago / 2))
        } else {
            None
        },
        owner: None,
        reason: match state {
            RunState::Failed => Some("step dump failed (exit 2)".into()),
            _ => None,
        },
        steps_total: total,
        steps_done: done,
        stopped: Default::default(),
        parent: None,
    }
}

pub fn step(id: &str, status: StepStatus, duration: Option<u64>) -> StepRecord {
    let mut s = StepRecord::pending(StepId::from(id), 1);
    s.status = status;
    s.duration_ms = duration;
    if status != StepStatus::Pending && status != StepStatus::Skipped {
        s.attempt = 1;
        s.started_at = Some(ms_ago(60_000));
    }
    s
}

pub fn line(seq: u64, step: &str, stream: LogStream, text: &str) -> LogLine {
    LogLine {
        seq,
        ts: Timestamp(NOW.0 - 60_000 + seq * 1000),
        step: StepId::from(step),
        stream,
        text: text.into(),
    }
}

pub fn gate_approval() -> ApprovalRecord {
    let mut inputs = IndexMap::new();
    inputs.insert("note".to_string(), "ship it".to_string());
    ApprovalRecord {
        run: RunId("r-0004".into()),
        step: StepId::from("gate"),
        prompt: "Deploy to prod? risk=low".into(),
        action: Some("$ ./deploy.sh prod --confirm".into()),
        inputs,
        requested_at: ms_ago(5_000),
        deadline: Some(Timestamp(NOW.0 + 3_600_000)),
        decision: None,
        approvers: Vec::new(),
        tool: None,
    }
}

/// Four runs: release (running, a gate pending), ingest (paused), nightly (failed), docs
/// (succeeded).
pub fn store() -> Store {
    let mut store = Store::default();
    let mut release = run("r-0004", "release", RunState::Running, 3, 6, 65_000);
    release.source = RELEASE_SOURCE.into();
    release.params.insert("env".into(), json!("prod"));
    let ingest = run("r-0003", "ingest", RunState::Paused, 1, 4, 300_000);
    let nightly = run(
        "r-0002",
        "nightly-backup",
        RunState::Failed,
        2,
        3,
        7_200_000,
    );
    let docs = run("r-0001", "docs", RunState::Succeeded, 2, 2, 90_000_000);
    let mut listed = release.clone();
    listed.source.clear();
    store.runs = vec![listed, ingest.clone(), nightly.clone(), docs.clone()];

    let mut review = step("review", StepStatus::Running, None);
    review.attempt = 2;
    review.max_attempts = 3;
    review.started_at = Some(ms_ago(12_000));
    review.metrics = StepMetrics {
        provider: Some("anthropic".into()),
        model: Some("claude".into()),
        tokens_in: Some(1200),
        tokens_out: Some(340),
        latency_ms: Some(4000),
        cost_usd: None,
    };
    let mut gate = step("gate", StepStatus::WaitingApproval, None);
    gate.approval_wait_ms = 5_000;
    let mut notify = step("notify", StepStatus::Skipped, None);
    notify.skip_reason = Some("when was false".into());
    let mut steps = vec![
        step("test", StepStatus::Succeeded, Some(3_200)),
        step("diff", StepStatus::Succeeded, Some(120)),
        review,
        gate,
        step("deploy", StepStatus::Pending, None),
        notify,
    ];
    // As the engine records them: position, DAG level, kind and dependencies.
    let shape: [(u32, &str, &[&str]); 6] = [
        (0, "run", &[]),
        (0, "run", &[]),
        (1, "agent", &["diff"]),
        (2, "approval", &["test", "review"]),
        (3, "run", &["gate"]),
        (1, "run", &["test"]),
    ];
    for (i, (step, (level, kind, deps))) in steps.iter_mut().zip(shape).enumerate() {
        step.index = i as u32;
        step.level = level;
        step.kind = kind.into();
        step.depends_on = deps.iter().map(|d| StepId::from(*d)).collect();
    }
    steps[4].name = Some("Deploy to prod".into());
    store.details.insert(
        release.id.clone(),
        RunDetail {
            run: release.clone(),
            steps,
            approvals: vec![gate_approval()],
        },
    );
    let mut failed_dump = step("dump", StepStatus::Failed, Some(800));
    failed_dump.exit_code = Some(2);
    failed_dump.error = Some("exit 2".into());
    failed_dump.index = 1;
    failed_dump.level = 1;
    failed_dump.kind = "run".into();
    failed_dump.depends_on = vec![StepId::from("prepare")];
    store.details.insert(
        nightly.id.clone(),
        RunDetail {
            run: nightly.clone(),
            steps: vec![
                step("prepare", StepStatus::Succeeded, Some(400)),
                failed_dump,
            ],
            approvals: vec![],
        },
    );
    store.details.insert(
        ingest.id.clone(),
        RunDetail {
            run: ingest,
            steps: vec![],
            approvals: vec![],
        },
    );
    store.details.insert(
        docs.id.clone(),
        RunDetail {
            run: docs,
            steps: vec![],
            approvals: vec![],
        },
    );

    let long = format!("payload {}", "é".repeat(6000));
    let texts: Vec<(&str, LogStream, String)> = vec![
        ("test", LogStream::Stdout, "running 12 tests".into()),
        (
            "test",
            LogStream::Stdout,
            "test parse::ok ... \x1b[32mok\x1b[0m".into(),
        ),
        (
            "test",
            LogStream::Stdout,
            "test store::flush ... \x1b[32mok\x1b[0m".into(),
        ),
        (
            "test",
            LogStream::Stdout,
            "downloading 10%\r50%\r100% done".into(),
        ),
        (
            "test",
            LogStream::Stderr,
            "warning: unused variable `x`".into(),
        ),
        (
            "test",
            LogStream::Stdout,
            "test result: ok. 12 passed; 0 failed".into(),
        ),
        ("diff", LogStream::Stdout, " src/main.rs | 4 ++--".into()),
        ("diff", LogStream::Stdout, long),
        (
            "review",
            LogStream::System,
            "attempt 1 failed: rate limited; retrying in 2s".into(),
        ),
        (
            "review",
            LogStream::Stdout,
            "\x1b[1;31merror\x1b[0m handling looks fine; risk is low".into(),
        ),
    ];
    let lines: Vec<LogLine> = texts
        .into_iter()
        .enumerate()
        .map(|(i, (s, stream, t))| line(i as u64 + 1, s, stream, &t))
        .collect();
    store.logs.insert(release.id.clone(), lines);
    store.outputs.insert(
        (release.id.clone(), StepId::from("test")),
        StepOutput {
            output: json!("12 passed"),
            stdout: "running 12 tests\n".into(),
            ..Default::default()
        },
    );
    store.outputs.insert(
        (release.id.clone(), StepId::from("review")),
        StepOutput {
            output: json!({"risk": "low", "notes": ["tests cover it", "small diff"]}),
            ..Default::default()
        },
    );
    let ev = |ago: u64, kind: EventKind| Event {
        run: release.id.clone(),
        ts: ms_ago(ago),
        kind,
    };
    store.events.insert(
        release.id.clone(),
        vec![
            ev(
                66_000,
                EventKind::RunCreated {
                    record: Box::new(release.clone()),
                },
            ),
            ev(
                65_000,
                EventKind::RunState {
                    state: RunState::Running,
                    reason: None,
                },
            ),
            ev(
                61_800,
                EventKind::Step {
                    record: Box::new(step("test", StepStatus::Succeeded, Some(3_200))),
                },
            ),
            ev(
                5_000,
                EventKind::ApprovalRequested {
                    approval: Box::new(gate_approval()),
                },
            ),
        ],
    );
    store
}

pub fn backend() -> Arc<MemoryBackend> {
    Arc::new(MemoryBackend::new(store()))
}
