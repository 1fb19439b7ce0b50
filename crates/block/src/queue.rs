//! The request queue: bios in, merged requests out, a bounded number in
//! flight, everything counted.
//!
//! # The path of a bio (LDD3 ch. 16; Linux `blk-mq`)
//!
//! ```text
//!  submit(bio) ─▶ validate ─▶ scheduler.bio_merge ─ok─▶ (counted as a merge)
//!                                  │ no
//!                                  ▼
//!                          Request::new ─▶ scheduler.add
//!
//!  dispatch() ─▶ in_flight < depth? ─▶ scheduler.dispatch ─▶ driver
//!  complete(rq, ok) ◀─────────────── device interrupt ◀────────┘
//!     in_flight -= 1, latency → histogram, per-op counters
//! ```
//!
//! - **Validation** refuses what no device should see: ranges past the end
//!   of the disk, misaligned segments, a single bio beyond the device's
//!   [`Limits`] (the submitter splits; this layer does not). The bio is
//!   handed back with the reason.
//! - **Depth**: a device has a fixed number of command slots (virtio ring
//!   descriptors, NVMe queue entries). [`dispatch`](RequestQueue::dispatch)
//!   refuses to have more than `depth` requests outstanding; while the
//!   device is busy, new bios wait in the scheduler, which is exactly where
//!   they can still be merged and sorted.
//! - **Statistics** ([`QueueStats`]) follow `/sys/block/<dev>/stat`:
//!   per-operation counts and sectors counted at *completion* of a
//!   successful request, merges counted at submission, plus the latency
//!   histogram (submission of the request's first bio to completion).
//!
//! The kernel holds a `RequestQueue` behind a lock shared by the submitting
//! threads and the driver's completion path.

use alloc::boxed::Box;
use core::convert::Infallible;
use core::fmt;

use crate::bio::{Bio, BioError, Op};
use crate::histogram::Histogram;
use crate::request::{Limits, MergeKind, Request};
use crate::sched::{self, Scheduler};

/// Counters of one queue (Linux `/sys/block/<dev>/stat`, roughly).
#[derive(Debug, Clone, Default)]
pub struct QueueStats {
    /// Bios accepted.
    pub bios: u64,
    /// Bios refused by validation.
    pub invalid: u64,
    /// Requests created (bios that merged into none).
    pub requests: u64,
    /// Bios merged into a queued request.
    pub merges: u64,
    /// … of which back merges.
    pub back_merges: u64,
    /// … of which front merges.
    pub front_merges: u64,
    /// Requests dispatched to the driver.
    pub dispatched: u64,
    /// Read requests completed successfully.
    pub reads: u64,
    /// Write requests completed successfully.
    pub writes: u64,
    /// Flush requests completed successfully.
    pub flushes: u64,
    /// Requests completed with an error.
    pub errors: u64,
    /// Completions with nothing in flight (a driver bug; ignored).
    pub spurious_completions: u64,
    /// Scheduler switches.
    pub scheduler_switches: u64,
    /// Queued requests moved to a new scheduler by those switches.
    pub requests_moved: u64,
    /// Most requests ever in flight at once.
    pub max_in_flight: usize,
    /// Sectors read by successful requests.
    pub sectors_read: u64,
    /// Sectors written by successful requests.
    pub sectors_written: u64,
    /// Request latency, submission to completion.
    pub latency: Histogram,
}

impl fmt::Display for QueueStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bios {} invalid {} requests {} merges {} (back {} front {}) dispatched {} \
             reads {} ({} sectors) writes {} ({} sectors) flushes {} errors {} max_in_flight {}",
            self.bios,
            self.invalid,
            self.requests,
            self.merges,
            self.back_merges,
            self.front_merges,
            self.dispatched,
            self.reads,
            self.sectors_read,
            self.writes,
            self.sectors_written,
            self.flushes,
            self.errors,
            self.max_in_flight
        )
    }
}

/// No scheduler has that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownScheduler;

impl fmt::Display for UnknownScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scheduler (known: {})", sched::NAMES.join(", "))
    }
}

/// One device's request queue.
pub struct RequestQueue<P> {
    capacity: u64,
    limits: Limits,
    sched: Box<dyn Scheduler<P>>,
    depth: usize,
    in_flight: usize,
    stats: QueueStats,
}

