//! ACPI tables: where the firmware describes the machine.
//!
//! The PVH start info gives the RSDP's physical address; from it the
//! `acpi` crate finds and checksums the tables. We walk the XSDT ourselves
//! only to list every table with its address (for the `acpi` command), and
//! keep what later subsystems need:
//! * **MADT** — local APICs (one per CPU), IOAPICs with their GSI bases, ISA
//!   interrupt source overrides (polarity/trigger), NMI wiring;
//! * **MCFG** — the PCIe ECAM windows (configuration space as MMIO);
//! * **HPET** — the event timer block's address;
//! * **FADT** — the PM1a control port and the DSDT, from which the `\_S5`
//!   sleep type for power-off is read (see [`s5`]).
//!
//! Tables are read through [`TableMapper`]: the direct map for tables in
//! RAM, a temporary mapping for tables in firmware-reserved memory.

use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::madt::{Madt, MadtEntry};
use acpi::mcfg::Mcfg;
use acpi::{AcpiHandler, AcpiTables, HpetInfo, PhysicalMapping};
use spin::Once;

use crate::mm::ioremap::{vmap_phys, vunmap};
use crate::mm::paging::{self, Flags};
use crate::mm::{phys_to_virt, PhysAddr, VMAP_BASE, VMAP_SIZE};

mod s5;

/// Maps ACPI tables for the `acpi` crate and for our own reads. Tables in
/// RAM are reached through the direct map; tables in firmware-reserved
/// memory (SeaBIOS puts them just below the top of RAM, in an e820
/// "reserved" range the direct map leaves out) get a temporary cached
/// mapping in the vmap area, removed when the crate drops it.
#[derive(Clone, Copy)]
struct TableMapper;

fn direct_mapped(phys: PhysAddr, size: u64) -> bool {
    let last = phys + size.max(1) - 1;
    [phys, last].iter().all(|&p| paging::translate(phys_to_virt(p)).is_some())
}

impl AcpiHandler for TableMapper {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        let virt = if direct_mapped(phys as u64, size as u64) {
            phys_to_virt(phys as u64)
        } else {
            // The trait cannot return an error; a table we cannot map is
            // as fatal as a corrupt one.
            vmap_phys(phys as u64, size as u64, Flags::KERNEL_RODATA).expect("mapping an ACPI table")
        };
        let virt = NonNull::new(virt as *mut T).expect("mappings are never at 0");
        // SAFETY: `virt` maps `size` bytes at `phys` until unmap_physical_region.
        unsafe { PhysicalMapping::new(phys, virt, size, size, *self) }
    }

    fn unmap_physical_region<T>(region: &PhysicalMapping<Self, T>) {
        let virt = region.virtual_start().as_ptr() as u64;
        if (VMAP_BASE..VMAP_BASE + VMAP_SIZE).contains(&virt) {
            vunmap(virt, region.mapped_length() as u64);
        }
    }
}

/// Runs `f` over `len` bytes of physical memory holding ACPI data.
fn with_phys<R>(phys: PhysAddr, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
    // SAFETY: callers pass ranges of ACPI tables found through the RSDP.
    let mapping = unsafe { TableMapper.map_physical_region::<u8>(phys as usize, len) };
    // SAFETY: the mapping covers `len` readable bytes while it lives.
    let bytes = unsafe { core::slice::from_raw_parts(mapping.virtual_start().as_ptr(), len) };
    f(bytes)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or_default()))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or_default()))
}

#[derive(Debug, Clone, Copy)]
pub struct TableInfo {
    pub signature: [u8; 4],
    pub phys: PhysAddr,
    pub length: u32,
    pub revision: u8,
    pub oem_id: [u8; 6],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    BusDefault,
    ActiveHigh,
    ActiveLow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    BusDefault,
    Edge,
    Level,
}

/// MPS INTI flags (ACPI spec §5.2.12.5, table 5-50).
fn inti_flags(flags: u16) -> (Polarity, Trigger) {
    let polarity = match flags & 0b11 {
        1 => Polarity::ActiveHigh,
        3 => Polarity::ActiveLow,
        _ => Polarity::BusDefault,
    };
    let trigger = match (flags >> 2) & 0b11 {
        1 => Trigger::Edge,
        3 => Trigger::Level,
        _ => Trigger::BusDefault,
    };
    (polarity, trigger)
}

