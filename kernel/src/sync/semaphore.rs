//! Counting semaphores (`down`/`up`): at most `count` holders at a time;
//! `down` sleeps while the count is zero. Threads only.

use super::{SpinLockIrq, WaitQueue};

pub struct Semaphore {
    count: SpinLockIrq<usize>,
    waiters: WaitQueue,
}

impl Semaphore {
    pub const fn new(count: usize) -> Self {
        Semaphore { count: SpinLockIrq::new(count), waiters: WaitQueue::new() }
    }

    pub fn down(&self) {
        self.waiters.wait_event(|| self.try_down());
    }

    pub fn try_down(&self) -> bool {
        let mut count = self.count.lock();
        if *count > 0 {
            *count -= 1;
            true
        } else {
            false
        }
    }

    pub fn up(&self) {
        *self.count.lock() += 1;
        self.waiters.wake_up_all();
    }

    pub fn count(&self) -> usize {
        *self.count.lock()
    }
}
