//! The IOAPIC register map, named once (DESIGN.md, rule 3).
//!
//! Source: Intel *82093AA I/O Advanced Programmable Interrupt Controller
//! (IOAPIC)* datasheet, order no. 290566, cited as `[82093AA §x]`: §3.1 for
//! the two memory-mapped registers, §3.2 for the indirect ones. Later Intel
//! chipsets (ICH/PCH datasheets, "I/O APIC" chapter) keep this map and add a
//! directly mapped EOI register at offset 0x40; they report version 0x20.
//!
//! # Direct and indirect registers
//!
//! The IOAPIC decodes only a tiny MMIO window. Two 32-bit registers in it
//! reach everything else: write an indirect register's *index* to IOREGSEL,
//! then read or write its value through IOWIN. Two accesses per register, and
//! the pair is not atomic: a second CPU selecting another register between
//! them makes the first CPU read or write the wrong one. Hence
//! [`IoApic`](super::IoApic)'s register methods take `&mut self`; the kernel
//! shares one IOAPIC behind a lock.

/// I/O Register Select: the index of the indirect register that IOWIN
/// accesses (bits 7:0) `[82093AA §3.1.1]`.
pub const IOREGSEL: usize = 0x00;
/// I/O Window: the selected indirect register's value `[82093AA §3.1.2]`.
pub const IOWIN: usize = 0x10;
/// IOREGSEL and IOWIN, 32 bits each, at 0x00 and 0x10: the window must cover
/// at least this much.
pub const WINDOW_SIZE: usize = 0x20;

/// EOI register (write-only, version 0x20 and later): writing a vector clears
/// Remote IRR in every level-triggered entry with that vector (ICH/PCH
/// datasheets, I/O APIC "EOI Register"). The 82093AA (version 0x11) has none.
pub const EOI: usize = 0x40;
/// The window size that includes [`EOI`].
pub const WINDOW_SIZE_WITH_EOI: usize = EOI + 4;

/// Indirect register: IOAPIC identification `[82093AA §3.2.1]`.
pub const IOAPICID: u32 = 0x00;
/// Indirect register: version and size `[82093AA §3.2.2]`.
pub const IOAPICVER: u32 = 0x01;
/// Indirect registers: the redirection table, two 32-bit registers per pin
/// starting here `[82093AA §3.2.4]`.
pub const IOREDTBL: u32 = 0x10;

/// The indirect index of pin `pin`'s redirection entry, low half (bits 31:0).
pub const fn redtbl_low(pin: u32) -> u32 {
    IOREDTBL + 2 * pin
}

/// The indirect index of pin `pin`'s redirection entry, high half (bits 63:32).
pub const fn redtbl_high(pin: u32) -> u32 {
    IOREDTBL + 2 * pin + 1
}

/// IOAPICID fields `[82093AA §3.2.1]`.
pub mod id {
    /// The APIC ID sits in bits 27:24.
    pub const SHIFT: u32 = 24;
    /// Four bits wide.
    pub const MASK: u32 = 0xf;
}

/// IOAPICVER fields `[82093AA §3.2.2]`.
pub mod ver {
    /// Bits 7:0: the implementation's version. 0x11 is the 82093AA (and KVM's
    /// in-kernel IOAPIC); 0x20 is ICH-class chipsets and QEMU's own model
    /// (what TCG runs).
    pub const VERSION_MASK: u32 = 0xff;
    /// Bits 23:16: the index of the last redirection entry, i.e. pins − 1.
    pub const MAX_REDIRECTION_SHIFT: u32 = 16;
    /// Eight bits wide.
    pub const MAX_REDIRECTION_MASK: u32 = 0xff;
    /// The first version with the [`EOI`](super::EOI) register.
    pub const FIRST_WITH_EOI_REGISTER: u8 = 0x20;
    /// What VER reads where no device decodes the address.
    pub const FLOATING_BUS: u32 = 0xffff_ffff;
}

/// Redirection entry fields, as bit positions in the 64-bit entry
/// `[82093AA §3.2.4]`. The entry is accessed as two 32-bit halves:
/// [`HIGH_HALF_SHIFT`](rte::HIGH_HALF_SHIFT) splits it.
pub mod rte {
    /// Bits 7:0: the vector sent to the CPU (0x10–0xFE are legal).
    pub const VECTOR_MASK: u64 = 0xff;
    /// Bits 10:8: delivery mode ([`crate::regs::delivery_mode`]).
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// Bit 11: destination mode, 0 = physical (an APIC ID), 1 = logical.
    pub const DESTINATION_LOGICAL: u64 = 1 << 11;
    /// Bit 12 (read-only): delivery status, 1 = a message is waiting to be
    /// sent.
    pub const DELIVERY_PENDING: u64 = 1 << 12;
    /// Bit 13: input pin polarity, 0 = active high, 1 = active low.
    pub const ACTIVE_LOW: u64 = 1 << 13;
    /// Bit 14 (read-only): Remote IRR. For a level-triggered pin: set when a
    /// local APIC accepted the interrupt, cleared by the EOI. While set the
    /// pin sends nothing more.
    pub const REMOTE_IRR: u64 = 1 << 14;
    /// Bit 15: trigger mode, 0 = edge, 1 = level.
    pub const LEVEL: u64 = 1 << 15;
    /// Bit 16: interrupt mask, 1 = the pin sends nothing. Reset value: set.
    pub const MASKED: u64 = 1 << 16;
    /// Bits 63:56: destination, an APIC ID (physical) or a set of CPUs
    /// (logical). The 82093AA decodes only bits 59:56 as a physical ID;
    /// later IOAPICs (and QEMU) use all eight.
    pub const DESTINATION_SHIFT: u32 = 56;
    /// Eight bits wide.
    pub const DESTINATION_MASK: u64 = 0xff;
    /// Bits 63:32 are IOREDTBL's odd (high) register.
    pub const HIGH_HALF_SHIFT: u32 = 32;
    /// Bits that only the IOAPIC writes; writes to them are ignored.
    pub const READ_ONLY: u64 = DELIVERY_PENDING | REMOTE_IRR;
}
