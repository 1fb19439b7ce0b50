//! The kernel's 4-level page tables (Intel SDM vol. 3A §4.5).
//!
//! A virtual address splits into four 9-bit table indices (PML4, PDPT, PD,
//! PT) and a 12-bit offset. An entry in the PDPT or PD may map a 1 GiB or
//! 2 MiB page directly (the PS bit); otherwise it points to the next table.
//! All tables are reached through the direct map, so walking them is just
//! arithmetic on physical addresses.
//!
//! The kernel's own address space (built by [`init`], replacing the boot
//! tables) has three parts:
//! * the kernel image, identity-mapped with 4 KiB pages and per-section
//!   permissions (text R-X, rodata R--, data RW-, NX everywhere but text),
//!   with an unmapped guard page under the boot stack;
//! * the direct map of all RAM/ACPI memory and the first MiB at
//!   `PAGE_OFFSET`, 2 MiB pages where alignment allows, writable, NX;
//! * the vmap area, where `ioremap` puts uncached device mappings.
//!
//! Page 0 stays unmapped, so a null dereference faults.

use crate::sync::SpinLockIrq;

use super::{align_down, align_up, frame, phys_to_virt, MmError, PhysAddr, VirtAddr, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::arch::cpu;
use crate::arch::pvh::{MemoryKind, MemoryRegion};

/// Page-table entry bits (Intel SDM vol. 3A §4.5, tables 4-14 to 4-20).
pub mod pte {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    /// Page-level write-through.
    pub const PWT: u64 = 1 << 3;
    /// Page-level cache disable: with PWT, selects UC in the default PAT.
    pub const PCD: u64 = 1 << 4;
    pub const ACCESSED: u64 = 1 << 5;
    pub const DIRTY: u64 = 1 << 6;
    /// In a PDPT/PD entry: this entry maps a 1 GiB / 2 MiB page.
    pub const HUGE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Bits 12..51 hold the physical address.
    pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
}

/// Mapping attributes callers ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u64);

impl Flags {
    /// Normal kernel data: read/write, not executable, write-back cached.
    pub const KERNEL_DATA: Flags = Flags(pte::PRESENT | pte::WRITABLE | pte::NO_EXECUTE | pte::GLOBAL);
    pub const KERNEL_RODATA: Flags = Flags(pte::PRESENT | pte::NO_EXECUTE | pte::GLOBAL);
    pub const KERNEL_TEXT: Flags = Flags(pte::PRESENT | pte::GLOBAL);
    /// Device registers: uncached (PCD|PWT = UC with the power-on PAT), so
    /// every access reaches the device in program order.
    pub const DEVICE: Flags = Flags(pte::PRESENT | pte::WRITABLE | pte::NO_EXECUTE | pte::PCD | pte::PWT);

    pub fn writable(self) -> bool {
        self.0 & pte::WRITABLE != 0
    }
    pub fn executable(self) -> bool {
        self.0 & pte::NO_EXECUTE == 0
    }
    pub fn uncached(self) -> bool {
        self.0 & pte::PCD != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSize {
    Size4K,
    Size2M,
    Size1G,
}

impl PageSize {
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => PAGE_SIZE,
            PageSize::Size2M => HUGE_PAGE_SIZE,
            PageSize::Size1G => 1 << 30,
        }
    }
    /// Depth of the table holding the leaf entry (PML4 = 0).
    const fn leaf_level(self) -> usize {
        match self {
            PageSize::Size4K => 3,
            PageSize::Size2M => 2,
            PageSize::Size1G => 1,
        }
    }
}

/// Result of a page-table walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    pub phys: PhysAddr,
    pub size: PageSize,
    pub flags: Flags,
}

/// Page-table statistics, shown by `meminfo`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PagingStats {
    pub table_pages: u64,
    pub maps: u64,
    pub unmaps: u64,
}

struct AddressSpace {
    pml4: PhysAddr,
    stats: PagingStats,
}

static KERNEL_SPACE: SpinLockIrq<AddressSpace> =
    SpinLockIrq::new(AddressSpace { pml4: 0, stats: PagingStats { table_pages: 0, maps: 0, unmaps: 0 } });

fn index(virt: VirtAddr, level: usize) -> usize {
    ((virt >> (39 - 9 * level)) & 0x1ff) as usize
}

/// One page-table entry: slot `index` of the table at physical `table`.
///
/// Entries are accessed with volatile reads and writes through raw pointers,
/// never through Rust references: the CPU's page walker reads (and sets
/// accessed/dirty bits in) the same memory behind the compiler's back.
#[derive(Clone, Copy)]
struct Slot {
    table: PhysAddr,
    index: usize,
}

