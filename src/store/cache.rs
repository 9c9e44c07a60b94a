//! Cached step results, keyed by the step's cache key (see `engine/pipeline/cache.rs` for how a
//! key is made), and the migration that drops entries whose keys no build can make again.

use std::time::Duration;

use serde::Serialize;

use super::{RunId, StepOutput, Store, Timestamp, decode, encode};

/// A cached step result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CacheEntry {
    /// The result.
    pub output: StepOutput,
    /// When it was stored.
    pub stored_at: Timestamp,
    /// The run that produced it.
    pub run: RunId,
}

impl Store {
    /// A cached result, if one is stored under `key` and younger than `ttl`.
    pub fn cached(
        &self,
        cache_key: &str,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> anyhow::Result<Option<CacheEntry>> {
        let Some(v) = self.cache.get(cache_key.as_bytes())? else {
            return Ok(None);
        };
        let entry: CacheEntry = decode(&v, "cache")?;
        if let Some(ttl) = ttl
            && now.millis_since(entry.stored_at) > ttl.as_millis() as u64
        {
            return Ok(None);
        }
        Ok(Some(entry))
    }

    /// Stores a result under `key`. Only a run's driver calls this (it writes the entry its
    /// step reports, unflushed; see `engine/pipeline/cache.rs`).
    pub fn put_cached(&self, cache_key: &str, entry: &CacheEntry) -> anyhow::Result<()> {
        self.cache.insert(cache_key.as_bytes(), encode(entry)?)?;
        Ok(())
    }

    /// Drops every cache entry; returns how many.
    pub fn clear_cache(&self) -> anyhow::Result<usize> {
        let n = self.cache.len();
        self.cache.clear()?;
        Ok(n)
    }

    /// Drops the cache entries stored before `cutoff` (and any unreadable one); returns how
    /// many. An entry's own `ttl` decides whether it is used; this bounds what is kept.
    pub fn prune_cache(&self, cutoff: Timestamp) -> anyhow::Result<usize> {
        self.drop_cache_entries(|_, v| {
            decode::<CacheEntry>(v, "cache").map_or(true, |e| e.stored_at < cutoff)
        })
    }

    /// Schema 3 made a step's derived cache key (`workflow/step/` and 16 hex digits) with
    /// Rust's `DefaultHasher`, whose algorithm changes between Rust releases; schema 4 uses
    /// SHA-256 over a written-down encoding. An old digest cannot be recomputed from the entry,
    /// so those entries are dropped: the steps run again once and are cached under the new key.
    /// Entries under an explicit `cache.key` are kept (their keys did not change), as are runs
    /// and logs. Safe to repeat if cut short.
    pub(super) fn migrate_cache_from_v3(&self) -> anyhow::Result<()> {
        self.drop_cache_entries(|k, _| is_v3_derived_key(k))?;
        Ok(())
    }

    /// Drops, in one batch, the entries `stale(key, value)` picks; returns how many.
    fn drop_cache_entries(&self, stale: impl Fn(&[u8], &[u8]) -> bool) -> anyhow::Result<usize> {
        let mut keys = Vec::new();
        for item in self.cache.iter() {
            let (k, v) = item?;
            if stale(&k, &v) {
                keys.push(k);
            }
        }
        let n = keys.len();
        if n > 0 {
            super::remove_keys(&self.cache, keys)?;
        }
        Ok(n)
    }
}

/// Whether a cache key is a schema-3 derived one: its last `/`-separated part is exactly 16
/// lowercase hex digits (`format!("{:016x}", DefaultHasher::finish())`). An explicit key that
/// happens to end so is dropped too; it is a cache, so the cost is one more run of the step.
fn is_v3_derived_key(key: &[u8]) -> bool {
    let last = key.rsplit(|&b| b == b'/').next().unwrap_or(key);
    key.contains(&b'/')
        && last.len() == 16
        && last
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::raw_db_of_version;

    fn entry(at: u64) -> CacheEntry {
        CacheEntry {
            output: StepOutput::default(),
            stored_at: Timestamp(at),
            run: RunId("r".into()),
        }
    }

    #[test]
    fn pruning_the_cache_drops_only_entries_older_than_the_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (key, at) in [("old", 1_000), ("new", 9_000)] {
            store.put_cached(key, &entry(at)).unwrap();
        }
        assert_eq!(store.prune_cache(Timestamp(5_000)).unwrap(), 1);
        let now = Timestamp(10_000);
        assert!(store.cached("old", None, now).unwrap().is_none());
        assert!(store.cached("new", None, now).unwrap().is_some());
    }

    #[test]
    fn an_entry_older_than_its_ttl_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.put_cached("k", &entry(1_000)).unwrap();
        let ttl = Some(Duration::from_secs(5));
        assert!(store.cached("k", ttl, Timestamp(6_000)).unwrap().is_some());
        assert!(store.cached("k", ttl, Timestamp(6_001)).unwrap().is_none());
    }

    #[test]
    fn opening_a_schema_3_store_drops_only_the_default_hasher_keys() {
        let dir = tempfile::tempdir().unwrap();
        let run = crate::store::tests::run("old-run", crate::store::RunState::Succeeded);
        {
            let db = raw_db_of_version(dir.path(), 3);
            db.open_tree("runs")
                .unwrap()
                .insert(run.id.0.as_bytes(), encode(&run).unwrap())
                .unwrap();
            let cache = db.open_tree("cache").unwrap();
            for k in [
                "wf/build/0123456789abcdef",
                "wf/build/v-1.2",
                "wf/x/y/fedcba9876543210",
            ] {
                cache.insert(k, encode(&entry(1_000)).unwrap()).unwrap();
            }
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let now = Timestamp(2_000);
        assert!(store.cached("wf/build/v-1.2", None, now).unwrap().is_some());
        for gone in ["wf/build/0123456789abcdef", "wf/x/y/fedcba9876543210"] {
            assert!(store.cached(gone, None, now).unwrap().is_none(), "{gone}");
        }
        assert_eq!(store.run(&run.id).unwrap().map(|r| r.id), Some(run.id));
    }

    #[test]
    fn only_sixteen_lowercase_hex_digits_after_a_slash_look_like_an_old_digest() {
        assert!(is_v3_derived_key(b"w/s/00ff00ff00ff00ff"));
        for kept in [
            &b"00ff00ff00ff00ff"[..],
            b"w/s/00FF00FF00FF00FF",
            b"w/s/00ff00ff00ff00f",
            b"w/s/00ff00ff00ff00ff0",
            b"w/s/sha256-00ff",
        ] {
            assert!(
                !is_v3_derived_key(kept),
                "{}",
                String::from_utf8_lossy(kept)
            );
        }
    }
}
