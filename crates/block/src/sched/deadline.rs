//! The `deadline` scheduler: sorted batches, bounded waiting, reads first.
//!
//! # The policy (Linux `block/mq-deadline.c`)
//!
//! Pure sector order (the elevator) is efficient but unfair: a request far
//! from where the head is busy can wait forever. `deadline` keeps, **per
//! direction** (reads, writes), two views of the same requests:
//!
//! - a **sorted queue**, by start sector, for throughput;
//! - a **FIFO**, in arrival order, each request stamped with an expiry time:
//!   `read_expire` (500 ms) or `write_expire` (5 s) after it was queued.
//!
//! Dispatch works in **batches** of up to `fifo_batch` (16) requests of one
//! direction, served in ascending sector order from where the previous
//! request of that direction ended. When a batch ends (or its direction
//! runs out of requests above the position), a new batch starts:
//!
//! 1. **Choose the direction.** Reads are preferred — a reader usually
//!    waits for its data, a writer usually does not — but when writes are
//!    pending, each read batch counts one "starvation"; after
//!    `writes_starved` (2) read batches the next batch is writes.
//! 2. **Choose the first request.** If the direction's FIFO head has
//!    expired, the batch starts there (bounding the wait to about one batch
//!    past the expiry); else it continues the sweep at the first request at
//!    or after the position; if the sweep reached the end, it restarts at
//!    the FIFO head (the oldest request).
//!
//! Flushes and preflush requests bypass the sorting: they go to a separate
//! FIFO served before everything else, as Linux sends them straight to the
//! dispatch list. (A flush only promises durability of writes *completed*
//! before it was issued, so it need not wait behind queued writes.)
//!
//! Merging searches the sorted queue: a back merge candidate ends where the
//! bio starts, so it starts at most `max_sectors` before it — a bounded
//! range query; a front merge candidate starts exactly where the bio ends.
//!
//! Both views are small ordered structures: a `BTreeMap` keyed by
//! `(sector, sequence)` (the sequence keeps equal sectors distinct and in
//! arrival order) and a `VecDeque` of keys. Removing a key from the FIFO is
//! a linear scan; a queue holds tens to hundreds of requests, where that
//! is cheaper than any bookkeeping.

use alloc::collections::{BTreeMap, VecDeque};

use super::Scheduler;
use crate::bio::{Bio, Op};
use crate::request::{Limits, MergeKind, Request};

/// Key of a queued request in the sorted queue: (start sector, sequence).
type Key = (u64, u64);

const READ: usize = 0;
const WRITE: usize = 1;

/// One direction's two views.
#[derive(Debug)]
struct DirQueue<P> {
    sorted: BTreeMap<Key, Request<P>>,
    fifo: VecDeque<Key>,
    /// Where the last dispatched request of this direction ended.
    pos: u64,
}

