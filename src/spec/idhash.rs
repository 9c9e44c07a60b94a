//! A fast hash for the names inside one workflow (step ids): eight bytes at a time, each mixed
//! in by a folded multiply (the full 128-bit product, its halves xor-ed), so that a difference
//! in any byte reaches every bit. The names come from the file being read, so the flooding a
//! keyed hash guards against is not a threat here, and std's SipHash was a tenth of
//! `validate`.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes eight bytes at a time.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl IdHasher {
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(SEED);
        self.0 = (product as u64) ^ ((product >> 64) as u64) ^ SEED.rotate_left(23);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by names of one workflow.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A `HashSet` of names (the template environment's globals, asked of every reference).
pub type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_differ_anywhere_are_told_apart() {
        let names: Vec<String> = (0..5_000)
            .map(|i| format!("step-{i}"))
            .chain(["a", "b", "ab", "ba", "", "step-1x", "averyveryverylongname"].map(String::from))
            .collect();
        let mut map: IdMap<&str, usize> = IdMap::default();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(
                map.insert(n.as_str(), i),
                None,
                "{n} collided with an equal key"
            );
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(map.get(n.as_str()), Some(&i), "{n}");
        }
        assert_eq!(map.get("step-5000"), None);
        let distinct: std::collections::HashSet<u64> = names
            .iter()
            .map(|n| {
                let mut h = IdHasher::default();
                h.write(n.as_bytes());
                h.finish()
            })
            .collect();
        assert_eq!(
            distinct.len(),
            names.len(),
            "no two of these names hash alike"
        );
    }
}
