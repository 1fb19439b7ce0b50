//! The split virtqueue [virtio 1.2 §2.7]: how driver and device pass
//! buffers through shared memory.
//!
//! Every virtio device moves data the same way, whatever it is: through
//! *virtqueues* in guest memory. A split virtqueue has three parts, each
//! written by only one side:
//!
//! - the **descriptor table** (driver writes): `size` slots of
//!   `{addr, len, flags, next}`, each describing one buffer. `NEXT` links a
//!   descriptor to the next one of a *chain* — one request, e.g. a disk
//!   request's header, data and status byte. `WRITE` marks a buffer the
//!   device writes (receive buffers, read data, status bytes); the rest it
//!   only reads. In a chain the device-readable buffers come first (§2.7.4.2).
//! - the **available ring** (driver writes, device reads): the heads of the
//!   chains the driver offers, and `idx`, the count of entries ever added.
//! - the **used ring** (device writes, driver reads): `{id, len}` per chain
//!   the device is finished with — the head's id and how many bytes it wrote
//!   — and its own `idx`.
//!
//! # Who owns what
//!
//! A descriptor belongs to the driver while it is on the driver's *free
//! list*; from [`SplitQueue::add`] until its chain's head comes back through
//! the used ring it belongs to the device, and the driver must not touch it
//! or its buffers. Both `idx` counters are free-running 16-bit numbers that
//! wrap at 65536, not at `size`; an entry's slot is `idx % size` (which is
//! why the size is a power of two). `avail.idx - used.idx` is the number of
//! chains in flight.
//!
//! The driver never reads its own bookkeeping back from the shared memory:
//! the free list, each chain's length and its writable capacity are kept in
//! host-side shadows ([`SplitQueue`]'s `next` and `heads`). A buggy or hostile
//! device can write anything into the rings; what it writes is *validated*
//! against the shadows ([`SplitQueue::pop_used`]) and never followed.
//!
//! # Publishing, barriers, notifications
//!
//! Making a chain available is two steps. [`add`](SplitQueue::add) writes the
//! descriptors and the available-ring slot; [`publish`](SplitQueue::publish)
//! later stores the new `avail.idx`, making everything added since visible to
//! the device at once. A write barrier comes first so the device never sees
//! the index before the entries it covers (§2.7.13). Publishing is cheap (a
//! memory store); *notifying* the device — a register write, a VM exit under
//! QEMU — is not, so `publish` also tells the caller whether a notification
//! is needed at all ([`notify`] module: notification
//! suppression and event-idx). Batching many `add`s under one `publish` is the
//! virtio version of the e1000's one-doorbell-per-batch.
//!
//! Coming back, [`pop_used`](SplitQueue::pop_used) compares `used.idx` with
//! the last index it consumed, and only after a read barrier reads the entry
//! it covers — the device wrote the entry before the index.

mod chain;
mod layout;
pub mod notify;
mod used;

use alloc::vec;
use alloc::vec::Vec;

use hal::dma::{BusAddr, DmaAllocator, DmaRegion};

use crate::regs::ring;
use crate::Error;
use layout::RingLayout;
pub use notify::vring_need_event;

/// One buffer of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Its bus address.
    pub addr: BusAddr,
    /// Its length in bytes (not 0).
    pub len: u32,
    /// The device writes it (`VIRTQ_DESC_F_WRITE`); otherwise it only reads it.
    pub writable: bool,
}

/// A chain the device has finished with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// The chain's head descriptor id, as [`SplitQueue::add`] returned it.
    pub id: u16,
    /// Bytes the device wrote into the chain's writable buffers.
    pub len: u32,
}

/// A queue's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Chains added.
    pub added: u64,
    /// [`SplitQueue::publish`] calls that published something.
    pub published: u64,
    /// Publishes after which the device wanted a notification.
    pub notifications_needed: u64,
    /// Publishes after which it did not (NO_NOTIFY or event-idx said so).
    pub notifications_suppressed: u64,
    /// Used entries consumed.
    pub used_popped: u64,
    /// Used entries rejected as invalid ([`Error::BadUsed`], [`Error::BadUsedLen`]).
    pub bad_used: u64,
}

/// What the driver remembers about a chain in flight, by head id.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    /// Descriptors of the ring the chain occupies (1 for an indirect chain).
    descs: u16,
    /// Bytes the device may write (sum of writable buffers).
    writable: u64,
}

