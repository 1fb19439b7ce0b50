//! Receive: take frames from the used ring, copy them out, recycle the
//! buffers, publish them back in one batch.

use hal::dma::{DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use super::{VirtioNet, BUFFER_SIZE};
use crate::queue::Buffer;
use crate::regs::net;
use crate::{bus_at, Error};

impl<W: RegisterWindow, A: DmaAllocator> VirtioNet<W, A> {
    /// Offers receive buffer `slot` to the device (not yet published).
    pub(super) fn give_rx_buffer(&mut self, slot: u16) -> Result<(), Error> {
        let buffer = Buffer {
            addr: bus_at(self.rx_bufs.bus_addr(), usize::from(slot) * BUFFER_SIZE),
            len: BUFFER_SIZE as u32,
            writable: true,
        };
        let head = self.rx.add(&[buffer])?;
        self.rx_slot[usize::from(head)] = slot;
        Ok(())
    }

    /// Processes up to `max` used receive buffers: each well-formed frame
    /// (without its virtio header) is passed to `deliver`; malformed ones —
    /// a used length shorter than the header or longer than the buffer —
    /// are counted in `rx_dropped`. Every buffer goes straight back to the
    /// device; they are published together, with at most one doorbell.
    /// Returns the number of used entries processed (less than `max`: the
    /// queue is drained).
    pub fn poll_rx(&mut self, max: usize, mut deliver: impl FnMut(&[u8])) -> usize {
        let mut done = 0;
        let mut recycled = 0;
        while done < max {
            let slot = match self.rx.pop_used() {
                Ok(None) => break,
                Ok(Some(used)) => {
                    let slot = self.rx_slot[usize::from(used.id)];
                    self.deliver(slot, used.len as usize, &mut deliver);
                    slot
                }
                Err(Error::BadUsedLen { id, .. }) => {
                    // Returned, but claims more bytes than the buffer has.
                    self.stats.rx_dropped += 1;
                    self.rx_slot[usize::from(id)]
                }
                Err(_) => {
                    // An id that was never in flight: nothing to recycle.
                    self.stats.device_errors += 1;
                    done += 1;
                    continue;
                }
            };
            done += 1;
            // Cannot fail: popping freed the descriptor this re-uses.
            if self.give_rx_buffer(slot).is_ok() {
                recycled += 1;
            }
        }
        if recycled > 0 && self.rx.publish() && self.transport.notify(net::RECEIVEQ).is_ok() {
            self.stats.rx_notifies += 1;
        }
        done
    }

    /// Copies the frame in `slot` (used length `len`) out and delivers it.
    fn deliver(&mut self, slot: u16, len: usize, deliver: &mut impl FnMut(&[u8])) {
        if len < net::HDR_LEN {
            self.stats.rx_dropped += 1;
            return;
        }
        let frame = &mut self.scratch[..len - net::HDR_LEN];
        let at = usize::from(slot) * BUFFER_SIZE + net::HDR_LEN;
        if self.rx_bufs.read(at, frame).is_err() {
            self.stats.rx_dropped += 1;
            return;
        }
        deliver(frame);
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += frame.len() as u64;
    }
}
