//! The configuration header, named once (DESIGN.md, rule 3).
//!
//! Sources, cited as:
//! - `[PCI 3.0 §x]`: *PCI Local Bus Specification*, revision 3.0. §6.1 is the
//!   header layout (figure 6-1), §6.2 its registers, §3.2.2.3.2 configuration
//!   mechanism #1.
//! - `[PPB 1.2 §x]`: *PCI-to-PCI Bridge Architecture Specification*, revision
//!   1.2. §3.2 is the type 1 header (figure 3-1), §3.2.5 its registers.
//! - `[PCIe §x]`: *PCI Express Base Specification* (4.0 and later numbering).
//!   §7.2.2 is ECAM.
//!
//! # Layout
//!
//! The first 64 bytes of every function's configuration space are the
//! *header*. Its first 16 bytes are common to all header types; byte 0x0e
//! (Header Type) says how the other 48 are laid out: type 0 for an ordinary
//! function (an "endpoint"), type 1 for a PCI-to-PCI bridge (which is also
//! what a PCIe root port or switch port looks like to software), type 2 for a
//! CardBus bridge.
//!
//! ```text
//!  offset  31            24 23            16 15             8 7              0
//!  0x00    | Device ID                       | Vendor ID                       |
//!  0x04    | Status                          | Command                         |
//!  0x08    | Class: base     | sub           | prog-if         | Revision ID   |
//!  0x0c    | BIST            | Header Type   | Latency Timer   | Cache Line    |
//!  -------- type 0 --------------------------------------------------------------
//!  0x10-24 | BAR0 .. BAR5                                                      |
//!  0x28    | CardBus CIS pointer                                               |
//!  0x2c    | Subsystem ID                    | Subsystem Vendor ID             |
//!  0x30    | Expansion ROM base address                                        |
//!  0x34    | reserved                                        | Cap. pointer  |
//!  0x3c    | Max_Lat         | Min_Gnt       | Interrupt Pin   | Interrupt Line|
//!  -------- type 1 --------------------------------------------------------------
//!  0x10-14 | BAR0 .. BAR1                                                      |
//!  0x18    | Sec. latency    | Subordinate   | Secondary bus   | Primary bus   |
//!  0x1c    | Secondary Status                | I/O Limit       | I/O Base      |
//!  0x20    | Memory Limit                    | Memory Base                     |
//!  0x24    | Prefetchable Memory Limit       | Prefetchable Memory Base        |
//!  0x28    | Prefetchable Base Upper 32 Bits                                   |
//!  0x2c    | Prefetchable Limit Upper 32 Bits                                  |
//!  0x30    | I/O Limit Upper 16 Bits         | I/O Base Upper 16 Bits          |
//!  0x34    | reserved                                        | Cap. pointer  |
//!  0x38    | Expansion ROM base address                                        |
//!  0x3c    | Bridge Control                  | Interrupt Pin   | Interrupt Line|
//! ```
//!
//! Offsets are `u16` because PCIe configuration space is 4 KiB; everything
//! in the header is below 0x40.

// ---------------------------------------------------------------------------
// Common header, all types [PCI 3.0 §6.1, §6.2.1]
// ---------------------------------------------------------------------------

/// Vendor ID, 16 bits `[PCI 3.0 §6.2.1]`. 0xffff is never assigned: it is
/// what a read returns when no function answers (master abort).
pub const VENDOR_ID: u16 = 0x00;
/// Device ID, 16 bits `[PCI 3.0 §6.2.1]`.
pub const DEVICE_ID: u16 = 0x02;
/// Command register, 16 bits `[PCI 3.0 §6.2.2]`; bits in [`command`].
pub const COMMAND: u16 = 0x04;
/// Status register, 16 bits `[PCI 3.0 §6.2.3]`; bits in [`status`].
pub const STATUS: u16 = 0x06;
/// Revision ID, 8 bits `[PCI 3.0 §6.2.1]`.
pub const REVISION_ID: u16 = 0x08;
/// Programming interface, the low byte of the 24-bit class code
/// `[PCI 3.0 §6.2.1, appendix D]`.
pub const PROG_IF: u16 = 0x09;
/// Sub-class, the middle byte of the class code.
pub const SUBCLASS: u16 = 0x0a;
/// Base class, the high byte of the class code.
pub const BASE_CLASS: u16 = 0x0b;
/// Cache Line Size, 8 bits, in dwords `[PCI 3.0 §6.2.4]`.
pub const CACHE_LINE_SIZE: u16 = 0x0c;
/// Latency Timer, 8 bits `[PCI 3.0 §6.2.4]`.
pub const LATENCY_TIMER: u16 = 0x0d;
/// Header Type, 8 bits `[PCI 3.0 §6.2.1]`; fields in [`header_type`].
pub const HEADER_TYPE: u16 = 0x0e;
/// Built-in self test, 8 bits `[PCI 3.0 §6.2.4]`.
pub const BIST: u16 = 0x0f;

