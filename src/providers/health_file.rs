//! Provider health remembered between processes: `providers.json` in the data directory, the
//! last call of each provider and its breaker after it.
//!
//! A plain file rather than the store, so that `baton providers` reads it while another baton
//! owns the store. It is advisory: a missing or unreadable file is an empty one, and a write
//! that fails is logged, never an error of the call it describes. Each write re-reads the file
//! and replaces only the provider it is about (other processes may be writing too), then
//! renames a temporary file over it, so a reader never sees half a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::health::LastCall;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Contents {
    #[serde(default)]
    providers: BTreeMap<String, LastCall>,
}

/// The health file of a data directory.
#[derive(Debug)]
pub struct HealthFile {
    path: PathBuf,
    /// Serialises this process's read-modify-write cycles.
    writing: Mutex<()>,
}

impl HealthFile {
    /// The file at `path` (created at the first write).
    pub fn new(path: impl Into<PathBuf>) -> HealthFile {
        HealthFile {
            path: path.into(),
            writing: Mutex::new(()),
        }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last call of every provider the file knows.
    pub fn read(&self) -> BTreeMap<String, LastCall> {
        read_contents(&self.path).providers
    }

    /// Records a provider's last call.
    pub fn record(&self, provider: &str, last: LastCall) {
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let mut contents = read_contents(&self.path);
        contents.providers.insert(provider.to_string(), last);
        if let Err(e) = write_atomically(&self.path, &contents) {
            tracing::warn!(
                "cannot remember the health of provider `{provider}` in {}: {e}",
                self.path.display()
            );
        }
    }
}

fn read_contents(path: &Path) -> Contents {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "ignoring the unreadable provider health file {}: {e}",
                path.display()
            );
            Contents::default()
        }),
        Err(_) => Contents::default(),
    }
}

fn write_atomically(path: &Path, contents: &Contents) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(contents)?)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at: u64, ok: bool) -> LastCall {
        LastCall {
            at,
            ok,
            error: (!ok).then(|| "server (HTTP 500)".to_string()),
            latency_ms: ok.then_some(120),
            consecutive_failures: u32::from(!ok),
            open_until: None,
        }
    }

    #[test]
    fn each_provider_keeps_its_own_last_call_across_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("providers.json");
        let one = HealthFile::new(&path);
        let other = HealthFile::new(&path);
        assert!(one.read().is_empty(), "no file yet is no history");
        one.record("a", call(1, true));
        other.record("b", call(2, false));
        one.record("a", call(3, false));
        let seen = other.read();
        assert_eq!(seen["a"], call(3, false));
        assert_eq!(seen["b"], call(2, false));
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() == 1,
            "no temporary file is left behind"
        );
    }

    #[test]
    fn an_unreadable_file_counts_as_empty_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("providers.json");
        std::fs::write(&path, "{ not json").unwrap();
        let file = HealthFile::new(&path);
        assert!(file.read().is_empty());
        file.record("a", call(5, true));
        assert_eq!(file.read()["a"], call(5, true));
    }
}
