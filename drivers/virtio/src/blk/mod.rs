//! virtio-blk [virtio 1.2 §5.2]: a disk behind one request queue.
//!
//! Every request is one descriptor chain of three parts (§5.2.6):
//!
//! ```text
//! header   16 bytes, device-readable:  le32 type, le32 reserved, le64 sector
//! data     0..n segments:             device-readable (write) or -writable (read)
//! status   1 byte, device-writable:    0 OK, 1 IOERR, 2 UNSUPP
//! ```
//!
//! The device reads the header, moves the data, writes the status byte last,
//! and returns the chain through the used ring. Sectors are always 512 bytes
//! in the protocol, whatever the disk's `blk_size` says.
//!
//! # Request slots ("tags")
//!
//! The header and status byte must live in DMA memory until the request
//! completes, so the driver preallocates them: one coherent region with a
//! 32-byte slot per request that can be in flight. A request's slot number
//! is its *tag*, which [`VirtioBlk::submit`] returns and
//! [`VirtioBlk::poll`] hands back with the result — the block layer matches
//! completions to requests by it, as it would an NVMe command id. The status
//! byte is poisoned (0xff) before each request, so a device that completes a
//! request without writing it is caught.
//!
//! # Indirect descriptors
//!
//! Without VIRTIO_F_INDIRECT_DESC a request with *k* segments occupies
//! *k + 2* ring descriptors: a 128-entry queue holds one 64-segment request.
//! With it, each slot also gets a preallocated table of
//! `MAX_SEGMENTS + 2` descriptors and every request takes exactly **one**
//! ring descriptor ([`crate::queue`]'s `add_indirect`), so as many requests
//! as the queue has entries can be in flight. [`VirtioBlk::max_in_flight`]
//! says which: the queue size with indirect, half of it without.
//!
//! # Checks before the device sees anything
//!
//! [`VirtioBlk::submit`] refuses, with a [`BlkError`] and without touching
//! the queue: writes to a read-only disk, flushes the device cannot do,
//! more segments than the device (`seg_max`) or the queue allows, read/write
//! segments that are not multiples of 512 bytes, and ranges past the
//! capacity. The device would reject most of these too, but with an IOERR
//! that says nothing about why.

mod completion;
mod error;
mod request;

use alloc::vec;
use alloc::vec::Vec;

use hal::dma::DmaAllocator;
use hal::RegisterWindow;

use crate::net::{abandon, queue_size};
use crate::queue::{QueueStats, SplitQueue};
use crate::regs::{blk, features, ring};
use crate::transport::{IrqCounts, Transport};
pub use crate::vectors::Vectors;
use crate::{alloc_dma, Error};
pub use error::BlkError;
pub use request::{BlkOp, BlkRequest, Segment};

/// The most data segments in one request this driver supports (further
/// limited by the device's `seg_max` and the queue size).
pub const MAX_SEGMENTS: usize = 64;

/// Bytes per request slot: header (16) + status (1), rounded for alignment.
const SLOT_SIZE: usize = 32;
/// Offset of the status byte in a slot.
const STATUS_AT: usize = blk::REQ_HDR_LEN;
/// Bytes per indirect table: header + segments + status descriptors.
const TABLE_SIZE: usize = (MAX_SEGMENTS + 2) * ring::DESC_SIZE;

/// Features this driver understands.
const WANTED: u64 = features::VERSION_1
    | features::ACCESS_PLATFORM
    | features::EVENT_IDX
    | features::INDIRECT_DESC
    | blk::F_FLUSH
    | blk::F_SEG_MAX
    | blk::F_SIZE_MAX
    | blk::F_BLK_SIZE
    | blk::F_RO;

/// Driver configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlkConfig {
    /// Most queue entries (rounded down to a power of two, at least 4); the
    /// device's maximum wins if smaller.
    pub queue_size: u16,
}

impl Default for BlkConfig {
    fn default() -> Self {
        BlkConfig { queue_size: 128 }
    }
}

/// The driver's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlkStats {
    /// Requests submitted.
    pub requests: u64,
    /// Reads submitted.
    pub reads: u64,
    /// Writes submitted.
    pub writes: u64,
    /// Flushes submitted.
    pub flushes: u64,
    /// Requests completed with an error.
    pub errors: u64,
    /// Interrupts that were ours.
    pub interrupts: u64,
    /// INTx handler calls that found the ISR zero.
    pub not_mine: u64,
    /// Configuration-change interrupts.
    pub config_changes: u64,
    /// Doorbells written.
    pub notifies: u64,
    /// Publishes that needed no doorbell.
    pub notifies_suppressed: u64,
    /// Used entries the device got wrong (bad id: no request to complete).
    pub device_errors: u64,
    /// Register reads through the window, all of them.
    pub register_reads: u64,
    /// Register writes through the window, all of them.
    pub register_writes: u64,
}

/// A virtio-blk device with its request queue.
pub struct VirtioBlk<W: RegisterWindow, A: DmaAllocator> {
    transport: Transport<W>,
    dma: A,
    features: u64,
    capacity: u64,
    /// `size_max`, if the device set one.
    size_max: Option<u32>,
    max_segments: usize,
    queue: SplitQueue<A::Region>,
    /// Header + status per tag.
    slots: A::Region,
    /// An indirect table per tag (with INDIRECT_DESC).
    tables: Option<A::Region>,
    /// Queue head id → tag.
    head_tag: Vec<u16>,
    /// Tags not in flight.
    free_tags: Vec<u16>,
    max_in_flight: usize,
    stats: BlkStats,
    irqs: IrqCounts,
}

