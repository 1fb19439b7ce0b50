//! The ISR status byte: INTx acknowledgement [virtio 1.2 §4.1.4.5].
//!
//! Without MSI-X, a virtio PCI device interrupts on its INTx pin, a
//! *level-triggered* line that may be shared with other devices. The device
//! raises it by setting a bit in the ISR byte — bit 0 for "a queue has used
//! buffers", bit 1 for "my configuration changed" — and keeps it asserted
//! as long as a bit is set. **Reading the ISR byte returns the bits, clears
//! them and de-asserts the line**; it is the only acknowledgement there is.
//!
//! So the INTx handler must read it, every time, exactly once:
//!
//! - a handler that forgets leaves the line asserted, and a level-triggered
//!   line that stays asserted re-interrupts the moment the handler returns —
//!   an interrupt storm (Hermit #1680/#2231 and xv6 PR #10 shipped this bug);
//! - a zero ISR means the interrupt was not this device's (the other
//!   device on a shared line): the handler says "not mine".
//!
//! With MSI-X the ISR byte is not used: each vector already says which
//! cause it is, and MSI messages are edge-like, with nothing to de-assert.

use hal::RegisterWindow;

use super::Transport;
use crate::regs::isr;

/// What one ISR read said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IsrStatus {
    /// A queue has new used buffers (bit 0).
    pub queue: bool,
    /// The device configuration changed (bit 1).
    pub config: bool,
}

impl IsrStatus {
    /// Decodes the ISR byte.
    pub const fn from_bits(bits: u8) -> Self {
        IsrStatus { queue: bits & isr::QUEUE != 0, config: bits & isr::CONFIG != 0 }
    }

    /// Whether this device raised the interrupt (otherwise: a shared line's
    /// other device, or a spurious interrupt).
    pub const fn is_mine(&self) -> bool {
        self.queue || self.config
    }
}

impl<W: RegisterWindow> Transport<W> {
    /// Reads (and thereby clears) the ISR byte, de-asserting the INTx line.
    /// An unreadable register counts as "nothing pending".
    pub fn read_isr(&self) -> IsrStatus {
        let bits = self.bar.read_u8(self.layout.isr.offset).unwrap_or(0);
        IsrStatus::from_bits(bits)
    }
}