impl<P> DirQueue<P> {
    fn new() -> Self {
        DirQueue { sorted: BTreeMap::new(), fifo: VecDeque::new(), pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The first request at or after the sweep position.
    fn next_from_pos(&self) -> Option<Key> {
        self.sorted.range((self.pos, 0)..).next().map(|(k, _)| *k)
    }

    fn fifo_expired(&self, now_ns: u64) -> bool {
        self.fifo.front().and_then(|k| self.sorted.get(k)).is_some_and(|rq| rq.deadline_ns <= now_ns)
    }

    fn take(&mut self, key: Key) -> Option<Request<P>> {
        let rq = self.sorted.remove(&key)?;
        if let Some(i) = self.fifo.iter().position(|k| *k == key) {
            self.fifo.remove(i);
        }
        self.pos = rq.end();
        Some(rq)
    }

    fn bio_merge(&mut self, bio: Bio<P>, limits: &Limits) -> Result<MergeKind, Bio<P>> {
        // Back merge: a request ending at bio.sector starts within
        // max_sectors before it.
        let lo = bio.sector.saturating_sub(limits.max_sectors);
        let back = self
            .sorted
            .range((lo, 0)..(bio.sector, 0))
            .find(|(_, rq)| rq.merge_kind(&bio, limits) == Some(MergeKind::Back))
            .map(|(k, _)| *k);
        if let Some(k) = back {
            if let Some(rq) = self.sorted.get_mut(&k) {
                return rq.try_merge(bio, limits);
            }
        }
        // Front merge: a request starting at bio.end(). Its key changes.
        let end = bio.end();
        let front = self
            .sorted
            .range((end, 0)..=(end, u64::MAX))
            .find(|(_, rq)| rq.merge_kind(&bio, limits) == Some(MergeKind::Front))
            .map(|(k, _)| *k);
        let Some(old) = front else { return Err(bio) };
        let Some(mut rq) = self.sorted.remove(&old) else {
            return Err(bio);
        };
        let result = rq.try_merge(bio, limits);
        let new = (rq.sector, old.1);
        self.sorted.insert(new, rq);
        if let Some(k) = self.fifo.iter_mut().find(|k| **k == old) {
            *k = new;
        }
        result
    }
}

/// Counters of the deadline policy at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineStats {
    /// Batches started.
    pub batches: u64,
    /// Batches that started at an expired FIFO head.
    pub expired_starts: u64,
    /// Write batches started because writes had waited `writes_starved`
    /// read batches.
    pub starved_write_batches: u64,
    /// Flush/preflush requests dispatched ahead of the sorted queues.
    pub passthrough: u64,
}

/// The deadline scheduler (tunables are public, as in
/// `/sys/block/<dev>/queue/iosched/`).
#[derive(Debug)]
pub struct Deadline<P> {
    /// Expiry of a read after it is queued (default 500 ms).
    pub read_expire_ns: u64,
    /// Expiry of a write after it is queued (default 5 s).
    pub write_expire_ns: u64,
    /// Requests per batch (default 16).
    pub fifo_batch: u32,
    /// Read batches writes may wait while pending (default 2).
    pub writes_starved: u32,
    dirs: [DirQueue<P>; 2],
    passthrough: VecDeque<Request<P>>,
    seq: u64,
    batching: u32,
    last_dir: Option<usize>,
    starved: u32,
    stats: DeadlineStats,
}

impl<P> Deadline<P> {
    /// Linux's defaults.
    pub fn new() -> Self {
        Deadline {
            read_expire_ns: 500_000_000,
            write_expire_ns: 5_000_000_000,
            fifo_batch: 16,
            writes_starved: 2,
            dirs: [DirQueue::new(), DirQueue::new()],
            passthrough: VecDeque::new(),
            seq: 0,
            batching: 0,
            last_dir: None,
            starved: 0,
            stats: DeadlineStats::default(),
        }
    }

    /// The policy's counters.
    pub fn stats(&self) -> DeadlineStats {
        self.stats
    }

    fn take(&mut self, dir: usize, key: Key) -> Option<Request<P>> {
        self.batching += 1;
        self.last_dir = Some(dir);
        self.dirs[dir].take(key)
    }
}

impl<P> Default for Deadline<P> {
    fn default() -> Self {
        Self::new()
    }
}

fn dir_of(op: Op) -> usize {
    if op == Op::Read {
        READ
    } else {
        WRITE
    }
}

impl<P: Send> Scheduler<P> for Deadline<P> {
    fn name(&self) -> &'static str {
        "deadline"
    }

    fn add(&mut self, mut rq: Request<P>) {
        if rq.op == Op::Flush || rq.flags.preflush {
            self.passthrough.push_back(rq);
            return;
        }
        let dir = dir_of(rq.op);
        let expire = if dir == READ { self.read_expire_ns } else { self.write_expire_ns };
        rq.deadline_ns = rq.submitted_ns.saturating_add(expire);
        let key = (rq.sector, self.seq);
        self.seq += 1;
        self.dirs[dir].sorted.insert(key, rq);
        self.dirs[dir].fifo.push_back(key);
    }

