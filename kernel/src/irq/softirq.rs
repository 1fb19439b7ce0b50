//! Softirqs: per-CPU bottom halves run right after hard IRQs.
//!
//! A hard handler *raises* a softirq (sets a bit in this CPU's pending
//! mask); on IRQ exit, with interrupts back on, the pending vectors run in
//! priority order on the same CPU. Handlers may raise again — the network
//! receive path does under load — so the loop is bounded (Linux's
//! `__do_softirq`: 10 restarts or 2 ms, `deferred::softirq::RestartPolicy`).
//! When the budget is spent with work still pending, the CPU's
//! `ksoftirqd/N` thread is woken and the rest runs there, as an ordinary
//! thread the scheduler time-slices: that is what keeps a flood of
//! interrupts from starving every thread (receive livelock, Mogul &
//! Ramakrishnan 1996). The bookkeeping and the budget policy live in the
//! host-tested `deferred` crate; this module places them per CPU and runs
//! them.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use deferred::softirq::{CpuSoftirqs, RestartPolicy, RunExit};
pub use deferred::softirq::{SoftirqStats, SoftirqVector, NR_SOFTIRQS};
use spin::Once;

use crate::arch::cpu;
use crate::percpu::{self, this_cpu};
use crate::sched::Thread;
use crate::sync::{SpinLockIrq, WaitQueue};

/// One CPU's softirq state (lives in `PerCpu`).
pub struct CpuSoftirq {
    pub state: CpuSoftirqs,
    running: AtomicBool,
    ksoftirqd: Once<Arc<Thread>>,
    ksoftirqd_wait: WaitQueue,
    pub ksoftirqd_wakeups: AtomicU64,
    pub ksoftirqd_runs: AtomicU64,
}

impl CpuSoftirq {
    pub const fn new() -> Self {
        CpuSoftirq {
            state: CpuSoftirqs::new(),
            running: AtomicBool::new(false),
            ksoftirqd: Once::new(),
            ksoftirqd_wait: WaitQueue::new(),
            ksoftirqd_wakeups: AtomicU64::new(0),
            ksoftirqd_runs: AtomicU64::new(0),
        }
    }
}

type HandlerTable = [Option<fn()>; NR_SOFTIRQS];

static HANDLERS: SpinLockIrq<HandlerTable> = SpinLockIrq::new([None; NR_SOFTIRQS]);
const POLICY: RestartPolicy = RestartPolicy::LINUX;

/// Registers the handler of a softirq vector (Linux's `open_softirq`).
pub fn open(vector: SoftirqVector, handler: fn()) {
    HANDLERS.lock()[vector.index()] = Some(handler);
}

/// Marks `vector` pending on this CPU. From thread context, wakes this CPU's
/// ksoftirqd so it runs soon (there is no IRQ exit to run it); from a hard
/// IRQ or a softirq, the running softirq loop or the next IRQ exit picks it up.
pub fn raise(vector: SoftirqVector) {
    let me = this_cpu();
    me.softirq.state.pending.raise(vector);
    if !percpu::in_interrupt() && !in_softirq() {
        wake_ksoftirqd(me);
    }
}

/// True while this CPU runs softirq handlers.
pub fn in_softirq() -> bool {
    this_cpu().softirq.running.load(Ordering::Relaxed)
}

fn wake_ksoftirqd(me: &percpu::PerCpu) {
    if me.softirq.ksoftirqd_wait.wake_up_all() > 0 {
        me.softirq.ksoftirqd_wakeups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs this CPU's pending softirqs with interrupts enabled; returns how
/// the budget ended. Never nests on one CPU.
fn run_pending() -> Option<RunExit> {
    let me = this_cpu();
    if me.softirq.state.pending.pending() == 0 || me.softirq.running.swap(true, Ordering::Acquire) {
        return None;
    }
    // Softirqs are per-CPU state: no preemption (and so no migration to
    // another thread's turn) while they run, as Linux's local_bh_disable.
    percpu::preempt_disable();
    let irqs = cpu::save_and_disable_interrupts();
    cpu::enable_interrupts();
    let exit = me.softirq.state.run(&POLICY, crate::time::uptime_ns, |v| {
        let handler = HANDLERS.lock()[v.index()];
        if let Some(h) = handler {
            h();
        }
    });
    cpu::disable_interrupts();
    me.softirq.running.store(false, Ordering::Release);
    percpu::this_cpu().preempt_count.fetch_sub(1, Ordering::Relaxed);
    cpu::restore_interrupts(irqs);
    Some(exit)
}

/// IRQ exit: run what the handlers raised; hand leftovers to ksoftirqd.
pub fn run_on_irq_exit() {
    if let Some(RunExit::DeferToThread { .. }) = run_pending() {
        wake_ksoftirqd(this_cpu());
    }
}

/// `ksoftirqd/N`: runs softirqs in thread context when interrupts leave
/// too many behind, one budget at a time, yielding between them so other
/// threads keep running.
fn ksoftirqd() {
    let me = this_cpu();
    loop {
        me.softirq.ksoftirqd_wait.wait_event(|| me.softirq.state.pending.pending() != 0);
        me.softirq.ksoftirqd_runs.fetch_add(1, Ordering::Relaxed);
        run_pending();
        crate::sched::yield_now();
    }
}

/// Starts this CPU's ksoftirqd.
pub fn start_ksoftirqd() {
    let me = this_cpu();
    let name = alloc::format!("ksoftirqd/{}", me.cpu());
    match crate::sched::spawn_on(me.cpu(), &name, ksoftirqd) {
        Ok(t) => {
            me.softirq.ksoftirqd.call_once(|| t);
        }
        Err(e) => log::error!("{name}: {e}"),
    }
}

pub fn stats(cpu: usize) -> Option<SoftirqStats> {
    percpu::cpu(cpu).map(|c| c.softirq.state.stats())
}