#[derive(Debug, Clone, Copy)]
pub enum MadtInfo {
    LocalApic { processor_uid: u32, apic_id: u32, enabled: bool },
    IoApic { id: u8, address: PhysAddr, gsi_base: u32 },
    InterruptOverride { bus: u8, irq: u8, gsi: u32, polarity: Polarity, trigger: Trigger },
    NmiSource { gsi: u32, polarity: Polarity, trigger: Trigger },
    LocalApicNmi { processor_uid: u8, lint: u8 },
    Other { entry_type: &'static str },
}

#[derive(Debug, Clone, Copy)]
pub struct EcamRange {
    pub base: PhysAddr,
    pub segment: u16,
    pub bus_start: u8,
    pub bus_end: u8,
}

#[derive(Debug, Clone, Copy)]
pub struct Hpet {
    pub base: PhysAddr,
    pub comparators: u8,
    pub counter_64bit: bool,
    pub min_tick: u16,
}

/// What the kernel keeps from the ACPI tables.
pub struct AcpiInfo {
    pub rsdp: PhysAddr,
    pub revision: u8,
    pub tables: Vec<TableInfo>,
    pub local_apic_address: PhysAddr,
    pub legacy_pics: bool,
    pub madt: Vec<MadtInfo>,
    pub ecam: Vec<EcamRange>,
    pub hpet: Option<Hpet>,
    pub pm1a_control_port: Option<u16>,
    /// SLP_TYPa for S5 from the DSDT's `\_S5` package.
    pub s5_sleep_type: Option<u8>,
}

#[derive(Debug)]
pub enum AcpiError {
    NoRsdp,
    Parse(acpi::AcpiError),
}

impl core::fmt::Display for AcpiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AcpiError::NoRsdp => write!(f, "no RSDP in the start info"),
            AcpiError::Parse(e) => write!(f, "ACPI tables: {e:?}"),
        }
    }
}

static INFO: Once<AcpiInfo> = Once::new();

/// Where the RSDT/XSDT lies, read straight from the RSDP (ACPI §5.2.5.3:
/// signature "RSD PTR ", revision at 15, RSDT at 16, XSDT at 24) before the
/// kernel's own page tables exist — early boot direct-maps the first 4 GiB.
/// `mm` uses it to direct-map the firmware region holding the tables.
pub fn root_table_phys(rsdp: PhysAddr) -> Option<PhysAddr> {
    if rsdp == 0 || rsdp >= crate::mm::BOOT_MAPPED_LIMIT {
        return None;
    }
    // SAFETY: the boot page tables direct-map the first 4 GiB, and the RSDP
    // is 36 bytes of firmware memory there; we only read it.
    let bytes = unsafe { core::slice::from_raw_parts(phys_to_virt(rsdp) as *const u8, 36) };
    if &bytes[..8] != b"RSD PTR " || bytes[..20].iter().fold(0u8, |a, b| a.wrapping_add(*b)) != 0 {
        return None;
    }
    match bytes[15] {
        0 => Some(u64::from(le_u32(bytes, 16))),
        _ => Some(le_u64(bytes, 24)).filter(|&x| x != 0).or(Some(u64::from(le_u32(bytes, 16)))),
    }
}

/// Parses the tables once; later calls to [`info`] return the result.
pub fn init(rsdp: PhysAddr) -> Result<&'static AcpiInfo, AcpiError> {
    if rsdp == 0 {
        return Err(AcpiError::NoRsdp);
    }
    // SAFETY: the RSDP address comes from QEMU's start info; the crate
    // validates the signature and checksum before trusting it.
    let tables = unsafe { AcpiTables::from_rsdp(TableMapper, rsdp as usize) }.map_err(AcpiError::Parse)?;
    let mut info = AcpiInfo {
        rsdp,
        revision: tables.revision(),
        tables: root_tables(rsdp),
        local_apic_address: 0,
        legacy_pics: false,
        madt: Vec::new(),
        ecam: Vec::new(),
        hpet: None,
        pm1a_control_port: None,
        s5_sleep_type: None,
    };
    if let Ok(madt) = tables.find_table::<Madt>() {
        info.local_apic_address = u64::from(madt.get().local_apic_address);
        info.legacy_pics = madt.get().supports_8259();
        info.madt = madt.get().entries().map(madt_entry).collect();
    }
    if let Ok(mcfg) = tables.find_table::<Mcfg>() {
        info.ecam = mcfg
            .entries()
            .iter()
            .map(|e| EcamRange {
                base: e.base_address,
                segment: e.pci_segment_group,
                bus_start: e.bus_number_start,
                bus_end: e.bus_number_end,
            })
            .collect();
    }
    if let Ok(hpet) = HpetInfo::new(&tables) {
        info.hpet = Some(Hpet {
            base: hpet.base_address as u64,
            comparators: hpet.num_comparators(),
            counter_64bit: hpet.main_counter_is_64bits(),
            min_tick: hpet.clock_tick_unit,
        });
    }
    if let Ok(fadt) = tables.find_table::<acpi::fadt::Fadt>() {
        if let Ok(block) = fadt.pm1a_control_block() {
            if block.address_space == acpi::address::AddressSpace::SystemIo {
                info.pm1a_control_port = u16::try_from(block.address).ok();
            }
        }
    }
    if let Ok(dsdt) = tables.dsdt() {
        info.s5_sleep_type = with_phys(dsdt.address as u64, dsdt.length as usize, s5::find_s5_sleep_type);
    }
    Ok(INFO.call_once(|| info))
}

