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

use core::cell::Cell;

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

/// The interrupt counters every virtio driver keeps, and the INTx
/// acknowledgement that goes with them (one place for both drivers).
#[derive(Debug, Default)]
pub struct IrqCounts {
    interrupts: Cell<u64>,
    not_mine: Cell<u64>,
    config_changes: Cell<u64>,
}

impl IrqCounts {
    /// The INTx handler's one register access: reads the ISR (acknowledges,
    /// de-asserts the line) and counts what it said; a zero ISR is someone
    /// else's interrupt (`not_mine`).
    pub fn ack_intx<W: RegisterWindow>(&self, transport: &Transport<W>) -> IsrStatus {
        let isr = transport.read_isr();
        if !isr.is_mine() {
            self.not_mine.set(self.not_mine.get() + 1);
            return isr;
        }
        self.count();
        if isr.config {
            self.config_changes.set(self.config_changes.get() + 1);
        }
        isr
    }

    /// Counts an interrupt without touching the device (the MSI-X path,
    /// where the vector says what happened and there is no ISR to read).
    pub fn count(&self) {
        self.interrupts.set(self.interrupts.get() + 1);
    }

    /// Counts an interrupt on the MSI-X configuration vector.
    pub fn count_config(&self) {
        self.count();
        self.config_changes.set(self.config_changes.get() + 1);
    }

    /// Interrupts taken (INTx ones that were this device's, and MSI-X ones).
    pub fn interrupts(&self) -> u64 {
        self.interrupts.get()
    }

    /// INTx interrupts with a zero ISR.
    pub fn not_mine(&self) -> u64 {
        self.not_mine.get()
    }

    /// INTx interrupts that reported a configuration change.
    pub fn config_changes(&self) -> u64 {
        self.config_changes.get()
    }
}