/// A split virtqueue in one coherent DMA region.
#[derive(Debug)]
pub struct SplitQueue<R> {
    region: R,
    index: u16,
    size: u16,
    event_idx: bool,
    layout: RingLayout,
    /// Host-side `next` links: the free list, and the links of chains in
    /// flight (the descriptor table holds a copy for the device).
    next: Vec<u16>,
    /// `Some` for each descriptor id that heads a chain in flight.
    heads: Vec<Option<InFlight>>,
    /// First free descriptor (valid when `num_free > 0`).
    free_head: u16,
    num_free: u16,
    /// Chains added and not yet returned.
    chains: u16,
    /// The next available-ring index `add` fills (the driver's shadow of
    /// `avail.idx`, ahead of it until `publish`).
    avail_idx: u16,
    /// The `avail.idx` value last stored.
    published_idx: u16,
    /// The used-ring index up to which entries were consumed.
    last_used: u16,
    /// Whether used-buffer notifications are wanted (see `notify`).
    interrupts: bool,
    stats: QueueStats,
}

impl<R: DmaRegion> SplitQueue<R> {
    /// Allocates queue `index` with `size` entries (a power of two in
    /// `1..=32768`) from `dma`. `event_idx`: VIRTIO_F_EVENT_IDX was
    /// negotiated. The rings start empty; hand the queue to
    /// [`Transport::setup_queue`](crate::transport::Transport::setup_queue).
    pub fn new<A: DmaAllocator<Region = R>>(dma: &A, index: u16, size: u16, event_idx: bool) -> Result<Self, Error> {
        if !size.is_power_of_two() || size > ring::MAX_QUEUE_SIZE {
            return Err(Error::BadQueueSize { index, size, max: ring::MAX_QUEUE_SIZE });
        }
        let layout = RingLayout::new(size);
        // Any bus address: the queue address registers are 64 bits wide.
        let region = dma.alloc_coherent(layout.total, u64::MAX)?;
        let addr = region.bus_addr();
        if region.len() < layout.total || addr.as_u64() % ring::DESC_ALIGN as u64 != 0 {
            return Err(Error::BadDmaRegion { addr, len: layout.total });
        }
        // Coherent memory comes zeroed: flags 0 and idx 0 in both rings.
        let n = usize::from(size);
        Ok(SplitQueue {
            region,
            index,
            size,
            event_idx,
            layout,
            next: (1..=size).map(|i| i % size).collect(),
            heads: vec![None; n],
            free_head: 0,
            num_free: size,
            chains: 0,
            avail_idx: 0,
            published_idx: 0,
            last_used: 0,
            interrupts: true,
            stats: QueueStats::default(),
        })
    }

    /// The queue's index on its device.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Entries in each ring (and descriptors in the table).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Whether the queue uses event-idx suppression.
    pub fn event_idx(&self) -> bool {
        self.event_idx
    }

    /// Free descriptors.
    pub fn free_count(&self) -> u16 {
        self.num_free
    }

    /// Chains added and not yet returned by the device (published or not).
    pub fn in_flight(&self) -> u16 {
        self.chains
    }

    /// Bus address of the descriptor table (`queue_desc`).
    pub fn desc_addr(&self) -> BusAddr {
        self.region.bus_addr()
    }

    /// Bus address of the available ring (`queue_driver`).
    pub fn avail_addr(&self) -> BusAddr {
        BusAddr(self.region.bus_addr().as_u64() + self.layout.avail as u64)
    }

    /// Bus address of the used ring (`queue_device`).
    pub fn used_addr(&self) -> BusAddr {
        BusAddr(self.region.bus_addr().as_u64() + self.layout.used as u64)
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }
}

impl<R: DmaRegion> SplitQueue<R> {
    /// Chains added but not yet published.
    pub fn unpublished(&self) -> u16 {
        self.avail_idx.wrapping_sub(self.published_idx)
    }

    /// Forgets every chain and empties both rings, keeping the memory (and
    /// the counters and the interrupt on/off choice): for re-using the queue
    /// after the **device was reset** — never while it may still use it.
    /// Then hand it to [`Transport::setup_queue`](crate::transport::Transport::setup_queue) again.
    pub fn clear(&mut self) -> Result<(), Error> {
        // Rings back to zero: flags, indices, entries, event words.
        let zeros = [0u8; 64];
        let mut at = self.layout.avail;
        while at < self.layout.total {
            let n = zeros.len().min(self.layout.total - at);
            self.region.write(at, &zeros[..n])?;
            at += n;
        }
        let size = self.size;
        for (i, link) in self.next.iter_mut().enumerate() {
            *link = (i as u16 + 1) % size;
        }
        self.heads.iter_mut().for_each(|h| *h = None);
        self.free_head = 0;
        self.num_free = size;
        self.chains = 0;
        self.avail_idx = 0;
        self.published_idx = 0;
        self.last_used = 0;
        if !self.interrupts {
            self.disable_interrupts();
        }
        Ok(())
    }
}
