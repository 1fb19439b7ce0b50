//! The bio: one block I/O as the submitter describes it.
//!
//! # `struct bio` and `struct bio_vec` (LDD3 ch. 16, "The bio Structure")
//!
//! Whoever wants a block device to move data — the buffer cache, a file
//! system, a test — builds a [`Bio`]: an operation ([`Op`]), the first
//! sector on the device, and a list of **segments** ([`BioVec`]), each a
//! piece of one memory page (page, offset in it, length). The segments are
//! a scatter-gather list: the device sees one contiguous run of sectors
//! starting at [`Bio::sector`], while memory may be scattered over many
//! pages. The seeds' remark *"if the whole file falls physically in
//! continuous sectors, then there will be just one bio and N bio_vecs"*
//! (`seeds/002`) is exactly this shape.
//!
//! The pages belong to the submitter; the bio only borrows them until it
//! completes. Here that ownership is a type parameter `P`: the kernel uses
//! a reference-counted DMA page (the driver maps it for the device), host
//! tests use anything. [`Bio::id`] is the submitter's cookie, handed back at
//! completion (Linux's `bi_private` + `bi_end_io`).
//!
//! # Flags: ordering and durability
//!
//! A disk with a volatile write cache may acknowledge a write before it is
//! on stable media, and may reorder writes. Two flags let a submitter ask
//! for more ([`Flags`], Linux's `REQ_PREFLUSH` and `REQ_FUA`):
//!
//! - **preflush**: before this bio, flush the device's write cache, so that
//!   every write *completed* before this bio was submitted is durable.
//! - **fua** (Force Unit Access): this write is complete only when it is on
//!   stable media.
//!
//! An [`Op::Flush`] bio carries no data and means "preflush, nothing else".
//! A file system commits a journal transaction as: write the blocks, wait,
//! then a commit block with `preflush | fua`. Flagged bios are never merged
//! (see [`request`](crate::request)): their semantics belong to exactly
//! the data they carry.
//!
//! # Validation
//!
//! [`Bio::validate`] is the block layer's front door (Linux's
//! `bio_check_eod` and alignment checks): the range must lie inside the
//! disk — computed without overflow even near `u64::MAX` — and every
//! segment must be a non-empty whole number of sectors at a sector-aligned
//! offset, so a driver never has to split a sector across pages.

use alloc::vec::Vec;
use core::fmt;

use crate::SECTOR_SIZE;

/// What a bio asks the device to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Device to memory.
    Read,
    /// Memory to device.
    Write,
    /// Flush the device's volatile write cache; no data, no sectors.
    Flush,
}

impl Op {
    /// The short name used in statistics and traces.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Flush => "flush",
        }
    }
}

/// Ordering and durability flags (Linux `REQ_FUA`, `REQ_PREFLUSH`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// Force Unit Access: complete this write only once it is on stable
    /// media (not just in the device's cache).
    pub fua: bool,
    /// Flush the device's write cache before this bio, making every write
    /// completed before it durable.
    pub preflush: bool,
}

impl Flags {
    /// No flags: an ordinary, mergeable bio.
    pub const NONE: Flags = Flags { fua: false, preflush: false };

    /// True if any ordering/durability flag is set (such bios never merge).
    pub fn any(self) -> bool {
        self.fua || self.preflush
    }
}

/// One segment of a bio: `len` bytes at `offset` in `page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BioVec<P> {
    /// The memory page (owned by the submitter).
    pub page: P,
    /// Byte offset inside the page; a multiple of [`SECTOR_SIZE`].
    pub offset: usize,
    /// Length in bytes; a non-zero multiple of [`SECTOR_SIZE`].
    pub len: usize,
}

impl<P> BioVec<P> {
    /// Sectors this segment covers.
    pub fn sectors(&self) -> u64 {
        (self.len / SECTOR_SIZE) as u64
    }
}

/// One block I/O: `op` on the sectors starting at `sector`, data in
/// `segments` (in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio<P> {
    /// The operation.
    pub op: Op,
    /// First sector on the device.
    pub sector: u64,
    /// Scatter-gather list; empty for [`Op::Flush`].
    pub segments: Vec<BioVec<P>>,
    /// Ordering/durability flags.
    pub flags: Flags,
    /// The submitter's cookie, handed back at completion.
    pub id: u64,
}

impl<P> Bio<P> {
    /// A bio with no flags.
    pub fn new(op: Op, sector: u64, segments: Vec<BioVec<P>>, id: u64) -> Self {
        Bio { op, sector, segments, flags: Flags::NONE, id }
    }

    /// A cache-flush bio (no data).
    pub fn flush(id: u64) -> Self {
        Bio::new(Op::Flush, 0, Vec::new(), id)
    }

    /// Sectors covered by the segments (saturating: a bio too large to count
    /// fails [`validate`](Self::validate) anyway).
    pub fn sectors(&self) -> u64 {
        self.segments.iter().fold(0u64, |n, s| n.saturating_add(s.sectors()))
    }

    /// Bytes covered by the segments.
    pub fn bytes(&self) -> u64 {
        self.sectors().saturating_mul(SECTOR_SIZE as u64)
    }

    /// First sector after the bio (exclusive end; saturating).
    pub fn end(&self) -> u64 {
        self.sector.saturating_add(self.sectors())
    }

