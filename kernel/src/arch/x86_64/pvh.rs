//! The PVH start-info structure QEMU hands us in `ebx` (Xen's
//! `xen/include/public/arch-x86/hvm/start_info.h`, version 1): command line,
//! RSDP address and the e820-style memory map.
//!
//! Everything is copied out into [`BootInfo`] at entry, so nothing later
//! depends on the firmware's memory staying untouched.

use crate::mm::{phys_to_virt, PhysAddr};

const START_INFO_MAGIC: u32 = 0x336e_c578;
pub const MAX_MEMMAP_ENTRIES: usize = 64;
pub const MAX_CMDLINE: usize = 256;

#[repr(C)]
#[derive(Clone, Copy)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// e820 memory types (ACPI spec §15, "System Address Map Interfaces").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    Ram,
    Reserved,
    AcpiReclaimable,
    AcpiNvs,
    Unusable,
    Other(u32),
}

impl MemoryKind {
    fn from_e820(kind: u32) -> Self {
        match kind {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Unusable,
            k => Self::Other(k),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: PhysAddr,
    pub len: u64,
    pub kind: MemoryKind,
}

impl MemoryRegion {
    pub fn end(&self) -> PhysAddr {
        self.start + self.len
    }
}

#[derive(Debug)]
pub enum BootInfoError {
    BadMagic(u32),
    NoMemoryMap,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BootInfoError::BadMagic(m) => write!(f, "magic {m:#x}, expected {START_INFO_MAGIC:#x}"),
            BootInfoError::NoMemoryMap => write!(f, "no memory map (start info version 0?)"),
        }
    }
}

/// What the kernel keeps from the start info.
pub struct BootInfo {
    pub rsdp: PhysAddr,
    regions: [MemoryRegion; MAX_MEMMAP_ENTRIES],
    region_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
}

impl BootInfo {
    /// Copies the start info at physical address `paddr`. The memory map is
    /// sorted here: the PVH ABI does not promise any order.
    ///
    /// # Safety
    /// `paddr` must be the start-info address QEMU passed in `ebx`, reachable
    /// through the direct map.
    pub unsafe fn read(paddr: PhysAddr) -> Result<BootInfo, BootInfoError> {
        // SAFETY: the caller vouches for the address; the struct is plain data.
        let si = unsafe { core::ptr::read_unaligned(phys_to_virt(paddr) as *const StartInfo) };
        if si.magic != START_INFO_MAGIC {
            return Err(BootInfoError::BadMagic(si.magic));
        }
        if si.version < 1 || si.memmap_paddr == 0 || si.memmap_entries == 0 {
            return Err(BootInfoError::NoMemoryMap);
        }
        let empty = MemoryRegion { start: 0, len: 0, kind: MemoryKind::Reserved };
        let mut info = BootInfo {
            rsdp: si.rsdp_paddr,
            regions: [empty; MAX_MEMMAP_ENTRIES],
            region_count: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
        };
        let count = (si.memmap_entries as usize).min(MAX_MEMMAP_ENTRIES);
        for i in 0..count {
            let at = si.memmap_paddr + (i * core::mem::size_of::<MemmapEntry>()) as u64;
            // SAFETY: entry i of the memory map the start info points to.
            let e = unsafe { core::ptr::read_unaligned(phys_to_virt(at) as *const MemmapEntry) };
            if e.size == 0 {
                continue;
            }
            info.regions[info.region_count] =
                MemoryRegion { start: e.addr, len: e.size, kind: MemoryKind::from_e820(e.kind) };
            info.region_count += 1;
        }
        info.regions[..info.region_count].sort_unstable_by_key(|r| r.start);
        if si.cmdline_paddr != 0 {
            let base = phys_to_virt(si.cmdline_paddr) as *const u8;
            while info.cmdline_len < MAX_CMDLINE {
                // SAFETY: a NUL-terminated string; we stop at NUL or our buffer's end.
                let b = unsafe { base.add(info.cmdline_len).read() };
                if b == 0 {
                    break;
                }
                info.cmdline[info.cmdline_len] = b;
                info.cmdline_len += 1;
            }
        }
        Ok(info)
    }

    /// The memory map, sorted by start address.
    pub fn memory_map(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }
}
