//! The buffer cache: recently used blocks kept in memory, writes deferred.
//!
//! # What it is for (LDD3 ch. 16; the Unix buffer cache)
//!
//! *"I/O request from the application will be synchronous if the data is
//! found in buffer cache. If the I/O request doesn't find the data in the
//! buffer/page cache, the application is put to wait (block) and a request
//! is made to block layer"* (`seeds/002`). The cache holds up to
//! `capacity` **blocks** of `block_size` bytes (a multiple of the sector
//! size, typically 4096 — a page) of one device:
//!
//! - **Read**: a *hit* copies from memory; a *miss* reads the block from
//!   the device into a cache slot first.
//! - **Write-back**: a write only updates the cached copy and marks it
//!   **dirty**; the device sees it later — when the block is evicted, or on
//!   [`flush`](BufferCache::flush). Many writes to a hot block cost one
//!   device write. A whole-block write needs no device read; a partial one
//!   ([`write_at`](BufferCache::write_at)) is a read-modify-write on a miss.
//! - **LRU replacement**: when every slot is taken, the least recently used
//!   block is evicted (written back first if dirty).
//! - **Flush** writes every dirty block, in ascending block order (kind to
//!   a seeking disk), then issues the device's cache flush, so that
//!   everything written before the call is durable when it returns
//!   (`fsync`'s promise; Linux's `sync_blockdev` + `blkdev_issue_flush`).
//!
//! # Failures lose nothing
//!
//! A failed write-back leaves the block cached **and dirty** and returns
//! the error: the data is still in memory and the next flush tries again.
//! A failed read caches nothing. A failed eviction fails the operation that
//! needed the slot, before anything changed.
//!
//! # How
//!
//! Slots live in a `Vec`, found through a `BTreeMap` from block number to
//! slot. LRU order is kept as a use stamp per slot (a counter bumped on
//! every access); eviction scans the slots for the oldest stamp. For the
//! hundreds of blocks a kernel cache holds, that scan costs less than
//! maintaining a linked list, and it is exact LRU.
//!
//! The cache does not own the device: every call takes a `&mut dyn`
//! [`BlockIo`], which the kernel implements over a request queue (submit a
//! bio, wait for its completion) and tests implement over a
//! [`RamDisk`](crate::ramdisk::RamDisk). Blocks are numbered from 0; block
//! `b` covers sectors `b * block_size / 512 ..`; a trailing partial block of
//! the device is not addressable.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::SECTOR_SIZE;

/// A device operation failed (the device's own error is logged by its
/// driver; the cache only needs to know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoFailed;

impl fmt::Display for IoFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("I/O error")
    }
}

/// Synchronous sector I/O on one device: what the cache needs.
pub trait BlockIo {
    /// Reads `buf.len()` bytes (whole sectors) starting at `sector`.
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoFailed>;
    /// Writes `buf` (whole sectors) starting at `sector`.
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoFailed>;
    /// Makes every completed write durable (flushes the device's cache).
    fn flush(&mut self) -> Result<(), IoFailed>;
    /// Device size in sectors.
    fn capacity(&self) -> u64;
}

/// Why a cache operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheError {
    /// The block is beyond the device.
    OutOfRange {
        /// The block asked for.
        block: u64,
        /// Blocks on the device.
        blocks: u64,
    },
    /// A buffer of the wrong size, or a range past the end of the block.
    BadRange {
        /// Offset in the block.
        offset: usize,
        /// Bytes.
        len: usize,
        /// The block size.
        block_size: usize,
    },
    /// Reading this block from the device failed; nothing was cached.
    ReadFailed {
        /// The block.
        block: u64,
    },
    /// Writing this dirty block back failed; it stays cached and dirty.
    WriteFailed {
        /// The block.
        block: u64,
    },
    /// The device's cache flush failed (every dirty block was written).
    FlushFailed,
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CacheError::OutOfRange { block, blocks } => {
                write!(f, "block {block} beyond the device ({blocks} blocks)")
            }
            CacheError::BadRange { offset, len, block_size } => {
                write!(f, "{len} bytes at offset {offset} do not fit a {block_size}-byte block")
            }
            CacheError::ReadFailed { block } => write!(f, "reading block {block} failed"),
            CacheError::WriteFailed { block } => {
                write!(f, "writing back block {block} failed (kept dirty)")
            }
            CacheError::FlushFailed => f.write_str("device cache flush failed"),
        }
    }
}