    fn bio_merge(&mut self, bio: Bio<P>, limits: &Limits) -> Result<MergeKind, Bio<P>> {
        if bio.op == Op::Flush || bio.flags.any() {
            return Err(bio);
        }
        self.dirs[dir_of(bio.op)].bio_merge(bio, limits)
    }

    fn dispatch(&mut self, now_ns: u64) -> Option<Request<P>> {
        if let Some(rq) = self.passthrough.pop_front() {
            self.stats.passthrough += 1;
            return Some(rq);
        }
        // Continue the current batch in sector order.
        if let Some(dir) = self.last_dir {
            if self.batching < self.fifo_batch {
                if let Some(key) = self.dirs[dir].next_from_pos() {
                    return self.take(dir, key);
                }
            }
        }
        // Start a new batch: reads preferred, unless writes starved.
        let reads = !self.dirs[READ].is_empty();
        let writes = !self.dirs[WRITE].is_empty();
        let dir = if reads {
            if writes {
                let starved = self.starved;
                self.starved = self.starved.saturating_add(1);
                if starved >= self.writes_starved {
                    self.stats.starved_write_batches += 1;
                    WRITE
                } else {
                    READ
                }
            } else {
                READ
            }
        } else if writes {
            WRITE
        } else {
            return None;
        };
        if dir == WRITE {
            self.starved = 0;
        }
        let q = &self.dirs[dir];
        let expired = q.fifo_expired(now_ns);
        let key = match q.next_from_pos() {
            Some(k) if !expired => k,
            _ => *q.fifo.front()?,
        };
        if expired {
            self.stats.expired_starts += 1;
        }
        self.stats.batches += 1;
        self.batching = 0;
        self.take(dir, key)
    }

