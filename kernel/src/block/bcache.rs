//! The buffer cache: 4 KiB blocks of each disk kept in memory (LRU,
//! write-back), the classic Unix cache between file systems and disks.
//! The policy is `block::cache::BufferCache`; this module gives each disk
//! one (created on first use) and backs it with synchronous block I/O.
//! Dirty blocks reach the disk when they are evicted, on `bcache sync`,
//! and at power-off ([`super::sync_all`]).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;

use ::block::cache::{BlockIo, BufferCache, CacheStats, IoFailed};

use super::{io, Disk};
use crate::sync::Mutex;

pub const BLOCK_SIZE: usize = 4096;
/// Blocks cached per disk (1 MiB).
const CAPACITY_BLOCKS: usize = 256;

static CACHES: Mutex<BTreeMap<String, (Arc<Disk>, BufferCache)>> = Mutex::new(BTreeMap::new());

/// A disk seen as the cache's backing store.
struct DiskIo<'a>(&'a Arc<Disk>);

impl BlockIo for DiskIo<'_> {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoFailed> {
        io::read(self.0, sector, buf).map_err(|e| failed(self.0, e))
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoFailed> {
        io::write(self.0, sector, buf, false).map_err(|e| failed(self.0, e))
    }
    fn flush(&mut self) -> Result<(), IoFailed> {
        io::flush(self.0).map_err(|e| failed(self.0, e))
    }
    fn capacity(&self) -> u64 {
        self.0.sectors()
    }
}

fn failed(disk: &Disk, e: super::IoError) -> IoFailed {
    log::warn!("bcache: {}: {e}", disk.name);
    IoFailed
}

/// Runs `f` on `disk`'s cache and its backing store.
pub fn with<R>(disk: &Arc<Disk>, f: impl FnOnce(&mut BufferCache, &mut dyn BlockIo) -> R) -> R {
    let mut caches = CACHES.lock();
    let (disk, cache) = caches
        .entry(disk.name.clone())
        .or_insert_with(|| (disk.clone(), BufferCache::new(BLOCK_SIZE, CAPACITY_BLOCKS)));
    f(cache, &mut DiskIo(disk))
}

/// Writes back every dirty block of every disk and flushes those disks;
/// returns how many blocks were written.
pub fn sync() -> Result<usize, String> {
    let mut caches = CACHES.lock();
    let mut written = 0;
    for (name, (disk, cache)) in caches.iter_mut() {
        written += cache.flush(&mut DiskIo(disk)).map_err(|e| alloc::format!("{name}: {e}"))?;
    }
    Ok(written)
}

/// Writes back `disk`'s dirty blocks and drops its cache (the disk is
/// going away). The cache is dropped even if the write-back failed.
pub fn forget(disk: &Arc<Disk>) -> Result<usize, String> {
    let mut caches = CACHES.lock();
    let Some((disk, mut cache)) = caches.remove(&disk.name) else { return Ok(0) };
    cache.flush(&mut DiskIo(&disk)).map_err(|e| alloc::format!("{e}"))
}

/// Each cache's counters.
pub fn stats() -> alloc::vec::Vec<(String, CacheStats)> {
    CACHES.lock().iter().map(|(name, (_, cache))| (name.clone(), cache.stats())).collect()
}