/// Counters and gauges of a cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Accesses that found their block cached.
    pub hits: u64,
    /// Accesses that did not.
    pub misses: u64,
    /// Blocks dropped to make room.
    pub evictions: u64,
    /// Dirty blocks written to the device (on eviction or flush).
    pub writebacks: u64,
    /// Device errors seen.
    pub io_errors: u64,
    /// Completed [`flush`](BufferCache::flush) calls.
    pub flushes: u64,
    /// Blocks dirty now.
    pub dirty: usize,
    /// Blocks cached now.
    pub cached: usize,
}

#[derive(Debug)]
struct Slot {
    block: u64,
    data: Vec<u8>,
    dirty: bool,
    last_use: u64,
}

/// A write-back LRU cache of one device's blocks.
#[derive(Debug)]
pub struct BufferCache {
    block_size: usize,
    capacity: usize,
    slots: Vec<Slot>,
    index: BTreeMap<u64, usize>,
    clock: u64,
    stats: CacheStats,
}

impl BufferCache {
    /// A cache of `capacity_blocks` blocks of `block_size` bytes.
    /// `block_size` is rounded up to a whole number of sectors (at least
    /// one), and the capacity to at least one block.
    pub fn new(block_size: usize, capacity_blocks: usize) -> Self {
        let block_size = block_size.div_ceil(SECTOR_SIZE).max(1) * SECTOR_SIZE;
        BufferCache {
            block_size,
            capacity: capacity_blocks.max(1),
            slots: Vec::new(),
            index: BTreeMap::new(),
            clock: 0,
            stats: CacheStats::default(),
        }
    }

