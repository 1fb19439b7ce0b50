//! Completing requests: the doorbell, the used ring, the status byte, and the
//! interrupt half.

use hal::dma::{DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use super::{BlkError, VirtioBlk, SLOT_SIZE, STATUS_AT};
use crate::regs::blk;
use crate::transport::IsrStatus;
use crate::Error;

impl<W: RegisterWindow, A: DmaAllocator> VirtioBlk<W, A> {
    /// Publishes every request submitted since the last kick and rings the
    /// doorbell if the device wants it: many requests, one register write
    /// (or none).
    pub fn kick(&mut self) {
        if self.queue.publish() && self.transport.notify(blk::REQUESTQ).is_ok() {
            self.stats.notifies += 1;
        }
    }

    /// Reaps completed requests: calls `complete(tag, result)` for each —
    /// `Ok` for status OK, [`BlkError::Device`] with any other status byte —
    /// and frees its tag. Returns the number completed.
    pub fn poll(&mut self, mut complete: impl FnMut(u16, Result<(), BlkError>)) -> usize {
        let mut done = 0;
        // Bounded even against a device that keeps producing bad entries:
        // a legitimate poll finds at most one entry per request in flight.
        for _ in 0..2 * usize::from(self.queue.size()) {
            let (id, result) = match self.queue.pop_used() {
                Ok(None) => break,
                Ok(Some(used)) => (used.id, Ok(())),
                Err(e @ Error::BadUsedLen { id, .. }) => (id, Err(BlkError::Transport(e))),
                Err(_) => {
                    self.stats.device_errors += 1;
                    continue;
                }
            };
            let tag = self.head_tag[usize::from(id)];
            let result = result.and_then(|()| self.status_of(tag));
            if result.is_err() {
                self.stats.errors += 1;
            }
            self.free_tags.push(tag);
            complete(tag, result);
            done += 1;
        }
        done
    }

    /// The status byte the device wrote for `tag`.
    fn status_of(&self, tag: u16) -> Result<(), BlkError> {
        let status = self.slots.read_u8(usize::from(tag) * SLOT_SIZE + STATUS_AT).map_err(Error::from)?;
        match status {
            blk::S_OK => Ok(()),
            s => Err(BlkError::Device(s)),
        }
    }

    /// Asks for completion interrupts again; `true` if completions are
    /// already waiting (poll again: [`crate::queue::notify`]).
    pub fn enable_interrupts(&mut self) -> bool {
        self.queue.enable_interrupts()
    }

    /// Asks the device not to interrupt on completions (polling).
    pub fn disable_interrupts(&mut self) {
        self.queue.disable_interrupts();
    }

    /// The INTx handler: reads the ISR (acknowledges, de-asserts the line);
    /// zero is someone else's interrupt.
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
}
