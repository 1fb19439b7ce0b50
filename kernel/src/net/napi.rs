//! NAPI: interrupt mitigation for network receive (Linux's `napi_struct`).
//!
//! Under load, one interrupt per packet is how a kernel livelocks: the CPU
//! spends all its time entering and leaving interrupt handlers and never
//! reaches the code that consumes the packets (Mogul & Ramakrishnan,
//! USENIX 1996). NAPI switches to polling while there is work:
//!
//! 1. the driver's hard handler masks the NIC's interrupts and calls
//!    [`Napi::schedule`], which queues the instance on this CPU's poll list
//!    and raises the NET_RX softirq;
//! 2. the softirq calls each instance's `poll(budget)` with at most its
//!    *weight* (64) per turn, round robin, and stops the whole round at a
//!    global budget (300 packets or 2 ms, Linux's `netdev_budget`); what is
//!    left re-raises the softirq, and past the softirq restart limit it runs
//!    in `ksoftirqd`, a thread the scheduler shares fairly with the
//!    applications;
//! 3. a poll that finds less than its weight of work completes: the
//!    instance leaves the list and the driver unmasks its interrupts.
//!
//! So an idle NIC costs one interrupt per burst, and a flooded one costs no
//! interrupts at all — the CPU polls, in bounded slices.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::irq::softirq::{self, SoftirqVector};
use crate::percpu::{this_cpu, MAX_CPUS};
use crate::sync::SpinLockIrq;

pub const WEIGHT: usize = 64;
/// Packets per NET_RX softirq round (Linux's `netdev_budget`).
pub const ROUND_BUDGET: usize = 300;
/// Time per round (Linux's `netdev_budget_usecs`).
pub const ROUND_NS: u64 = 2_000_000;

/// What a driver provides: process up to `budget` packets, return how many.
pub trait Poll: Send + Sync {
    fn poll(&self, budget: usize) -> usize;
    /// Called when a poll completed under budget: unmask the device.
    fn complete(&self);
}

pub struct Napi {
    scheduled: AtomicBool,
    driver: Arc<dyn Poll>,
    pub weight: usize,
    pub polls: AtomicU64,
    pub packets: AtomicU64,
    pub completions: AtomicU64,
    /// Rounds that ended with this instance still having work.
    pub budget_exhausted: AtomicU64,
}

static POLL_LISTS: [SpinLockIrq<VecDeque<Arc<Napi>>>; MAX_CPUS] =
    [const { SpinLockIrq::new(VecDeque::new()) }; MAX_CPUS];

pub struct NetRxStats {
    pub rounds: AtomicU64,
    pub round_budget_hits: AtomicU64,
    pub round_time_hits: AtomicU64,
}

pub static STATS: NetRxStats =
    NetRxStats { rounds: AtomicU64::new(0), round_budget_hits: AtomicU64::new(0), round_time_hits: AtomicU64::new(0) };

impl Napi {
    pub fn new(driver: Arc<dyn Poll>) -> Arc<Napi> {
        Arc::new(Napi {
            scheduled: AtomicBool::new(false),
            driver,
            weight: WEIGHT,
            polls: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            completions: AtomicU64::new(0),
            budget_exhausted: AtomicU64::new(0),
        })
    }

    /// Queues the instance for polling on this CPU (from the hard handler).
    /// Scheduling an already scheduled instance does nothing.
    pub fn schedule(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let cpu = this_cpu().cpu();
        POLL_LISTS[cpu].lock().push_back(self.clone());
        softirq::raise(SoftirqVector::NetRx);
    }
}

/// The NET_RX softirq: poll this CPU's instances under the round budget.
fn net_rx_action() {
    let cpu = this_cpu().cpu();
    STATS.rounds.fetch_add(1, Ordering::Relaxed);
    let start = crate::time::uptime_ns();
    let mut budget = ROUND_BUDGET;
    loop {
        let Some(napi) = POLL_LISTS[cpu].lock().pop_front() else { return };
        let work = napi.driver.poll(napi.weight.min(budget));
        napi.polls.fetch_add(1, Ordering::Relaxed);
        napi.packets.fetch_add(work as u64, Ordering::Relaxed);
        budget = budget.saturating_sub(work);
        if work < napi.weight {
            // Done for now: leave the list and let the device interrupt again.
            napi.scheduled.store(false, Ordering::Release);
            napi.completions.fetch_add(1, Ordering::Relaxed);
            napi.driver.complete();
        } else {
            // Still busy: to the back of the list, interrupts stay masked.
            napi.budget_exhausted.fetch_add(1, Ordering::Relaxed);
            POLL_LISTS[cpu].lock().push_back(napi);
        }
        let out_of_time = crate::time::uptime_ns() - start >= ROUND_NS;
        if budget == 0 || out_of_time {
            if budget == 0 {
                STATS.round_budget_hits.fetch_add(1, Ordering::Relaxed);
            } else {
                STATS.round_time_hits.fetch_add(1, Ordering::Relaxed);
            }
            if !POLL_LISTS[cpu].lock().is_empty() {
                softirq::raise(SoftirqVector::NetRx);
            }
            return;
        }
    }
}

pub fn init() {
    softirq::open(SoftirqVector::NetRx, net_rx_action);
}
