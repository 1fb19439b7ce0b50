//! Encodings shared by all three interrupt-message formats.
//!
//! An IOAPIC redirection entry, a local APIC's interrupt command register and
//! an MSI data word all describe "an interrupt message" and all carry the
//! vector in bits 7:0 and a 3-bit delivery mode in bits 10:8, with the same
//! codes. The codes are named here once; the bit *positions* are named in each
//! module's own `regs` next to the register they belong to.

/// Delivery-mode codes: `[82093AA §3.2.4]` (IOREDTBL bits 10:8),
/// `[SDM 3A §11.6.1]` (ICR bits 10:8) and `[SDM 3A §11.11.2]` (MSI data bits
/// 10:8). `0b011` is reserved everywhere; `0b110` is Start-up in the ICR and
/// reserved in the other two.
pub mod delivery_mode {
    /// The field is three bits wide.
    pub const MASK: u8 = 0b111;
    /// Fixed: deliver the vector.
    pub const FIXED: u8 = 0b000;
    /// Lowest priority: deliver the vector to the least busy destination CPU.
    pub const LOWEST_PRIORITY: u8 = 0b001;
    /// System management interrupt.
    pub const SMI: u8 = 0b010;
    /// Non-maskable interrupt.
    pub const NMI: u8 = 0b100;
    /// INIT: reset the target CPU to its wait-for-SIPI state.
    pub const INIT: u8 = 0b101;
    /// Start-up IPI (ICR only): start the CPU at `vector << 12` in real mode.
    pub const STARTUP: u8 = 0b110;
    /// External interrupt: the CPU fetches the vector from an 8259A (IOAPIC
    /// and MSI only).
    pub const EXTINT: u8 = 0b111;
}