    /// Checks the bio against a disk of `capacity` sectors: segments
    /// non-empty and sector-aligned, range inside the disk, flushes without
    /// data.
    pub fn validate(&self, capacity: u64) -> Result<(), BioError> {
        if self.op == Op::Flush {
            return if self.segments.is_empty() { Ok(()) } else { Err(BioError::FlushWithData) };
        }
        if self.segments.is_empty() {
            return Err(BioError::Empty);
        }
        for s in &self.segments {
            if s.len == 0 {
                return Err(BioError::Empty);
            }
            if s.len % SECTOR_SIZE != 0 || s.offset % SECTOR_SIZE != 0 {
                return Err(BioError::Unaligned { offset: s.offset, len: s.len });
            }
        }
        let sectors = self.sectors();
        match self.sector.checked_add(sectors) {
            Some(end) if end <= capacity => Ok(()),
            _ => Err(BioError::OutOfRange { sector: self.sector, sectors, capacity }),
        }
    }
}

/// Why a bio was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BioError {
    /// The range `sector..sector+sectors` does not fit in the disk (or
    /// overflows `u64`).
    OutOfRange {
        /// First sector asked for.
        sector: u64,
        /// Sectors asked for.
        sectors: u64,
        /// Disk size in sectors.
        capacity: u64,
    },
    /// A segment's offset or length is not a multiple of [`SECTOR_SIZE`].
    Unaligned {
        /// The segment's offset in its page.
        offset: usize,
        /// The segment's length.
        len: usize,
    },
    /// A read or write with no data (or a zero-length segment).
    Empty,
    /// A flush bio that carries segments.
    FlushWithData,
    /// The bio alone exceeds the queue's limits (see
    /// [`Limits`](crate::request::Limits)); the submitter must split it.
    TooLarge {
        /// Sectors in the bio.
        sectors: u64,
        /// Segments in the bio.
        segments: usize,
    },
}

impl fmt::Display for BioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BioError::OutOfRange { sector, sectors, capacity } => {
                write!(f, "sectors {sector}+{sectors} beyond the end of the disk ({capacity} sectors)")
            }
            BioError::Unaligned { offset, len } => {
                write!(f, "segment at offset {offset} length {len} is not a whole number of {SECTOR_SIZE}-byte sectors")
            }
            BioError::Empty => f.write_str("bio carries no data"),
            BioError::FlushWithData => f.write_str("flush bio carries data"),
            BioError::TooLarge { sectors, segments } => {
                write!(f, "bio of {sectors} sectors in {segments} segments exceeds the queue limits")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn seg(offset: usize, len: usize) -> BioVec<()> {
        BioVec { page: (), offset, len }
    }

    #[test]
    fn sectors_and_end() {
        let b = Bio::new(Op::Read, 10, vec![seg(0, 4096), seg(512, 1024)], 1);
        assert_eq!(b.sectors(), 10);
        assert_eq!(b.end(), 20);
        assert_eq!(b.bytes(), 5120);
        assert_eq!(b.validate(20), Ok(()));
    }

    #[test]
    fn out_of_range() {
        let b = Bio::new(Op::Write, 18, vec![seg(0, 2048)], 1);
        assert_eq!(b.validate(20), Err(BioError::OutOfRange { sector: 18, sectors: 4, capacity: 20 }));
        // Starting exactly at the end is also out of range.
        let b = Bio::new(Op::Read, 20, vec![seg(0, 512)], 1);
        assert!(matches!(b.validate(20), Err(BioError::OutOfRange { .. })));
    }

    #[test]
    fn out_of_range_near_u64_max_does_not_overflow() {
        let b = Bio::new(Op::Read, u64::MAX - 1, vec![seg(0, 4096)], 1);
        assert_eq!(b.end(), u64::MAX);
        assert!(matches!(b.validate(u64::MAX), Err(BioError::OutOfRange { .. })));
        let b = Bio::new(Op::Read, u64::MAX, vec![seg(0, 512)], 1);
        assert!(matches!(b.validate(u64::MAX), Err(BioError::OutOfRange { .. })));
    }

    #[test]
    fn unaligned_and_empty() {
        let b = Bio::new(Op::Read, 0, vec![seg(0, 4096), seg(0, 100)], 1);
        assert_eq!(b.validate(100), Err(BioError::Unaligned { offset: 0, len: 100 }));
        let b = Bio::new(Op::Read, 0, vec![seg(7, 512)], 1);
        assert_eq!(b.validate(100), Err(BioError::Unaligned { offset: 7, len: 512 }));
        let b: Bio<()> = Bio::new(Op::Write, 0, vec![], 1);
        assert_eq!(b.validate(100), Err(BioError::Empty));
        let b = Bio::new(Op::Write, 0, vec![seg(0, 0)], 1);
        assert_eq!(b.validate(100), Err(BioError::Empty));
    }

    #[test]
    fn flush() {
        let b: Bio<()> = Bio::flush(3);
        assert_eq!(b.validate(0), Ok(()));
        assert_eq!(b.sectors(), 0);
        let mut b = Bio::flush(3);
        b.segments.push(seg(0, 512));
        assert_eq!(b.validate(10), Err(BioError::FlushWithData));
    }

    #[test]
    fn display() {
        use alloc::string::ToString;
        let e = BioError::OutOfRange { sector: 1, sectors: 2, capacity: 3 };
        assert!(e.to_string().contains("beyond the end"));
    }
}