    fn len(&self) -> usize {
        self.passthrough.len() + self.dirs[READ].sorted.len() + self.dirs[WRITE].sorted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::bio;
    use alloc::vec::Vec;

    const L: Limits = Limits { max_sectors: 256, max_segments: 16 };
    const MS: u64 = 1_000_000;

    fn add(s: &mut Deadline<u64>, op: Op, sector: u64, now: u64) {
        s.add(Request::new(bio(op, sector, 1, sector), now));
    }

    fn drain(s: &mut Deadline<u64>, now: u64) -> Vec<(Op, u64)> {
        core::iter::from_fn(|| s.dispatch(now)).map(|r| (r.op, r.sector)).collect()
    }

    #[test]
    fn batches_are_sector_sorted() {
        let mut s = Deadline::new();
        for sector in [70u64, 10, 50, 30, 90] {
            add(&mut s, Op::Read, sector, 0);
        }
        let order: Vec<u64> = drain(&mut s, 0).into_iter().map(|x| x.1).collect();
        // Position starts at 0: one ascending sweep.
        assert_eq!(order, [10, 30, 50, 70, 90]);
    }

    #[test]
    fn sweep_continues_from_position_and_batches_end() {
        let mut s = Deadline::new();
        s.fifo_batch = 3;
        for sector in [100u64, 200, 300, 400] {
            add(&mut s, Op::Read, sector, 0);
        }
        assert_eq!(s.dispatch(0).unwrap().sector, 100);
        // A request behind the head does not interrupt the sweep.
        add(&mut s, Op::Read, 50, 0);
        let order: Vec<u64> = drain(&mut s, 0).into_iter().map(|x| x.1).collect();
        // Batch 1 ends after 300; batch 2 continues at 400, then the sweep
        // reached the end and restarts at the FIFO head... which is 50.
        assert_eq!(order, [200, 300, 400, 50]);
        assert_eq!(s.stats().batches, 3);
    }

    #[test]
    fn expired_fifo_head_served_first() {
        let mut s = Deadline::new();
        add(&mut s, Op::Read, 1000, 0);
        for sector in [10u64, 20, 30] {
            add(&mut s, Op::Read, sector, 400 * MS);
        }
        // Not expired yet: sector order.
        let mut t = Deadline::new();
        add(&mut t, Op::Read, 1000, 0);
        add(&mut t, Op::Read, 10, 400 * MS);
        assert_eq!(t.dispatch(499 * MS).unwrap().sector, 10);
        // Expired at 500 ms: the oldest goes first, then the sweep goes on
        // from where it ended (nothing above 1000: FIFO head again).
        let order: Vec<u64> = drain(&mut s, 500 * MS).into_iter().map(|x| x.1).collect();
        assert_eq!(order, [1000, 10, 20, 30]);
        assert_eq!(s.stats().expired_starts, 1);
    }

    #[test]
    fn reads_preferred_but_writes_not_starved() {
        let mut s = Deadline::new();
        for i in 0..100 {
            add(&mut s, Op::Write, 10_000 + i, 0);
        }
        for i in 0..100 {
            add(&mut s, Op::Read, i, 0);
        }
        let order = drain(&mut s, 0);
        // Reads first (even though writes arrived earlier)...
        assert!(order[..32].iter().all(|(op, _)| *op == Op::Read));
        // ...then after writes_starved = 2 read batches, one write batch.
        assert!(order[32..48].iter().all(|(op, _)| *op == Op::Write));
        assert!(order[48..80].iter().all(|(op, _)| *op == Op::Read));
        assert!(order[80..96].iter().all(|(op, _)| *op == Op::Write));
        assert_eq!(order.len(), 200);
        assert!(s.stats().starved_write_batches >= 2);
    }

    #[test]
    fn writes_alone_are_served() {
        let mut s = Deadline::new();
        add(&mut s, Op::Write, 5, 0);
        add(&mut s, Op::Write, 1, 0);
        assert_eq!(drain(&mut s, 0), [(Op::Write, 1), (Op::Write, 5)]);
    }

    #[test]
    fn merges_with_any_queued_request() {
        let mut s = Deadline::new();
        s.add(Request::new(bio(Op::Write, 0, 8, 1), 0));
        s.add(Request::new(bio(Op::Write, 100, 8, 2), 0));
        s.add(Request::new(bio(Op::Read, 8, 8, 3), 0));
        assert_eq!(s.bio_merge(bio(Op::Write, 8, 8, 4), &L), Ok(MergeKind::Back));
        assert_eq!(s.bio_merge(bio(Op::Write, 92, 8, 5), &L), Ok(MergeKind::Front));
        assert!(s.bio_merge(bio(Op::Write, 50, 8, 6), &L).is_err());
        assert_eq!(s.len(), 3);
        let writes: Vec<(u64, u64)> = core::iter::from_fn(|| s.dispatch(0))
            .filter(|r| r.op == Op::Write)
            .map(|r| (r.sector, r.sectors))
            .collect();
        assert_eq!(writes, [(0, 16), (92, 16)]);
    }

    #[test]
    fn front_merge_rekeys_fifo() {
        let mut s = Deadline::new();
        s.add(Request::new(bio(Op::Read, 100, 8, 1), 0));
        assert!(s.bio_merge(bio(Op::Read, 92, 8, 2), &L).is_ok());
        // Expired: served from the FIFO, which must know the new key.
        let rq = s.dispatch(u64::MAX).unwrap();
        assert_eq!((rq.sector, rq.sectors), (92, 16));
        assert!(s.is_empty());
        assert!(s.dispatch(u64::MAX).is_none());
    }

    #[test]
    fn flushes_bypass_sorting() {
        let mut s = Deadline::new();
        add(&mut s, Op::Read, 1, 0);
        s.add(Request::new(Bio::flush(9), 0));
        assert_eq!(s.len(), 2);
        assert_eq!(s.dispatch(0).unwrap().op, Op::Flush);
        assert!(s.bio_merge(Bio::flush(10), &L).is_err());
        assert_eq!(s.drain().len(), 1);
    }
}
