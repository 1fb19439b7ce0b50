//! The local APIC register map, named once (DESIGN.md, rule 3).
//!
//! Source: Intel SDM volume 3A, chapter 11, cited as `[SDM 3A §x]`: §11.4.1
//! table 11-1 for the xAPIC register addresses, §11.5 for the local vector
//! table (LVT) and timer, §11.6.1 for the ICR, §11.8.5 for EOI, §11.9 for
//! the spurious-interrupt vector register, §11.12 for the x2APIC.
//!
//! # Two ways to reach the same registers
//!
//! In **xAPIC** mode the registers are memory-mapped in a 4 KiB page (at
//! physical 0xFEE0_0000 unless relocated), each 32-bit register on a 16-byte
//! boundary. In **x2APIC** mode the page is gone and each register is an MSR:
//! register at xAPIC offset `o` is MSR `0x800 + (o >> 4)` [SDM 3A §11.12.1.2,
//! table 11-6]. The bit layouts are the same with three exceptions that
//! matter here: the ID is 32 bits wide instead of bits 31:24, the ICR is one
//! 64-bit MSR with a 32-bit destination in bits 63:32, and the ICR's
//! delivery-status bit no longer exists.

/// Registers end at 0x3F0; the window must cover at least this much (the
/// kernel maps the whole 4 KiB page).
pub const WINDOW_SIZE: usize = 0x400;

/// Local APIC ID `[SDM 3A §11.4.6]`.
pub const ID: usize = 0x20;
/// Local APIC version `[SDM 3A §11.4.8]`.
pub const VERSION: usize = 0x30;
/// Task priority: interrupts with priority class (vector >> 4) at or below
/// TPR bits 7:4 are held back `[SDM 3A §11.8.3.1]`.
pub const TPR: usize = 0x80;
/// TPR value that holds back no priority class.
pub const TPR_ACCEPT_ALL: u32 = 0;
/// End of interrupt (write-only) `[SDM 3A §11.8.5]`.
pub const EOI: usize = 0xb0;
/// The value written to [`EOI`]: 0. Other values are reserved in xAPIC mode
/// and fault (#GP) in x2APIC mode `[SDM 3A §11.8.5, §11.12.1.2]`.
pub const EOI_VALUE: u32 = 0;
/// Spurious-interrupt vector register `[SDM 3A §11.9]`.
pub const SVR: usize = 0xf0;
/// Error status `[SDM 3A §11.5.3]`: write (any value; 0 in x2APIC mode) to
/// latch the errors seen since the last write, then read them.
pub const ESR: usize = 0x280;
/// The value written to [`ESR`] to latch it: 0 (anything else faults in
/// x2APIC mode `[SDM 3A §11.12.1.2]`).
pub const ESR_LATCH: u32 = 0;
/// Interrupt command register, low half: writing it sends the IPI
/// `[SDM 3A §11.6.1]`.
pub const ICR_LOW: usize = 0x300;
/// Interrupt command register, high half: the destination `[SDM 3A §11.6.1]`.
pub const ICR_HIGH: usize = 0x310;
/// LVT timer entry `[SDM 3A §11.5.1]`.
pub const LVT_TIMER: usize = 0x320;
/// LVT LINT0 entry: the LINT0 pin (the 8259A's output on PCs) `[SDM 3A §11.5.1]`.
pub const LVT_LINT0: usize = 0x350;
/// LVT LINT1 entry: the LINT1 pin (NMI on PCs) `[SDM 3A §11.5.1]`.
pub const LVT_LINT1: usize = 0x360;
/// LVT error entry: the interrupt raised when ESR records an error
/// `[SDM 3A §11.5.1]`.
pub const LVT_ERROR: usize = 0x370;
/// Timer initial count: writing it (re)starts the timer; 0 stops it
/// `[SDM 3A §11.5.4]`.
pub const TIMER_INITIAL_COUNT: usize = 0x380;
/// The initial count that stops the timer.
pub const TIMER_STOP_COUNT: u32 = 0;
/// Timer current count (read-only) `[SDM 3A §11.5.4]`.
pub const TIMER_CURRENT_COUNT: usize = 0x390;
/// Timer divide configuration `[SDM 3A §11.5.4]`.
pub const TIMER_DIVIDE: usize = 0x3e0;

/// ID register `[SDM 3A §11.4.6]`: in xAPIC mode the ID is bits 31:24 (a
/// kernel that forgets the shift gives every CPU ID 0 — Asterinas PR #3757).
pub mod id {
    /// Bits 31:24 (xAPIC).
    pub const XAPIC_SHIFT: u32 = 24;
    /// Eight bits wide (xAPIC); the x2APIC ID is the whole 32-bit register.
    pub const XAPIC_MASK: u32 = 0xff;
}

/// Version register `[SDM 3A §11.4.8]`.
pub mod version {
    /// Bits 7:0: 0x1X for an integrated local APIC (0x0X: discrete 82489DX).
    pub const VERSION_MASK: u32 = 0xff;
    /// Bits 23:16: the number of LVT entries minus one.
    pub const MAX_LVT_SHIFT: u32 = 16;
    /// Eight bits wide.
    pub const MAX_LVT_MASK: u32 = 0xff;
    /// Bit 24: SVR bit 12 (suppress EOI broadcast) can be set.
    pub const EOI_BROADCAST_SUPPRESSION: u32 = 1 << 24;
}

