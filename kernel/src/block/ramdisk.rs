//! The RAM disk (`ram0`, LDD3's `sbull`): a block driver with no hardware.
//! Its sectors live in kernel pages; a request is served by copying
//! between those pages and the bio's segments, and it completes before
//! `start` returns. Everything above the driver — bios, merging, the
//! scheduler, partitions, the buffer cache — is the same as for a real
//! disk, which makes it the reference for the block layer's own cost.
//!
//! Like Linux's `brd`, pages are allocated on first write: a sector never
//! written reads as zeros and costs no memory, so a 16 MiB RAM disk costs
//! nothing at boot.
//!
//! Size: `ramdisk=<MiB>` on the command line (default 16, 0 = none).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use ::block::bio::Op;
use ::block::request::{Limits, Request};
use ::block::SECTOR_SIZE;
use hal::dma::DmaRegion;

use super::{BlockDevice, Disk, Page};
use crate::sync::SpinLock;

const CHUNK: usize = 4096;
const DEFAULT_MIB: u64 = 16;

pub struct RamDisk {
    /// One slot per 4 KiB of the disk; `None` until first written.
    chunks: SpinLock<Vec<Option<Box<[u8; CHUNK]>>>>,
    sectors: u64,
    requests: AtomicU64,
}

pub fn init() {
    let mib = crate::cmdline::value("ramdisk").and_then(|v| v.parse::<u64>().ok()).unwrap_or(DEFAULT_MIB);
    if mib == 0 {
        return;
    }
    let bytes = (mib << 20) as usize;
    let mut chunks = Vec::new();
    if chunks.try_reserve_exact(bytes / CHUNK).is_err() {
        log::error!("ram0: no memory for the page table of {mib} MiB");
        return;
    }
    chunks.resize_with(bytes / CHUNK, || None);
    let dev = Arc::new(RamDisk {
        chunks: SpinLock::new(chunks),
        sectors: (bytes / SECTOR_SIZE) as u64,
        requests: AtomicU64::new(0),
    });
    super::add_disk("ram0".into(), dev);
    log::info!("ram0: RAM disk of {mib} MiB");
}

impl RamDisk {
    /// Copies one segment between the disk at byte `pos` and `page`.
    fn copy(
        &self,
        chunks: &mut [Option<Box<[u8; CHUNK]>>],
        op: Op,
        mut pos: usize,
        page: &Page,
        offset: usize,
        len: usize,
    ) {
        const ZEROS: [u8; CHUNK] = [0; CHUNK];
        let mut done = 0;
        while done < len {
            let (chunk, within) = (pos / CHUNK, pos % CHUNK);
            let n = (CHUNK - within).min(len - done);
            let result = match (op, &mut chunks[chunk]) {
                (Op::Read, Some(data)) => page.write(offset + done, &data[within..within + n]),
                (Op::Read, None) => page.write(offset + done, &ZEROS[..n]),
                (_, slot) => {
                    let data = slot.get_or_insert_with(|| Box::new([0; CHUNK]));
                    page.read(offset + done, &mut data[within..within + n])
                }
            };
            debug_assert!(result.is_ok(), "the block layer checked the segment");
            pos += n;
            done += n;
        }
    }

    /// Pages allocated so far.
    fn resident(&self) -> u64 {
        self.chunks.lock().iter().filter(|c| c.is_some()).count() as u64
    }
}

impl BlockDevice for RamDisk {
    fn driver_name(&self) -> &'static str {
        "ramdisk"
    }
    fn capacity(&self) -> u64 {
        self.sectors
    }
    fn depth(&self) -> usize {
        1
    }
    fn limits(&self) -> Limits {
        Limits { max_sectors: 2048, max_segments: 256 }
    }
    fn default_scheduler(&self) -> &'static str {
        "noop"
    }
    fn has_write_cache(&self) -> bool {
        false
    }

    fn start(&self, disk: &Arc<Disk>, rq: Request<Page>) -> Result<(), Request<Page>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if rq.op != Op::Flush {
            let mut chunks = self.chunks.lock();
            let mut pos = rq.sector as usize * SECTOR_SIZE;
            for seg in rq.segments() {
                self.copy(&mut chunks, rq.op, pos, &seg.page, seg.offset, seg.len);
                pos += seg.len;
            }
        }
        disk.end_request(rq, Ok(()));
        Ok(())
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        alloc::vec![("driver_requests", self.requests.load(Ordering::Relaxed)), ("resident_pages", self.resident())]
    }
}
