//! Per-CPU data, reached through the GS segment base (Linux's `this_cpu`).
//!
//! Each CPU's `IA32_GS_BASE` points at its own [`PerCpu`], whose first word
//! is a pointer to itself, so `mov rax, gs:[0]` yields this CPU's block in
//! one instruction, without knowing which CPU we are on. The blocks are
//! statics, so the boot CPU can use them from the first line of Rust.
//!
//! What lives here is what only this CPU touches on its hot paths: the
//! preemption count, the need-resched flag, interrupt nesting, per-CPU
//! interrupt counts, softirq pending bits, and the run queue.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::arch::cpu;

pub const MAX_CPUS: usize = crate::arch::gdt::MAX_CPUS;

#[repr(C)]
pub struct PerCpu {
    /// `gs:[0]`: this block's own address.
    self_ptr: AtomicPtr<PerCpu>,
    cpu: AtomicUsize,
    pub apic_id: AtomicU32,
    pub online: AtomicBool,
    /// > 0: the scheduler must not switch away (spinlock held, IRQ handler…).
    pub preempt_count: AtomicU32,
    pub need_resched: AtomicBool,
    /// Nesting depth of hard-IRQ handlers on this CPU.
    pub irq_depth: AtomicU32,
    /// Interrupts taken on this CPU per vector (for `interrupts`).
    pub vector_counts: [AtomicU64; 256],
    pub ticks: AtomicU64,
    /// Context switches done by this CPU.
    pub switches: AtomicU64,
    /// Scheduler state for this CPU (run queue, current thread).
    pub sched: crate::sched::CpuSched,
    pub softirq: crate::irq::softirq::CpuSoftirq,
}

const fn new_percpu() -> PerCpu {
    PerCpu {
        self_ptr: AtomicPtr::new(core::ptr::null_mut()),
        cpu: AtomicUsize::new(0),
        apic_id: AtomicU32::new(0),
        online: AtomicBool::new(false),
        preempt_count: AtomicU32::new(0),
        need_resched: AtomicBool::new(false),
        irq_depth: AtomicU32::new(0),
        vector_counts: [const { AtomicU64::new(0) }; 256],
        ticks: AtomicU64::new(0),
        switches: AtomicU64::new(0),
        sched: crate::sched::CpuSched::new(),
        softirq: crate::irq::softirq::CpuSoftirq::new(),
    }
}

static PERCPU: [PerCpu; MAX_CPUS] = [const { new_percpu() }; MAX_CPUS];

static ONLINE_CPUS: AtomicUsize = AtomicUsize::new(0);

/// Points this CPU's GS base at `PERCPU[cpu]`. First thing on every CPU.
pub fn init_cpu(cpu: usize, apic_id: u32) {
    let block = &PERCPU[cpu];
    block.self_ptr.store(block as *const PerCpu as *mut PerCpu, Ordering::Relaxed);
    block.cpu.store(cpu, Ordering::Relaxed);
    block.apic_id.store(apic_id, Ordering::Relaxed);
    // SAFETY: IA32_GS_BASE exists on every x86-64 CPU; nothing else uses GS.
    unsafe { cpu::wrmsr(cpu::MSR_GS_BASE, block as *const PerCpu as u64) };
}

/// Marks this CPU as running the scheduler (counted by [`online_cpus`]).
pub fn set_online() {
    this_cpu().online.store(true, Ordering::Release);
    ONLINE_CPUS.fetch_add(1, Ordering::AcqRel);
}

impl PerCpu {
    /// This block's CPU index (0 = the boot CPU).
    pub fn cpu(&self) -> usize {
        self.cpu.load(Ordering::Relaxed)
    }
}

/// This CPU's block.
#[inline]
pub fn this_cpu() -> &'static PerCpu {
    let ptr: *const PerCpu;
    // SAFETY: `init_cpu` ran first on this CPU, so gs:[0] holds the address
    // of a static PerCpu.
    unsafe { asm!("mov {}, gs:[0]", out(reg) ptr, options(nostack, readonly, preserves_flags)) };
    // SAFETY: as above; the blocks are statics.
    unsafe { &*ptr }
}

pub fn cpu(index: usize) -> Option<&'static PerCpu> {
    PERCPU.get(index)
}

pub fn online_cpus() -> usize {
    ONLINE_CPUS.load(Ordering::Acquire)
}

pub fn possible() -> impl Iterator<Item = &'static PerCpu> {
    PERCPU.iter()
}

/// Disables preemption on this CPU (nests).
#[inline]
pub fn preempt_disable() {
    this_cpu().preempt_count.fetch_add(1, Ordering::Relaxed);
}

/// Re-enables preemption; when the count drops to zero with a reschedule
/// pending and interrupts on, switches now rather than at the next tick.
#[inline]
pub fn preempt_enable() {
    let me = this_cpu();
    if me.preempt_count.fetch_sub(1, Ordering::Relaxed) == 1
        && me.need_resched.load(Ordering::Relaxed)
        && cpu::interrupts_enabled()
    {
        crate::sched::resched_if_needed();
    }
}

/// True in hard-IRQ context.
pub fn in_interrupt() -> bool {
    this_cpu().irq_depth.load(Ordering::Relaxed) > 0
}