/// Header Type fields `[PCI 3.0 §6.2.1]`.
pub mod header_type {
    /// Bits 6:0: the layout of bytes 0x10–0x3f.
    pub const LAYOUT_MASK: u8 = 0x7f;
    /// Bit 7: the device has more than one function, so functions 1–7 must
    /// be probed too. Only meaningful in function 0.
    pub const MULTI_FUNCTION: u8 = 0x80;
    /// Layout 0: an ordinary function.
    pub const ENDPOINT: u8 = 0x00;
    /// Layout 1: a PCI-to-PCI bridge `[PPB 1.2 §3.2]`.
    pub const PCI_BRIDGE: u8 = 0x01;
    /// Layout 2: a CardBus bridge (PC Card standard).
    pub const CARDBUS_BRIDGE: u8 = 0x02;
}

/// Command register bits `[PCI 3.0 §6.2.2]` (bridges: `[PPB 1.2 §3.2.4]`).
pub mod command {
    /// Bit 0: respond to I/O space accesses (for a bridge: also forward
    /// them through its I/O window).
    pub const IO_SPACE: u16 = 1 << 0;
    /// Bit 1: respond to memory space accesses (for a bridge: also forward
    /// them through its memory windows).
    pub const MEMORY_SPACE: u16 = 1 << 1;
    /// Bit 2: the function may master the bus, i.e. do DMA (for a bridge:
    /// forward upstream requests). Firmware often leaves it clear.
    pub const BUS_MASTER: u16 = 1 << 2;
    /// Bit 6: parity error response.
    pub const PARITY_ERROR_RESPONSE: u16 = 1 << 6;
    /// Bit 8: SERR# enable.
    pub const SERR_ENABLE: u16 = 1 << 8;
    /// Bit 10: the function must not assert its INTx pin. Software sets it
    /// when it uses MSI/MSI-X, or polls.
    pub const INTX_DISABLE: u16 = 1 << 10;
    /// The two decode-enable bits, cleared while sizing BARs
    /// `[PCI 3.0 §6.2.5.1, implementation note]`.
    pub const DECODE: u16 = IO_SPACE | MEMORY_SPACE;
}

/// Status register bits `[PCI 3.0 §6.2.3]`.
///
/// Every bit is read-only or RW1C ("write 1 to clear"): writing a 1 clears
/// the bit, writing 0 leaves it alone. That is why a read-modify-write of the
/// dword at 0x04 must write the status half back as **zero**, not as it was
/// read — see [`ConfigAccess::write16`](super::ConfigAccess::write16).
pub mod status {
    /// Bit 3 (RO): the function's INTx is asserted (PCI 2.3 and later).
    pub const INTERRUPT: u16 = 1 << 3;
    /// Bit 4 (RO): a capability list starts at
    /// [`CAPABILITIES_POINTER`](super::CAPABILITIES_POINTER) `[PCI 3.0 §6.7]`.
    pub const CAP_LIST: u16 = 1 << 4;
    /// Bit 8 (RW1C): master data parity error.
    pub const MASTER_DATA_PARITY_ERROR: u16 = 1 << 8;
    /// Bit 11 (RW1C): signaled target abort.
    pub const SIGNALED_TARGET_ABORT: u16 = 1 << 11;
    /// Bit 12 (RW1C): received target abort.
    pub const RECEIVED_TARGET_ABORT: u16 = 1 << 12;
    /// Bit 13 (RW1C): received master abort.
    pub const RECEIVED_MASTER_ABORT: u16 = 1 << 13;
    /// Bit 14 (RW1C): signaled system error.
    pub const SIGNALED_SYSTEM_ERROR: u16 = 1 << 14;
    /// Bit 15 (RW1C): detected parity error.
    pub const DETECTED_PARITY_ERROR: u16 = 1 << 15;
    /// All RW1C bits.
    pub const RW1C: u16 = MASTER_DATA_PARITY_ERROR
        | SIGNALED_TARGET_ABORT
        | RECEIVED_TARGET_ABORT
        | RECEIVED_MASTER_ABORT
        | SIGNALED_SYSTEM_ERROR
        | DETECTED_PARITY_ERROR;
}

