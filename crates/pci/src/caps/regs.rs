//! Capability list layout and IDs, named once (DESIGN.md, rule 3).
//!
//! Sources: `[PCI 3.0 §6.7]` (standard list), `[PCI 3.0 appendix H]` (IDs),
//! `[PCIe §7.6]` (extended list at 0x100, PCIe Base 4.0+ numbering),
//! `[PCIe §7.5.3]` (the PCI Express capability), `[PPB 1.2 §3.2]` and the
//! PCI Code and ID Assignment Specification for the remaining IDs.

/// Standard capability header: byte 0 is the ID `[PCI 3.0 §6.7]`.
pub const CAP_ID: u16 = 0x0;
/// Standard capability header: byte 1 is the offset of the next capability
/// (0 ends the list).
pub const CAP_NEXT: u16 = 0x1;
/// The bottom two bits of a capability pointer are reserved; software must
/// mask them off before using it `[PCI 3.0 §6.7]`.
pub const POINTER_MASK: u8 = 0xfc;
/// Capabilities live after the 64-byte header: a pointer below this points
/// into the header and is corrupt.
pub const FIRST_OFFSET: u8 = 0x40;
/// A 256-byte space holds at most (256 − 64) / 4 = 48 capabilities, so a
/// longer walk is a loop.
pub const MAX_CAPS: usize = 48;

/// Extended capabilities start here, in PCIe configuration space
/// `[PCIe §7.6]`.
pub const EXT_START: u16 = 0x100;
/// Extended header bits 15:0: capability ID.
pub const EXT_ID_MASK: u32 = 0xffff;
/// Extended header bits 19:16: capability version.
pub const EXT_VERSION_SHIFT: u32 = 16;
/// Four bits wide.
pub const EXT_VERSION_MASK: u32 = 0xf;
/// Extended header bits 31:20: offset of the next capability (0 ends the
/// list); bits 1:0 of it are reserved and masked.
pub const EXT_NEXT_SHIFT: u32 = 20;
/// Twelve bits wide.
pub const EXT_NEXT_MASK: u32 = 0xffc;
/// (4096 − 256) / 4 = 960 dwords: no list can be longer.
pub const MAX_EXT_CAPS: usize = 960;

/// Bridge Subsystem Vendor ID capability: the subsystem IDs of a type 1
/// header, which has no room for them, are in the dword at +4 (vendor in
/// bits 15:0, device in 31:16) (PCI Code and ID Assignment Specification,
/// capability ID 0Dh).
pub const SSVID_OFFSET: u16 = 0x4;

/// The PCI Express capability's Capabilities register (16 bits at +2)
/// `[PCIe §7.5.3.2]`.
pub const PCIE_CAPABILITIES: u16 = 0x2;
/// PCIe Capabilities bits 7:4: device/port type.
pub const PCIE_PORT_TYPE_SHIFT: u32 = 4;
/// Four bits wide.
pub const PCIE_PORT_TYPE_MASK: u16 = 0xf;

