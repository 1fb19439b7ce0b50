//! Adding chains: the free list, direct chains and indirect tables.
//!
//! **Free list.** Free descriptors are linked through their `next` fields
//! (kept host-side), starting at `free_head`. [`SplitQueue::add`] takes as
//! many as the chain has buffers from the front, and because they are already
//! linked, the free-list links *are* the chain's links. When the chain comes
//! back, the whole chain is pushed onto the front again (see `used`), so the
//! descriptors just returned are the first reused — they are warm in cache.
//!
//! **Indirect descriptors** [virtio 1.2 §2.7.5.3]. With
//! VIRTIO_F_INDIRECT_DESC, a chain can live in a separate *table* of
//! descriptors in driver memory, and occupy a single ring descriptor flagged
//! `INDIRECT` that points at the table. A disk request of header + 64
//! segments + status then uses 1 ring slot instead of 66, so a 128-entry
//! queue keeps 128 requests in flight instead of one. Inside the table,
//! `next` counts from the table's start; the ring descriptor itself carries
//! neither `NEXT` nor `WRITE` (§2.7.5.3.1).

use hal::barrier;
use hal::dma::DmaRegion;

use super::{Buffer, InFlight, SplitQueue};
use crate::regs::ring;
use crate::Error;

/// Checks a chain's shape and returns its writable capacity in bytes.
fn check_chain(chain: &[Buffer], queue_size: u16) -> Result<u64, Error> {
    if chain.is_empty() {
        return Err(Error::BadChain("empty chain"));
    }
    // §2.7.5.2/§2.7.5.3.1: no chain longer than the queue size, indirect or not.
    if chain.len() > usize::from(queue_size) {
        return Err(Error::BadChain("longer than the queue size"));
    }
    let mut seen_writable = false;
    let mut writable = 0u64;
    for b in chain {
        if b.len == 0 {
            return Err(Error::BadChain("zero-length buffer"));
        }
        if b.writable {
            seen_writable = true;
            writable += u64::from(b.len);
        } else if seen_writable {
            // §2.7.4.2: the device reads its input before writing output.
            return Err(Error::BadChain("device-readable buffer after a device-writable one"));
        }
    }
    Ok(writable)
}

/// Writes one descriptor at `at` in `table`.
fn write_desc<T: DmaRegion + ?Sized>(
    table: &T,
    at: usize,
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
) -> Result<(), Error> {
    table.write_u64(at + ring::DESC_ADDR, addr)?;
    table.write_u32(at + ring::DESC_LEN, len)?;
    table.write_u16(at + ring::DESC_FLAGS, flags)?;
    table.write_u16(at + ring::DESC_NEXT, next)?;
    Ok(())
}

fn flags_of(b: &Buffer, last: bool) -> u16 {
    let mut flags = if b.writable { ring::DESC_F_WRITE } else { 0 };
    if !last {
        flags |= ring::DESC_F_NEXT;
    }
    flags
}

impl<R: DmaRegion> SplitQueue<R> {
    /// Writes `chain` into free descriptors and its head into the next
    /// available-ring slot, and returns the head id (which the used ring
    /// will name when the device is done). The device does not see it until
    /// [`publish`](Self::publish).
    ///
    /// [`Error::QueueFull`] if fewer than `chain.len()` descriptors are free;
    /// [`Error::BadChain`] if a readable buffer follows a writable one, a
    /// buffer is empty, or the chain is longer than the queue.
    pub fn add(&mut self, chain: &[Buffer]) -> Result<u16, Error> {
        let writable = check_chain(chain, self.size)?;
        let n = chain.len() as u16;
        if n > self.num_free {
            return Err(Error::QueueFull);
        }
        // Walk the free list, writing each descriptor; nothing is committed
        // to the shadows until every write succeeded.
        let head = self.free_head;
        let mut id = head;
        for (i, b) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            let next = if last { 0 } else { self.next[usize::from(id)] };
            write_desc(&self.region, self.layout.desc(id), b.addr.as_u64(), b.len, flags_of(b, last), next)?;
            if !last {
                id = next;
            }
        }
        let after = self.next[usize::from(id)];
        self.commit(head, InFlight { descs: n, writable })?;
        self.free_head = after;
        Ok(head)
    }

    /// Like [`add`](Self::add), but writes `chain` as an indirect descriptor
    /// table into `table` at `table_offset` (16-aligned, room for
    /// `16 * chain.len()` bytes, memory the caller keeps untouched until the
    /// chain is used) and uses a single ring descriptor pointing at it.
    /// Only with VIRTIO_F_INDIRECT_DESC negotiated.
    pub fn add_indirect<T: DmaRegion>(
        &mut self,
        table: &T,
        table_offset: usize,
        chain: &[Buffer],
    ) -> Result<u16, Error> {
        let writable = check_chain(chain, self.size)?;
        let table_len = chain.len() * ring::DESC_SIZE;
        if !table_offset.is_multiple_of(ring::DESC_ALIGN) {
            return Err(Error::BadChain("indirect table not 16-byte aligned"));
        }
        if table_offset.checked_add(table_len).is_none_or(|end| end > table.len()) {
            return Err(Error::BadChain("indirect table does not fit its region"));
        }
        if self.num_free == 0 {
            return Err(Error::QueueFull);
        }
        for (i, b) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            let next = if last { 0 } else { i as u16 + 1 };
            let at = table_offset + i * ring::DESC_SIZE;
            write_desc(table, at, b.addr.as_u64(), b.len, flags_of(b, last), next)?;
        }
        let table_addr = table.bus_addr().as_u64() + table_offset as u64;
        let head = self.free_head;
        write_desc(&self.region, self.layout.desc(head), table_addr, table_len as u32, ring::DESC_F_INDIRECT, 0)?;
        let after = self.next[usize::from(head)];
        self.commit(head, InFlight { descs: 1, writable })?;
        self.free_head = after;
        Ok(head)
    }

    /// Puts `head` into the next available-ring slot (not yet published) and
    /// records the chain as in flight.
    fn commit(&mut self, head: u16, chain: InFlight) -> Result<(), Error> {
        // The descriptors must be complete before the ring entry that names
        // them (the device may be reading the ring already, up to the last
        // published idx; this slot is beyond it, but keep the order anyway).
        barrier::dma_wmb();
        self.region.write_u16(self.layout.avail_entry(self.avail_idx), head)?;
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.num_free -= chain.descs;
        self.heads[usize::from(head)] = Some(chain);
        self.chains += 1;
        self.stats.added += 1;
        Ok(())
    }

    /// Returns the `descs` descriptors of the chain at `head` to the free list.
    pub(super) fn free_chain(&mut self, head: u16, descs: u16) {
        let mut tail = head;
        for _ in 1..descs {
            tail = self.next[usize::from(tail)];
        }
        self.next[usize::from(tail)] = if self.num_free == 0 { head } else { self.free_head };
        self.free_head = head;
        self.num_free += descs;
    }
}
