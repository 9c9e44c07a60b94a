//! Determinism: the histories of real runs, recorded from a dev server into
//! `tests/fixtures/temporal/`, replay through the SDK's replayer against today's `baton.run`
//! workflow code. A change that would break the replay of runs in flight fails here.
//! Re-record with `BATON_RECORD_HISTORIES=1 cargo test --features temporal --test temporal`
//! only when such a change is intended (and versioned).
#![cfg(feature = "temporal")]

use std::path::Path;

use baton::temporal::workflow::BatonRun;
use temporalio_client::WorkflowHistory;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

fn histories() -> Vec<(String, WorkflowHistory)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/temporal");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let history = WorkflowHistory::from_json(text.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), history)
        })
        .collect()
}

#[test]
fn recorded_runs_replay_against_the_workflow_code() {
    let all = histories();
    assert!(
        all.len() >= 3,
        "expected the recorded histories, found {}",
        all.len()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let _runtime = temporalio_sdk::Runtime::from_current_tokio(Default::default()).unwrap();
        let options = WorkflowReplayerOptions::new()
            .register_workflow::<BatonRun>()
            .unwrap()
            .build();
        let replayer = WorkflowReplayer::new(options).unwrap();
        for (name, history) in all {
            if let Err(e) = replayer.replay_workflow(history).await {
                panic!("{name} no longer replays: {e}");
            }
        }
    });
}
