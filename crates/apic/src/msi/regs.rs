//! The x86 MSI message format, named once (DESIGN.md, rule 3).
//!
//! Source: Intel SDM volume 3A §11.11, "Message Signalled Interrupts", cited
//! as `[SDM 3A §x]`: §11.11.1 for the address, §11.11.2 for the data. This is
//! the *compatibility* format; with VT-d interrupt remapping (address bit 4
//! set) the address instead carries an index into a remapping table, which
//! this crate does not decode.

/// Address bits 31:20: always 0xFEE — the range the chipset routes to the
/// local APICs instead of memory `[SDM 3A §11.11.1]`.
pub const ADDRESS_BASE: u64 = 0xfee0_0000;
/// The bits that must equal [`ADDRESS_BASE`]: 31:20, plus 63:32 which are
/// zero in the compatibility format.
pub const ADDRESS_BASE_MASK: u64 = 0xffff_ffff_fff0_0000;
/// Address bits 19:12: destination ID (an APIC ID, or a logical CPU set).
pub const ADDRESS_DESTINATION_SHIFT: u32 = 12;
/// Eight bits wide.
pub const ADDRESS_DESTINATION_MASK: u64 = 0xff;
/// Address bit 4: interrupt format. Set means VT-d remappable format.
pub const ADDRESS_REMAPPABLE: u64 = 1 << 4;
/// Address bit 3: redirection hint. 1 = deliver to the lowest-priority CPU
/// among the destinations (with logical destination mode).
pub const ADDRESS_REDIRECTION_HINT: u64 = 1 << 3;
/// Address bit 2: destination mode, 1 = logical (used only with RH = 1).
pub const ADDRESS_DESTINATION_LOGICAL: u64 = 1 << 2;

/// Data bits 7:0: vector `[SDM 3A §11.11.2]`.
pub const DATA_VECTOR_MASK: u32 = 0xff;
/// Data bits 10:8: delivery mode ([`crate::regs::delivery_mode`]).
pub const DATA_DELIVERY_MODE_SHIFT: u32 = 8;
/// Data bit 14: level, 1 = assert. Only meaningful with level trigger; edge
/// messages are always taken as asserts.
pub const DATA_LEVEL_ASSERT: u32 = 1 << 14;
/// Data bit 15: trigger mode, 0 = edge, 1 = level.
pub const DATA_TRIGGER_LEVEL: u32 = 1 << 15;