pub fn info() -> Option<&'static AcpiInfo> {
    INFO.get()
}

fn madt_entry(entry: MadtEntry) -> MadtInfo {
    match entry {
        MadtEntry::LocalApic(e) => MadtInfo::LocalApic {
            processor_uid: u32::from(e.processor_id),
            apic_id: u32::from(e.apic_id),
            enabled: { e.flags } & 1 != 0,
        },
        MadtEntry::LocalX2Apic(e) => {
            MadtInfo::LocalApic { processor_uid: e.processor_uid, apic_id: e.x2apic_id, enabled: { e.flags } & 1 != 0 }
        }
        MadtEntry::IoApic(e) => MadtInfo::IoApic {
            id: e.io_apic_id,
            address: u64::from(e.io_apic_address),
            gsi_base: e.global_system_interrupt_base,
        },
        MadtEntry::InterruptSourceOverride(e) => {
            let (polarity, trigger) = inti_flags(e.flags);
            MadtInfo::InterruptOverride { bus: e.bus, irq: e.irq, gsi: e.global_system_interrupt, polarity, trigger }
        }
        MadtEntry::NmiSource(e) => {
            let (polarity, trigger) = inti_flags(e.flags);
            MadtInfo::NmiSource { gsi: e.global_system_interrupt, polarity, trigger }
        }
        MadtEntry::LocalApicNmi(e) => MadtInfo::LocalApicNmi { processor_uid: e.processor_id, lint: e.nmi_line },
        MadtEntry::LocalApicAddressOverride(_) => MadtInfo::Other { entry_type: "LocalApicAddressOverride" },
        MadtEntry::X2ApicNmi(_) => MadtInfo::Other { entry_type: "X2ApicNmi" },
        _ => MadtInfo::Other { entry_type: "other" },
    }
}

/// Size of the common table header (ACPI spec §5.2.6).
const HEADER_LEN: usize = 36;

/// Lists the tables of the RSDT/XSDT with their physical addresses
/// (ACPI spec §5.2.5 RSDP, §5.2.7 RSDT, §5.2.8 XSDT). Called after the
/// crate validated the RSDP.
fn root_tables(rsdp: PhysAddr) -> Vec<TableInfo> {
    let (root, entry_size) =
        with_phys(rsdp, 32, |r| if r[15] >= 2 { (le_u64(r, 24), 8) } else { (u64::from(le_u32(r, 16)), 4) });
    let root_info = table_info(root);
    let count = (root_info.length as usize).saturating_sub(HEADER_LEN) / entry_size;
    let addrs: Vec<PhysAddr> = with_phys(root, root_info.length as usize, |t| {
        (0..count)
            .map(|i| {
                let at = HEADER_LEN + i * entry_size;
                if entry_size == 8 {
                    le_u64(t, at)
                } else {
                    u64::from(le_u32(t, at))
                }
            })
            .collect()
    });
    let mut tables = alloc::vec![root_info];
    for phys in addrs {
        let table = table_info(phys);
        tables.push(table);
        if &table.signature == b"FACP" {
            // The DSDT is listed only in the FADT (X_DSDT at 140, DSDT at 40; ACPI spec §5.2.9).
            let dsdt = with_phys(phys, table.length as usize, |f| match le_u64(f, 140) {
                0 => u64::from(le_u32(f, 40)),
                x => x,
            });
            if dsdt != 0 {
                tables.push(table_info(dsdt));
            }
        }
    }
    tables
}

fn table_info(phys: PhysAddr) -> TableInfo {
    with_phys(phys, HEADER_LEN, |h| {
        let mut info = TableInfo { signature: [0; 4], phys, length: le_u32(h, 4), revision: h[8], oem_id: [0; 6] };
        info.signature.copy_from_slice(&h[0..4]);
        info.oem_id.copy_from_slice(&h[10..16]);
        info
    })
}
