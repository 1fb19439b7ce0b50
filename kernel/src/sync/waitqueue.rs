//! Wait queues: sleep until a condition holds (LDD3's `wait_event` /
//! `wake_up`).
//!
//! The sleeper puts itself on the queue and marks itself `Sleeping` — both
//! under the queue's lock — *before* re-checking the condition; a waker
//! changes the condition first and then wakes. Whatever the interleaving, either the sleeper sees the
//! condition true, or the waker sees it asleep and makes it runnable — no
//! wake-up is lost. Waking is allowed from interrupt context.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use super::SpinLockIrq;
use crate::sched::{self, Thread};

pub struct WaitQueue {
    waiters: SpinLockIrq<VecDeque<Arc<Thread>>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue { waiters: SpinLockIrq::new(VecDeque::new()) }
    }

    /// Sleeps until `condition()` returns true. The condition is evaluated
    /// in the sleeper's context (it may take locks, but must not sleep).
    pub fn wait_event(&self, mut condition: impl FnMut() -> bool) {
        if condition() {
            return;
        }
        let me = sched::current();
        loop {
            {
                // Queue and mark asleep under the queue's lock (Linux's
                // prepare_to_wait): a waker that takes the queue then always
                // finds us `Sleeping`, so its wake-up cannot fall between the
                // two steps and get lost.
                let mut waiters = self.waiters.lock();
                if !waiters.iter().any(|t| Arc::ptr_eq(t, &me)) {
                    waiters.push_back(me.clone());
                }
                sched::set_current_sleeping();
            }
            if condition() {
                sched::set_current_running();
                self.waiters.lock().retain(|t| !Arc::ptr_eq(t, &me));
                return;
            }
            sched::schedule();
        }
    }

    /// Wakes every sleeper; returns how many were asleep.
    pub fn wake_up_all(&self) -> usize {
        let waiters: VecDeque<Arc<Thread>> = core::mem::take(&mut *self.waiters.lock());
        waiters.iter().filter(|t| sched::wake(t)).count()
    }
}
