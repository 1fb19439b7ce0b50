//! Notification suppression, both directions [virtio 1.2 §2.7.7, §2.7.10].
//!
//! Two kinds of notification cross between driver and device, and each side
//! can tell the other it does not want them:
//!
//! - **driver → device** ("available buffer notification", the doorbell): a
//!   register write that costs a VM exit. A device that is already busy
//!   processing the queue (QEMU's vhost or iothread polling it) does not need
//!   to be told.
//! - **device → driver** ("used buffer notification", the interrupt). A
//!   driver that is already polling (NAPI) does not want one per packet.
//!
//! **Without VIRTIO_F_EVENT_IDX** each side has one flag bit: the device sets
//! `used.flags = NO_NOTIFY` while it does not need doorbells, the driver sets
//! `avail.flags = NO_INTERRUPT` while it does not want interrupts. These are
//! only hints: either side may still notify.
//!
//! **With VIRTIO_F_EVENT_IDX** the flags stay 0 (the spec says MUST, §2.7.7,
//! §2.7.10; QEMU ignores `avail.flags` entirely once it is negotiated) and
//! each side instead publishes an *index* at the end of the other's ring:
//!
//! - `avail_event` (end of the used ring): "notify me when `avail.idx`
//!   moves past this value";
//! - `used_event` (end of the available ring): "interrupt me when `used.idx`
//!   moves past this value".
//!
//! The test for "moved past" with wrapping 16-bit indices is
//! [`vring_need_event`]: after moving the index from `old` to `new`, notify
//! iff `event` lies in `[old, new)`. So a batch of 32 published buffers costs
//! one doorbell — or none, if the device said it will look by itself — and
//! the device interrupts once for a burst, when it crosses the index the
//! driver asked for.
//!
//! # The race when re-enabling interrupts
//!
//! A NAPI poll runs with interrupts off, drains the used ring, and turns
//! interrupts back on. If the device adds an entry *between* the last empty
//! check and the re-enable, no interrupt will ever come for it: the device
//! checked the (still disabled) flag when it wrote the entry. So
//! [`SplitQueue::enable_interrupts`] re-enables, issues a full barrier (the
//! store must be visible before the load that follows), and then looks at
//! `used.idx` again: `true` means "work arrived meanwhile, poll again" —
//! exactly Linux's `virtqueue_enable_cb` returning false.

use hal::barrier;
use hal::dma::DmaRegion;

use super::SplitQueue;
use crate::regs::ring;

/// virtio's event-index test (§2.7.10, `vring_need_event`): having moved an
/// index from `old` to `new`, has it passed `event`, i.e. is `event` in
/// `[old, new)` modulo 2^16? All arithmetic wraps.
pub const fn vring_need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

impl<R: DmaRegion> SplitQueue<R> {
    /// Makes every chain added since the last publish visible to the device
    /// (stores `avail.idx`) and returns whether the device wants a
    /// notification for them — then the caller writes the doorbell
    /// ([`Transport::notify`](crate::transport::Transport::notify)).
    /// Returns `false` if nothing was added.
    pub fn publish(&mut self) -> bool {
        let old = self.published_idx;
        let new = self.avail_idx;
        if old == new {
            return false;
        }
        // Descriptors and ring entries first, then the index that hands
        // them over (§2.7.13.3.1).
        barrier::dma_wmb();
        let stored = self.region.write_u16(self.layout.avail + ring::RING_IDX, new).is_ok();
        self.published_idx = new;
        self.stats.published += 1;
        // The index store must be visible before we read the device's
        // suppression state: otherwise we could read "don't notify" from a
        // device that then goes idle without having seen our index. A
        // store→load order, which only a full barrier gives.
        barrier::mb();
        let needed = !stored
            || if self.event_idx {
                let event = self.region.read_u16(self.layout.avail_event()).unwrap_or(old);
                vring_need_event(event, new, old)
            } else {
                let flags = self.region.read_u16(self.layout.used + ring::RING_FLAGS).unwrap_or(0);
                flags & ring::USED_F_NO_NOTIFY == 0
            };
        if needed {
            self.stats.notifications_needed += 1;
        } else {
            self.stats.notifications_suppressed += 1;
        }
        needed
    }

    /// Asks the device not to interrupt for this queue (a hint: it still
    /// may). Without event-idx: `avail.flags = NO_INTERRUPT`. With event-idx
    /// the flags must stay 0, so instead `used_event` is moved to the index
    /// just *behind* the driver's, which the device cannot pass again before
    /// 2^16 more entries — i.e. never while the driver is away.
    pub fn disable_interrupts(&mut self) {
        self.interrupts = false;
        let _ = if self.event_idx {
            self.region.write_u16(self.layout.used_event(), self.last_used.wrapping_sub(1))
        } else {
            self.region.write_u16(self.layout.avail + ring::RING_FLAGS, ring::AVAIL_F_NO_INTERRUPT)
        };
    }

    /// Asks for an interrupt on the next used entry (without event-idx:
    /// clears NO_INTERRUPT; with it: `used_event = ` the next index the
    /// driver will consume), then checks whether entries are *already*
    /// pending. `true` means the caller must poll again instead of waiting
    /// for an interrupt that may never come (module docs: the race).
    pub fn enable_interrupts(&mut self) -> bool {
        self.interrupts = true;
        let _ = if self.event_idx {
            self.region.write_u16(self.layout.used_event(), self.last_used)
        } else {
            self.region.write_u16(self.layout.avail + ring::RING_FLAGS, 0)
        };
        barrier::mb();
        self.has_used()
    }

    /// Keeps `used_event` at the next index to consume while interrupts are
    /// on (called after consuming an entry), so the device interrupts for
    /// the next one and not only once (Linux's `virtqueue_get_buf`).
    pub(super) fn track_used_event(&mut self) {
        if self.event_idx && self.interrupts {
            let _ = self.region.write_u16(self.layout.used_event(), self.last_used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::vring_need_event;

    #[test]
    fn need_event_is_true_when_the_event_lies_in_the_moved_range() {
        assert!(vring_need_event(0, 1, 0), "moved 0 → 1 past event 0");
        assert!(!vring_need_event(1, 1, 0), "event 1 not reached yet");
        assert!(vring_need_event(5, 10, 0));
        assert!(!vring_need_event(10, 10, 0));
        assert!(!vring_need_event(3, 10, 5), "event already behind old");
        // Across the 16-bit wrap.
        assert!(vring_need_event(65535, 2, 65534));
        assert!(vring_need_event(0, 2, 65534));
        assert!(!vring_need_event(2, 2, 65534));
        // Nothing moved: never.
        assert!(!vring_need_event(7, 7, 7));
    }
}