impl<W: RegisterWindow, A: DmaAllocator> VirtioBlk<W, A> {
    /// Initialises the device (§3.1.1, §5.2.5): negotiates features, reads
    /// the configuration, allocates the queue, request slots and (with
    /// INDIRECT_DESC) indirect tables, sets the queue up with `vectors`,
    /// and sets DRIVER_OK.
    pub fn new(transport: Transport<W>, dma: A, config: BlkConfig, vectors: &Vectors) -> Result<Self, Error> {
        let features = transport.negotiate(WANTED, features::VERSION_1)?;
        let give_up = |e| {
            transport.fail();
            e
        };
        let has = |bit: u64| features & bit != 0;
        let size = queue_size(&transport, blk::REQUESTQ, config.queue_size).map_err(give_up)?;
        if size < 4 {
            return Err(give_up(Error::Unsupported("virtio-blk queue smaller than 4 entries")));
        }
        let capacity = transport.read_config_u64(blk::CFG_CAPACITY).map_err(give_up)?;
        let seg_max = if has(blk::F_SEG_MAX) {
            transport.read_config_u32(blk::CFG_SEG_MAX).map_err(give_up)?.max(1) as usize
        } else {
            MAX_SEGMENTS
        };
        let size_max = if has(blk::F_SIZE_MAX) {
            Some(transport.read_config_u32(blk::CFG_SIZE_MAX).map_err(give_up)?).filter(|&s| s != 0)
        } else {
            None
        };
        let indirect = has(features::INDIRECT_DESC);
        // No chain may be longer than the queue (§2.7.5.2), indirect or not.
        let max_segments = MAX_SEGMENTS.min(seg_max).min(usize::from(size) - 2);
        // Every request needs at least 2 ring descriptors without indirect.
        let max_in_flight = if indirect { usize::from(size) } else { usize::from(size) / 2 };

        let allocate = || -> Result<_, Error> {
            let queue = SplitQueue::new(&dma, blk::REQUESTQ, size, has(features::EVENT_IDX))?;
            let slots = alloc_dma(&dma, max_in_flight * SLOT_SIZE, 16)?;
            let tables = if indirect {
                Some(alloc_dma(&dma, max_in_flight * TABLE_SIZE, ring::DESC_ALIGN as u64)?)
            } else {
                None
            };
            Ok((queue, slots, tables))
        };
        let (queue, slots, tables) = allocate().map_err(give_up)?;

        let program = || -> Result<(), Error> {
            transport.set_config_vector(vectors.config)?;
            transport.setup_queue(&queue, vectors.queue(blk::REQUESTQ))
        };
        program().map_err(|e| abandon(&transport, e))?;
        transport.driver_ok();

        Ok(VirtioBlk {
            transport,
            dma,
            features,
            capacity,
            size_max,
            max_segments,
            queue,
            slots,
            tables,
            head_tag: vec![0; usize::from(size)],
            free_tags: (0..max_in_flight as u16).rev().collect(),
            max_in_flight,
            stats: BlkStats::default(),
            irqs: IrqCounts::default(),
        })
    }

    /// The disk's size in 512-byte sectors (as read at initialisation).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Re-reads the capacity after a configuration-change interrupt — the
    /// disk was resized (§5.2.4: the device signals a capacity change that
    /// way) — and returns it. Requests are checked against it from now on.
    pub fn refresh_capacity(&mut self) -> Result<u64, Error> {
        self.capacity = self.transport.read_config_u64(blk::CFG_CAPACITY)?;
        Ok(self.capacity)
    }

    /// Whether [`BlkOp::Flush`] is available (VIRTIO_BLK_F_FLUSH).
    pub fn flush_supported(&self) -> bool {
        self.features & blk::F_FLUSH != 0
    }

    /// Whether the disk is read-only (VIRTIO_BLK_F_RO).
    pub fn read_only(&self) -> bool {
        self.features & blk::F_RO != 0
    }

    /// Whether requests use indirect descriptor tables.
    pub fn indirect(&self) -> bool {
        self.tables.is_some()
    }

    /// How many requests can be in flight at once (tags are below this).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The most data segments one request may have.
    pub fn max_segments(&self) -> usize {
        self.max_segments
    }

    /// The negotiated feature bits.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Requests submitted and not yet completed by [`poll`](Self::poll).
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.free_tags.len()
    }

    /// The transport (register window, status, …).
    pub fn transport(&self) -> &Transport<W> {
        &self.transport
    }

    /// The DMA allocator the queue and slots came from.
    pub fn allocator(&self) -> &A {
        &self.dma
    }

    /// The request queue's own counters.
    pub fn queue_stats(&self) -> QueueStats {
        self.queue.stats()
    }

    /// The driver's counters, with the queue's and the window's.
    pub fn stats(&self) -> BlkStats {
        let io = self.transport.window().stats();
        BlkStats {
            interrupts: self.irqs.interrupts(),
            not_mine: self.irqs.not_mine(),
            config_changes: self.irqs.config_changes(),
            notifies_suppressed: self.queue.stats().notifications_suppressed,
            register_reads: io.reads,
            register_writes: io.writes,
            ..self.stats
        }
    }
}

/// Stops the device before its queue and request slots are freed.
impl<W: RegisterWindow, A: DmaAllocator> Drop for VirtioBlk<W, A> {
    fn drop(&mut self) {
        let _ = self.transport.reset();
    }
}
