//! The hasher of every map of an index.

use std::hash::{BuildHasher, Hasher};

/// The hasher of every map of an index: foldhash, randomly seeded, or (for tests) one under
/// which every key collides.
#[derive(Clone, Default, Debug)]
pub struct IdHasher {
    pub(super) seed: foldhash::fast::RandomState,
    pub(super) collide: bool,
}

/// The state of [`IdHasher`].
pub struct IdHash {
    inner: foldhash::fast::FoldHasher<'static>,
    collide: bool,
}

impl BuildHasher for IdHasher {
    type Hasher = IdHash;
    fn build_hasher(&self) -> IdHash {
        IdHash {
            inner: self.seed.build_hasher(),
            collide: self.collide,
        }
    }
}

impl Hasher for IdHash {
    fn write(&mut self, bytes: &[u8]) {
        self.inner.write(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.inner.write_u8(i);
    }
    fn write_u32(&mut self, i: u32) {
        self.inner.write_u32(i);
    }
    fn write_u64(&mut self, i: u64) {
        self.inner.write_u64(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.inner.write_usize(i);
    }
    fn finish(&self) -> u64 {
        if self.collide { 0 } else { self.inner.finish() }
    }
}
