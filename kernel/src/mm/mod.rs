//! Memory management: the physical memory map, the early boot allocator, the
//! buddy page allocator, the kernel's page tables with a direct map of all
//! RAM, the heap (kmalloc over slab caches), mempools, and `ioremap` for
//! device memory.
//!
//! Address types, as in the seeds' "address types in kernel" slides:
//! * **physical** addresses (`PhysAddr`) are what RAM and devices decode;
//! * the **direct map** puts all of physical memory at `PAGE_OFFSET`, so
//!   `phys_to_virt`/`virt_to_phys` are additions (Linux's `__va`/`__pa`);
//! * the **kernel image** runs identity-mapped at its 1 MiB load address;
//! * the **ioremap area** holds uncached mappings of device registers.
//!
//! The allocators' locks are `SpinLockIrq`: softirqs (timers, the network
//! receive path) allocate, and one that interrupted a thread holding an
//! allocator lock on the same CPU would otherwise spin forever.
//!
//! Init order (see [`init`]): memblock (early allocator over the firmware's
//! memory map) → our page tables (switch CR3) → buddy allocator takes every
//! frame memblock did not hand out → heap.

pub mod dma_zone;
pub mod frame;
pub mod heap;
pub mod ioremap;
pub mod memblock;
pub mod mempool;
pub mod paging;
pub mod slab;

mod ktests;

pub type PhysAddr = u64;
pub type VirtAddr = u64;

pub const PAGE_SIZE: u64 = 4096;
pub const PAGE_SHIFT: u32 = 12;
pub const HUGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

/// Base of the direct map (Linux x86-64's `page_offset_base` without KASLR).
pub const PAGE_OFFSET: VirtAddr = 0xffff_8880_0000_0000;
/// PML4 slot of the direct map; the boot trampoline fills it too.
pub const PAGE_OFFSET_PML4_INDEX: usize = ((PAGE_OFFSET >> 39) & 0x1ff) as usize;
/// Largest physical address the direct map may cover (64 TiB, like Linux).
pub const DIRECT_MAP_MAX: PhysAddr = 64 << 40;
/// The boot page tables direct-map only this much; memblock stays below it.
pub const BOOT_MAPPED_LIMIT: PhysAddr = 4 << 30;

/// Where `ioremap` and other kernel-virtual mappings go (Linux's vmalloc area).
pub const VMAP_BASE: VirtAddr = 0xffff_c900_0000_0000;
pub const VMAP_SIZE: u64 = 1 << 40;

/// The direct-map address of a physical address (`__va`).
#[inline]
pub const fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    phys + PAGE_OFFSET
}

/// The physical address behind a direct-map or kernel-image address (`__pa`).
/// Addresses outside both return `None`; use `paging::translate` for those.
#[inline]
pub fn virt_to_phys(virt: VirtAddr) -> Option<PhysAddr> {
    if (PAGE_OFFSET..PAGE_OFFSET + DIRECT_MAP_MAX).contains(&virt) {
        Some(virt - PAGE_OFFSET)
    } else if kernel_image().contains(&virt) {
        Some(virt)
    } else {
        None
    }
}

/// The kernel image's identity-mapped range, from the linker script.
pub fn kernel_image() -> core::ops::Range<u64> {
    extern "C" {
        static __kernel_start: u8;
        static __kernel_end: u8;
    }
    (core::ptr::addr_of!(__kernel_start) as u64)..(core::ptr::addr_of!(__kernel_end) as u64)
}

pub const fn align_up(x: u64, align: u64) -> u64 {
    (x + align - 1) & !(align - 1)
}

pub const fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

/// Errors of the memory-management layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmError {
    OutOfMemory,
    OutOfVirtualSpace,
    AlreadyMapped(VirtAddr),
    NotMapped(VirtAddr),
    Misaligned(u64),
    InvalidArgument(&'static str),
}

impl core::fmt::Display for MmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MmError::OutOfMemory => write!(f, "out of memory"),
            MmError::OutOfVirtualSpace => write!(f, "out of kernel virtual address space"),
            MmError::AlreadyMapped(v) => write!(f, "{v:#x} is already mapped"),
            MmError::NotMapped(v) => write!(f, "{v:#x} is not mapped"),
            MmError::Misaligned(a) => write!(f, "{a:#x} is misaligned"),
            MmError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

/// Brings up all of memory management from the firmware's memory map.
/// `acpi_tables` is an address inside the firmware's ACPI tables: the
/// memory-map region holding it is direct-mapped too (it is memory, even
/// when the map calls it "reserved").
pub fn init(map: &[crate::arch::pvh::MemoryRegion], acpi_tables: Option<PhysAddr>) {
    memblock::init(map);
    paging::init(map, acpi_tables);
    dma_zone::init();
    frame::init(map);
    heap::init();
}

/// One log line per allocator after init.
pub fn log_summary() {
    if let Some(s) = frame::stats() {
        log::info!(
            "{} MiB managed, {} pages free, page array and boot tables {} KiB",
            s.total_pages as u64 * PAGE_SIZE / (1 << 20),
            s.free_pages,
            memblock::allocated_bytes() / 1024
        );
    }
}
