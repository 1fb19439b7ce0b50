//! The early boot allocator (Linux's memblock): hands out physical memory
//! before the buddy allocator exists — the buddy's own `struct page` array
//! and the first page tables come from here.
//!
//! It starts from the RAM regions of the memory map minus what is already in
//! use (the first MiB — firmware data, and later the SMP trampoline — and
//! the kernel image), allocates by bumping the start of the first region
//! that fits, and never frees. When the buddy allocator takes over it
//! receives exactly the ranges that are left, so nothing is lost or
//! handed out twice.

use crate::sync::SpinLock;

use super::{align_down, align_up, kernel_image, MmError, PhysAddr, BOOT_MAPPED_LIMIT, PAGE_SIZE};
use crate::arch::pvh::{MemoryKind, MemoryRegion, MAX_MEMMAP_ENTRIES};

/// Memory below this is left to firmware structures and real-mode code.
pub const LOW_MEMORY_RESERVED: PhysAddr = 0x10_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: PhysAddr,
    pub end: PhysAddr,
}

pub struct Memblock {
    free: [Range; MAX_MEMMAP_ENTRIES + 1],
    count: usize,
    allocated_bytes: u64,
    /// Set once the buddy allocator has taken the remaining ranges.
    retired: bool,
}

static MEMBLOCK: SpinLock<Memblock> = SpinLock::new(Memblock {
    free: [Range { start: 0, end: 0 }; MAX_MEMMAP_ENTRIES + 1],
    count: 0,
    allocated_bytes: 0,
    retired: false,
});

impl Memblock {
    fn push(&mut self, start: PhysAddr, end: PhysAddr) {
        if end > start && self.count < self.free.len() {
            self.free[self.count] = Range { start, end };
            self.count += 1;
        }
    }

    /// RAM minus the reserved low memory and the kernel image, page aligned.
    fn populate(&mut self, map: &[MemoryRegion]) {
        let image = kernel_image();
        let (img_start, img_end) = (align_down(image.start, PAGE_SIZE), align_up(image.end, PAGE_SIZE));
        for r in map.iter().filter(|r| r.kind == MemoryKind::Ram) {
            let start = align_up(r.start.max(LOW_MEMORY_RESERVED), PAGE_SIZE);
            let end = align_down(r.end(), PAGE_SIZE);
            if start >= end {
                continue;
            }
            // Cut the kernel image out of the region.
            if img_end <= start || img_start >= end {
                self.push(start, end);
            } else {
                self.push(start, img_start.max(start));
                self.push(img_end.min(end), end);
            }
        }
    }

    /// Sizes are rounded up to whole pages: the buddy allocator later takes
    /// the rest of each range in whole frames, and a partly used frame
    /// handed to it would be given out while still in use.
    fn alloc(&mut self, size: u64, align: u64) -> Result<PhysAddr, MmError> {
        let size = align_up(size, PAGE_SIZE);
        if self.retired {
            return Err(MmError::InvalidArgument("memblock used after the buddy allocator took over"));
        }
        for r in self.free[..self.count].iter_mut() {
            let start = align_up(r.start, align);
            // Stay inside what the boot page tables direct-map.
            if start + size <= r.end && start + size <= BOOT_MAPPED_LIMIT {
                // The alignment gap before `start` is given up; it is at most `align`.
                r.start = start + size;
                self.allocated_bytes += size;
                return Ok(start);
            }
        }
        Err(MmError::OutOfMemory)
    }
}

pub fn init(map: &[MemoryRegion]) {
    MEMBLOCK.lock().populate(map);
}

/// Allocates `size` bytes of physical memory, `align`-aligned, with
/// whatever contents it had (for callers that initialise every byte).
pub fn alloc(size: u64, align: u64) -> Result<PhysAddr, MmError> {
    MEMBLOCK.lock().alloc(size, align)
}

/// Allocates `size` bytes of physical memory, `align`-aligned, zeroed.
pub fn alloc_zeroed(size: u64, align: u64) -> Result<PhysAddr, MmError> {
    let phys = MEMBLOCK.lock().alloc(size, align)?;
    // SAFETY: the range was just taken from free RAM below the boot-mapped
    // limit, so the direct map covers it and nobody else uses it.
    unsafe { core::ptr::write_bytes(super::phys_to_virt(phys) as *mut u8, 0, size as usize) };
    Ok(phys)
}

/// Hands the remaining ranges to `f` (the buddy allocator) and retires memblock.
pub fn retire(mut f: impl FnMut(Range)) {
    let mut mb = MEMBLOCK.lock();
    mb.retired = true;
    for r in mb.free[..mb.count].iter().filter(|r| r.end > r.start) {
        f(*r);
    }
}

/// Bytes memblock handed out during boot (page tables, the page array).
pub fn allocated_bytes() -> u64 {
    MEMBLOCK.lock().allocated_bytes
}
