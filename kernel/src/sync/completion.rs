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

    /// Like [`wait`](Self::wait), but gives up after `ticks` jiffies;
    /// returns whether a completion was consumed.
    pub fn wait_timeout(self: &alloc::sync::Arc<Self>, ticks: u64) -> bool {
        let expired = alloc::sync::Arc::new(core::sync::atomic::AtomicBool::new(false));
        let (flag, me) = (expired.clone(), self.clone());
        let timer = crate::timer::Timer::new(move || {
            flag.store(true, core::sync::atomic::Ordering::Release);
            me.waiters.wake_up_all();
        });
        if let Ok(t) = &timer {
            t.start_in(ticks.max(1));
        }
        let mut got = false;
        self.waiters.wait_event(|| {
            got = self.try_consume();
            got || expired.load(core::sync::atomic::Ordering::Acquire) || timer.is_err()
        });
        got
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