impl<P> fmt::Debug for RequestQueue<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestQueue")
            .field("capacity", &self.capacity)
            .field("limits", &self.limits)
            .field("scheduler", &self.sched.name())
            .field("queued", &self.sched.len())
            .field("depth", &self.depth)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<P: Send + 'static> RequestQueue<P> {
    /// A queue for a disk of `capacity_sectors`, whose device takes requests
    /// within `limits` and up to `depth` at a time (0 is taken as 1).
    pub fn new(capacity_sectors: u64, limits: Limits, scheduler: Box<dyn Scheduler<P>>, depth: usize) -> Self {
        RequestQueue {
            capacity: capacity_sectors,
            limits,
            sched: scheduler,
            depth: depth.max(1),
            in_flight: 0,
            stats: QueueStats::default(),
        }
    }

    /// Validates `bio`, merges it into a queued request if one fits, else
    /// queues it as a new request. A refused bio comes back with the reason.
    pub fn submit(&mut self, bio: Bio<P>, now_ns: u64) -> Result<(), (Bio<P>, BioError)> {
        let check = bio.validate(self.capacity).and_then(|()| {
            if self.limits.admits(&bio) {
                Ok(())
            } else {
                Err(BioError::TooLarge { sectors: bio.sectors(), segments: bio.segments.len() })
            }
        });
        if let Err(e) = check {
            self.stats.invalid += 1;
            return Err((bio, e));
        }
        self.stats.bios += 1;
        match self.sched.bio_merge(bio, &self.limits) {
            Ok(kind) => {
                self.stats.merges += 1;
                match kind {
                    MergeKind::Back => self.stats.back_merges += 1,
                    MergeKind::Front => self.stats.front_merges += 1,
                }
            }
            Err(bio) => {
                self.stats.requests += 1;
                self.sched.add(Request::new(bio, now_ns));
            }
        }
        Ok(())
    }

    /// The next request for the device: `None` if `depth` requests are
    /// already in flight or nothing is queued.
    pub fn dispatch(&mut self, now_ns: u64) -> Option<Request<P>> {
        if self.in_flight >= self.depth {
            return None;
        }
        let rq = self.sched.dispatch(now_ns)?;
        self.in_flight += 1;
        self.stats.dispatched += 1;
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.in_flight);
        Some(rq)
    }

    /// The device finished `rq` (successfully if `ok`) at `now_ns`.
    pub fn complete(&mut self, rq: &Request<P>, now_ns: u64, ok: bool) {
        self.complete_raw(rq.op, rq.sectors, rq.submitted_ns, now_ns, ok);
    }

    /// [`complete`](Self::complete) for a driver that kept only the
    /// request's op, size and submission time.
    pub fn complete_raw(&mut self, op: Op, sectors: u64, submitted_ns: u64, now_ns: u64, ok: bool) {
        if self.in_flight == 0 {
            self.stats.spurious_completions += 1;
            return;
        }
        self.in_flight -= 1;
        self.stats.latency.record(now_ns.saturating_sub(submitted_ns));
        if !ok {
            self.stats.errors += 1;
            return;
        }
        match op {
            Op::Read => {
                self.stats.reads += 1;
                self.stats.sectors_read += sectors;
            }
            Op::Write => {
                self.stats.writes += 1;
                self.stats.sectors_written += sectors;
            }
            Op::Flush => self.stats.flushes += 1,
        }
    }

    /// Replaces the scheduler, moving the queued requests over (in the old
    /// scheduler's dispatch order; counted in
    /// [`QueueStats::requests_moved`]). Requests in flight are the
    /// driver's and unaffected. Cannot fail: the `Result` is for callers
    /// that treat every switch alike.
    pub fn set_scheduler(&mut self, s: Box<dyn Scheduler<P>>) -> Result<(), Infallible> {
        let mut old = core::mem::replace(&mut self.sched, s);
        let moved = old.drain();
        self.stats.scheduler_switches += 1;
        self.stats.requests_moved += moved.len() as u64;
        for rq in moved {
            self.sched.add(rq);
        }
        Ok(())
    }

    /// [`set_scheduler`](Self::set_scheduler) by name (see
    /// [`sched::NAMES`]).
    pub fn set_scheduler_by_name(&mut self, name: &str) -> Result<(), UnknownScheduler> {
        let s = sched::by_name(name).ok_or(UnknownScheduler)?;
        let Ok(()) = self.set_scheduler(s);
        Ok(())
    }
}

