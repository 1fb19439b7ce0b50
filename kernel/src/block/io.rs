//! Synchronous block I/O for the shell, the buffer cache and the tests:
//! a transfer buffer of DMA pages, cut into bios that respect the disk's
//! limits, submitted together (the queue may merge them again) and waited
//! for with a bounded sleep.
//!
//! Flush and FUA: a bio flagged FUA must be on stable storage when it
//! completes. virtio-blk has no FUA bit, so — as Linux does for such
//! devices — a FUA write is the write followed by a cache flush, and the
//! caller hears "done" only after the flush.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use ::block::bio::{Bio, BioVec, Flags, Op};
use ::block::SECTOR_SIZE;
use hal::dma::DmaRegion;

use super::{new_bio_id, Disk, IoError, Page};
use crate::mm::PAGE_SIZE;
use crate::sync::{Completion, SpinLockIrq};

/// How long a synchronous transfer waits before reporting a timeout.
const TIMEOUT_TICKS: u64 = 30 * crate::time::HZ;

/// Pages for a transfer of `len` bytes.
pub struct Buffer {
    pages: Vec<Page>,
    len: usize,
}

impl Buffer {
    pub fn new(len: usize) -> Result<Buffer, IoError> {
        let mut pages = Vec::new();
        for _ in 0..len.div_ceil(PAGE_SIZE as usize) {
            let page = crate::dma::alloc_coherent(PAGE_SIZE as usize, u64::MAX).map_err(|_| IoError::NoMemory)?;
            pages.push(Arc::new(page));
        }
        Ok(Buffer { pages, len })
    }

    /// Copies `data` in at byte 0.
    pub fn fill(&self, data: &[u8]) {
        for (page, chunk) in self.pages.iter().zip(data.chunks(PAGE_SIZE as usize)) {
            page.write(0, chunk).expect("a chunk fits its page");
        }
    }

    /// Copies the buffer out into `out`.
    pub fn copy_out(&self, out: &mut [u8]) {
        for (page, chunk) in self.pages.iter().zip(out.chunks_mut(PAGE_SIZE as usize)) {
            page.read(0, chunk).expect("a chunk fits its page");
        }
    }

    /// The bios for `op` at `sector`, each within the disk's limits.
    pub fn bios(&self, disk: &Arc<Disk>, op: Op, sector: u64, flags: Flags) -> Vec<Bio<Page>> {
        let limits = disk.driver().limits();
        let per_bio_pages =
            limits.max_segments.min((limits.max_sectors as usize * SECTOR_SIZE) / PAGE_SIZE as usize).max(1);
        let mut bios = Vec::new();
        let mut sector = sector;
        let mut left = self.len;
        for group in self.pages.chunks(per_bio_pages) {
            let mut segments = Vec::new();
            for page in group {
                let len = left.min(PAGE_SIZE as usize);
                if len == 0 {
                    break;
                }
                segments.push(BioVec { page: page.clone(), offset: 0, len });
                left -= len;
            }
            let bio = Bio { op, sector, segments, flags, id: new_bio_id() };
            sector += bio.sectors();
            bios.push(bio);
        }
        bios
    }
}

/// Counts outstanding bios of one transfer; the last one wakes the waiter.
struct Waiter {
    left: AtomicUsize,
    error: SpinLockIrq<Option<IoError>>,
    done: Arc<Completion>,
}

/// Submits `bios` and sleeps until all of them completed (or the timeout).
pub fn submit_and_wait(disk: &Arc<Disk>, bios: Vec<Bio<Page>>) -> Result<(), IoError> {
    if bios.is_empty() {
        return Ok(());
    }
    let waiter = Arc::new(Waiter {
        left: AtomicUsize::new(bios.len()),
        error: SpinLockIrq::new(None),
        done: Arc::new(Completion::new()),
    });
    let plug = disk.plug();
    for bio in bios {
        let w = waiter.clone();
        disk.submit(
            bio,
            alloc::boxed::Box::new(move |result| {
                if let Err(e) = result {
                    w.error.lock().get_or_insert(e);
                }
                if w.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    w.done.complete();
                }
            }),
        );
    }
    drop(plug);
    if !waiter.done.wait_timeout(TIMEOUT_TICKS) {
        return Err(IoError::Timeout);
    }
    let error = waiter.error.lock().take();
    error.map_or(Ok(()), Err)
}

/// Reads `out.len()` bytes (a multiple of 512) from `sector`.
pub fn read(disk: &Arc<Disk>, sector: u64, out: &mut [u8]) -> Result<(), IoError> {
    let buf = Buffer::new(out.len())?;
    submit_and_wait(disk, buf.bios(disk, Op::Read, sector, Flags::default()))?;
    buf.copy_out(out);
    Ok(())
}

/// Writes `data` (a multiple of 512 bytes) at `sector`; with `fua` the
/// data is on stable storage when this returns.
pub fn write(disk: &Arc<Disk>, sector: u64, data: &[u8], fua: bool) -> Result<(), IoError> {
    let buf = Buffer::new(data.len())?;
    buf.fill(data);
    submit_and_wait(disk, buf.bios(disk, Op::Write, sector, Flags { fua, preflush: false }))?;
    if fua && disk.driver().has_write_cache() {
        flush(disk)?;
    }
    Ok(())
}

/// Empties the device's volatile write cache (nothing to do without one).
pub fn flush(disk: &Arc<Disk>) -> Result<(), IoError> {
    if !disk.driver().has_write_cache() {
        return Ok(());
    }
    let bio = Bio { op: Op::Flush, sector: 0, segments: Vec::new(), flags: Flags::default(), id: new_bio_id() };
    submit_and_wait(disk, alloc::vec![bio])
}
