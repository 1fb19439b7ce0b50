//! Transmit: copy the frame behind a zeroed header into a free slot, publish
//! in batches, reclaim completed slots lazily.

use core::fmt;

use hal::dma::{DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use super::{VirtioNet, BUFFER_SIZE, MAX_FRAME, MIN_FRAME};
use crate::queue::Buffer;
use crate::regs::net;
use crate::{bus_at, Error};

/// Why [`VirtioNet::transmit`] refused a frame. Nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetTxError {
    /// Every slot is in flight even after reclaiming: call
    /// [`VirtioNet::flush_tx`] if not done, and retry later.
    RingFull,
    /// Longer than [`MAX_FRAME`].
    TooLong,
    /// Shorter than [`MIN_FRAME`] (an Ethernet header).
    TooShort,
}

impl fmt::Display for NetTxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetTxError::RingFull => write!(f, "virtio-net: transmit queue full"),
            NetTxError::TooLong => write!(f, "virtio-net: frame longer than {MAX_FRAME} bytes"),
            NetTxError::TooShort => write!(f, "virtio-net: frame shorter than {MIN_FRAME} bytes"),
        }
    }
}

impl core::error::Error for NetTxError {}

/// The header in front of every transmitted frame: all zero — no checksum
/// to fill in, no segmentation, `num_buffers` 0 (§5.1.6.2).
const TX_HEADER: [u8; net::HDR_LEN] = [0; net::HDR_LEN];

impl<W: RegisterWindow, A: DmaAllocator> VirtioNet<W, A> {
    /// Queues `frame` (an Ethernet frame without FCS): copies header and
    /// frame into a free slot's buffer and adds it to the transmit queue.
    /// The device does not see it until [`flush_tx`](Self::flush_tx). If no
    /// slot is free, reclaims completed ones first.
    pub fn transmit(&mut self, frame: &[u8]) -> Result<(), NetTxError> {
        if frame.len() > MAX_FRAME {
            return Err(NetTxError::TooLong);
        }
        if frame.len() < MIN_FRAME {
            return Err(NetTxError::TooShort);
        }
        if self.tx_free.is_empty() {
            self.clean_tx();
        }
        let Some(slot) = self.tx_free.pop() else {
            self.stats.tx_ring_full += 1;
            return Err(NetTxError::RingFull);
        };
        match self.queue_frame(slot, frame) {
            Ok(()) => Ok(()),
            Err(_) => {
                // Cannot happen (a free slot has a free descriptor); keep
                // the slot and report the ring as full.
                self.tx_free.push(slot);
                self.stats.tx_ring_full += 1;
                Err(NetTxError::RingFull)
            }
        }
    }

    fn queue_frame(&mut self, slot: u16, frame: &[u8]) -> Result<(), Error> {
        let at = usize::from(slot) * BUFFER_SIZE;
        self.tx_bufs.write(at, &TX_HEADER)?;
        self.tx_bufs.write(at + net::HDR_LEN, frame)?;
        let len = net::HDR_LEN + frame.len();
        let buffer = Buffer { addr: bus_at(self.tx_bufs.bus_addr(), at), len: len as u32, writable: false };
        let head = self.tx.add(&[buffer])?;
        self.tx_slot[usize::from(head)] = slot;
        self.tx_len[usize::from(slot)] = frame.len() as u16;
        Ok(())
    }

    /// Publishes every frame queued since the last flush, and rings the
    /// doorbell only if the device asked for it.
    pub fn flush_tx(&mut self) {
        if self.tx_stall_injected {
            return;
        }
        if self.tx.publish() && self.transport.notify(net::TRANSMITQ).is_ok() {
            self.stats.tx_notifies += 1;
        }
    }

    /// Reclaims the slots of frames the device has sent; returns how many.
    pub fn clean_tx(&mut self) -> usize {
        let mut reclaimed = 0;
        // Bounded even against a device that keeps producing bad entries.
        for _ in 0..2 * usize::from(self.tx.size()) {
            let id = match self.tx.pop_used() {
                Ok(None) => break,
                Ok(Some(used)) => used.id,
                Err(Error::BadUsedLen { id, .. }) => {
                    // A transmit buffer is read-only: any length is wrong,
                    // but the slot did come back.
                    self.stats.device_errors += 1;
                    id
                }
                Err(_) => {
                    self.stats.device_errors += 1;
                    continue;
                }
            };
            let slot = self.tx_slot[usize::from(id)];
            self.tx_free.push(slot);
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += u64::from(self.tx_len[usize::from(slot)]);
            reclaimed += 1;
        }
        reclaimed
    }

    /// Frames queued or in flight, not yet reclaimed.
    pub fn tx_pending(&self) -> usize {
        usize::from(self.tx.size()) - self.tx_free.len()
    }
}
