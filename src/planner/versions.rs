//! Plan versions: every draft, edit and repair of a planned workflow, kept with its request,
//! provider, model, time and author, one JSON file each under the data directory's `plans/`.
//!
//! Files beside the sled store rather than a tree inside it: a plan is drafted by a
//! `baton plan` that usually does not own the store (a console or `baton serve` does), and a
//! version must be kept whoever owns it. Each file is written whole (temporary file, fsync,
//! rename), so a crash leaves a version either complete or absent; nothing is ever rewritten.
//! A run ran a version when its stored workflow source is that version's text (the same
//! SHA-256 digest), so the run's own record says which plan it ran.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::Operator;
use crate::time::Timestamp;

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// A model's draft of a request.
    Draft,
    /// A person's edit of an earlier version.
    Edit,
    /// A repair of a failed step, approved by a person.
    Repair,
    /// A repair a model proposed by itself when a run failed (`on_failure: { repair: true }`),
    /// waiting for a person.
    Proposal,
}

impl VersionKind {
    /// As listed.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionKind::Draft => "draft",
            VersionKind::Edit => "edit",
            VersionKind::Repair => "repair",
            VersionKind::Proposal => "proposal",
        }
    }
}

/// The request a repair of step `step` of run `run` is stored under.
pub fn proposal_request(run: &str, step: &str) -> String {
    format!("repair step `{step}` of run {run}")
}

/// One stored version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanVersion {
    /// Its id (`p` and 10 hex digits).
    pub id: String,
    /// How it came to be.
    pub kind: VersionKind,
    /// The version it was made from.
    #[serde(default)]
    pub parent: Option<String>,
    /// The operator's request (or follow-up instruction, or the step repaired).
    pub request: String,
    /// The provider that wrote it (none for a person's edit).
    #[serde(default)]
    pub provider: Option<String>,
    /// Its model.
    #[serde(default)]
    pub model: Option<String>,
    /// When it was stored.
    pub at: Timestamp,
    /// Who asked for it, edited or approved it (from the OS).
    pub author: Operator,
    /// The workflow text.
    pub yaml: String,
    /// SHA-256 of `yaml`, hex.
    pub digest: String,
    /// The problems it had when stored, rendered (empty: valid).
    #[serde(default)]
    pub problems: Vec<String>,
    /// The run a repair was made for.
    #[serde(default)]
    pub run: Option<String>,
}

/// What a caller gives to store a version.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// How it came to be.
    pub kind: VersionKind,
    /// The version it was made from.
    pub parent: Option<String>,
    /// The request.
    pub request: String,
    /// The provider that wrote it.
    pub provider: Option<String>,
    /// Its model.
    pub model: Option<String>,
    /// The workflow text.
    pub yaml: String,
    /// Its problems, rendered.
    pub problems: Vec<String>,
    /// The run a repair was made for.
    pub run: Option<String>,
}

/// SHA-256 of a workflow text, hex: how a run's source is matched to a version.
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Now, or a millisecond past the last version this process stored when that is not earlier:
/// versions made within one millisecond (a proposal and its approval) still list in the order
/// they were made, which is what "newest" means to [`PlanBook::proposal_for`] and
/// [`PlanBook::of_source`].
fn later_than_the_last() -> Timestamp {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = Timestamp::now().0;
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(now);
    Timestamp(now.max(previous + 1))
}

/// The versions of one data directory.
#[derive(Debug, Clone)]
pub struct PlanBook {
    dir: PathBuf,
}

impl PlanBook {
    /// The book under `data` (its `plans/` directory, made private when created).
    pub fn open(data: &Path) -> anyhow::Result<PlanBook> {
        let dir = data.join("plans");
        crate::fsperm::private_data_dir(&dir)?;
        Ok(PlanBook { dir })
    }

    /// Stores a new version, authored by this process's OS user; returns it.
    pub fn record(&self, new: NewVersion) -> anyhow::Result<PlanVersion> {
        let at = later_than_the_last();
        let digest = digest(&new.yaml);
        let seed = format!("{}:{}:{}:{digest}", at.0, std::process::id(), new.request);
        let id = format!("p{}", &self::digest(&seed)[..10]);
        let version = PlanVersion {
            id,
            kind: new.kind,
            parent: new.parent,
            request: new.request,
            provider: new.provider,
            model: new.model,
            at,
            author: Operator::current(),
            yaml: new.yaml,
            digest,
            problems: new.problems,
            run: new.run,
        };
        self.write(&version)?;
        Ok(version)
    }

