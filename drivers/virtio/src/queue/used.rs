//! Taking chains back: reading and validating the used ring.
//!
//! The used ring is written by the device, so everything in it is checked
//! before it is believed (DESIGN.md, rule 4). An entry's `id` must be below
//! the queue size *and* name the head of a chain in flight; otherwise the
//! entry is consumed and reported as [`Error::BadUsed`], and nothing the
//! driver owns changes — no descriptor is freed twice, no chain is lost. Its
//! `len` must not exceed the chain's writable bytes; otherwise the chain is
//! reclaimed (it *was* returned) but reported as [`Error::BadUsedLen`], so the
//! caller recycles the buffers without trusting their contents.

use hal::barrier;
use hal::dma::DmaRegion;

use super::{SplitQueue, Used};
use crate::regs::ring;
use crate::Error;

impl<R: DmaRegion> SplitQueue<R> {
    /// The device's `used.idx` (0 if unreadable, which cannot happen for a
    /// region `new` checked).
    fn device_used_idx(&self) -> u16 {
        self.region.read_u16(self.layout.used + ring::RING_IDX).unwrap_or(self.last_used)
    }

    /// Used entries waiting to be popped (never more than the chains in
    /// flight, whatever the device wrote).
    pub fn used_pending(&self) -> u16 {
        self.device_used_idx().wrapping_sub(self.last_used).min(self.chains)
    }

    /// Whether the device has returned chains not yet popped.
    pub fn has_used(&self) -> bool {
        self.device_used_idx() != self.last_used
    }

    /// Takes the next used entry, if any, and returns its chain's
    /// descriptors to the free list. Errors consume the entry (see the
    /// module docs), so the next call moves on.
    pub fn pop_used(&mut self) -> Result<Option<Used>, Error> {
        if self.device_used_idx() == self.last_used {
            return Ok(None);
        }
        // The device wrote the entry before the index: read it only now.
        barrier::dma_rmb();
        let at = self.layout.used_entry(self.last_used);
        let id = self.region.read_u32(at)?;
        let len = self.region.read_u32(at + ring::USED_ELEM_LEN)?;
        self.last_used = self.last_used.wrapping_add(1);
        self.track_used_event();

        let chain = match self.heads.get_mut(id as usize) {
            Some(slot) => slot.take(),
            None => None,
        };
        let Some(chain) = chain else {
            self.stats.bad_used += 1;
            return Err(Error::BadUsed { id });
        };
        let id = id as u16;
        self.free_chain(id, chain.descs);
        self.chains -= 1;
        self.stats.used_popped += 1;
        if u64::from(len) > chain.writable {
            self.stats.bad_used += 1;
            return Err(Error::BadUsedLen { id, len, capacity: chain.writable });
        }
        Ok(Some(Used { id, len }))
    }
}
