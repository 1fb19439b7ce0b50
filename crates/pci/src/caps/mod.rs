//! Capability lists: the optional features a function advertises.
//!
//! # Two linked lists in configuration space
//!
//! The fixed header has no room for features added after 1993 (power
//! management, MSI, PCI Express…), so PCI 2.2 added a **capability list**
//! (PCI 3.0 §6.7): if Status bit 4 is set, the byte at 0x34 points to the
//! first capability; each capability starts with an ID byte and a pointer to
//! the next, 0 ending the list. The bottom two bits of every pointer are
//! reserved and masked off, as the spec requires.
//!
//! ```text
//!   0x34: 0x40 ──▶ 0x40: [id 0x01 PM | next 0x50] ──▶ 0x50: [id 0x05 MSI | next 0x00]
//! ```
//!
//! PCI Express extends configuration space to 4 KiB and adds a second,
//! **extended** list at fixed offset 0x100 (PCIe §7.6), with 32-bit headers:
//! ID in bits 15:0, version in 19:16, next pointer in 31:20. A header of 0
//! means no extended capabilities; all ones means the access cannot reach
//! extended space (configuration mechanism #1, or a conventional PCI
//! function) — both end the walk.
//!
//! # Walking a list the device wrote
//!
//! The list lives in the device, and devices misbehave (DESIGN.md rule 4). A
//! next pointer can point back at an earlier capability (a loop), or into
//! the header (below 0x40, or below 0x100 for the extended list). The
//! iterators here never hang and never panic: each remembers which offsets
//! it has visited, stops with [`CapError::Loop`] on a revisit and with
//! [`CapError::BadPointer`] on a pointer into the header, and is bounded by
//! the number of dwords that could hold a capability (48 and 960), which no
//! acyclic list can exceed. After an error they yield nothing more.

pub mod regs;

use core::fmt;

use crate::config::regs as config_regs;
use crate::config::{Bdf, ConfigAccess};

/// One entry of the standard list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// Its offset in configuration space (0x40–0xfc).
    pub offset: u16,
    /// Its ID ([`regs::id`]).
    pub id: u8,
}

impl Capability {
    /// The ID's name ([`name`]).
    pub fn name(&self) -> &'static str {
        name(self.id)
    }
}

/// One entry of the extended list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExtCapability {
    /// Its offset in configuration space (0x100–0xffc).
    pub offset: u16,
    /// Its ID ([`regs::ext_id`]).
    pub id: u16,
    /// Its version (4 bits).
    pub version: u8,
}

impl ExtCapability {
    /// The ID's name ([`ext_name`]).
    pub fn name(&self) -> &'static str {
        ext_name(self.id)
    }
}

/// A corrupt capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// A next pointer leads back to a capability already visited.
    Loop {
        /// The capability whose pointer closes the loop.
        from: u16,
        /// The offset visited twice.
        to: u16,
    },
    /// A next pointer into the header (standard list: below 0x40; extended
    /// list: below 0x100).
    BadPointer {
        /// The capability (or 0x34, the header's pointer) holding it.
        from: u16,
        /// The pointer, as read.
        to: u16,
    },
    /// More entries than could fit in the space: impossible without a loop,
    /// kept as a belt-and-braces bound.
    TooMany {
        /// The bound.
        limit: usize,
    },
    /// A capability read as all ones: the function went away mid-walk.
    NotPresent {
        /// The offset read.
        at: u16,
    },
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CapError::Loop { from, to } => write!(f, "pci: capability at {from:#x} points back to {to:#x}"),
            CapError::BadPointer { from, to } => {
                write!(f, "pci: capability pointer at {from:#x} points into the header ({to:#x})")
            }
            CapError::TooMany { limit } => write!(f, "pci: capability list longer than {limit}"),
            CapError::NotPresent { at } => write!(f, "pci: capability at {at:#x} reads all ones"),
        }
    }
}

impl core::error::Error for CapError {}

/// Iterator over the standard capability list ([`capabilities`]).
pub struct CapIter<'a> {
    access: &'a dyn ConfigAccess,
    bdf: Bdf,
    /// Where the pointer to `next` was read (for error reports).
    from: u16,
    /// The next offset to visit (raw, unmasked); 0 when done.
    next: u8,
    /// One bit per dword of the 256-byte space.
    visited: u64,
    hops: usize,
    done: bool,
}

