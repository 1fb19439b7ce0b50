//! ZONE_DMA: a small pool of low physical memory for devices that cannot
//! address all of RAM.
//!
//! A device's DMA mask says how many address bits it drives (QEMU's `edu`
//! has 28: it can only reach the first 256 MiB). Ordinary page allocations
//! can come from anywhere in RAM, so at boot we set aside a few MiB of the
//! lowest memory memblock hands out and run a second instance of the buddy
//! allocator over it — the same allocator, a different range (Linux keeps
//! such zones too). `dma` allocations try normal memory first and fall
//! back here when the result would be above the device's limit.

use buddy::{BuddyAllocator, BuddyStats, PageMeta};

use super::{memblock, phys_to_virt, MmError, PhysAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::sync::SpinLockIrq;

/// 4 MiB of low memory.
const ZONE_PAGES: usize = 1024;

static ZONE: SpinLockIrq<Option<BuddyAllocator<'static>>> = SpinLockIrq::new(None);

/// Carves the zone out of memblock (before the main buddy allocator takes
/// the rest). Memblock allocates from the bottom, so the zone sits just
/// above the kernel image, far below any DMA mask.
pub fn init() {
    // Not zeroed: DMA buffers are zeroed when handed out.
    let Ok(base) = memblock::alloc(ZONE_PAGES as u64 * PAGE_SIZE, PAGE_SIZE) else {
        log::warn!("no memory for ZONE_DMA");
        return;
    };
    let Ok(meta_phys) = memblock::alloc_zeroed((ZONE_PAGES * BuddyAllocator::meta_size()) as u64, PAGE_SIZE) else {
        return;
    };
    // SAFETY: memblock gave us this zeroed, direct-mapped range for good;
    // `PageMeta` is plain data and `BuddyAllocator::new` initialises it.
    let meta: &'static mut [PageMeta] =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(meta_phys) as *mut PageMeta, ZONE_PAGES) };
    let first = (base >> PAGE_SHIFT) as usize;
    let mut zone = BuddyAllocator::new(meta, first);
    if zone.add_free_range(first, first + ZONE_PAGES).is_ok() {
        *ZONE.lock() = Some(zone);
    }
}

pub fn alloc(order: usize) -> Result<PhysAddr, MmError> {
    let mut zone = ZONE.lock();
    let zone = zone.as_mut().ok_or(MmError::OutOfMemory)?;
    zone.alloc(order).map(|pfn| (pfn as PhysAddr) << PAGE_SHIFT).map_err(|_| MmError::OutOfMemory)
}

pub fn free(phys: PhysAddr, order: usize) -> Result<(), MmError> {
    let mut zone = ZONE.lock();
    let zone = zone.as_mut().ok_or(MmError::InvalidArgument("no DMA zone"))?;
    zone.free((phys >> PAGE_SHIFT) as usize, order).map_err(|_| MmError::InvalidArgument("bad DMA zone free"))
}

pub fn stats() -> Option<BuddyStats> {
    ZONE.lock().as_ref().map(|z| z.stats())
}