    /// Bytes per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Most blocks held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn sectors_per_block(&self) -> u64 {
        (self.block_size / SECTOR_SIZE) as u64
    }

    fn first_sector(&self, block: u64) -> u64 {
        // Range-checked against the device before use, so no overflow.
        block * self.sectors_per_block()
    }

    fn check(&self, dev: &dyn BlockIo, block: u64, offset: usize, len: usize) -> Result<(), CacheError> {
        let blocks = dev.capacity() / self.sectors_per_block();
        if block >= blocks {
            return Err(CacheError::OutOfRange { block, blocks });
        }
        if offset.checked_add(len).is_none_or(|e| e > self.block_size) {
            return Err(CacheError::BadRange { offset, len, block_size: self.block_size });
        }
        Ok(())
    }

    fn touch(&mut self, i: usize) {
        self.clock += 1;
        self.slots[i].last_use = self.clock;
    }

    fn write_back(&mut self, dev: &mut dyn BlockIo, i: usize) -> Result<(), CacheError> {
        let sector = self.first_sector(self.slots[i].block);
        let slot = &mut self.slots[i];
        match dev.write(sector, &slot.data) {
            Ok(()) => {
                slot.dirty = false;
                self.stats.writebacks += 1;
                Ok(())
            }
            Err(IoFailed) => {
                self.stats.io_errors += 1;
                Err(CacheError::WriteFailed { block: slot.block })
            }
        }
    }

    fn remove_slot(&mut self, i: usize) {
        let gone = self.slots.swap_remove(i);
        self.index.remove(&gone.block);
        if let Some(moved) = self.slots.get(i) {
            self.index.insert(moved.block, i);
        }
    }

    /// The slot holding `block`, loading it on a miss (from the device if
    /// `fill`, else zeroed, for a whole-block overwrite).
    fn get(&mut self, dev: &mut dyn BlockIo, block: u64, fill: bool) -> Result<usize, CacheError> {
        if let Some(&i) = self.index.get(&block) {
            self.stats.hits += 1;
            self.touch(i);
            return Ok(i);
        }
        self.stats.misses += 1;
        // Make room first, so the victim's buffer can be reused.
        let i = if self.slots.len() < self.capacity {
            self.slots.push(Slot { block, data: vec![0; self.block_size], dirty: false, last_use: 0 });
            self.slots.len() - 1
        } else {
            let victim = (0..self.slots.len())
                .min_by_key(|&i| self.slots[i].last_use)
                .ok_or(CacheError::OutOfRange { block, blocks: 0 })?;
            if self.slots[victim].dirty {
                self.write_back(dev, victim)?;
            }
            self.stats.evictions += 1;
            let old = self.slots[victim].block;
            self.index.remove(&old);
            let s = &mut self.slots[victim];
            s.block = block;
            s.dirty = false;
            s.data.fill(0);
            victim
        };
        self.index.insert(block, i);
        if fill {
            let sector = self.first_sector(block);
            if dev.read(sector, &mut self.slots[i].data).is_err() {
                self.stats.io_errors += 1;
                self.remove_slot(i);
                return Err(CacheError::ReadFailed { block });
            }
        }
        self.touch(i);
        Ok(i)
    }

    /// Reads a whole block into `out` (`block_size` bytes).
    pub fn read(&mut self, dev: &mut dyn BlockIo, block: u64, out: &mut [u8]) -> Result<(), CacheError> {
        if out.len() != self.block_size {
            return Err(CacheError::BadRange { offset: 0, len: out.len(), block_size: self.block_size });
        }
        self.read_at(dev, block, 0, out)
    }

    /// Reads `out.len()` bytes at `offset` within `block`.
    pub fn read_at(
        &mut self,
        dev: &mut dyn BlockIo,
        block: u64,
        offset: usize,
        out: &mut [u8],
    ) -> Result<(), CacheError> {
        self.check(dev, block, offset, out.len())?;
        let i = self.get(dev, block, true)?;
        out.copy_from_slice(&self.slots[i].data[offset..offset + out.len()]);
        Ok(())
    }

    /// Replaces a whole block (`block_size` bytes); no device read needed.
    pub fn write(&mut self, dev: &mut dyn BlockIo, block: u64, data: &[u8]) -> Result<(), CacheError> {
        if data.len() != self.block_size {
            return Err(CacheError::BadRange { offset: 0, len: data.len(), block_size: self.block_size });
        }
        self.write_at(dev, block, 0, data)
    }

    /// Writes `data` at `offset` within `block`: read-modify-write if the
    /// block is not cached and `data` does not cover it whole.
    pub fn write_at(
        &mut self,
        dev: &mut dyn BlockIo,
        block: u64,
        offset: usize,
        data: &[u8],
    ) -> Result<(), CacheError> {
        self.check(dev, block, offset, data.len())?;
        let whole = offset == 0 && data.len() == self.block_size;
        let i = self.get(dev, block, !whole)?;
        let s = &mut self.slots[i];
        s.data[offset..offset + data.len()].copy_from_slice(data);
        s.dirty = true;
        Ok(())
    }

    /// Writes every dirty block back (ascending block order), then flushes
    /// the device. Returns the number of blocks written. Stops at the first
    /// failed write; that block and the ones after it stay dirty.
    pub fn flush(&mut self, dev: &mut dyn BlockIo) -> Result<usize, CacheError> {
        let dirty: Vec<usize> = self.index.values().copied().filter(|&i| self.slots[i].dirty).collect();
        for &i in &dirty {
            self.write_back(dev, i)?;
        }
        if dev.flush().is_err() {
            self.stats.io_errors += 1;
            return Err(CacheError::FlushFailed);
        }
        self.stats.flushes += 1;
        Ok(dirty.len())
    }

    /// Drops every clean block (dirty ones are kept: dropping them would
    /// lose data). Returns how many were dropped.
    pub fn invalidate(&mut self) -> usize {
        let before = self.slots.len();
        self.slots.retain(|s| s.dirty);
        self.index = self.slots.iter().enumerate().map(|(i, s)| (s.block, i)).collect();
        before - self.slots.len()
    }

    /// True if `block` is cached.
    pub fn contains(&self, block: u64) -> bool {
        self.index.contains_key(&block)
    }

    /// True if `block` is cached and dirty.
    pub fn is_dirty(&self, block: u64) -> bool {
        self.index.get(&block).is_some_and(|&i| self.slots[i].dirty)
    }

    /// Counters, plus the current dirty and cached counts.
    pub fn stats(&self) -> CacheStats {
        CacheStats { dirty: self.slots.iter().filter(|s| s.dirty).count(), cached: self.slots.len(), ..self.stats }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ramdisk::RamDisk;
    use alloc::vec::Vec;

    /// A RAM disk that logs writes and fails on demand.
    struct Dev {
        disk: RamDisk,
        log: Vec<(char, u64)>,
        fail_writes: bool,
        fail_reads: bool,
        fail_flush: bool,
    }

    impl Dev {
        fn new(sectors: u64) -> Self {
            Dev {
                disk: RamDisk::new(sectors),
                log: Vec::new(),
                fail_writes: false,
                fail_reads: false,
                fail_flush: false,
            }
        }
        fn writes(&self) -> Vec<u64> {
            self.log.iter().filter(|e| e.0 == 'w').map(|e| e.1).collect()
        }
    }

    impl BlockIo for Dev {
        fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoFailed> {
            self.log.push(('r', sector));
            if self.fail_reads {
                return Err(IoFailed);
            }
            BlockIo::read(&mut self.disk, sector, buf)
        }
        fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoFailed> {
            self.log.push(('w', sector));
            if self.fail_writes {
                return Err(IoFailed);
            }
            BlockIo::write(&mut self.disk, sector, buf)
        }
        fn flush(&mut self) -> Result<(), IoFailed> {
            self.log.push(('f', 0));
            if self.fail_flush {
                return Err(IoFailed);
            }
            Ok(())
        }
        fn capacity(&self) -> u64 {
            self.disk.sectors()
        }
    }

    const BS: usize = 1024; // two sectors per block

    fn block(v: u8) -> Vec<u8> {
        vec![v; BS]
    }

    #[test]
    fn hit_and_miss() {
        let mut dev = Dev::new(20);
        dev.disk.write(2, &block(5)).unwrap();
        let mut c = BufferCache::new(BS, 4);
        let mut out = block(0);
        c.read(&mut dev, 1, &mut out).unwrap();
        assert_eq!(out, block(5));
        c.read(&mut dev, 1, &mut out).unwrap();
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.cached), (1, 1, 1));
        assert_eq!(dev.log, [('r', 2)]);
    }

    #[test]
    fn lru_eviction_order() {
        let mut dev = Dev::new(20);
        let mut c = BufferCache::new(BS, 3);
        let mut out = block(0);
        for b in [0, 1, 2] {
            c.read(&mut dev, b, &mut out).unwrap();
        }
        c.read(&mut dev, 0, &mut out).unwrap(); // 0 is now most recent
        c.read(&mut dev, 3, &mut out).unwrap(); // evicts 1
        assert!(!c.contains(1));
        assert!(c.contains(0) && c.contains(2) && c.contains(3));
        c.read(&mut dev, 4, &mut out).unwrap(); // evicts 2
        assert!(!c.contains(2));
        assert_eq!(c.stats().evictions, 2);
        // Clean evictions write nothing.
        assert!(dev.writes().is_empty());
    }

    #[test]
    fn write_back_only_dirty_blocks_on_eviction() {
        let mut dev = Dev::new(20);
        let mut c = BufferCache::new(BS, 2);
        let mut out = block(0);
        c.write(&mut dev, 0, &block(1)).unwrap(); // dirty, no device read
        c.read(&mut dev, 1, &mut out).unwrap(); // clean
        assert!(dev.log.iter().all(|e| e != &('r', 0)));
        assert!(dev.writes().is_empty(), "write-back, not write-through");
        c.read(&mut dev, 2, &mut out).unwrap(); // evicts dirty 0
        assert_eq!(dev.writes(), [0]);
        c.read(&mut dev, 3, &mut out).unwrap(); // evicts clean 1
        assert_eq!(dev.writes(), [0]);
        let mut check = block(0);
        dev.disk.read(0, &mut check).unwrap();
        assert_eq!(check, block(1));
        assert_eq!(c.stats().writebacks, 1);
    }

    #[test]
    fn flush_writes_dirty_in_order_then_flushes_device() {
        let mut dev = Dev::new(20);
        let mut c = BufferCache::new(BS, 8);
        for b in [5u64, 1, 3] {
            c.write(&mut dev, b, &block(b as u8)).unwrap();
        }
        let mut out = block(0);
        c.read(&mut dev, 2, &mut out).unwrap();
        assert_eq!(c.stats().dirty, 3);
        assert_eq!(c.flush(&mut dev).unwrap(), 3);
        let tail: Vec<_> = dev.log.iter().filter(|e| e.0 != 'r').copied().collect();
        assert_eq!(tail, [('w', 2), ('w', 6), ('w', 10), ('f', 0)]);
        assert_eq!(c.stats().dirty, 0);
        assert_eq!(c.stats().flushes, 1);
        // Nothing dirty: only the device flush.
        assert_eq!(c.flush(&mut dev).unwrap(), 0);
        assert_eq!(dev.log.last(), Some(&('f', 0)));
    }

    #[test]
    fn failed_write_back_keeps_data_dirty() {
        let mut dev = Dev::new(20);
        let mut c = BufferCache::new(BS, 1);
        c.write(&mut dev, 0, &block(9)).unwrap();
        dev.fail_writes = true;
        assert_eq!(c.flush(&mut dev), Err(CacheError::WriteFailed { block: 0 }));
        assert!(c.is_dirty(0));
        // Eviction needing the slot fails too, and changes nothing.
        let mut out = block(0);
        assert_eq!(c.read(&mut dev, 1, &mut out), Err(CacheError::WriteFailed { block: 0 }));
        assert!(c.is_dirty(0) && !c.contains(1));
        c.read(&mut dev, 0, &mut out).unwrap();
        assert_eq!(out, block(9));
        dev.fail_writes = false;
        assert_eq!(c.flush(&mut dev), Ok(1));
        dev.disk.read(0, &mut out).unwrap();
        assert_eq!(out, block(9));
        assert_eq!(c.stats().io_errors, 2);
    }

    #[test]
    fn failed_read_and_flush() {
        let mut dev = Dev::new(20);
        let mut c = BufferCache::new(BS, 2);
        dev.fail_reads = true;
        let mut out = block(0);
        assert_eq!(c.read(&mut dev, 1, &mut out), Err(CacheError::ReadFailed { block: 1 }));
        assert_eq!(c.stats().cached, 0);
        dev.fail_reads = false;
        c.write(&mut dev, 0, &block(1)).unwrap();
        dev.fail_flush = true;
        assert_eq!(c.flush(&mut dev), Err(CacheError::FlushFailed));
        assert_eq!(c.stats().flushes, 0);
    }

    #[test]
    fn partial_write_is_read_modify_write() {
        let mut dev = Dev::new(20);
        dev.disk.write(4, &block(7)).unwrap();
        let mut c = BufferCache::new(BS, 2);
        c.write_at(&mut dev, 2, 100, &[1, 2, 3]).unwrap();
        assert_eq!(dev.log, [('r', 4)]);
        let mut out = block(0);
        c.read(&mut dev, 2, &mut out).unwrap();
        assert_eq!(&out[98..105], &[7, 7, 1, 2, 3, 7, 7]);
        let mut part = [0u8; 4];
        c.read_at(&mut dev, 2, 101, &mut part).unwrap();
        assert_eq!(part, [2, 3, 7, 7]);
        c.flush(&mut dev).unwrap();
        dev.disk.read(4, &mut out).unwrap();
        assert_eq!(&out[99..104], &[7, 1, 2, 3, 7]);
    }

    #[test]
    fn bad_arguments() {
        let mut dev = Dev::new(21); // 10 whole blocks + 1 sector
        let mut c = BufferCache::new(BS, 2);
        let mut out = block(0);
        assert_eq!(c.read(&mut dev, 10, &mut out), Err(CacheError::OutOfRange { block: 10, blocks: 10 }));
        assert_eq!(c.read(&mut dev, u64::MAX, &mut out), Err(CacheError::OutOfRange { block: u64::MAX, blocks: 10 }));
        assert!(matches!(c.read(&mut dev, 0, &mut [0u8; 10]), Err(CacheError::BadRange { .. })));
        assert!(matches!(c.write_at(&mut dev, 0, 1020, &[0u8; 8]), Err(CacheError::BadRange { .. })));
        assert!(matches!(c.write_at(&mut dev, 0, usize::MAX, &[0u8; 8]), Err(CacheError::BadRange { .. })));
        assert!(dev.log.is_empty());
        assert_eq!(BufferCache::new(1000, 0).block_size(), 1024);
        assert_eq!(BufferCache::new(0, 0).capacity(), 1);
    }

    #[test]
    fn invalidate_keeps_dirty() {
        let mut dev = Dev::new(20);
        let mut c = BufferCache::new(BS, 4);
        let mut out = block(0);
        c.read(&mut dev, 0, &mut out).unwrap();
        c.read(&mut dev, 1, &mut out).unwrap();
        c.write(&mut dev, 2, &block(3)).unwrap();
        assert_eq!(c.invalidate(), 2);
        assert!(c.contains(2) && !c.contains(0));
        c.read(&mut dev, 2, &mut out).unwrap();
        assert_eq!(out, block(3));
    }
}
