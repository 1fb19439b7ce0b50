//! The transmit watchdog and recovery by reset.
//!
//! "Stalled" means: frames were handed to the device, and for `timeout`
//! ticks none of them came back. Progress is any completion — reclaimed, or
//! waiting in the used ring to be reclaimed — so a slow but working device
//! is never reset. Recovery is a full device reset (the only way to take
//! memory back from a virtio device, §2.1) followed by the initialisation
//! sequence again, reusing every queue and buffer allocated in `new`.

use hal::dma::DmaAllocator;
use hal::RegisterWindow;

use super::{VirtioNet, WANTED};
use crate::regs::features;
use crate::Error;

/// When transmit progress was last seen.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TxWatch {
    armed: bool,
    reclaimed: u64,
    since: u64,
}

impl<W: RegisterWindow, A: DmaAllocator> VirtioNet<W, A> {
    /// Frames the device is responsible for: published and not returned
    /// (with an injected stall, also those `flush_tx` kept back).
    fn tx_handed_over(&self) -> u16 {
        let held = if self.tx_stall_injected { 0 } else { self.tx.unpublished() };
        self.tx.in_flight() - held
    }

    /// The transmit watchdog: whether frames handed to the device have made
    /// no progress for `timeout_ticks` (of whatever clock `now_ticks`
    /// counts). The timeout starts at the first call that sees frames
    /// pending without progress, so call it periodically (from a timer).
    pub fn tx_stalled(&self, now_ticks: u64, timeout_ticks: u64) -> bool {
        if self.tx_handed_over() == 0 || self.tx.has_used() {
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

    /// Resets the device and sets it up again with the memory already
    /// allocated: renegotiates (the same features), clears and re-programs
    /// both queues and vectors, refills the receive queue, DRIVER_OK.
    /// Frames in flight are dropped and counted (`tx_timeouts`; unpolled
    /// received frames in `rx_dropped`). The receive-interrupt choice
    /// (enabled or not) is kept.
    pub fn reset_and_recover(&mut self) -> Result<(), Error> {
        self.stats.tx_timeouts += u64::from(self.tx.in_flight());
        self.stats.rx_dropped += u64::from(self.rx.used_pending());
        self.stats.resets += 1;
        self.tx_stall_injected = false;
        self.watch.set(TxWatch::default());
        // negotiate starts with the reset: from then on the device has
        // forgotten our queues and the memory is ours again.
        let negotiated = self.transport.negotiate(WANTED, features::VERSION_1)?;
        if negotiated != self.features {
            self.transport.fail();
            return Err(Error::Unsupported("the device offers different features after a reset"));
        }
        self.rx.clear()?;
        self.tx.clear()?;
        self.tx_free = (0..self.tx.size()).rev().collect();
        if let Err(e) = self.start() {
            let _ = self.transport.reset();
            self.transport.fail();
            return Err(e);
        }
        Ok(())
    }

    /// Fault injection for the watchdog: from now on `flush_tx` tells the
    /// device nothing, so queued frames never complete, until
    /// [`reset_and_recover`](Self::reset_and_recover).
    pub fn inject_tx_stall(&mut self) {
        self.tx_stall_injected = true;
    }
}
