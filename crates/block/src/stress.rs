//! The seeded random read/write workload of the end-to-end disk test, and
//! the reference model it is checked against.
//!
//! # How the test works
//!
//! The kernel runs a [`Sequence`] of operations (10 000 in the end-to-end
//! test) against a real disk through the whole block layer — bios, merging,
//! a scheduler, a driver, interrupts. For a write it fills the buffer with
//! [`pattern::fill`]`(seed, sector, …)`; for a read it feeds the data read
//! into an [`Fnv1a64`], in order, and prints the final digest. The host
//! replays the same sequence — it is fully determined by `(seed,
//! capacity, max_sectors)` — against a [`DiskModel`], a `Vec<u8>` image of
//! the disk starting from the same contents, and compares: the reads
//! digest (every byte every read returned) and the final disk image (every
//! write landed where it should, and nothing else changed).
//!
//! # Making the reads mean something
//!
//! Uniformly random reads on a large disk would almost always read sectors
//! nobody wrote, and a lost or misplaced write would go unnoticed. So the
//! generator is biased:
//!
//! - half of the writes go to a small **hot region** at the start of the
//!   disk (8 × `max_sectors`), so sectors are overwritten and a stale write
//!   shows up as old data;
//! - half of the reads **overlap one of the last 8 writes** (a shifted
//!   window around it, clamped to the disk), a quarter read the hot region,
//!   a quarter are uniform;
//! - each write gets its own pattern seed (a hash of the sequence seed and
//!   the operation number).
//!
//! The random numbers come from xorshift64* seeded through splitmix64;
//! every range is inside the disk and `1 ..= max_sectors` long (at most the
//! capacity).

use alloc::vec;
use alloc::vec::Vec;

use crate::pattern::{self, splitmix64, Fnv1a64};
use crate::SECTOR_SIZE;

/// One operation of the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StressOp {
    /// Read `sectors` sectors at `sector`.
    Read {
        /// First sector.
        sector: u64,
        /// Length.
        sectors: u32,
    },
    /// Write `sectors` sectors at `sector`, contents
    /// [`pattern::fill`]`(seed, sector, …)`.
    Write {
        /// First sector.
        sector: u64,
        /// Length.
        sectors: u32,
        /// Pattern seed.
        seed: u64,
    },
}

impl StressOp {
    /// First sector.
    pub fn sector(&self) -> u64 {
        match *self {
            StressOp::Read { sector, .. } | StressOp::Write { sector, .. } => sector,
        }
    }

    /// Length in sectors.
    pub fn sectors(&self) -> u32 {
        match *self {
            StressOp::Read { sectors, .. } | StressOp::Write { sectors, .. } => sectors,
        }
    }

    /// Length in bytes.
    pub fn bytes(&self) -> usize {
        self.sectors() as usize * SECTOR_SIZE
    }

    /// True for a write.
    pub fn is_write(&self) -> bool {
        matches!(self, StressOp::Write { .. })
    }
}

const RECENT: usize = 8;
const HOT_FACTOR: u64 = 8;

/// The workload: an endless iterator of [`StressOp`]s (empty on a disk of
/// zero sectors). Use `.take(n)`.
#[derive(Debug, Clone)]
pub struct Sequence {
    seed: u64,
    state: u64,
    capacity: u64,
    max: u64,
    n: u64,
    recent: [(u64, u32); RECENT],
    recent_len: usize,
    recent_next: usize,
}

impl Sequence {
    /// The workload for a disk of `capacity` sectors, requests of at most
    /// `max_sectors` (0 is taken as 1).
    pub fn new(seed: u64, capacity: u64, max_sectors: u32) -> Self {
        let state = splitmix64(seed);
        Sequence {
            seed,
            state: if state == 0 { 0x9e37_79b9_7f4a_7c15 } else { state },
            capacity,
            max: (max_sectors.max(1) as u64).min(capacity),
            n: 0,
            recent: [(0, 0); RECENT],
            recent_len: 0,
            recent_next: 0,
        }
    }

    /// xorshift64*.
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A start for `len` sectors, uniform over the first `region` sectors.
    fn start_in(&mut self, region: u64, len: u64) -> u64 {
        self.below(region - len + 1)
    }
}

impl Iterator for Sequence {
    type Item = StressOp;

