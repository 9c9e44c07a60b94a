//! A test harness: an engine on a temporary store, and helpers to start runs and wait for them.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use baton::engine::{Command, Engine, EngineConfig, RunControl, RunReader, StartRequest};
use baton::spec::StepId;
use baton::store::{ApprovalRecord, EventKind, RunId, RunState, StepRecord, StepStatus, Store};
use indexmap::IndexMap;
use serde_json::Value;

/// How long a wait may take before it counts as a hang (never a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// An engine over a store in a temp dir, with a short cancel grace period.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub engine: Engine,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(EngineConfig {
            grace: Duration::from_millis(300),
            ..EngineConfig::default()
        })
    }

    pub fn with(config: EngineConfig) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Harness::on(rt, config)
    }

    /// On the runtime the command line runs its engine on (`baton::cli::common::runtime`).
    pub fn as_the_cli() -> Harness {
        Harness::on(
            baton::cli::common::runtime().unwrap(),
            EngineConfig::default(),
        )
    }

    fn on(rt: tokio::runtime::Runtime, config: EngineConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let engine = Engine::open(store, config, rt.handle().clone()).unwrap();
        Harness { dir, rt, engine }
    }

    /// A path inside the temp dir.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    pub fn start(&self, yaml: &str) -> RunId {
        self.start_with(yaml, &[])
    }

    pub fn start_with(&self, yaml: &str, params: &[(&str, &str)]) -> RunId {
        let params: IndexMap<String, Value> = params
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let _guard = self.rt.enter();
        self.engine
            .start(StartRequest {
                source: yaml.to_string(),
                path: Some(Path::new("test.yaml").to_path_buf()),
                params,
                workdir: None,
            })
            .unwrap_or_else(|e| panic!("start failed: {e:#}"))
    }

    /// Waits for the run to end (the test's own timeout guards against a hang).
    pub fn wait(&self, id: &RunId) -> RunState {
        self.rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(60), self.engine.wait(id)).await
            })
            .expect("the run did not end within 60 s")
            .expect("the run has a state")
    }

    pub fn run_to_end(&self, yaml: &str) -> (RunId, RunState) {
        let id = self.start(yaml);
        let state = self.wait(&id);
        (id, state)
    }

    pub fn step(&self, id: &RunId, step: &str) -> StepRecord {
        self.engine
            .run_detail(id)
            .unwrap()
            .steps
            .into_iter()
            .find(|s| s.step.0 == step)
            .unwrap_or_else(|| panic!("no step {step}"))
    }

    pub fn output(&self, id: &RunId, step: &str) -> Value {
        self.engine
            .step_output(id, &StepId::from(step))
            .unwrap()
            .map(|o| o.output)
            .unwrap_or(Value::Null)
    }

    /// Waits until `cond` holds for the step's record.
    pub fn wait_step(
        &self,
        id: &RunId,
        step: &str,
        cond: impl Fn(&StepRecord) -> bool,
    ) -> StepRecord {
        let mut rec = self.step(id, step);
        eventually(
            PATIENCE,
            &format!("step {step} to reach the expected state"),
            || {
                rec = self.step(id, step);
                cond(&rec)
            },
        );
        rec
    }

    /// Waits until the step's gate is open and returns it.
    pub fn wait_gate(&self, id: &RunId, step: &str) -> ApprovalRecord {
        self.wait_step(id, step, |r| r.status == StepStatus::WaitingApproval);
        self.engine
            .run_detail(id)
            .unwrap()
            .approvals
            .into_iter()
            .find(|a| a.step.0 == step && a.decision.is_none())
            .expect("an open gate")
    }

    pub fn decide(&self, id: &RunId, step: &str, approved: bool, comment: Option<&str>) {
        self.engine
            .send(Command::Decide {
                run: id.clone(),
                step: StepId::from(step),
                approved,
                via: None,
                comment: comment.map(str::to_string),
                inputs: IndexMap::new(),
            })
            .unwrap();
    }

    pub fn logs(&self, id: &RunId, step: &str) -> Vec<String> {
        self.engine
            .logs(id, Some(&StepId::from(step)), 0, 100_000)
            .unwrap()
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    pub fn event_kinds(&self, id: &RunId) -> Vec<EventKind> {
        self.engine
            .events(id)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => process_state(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// Live processes, other than this one, whose command line mentions `text` (a path only a
/// test's own processes use): what a killed baton left running, even a child it forked that
/// has not yet become its step's shell.
pub fn processes_mentioning(text: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(text))
        })
        .filter(|&pid| alive(pid))
        .collect()
}

/// The state letter of `/proc/PID/stat` (R, S, T, Z, ...).
pub fn process_state(stat: &str) -> Option<char> {
    let after = stat.rfind(')')?;
    stat[after + 1..].trim_start().chars().next()
}

/// The state letter of a live process.
pub fn state_of(pid: i32) -> Option<char> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| process_state(&s))
}

/// Reads a pid written by a step, waiting for the file to appear.
pub fn read_pid(path: &Path) -> i32 {
    let mut pid = 0;
    eventually(PATIENCE, &format!("a pid in {}", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    pid
}

/// Waits (see [`eventually`]) for a spawned process to end, then returns what it printed and
/// its status. Killed if the test gives up on it, so that it does not outlive the test.
pub fn output_within(
    child: std::process::Child,
    timeout: Duration,
    what: &str,
) -> std::process::Output {
    struct Killed(Option<std::process::Child>);
    impl Drop for Killed {
        fn drop(&mut self) {
            if let Some(child) = &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
    let mut child = Killed(Some(child));
    eventually(timeout, what, || {
        let running = child.0.as_mut().expect("the child is still ours");
        running.try_wait().expect("try_wait").is_some()
    });
    let child = child.0.take().expect("the child is still ours");
    child.wait_with_output().expect("the ended child's output")
}

/// Waits until `condition` holds, checking every few milliseconds; fails the test, saying
/// `what` was awaited, if it does not within `timeout` (a hang, never a timing assertion).
pub fn eventually(timeout: Duration, what: &str, condition: impl FnMut() -> bool) {
    eventually_explained(timeout, what, condition, String::new);
}

/// [`eventually`], with `explain` (what the awaited process said, say) added to the failure.
pub fn eventually_explained(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
    explain: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited {timeout:?} for {what}{}",
            explain()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
