//! Kernel threads and the scheduler.
//!
//! Every thread has its own kernel stack and is pinned to one CPU (no
//! migration yet: each CPU runs the threads of its own run queue, round
//! robin). A thread leaves the CPU in exactly one place, [`schedule`]:
//! voluntarily (`yield_now`, sleeping on a wait queue) or when the timer
//! interrupt asks for it — the IRQ exit path calls `schedule` while still
//! on the interrupted thread's stack, and the `iretq` happens when that
//! thread is picked again (Linux's `preempt_schedule_irq`).
//!
//! States: `Running` (on its CPU now), `Runnable` (in a run queue),
//! `Sleeping` (on a wait queue; only [`wake`] makes it runnable), `Dead`.
//! Going to sleep is race-free because the sleeper sets `Sleeping` *before*
//! re-checking its condition, and `wake` only acts on `Sleeping` threads:
//! a wake-up that comes early leaves the thread `Running`, and it sees the
//! condition true (see `sync::WaitQueue`).

mod switch;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use alloc::collections::VecDeque;
use spin::Once;

use crate::arch::cpu;
use crate::mm::frame::Pages;
use crate::percpu::{self, this_cpu};
use crate::sync::SpinLockIrq;

/// Threads a run queue holds without growing (see `init_cpu`).
const RUNQUEUE_CAPACITY: usize = 256;

/// 16 KiB kernel stacks (order 2).
const STACK_ORDER: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Running = 0,
    Runnable = 1,
    Sleeping = 2,
    Dead = 3,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Running,
            1 => State::Runnable,
            2 => State::Sleeping,
            _ => State::Dead,
        }
    }
}

type Entry = Box<dyn FnOnce() + Send>;

pub struct Thread {
    pub id: u64,
    pub name: String,
    cpu: usize,
    state: AtomicU8,
    /// In its CPU's run queue (guards against double enqueueing).
    on_rq: AtomicBool,
    idle: bool,
    /// The saved stack pointer while switched out.
    rsp: UnsafeCell<u64>,
    _stack: Option<Pages>,
    entry: SpinLockIrq<Option<Entry>>,
    pub switches_in: AtomicU64,
}

// SAFETY: `rsp` is only touched by the thread's own CPU with interrupts off,
// inside `schedule`; everything else is atomics or locks.
unsafe impl Sync for Thread {}
unsafe impl Send for Thread {}

impl Thread {
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }
    fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::Release);
    }
}

/// Per-CPU scheduler state (lives in `PerCpu`).
pub struct CpuSched {
    runqueue: SpinLockIrq<VecDeque<Arc<Thread>>>,
    current: SpinLockIrq<Option<Arc<Thread>>>,
    idle: Once<Arc<Thread>>,
    /// The thread we just switched away from, dropped by the next one once
    /// it is off that thread's stack (a dead thread's stack is freed then).
    last: SpinLockIrq<Option<Arc<Thread>>>,
}

impl CpuSched {
    /// True if a thread other than the running one waits for this CPU.
    pub fn has_waiting(&self) -> bool {
        !self.runqueue.lock().is_empty()
    }

