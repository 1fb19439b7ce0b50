//! Kernel timers (Linux's `timer_list`: `mod_timer` / `del_timer`): run a
//! callback in softirq context once a deadline in jiffies has passed.
//!
//! Deadlines sit in one `deferred::timer::TimerQueue` (ordered by deadline,
//! stable for ties: host-tested). The tick only compares the earliest
//! deadline with `jiffies` and raises the timer softirq; the softirq pops
//! every expired timer and runs the callbacks with interrupts enabled.
//! A periodic timer is re-armed after its callback runs.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use deferred::timer::TimerQueue;

use crate::irq::softirq::{self, SoftirqVector};
use crate::sync::SpinLockIrq;
use crate::time::jiffies;

const MAX_TIMERS: usize = 256;

type Callback = Arc<dyn Fn() + Send + Sync>;

struct Slot {
    callback: Callback,
    period: Option<u64>,
}

static QUEUE: SpinLockIrq<TimerQueue<MAX_TIMERS>> = SpinLockIrq::new(TimerQueue::new());
static SLOTS: SpinLockIrq<Vec<Option<Slot>>> = SpinLockIrq::new(Vec::new());
pub static FIRED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerError {
    TooManyTimers,
}

impl core::fmt::Display for TimerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "all {MAX_TIMERS} timers in use")
    }
}

/// A kernel timer; deleted (if pending) and its slot freed on drop.
pub struct Timer {
    id: u16,
}

impl Timer {
    /// A one-shot timer running `callback` (softirq context: must not sleep).
    pub fn new(callback: impl Fn() + Send + Sync + 'static) -> Result<Timer, TimerError> {
        Self::create(Arc::new(callback), None)
    }

    /// A timer that re-arms itself every `period` jiffies once started.
    pub fn periodic(period: u64, callback: impl Fn() + Send + Sync + 'static) -> Result<Timer, TimerError> {
        Self::create(Arc::new(callback), Some(period.max(1)))
    }

    fn create(callback: Callback, period: Option<u64>) -> Result<Timer, TimerError> {
        let mut slots = SLOTS.lock();
        let slot = Slot { callback, period };
        let id = match slots.iter().position(Option::is_none) {
            Some(i) => {
                slots[i] = Some(slot);
                i
            }
            None if slots.len() < MAX_TIMERS => {
                slots.push(Some(slot));
                slots.len() - 1
            }
            None => return Err(TimerError::TooManyTimers),
        };
        Ok(Timer { id: id as u16 })
    }

    /// Arms (or re-arms) the timer for `deadline` in jiffies; returns
    /// whether it was pending (Linux's `mod_timer`).
    pub fn modify(&self, deadline: u64) -> bool {
        let mut q = QUEUE.lock();
        let was = q.remove(self.id);
        let _ = q.add(self.id, deadline);
        was
    }

    /// Arms the timer `delay` jiffies from now.
    pub fn start_in(&self, delay: u64) -> bool {
        self.modify(jiffies() + delay)
    }

    /// Disarms the timer; returns whether it was pending (`del_timer`).
    pub fn delete(&self) -> bool {
        QUEUE.lock().remove(self.id)
    }

    pub fn is_pending(&self) -> bool {
        QUEUE.lock().is_pending(self.id)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.delete();
        SLOTS.lock()[usize::from(self.id)] = None;
    }
}

/// From the tick (hard IRQ): raise the timer softirq if something is due.
pub fn on_tick() {
    if QUEUE.lock().next_deadline().is_some_and(|d| d <= jiffies()) {
        softirq::raise(SoftirqVector::Timer);
    }
}

/// The timer softirq: run every expired timer, earliest first.
fn run_expired() {
    let now = jiffies();
    let mut due: Vec<u16> = Vec::new();
    QUEUE.lock().expire(now, |id| due.push(id));
    for id in due {
        let slot = SLOTS.lock().get(usize::from(id)).and_then(|s| s.as_ref().map(|s| (s.callback.clone(), s.period)));
        let Some((callback, period)) = slot else { continue };
        FIRED.fetch_add(1, Ordering::Relaxed);
        callback();
        if let Some(p) = period {
            let mut q = QUEUE.lock();
            if !q.is_pending(id) {
                let _ = q.add(id, now + p);
            }
        }
    }
}

pub fn init() {
    softirq::open(SoftirqVector::Timer, run_expired);
}
