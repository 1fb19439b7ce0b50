//! The `noop` scheduler: first in, first out.
//!
//! Linux's `noop` (today `none`) does no sorting at all: requests go to the
//! device in the order they were made. It still merges, but only with the
//! most recently queued request — the cheap case that catches a sequential
//! stream of bios (each one starting where the previous ended) without
//! searching. For devices that schedule internally (NVMe, SSD-backed virtio)
//! or have no seek cost (RAM disks) this is the right policy: any CPU time
//! spent sorting is wasted.

use alloc::collections::VecDeque;

use super::Scheduler;
use crate::bio::Bio;
use crate::request::{Limits, MergeKind, Request};

/// FIFO scheduler; merges with the last queued request only.
#[derive(Debug)]
pub struct Noop<P> {
    fifo: VecDeque<Request<P>>,
}

impl<P> Noop<P> {
    /// An empty queue.
    pub fn new() -> Self {
        Noop { fifo: VecDeque::new() }
    }
}

impl<P> Default for Noop<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Send> Scheduler<P> for Noop<P> {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn add(&mut self, rq: Request<P>) {
        self.fifo.push_back(rq);
    }

    fn bio_merge(&mut self, bio: Bio<P>, limits: &Limits) -> Result<MergeKind, Bio<P>> {
        match self.fifo.back_mut() {
            Some(last) => last.try_merge(bio, limits),
            None => Err(bio),
        }
    }

    fn dispatch(&mut self, _now_ns: u64) -> Option<Request<P>> {
        self.fifo.pop_front()
    }

    fn len(&self) -> usize {
        self.fifo.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bio::Op;
    use crate::request::tests::bio;
    use alloc::vec::Vec;

    const L: Limits = Limits { max_sectors: 256, max_segments: 16 };

    #[test]
    fn fifo_order() {
        let mut s = Noop::new();
        for (i, sector) in [50u64, 10, 30].into_iter().enumerate() {
            s.add(Request::new(bio(Op::Read, sector, 1, i as u64), 0));
        }
        assert_eq!(s.len(), 3);
        let order: Vec<u64> = core::iter::from_fn(|| s.dispatch(0)).map(|r| r.sector).collect();
        assert_eq!(order, [50, 10, 30]);
        assert!(s.is_empty());
    }

    #[test]
    fn merges_only_with_last() {
        let mut s = Noop::new();
        s.add(Request::new(bio(Op::Write, 0, 8, 1), 0));
        s.add(Request::new(bio(Op::Write, 100, 8, 2), 0));
        // Adjacent to the first request, but noop only looks at the last.
        assert!(s.bio_merge(bio(Op::Write, 8, 8, 3), &L).is_err());
        assert_eq!(s.bio_merge(bio(Op::Write, 108, 8, 4), &L), Ok(MergeKind::Back));
        assert_eq!(s.bio_merge(bio(Op::Write, 92, 8, 5), &L), Ok(MergeKind::Front));
        assert_eq!(s.try_merge(bio(Op::Write, 116, 8, 6), &L), Ok(()));
        assert_eq!(s.len(), 2);
        s.dispatch(0);
        let rq = s.dispatch(0).unwrap();
        assert_eq!((rq.sector, rq.sectors), (92, 32));
    }
}
