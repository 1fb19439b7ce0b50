//! Requests: adjacent bios merged into one device operation.
//!
//! # Why merge (LDD3 ch. 16, "Request Queues")
//!
//! Every command a disk executes has a fixed cost (a doorbell, an interrupt,
//! a seek on a spinning disk), so the block layer combines bios that touch
//! neighbouring sectors into one [`Request`] before handing it to the
//! driver. Linux knows two cases, and so does this module:
//!
//! ```text
//!  back merge:   [ request: 100..108 ][ bio: 108..116 ]   bio starts where the request ends
//!  front merge:  [ bio: 92..100 ][ request: 100..108 ]    bio ends where the request starts
//! ```
//!
//! The merged request keeps its bios in sector order, so its segments read
//! in order form one contiguous scatter-gather list for the device. A merge
//! is refused when:
//!
//! - the operations differ (a read never merges with a write), or the bio
//!   is a [`Op::Flush`];
//! - the bio or the request has [`Flags`] (FUA or preflush apply to exactly
//!   the data they were issued with; merging would extend or reorder them);
//! - the result would exceed the device's [`Limits`]: `max_sectors` per
//!   command (Linux `max_hw_sectors_kb`) and `max_segments` scatter-gather
//!   entries (the size of the driver's descriptor table).
//!
//! The schedulers ([`sched`](crate::sched)) decide *which* queued request a
//! bio is tried against; this module decides *whether* it fits.
//!
//! A request remembers when it was created (`submitted_ns`, for latency)
//! and carries a `deadline_ns` that the deadline scheduler sets.

use alloc::vec::Vec;

use crate::bio::{Bio, BioVec, Flags, Op};

/// What the device accepts in one command (Linux `queue_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request in sectors.
    pub max_sectors: u64,
    /// Largest scatter-gather list in segments.
    pub max_segments: usize,
}

impl Default for Limits {
    /// 256 KiB and 128 segments: what a virtio-blk disk typically reports.
    fn default() -> Self {
        Limits { max_sectors: 512, max_segments: 128 }
    }
}

impl Limits {
    /// True if `bio` alone fits these limits.
    pub fn admits<P>(&self, bio: &Bio<P>) -> bool {
        bio.sectors() <= self.max_sectors && bio.segments.len() <= self.max_segments
    }
}

/// Which side of a request a bio was merged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    /// The bio started where the request ended; appended.
    Back,
    /// The bio ended where the request started; prepended.
    Front,
}

/// One or more adjacent bios with the same operation, issued to the device
/// as one command.
#[derive(Debug)]
pub struct Request<P> {
    /// The operation of every bio in the request.
    pub op: Op,
    /// First sector.
    pub sector: u64,
    /// Total sectors (sum over the bios).
    pub sectors: u64,
    /// The bios, in sector order.
    pub bios: Vec<Bio<P>>,
    /// When the first bio became this request.
    pub submitted_ns: u64,
    /// When the deadline scheduler considers it expired (set on `add`;
    /// other schedulers leave it at `submitted_ns`).
    pub deadline_ns: u64,
    /// The flags of the (single, unmerged) bio that carried any.
    pub flags: Flags,
}

impl<P> Request<P> {
    /// A request made of one bio.
    pub fn new(bio: Bio<P>, now_ns: u64) -> Self {
        let mut bios = Vec::with_capacity(1);
        let (op, sector, sectors, flags) = (bio.op, bio.sector, bio.sectors(), bio.flags);
        bios.push(bio);
        Request { op, sector, sectors, bios, submitted_ns: now_ns, deadline_ns: now_ns, flags }
    }

    /// First sector after the request (exclusive; saturating).
    pub fn end(&self) -> u64 {
        self.sector.saturating_add(self.sectors)
    }