/// Standard capability IDs `[PCI 3.0 appendix H]`.
pub mod id {
    /// Power management interface.
    pub const POWER_MANAGEMENT: u8 = 0x01;
    /// AGP.
    pub const AGP: u8 = 0x02;
    /// Vital product data.
    pub const VPD: u8 = 0x03;
    /// Slot identification.
    pub const SLOT_ID: u8 = 0x04;
    /// Message signalled interrupts `[PCI 3.0 §6.8.1]`.
    pub const MSI: u8 = 0x05;
    /// CompactPCI hot swap.
    pub const COMPACTPCI_HOT_SWAP: u8 = 0x06;
    /// PCI-X.
    pub const PCIX: u8 = 0x07;
    /// HyperTransport.
    pub const HYPERTRANSPORT: u8 = 0x08;
    /// Vendor specific (virtio puts its structures in these).
    pub const VENDOR_SPECIFIC: u8 = 0x09;
    /// Debug port.
    pub const DEBUG_PORT: u8 = 0x0a;
    /// CompactPCI central resource control.
    pub const COMPACTPCI_CRC: u8 = 0x0b;
    /// PCI hot-plug (SHPC).
    pub const HOT_PLUG: u8 = 0x0c;
    /// Bridge subsystem vendor ID.
    pub const BRIDGE_SUBSYSTEM_VENDOR: u8 = 0x0d;
    /// AGP 8x.
    pub const AGP8X: u8 = 0x0e;
    /// Secure device.
    pub const SECURE_DEVICE: u8 = 0x0f;
    /// PCI Express `[PCIe §7.5.3]`.
    pub const PCI_EXPRESS: u8 = 0x10;
    /// MSI-X `[PCI 3.0 §6.8.2]`.
    pub const MSIX: u8 = 0x11;
    /// SATA configuration.
    pub const SATA: u8 = 0x12;
    /// Advanced features.
    pub const ADVANCED_FEATURES: u8 = 0x13;
    /// Enhanced allocation.
    pub const ENHANCED_ALLOCATION: u8 = 0x14;
}

/// Extended capability IDs `[PCIe §7.6 onwards; PCI Code and ID Assignment]`.
pub mod ext_id {
    /// Advanced error reporting.
    pub const AER: u16 = 0x0001;
    /// Virtual channel.
    pub const VIRTUAL_CHANNEL: u16 = 0x0002;
    /// Device serial number.
    pub const DEVICE_SERIAL_NUMBER: u16 = 0x0003;
    /// Power budgeting.
    pub const POWER_BUDGETING: u16 = 0x0004;
    /// Root complex link declaration.
    pub const RC_LINK_DECLARATION: u16 = 0x0005;
    /// Multi-function virtual channel.
    pub const MFVC: u16 = 0x0008;
    /// Vendor-specific extended capability.
    pub const VENDOR_SPECIFIC: u16 = 0x000b;
    /// Access control services.
    pub const ACS: u16 = 0x000d;
    /// Alternative routing-ID interpretation.
    pub const ARI: u16 = 0x000e;
    /// Address translation services.
    pub const ATS: u16 = 0x000f;
    /// Single-root I/O virtualization.
    pub const SRIOV: u16 = 0x0010;
    /// Resizable BAR.
    pub const RESIZABLE_BAR: u16 = 0x0015;
    /// Latency tolerance reporting.
    pub const LTR: u16 = 0x0018;
    /// Secondary PCI Express.
    pub const SECONDARY_PCIE: u16 = 0x0019;
    /// Process address space ID.
    pub const PASID: u16 = 0x001b;
    /// L1 PM substates.
    pub const L1_PM_SUBSTATES: u16 = 0x001e;
    /// Designated vendor-specific extended capability.
    pub const DVSEC: u16 = 0x0023;
}

/// PCI Express device/port types (PCIe Capabilities bits 7:4)
/// `[PCIe §7.5.3.2]`.
pub mod port_type {
    /// PCI Express endpoint.
    pub const ENDPOINT: u8 = 0x0;
    /// Legacy PCI Express endpoint.
    pub const LEGACY_ENDPOINT: u8 = 0x1;
    /// Root port of a root complex.
    pub const ROOT_PORT: u8 = 0x4;
    /// Upstream port of a switch.
    pub const SWITCH_UPSTREAM: u8 = 0x5;
    /// Downstream port of a switch.
    pub const SWITCH_DOWNSTREAM: u8 = 0x6;
    /// PCI Express to PCI/PCI-X bridge.
    pub const PCIE_TO_PCI_BRIDGE: u8 = 0x7;
    /// PCI/PCI-X to PCI Express bridge.
    pub const PCI_TO_PCIE_BRIDGE: u8 = 0x8;
    /// Root complex integrated endpoint.
    pub const RC_INTEGRATED_ENDPOINT: u8 = 0x9;
    /// Root complex event collector.
    pub const RC_EVENT_COLLECTOR: u8 = 0xa;
}