impl Slot {
    fn ptr(self) -> *mut u64 {
        (phys_to_virt(self.table) as *mut u64).wrapping_add(self.index)
    }
    fn read(self) -> u64 {
        // SAFETY: `table` is a page-table frame of the kernel address space
        // (created by us or by the boot trampoline), direct-mapped; index < 512;
        // callers hold the address-space lock.
        unsafe { self.ptr().read_volatile() }
    }
    fn write(self, value: u64) {
        // SAFETY: as for `read`.
        unsafe { self.ptr().write_volatile(value) }
    }
}

impl AddressSpace {
    fn slot(table: PhysAddr, virt: VirtAddr, level: usize) -> Slot {
        Slot { table, index: index(virt, level) }
    }

    /// Returns the leaf slot for `virt` at `size`, creating tables on the way.
    fn leaf_slot_create(&mut self, virt: VirtAddr, size: PageSize) -> Result<Slot, MmError> {
        let mut table = self.pml4;
        for level in 0..size.leaf_level() {
            let slot = Self::slot(table, virt, level);
            let mut entry = slot.read();
            if entry & pte::PRESENT == 0 {
                let new = frame::alloc_table_page()?;
                self.stats.table_pages += 1;
                // Intermediate entries are permissive; the leaf decides.
                entry = new | pte::PRESENT | pte::WRITABLE;
                slot.write(entry);
            } else if entry & pte::HUGE != 0 {
                return Err(MmError::AlreadyMapped(virt));
            }
            table = entry & pte::ADDR_MASK;
        }
        Ok(Self::slot(table, virt, size.leaf_level()))
    }

    fn map(&mut self, virt: VirtAddr, phys: PhysAddr, size: PageSize, flags: Flags) -> Result<(), MmError> {
        if !virt.is_multiple_of(size.bytes()) {
            return Err(MmError::Misaligned(virt));
        }
        if !phys.is_multiple_of(size.bytes()) {
            return Err(MmError::Misaligned(phys));
        }
        let slot = self.leaf_slot_create(virt, size)?;
        if slot.read() & pte::PRESENT != 0 {
            return Err(MmError::AlreadyMapped(virt));
        }
        let huge = if size == PageSize::Size4K { 0 } else { pte::HUGE };
        slot.write(phys | flags.0 | huge);
        self.stats.maps += 1;
        Ok(())
    }

    /// Walks to the leaf slot mapping `virt`, if any.
    fn leaf(&self, virt: VirtAddr) -> Option<(Slot, PageSize)> {
        let mut table = self.pml4;
        for level in 0..4 {
            let slot = Self::slot(table, virt, level);
            let entry = slot.read();
            if entry & pte::PRESENT == 0 {
                return None;
            }
            let size = match level {
                1 if entry & pte::HUGE != 0 => Some(PageSize::Size1G),
                2 if entry & pte::HUGE != 0 => Some(PageSize::Size2M),
                3 => Some(PageSize::Size4K),
                _ => None,
            };
            if let Some(size) = size {
                return Some((slot, size));
            }
            table = entry & pte::ADDR_MASK;
        }
        None
    }

    fn translate(&self, virt: VirtAddr) -> Option<Translation> {
        let (slot, size) = self.leaf(virt)?;
        let entry = slot.read();
        let base = entry & pte::ADDR_MASK & !(size.bytes() - 1);
        let flags = Flags(entry & !(pte::ADDR_MASK | pte::HUGE | pte::ACCESSED | pte::DIRTY));
        Some(Translation { phys: base + (virt & (size.bytes() - 1)), size, flags })
    }

    fn unmap(&mut self, virt: VirtAddr) -> Result<Translation, MmError> {
        let old = self.translate(virt).ok_or(MmError::NotMapped(virt))?;
        if !virt.is_multiple_of(old.size.bytes()) {
            return Err(MmError::Misaligned(virt));
        }
        let (slot, _) = self.leaf(virt).ok_or(MmError::NotMapped(virt))?;
        slot.write(0);
        cpu::invlpg(virt);
        self.stats.unmaps += 1;
        Ok(old)
    }

