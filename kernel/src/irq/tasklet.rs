//! Tasklets on the TASKLET softirq: `Tasklet::schedule` from a hard IRQ
//! handler queues the tasklet on *this* CPU and raises the softirq; on IRQ
//! exit the softirq runs it. The guarantees (scheduled twice → runs once,
//! never concurrently with itself, runs on the CPU that scheduled it) and
//! the run protocol are implemented and host-tested in
//! `deferred::tasklet`; this module gives each CPU its queue and each
//! tasklet an id.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use deferred::tasklet::{RunOutcome, TaskletId, TaskletQueue, TaskletState, TaskletStats};

use super::softirq::{self, SoftirqVector};
use crate::percpu::{this_cpu, MAX_CPUS};
use crate::sync::SpinLockIrq;

/// Room for every tasklet on every queue: a tasklet is on at most one queue
/// at a time (its SCHED bit), so a queue this size never overflows.
const MAX_TASKLETS: usize = 256;

pub struct Tasklet {
    id: TaskletId,
    state: TaskletState,
    func: Box<dyn Fn() + Send + Sync>,
}

static REGISTRY: SpinLockIrq<Vec<Option<Arc<Tasklet>>>> = SpinLockIrq::new(Vec::new());
static QUEUES: [SpinLockIrq<TaskletQueue<MAX_TASKLETS>>; MAX_CPUS] =
    [const { SpinLockIrq::new(TaskletQueue::new()) }; MAX_CPUS];

#[derive(Debug)]
pub struct TooManyTasklets;

impl Tasklet {
    /// Creates a tasklet running `func` (softirq context: no sleeping).
    pub fn new(func: impl Fn() + Send + Sync + 'static) -> Result<Arc<Tasklet>, TooManyTasklets> {
        let mut reg = REGISTRY.lock();
        let id = match reg.iter().position(Option::is_none) {
            Some(i) => i,
            None if reg.len() < MAX_TASKLETS => {
                reg.push(None);
                reg.len() - 1
            }
            None => return Err(TooManyTasklets),
        };
        let t = Arc::new(Tasklet { id: id as TaskletId, state: TaskletState::new(), func: Box::new(func) });
        reg[id] = Some(t.clone());
        Ok(t)
    }

    /// Queues the tasklet on this CPU unless it is already scheduled
    /// (Linux's `tasklet_schedule`). Callable from hard-IRQ context.
    pub fn schedule(&self) {
        if self.state.try_schedule() {
            let cpu = this_cpu().cpu();
            // Cannot overflow, see MAX_TASKLETS.
            let _ = QUEUES[cpu].lock().push(self.id);
            softirq::raise(SoftirqVector::Tasklet);
        }
    }

    pub fn disable(&self) {
        self.state.disable();
        // tasklet_disable waits for a run in progress to finish.
        while self.state.is_running() {
            core::hint::spin_loop();
        }
    }

    pub fn enable(&self) {
        self.state.enable();
    }

    pub fn is_scheduled(&self) -> bool {
        self.state.is_scheduled()
    }

    pub fn stats(&self) -> TaskletStats {
        self.state.stats()
    }

    /// Unregisters the tasklet (it must not be scheduled any more).
    pub fn kill(self: &Arc<Self>) {
        self.disable();
        REGISTRY.lock()[usize::from(self.id)] = None;
    }
}

/// The TASKLET softirq handler: run what this CPU queued.
fn run_queue() {
    let cpu = this_cpu().cpu();
    let batch = QUEUES[cpu].lock().len();
    for _ in 0..batch {
        let Some(id) = QUEUES[cpu].lock().pop() else { break };
        let tasklet = REGISTRY.lock().get(usize::from(id)).cloned().flatten();
        let Some(t) = tasklet else { continue };
        match t.state.run(|| (t.func)()) {
            RunOutcome::Ran | RunOutcome::NotScheduled => {}
            RunOutcome::Busy | RunOutcome::Disabled => {
                let _ = QUEUES[cpu].lock().push(id);
                softirq::raise(SoftirqVector::Tasklet);
            }
        }
    }
}

pub fn init() {
    softirq::open(SoftirqVector::Tasklet, run_queue);
}
