//! The cache stage: a step's cache key, a lookup before admission, and the result offered to
//! the run's driver, which writes it (the driver is the only writer of the store).
//!
//! # The cache key
//!
//! With `cache: { key: K }` the key is `{workflow}/{step}/{K rendered}`. Without a `key:` it is
//! derived from what the step will do, by a fixed algorithm (a persisted key must not change
//! with the Rust release that built baton, as `DefaultHasher` does):
//!
//! ```text
//! key      = workflow "/" step "/sha256-" hex(SHA-256(encoding))     (64 lowercase hex digits)
//! encoding = "baton.cache.v1" 0x00
//!            field(workflow name) field(step id) field(action)
//!            u32be(n) then field(name) field(value) for each of the n env entries
//!            0x00 (no working directory) | 0x01 field(working directory)
//! field(x) = u32be(byte length of x) then the bytes of x (UTF-8; a path's OS bytes)
//! ```
//!
//! `action` is what an approver sees: `$ COMMAND` for a shell step (rendered), `METHOD URL`
//! (and a newline and the body, if any) for HTTP, `value: JSON` for a transform, `sleep 5s`,
//! `agent NAME: PROMPT`. The env entries and the working directory are a shell step's (none
//! for other kinds): the workflow's and the step's `env:` merged and rendered, sorted by name
//! (bytewise), without the `BATON_*` variables (they name the run, which changes every time).
//! `cache_key_test_vectors` below pins the algorithm.

use sha2::{Digest, Sha256};

use super::render::{Action, RenderInput};
use super::{Outcome, StepJob, StepMsg};
use crate::spec::CacheSpec;
use crate::steps::LogSink;
use crate::store::{CacheEntry, LogStream, StepOutput, Store, Timestamp};

/// Where a step's result is cached, and for how long it is good.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CacheKey {
    pub key: String,
    pub ttl: Option<std::time::Duration>,
}

/// The step's key under `spec` (see the module's doc).
pub(super) fn key(
    job: &RenderInput,
    spec: &CacheSpec,
    action: &Action,
) -> Result<CacheKey, String> {
    let (wf, step) = (&job.workflow.name, &job.step().id.0);
    let key = match &spec.key {
        Some(tpl) => {
            let k = job
                .engine
                .templates
                .render(tpl, &job.ctx)
                .map_err(|e| format!("cache.key: {e}"))?;
            format!("{wf}/{step}/{k}")
        }
        None => derived_key(wf, step, action),
    };
    Ok(CacheKey {
        key,
        ttl: spec.ttl.map(|t| t.get()),
    })
}

/// The key of a step without `cache.key` (see the module's doc).
fn derived_key(workflow: &str, step: &str, action: &Action) -> String {
    let digest = Sha256::digest(encoding(workflow, step, action));
    let mut key = format!("{workflow}/{step}/sha256-");
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// The bytes [`derived_key`] hashes (see the module's doc).
fn encoding(workflow: &str, step: &str, action: &Action) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = b"baton.cache.v1\0".to_vec();
    field(&mut out, workflow.as_bytes());
    field(&mut out, step.as_bytes());
    field(&mut out, action.describe().as_bytes());
    let (mut env, cwd) = match action {
        Action::Shell(c) => (
            c.env
                .iter()
                .filter(|(k, _)| !k.starts_with("BATON_"))
                .collect::<Vec<_>>(),
            c.cwd.as_deref(),
        ),
        _ => (Vec::new(), None),
    };
    env.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.extend_from_slice(&(env.len() as u32).to_be_bytes());
    for (name, value) in env {
        field(&mut out, name.as_bytes());
        field(&mut out, value.as_bytes());
    }
    match cwd {
        Some(dir) => {
            out.push(1);
            field(
                &mut out,
                std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()),
            );
        }
        None => out.push(0),
    }
    out
}

/// The stored result under `key`, if younger than its `ttl`, as the step's outcome. An
/// unreadable entry is a miss (said in the log): the step runs and its result replaces it.
pub(super) fn lookup(
    store: &Store,
    log: &LogSink,
    key: &CacheKey,
    now: Timestamp,
) -> Option<Outcome> {
    let hit = match store.cached(&key.key, key.ttl, now) {
        Ok(hit) => hit?,
        Err(e) => {
            log(
                LogStream::System,
                &format!("cache entry unusable, running the step: {e:#}"),
            );
            return None;
        }
    };
    log(
        LogStream::System,
        &format!(
            "cache hit (stored by run {} at {})",
            hit.run,
            hit.stored_at.rfc3339()
        ),
    );
    Some(Outcome::Succeeded {
        output: hit.output,
        exit_code: None,
        cached: true,
        metrics: Default::default(),
    })
}

/// A result for the cache, on its way from the step task to the run's driver.
pub struct CachePut {
    pub(super) key: String,
    pub(super) entry: CacheEntry,
    log: LogSink,
}