    fn write(&self, version: &PlanVersion) -> anyhow::Result<()> {
        use std::io::Write;
        let path = self.dir.join(format!("{}.json", version.id));
        let tmp = self.dir.join(format!(".{}.json.tmp", version.id));
        let bytes = serde_json::to_vec_pretty(version).context("cannot encode a plan version")?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = crate::fsperm::open_nofollow(&mut options, &tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("cannot store plan version {}", path.display()))?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Writes a version's text as a workflow file beside it (`plans/ID.yaml`), for a run to
    /// start from; returns the file.
    pub fn write_workflow(&self, version: &PlanVersion) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(format!("{}.yaml", version.id));
        std::fs::write(&path, &version.yaml)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Every version, oldest first; an unreadable file is reported, not skipped silently.
    pub fn list(&self) -> anyhow::Result<Vec<PlanVersion>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.dir.display())),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let version: PlanVersion = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "the plan version {} is unreadable; move it aside",
                    path.display()
                )
            })?;
            out.push(version);
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The newest proposal drafted for step `step` of run `run` when it failed, if any.
    pub fn proposal_for(&self, run: &str, step: &str) -> anyhow::Result<Option<PlanVersion>> {
        let request = proposal_request(run, step);
        Ok(self.list()?.into_iter().rev().find(|v| {
            v.kind == VersionKind::Proposal && v.run.as_deref() == Some(run) && v.request == request
        }))
    }

    /// The version with this id or unique id prefix.
    pub fn get(&self, id: &str) -> anyhow::Result<PlanVersion> {
        let all = self.list()?;
        let found: Vec<&PlanVersion> = all.iter().filter(|v| v.id.starts_with(id)).collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => bail!("no plan version `{id}`; `baton plans` lists them"),
            many => bail!(
                "`{id}` names {} plan versions ({}); give more of the id",
                many.len(),
                many.iter()
                    .map(|v| v.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The newest version whose text is `source` (what a run with that source ran).
    pub fn of_source(&self, source: &str) -> anyhow::Result<Option<PlanVersion>> {
        let d = digest(source);
        Ok(self.list()?.into_iter().rev().find(|v| v.digest == d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(yaml: &str, kind: VersionKind) -> NewVersion {
        NewVersion {
            kind,
            parent: None,
            request: "do it".into(),
            provider: Some("fake".into()),
            model: Some("m".into()),
            yaml: yaml.into(),
            problems: Vec::new(),
            run: None,
        }
    }

    #[test]
    fn versions_are_kept_with_their_author_and_found_by_prefix_and_by_text() {
        let dir = tempfile::tempdir().unwrap();
        let book = PlanBook::open(dir.path()).unwrap();
        let a = book.record(new("steps: []\n", VersionKind::Draft)).unwrap();
        let b = book.record(new("steps: [x]\n", VersionKind::Edit)).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.author, Operator::current());
        let listed = book.list().unwrap();
        assert_eq!(
            listed.iter().map(|v| &v.id).collect::<Vec<_>>(),
            [&a.id, &b.id]
        );
        assert_eq!(book.get(&b.id[..6]).unwrap(), b);
        assert_eq!(book.of_source("steps: [x]\n").unwrap(), Some(b));
        assert_eq!(book.of_source("other").unwrap(), None);
        assert!(book.get("zz").is_err());
    }

    #[test]
    fn versions_made_within_one_millisecond_list_in_the_order_they_were_made() {
        let dir = tempfile::tempdir().unwrap();
        let book = PlanBook::open(dir.path()).unwrap();
        let made: Vec<String> = (0..50)
            .map(|i| {
                let yaml = format!("steps: [s{i}]\n");
                book.record(new(&yaml, VersionKind::Edit)).unwrap().id
            })
            .collect();
        let listed: Vec<String> = book.list().unwrap().into_iter().map(|v| v.id).collect();
        assert_eq!(listed, made);
        let last = book
            .record(new("steps: [s0]\n", VersionKind::Repair))
            .unwrap();
        assert_eq!(book.of_source("steps: [s0]\n").unwrap(), Some(last));
    }
}
