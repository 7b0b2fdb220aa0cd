//! The hash of the model's maps and sets, keyed by the checkout's folders: no adversary picks
//! those keys, and SipHash's cost per write was most of a lookup (and lookups by folder most of
//! the model's cost per kustomization in a deep tree). FxHash's multiply-and-rotate per word,
//! finished with splitmix64's mix so that the low bits a table indexes by depend on every word.
//!
//! The folders are keyed by their bytes (`OsString`, looked up by `path.as_os_str()`), not as
//! `PathBuf`: `Path`'s own `Hash` parses the path into components (so that `a//b` and `a/./b`
//! hash alike), a loop over every byte that cost more than the table. The model's folders are
//! canonical (the walk's, `canonicalize`'s, or built from those a component at a time), so equal
//! folders have equal bytes.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct PathHasher(u64);

impl PathHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<PathHasher>>;
pub type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<PathHasher>>;