impl CachePut {
    /// Writes the entry (the run's driver calls this). A failure is said in the step's log and
    /// the step's result stands: the cache only saves work.
    pub fn record(self, store: &Store) {
        if let Err(e) = store.put_cached(&self.key, &self.entry) {
            (self.log)(
                LogStream::System,
                &format!("cannot store in the cache: {e:#}"),
            );
        }
    }
}

/// Offers the step's (redacted) output to the driver for the cache; sent before the step's
/// `Done`, on the same channel, so it is written before the step is recorded.
pub(super) fn offer(job: &StepJob, key: CacheKey, output: &StepOutput, now: Timestamp) {
    let put = CachePut {
        key: key.key,
        entry: CacheEntry {
            output: output.clone(),
            stored_at: now,
            run: job.run.clone(),
        },
        log: job.log.clone(),
    };
    let _ = job.tx.send(StepMsg::Cache(Box::new(put)));
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use indexmap::IndexMap;
    use serde_json::json;

    use super::super::rig::{Rig, succeeded};
    use super::*;
    use crate::steps::shell::ShellCommand;
    use crate::store::RunId;

    fn shell(env: &[(&str, &str)], cwd: Option<&str>) -> Action {
        Action::Shell(ShellCommand {
            command: "make all".into(),
            shell: "sh".into(),
            cwd: cwd.map(PathBuf::from),
            on: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<IndexMap<_, _>>(),
        })
    }

    /// Computed apart from this code (Python's `hashlib`) from the encoding in the module's doc.
    #[test]
    fn cache_key_test_vectors() {
        let env = [("B", "2"), ("A", "1"), ("BATON_RUN_ID", "r1")];
        assert_eq!(
            derived_key("build", "compile", &shell(&env, Some("/src"))),
            "build/compile/sha256-cac6cf0178589153ca9c7d9e4261ce3495a47cd748cf4097eb3a2b62334763d9"
        );
        assert_eq!(
            derived_key("build", "pick", &Action::Value(json!({"a": 1}))),
            "build/pick/sha256-6226ad33ee73a8705527223bdf8989ec15a197394709220eb9ffcbc2f3b29703"
        );
    }

    #[test]
    fn env_order_and_the_runs_own_variables_do_not_change_a_key_and_values_do() {
        let key = |env: &[(&str, &str)], cwd| derived_key("w", "s", &shell(env, cwd));
        let base = key(&[("A", "1"), ("B", "2")], Some("/src"));
        assert_eq!(
            key(
                &[("B", "2"), ("A", "1"), ("BATON_RUN_ID", "r9")],
                Some("/src")
            ),
            base
        );
        assert_ne!(key(&[("A", "1"), ("B", "3")], Some("/src")), base);
        assert_ne!(key(&[("A", "1"), ("B", "2")], Some("/tmp")), base);
        assert_ne!(key(&[("A", "1"), ("B", "2")], None), base);
        // Lengths keep fields apart: moving a byte from a name to its value is another key.
        assert_ne!(key(&[("AB", "")], None), key(&[("A", "B")], None));
    }

    #[test]
    fn a_hit_within_its_ttl_is_the_outcome_and_an_older_entry_is_not() {
        let rig = Rig::new();
        let store = &rig.engine.store;
        let output = StepOutput {
            output: json!("built"),
            ..StepOutput::default()
        };
        let entry = CacheEntry {
            output: output.clone(),
            stored_at: Timestamp(1_000),
            run: RunId("r0".into()),
        };
        store.put_cached("w/s/k", &entry).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log: LogSink = Arc::new(move |_, t: &str| sink.lock().unwrap().push(t.to_string()));
        let key = CacheKey {
            key: "w/s/k".into(),
            ttl: Some(Duration::from_secs(5)),
        };
        let hit = lookup(store, &log, &key, Timestamp(6_000)).map(succeeded);
        assert_eq!(hit, Some((output, true)));
        assert!(lines.lock().unwrap()[0].starts_with("cache hit (stored by run r0 at "));
        assert!(lookup(store, &log, &key, Timestamp(6_001)).is_none());
    }

    #[tokio::test]
    async fn an_offered_result_is_stored_only_when_the_actor_records_it() {
        let mut rig = Rig::new();
        let job = rig.job("name: w\nsteps:\n  - id: s\n    run: 'true'\n", "s");
        let key = CacheKey {
            key: "w/s/k".into(),
            ttl: None,
        };
        let output = StepOutput::default();
        offer(&job, key, &output, Timestamp(1_000));
        let store = &rig.engine.store;
        assert!(
            store
                .cached("w/s/k", None, Timestamp(2_000))
                .unwrap()
                .is_none()
        );
        let Some(StepMsg::Cache(put)) = rig.rx.recv().await else {
            panic!("the step task offers its result to the driver");
        };
        put.record(store);
        let stored = store
            .cached("w/s/k", None, Timestamp(2_000))
            .unwrap()
            .unwrap();
        assert_eq!((stored.output, stored.run), (output, RunId("r1".into())));
    }
}