impl Iterator for CapIter<'_> {
    type Item = Result<Capability, CapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let raw = self.next;
        let at = raw & regs::POINTER_MASK;
        if at == 0 {
            self.done = true;
            return None;
        }
        let err = if at < regs::FIRST_OFFSET {
            Some(CapError::BadPointer { from: self.from, to: u16::from(raw) })
        } else if self.visited & (1 << (at / 4)) != 0 {
            Some(CapError::Loop { from: self.from, to: u16::from(at) })
        } else if self.hops >= regs::MAX_CAPS {
            Some(CapError::TooMany { limit: regs::MAX_CAPS })
        } else {
            None
        };
        if let Some(e) = err {
            self.done = true;
            return Some(Err(e));
        }
        self.visited |= 1 << (at / 4);
        self.hops += 1;
        let offset = u16::from(at);
        let header = self.access.read32(self.bdf, offset);
        if header == config_regs::ABSENT {
            self.done = true;
            return Some(Err(CapError::NotPresent { at: offset }));
        }
        self.from = offset;
        self.next = (header >> (regs::CAP_NEXT * 8)) as u8;
        Some(Ok(Capability { offset, id: (header >> (regs::CAP_ID * 8)) as u8 }))
    }
}

/// The standard capability list of `bdf` (empty if Status says there is
/// none).
pub fn capabilities(access: &dyn ConfigAccess, bdf: Bdf) -> CapIter<'_> {
    let status = access.read16(bdf, config_regs::STATUS);
    let has_list = status != 0xffff && status & config_regs::status::CAP_LIST != 0;
    let next = if has_list { access.read8(bdf, config_regs::CAPABILITIES_POINTER) } else { 0 };
    CapIter { access, bdf, from: config_regs::CAPABILITIES_POINTER, next, visited: 0, hops: 0, done: !has_list }
}

/// The offset of the first capability with ID `id`, if any.
pub fn find(access: &dyn ConfigAccess, bdf: Bdf, id: u8) -> Result<Option<u16>, CapError> {
    for cap in capabilities(access, bdf) {
        let cap = cap?;
        if cap.id == id {
            return Ok(Some(cap.offset));
        }
    }
    Ok(None)
}

/// Iterator over the extended capability list ([`extended_capabilities`]).
pub struct ExtCapIter<'a> {
    access: &'a dyn ConfigAccess,
    bdf: Bdf,
    from: u16,
    next: u16,
    /// One bit per dword of the 4 KiB space.
    visited: [u64; 16],
    hops: usize,
    done: bool,
}

impl Iterator for ExtCapIter<'_> {
    type Item = Result<ExtCapability, CapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let at = self.next;
        if at == 0 {
            self.done = true;
            return None;
        }
        let (word, bit) = (usize::from(at / 4) / 64, (at / 4) % 64);
        let err = if at < regs::EXT_START {
            Some(CapError::BadPointer { from: self.from, to: at })
        } else if self.visited[word] & (1 << bit) != 0 {
            Some(CapError::Loop { from: self.from, to: at })
        } else if self.hops >= regs::MAX_EXT_CAPS {
            Some(CapError::TooMany { limit: regs::MAX_EXT_CAPS })
        } else {
            None
        };
        if let Some(e) = err {
            self.done = true;
            return Some(Err(e));
        }
        self.visited[word] |= 1 << bit;
        self.hops += 1;
        let header = self.access.read32(self.bdf, at);
        if header == 0 || header == config_regs::ABSENT {
            // 0: no (more) extended capabilities; all ones: extended space
            // is not reachable. Both are a normal end, not corruption.
            self.done = true;
            return None;
        }
        self.from = at;
        self.next = ((header >> regs::EXT_NEXT_SHIFT) & regs::EXT_NEXT_MASK) as u16;
        Some(Ok(ExtCapability {
            offset: at,
            id: (header & regs::EXT_ID_MASK) as u16,
            version: ((header >> regs::EXT_VERSION_SHIFT) & regs::EXT_VERSION_MASK) as u8,
        }))
    }
}

/// The extended capability list of `bdf`, starting at 0x100.
pub fn extended_capabilities(access: &dyn ConfigAccess, bdf: Bdf) -> ExtCapIter<'_> {
    ExtCapIter { access, bdf, from: regs::EXT_START, next: regs::EXT_START, visited: [0; 16], hops: 0, done: false }
}

/// The offset of the first extended capability with ID `id`, if any.
pub fn find_extended(access: &dyn ConfigAccess, bdf: Bdf, id: u16) -> Result<Option<u16>, CapError> {
    for cap in extended_capabilities(access, bdf) {
        let cap = cap?;
        if cap.id == id {
            return Ok(Some(cap.offset));
        }
    }
    Ok(None)
}