    /// Maps `[virt, virt+len)` to `[phys, phys+len)`, using 2 MiB pages where
    /// both sides are aligned and the rest with 4 KiB pages.
    fn map_range(&mut self, virt: VirtAddr, phys: PhysAddr, len: u64, flags: Flags) -> Result<(), MmError> {
        let mut off = 0;
        while off < len {
            let (v, p) = (virt + off, phys + off);
            let huge_fits = v % HUGE_PAGE_SIZE == 0 && p % HUGE_PAGE_SIZE == 0 && len - off >= HUGE_PAGE_SIZE;
            let size = if huge_fits { PageSize::Size2M } else { PageSize::Size4K };
            self.map(v, p, size, flags)?;
            off += size.bytes();
        }
        Ok(())
    }
}

/// Maps one page of the kernel address space.
pub fn map(virt: VirtAddr, phys: PhysAddr, size: PageSize, flags: Flags) -> Result<(), MmError> {
    KERNEL_SPACE.lock().map(virt, phys, size, flags)
}

/// Removes the mapping of the page at `virt` and flushes its TLB entry.
pub fn unmap(virt: VirtAddr) -> Result<Translation, MmError> {
    KERNEL_SPACE.lock().unmap(virt)
}

/// Walks the kernel page tables for `virt`.
pub fn translate(virt: VirtAddr) -> Option<Translation> {
    KERNEL_SPACE.lock().translate(virt)
}

pub fn stats() -> PagingStats {
    KERNEL_SPACE.lock().stats
}

extern "C" {
    static __text_end: u8;
    static __rodata_start: u8;
    static __data_start: u8;
    static boot_stack_bottom: u8;
}

fn sym(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// Builds the kernel address space and switches to it.
pub fn init(map: &[MemoryRegion], acpi_tables: Option<PhysAddr>) {
    let pml4 = frame::alloc_table_page().expect("no memory for the kernel PML4");
    let mut space = KERNEL_SPACE.lock();
    space.pml4 = pml4;
    space.stats.table_pages = 1;

    // SAFETY: only addresses of linker symbols are taken.
    let (text_end, rodata, data, guard) =
        unsafe { (sym(&__text_end), sym(&__rodata_start), sym(&__data_start), sym(&boot_stack_bottom)) };
    let image = super::kernel_image();
    let text_end = align_up(text_end, PAGE_SIZE);
    let image_end = align_up(image.end, PAGE_SIZE);
    let sections = [
        (image.start, text_end, Flags::KERNEL_TEXT),
        (rodata, data, Flags::KERNEL_RODATA),
        (data, image_end, Flags::KERNEL_DATA),
    ];
    for (start, end, flags) in sections {
        let mut page = align_down(start, PAGE_SIZE);
        while page < end {
            if page != guard {
                space.map(page, page, PageSize::Size4K, flags).expect("mapping the kernel image");
            }
            page += PAGE_SIZE;
        }
    }

    for r in direct_map_ranges(map, acpi_tables).iter().flatten() {
        space.map_range(phys_to_virt(r.0), r.0, r.1 - r.0, Flags::KERNEL_DATA).expect("building the direct map");
    }
    // SAFETY: the new tables map the kernel image (code, stack, data) at the
    // same addresses and the direct map at the same offset as the boot tables.
    unsafe { cpu::write_cr3(pml4) };
}

/// Physical ranges the direct map covers: the first MiB (firmware tables),
/// RAM, ACPI memory, and the region holding the ACPI tables (SeaBIOS puts
/// them in a "reserved" range just below the top of RAM) — page-rounded,
/// merged. Device memory is never direct-mapped (it must be uncached: use
/// `ioremap`).
fn direct_map_ranges(map: &[MemoryRegion], acpi_tables: Option<PhysAddr>) -> [Option<(PhysAddr, PhysAddr)>; 65] {
    let mut out: [Option<(PhysAddr, PhysAddr)>; 65] = [None; 65];
    let mut n = 0;
    let holds_tables = |r: &MemoryRegion| acpi_tables.is_some_and(|a| (r.start..r.end()).contains(&a));
    let wanted = map.iter().filter(|r| {
        matches!(r.kind, MemoryKind::Ram | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs) || holds_tables(r)
    });
    let ranges = core::iter::once((0, 0x10_0000))
        .chain(wanted.map(|r| (align_down(r.start, PAGE_SIZE), align_up(r.end(), PAGE_SIZE))));
    for (start, end) in ranges {
        let end = end.min(super::DIRECT_MAP_MAX);
        if let Some(Some(last)) = out[..n].last_mut() {
            if start <= last.1 {
                last.1 = last.1.max(end);
                continue;
            }
        }
        if n < out.len() {
            out[n] = Some((start, end));
            n += 1;
        }
    }
    out
}
