//! A fast non-cryptographic hash (FxHash's mixing step) for the maps looked up once per
//! message: the process table (keys are ids this node assigns) and the per-actor-type
//! tables of remote messages (keys are tags and type ids registered in code). Nobody
//! outside the node chooses what is inserted into them, so flooding one with colliding
//! keys is not possible; lookups with any key stay correct.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher; see the module docs for where it may be used.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            rest = tail;
        }
        if !rest.is_empty() {
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, byte| (word << 8) | u64::from(*byte));
            self.add(word);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

pub(crate) type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_stay_distinct() {
        let mut ids = FastMap::default();
        let mut tags = FastMap::default();
        for i in 0..10_000u64 {
            ids.insert(i, i);
            tags.insert(format!("tag.{i}"), i);
        }
        assert!((0..10_000u64).all(|i| ids.get(&i) == Some(&i)));
        assert!((0..10_000u64).all(|i| tags.get(format!("tag.{i}").as_str()) == Some(&i)));
        assert_eq!(tags.get(""), None);
    }
}
