//! The hard-interrupt half: acknowledge (INTx) or count (MSI-X), and the
//! NAPI switch for receive interrupts.

use hal::dma::DmaAllocator;
use hal::RegisterWindow;

use super::VirtioNet;
use crate::transport::IsrStatus;

impl<W: RegisterWindow, A: DmaAllocator> VirtioNet<W, A> {
    /// The INTx handler's one register access: reads the ISR, which
    /// acknowledges the interrupt and de-asserts the line
    /// ([`crate::transport::isr`]). A zero ISR is someone else's interrupt
    /// (counted in `not_mine`). Never waits, allocates or touches a queue.
    pub fn handle_intx(&mut self) -> IsrStatus {
        self.irqs.ack_intx(&self.transport)
    }

    /// Counts an interrupt without touching the device (the MSI-X path).
    pub fn count_interrupt(&self) {
        self.irqs.count();
    }

    /// Counts an interrupt on the MSI-X configuration-change vector.
    pub fn count_config_interrupt(&self) {
        self.irqs.count_config();
    }

    /// Asks for receive interrupts again; `true` if frames are already
    /// waiting (poll again instead of sleeping: [`crate::queue::notify`]).
    pub fn enable_rx_interrupts(&mut self) -> bool {
        self.rx.enable_interrupts()
    }

    /// Asks the device not to interrupt for received frames (NAPI polling).
    pub fn disable_rx_interrupts(&mut self) {
        self.rx.disable_interrupts();
    }
}
