//! Building a request: validate, fill the slot's header, chain header + data
//! + status (indirectly when possible).

use hal::dma::{BusAddr, DmaAllocator, DmaRegion};
use hal::RegisterWindow;

use super::{BlkError, VirtioBlk, MAX_SEGMENTS, SLOT_SIZE, STATUS_AT, TABLE_SIZE};
use crate::bus_at;
use crate::queue::Buffer;
use crate::regs::blk;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlkOp {
    /// Read sectors into the segments (`VIRTIO_BLK_T_IN`).
    Read,
    /// Write the segments to sectors (`VIRTIO_BLK_T_OUT`).
    Write,
    /// Flush the device's write cache (`VIRTIO_BLK_T_FLUSH`); no segments.
    Flush,
    /// Read the device's ID string (up to 20 bytes) into one segment.
    GetId,
}

impl BlkOp {
    const fn request_type(self) -> u32 {
        match self {
            BlkOp::Read => blk::T_IN,
            BlkOp::Write => blk::T_OUT,
            BlkOp::Flush => blk::T_FLUSH,
            BlkOp::GetId => blk::T_GET_ID,
        }
    }

    /// Whether the device writes the data segments.
    const fn device_writes(self) -> bool {
        matches!(self, BlkOp::Read | BlkOp::GetId)
    }
}

/// One piece of a request's data, in DMA memory the caller owns until the
/// request completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its bus address.
    pub addr: BusAddr,
    /// Its length (a multiple of 512 for reads and writes).
    pub len: u32,
}

/// A block request.
#[derive(Clone, Copy, Debug)]
pub struct BlkRequest<'a> {
    /// What to do.
    pub op: BlkOp,
    /// First 512-byte sector (ignored for flush and GET_ID).
    pub sector: u64,
    /// The data, in order.
    pub segments: &'a [Segment],
}

const EMPTY: Buffer = Buffer { addr: BusAddr(0), len: 0, writable: false };

impl<W: RegisterWindow, A: DmaAllocator> VirtioBlk<W, A> {
    /// Everything [`submit`](Self::submit) refuses, checked before anything
    /// is written.
    fn validate(&self, req: &BlkRequest) -> Result<(), BlkError> {
        let segments = req.segments;
        match req.op {
            BlkOp::Write if self.read_only() => return Err(BlkError::ReadOnly),
            BlkOp::Flush if !self.flush_supported() => return Err(BlkError::FlushUnsupported),
            BlkOp::Flush if !segments.is_empty() => return Err(BlkError::BadRequest("flush with data")),
            BlkOp::Flush => return Ok(()),
            BlkOp::GetId if segments.len() != 1 || segments[0].len == 0 => {
                return Err(BlkError::BadRequest("GET_ID needs exactly one buffer"))
            }
            BlkOp::GetId => return Ok(()),
            BlkOp::Read | BlkOp::Write if segments.is_empty() => {
                return Err(BlkError::BadRequest("read or write without data"))
            }
            BlkOp::Read | BlkOp::Write => {}
        }
        if segments.len() > self.max_segments {
            return Err(BlkError::TooManySegments);
        }
        let mut bytes = 0u64;
        for s in segments {
            if s.len == 0 || !(s.len as usize).is_multiple_of(blk::SECTOR_SIZE) {
                return Err(BlkError::Unaligned);
            }
            if self.size_max.is_some_and(|max| s.len > max) {
                return Err(BlkError::BadRequest("segment longer than the device's size_max"));
            }
            bytes += u64::from(s.len);
        }
        let sectors = bytes / blk::SECTOR_SIZE as u64;
        let out_of_range = BlkError::OutOfRange { sector: req.sector, sectors, capacity: self.capacity };
        match req.sector.checked_add(sectors) {
            Some(end) if end <= self.capacity => Ok(()),
            _ => Err(out_of_range),
        }
    }

    /// Checks `req`, writes its header into a free slot and adds the chain
    /// header + segments + status to the queue. Returns the request's tag
    /// (below [`max_in_flight`](Self::max_in_flight)), which
    /// [`poll`](Self::poll) reports on completion. The device does not see
    /// the request until [`kick`](Self::kick). The segments' memory must
    /// stay untouched until then.
    pub fn submit(&mut self, req: &BlkRequest) -> Result<u16, BlkError> {
        self.validate(req)?;
        let ring_descs = if self.tables.is_some() { 1 } else { req.segments.len() + 2 };
        if self.free_tags.is_empty() || usize::from(self.queue.free_count()) < ring_descs {
            return Err(BlkError::QueueFull);
        }
        let Some(tag) = self.free_tags.pop() else { return Err(BlkError::QueueFull) };
        match self.add_request(tag, req) {
            Ok(head) => {
                self.head_tag[usize::from(head)] = tag;
                self.stats.requests += 1;
                match req.op {
                    BlkOp::Read => self.stats.reads += 1,
                    BlkOp::Write => self.stats.writes += 1,
                    BlkOp::Flush => self.stats.flushes += 1,
                    BlkOp::GetId => {}
                }
                Ok(tag)
            }
            Err(e) => {
                self.free_tags.push(tag);
                Err(e)
            }
        }
    }

    /// Fills slot `tag` and adds the request's chain; returns the head id.
    fn add_request(&mut self, tag: u16, req: &BlkRequest) -> Result<u16, BlkError> {
        let slot = usize::from(tag) * SLOT_SIZE;
        let sector = match req.op {
            BlkOp::Read | BlkOp::Write => req.sector,
            // §5.2.6.1: sector is 0 for requests other than read and write.
            BlkOp::Flush | BlkOp::GetId => 0,
        };
        self.slots.write_u32(slot + blk::REQ_TYPE, req.op.request_type()).map_err(crate::Error::from)?;
        self.slots.write_u32(slot + blk::REQ_RESERVED, 0).map_err(crate::Error::from)?;
        self.slots.write_u64(slot + blk::REQ_SECTOR, sector).map_err(crate::Error::from)?;
        // Poison: a device that "completes" without writing status is caught.
        self.slots.write_u8(slot + STATUS_AT, 0xff).map_err(crate::Error::from)?;

        let base = self.slots.bus_addr();
        let mut chain = [EMPTY; MAX_SEGMENTS + 2];
        chain[0] = Buffer { addr: bus_at(base, slot), len: blk::REQ_HDR_LEN as u32, writable: false };
        let writes = req.op.device_writes();
        for (i, s) in req.segments.iter().enumerate() {
            chain[1 + i] = Buffer { addr: s.addr, len: s.len, writable: writes };
        }
        let n = req.segments.len() + 2;
        chain[n - 1] = Buffer { addr: bus_at(base, slot + STATUS_AT), len: 1, writable: true };

        let head = match &self.tables {
            Some(tables) => self.queue.add_indirect(tables, usize::from(tag) * TABLE_SIZE, &chain[..n])?,
            None => self.queue.add(&chain[..n])?,
        };
        Ok(head)
    }
}