/// The short name `lspci -v` uses for a standard capability ID.
pub fn name(id: u8) -> &'static str {
    use regs::id::*;
    match id {
        POWER_MANAGEMENT => "Power Management",
        AGP => "AGP",
        VPD => "Vital Product Data",
        SLOT_ID => "Slot ID",
        MSI => "MSI",
        COMPACTPCI_HOT_SWAP => "CompactPCI hot-swap",
        PCIX => "PCI-X",
        HYPERTRANSPORT => "HyperTransport",
        VENDOR_SPECIFIC => "Vendor Specific",
        DEBUG_PORT => "Debug port",
        COMPACTPCI_CRC => "CompactPCI central resource control",
        HOT_PLUG => "Hot-plug",
        BRIDGE_SUBSYSTEM_VENDOR => "Subsystem",
        AGP8X => "AGP3",
        SECURE_DEVICE => "Secure device",
        PCI_EXPRESS => "Express",
        MSIX => "MSI-X",
        SATA => "SATA HBA",
        ADVANCED_FEATURES => "PCI Advanced Features",
        ENHANCED_ALLOCATION => "Enhanced Allocation",
        _ => "Unknown",
    }
}

/// The short name `lspci -v` uses for an extended capability ID.
pub fn ext_name(id: u16) -> &'static str {
    use regs::ext_id::*;
    match id {
        AER => "Advanced Error Reporting",
        VIRTUAL_CHANNEL => "Virtual Channel",
        DEVICE_SERIAL_NUMBER => "Device Serial Number",
        POWER_BUDGETING => "Power Budgeting",
        RC_LINK_DECLARATION => "Root Complex Link",
        MFVC => "Multi-Function Virtual Channel",
        VENDOR_SPECIFIC => "Vendor Specific Information",
        ACS => "Access Control Services",
        ARI => "Alternative Routing-ID Interpretation (ARI)",
        ATS => "Address Translation Service (ATS)",
        SRIOV => "Single Root I/O Virtualization (SR-IOV)",
        RESIZABLE_BAR => "Physical Resizable BAR",
        LTR => "Latency Tolerance Reporting",
        SECONDARY_PCIE => "Secondary PCI Express",
        PASID => "Process Address Space ID (PASID)",
        L1_PM_SUBSTATES => "L1 PM Substates",
        DVSEC => "Designated Vendor-Specific",
        _ => "Unknown",
    }
}

/// What a PCI Express function is, from its PCI Express capability
/// `[PCIe §7.5.3.2]`. Root ports and PCI bridges share class 0x0604; this
/// tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PciePortType {
    /// PCI Express endpoint.
    Endpoint,
    /// Legacy endpoint.
    LegacyEndpoint,
    /// Root port.
    RootPort,
    /// Switch upstream port.
    SwitchUpstream,
    /// Switch downstream port.
    SwitchDownstream,
    /// PCIe-to-PCI bridge.
    PcieToPciBridge,
    /// PCI-to-PCIe bridge.
    PciToPcieBridge,
    /// Endpoint integrated in the root complex (all of q35's bus 0 devices).
    RootComplexIntegrated,
    /// Root complex event collector.
    RootComplexEventCollector,
    /// A reserved encoding.
    Reserved(u8),
}

impl PciePortType {
    /// Decodes PCIe Capabilities bits 7:4 (already shifted down).
    pub const fn from_bits(bits: u8) -> Self {
        use regs::port_type::*;
        match bits {
            ENDPOINT => PciePortType::Endpoint,
            LEGACY_ENDPOINT => PciePortType::LegacyEndpoint,
            ROOT_PORT => PciePortType::RootPort,
            SWITCH_UPSTREAM => PciePortType::SwitchUpstream,
            SWITCH_DOWNSTREAM => PciePortType::SwitchDownstream,
            PCIE_TO_PCI_BRIDGE => PciePortType::PcieToPciBridge,
            PCI_TO_PCIE_BRIDGE => PciePortType::PciToPcieBridge,
            RC_INTEGRATED_ENDPOINT => PciePortType::RootComplexIntegrated,
            RC_EVENT_COLLECTOR => PciePortType::RootComplexEventCollector,
            other => PciePortType::Reserved(other),
        }
    }
}

/// The PCI Express device/port type of `bdf`, or `None` for a conventional
/// PCI function (no PCI Express capability).
pub fn pcie_port_type(access: &dyn ConfigAccess, bdf: Bdf) -> Result<Option<PciePortType>, CapError> {
    Ok(find(access, bdf, regs::id::PCI_EXPRESS)?.map(|cap| {
        let caps = access.read16(bdf, cap + regs::PCIE_CAPABILITIES);
        PciePortType::from_bits(((caps >> regs::PCIE_PORT_TYPE_SHIFT) & regs::PCIE_PORT_TYPE_MASK) as u8)
    }))
}
