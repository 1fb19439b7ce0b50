//! MSI messages: interrupts as memory writes.
//!
//! A PCI device with **message signalled interrupts** has no interrupt wire
//! to assert. The kernel writes an *address* and a *data* word into the
//! device's MSI capability (or into an MSI-X table entry); to interrupt, the
//! device performs an ordinary memory write of that data to that address.
//! The chipset recognises addresses in `0xFEE0_0000..0xFF00_0000` and, instead
//! of writing memory, turns the write into an interrupt message for the local
//! APIC(s) the address names. The IOAPIC is not involved.
//!
//! What that buys: no shared lines (each device, even each queue, gets its
//! own vector), no level-triggered EOI dance, and correct ordering for free —
//! the MSI write travels the same path as the device's DMA writes and cannot
//! overtake them, so the data is in memory when the handler runs (with INTx,
//! the wire can beat the DMA).
//!
//! The x86 format `[SDM 3A §11.11]`:
//!
//! ```text
//! address  31..20 = 0xFEE | 19..12 destination APIC ID | 3 redirection hint | 2 destination mode
//! data     15 trigger (0 edge) | 14 level (1 assert) | 10..8 delivery mode | 7..0 vector
//! ```
//!
//! So vector 0x41 for APIC 1, edge-triggered, fixed delivery is address
//! `0xFEE0_1000`, data `0x0041`. PCI devices only send edge-triggered
//! asserts; the level bits exist for other message sources.
//!
//! **Multi-message MSI.** A device granted 2ⁿ messages (n ≤ 5) sends message
//! *k* by replacing the low n bits of the data — the low bits of the vector —
//! with *k*. The kernel must therefore give it a block of 2ⁿ consecutive
//! vectors starting at a multiple of 2ⁿ
//! ([`VectorAllocator::alloc_block`](crate::VectorAllocator::alloc_block)),
//! and program the block's first vector here. MSI-X has a separate
//! address/data pair per message and no such constraint.
//!
//! [`MsiMessage::decode`] is the inverse of [`Msi::encode`], for tests and
//! for `lspci -v`.

pub mod regs;

use crate::{check_vector, DeliveryMode, DestinationMode, Error, Trigger};

/// The meaning of an MSI message: what to deliver, where, how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Msi {
    /// The IDT vector (32 or above for fixed and lowest-priority delivery).
    pub vector: u8,
    /// The destination APIC ID (physical) or CPU set (logical).
    pub destination: u8,
    /// Physical or logical destination (address bit 2).
    pub destination_mode: DestinationMode,
    /// Redirection hint (address bit 3): let the chipset pick the
    /// lowest-priority CPU among the destinations.
    pub redirection_hint: bool,
    /// How the message is delivered.
    pub delivery_mode: DeliveryMode,
    /// Edge or level (data bit 15).
    pub trigger: Trigger,
    /// Level assert (data bit 14); ignored by the APIC for edge messages.
    pub assert: bool,
}

impl Msi {
    /// A fixed-delivery message for `vector` to the CPU with APIC ID
    /// `destination`, physical mode, no redirection hint.
    ///
    /// For edge-triggered messages pass `assert = false`: the bit is unused,
    /// and 0 is what Linux writes (giving data = vector).
    pub const fn new(vector: u8, destination: u8, trigger: Trigger, assert: bool) -> Self {
        Msi {
            vector,
            destination,
            destination_mode: DestinationMode::Physical,
            redirection_hint: false,
            delivery_mode: DeliveryMode::Fixed,
            trigger,
            assert,
        }
    }

    /// The address and data to program into the device. Fails for an
    /// exception vector (below 32) when the delivery mode uses the vector.
    pub fn encode(&self) -> Result<MsiMessage, Error> {
        if self.delivery_mode.uses_vector() {
            check_vector(self.vector)?;
        }
        let mut address = regs::ADDRESS_BASE | u64::from(self.destination) << regs::ADDRESS_DESTINATION_SHIFT;
        if self.redirection_hint {
            address |= regs::ADDRESS_REDIRECTION_HINT;
        }
        if self.destination_mode == DestinationMode::Logical {
            address |= regs::ADDRESS_DESTINATION_LOGICAL;
        }
        let mut data = u32::from(self.vector) | u32::from(self.delivery_mode.bits()) << regs::DATA_DELIVERY_MODE_SHIFT;
        if self.trigger == Trigger::Level {
            data |= regs::DATA_TRIGGER_LEVEL;
        }
        if self.assert {
            data |= regs::DATA_LEVEL_ASSERT;
        }
        Ok(MsiMessage { address, data })
    }
}

/// An MSI address/data pair as the device holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsiMessage {
    /// The address the device writes to (64-bit capable devices take all of
    /// it; in the x86 format bits 63:32 are zero).
    pub address: u64,
    /// The data the device writes (MSI devices write its low 16 bits).
    pub data: u32,
}

impl MsiMessage {
    /// The message for a fixed-delivery interrupt: [`Msi::new`] then
    /// [`Msi::encode`].
    pub fn compose(vector: u8, destination: u8, trigger: Trigger, assert: bool) -> Result<Self, Error> {
        Msi::new(vector, destination, trigger, assert).encode()
    }

    /// The address's low 32 bits (the "Message Address" register).
    pub const fn address_low(&self) -> u32 {
        self.address as u32
    }

    /// The address's high 32 bits (the "Message Upper Address" register).
    pub const fn address_high(&self) -> u32 {
        (self.address >> u32::BITS) as u32
    }

    /// What the message means. Fails if the address is not a
    /// compatibility-format interrupt address or the delivery mode is
    /// reserved. Reserved and don't-care bits are ignored; the vector is not
    /// checked, so an unprogrammed device (data 0) still decodes.
    pub fn decode(&self) -> Result<Msi, Error> {
        let address = self.address;
        if address & regs::ADDRESS_BASE_MASK != regs::ADDRESS_BASE || address & regs::ADDRESS_REMAPPABLE != 0 {
            return Err(Error::NotMsiAddress(address));
        }
        let data = self.data;
        Ok(Msi {
            vector: (data & regs::DATA_VECTOR_MASK) as u8,
            destination: ((address >> regs::ADDRESS_DESTINATION_SHIFT) & regs::ADDRESS_DESTINATION_MASK) as u8,
            destination_mode: if address & regs::ADDRESS_DESTINATION_LOGICAL != 0 {
                DestinationMode::Logical
            } else {
                DestinationMode::Physical
            },
            redirection_hint: address & regs::ADDRESS_REDIRECTION_HINT != 0,
            delivery_mode: DeliveryMode::from_bits((data >> regs::DATA_DELIVERY_MODE_SHIFT) as u8)?,
            trigger: if data & regs::DATA_TRIGGER_LEVEL != 0 { Trigger::Level } else { Trigger::Edge },
            assert: data & regs::DATA_LEVEL_ASSERT != 0,
        })
    }
}
