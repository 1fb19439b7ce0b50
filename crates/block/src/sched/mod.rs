//! I/O schedulers ("elevators"): which queued request the device gets next.
//!
//! # What a scheduler decides (LDD3 ch. 16, "Request Queues"; Linux `elevator.c`)
//!
//! Between the bios coming in and the driver taking requests out sits a
//! policy with two jobs:
//!
//! 1. **Merging** ([`Scheduler::bio_merge`]): find a queued request that a
//!    new bio extends (see [`request`](crate::request) for the rules), so
//!    the device gets fewer, larger commands.
//! 2. **Ordering** ([`Scheduler::dispatch`]): pick the next request. The
//!    name *elevator* comes from the classic policy of sweeping the disk
//!    head in one direction, serving requests in sector order like a lift
//!    serving floors, which minimises seeks on a spinning disk.
//!
//! Two schedulers are provided, selectable by name ([`by_name`], [`NAMES`];
//! the shell's equivalent of `/sys/block/<dev>/queue/scheduler`):
//!
//! | name | order | merges with | good for |
//! |---|---|---|---|
//! | [`noop`](Noop) | FIFO | the last queued request only | devices that reorder themselves (NVMe, virtio on an SSD), RAM disks |
//! | [`deadline`](Deadline) | sector-sorted batches, expiry-bounded, reads preferred | any queued request | seeking devices; bounded latency under mixed load |
//!
//! A scheduler owns the queued requests; the [`queue`](crate::queue)
//! around it owns validation, the depth bound and the statistics.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::bio::Bio;
use crate::request::{Limits, MergeKind, Request};

mod deadline;
mod noop;

pub use deadline::{Deadline, DeadlineStats};
pub use noop::Noop;

/// The names [`by_name`] accepts.
pub const NAMES: &[&str] = &["noop", "deadline"];

/// An I/O scheduler (Linux `struct elevator_type`'s operations).
pub trait Scheduler<P>: Send {
    /// The scheduler's name, as in [`NAMES`].
    fn name(&self) -> &'static str;

    /// Queues a new request (one that no queued request could absorb).
    fn add(&mut self, rq: Request<P>);

    /// Tries to merge `bio` into a queued request (Linux's `bio_merge`
    /// elevator operation). `Ok` tells which side it joined; `Err` gives the
    /// bio back to become a request of its own.
    fn bio_merge(&mut self, bio: Bio<P>, limits: &Limits) -> Result<MergeKind, Bio<P>>;

    /// [`bio_merge`](Self::bio_merge) without saying where.
    fn try_merge(&mut self, bio: Bio<P>, limits: &Limits) -> Result<(), Bio<P>> {
        self.bio_merge(bio, limits).map(|_| ())
    }

    /// Takes the next request for the device, if any; `now_ns` is the clock
    /// the scheduler's deadlines are measured against.
    fn dispatch(&mut self, now_ns: u64) -> Option<Request<P>>;

    /// Requests queued.
    fn len(&self) -> usize;

    /// True if nothing is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every queued request (in dispatch order), e.g. to hand them
    /// to another scheduler.
    fn drain(&mut self) -> Vec<Request<P>> {
        let mut out = Vec::with_capacity(self.len());
        // Bounded by the count taken up front, whatever dispatch does.
        for _ in 0..self.len() {
            match self.dispatch(u64::MAX) {
                Some(rq) => out.push(rq),
                None => break,
            }
        }
        out
    }
}

/// A new scheduler by name (`"noop"` or `"deadline"`, default tunables).
pub fn by_name<P: Send + 'static>(name: &str) -> Option<Box<dyn Scheduler<P>>> {
    match name {
        "noop" => Some(Box::new(Noop::new())),
        "deadline" => Some(Box::new(Deadline::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_name_knows_every_name() {
        for n in NAMES {
            let s = by_name::<u64>(n).unwrap();
            assert_eq!(s.name(), *n);
            assert!(s.is_empty());
        }
        assert!(by_name::<u64>("cfq").is_none());
    }
}
