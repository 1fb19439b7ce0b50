//! Transmit: the TX descriptor ring with bounce buffers, batched TDT
//! doorbells, completion cleaning, and the transmit watchdog.

use alloc::vec::Vec;

use hal::barrier;
use hal::dma::{DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use crate::regs::{self, txd};
use crate::{TxError, E1000};

/// The shortest frame [`E1000::transmit`] accepts: an Ethernet header. The
/// device pads short frames to the 64-byte minimum itself (TCTL.PSP).
pub const MIN_TX_FRAME: usize = 14;
/// The longest frame [`E1000::transmit`] accepts: header and 1500 bytes of
/// payload; the device appends the 4-byte FCS (IFCS).
pub const MAX_TX_FRAME: usize = 1514;

/// The transmit ring: descriptors, bounce buffers, and three positions.
pub(crate) struct TxRing<R> {
    pub(crate) descs: R,
    pub(crate) bufs: Vec<R>,
    /// The next descriptor [`E1000::transmit`] fills (the software tail).
    pub(crate) tail: u16,
    /// The tail the device was last told (TDT).
    pub(crate) hw_tail: u16,
    /// The oldest descriptor not yet reclaimed.
    pub(crate) clean: u16,
}

/// The watchdog's memory of when transmit progress was last seen.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TxWatch {
    pub(crate) armed: bool,
    pub(crate) reclaimed: u64,
    pub(crate) since: u64,
}

impl<W: RegisterWindow, A: DmaAllocator> E1000<W, A> {
    /// Queues `frame` for transmission: copies it into the next slot's
    /// bounce buffer and fills the descriptor (EOP | IFCS | RS). The device
    /// is not told until [`flush_tx`](Self::flush_tx).
    pub fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() < MIN_TX_FRAME {
            return Err(TxError::TooShort);
        }
        if frame.len() > MAX_TX_FRAME {
            return Err(TxError::TooLong);
        }
        if self.tx_free_slots() == 0 {
            self.stats.tx_ring_full += 1;
            return Err(TxError::RingFull);
        }
        let i = usize::from(self.tx.tail);
        let buf = &self.tx.bufs[i];
        // The only possible failure is a frame that does not fit the buffer.
        buf.write(0, frame).map_err(|_| TxError::TooLong)?;
        let cmd = txd::CMD_EOP | txd::CMD_IFCS | txd::CMD_RS;
        let lower = frame.len() as u64 | u64::from(cmd) << txd::CMD_SHIFT;
        let at = i * txd::SIZE;
        let filled = self
            .tx
            .descs
            .write_u64(at + txd::ADDR, buf.bus_addr().as_u64())
            .and_then(|()| self.tx.descs.write_u64(at + txd::LOWER, lower));
        if filled.is_err() {
            // Cannot happen: the ring region was checked in `new`.
            return Err(TxError::RingFull);
        }
        self.tx.tail = ((i + 1) % usize::from(self.config.tx_ring)) as u16;
        Ok(())
    }

    /// Rings the transmit doorbell: one TDT write for every frame queued
    /// since the last flush (none if nothing was queued).
    pub fn flush_tx(&mut self) {
        if self.tx.tail == self.tx.hw_tail {
            return;
        }
        // Descriptors and frames in memory before the device sees the tail.
        barrier::wmb();
        self.write(regs::TDT, self.tx.tail.into());
        self.tx.hw_tail = self.tx.tail;
        self.stats.tx_doorbells += 1;
    }

    /// How many more frames [`transmit`](Self::transmit) accepts now.
    pub fn tx_free_slots(&self) -> usize {
        let n = usize::from(self.config.tx_ring);
        n - 1 - self.tx_in_use()
    }

    /// Reclaims transmitted descriptors (DD set) in ring order, counting
    /// their frames and bytes; returns how many.
    pub fn clean_tx(&mut self) -> usize {
        let n = usize::from(self.config.tx_ring);
        let mut reclaimed = 0;
        while self.tx.clean != self.tx.hw_tail {
            let i = usize::from(self.tx.clean);
            if !self.tx_done(i) {
                break;
            }
            barrier::dma_rmb();
            let at = i * txd::SIZE;
            let len = self.tx.descs.read_u16(at + txd::LENGTH).unwrap_or(0);
            // Clear length, command and status: a stale DD must never be
            // taken for a new one.
            let _ = self.tx.descs.write_u64(at + txd::LOWER, 0);
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += u64::from(len);
            self.tx.clean = ((i + 1) % n) as u16;
            reclaimed += 1;
        }
        reclaimed
    }

    /// The transmit watchdog: whether frames handed to the device have made
    /// no progress for `timeout_ticks` (in whatever clock `now_ticks` counts).
    ///
    /// Progress is a reclaimed descriptor or a done one waiting to be
    /// reclaimed. The timeout starts at the first call that sees frames
    /// pending without progress, so call it periodically (from a timer).
    pub fn tx_stalled(&self, now_ticks: u64, timeout_ticks: u64) -> bool {
        let pending = self.tx.clean != self.tx.hw_tail;
        if !pending || self.tx_done(self.tx.clean.into()) {
            self.watch.set(TxWatch::default());
            return false;
        }
        let watch = self.watch.get();
        if !watch.armed || watch.reclaimed != self.stats.tx_packets {
            self.watch.set(TxWatch { armed: true, reclaimed: self.stats.tx_packets, since: now_ticks });
            return false;
        }
        now_ticks.wrapping_sub(watch.since) >= timeout_ticks
    }

    /// Transmit descriptors queued and not yet reclaimed.
    pub(crate) fn tx_in_use(&self) -> usize {
        let n = usize::from(self.config.tx_ring);
        (usize::from(self.tx.tail) + n - usize::from(self.tx.clean)) % n
    }

    /// Whether the device has written transmit descriptor `i` back.
    pub(crate) fn tx_done(&self, i: usize) -> bool {
        let status = self.tx.descs.read_u8(i * txd::SIZE + txd::STATUS).unwrap_or(0);
        status & txd::STA_DD != 0
    }
}