impl<P> RequestQueue<P> {
    /// The current scheduler's name.
    pub fn scheduler_name(&self) -> &'static str {
        self.sched.name()
    }

    /// Requests waiting in the scheduler.
    pub fn queued(&self) -> usize {
        self.sched.len()
    }

    /// Requests dispatched and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The depth bound.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The disk's size in sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The disk was resized: bios are checked against `sectors` from now on
    /// (requests already queued were checked against the old size).
    pub fn set_capacity(&mut self, sectors: u64) {
        self.capacity = sectors;
    }

    /// The device's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::tests::bio;
    use crate::sched::{Deadline, Noop};
    use alloc::vec::Vec;

    const L: Limits = Limits { max_sectors: 32, max_segments: 8 };

    fn queue(name: &str, depth: usize) -> RequestQueue<u64> {
        RequestQueue::new(1000, L, sched::by_name(name).unwrap(), depth)
    }

    #[test]
    fn submit_merges_and_counts() {
        for name in sched::NAMES {
            let mut q = queue(name, 4);
            q.submit(bio(Op::Write, 100, 8, 1), 0).unwrap();
            q.submit(bio(Op::Write, 108, 8, 2), 1).unwrap(); // back
            q.submit(bio(Op::Write, 92, 8, 3), 2).unwrap(); // front
            q.submit(bio(Op::Read, 116, 8, 4), 3).unwrap(); // other op
            q.submit(bio(Op::Write, 116, 16, 5), 3).unwrap(); // would exceed 32
            let s = q.stats();
            assert_eq!((s.bios, s.requests, s.merges), (5, 3, 2), "{name}");
            assert_eq!((s.back_merges, s.front_merges), (1, 1), "{name}");
            assert_eq!(q.queued(), 3);
        }
    }

    #[test]
    fn invalid_bios_come_back() {
        let mut q = queue("noop", 4);
        let (b, e) = q.submit(bio(Op::Read, 999, 2, 7), 0).unwrap_err();
        assert_eq!(b.id, 7);
        assert!(matches!(e, BioError::OutOfRange { .. }));
        let (_, e) = q.submit(bio(Op::Read, 0, 33, 8), 0).unwrap_err();
        assert_eq!(e, BioError::TooLarge { sectors: 33, segments: 1 });
        assert_eq!(q.stats().invalid, 2);
        assert_eq!(q.stats().bios, 0);
        assert_eq!(q.queued(), 0);
    }

    #[test]
    fn a_resized_disk_takes_bios_up_to_its_new_end() {
        let mut q = queue("noop", 4);
        assert!(q.submit(bio(Op::Read, 1000, 8, 1), 0).is_err());
        q.set_capacity(2000);
        assert_eq!(q.capacity(), 2000);
        q.submit(bio(Op::Read, 1000, 8, 2), 0).unwrap();
        q.set_capacity(500);
        assert!(matches!(q.submit(bio(Op::Read, 600, 8, 3), 0), Err((_, BioError::OutOfRange { .. }))));
    }

    #[test]
    fn depth_bound_and_in_flight() {
        let mut q = queue("noop", 2);
        for i in 0..4 {
            q.submit(bio(Op::Read, i * 100, 1, i), 0).unwrap();
        }
        let a = q.dispatch(10).unwrap();
        let b = q.dispatch(10).unwrap();
        assert!(q.dispatch(10).is_none(), "depth 2 reached");
        assert_eq!((q.in_flight(), q.queued()), (2, 2));
        q.complete(&a, 1_000_000, true);
        assert_eq!(q.in_flight(), 1);
        let c = q.dispatch(10).unwrap();
        assert!(q.dispatch(10).is_none());
        q.complete(&b, 2_000_000, false);
        q.complete(&c, 2_000_000, true);
        let d = q.dispatch(10).unwrap();
        q.complete(&d, 3_000, true);
        assert!(q.dispatch(10).is_none(), "empty");
        let s = q.stats();
        assert_eq!(s.max_in_flight, 2);
        assert_eq!((s.reads, s.errors, s.sectors_read), (3, 1, 3));
        assert_eq!(s.latency.count(), 4);
        assert_eq!(s.latency.percentile(25.0), 4); // 3 µs
        assert_eq!(s.latency.percentile(100.0), 2048); // 2 ms
                                                       // A completion with nothing in flight is counted, not obeyed.
        q.complete(&d, 0, true);
        assert_eq!(q.in_flight(), 0);
        assert_eq!(q.stats().spurious_completions, 1);
    }

    #[test]
    fn flush_and_write_counters() {
        let mut q = queue("deadline", 8);
        q.submit(bio(Op::Write, 0, 4, 1), 0).unwrap();
        q.submit(Bio::flush(2), 0).unwrap();
        let mut fua = bio(Op::Write, 4, 4, 3);
        fua.flags.fua = true;
        q.submit(fua, 0).unwrap(); // not merged though adjacent
        assert_eq!(q.stats().merges, 0);
        let rqs: Vec<_> = core::iter::from_fn(|| q.dispatch(0)).collect();
        assert_eq!(rqs[0].op, Op::Flush);
        for rq in &rqs {
            q.complete(rq, 0, true);
        }
        let s = q.stats();
        assert_eq!((s.writes, s.flushes, s.sectors_written), (2, 1, 8));
    }

    #[test]
    fn switch_scheduler_moves_requests() {
        let mut q: RequestQueue<u64> = RequestQueue::new(1000, L, Box::new(Noop::new()), 4);
        for s in [30u64, 10, 20] {
            q.submit(bio(Op::Read, s, 1, s), 0).unwrap();
        }
        assert_eq!(q.set_scheduler(Box::new(Deadline::new())), Ok(()));
        assert_eq!(q.stats().requests_moved, 3);
        assert_eq!(q.scheduler_name(), "deadline");
        let order: Vec<u64> = core::iter::from_fn(|| q.dispatch(0)).map(|r| r.sector).collect();
        assert_eq!(order, [10, 20, 30]);
        assert_eq!(q.set_scheduler_by_name("cfq"), Err(UnknownScheduler));
        assert_eq!(q.set_scheduler_by_name("noop"), Ok(()));
        assert_eq!(q.stats().scheduler_switches, 2);
    }
}