    fn next(&mut self) -> Option<StressOp> {
        if self.capacity == 0 {
            return None;
        }
        let n = self.n;
        self.n += 1;
        let len = 1 + self.below(self.max);
        let hot = (HOT_FACTOR * self.max).min(self.capacity);
        let write = self.next_u64() & 1 == 1;
        let choice = self.below(4);
        if write {
            let sector = if choice < 2 { self.start_in(hot, len) } else { self.start_in(self.capacity, len) };
            self.recent[self.recent_next] = (sector, len as u32);
            self.recent_next = (self.recent_next + 1) % RECENT;
            self.recent_len = (self.recent_len + 1).min(RECENT);
            let seed = splitmix64(self.seed ^ splitmix64(n));
            return Some(StressOp::Write { sector, sectors: len as u32, seed });
        }
        let sector = if choice < 2 && self.recent_len > 0 {
            // Overlap a recent write: start anywhere from len-1 before it
            // to its last sector.
            let (ws, wl) = self.recent[self.below(self.recent_len as u64) as usize];
            let lo = ws.saturating_sub(len - 1);
            let hi = ws + wl as u64 - 1;
            let s = lo + self.below(hi - lo + 1);
            s.min(self.capacity - len)
        } else if choice < 3 {
            self.start_in(hot, len)
        } else {
            self.start_in(self.capacity, len)
        };
        Some(StressOp::Read { sector, sectors: len as u32 })
    }
}

/// The host's model of the disk: an image the operations are applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskModel {
    image: Vec<u8>,
    digest: Fnv1a64,
    /// Reads applied.
    pub reads: u64,
    /// Writes applied.
    pub writes: u64,
    /// Operations refused as out of range.
    pub rejected: u64,
}

impl DiskModel {
    /// A zero-filled disk of `capacity` sectors.
    pub fn zeroed(capacity: u64) -> Self {
        Self::new(vec![0; capacity as usize * SECTOR_SIZE])
    }

    /// A disk whose initial contents are `image` (the disk image the kernel
    /// started from; a trailing partial sector is dropped).
    pub fn new(mut image: Vec<u8>) -> Self {
        image.truncate(image.len() / SECTOR_SIZE * SECTOR_SIZE);
        DiskModel { image, digest: Fnv1a64::new(), reads: 0, writes: 0, rejected: 0 }
    }

    /// Size in sectors.
    pub fn capacity(&self) -> u64 {
        (self.image.len() / SECTOR_SIZE) as u64
    }

    /// The current image.
    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// The image, consuming the model.
    pub fn into_image(self) -> Vec<u8> {
        self.image
    }

    /// Applies `op`. A read returns the FNV-1a digest of the data it read
    /// (and feeds that data to [`reads_digest`](Self::reads_digest)); a
    /// write returns `None`. An operation outside the disk changes nothing,
    /// is counted in `rejected`, and returns `None`.
    pub fn apply(&mut self, op: &StressOp) -> Option<u64> {
        let start = op.sector().checked_mul(SECTOR_SIZE as u64);
        let end = start.and_then(|s| s.checked_add(op.bytes() as u64));
        let range = match (start, end) {
            (Some(s), Some(e)) if e <= self.image.len() as u64 => s as usize..e as usize,
            _ => {
                self.rejected += 1;
                return None;
            }
        };
        match *op {
            StressOp::Read { .. } => {
                let data = &self.image[range];
                self.digest.update(data);
                self.reads += 1;
                Some(pattern::fnv1a64(data))
            }
            StressOp::Write { sector, seed, .. } => {
                pattern::fill(seed, sector, &mut self.image[range]);
                self.writes += 1;
                None
            }
        }
    }

    /// FNV-1a over all data read so far, in order: what the kernel's run
    /// reports.
    pub fn reads_digest(&self) -> u64 {
        self.digest.finish()
    }

    /// Same as [`reads_digest`](Self::reads_digest).
    pub fn digest(&self) -> u64 {
        self.reads_digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let a: Vec<_> = Sequence::new(42, 10_000, 64).take(1000).collect();
        let b: Vec<_> = Sequence::new(42, 10_000, 64).take(1000).collect();
        let c: Vec<_> = Sequence::new(43, 10_000, 64).take(1000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, Sequence::new(42, 10_001, 64).take(1000).collect::<Vec<_>>());
    }

