//! Workqueues: deferred work in process context (LDD3 ch. 7). Unlike
//! softirqs and tasklets, a work item runs in a kernel thread, so it may
//! sleep, take mutexes and allocate freely. A `WorkQueue` has one worker
//! thread per CPU; `queue` puts an item on the queue unless it is already
//! pending (Linux's `queue_work` returns false then), and `flush` waits
//! until everything queued before it has run.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::sync::{SpinLockIrq, WaitQueue};

pub struct Work {
    pending: AtomicBool,
    func: Box<dyn Fn() + Send + Sync>,
}

impl Work {
    pub fn new(func: impl Fn() + Send + Sync + 'static) -> Arc<Work> {
        Arc::new(Work { pending: AtomicBool::new(false), func: Box::new(func) })
    }
}

pub struct WorkQueue {
    queue: SpinLockIrq<VecDeque<Arc<Work>>>,
    more_work: WaitQueue,
    /// Items started and finished, for `flush`.
    queued: AtomicU64,
    done: AtomicU64,
    progress: WaitQueue,
}

impl WorkQueue {
    /// Creates the queue and its workers, one per online CPU.
    pub fn new(name: &str) -> Result<Arc<WorkQueue>, crate::mm::MmError> {
        let wq = Arc::new(WorkQueue {
            queue: SpinLockIrq::new(VecDeque::new()),
            more_work: WaitQueue::new(),
            queued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            progress: WaitQueue::new(),
        });
        for cpu in crate::percpu::possible().filter(|c| c.online.load(Ordering::Acquire)).map(|c| c.cpu()) {
            let worker = wq.clone();
            crate::sched::spawn_on(cpu, &alloc::format!("kworker/{cpu}:{name}"), move || worker.run())?;
        }
        Ok(wq)
    }

    /// Queues `work` unless it is already pending. Callable from any context.
    pub fn queue(&self, work: &Arc<Work>) -> bool {
        if work.pending.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.queue.lock().push_back(work.clone());
        self.more_work.wake_up_all();
        true
    }

    /// Sleeps until every item queued before the call has finished.
    pub fn flush(&self) {
        let target = self.queued.load(Ordering::Acquire);
        self.progress.wait_event(|| self.done.load(Ordering::Acquire) >= target);
    }

    fn run(&self) {
        loop {
            let mut item = None;
            self.more_work.wait_event(|| {
                item = self.queue.lock().pop_front();
                item.is_some()
            });
            if let Some(work) = item {
                work.pending.store(false, Ordering::Release);
                (work.func)();
                self.done.fetch_add(1, Ordering::AcqRel);
                self.progress.wake_up_all();
            }
        }
    }
}

static SYSTEM: spin::Once<Arc<WorkQueue>> = spin::Once::new();

/// The shared "events" workqueue (Linux's `system_wq`).
pub fn system() -> Option<&'static Arc<WorkQueue>> {
    SYSTEM.get()
}

/// Creates the system workqueue once every CPU is online.
pub fn init() {
    match WorkQueue::new("events") {
        Ok(wq) => {
            SYSTEM.call_once(|| wq);
        }
        Err(e) => log::error!("system workqueue: {e}"),
    }
}