// ---------------------------------------------------------------------------
// Type 0 header [PCI 3.0 §6.1, §6.2.5]
// ---------------------------------------------------------------------------

/// Base Address Register 0 `[PCI 3.0 §6.2.5.1]`; BAR *n* is at
/// `BAR0 + 4 * n` ([`bar_offset`]).
pub const BAR0: u16 = 0x10;
/// Type 0 headers have six BARs.
pub const TYPE0_BAR_COUNT: usize = 6;
/// Subsystem Vendor ID, type 0 only `[PCI 3.0 §6.2.4]`.
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2c;
/// Subsystem ID, type 0 only `[PCI 3.0 §6.2.4]`.
pub const SUBSYSTEM_ID: u16 = 0x2e;
/// Expansion ROM base address, type 0 `[PCI 3.0 §6.2.5.2]`.
pub const TYPE0_ROM_ADDRESS: u16 = 0x30;
/// Capabilities Pointer, types 0 and 1: the offset of the first capability
/// (valid when [`status::CAP_LIST`] is set) `[PCI 3.0 §6.7]`.
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Interrupt Line, types 0 and 1: written by firmware, read by drivers; the
/// hardware ignores it `[PCI 3.0 §6.2.4]`.
pub const INTERRUPT_LINE: u16 = 0x3c;
/// Interrupt Pin, types 0 and 1 (RO): 0 = none, 1–4 = INTA#–INTD#
/// `[PCI 3.0 §6.2.4]`.
pub const INTERRUPT_PIN: u16 = 0x3d;

/// The offset of BAR `index`.
pub const fn bar_offset(index: usize) -> u16 {
    BAR0 + 4 * index as u16
}

/// Base Address Register fields `[PCI 3.0 §6.2.5.1]`.
pub mod bar {
    /// Bit 0: 1 = I/O space BAR, 0 = memory space BAR.
    pub const IO: u32 = 1 << 0;
    /// I/O BARs: bits 31:2 are the address (bit 1 reserved).
    pub const IO_ADDRESS_MASK: u32 = !0x3;
    /// Memory BARs: bits 2:1 are the type.
    pub const MEM_TYPE_SHIFT: u32 = 1;
    /// Two bits wide.
    pub const MEM_TYPE_MASK: u32 = 0x3;
    /// Type 00: a 32-bit BAR, anywhere below 4 GiB.
    pub const MEM_TYPE_32: u32 = 0x0;
    /// Type 01: PCI 2.x "below 1 MiB"; reserved since 3.0, decoded as 32-bit.
    pub const MEM_TYPE_1M: u32 = 0x1;
    /// Type 10: a 64-bit BAR, which takes this slot and the next.
    pub const MEM_TYPE_64: u32 = 0x2;
    /// Bit 3: prefetchable (reads have no side effects, writes may merge).
    pub const MEM_PREFETCHABLE: u32 = 1 << 3;
    /// Memory BARs: bits 31:4 are the address.
    pub const MEM_ADDRESS_MASK: u32 = !0xf;
}

// ---------------------------------------------------------------------------
// Type 1 header [PPB 1.2 §3.2]
// ---------------------------------------------------------------------------