    #[test]
    fn ranges_inside_disk_and_mixed() {
        for (cap, max) in [(10_000u64, 64u32), (5, 64), (1, 1), (100, 0), (1 << 40, 256)] {
            let mut writes = 0;
            for op in Sequence::new(7, cap, max).take(10_000) {
                let n = op.sectors() as u64;
                assert!(n >= 1 && n <= (max.max(1) as u64).min(cap), "{op:?}");
                assert!(op.sector() + n <= cap, "{op:?} cap {cap}");
                writes += op.is_write() as u32;
            }
            assert!((4500..5500).contains(&writes), "{writes}");
        }
        assert_eq!(Sequence::new(1, 0, 8).next(), None);
    }

    #[test]
    fn reads_often_overlap_recent_writes() {
        let ops: Vec<_> = Sequence::new(3, 1 << 30, 64).take(10_000).collect();
        let mut overlapping = 0;
        let mut reads = 0;
        for (i, op) in ops.iter().enumerate() {
            if op.is_write() {
                continue;
            }
            reads += 1;
            let (s, e) = (op.sector(), op.sector() + op.sectors() as u64);
            if ops[..i].iter().rev().filter(|o| o.is_write()).take(8).any(|w| {
                let (ws, we) = (w.sector(), w.sector() + w.sectors() as u64);
                s < we && ws < e
            }) {
                overlapping += 1;
            }
        }
        // On a 512 GiB disk, uniform reads would essentially never overlap.
        assert!(overlapping * 100 / reads > 45, "{overlapping}/{reads}");
    }

    #[test]
    fn model_applies_writes() {
        let mut m = DiskModel::zeroed(100);
        let w = StressOp::Write { sector: 10, sectors: 3, seed: 99 };
        assert_eq!(m.apply(&w), None);
        assert!(pattern::check(99, 10, &m.image()[10 * 512..13 * 512]).is_ok());
        assert!(m.image()[..10 * 512].iter().all(|&b| b == 0));
        assert!(m.image()[13 * 512..].iter().all(|&b| b == 0));
        let r = StressOp::Read { sector: 10, sectors: 3 };
        assert_eq!(m.apply(&r), Some(pattern::fnv1a64(&m.image()[10 * 512..13 * 512])));
        let out = StressOp::Read { sector: 99, sectors: 2 };
        assert_eq!(m.apply(&out), None);
        assert_eq!((m.reads, m.writes, m.rejected), (1, 1, 1));
        let huge = StressOp::Read { sector: u64::MAX, sectors: 2 };
        assert_eq!(m.apply(&huge), None);
        // Replaying from a non-blank initial image.
        let mut m = DiskModel::new(vec![0xa5; 4 * 512 + 100]);
        assert_eq!(m.capacity(), 4);
        let r = StressOp::Read { sector: 3, sectors: 1 };
        assert_eq!(m.apply(&r), Some(pattern::fnv1a64(&[0xa5; 512])));
        assert_eq!(m.digest(), m.reads_digest());
        assert_eq!(m.into_image().len(), 4 * 512);
    }

    #[test]
    fn digest_detects_one_wrong_byte() {
        // The kernel side: apply the same ops to a "real" disk (here a
        // second model), digesting what reads return.
        let ops: Vec<_> = Sequence::new(5, 2048, 32).take(2000).collect();
        let mut model = DiskModel::zeroed(2048);
        for op in &ops {
            model.apply(op);
        }
        let mut disk = DiskModel::zeroed(2048);
        let mut flipped = false;
        let mut kernel = Fnv1a64::new();
        for op in &ops {
            match *op {
                StressOp::Read { sector, .. } => {
                    let r = sector as usize * 512..sector as usize * 512 + op.bytes();
                    let mut data = disk.image()[r].to_vec();
                    if !flipped && data.iter().any(|&b| b != 0) {
                        data[3] ^= 1; // one bad byte in one read
                        flipped = true;
                    }
                    kernel.update(&data);
                }
                StressOp::Write { .. } => {
                    disk.apply(op);
                }
            }
        }
        assert!(flipped);
        assert_eq!(disk.image(), model.image());
        assert_ne!(kernel.finish(), model.reads_digest());
        // Without the flip, the digests agree.
        let mut again = DiskModel::zeroed(2048);
        for op in &ops {
            again.apply(op);
        }
        assert_eq!(again.reads_digest(), model.reads_digest());
    }
}
