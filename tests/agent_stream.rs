//! An agent step's answer streams to the engine's subscribers token by token: while the model
//! (the fake provider on 127.0.0.1) holds its answer back mid-line, the unfinished line is
//! already announced ([`EventKind::Partial`]), and no line of it is logged yet; once the answer
//! goes on, the finished lines are logged as always and the unfinished line is withdrawn. The
//! unfinished line is never stored.

#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use baton::agents::AgentCatalog;
use baton::engine::{EngineConfig, RunReader};
use baton::providers::{ProviderKind, Router};
use baton::steps::agent::LlmRuntime;
use baton::store::{Event, EventKind, LogStream, RunState};
use fake_llm::{FakeLlm, Gate, Reply};
use harness::{Harness, PATIENCE};
use tokio::sync::broadcast;

const ASK: &str = "steps:\n  - id: look\n    agent: devops\n    prompt: Why is the disk full?\n";

/// The next Event that `wanted` accepts, within the harness's patience.
fn next_event(
    h: &Harness,
    rx: &mut broadcast::Receiver<Event>,
    what: &str,
    wanted: impl Fn(&Event) -> bool,
    seen: &mut Vec<Event>,
) -> Event {
    h.rt.block_on(async {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match rx.recv().await {
                    Ok(e) if wanted(&e) => return e,
                    Ok(e) => seen.push(e),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => panic!("the engine closed"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for {what}"))
    })
}

fn partial(e: &Event) -> Option<&str> {
    match &e.kind {
        EventKind::Partial { step, text } if step.as_str() == "look" => Some(text),
        _ => None,
    }
}

#[test]
fn the_unfinished_line_reaches_subscribers_before_the_model_finishes_and_is_never_stored() {
    let fake_rt = tokio::runtime::Runtime::new().unwrap();
    let fake = fake_rt.block_on(FakeLlm::start());
    let gate = Gate::new();
    fake.push(Reply::Held {
        before: "Full because the logs".into(),
        gate: gate.clone(),
        after: " grew.\nRotate them.".into(),
    });
    let router = Router::new(&[fake.provider("fake", ProviderKind::Anthropic)], &|_| {
        Some("sk-ant-test".to_string())
    })
    .unwrap();
    let h = Harness::with(EngineConfig {
        grace: Duration::from_millis(300),
        llm: Some(Arc::new(LlmRuntime {
            router: Ok(router),
            catalog: AgentCatalog::builtin(),
            mcp_servers: Default::default(),
        })),
        ..EngineConfig::default()
    });
    let mut rx = h.engine.live_events();
    let id = h.start(ASK);
    let mut seen = Vec::new();

    let first = next_event(
        &h,
        &mut rx,
        "the whole held-back beginning, live",
        |e| partial(e) == Some("Full because the logs"),
        &mut seen,
    );
    assert_eq!(first.run, id);
    let logged = |seen: &[Event], text: &str| {
        seen.iter().any(|e| {
            matches!(&e.kind, EventKind::Log { line }
                if line.stream == LogStream::Stdout && line.text.contains(text))
        })
    };
    assert!(!logged(&seen, "Full"), "no line is finished yet: {seen:?}");
    let growing: Vec<&str> = seen.iter().filter_map(partial).collect();
    assert!(
        growing
            .iter()
            .all(|t| "Full because the logs".starts_with(t)),
        "each earlier announcement is a beginning of the line: {growing:?}"
    );

    gate.open();
    next_event(
        &h,
        &mut rx,
        "the finished line logged",
        |e| {
            matches!(&e.kind, EventKind::Log { line }
                if line.step.as_str() == "look" && line.text == "Full because the logs grew.")
        },
        &mut seen,
    );
    assert_eq!(h.wait(&id), RunState::Succeeded);
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    assert_eq!(
        seen.iter().filter_map(partial).next_back(),
        Some(""),
        "the unfinished line is withdrawn once the answer ends"
    );
    let stored = RunReader::events(&h.engine, &id).unwrap();
    assert!(
        stored
            .iter()
            .all(|e| !matches!(e.kind, EventKind::Partial { .. })),
        "never stored: {stored:?}"
    );
    let lines: Vec<String> = RunReader::logs(&h.engine, &id, None, 0, 100)
        .unwrap()
        .into_iter()
        .filter(|l| l.stream == LogStream::Stdout)
        .map(|l| l.text)
        .collect();
    assert_eq!(lines, ["Full because the logs grew.", "Rotate them."]);
}