/// Type 1 headers have two BARs (at the same offsets as type 0's first two).
pub const TYPE1_BAR_COUNT: usize = 2;
/// Primary Bus Number: the bus the bridge sits on `[PPB 1.2 §3.2.5.2]`.
pub const PRIMARY_BUS: u16 = 0x18;
/// Secondary Bus Number: the bus directly behind the bridge; type 0
/// configuration cycles for it are generated here `[PPB 1.2 §3.2.5.3]`.
pub const SECONDARY_BUS: u16 = 0x19;
/// Subordinate Bus Number: the highest bus behind the bridge; type 1 cycles
/// for buses in secondary+1..=subordinate are forwarded `[PPB 1.2 §3.2.5.4]`.
pub const SUBORDINATE_BUS: u16 = 0x1a;
/// Secondary Latency Timer `[PPB 1.2 §3.2.5.5]`.
pub const SECONDARY_LATENCY_TIMER: u16 = 0x1b;
/// I/O Base, 8 bits: bits 7:4 are address bits 15:12, bits 3:0 the
/// addressing capability `[PPB 1.2 §3.2.5.6]`; see [`io_window`].
pub const IO_BASE: u16 = 0x1c;
/// I/O Limit, 8 bits, same encoding; the window ends at `limit | 0xfff`.
pub const IO_LIMIT: u16 = 0x1d;
/// Secondary Status, 16 bits; RW1C like [`STATUS`] `[PPB 1.2 §3.2.5.7]`. It
/// shares its dword with I/O base/limit, so writes of 0x1c put zero here.
pub const SECONDARY_STATUS: u16 = 0x1e;
/// Memory Base, 16 bits: bits 15:4 are address bits 31:20
/// `[PPB 1.2 §3.2.5.8]`; see [`mem_window`].
pub const MEMORY_BASE: u16 = 0x20;
/// Memory Limit, same encoding; the window ends at `limit | 0xfffff`.
pub const MEMORY_LIMIT: u16 = 0x22;
/// Prefetchable Memory Base: like [`MEMORY_BASE`], and bits 3:0 say whether
/// the upper 32 bits exist `[PPB 1.2 §3.2.5.9]`.
pub const PREF_MEMORY_BASE: u16 = 0x24;
/// Prefetchable Memory Limit.
pub const PREF_MEMORY_LIMIT: u16 = 0x26;
/// Prefetchable Base Upper 32 Bits `[PPB 1.2 §3.2.5.10]`.
pub const PREF_BASE_UPPER32: u16 = 0x28;
/// Prefetchable Limit Upper 32 Bits `[PPB 1.2 §3.2.5.10]`.
pub const PREF_LIMIT_UPPER32: u16 = 0x2c;
/// I/O Base Upper 16 Bits `[PPB 1.2 §3.2.5.11]`.
pub const IO_BASE_UPPER16: u16 = 0x30;
/// I/O Limit Upper 16 Bits `[PPB 1.2 §3.2.5.11]`.
pub const IO_LIMIT_UPPER16: u16 = 0x32;
/// Expansion ROM base address, type 1 (moved from 0x30).
pub const TYPE1_ROM_ADDRESS: u16 = 0x38;
/// Bridge Control, 16 bits `[PPB 1.2 §3.2.5.18]`; bits in [`bridge_control`].
pub const BRIDGE_CONTROL: u16 = 0x3e;

/// Type 2 (CardBus) header: the one register this crate reads.
pub mod cardbus {
    /// Subsystem Vendor ID in a CardBus header (PC Card standard, vol. 2).
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x40;
    /// Subsystem ID in a CardBus header.
    pub const SUBSYSTEM_ID: u16 = 0x42;
    /// A CardBus bridge has one BAR (the socket/ExCA registers).
    pub const BAR_COUNT: usize = 1;
}

/// I/O window encoding `[PPB 1.2 §3.2.5.6]`.
pub mod io_window {
    /// Base/limit bits 7:4 carry address bits 15:12.
    pub const ADDRESS_MASK: u8 = 0xf0;
    /// Shift from the register's bits 7:4 to address bits 15:12.
    pub const ADDRESS_SHIFT: u32 = 8;
    /// Bits 3:0: addressing capability (RO).
    pub const CAP_MASK: u8 = 0x0f;
    /// Capability 0: 16-bit I/O addresses only.
    pub const CAP_16BIT: u8 = 0x0;
    /// Capability 1: 32-bit I/O addresses (the upper-16 registers exist).
    pub const CAP_32BIT: u8 = 0x1;
    /// I/O windows are 4 KiB granular.
    pub const GRANULARITY: u64 = 0x1000;
    /// The Upper 16 Bits registers carry address bits 31:16
    /// `[PPB 1.2 §3.2.5.11]`.
    pub const UPPER_SHIFT: u32 = 16;
}

