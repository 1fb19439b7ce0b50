//! Deterministic sector contents, and FNV-1a digests.
//!
//! # Why a pattern
//!
//! An end-to-end disk test writes data in the guest and checks it later —
//! in the guest after a re-read, or on the host in the disk image. Both
//! sides must agree on what each sector should hold without shipping the
//! data around, and the content must expose the bugs a block driver has:
//!
//! - a sector written to the **wrong place** (content depends on the sector
//!   number),
//! - data **shifted** within a sector or a segment misordered (content
//!   depends on the byte offset),
//! - a **stale** or lost write (content depends on a per-write seed, so an
//!   old version of the sector differs from the new one).
//!
//! Byte `i` of sector `s` for seed `k` comes from a splitmix64 stream:
//! `base = mix(mix(k) ^ s·γ)`, word `w = i / 8` is `mix(base + (w+1)·γ)`,
//! little-endian. splitmix64's finaliser is a bijection with full
//! avalanche, so any change of seed, sector or word flips about half the
//! bits; eight bytes cost one multiply-heavy mix, cheap enough to fill a
//! disk under TCG.
//!
//! [`fnv1a64`] / [`Fnv1a64`] digest data (64-bit FNV-1a): one multiply per
//! byte, no tables, identical on host and guest — what the stress test
//! compares across the two.

use core::fmt;

use crate::SECTOR_SIZE;

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// splitmix64's finaliser (a bijection on `u64`).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One step of splitmix64 from state `x`: `mix(x + γ)`.
pub fn splitmix64(x: u64) -> u64 {
    mix(x.wrapping_add(GAMMA))
}

fn sector_base(seed: u64, sector: u64) -> u64 {
    mix(mix(seed) ^ sector.wrapping_mul(GAMMA))
}

fn word(base: u64, w: usize) -> [u8; 8] {
    mix(base.wrapping_add((w as u64 + 1).wrapping_mul(GAMMA))).to_le_bytes()
}

/// Fills `buf` with the pattern of consecutive sectors from `first_sector`.
/// `buf.len()` should be a multiple of [`SECTOR_SIZE`]; a trailing partial
/// sector gets that sector's first bytes.
pub fn fill(seed: u64, first_sector: u64, buf: &mut [u8]) {
    for (k, sec) in buf.chunks_mut(SECTOR_SIZE).enumerate() {
        let base = sector_base(seed, first_sector.wrapping_add(k as u64));
        for (w, chunk) in sec.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&word(base, w)[..chunk.len()]);
        }
    }
}

/// The first byte where `buf` differs from the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The sector (absolute, on the disk).
    pub sector: u64,
    /// Byte offset inside that sector.
    pub offset: usize,
    /// What the pattern says.
    pub expected: u8,
    /// What was found.
    pub found: u8,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sector {} offset {}: expected {:#04x}, found {:#04x}",
            self.sector, self.offset, self.expected, self.found
        )
    }
}

/// Checks `buf` against the pattern [`fill`] would write.
pub fn check(seed: u64, first_sector: u64, buf: &[u8]) -> Result<(), Mismatch> {
    for (k, sec) in buf.chunks(SECTOR_SIZE).enumerate() {
        let sector = first_sector.wrapping_add(k as u64);
        let base = sector_base(seed, sector);
        for (w, chunk) in sec.chunks(8).enumerate() {
            let want = word(base, w);
            if let Some(j) = (0..chunk.len()).find(|&j| chunk[j] != want[j]) {
                return Err(Mismatch { sector, offset: w * 8 + j, expected: want[j], found: chunk[j] });
            }
        }
    }
    Ok(())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Streaming 64-bit FNV-1a.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv1a64(u64);

impl Fnv1a64 {
    /// A fresh digest.
    pub fn new() -> Self {
        Fnv1a64(FNV_OFFSET)
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let mut h = self.0;
        for &b in data {
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.0 = h;
    }

    /// The digest of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self::new()
    }
}

/// 64-bit FNV-1a of `data`.
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h = Fnv1a64::new();
    h.update(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn deterministic_and_distinct() {
        let mut a = vec![0u8; 4 * SECTOR_SIZE];
        let mut b = vec![0u8; 4 * SECTOR_SIZE];
        fill(1, 10, &mut a);
        fill(1, 10, &mut b);
        assert_eq!(a, b);
        // Other seed: every sector differs.
        fill(2, 10, &mut b);
        for (x, y) in a.chunks(SECTOR_SIZE).zip(b.chunks(SECTOR_SIZE)) {
            assert_ne!(x, y);
        }
        // Sectors differ from each other, and fill is position-consistent.
        assert_ne!(a[..SECTOR_SIZE], a[SECTOR_SIZE..2 * SECTOR_SIZE]);
        let mut one = vec![0u8; SECTOR_SIZE];
        fill(1, 12, &mut one);
        assert_eq!(one, a[2 * SECTOR_SIZE..3 * SECTOR_SIZE]);
        // Words within a sector differ (a shift is visible).
        assert_ne!(a[..8], a[8..16]);
        // Roughly half the bits are set.
        let ones: u32 = a.iter().map(|x| x.count_ones()).sum();
        assert!((7000..9400).contains(&ones), "{ones}");
    }

    #[test]
    fn check_finds_exact_mismatch() {
        let mut a = vec![0u8; 4 * SECTOR_SIZE];
        fill(7, 100, &mut a);
        assert_eq!(check(7, 100, &a), Ok(()));
        a[2 * SECTOR_SIZE + 77] ^= 0x10;
        let m = check(7, 100, &a).unwrap_err();
        assert_eq!((m.sector, m.offset), (102, 77));
        assert_eq!(m.expected ^ m.found, 0x10);
        // Misplaced sector, stale seed, shifted data.
        let mut a = vec![0u8; 2 * SECTOR_SIZE];
        fill(7, 100, &mut a);
        assert_eq!(check(7, 101, &a).unwrap_err().sector, 101);
        assert_eq!(check(8, 100, &a).unwrap_err().offset, 0);
        a.rotate_right(1);
        assert!(check(7, 100, &a).is_err());
    }

    #[test]
    fn fnv_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        let mut h = Fnv1a64::new();
        h.update(b"foo");
        h.update(b"bar");
        assert_eq!(h.finish(), fnv1a64(b"foobar"));
    }
}
