//! Agents' notes (`remember` / `recall`), kept across runs by scope (a workflow's name, or
//! the scope it names with `memory:`) in a tree of their own: additive, so a store written
//! before has none, and nothing else changes shape.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{RunId, Store, Timestamp, decode, encode};

/// One note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Whose notes these are.
    pub scope: String,
    /// Its key within the scope: the one the agent gave, or one made from its text (so the
    /// same note remembered twice is one note).
    pub key: String,
    /// What was noted (secrets masked).
    pub text: String,
    /// The run that wrote it.
    pub run: RunId,
    /// The step that wrote it.
    pub step: String,
    /// When.
    pub at: Timestamp,
}

/// A scope and what it holds, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteScope {
    /// The scope.
    pub scope: String,
    /// How many notes it has.
    pub notes: usize,
    /// When the newest was written.
    pub last: Timestamp,
}

fn note_key(scope: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(scope.len() + 1 + key.len());
    k.extend_from_slice(scope.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn scope_prefix(scope: &str) -> Vec<u8> {
    note_key(scope, "")
}

impl Store {
    fn notes_tree(&self) -> anyhow::Result<sled::Tree> {
        self.db
            .open_tree("notes")
            .with_context(|| format!("cannot open the agents' notes in {}", self.dir.display()))
    }

    /// Keeps `note` (replacing the scope's note of the same key), durably.
    pub async fn remember(&self, note: &Note) -> anyhow::Result<()> {
        self.notes_tree()?
            .insert(note_key(&note.scope, &note.key), encode(note)?)?;
        self.flush().await
    }

    /// The notes of `scope`, oldest first.
    pub fn notes(&self, scope: &str) -> anyhow::Result<Vec<Note>> {
        let mut out: Vec<Note> = Vec::new();
        for item in self.notes_tree()?.scan_prefix(scope_prefix(scope)) {
            let (_, v) = item?;
            out.push(decode(&v, "note")?);
        }
        out.sort_by_key(|n| n.at.0);
        Ok(out)
    }

    /// Every scope that has notes, by name.
    pub fn note_scopes(&self) -> anyhow::Result<Vec<NoteScope>> {
        let mut out: Vec<NoteScope> = Vec::new();
        for item in self.notes_tree()?.iter() {
            let (_, v) = item?;
            let note: Note = decode(&v, "note")?;
            match out.last_mut() {
                Some(s) if s.scope == note.scope => {
                    s.notes += 1;
                    s.last = Timestamp(s.last.0.max(note.at.0));
                }
                _ => out.push(NoteScope {
                    scope: note.scope,
                    notes: 1,
                    last: note.at,
                }),
            }
        }
        Ok(out)
    }

    /// Removes `scope`'s notes (only the one of `key`, when given), durably; returns how many.
    pub fn forget(&self, scope: &str, key: Option<&str>) -> anyhow::Result<usize> {
        let tree = self.notes_tree()?;
        let keys: Vec<sled::IVec> = match key {
            Some(k) => tree
                .get(note_key(scope, k))?
                .map(|_| note_key(scope, k).into())
                .into_iter()
                .collect(),
            None => tree
                .scan_prefix(scope_prefix(scope))
                .keys()
                .collect::<Result<_, _>>()?,
        };
        for k in &keys {
            tree.remove(k)?;
        }
        self.flush_blocking()?;
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(scope: &str, key: &str, text: &str, at: u64) -> Note {
        Note {
            scope: scope.into(),
            key: key.into(),
            text: text.into(),
            run: RunId("r1".into()),
            step: "s".into(),
            at: Timestamp(at),
        }
    }

    #[tokio::test]
    async fn notes_are_kept_by_scope_replaced_by_key_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .remember(&note("ops", "disk", "ci-3 fills /var", 2))
            .await
            .unwrap();
        store
            .remember(&note("ops", "owner", "ann owns ci-3", 1))
            .await
            .unwrap();
        store
            .remember(&note("ops-2", "x", "other", 3))
            .await
            .unwrap();
        store
            .remember(&note("ops", "disk", "ci-3 fills /var/log", 4))
            .await
            .unwrap();
        let texts: Vec<String> = store
            .notes("ops")
            .unwrap()
            .into_iter()
            .map(|n| n.text)
            .collect();
        assert_eq!(texts, ["ann owns ci-3", "ci-3 fills /var/log"]);
        let scopes = store.note_scopes().unwrap();
        assert_eq!(
            scopes
                .iter()
                .map(|s| (s.scope.as_str(), s.notes))
                .collect::<Vec<_>>(),
            [("ops", 2), ("ops-2", 1)]
        );
        assert_eq!(store.forget("ops", Some("owner")).unwrap(), 1);
        assert_eq!(store.forget("ops", Some("owner")).unwrap(), 0);
        assert_eq!(store.forget("ops", None).unwrap(), 1);
        assert!(store.notes("ops").unwrap().is_empty());
        assert_eq!(store.notes("ops-2").unwrap().len(), 1);
    }
}