    /// The scatter-gather list: every bio's segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &BioVec<P>> {
        self.bios.iter().flat_map(|b| b.segments.iter())
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.bios.iter().map(|b| b.segments.len()).sum()
    }

    /// The bios' completion cookies, in order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.bios.iter().map(|b| b.id)
    }

    /// True if `bio` may join this request at all (same op, no flags,
    /// within the limits), regardless of position.
    fn compatible(&self, bio: &Bio<P>, limits: &Limits) -> bool {
        self.op == bio.op
            && self.op != Op::Flush
            && !self.flags.any()
            && !bio.flags.any()
            && self.sectors.checked_add(bio.sectors()).is_some_and(|s| s <= limits.max_sectors)
            && self.segment_count().checked_add(bio.segments.len()).is_some_and(|s| s <= limits.max_segments)
    }

    /// Where `bio` could merge into this request, if anywhere (back is
    /// preferred, as in Linux).
    pub fn merge_kind(&self, bio: &Bio<P>, limits: &Limits) -> Option<MergeKind> {
        if !self.compatible(bio, limits) {
            None
        } else if bio.sector == self.end() {
            Some(MergeKind::Back)
        } else if bio.end() == self.sector {
            Some(MergeKind::Front)
        } else {
            None
        }
    }

    /// Merges `bio` if it fits; gives it back otherwise.
    pub fn try_merge(&mut self, bio: Bio<P>, limits: &Limits) -> Result<MergeKind, Bio<P>> {
        match self.merge_kind(&bio, limits) {
            Some(MergeKind::Back) => {
                self.sectors += bio.sectors();
                self.bios.push(bio);
                Ok(MergeKind::Back)
            }
            Some(MergeKind::Front) => {
                self.sectors += bio.sectors();
                self.sector = bio.sector;
                self.bios.insert(0, bio);
                Ok(MergeKind::Front)
            }
            None => Err(bio),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A test bio of `sectors` sectors in one segment; the page is the id.
    pub(crate) fn bio(op: Op, sector: u64, sectors: usize, id: u64) -> Bio<u64> {
        Bio::new(op, sector, vec![BioVec { page: id, offset: 0, len: sectors * crate::SECTOR_SIZE }], id)
    }

    const L: Limits = Limits { max_sectors: 64, max_segments: 4 };

    #[test]
    fn back_and_front_merge() {
        let mut rq = Request::new(bio(Op::Read, 100, 8, 1), 5);
        assert_eq!(rq.try_merge(bio(Op::Read, 108, 8, 2), &L), Ok(MergeKind::Back));
        assert_eq!(rq.try_merge(bio(Op::Read, 92, 8, 3), &L), Ok(MergeKind::Front));
        assert_eq!((rq.sector, rq.sectors, rq.end()), (92, 24, 116));
        assert_eq!(rq.ids().collect::<Vec<_>>(), vec![3, 1, 2]);
        assert_eq!(rq.segments().map(|s| s.page).collect::<Vec<_>>(), vec![3, 1, 2]);
        assert_eq!(rq.segment_count(), 3);
        assert_eq!(rq.submitted_ns, 5);
    }

    #[test]
    fn no_merge_across_ops_gaps_or_flags() {
        let mut rq = Request::new(bio(Op::Read, 100, 8, 1), 0);
        assert!(rq.try_merge(bio(Op::Write, 108, 8, 2), &L).is_err());
        assert!(rq.try_merge(bio(Op::Read, 109, 8, 2), &L).is_err());
        assert!(rq.try_merge(bio(Op::Read, 100, 8, 2), &L).is_err());
        let mut fua = bio(Op::Read, 108, 8, 2);
        fua.flags.fua = true;
        assert!(rq.try_merge(fua, &L).is_err());
        let mut pre = bio(Op::Read, 92, 8, 2);
        pre.flags.preflush = true;
        assert!(rq.try_merge(pre, &L).is_err());
        // A flagged request takes nothing either.
        let mut b = bio(Op::Write, 0, 8, 1);
        b.flags.fua = true;
        let mut rq = Request::new(b, 0);
        assert!(rq.try_merge(bio(Op::Write, 8, 8, 2), &L).is_err());
        // Flushes never merge.
        let mut rq: Request<u64> = Request::new(Bio::flush(1), 0);
        assert!(rq.try_merge(Bio::flush(2), &L).is_err());
    }

    #[test]
    fn limits_respected() {
        let mut rq = Request::new(bio(Op::Write, 0, 60, 1), 0);
        assert!(rq.try_merge(bio(Op::Write, 60, 8, 2), &L).is_err());
        assert!(rq.try_merge(bio(Op::Write, 60, 4, 2), &L).is_ok());
        let mut rq = Request::new(bio(Op::Write, 0, 1, 1), 0);
        for i in 1..4 {
            assert!(rq.try_merge(bio(Op::Write, i, 1, i), &L).is_ok());
        }
        // Five segments would exceed max_segments = 4.
        assert!(rq.try_merge(bio(Op::Write, 4, 1, 9), &L).is_err());
        assert!(L.admits(&bio(Op::Read, 0, 64, 1)));
        assert!(!L.admits(&bio(Op::Read, 0, 65, 1)));
    }
}