    pub const fn new() -> Self {
        CpuSched {
            runqueue: SpinLockIrq::new(VecDeque::new()),
            current: SpinLockIrq::new(None),
            idle: Once::new(),
            last: SpinLockIrq::new(None),
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// Every live thread, for `ps`.
static THREADS: SpinLockIrq<Vec<Arc<Thread>>> = SpinLockIrq::new(Vec::new());

fn new_thread(name: &str, cpu: usize, stack: Option<Pages>, entry: Option<Entry>, idle: bool) -> Arc<Thread> {
    Arc::new(Thread {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        name: String::from(name),
        cpu,
        state: AtomicU8::new(State::Runnable as u8),
        on_rq: AtomicBool::new(false),
        idle,
        rsp: UnsafeCell::new(0),
        _stack: stack,
        entry: SpinLockIrq::new(entry),
        switches_in: AtomicU64::new(0),
    })
}

/// Turns the code running on this CPU (the boot path or an AP's startup
/// stack) into this CPU's first thread, and creates the CPU's idle thread.
pub fn init_cpu(name: &str) {
    let me = this_cpu();
    let cpu = me.cpu();
    // Wake-ups push onto run queues from interrupt handlers, which must not
    // allocate (DESIGN.md rule 5): give the queue its room up front.
    me.sched.runqueue.lock().reserve(RUNQUEUE_CAPACITY);
    let boot = new_thread(name, cpu, None, None, cpu != 0);
    boot.set_state(State::Running);
    THREADS.lock().push(boot.clone());
    if cpu == 0 {
        // The boot CPU's first thread goes on to run the shell; it needs a
        // separate idle thread. Idle threads never sit in a run queue: they
        // run when it is empty.
        let idle = create(cpu, "idle/0", Box::new(idle_loop_forever), true).expect("no memory for the idle thread");
        me.sched.idle.call_once(|| idle);
    } else {
        me.sched.idle.call_once(|| boot.clone());
    }
    *me.sched.current.lock() = Some(boot);
}

fn idle_loop_forever() {
    idle_loop()
}

/// What an idle CPU does: halt until an interrupt, then run whatever it made runnable.
pub fn idle_loop() -> ! {
    loop {
        cpu::disable_interrupts();
        if this_cpu().need_resched.load(Ordering::Relaxed) || !this_cpu().sched.runqueue.lock().is_empty() {
            cpu::enable_interrupts();
            schedule();
        } else {
            cpu::enable_interrupts_and_halt();
        }
    }
}

/// Creates a kernel thread on `cpu` running `f`, not yet runnable.
fn create(cpu: usize, name: &str, f: Entry, idle: bool) -> Result<Arc<Thread>, crate::mm::MmError> {
    let mut stack = Pages::alloc_zeroed(STACK_ORDER)?;
    let rsp = switch::initial_stack(stack.as_mut_slice(), thread_start);
    let t = new_thread(name, cpu, Some(stack), Some(f), idle);
    // SAFETY: the thread has never run; nobody else sees `rsp` yet.
    unsafe { *t.rsp.get() = rsp };
    THREADS.lock().push(t.clone());
    Ok(t)
}

/// Starts a kernel thread on `cpu` running `f`.
pub fn spawn_on(cpu: usize, name: &str, f: impl FnOnce() + Send + 'static) -> Result<Arc<Thread>, crate::mm::MmError> {
    if percpu::cpu(cpu).is_none_or(|c| !c.online.load(Ordering::Acquire)) {
        return Err(crate::mm::MmError::InvalidArgument("no such CPU online"));
    }
    let t = create(cpu, name, Box::new(f), false)?;
    enqueue(&t);
    Ok(t)
}

/// Starts a kernel thread on the current CPU.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<Arc<Thread>, crate::mm::MmError> {
    spawn_on(this_cpu().cpu(), name, f)
}

extern "C" fn thread_start() -> ! {
    finish_switch();
    let me = current();
    let entry = me.entry.lock().take();
    cpu::enable_interrupts();
    if let Some(f) = entry {
        f();
    }
    exit()
}

/// Ends the calling thread.
pub fn exit() -> ! {
    let me = current();
    cpu::disable_interrupts();
    me.set_state(State::Dead);
    THREADS.lock().retain(|t| !Arc::ptr_eq(t, &me));
    drop(me);
    schedule();
    unreachable!("a dead thread was scheduled again");
}

/// The running thread.
pub fn current() -> Arc<Thread> {
    this_cpu().sched.current.lock().clone().expect("the scheduler is initialised on this CPU")
}

fn enqueue(t: &Arc<Thread>) {
    if t.on_rq.swap(true, Ordering::AcqRel) {
        return;
    }
    let Some(target) = percpu::cpu(t.cpu) else { return };
    target.sched.runqueue.lock().push_back(t.clone());
    target.need_resched.store(true, Ordering::Release);
    if t.cpu != this_cpu().cpu() {
        crate::irq::kick_cpu(t.cpu);
    }
}

/// Makes a sleeping thread runnable. Returns false if it was not asleep.
pub fn wake(t: &Arc<Thread>) -> bool {
    let woke = t
        .state
        .compare_exchange(State::Sleeping as u8, State::Runnable as u8, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if woke {
        enqueue(t);
    }
    woke
}

/// Marks the caller as going to sleep; it stops running at the next
/// `schedule()` unless woken before.
pub fn set_current_sleeping() {
    current().set_state(State::Sleeping);
}

/// Undoes [`set_current_sleeping`] when the condition turned true before
/// sleeping. A racing `wake` may already have queued us: that entry is
/// skipped when popped, since we are `Running` then.
pub fn set_current_running() {
    current().set_state(State::Running);
}

/// Gives the CPU to the next runnable thread, if any.
pub fn yield_now() {
    schedule();
}

/// Called where preemption is allowed (IRQ exit, lock release).
pub fn resched_if_needed() {
    let me = this_cpu();
    if me.need_resched.load(Ordering::Relaxed)
        && me.preempt_count.load(Ordering::Relaxed) == 0
        && me.irq_depth.load(Ordering::Relaxed) == 0
        && me.sched.idle.get().is_some()
    {
        switch(Why::Preempted);
    }
}

/// Why the running thread leaves the CPU.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    /// It called `schedule`: if it marked itself `Sleeping`, it sleeps.
    Voluntary,
    /// The tick or a wake-up took the CPU away. A thread caught between
    /// marking itself `Sleeping` and re-checking its wait condition must
    /// stay runnable, or a wake-up that came before it queued itself would
    /// be lost (Linux's `preempt_schedule_irq` never dequeues either).
    Preempted,
}

/// Picks the next thread of this CPU and switches to it.
pub fn schedule() {
    switch(Why::Voluntary);
}

fn switch(why: Why) {
    let irqs = cpu::save_and_disable_interrupts();
    let me = this_cpu();
    let Some(prev) = me.sched.current.lock().clone() else {
        cpu::restore_interrupts(irqs);
        return;
    };
    me.need_resched.store(false, Ordering::Relaxed);
    let idle = me.sched.idle.get().cloned();
    let next = {
        let mut rq = me.sched.runqueue.lock();
        let stays_runnable = match why {
            Why::Voluntary => prev.state() == State::Running,
            Why::Preempted => prev.state() != State::Dead,
        };
        if prev.idle && prev.state() == State::Running {
            prev.set_state(State::Runnable);
        }
        if stays_runnable && !prev.idle {
            prev.set_state(State::Runnable);
            if !prev.on_rq.swap(true, Ordering::AcqRel) {
                rq.push_back(prev.clone());
            }
        }
        let mut pick = None;
        while let Some(t) = rq.pop_front() {
            t.on_rq.store(false, Ordering::Release);
            if t.state() == State::Runnable {
                pick = Some(t);
                break;
            }
        }
        pick.or(idle)
    };
    let Some(next) = next else {
        // No idle thread yet (very early): keep running.
        if prev.state() == State::Runnable {
            prev.set_state(State::Running);
        }
        cpu::restore_interrupts(irqs);
        return;
    };
    next.set_state(State::Running);
    if Arc::ptr_eq(&next, &prev) {
        cpu::restore_interrupts(irqs);
        return;
    }
    next.switches_in.fetch_add(1, Ordering::Relaxed);
    me.switches.fetch_add(1, Ordering::Relaxed);
    let save = prev.rsp.get();
    // SAFETY: `next` is not running (it was in our run queue or is our idle
    // thread) and its saved RSP came from a switch away from it.
    let new_rsp = unsafe { *next.rsp.get() };
    *me.sched.current.lock() = Some(next);
    *me.sched.last.lock() = Some(prev);
    // SAFETY: interrupts are off; `save` points into `prev`, kept alive by
    // `last` until the next thread has left this stack (finish_switch).
    unsafe { switch::switch_to(save, new_rsp) };
    finish_switch();
    cpu::restore_interrupts(irqs);
}

/// Drops the previous thread's reference once we run on our own stack.
fn finish_switch() {
    let last = this_cpu().sched.last.lock().take();
    drop(last);
}

/// A snapshot of one thread for `ps`.
pub struct ThreadInfo {
    pub id: u64,
    pub name: String,
    pub cpu: usize,
    pub state: State,
    pub switches_in: u64,
}

pub fn threads() -> Vec<ThreadInfo> {
    THREADS
        .lock()
        .iter()
        .map(|t| ThreadInfo {
            id: t.id,
            name: t.name.clone(),
            cpu: t.cpu,
            state: t.state(),
            switches_in: t.switches_in.load(Ordering::Relaxed),
        })
        .collect()
}

/// Sleeps for at least `ticks` jiffies (a kernel timer completes a
/// completion). Thread context only.
pub fn sleep_ticks(ticks: u64) {
    let done = Arc::new(crate::sync::Completion::new());
    let signal = done.clone();
    match crate::timer::Timer::new(move || signal.complete()) {
        Ok(timer) => {
            timer.start_in(ticks.max(1));
            done.wait();
        }
        // No timer slot: fall back to yielding until the time has passed.
        Err(_) => {
            let until = crate::time::jiffies() + ticks;
            while crate::time::jiffies() < until {
                yield_now();
            }
        }
    }
}

mod ktests;
