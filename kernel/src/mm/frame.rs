//! The page-frame allocator: the `buddy` crate's allocator over a
//! `struct page`-style metadata array covering every frame up to the end of
//! RAM, behind a lock (Linux's `alloc_pages(order)` / `__free_pages`).
//!
//! Before [`init`] runs, page-table frames come from memblock; afterwards
//! from here. Frames are handed out as physical addresses; their contents
//! are reached through the direct map.

use crate::sync::SpinLockIrq;
use buddy::{BuddyAllocator, BuddyStats, PageMeta};

use super::{memblock, phys_to_virt, MmError, PhysAddr, PAGE_SHIFT, PAGE_SIZE};
use crate::arch::pvh::{MemoryKind, MemoryRegion};

static FRAMES: SpinLockIrq<Option<BuddyAllocator<'static>>> = SpinLockIrq::new(None);

/// Takes over from memblock: sizes the page array to the highest RAM frame,
/// carves it out of memblock, then frees every range memblock has left.
pub fn init(map: &[MemoryRegion]) {
    let max_pfn =
        map.iter().filter(|r| r.kind == MemoryKind::Ram).map(|r| r.end() >> PAGE_SHIFT).max().unwrap_or(0) as usize;
    let bytes = (max_pfn * BuddyAllocator::meta_size()) as u64;
    let meta_phys = memblock::alloc_zeroed(bytes, PAGE_SIZE).expect("no memory for the page array");
    // SAFETY: memblock just gave us this zeroed, direct-mapped range for
    // good; all-zero bytes are a valid `PageMeta` (integers and a state
    // whose first variant is 0) until `BuddyAllocator::new` initialises it.
    let meta: &'static mut [PageMeta] =
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(meta_phys) as *mut PageMeta, max_pfn) };
    let mut buddy = BuddyAllocator::new(meta, 0);
    memblock::retire(|r| {
        if let Err(e) = buddy.add_free_range((r.start >> PAGE_SHIFT) as usize, (r.end >> PAGE_SHIFT) as usize) {
            log::error!("cannot add {:#x}..{:#x}: {e}", r.start, r.end);
        }
    });
    *FRAMES.lock() = Some(buddy);
}

/// Allocates 2^order contiguous, naturally aligned frames.
pub fn alloc_pages(order: usize) -> Result<PhysAddr, MmError> {
    let mut frames = FRAMES.lock();
    let buddy = frames.as_mut().ok_or(MmError::OutOfMemory)?;
    match buddy.alloc(order) {
        Ok(pfn) => Ok((pfn as PhysAddr) << PAGE_SHIFT),
        Err(buddy::AllocError::InvalidOrder { .. }) => Err(MmError::InvalidArgument("order above MAX_ORDER")),
        Err(_) => Err(MmError::OutOfMemory),
    }
}

/// Like [`alloc_pages`], with the memory zeroed.
pub fn alloc_pages_zeroed(order: usize) -> Result<PhysAddr, MmError> {
    let phys = alloc_pages(order)?;
    // SAFETY: the block is ours and direct-mapped.
    unsafe { core::ptr::write_bytes(phys_to_virt(phys) as *mut u8, 0, (PAGE_SIZE << order) as usize) };
    Ok(phys)
}

/// Returns a block to the allocator. Misuse (double free, wrong order) is
/// refused and logged rather than corrupting the free lists.
pub fn free_pages(phys: PhysAddr, order: usize) -> Result<(), MmError> {
    let mut frames = FRAMES.lock();
    let buddy = frames.as_mut().ok_or(MmError::InvalidArgument("no page allocator"))?;
    buddy.free((phys >> PAGE_SHIFT) as usize, order).map_err(|e| {
        log::error!("free_pages({phys:#x}, {order}): {e}");
        MmError::InvalidArgument("bad free_pages")
    })
}

/// A zeroed frame for a page table: from memblock during early boot.
pub fn alloc_table_page() -> Result<PhysAddr, MmError> {
    if FRAMES.lock().is_some() {
        alloc_pages_zeroed(0)
    } else {
        memblock::alloc_zeroed(PAGE_SIZE, PAGE_SIZE)
    }
}

pub fn stats() -> Option<BuddyStats> {
    FRAMES.lock().as_ref().map(|b| b.stats())
}

/// Smallest order whose block holds `bytes`.
pub fn order_for(bytes: u64) -> usize {
    let pages = bytes.div_ceil(PAGE_SIZE).max(1);
    pages.next_power_of_two().trailing_zeros() as usize
}

/// An owned block of frames, freed on drop.
pub struct Pages {
    phys: PhysAddr,
    order: usize,
}

impl Pages {
    pub fn alloc_zeroed(order: usize) -> Result<Pages, MmError> {
        alloc_pages_zeroed(order).map(|phys| Pages { phys, order })
    }
    pub fn phys(&self) -> PhysAddr {
        self.phys
    }
    pub fn len(&self) -> u64 {
        PAGE_SIZE << self.order
    }
    /// The block's bytes through the direct map.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: we own the block; the direct map covers it.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(self.phys) as *mut u8, self.len() as usize) }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        let _ = free_pages(self.phys, self.order);
    }
}