/// Memory and prefetchable window encoding `[PPB 1.2 §3.2.5.8–9]`.
pub mod mem_window {
    /// Base/limit bits 15:4 carry address bits 31:20.
    pub const ADDRESS_MASK: u16 = 0xfff0;
    /// Shift from the register's bits 15:4 to address bits 31:20.
    pub const ADDRESS_SHIFT: u32 = 16;
    /// Prefetchable base/limit bits 3:0: addressing capability (RO).
    pub const CAP_MASK: u16 = 0x000f;
    /// Capability 0: 32-bit prefetchable window.
    pub const CAP_32BIT: u16 = 0x0;
    /// Capability 1: 64-bit prefetchable window (upper-32 registers exist).
    pub const CAP_64BIT: u16 = 0x1;
    /// Memory windows are 1 MiB granular.
    pub const GRANULARITY: u64 = 0x10_0000;
    /// The Upper 32 Bits registers carry address bits 63:32
    /// `[PPB 1.2 §3.2.5.10]`.
    pub const UPPER_SHIFT: u32 = 32;
}

/// Bridge Control bits `[PPB 1.2 §3.2.5.18]`.
pub mod bridge_control {
    /// Bit 0: parity error response on the secondary side.
    pub const PARITY_ERROR_RESPONSE: u16 = 1 << 0;
    /// Bit 1: forward secondary SERR#.
    pub const SERR_ENABLE: u16 = 1 << 1;
    /// Bit 2: ISA enable (don't forward the top 768 bytes of each 1 KiB I/O).
    pub const ISA_ENABLE: u16 = 1 << 2;
    /// Bit 3: forward VGA legacy ranges.
    pub const VGA_ENABLE: u16 = 1 << 3;
    /// Bit 5: master abort mode.
    pub const MASTER_ABORT_MODE: u16 = 1 << 5;
    /// Bit 6: hold the secondary bus in reset.
    pub const SECONDARY_BUS_RESET: u16 = 1 << 6;
}

// ---------------------------------------------------------------------------
// Access mechanisms [PCIe §7.2.2], [PCI 3.0 §3.2.2.3.2]
// ---------------------------------------------------------------------------

/// ECAM: bits 27:20 of the offset select the bus `[PCIe §7.2.2, table 7-1]`.
pub const ECAM_BUS_SHIFT: u32 = 20;
/// ECAM: bits 19:15 select the device.
pub const ECAM_DEVICE_SHIFT: u32 = 15;
/// ECAM: bits 14:12 select the function.
pub const ECAM_FUNCTION_SHIFT: u32 = 12;
/// ECAM: bits 11:0 are the register offset within the 4 KiB space.
pub const ECAM_OFFSET_MASK: u16 = 0xfff;
/// The size of one function's configuration space with ECAM.
pub const CONFIG_SPACE_SIZE: u16 = 0x1000;
/// What configuration mechanism #1 (and conventional PCI) can reach.
pub const LEGACY_CONFIG_SPACE_SIZE: u16 = 0x100;

/// Mechanism #1 (port 0xCF8): bit 31 enables the configuration cycle
/// `[PCI 3.0 §3.2.2.3.2]`; without it the access goes to the port itself.
pub const CF8_ENABLE: u32 = 1 << 31;
/// Mechanism #1: bits 23:16 bus.
pub const CF8_BUS_SHIFT: u32 = 16;
/// Mechanism #1: bits 15:11 device.
pub const CF8_DEVICE_SHIFT: u32 = 11;
/// Mechanism #1: bits 10:8 function.
pub const CF8_FUNCTION_SHIFT: u32 = 8;
/// Mechanism #1: bits 7:2 dword register number; bits 1:0 are zero (the byte
/// within the dword is chosen by accessing 0xCFC + 0..3).
pub const CF8_REGISTER_MASK: u32 = 0xfc;
/// The CONFIG_ADDRESS port.
pub const CF8_ADDRESS_PORT: u16 = 0xcf8;
/// The CONFIG_DATA port.
pub const CFC_DATA_PORT: u16 = 0xcfc;

/// Device numbers are 5 bits.
pub const MAX_DEVICES: u8 = 32;
/// Function numbers are 3 bits.
pub const MAX_FUNCTIONS: u8 = 8;
/// What a configuration read returns when no function answers.
pub const ABSENT: u32 = 0xffff_ffff;