/// Spurious-interrupt vector register `[SDM 3A §11.9]`.
pub mod svr {
    /// Bits 7:0: the vector delivered for a spurious interrupt.
    pub const VECTOR_MASK: u32 = 0xff;
    /// Bit 8: APIC software enable. Clear at reset: the APIC then delivers
    /// nothing but NMI, INIT, SMI and SIPI.
    pub const APIC_ENABLE: u32 = 1 << 8;
    /// Bit 12: suppress EOI broadcast to the IOAPICs (directed EOI).
    pub const SUPPRESS_EOI_BROADCAST: u32 = 1 << 12;
}

/// Interrupt command register, low half, and x2APIC ICR `[SDM 3A §11.6.1]`.
pub mod icr {
    /// Bits 7:0: vector (for Start-up: the start page number).
    pub const VECTOR_MASK: u32 = 0xff;
    /// Bits 10:8: delivery mode ([`crate::regs::delivery_mode`]).
    pub const DELIVERY_MODE_SHIFT: u32 = 8;
    /// Bit 11: destination mode, 0 = physical.
    pub const DESTINATION_LOGICAL: u32 = 1 << 11;
    /// Bit 12 (read-only, xAPIC only): delivery status, 1 = send pending.
    pub const SEND_PENDING: u32 = 1 << 12;
    /// Bit 14: level, 1 = assert. Must be 1 for every mode but the obsolete
    /// INIT level de-assert.
    pub const LEVEL_ASSERT: u32 = 1 << 14;
    /// Bit 15: trigger mode, 0 = edge.
    pub const TRIGGER_LEVEL: u32 = 1 << 15;
    /// ICR high bits 31:24 (xAPIC): the destination APIC ID.
    pub const XAPIC_DESTINATION_SHIFT: u32 = 24;
    /// The largest APIC ID an xAPIC destination field holds.
    pub const XAPIC_DESTINATION_MAX: u32 = 0xff;
    /// x2APIC ICR bits 63:32: the destination APIC ID.
    pub const X2APIC_DESTINATION_SHIFT: u32 = 32;
}

/// LVT entry fields (timer, LINT0/1, error) `[SDM 3A §11.5.1]`.
pub mod lvt {
    /// Bits 7:0: vector.
    pub const VECTOR_MASK: u32 = 0xff;
    /// Bit 16: masked. Reset value: set on every LVT entry.
    pub const MASKED: u32 = 1 << 16;
    /// Timer bits 18:17 = 00: one-shot.
    pub const TIMER_ONESHOT: u32 = 0b00 << 17;
    /// Timer bits 18:17 = 01: periodic (reload from the initial count).
    pub const TIMER_PERIODIC: u32 = 0b01 << 17;
}

/// Timer divide configuration values: bits 3, 1 and 0 select the divisor
/// applied to the bus/core crystal clock `[SDM 3A §11.5.4]`.
pub mod divide {
    /// Divide by 1.
    pub const BY_1: u32 = 0b1011;
    /// Divide by 2.
    pub const BY_2: u32 = 0b0000;
    /// Divide by 4.
    pub const BY_4: u32 = 0b0001;
    /// Divide by 8.
    pub const BY_8: u32 = 0b0010;
    /// Divide by 16.
    pub const BY_16: u32 = 0b0011;
    /// Divide by 32.
    pub const BY_32: u32 = 0b1000;
    /// Divide by 64.
    pub const BY_64: u32 = 0b1001;
    /// Divide by 128.
    pub const BY_128: u32 = 0b1010;
}

/// x2APIC MSRs `[SDM 3A §11.12]`.
pub mod x2apic {
    /// The MSR of xAPIC offset 0: registers map to `0x800 + (offset >> 4)`
    /// `[SDM 3A §11.12.1.2, table 11-6]`.
    pub const MSR_BASE: u32 = 0x800;
    /// xAPIC registers are 16 bytes apart; x2APIC MSRs are consecutive.
    pub const OFFSET_SHIFT: u32 = 4;
    /// The whole 64-bit ICR (0x800 + (0x300 >> 4)); MSR 0x831 does not exist
    /// in x2APIC mode `[SDM 3A §11.12.9]`.
    pub const ICR: u32 = 0x830;

    /// The MSR standing for the register at xAPIC `offset`.
    pub const fn msr(offset: usize) -> u32 {
        MSR_BASE + (offset >> OFFSET_SHIFT) as u32
    }

    /// IA32_APIC_BASE: the APIC's physical base and mode bits
    /// `[SDM 3A §11.4.4, §11.12.1]`.
    pub const IA32_APIC_BASE: u32 = 0x1b;
    /// IA32_APIC_BASE bit 11: APIC global enable.
    pub const APIC_BASE_ENABLE: u64 = 1 << 11;
    /// IA32_APIC_BASE bit 10: x2APIC mode (only together with bit 11).
    pub const APIC_BASE_X2APIC: u64 = 1 << 10;
}
