//! Receive: the RX descriptor ring and its buffer pool, DD/EOP hand-back,
//! batched RDT doorbells, and the address filters (promiscuous, multicast).

use alloc::vec::Vec;

use hal::barrier;
use hal::dma::{DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use crate::regs::{self, rxd};
use crate::{Error, E1000};

/// Recycled receive descriptors handed back per RDT write (Linux's
/// `E1000_RX_BUFFER_WRITE`), at most a quarter of the ring so small rings
/// never run dry.
pub const RX_RETURN_BATCH: usize = 16;

const fn rx_return_batch(ring: usize) -> usize {
    let quarter = ring / 4;
    let batch = if quarter < RX_RETURN_BATCH { quarter } else { RX_RETURN_BATCH };
    if batch == 0 {
        1
    } else {
        batch
    }
}

/// The receive ring: descriptors, the buffer pool, and the driver's position.
pub(crate) struct RxRing<R> {
    pub(crate) descs: R,
    pub(crate) bufs: Vec<R>,
    /// The next descriptor the driver expects the device to complete.
    pub(crate) next: u16,
    /// Descriptors recycled but not yet handed back with an RDT write.
    pub(crate) unreturned: usize,
    /// Inside a frame that spans descriptors: drop up to its EOP.
    pub(crate) discarding: bool,
    /// Where a frame is copied out of its DMA buffer before `deliver`.
    pub(crate) scratch: Vec<u8>,
}

impl<W: RegisterWindow, A: DmaAllocator> E1000<W, A> {
    /// Processes up to `budget` completed receive descriptors in ring order:
    /// good frames are copied out and passed to `deliver`, bad ones dropped
    /// and counted; every buffer goes straight back to its descriptor. Then
    /// one RDT write returns them all to the device (none if nothing was
    /// done). Returns the number of descriptors processed: less than
    /// `budget` means the ring is drained.
    pub fn poll_rx(&mut self, budget: usize, mut deliver: impl FnMut(&[u8])) -> usize {
        self.stats.polls += 1;
        let n = usize::from(self.config.rx_ring);
        let mut done = 0;
        while done < budget {
            let i = usize::from(self.rx.next);
            let at = i * rxd::SIZE;
            // Status and errors in one access, so they belong together.
            let Ok(word) = self.rx.descs.read_u32(at + rxd::STATUS) else { break };
            let (status, errors) = (word as u8, (word >> 8) as u8);
            if status & rxd::STA_DD == 0 {
                break;
            }
            // The length and the data were written before DD: read them
            // only after it.
            barrier::dma_rmb();
            let len = self.rx.descs.read_u16(at + rxd::LENGTH).map_or(0, usize::from);
            self.take_frame(i, status, errors, len, &mut deliver);
            self.recycle_rx(i);
            self.rx.next = ((i + 1) % n) as u16;
            done += 1;
        }
        self.rx.unreturned += done;
        // Hand descriptors back in batches of RX_RETURN_BATCH (Linux's
        // E1000_RX_BUFFER_WRITE): the device still owns all but a few, and
        // the doorbell costs one register write per batch, not per poll.
        if done > 0 && self.rx.unreturned >= rx_return_batch(n) {
            self.rx.unreturned = 0;
            // Every descriptor up to the one before `next` is free again;
            // that one stays back so that head == tail never means "full".
            let tail = (usize::from(self.rx.next) + n - 1) % n;
            // The recycled descriptors must be in memory before the device
            // learns it may use them.
            barrier::wmb();
            self.write(regs::RDT, tail as u32);
            self.stats.rx_doorbells += 1;
        }
        done
    }

    /// Handles the frame in descriptor `i` (DD seen): deliver or drop.
    pub(crate) fn take_frame(&mut self, i: usize, status: u8, errors: u8, len: usize, deliver: &mut impl FnMut(&[u8])) {
        if status & rxd::STA_EOP == 0 {
            // A frame longer than one buffer: drop it and everything up to
            // its EOP. Counted once, at its first descriptor.
            if !self.rx.discarding {
                self.rx.discarding = true;
                self.stats.rx_too_long += 1;
                self.stats.rx_dropped += 1;
            }
            return;
        }
        if self.rx.discarding {
            // The last piece of a frame that was too long.
            self.rx.discarding = false;
            return;
        }
        if errors & rxd::ERR_FRAME != 0 || len == 0 || len > self.rx.scratch.len() {
            // Flagged bad by the device, or a length no buffer can hold.
            self.stats.rx_errors += 1;
            self.stats.rx_dropped += 1;
            return;
        }
        let frame = &mut self.rx.scratch[..len];
        if self.rx.bufs[i].read(0, frame).is_err() {
            self.stats.rx_dropped += 1;
            return;
        }
        deliver(frame);
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += len as u64;
    }

    /// Gives descriptor `i` its pool buffer back with a clear status.
    pub(crate) fn recycle_rx(&self, i: usize) {
        // Cannot fail: the ring region was checked in `new`.
        let _ = self.recycle_rx_checked(i);
    }

    pub(crate) fn recycle_rx_checked(&self, i: usize) -> Result<(), Error> {
        let at = i * rxd::SIZE;
        // The address too, in case the device wrote over it.
        self.rx.descs.write_u64(at + rxd::ADDR, self.rx.bufs[i].bus_addr().as_u64())?;
        self.rx.descs.write_u64(at + rxd::LENGTH, 0)?;
        Ok(())
    }

    /// Received frames waiting in the ring (descriptors with DD and EOP).
    pub(crate) fn rx_unpolled(&self) -> usize {
        (0..self.rx.bufs.len())
            .filter(|i| {
                let status = self.rx.descs.read_u8(i * rxd::SIZE + rxd::STATUS).unwrap_or(0);
                status & (rxd::STA_DD | rxd::STA_EOP) == rxd::STA_DD | rxd::STA_EOP
            })
            .count()
    }

    /// Accepts every frame (UPE and MPE) or only ours, broadcasts and
    /// subscribed multicasts. Writes RCTL only if that changes it: QEMU
    /// holds back received frames for a second of virtual time after every
    /// RCTL write.
    pub fn set_promiscuous(&mut self, on: bool) {
        self.config.promiscuous = on;
        let value = self.rctl_value();
        if value != self.rctl {
            self.rctl = value;
            self.write(regs::RCTL, value);
        }
    }

    /// Accepts frames sent to multicast group `mac`: sets its bit in the
    /// multicast table [E1000 13.5.1]. The table is a hash, so groups that
    /// share the bit are accepted too (the stack filters exactly); there is
    /// no removal, as other groups may need the bit.
    pub fn add_multicast(&mut self, mac: [u8; 6]) -> Result<(), Error> {
        if mac[0] & 1 == 0 {
            return Err(Error::NotMulticast(mac));
        }
        let (word, bit) = regs::mta_position(mac);
        self.mta[word] |= 1 << bit;
        self.write(regs::mta(word), self.mta[word]);
        Ok(())
    }
}
