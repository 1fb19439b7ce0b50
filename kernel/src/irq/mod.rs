//! The IRQ core: from a vector firing on a CPU to the drivers' handlers,
//! and from there to the bottom halves.
//!
//! **Top half.** `trap_dispatch` sends vectors ≥ 32 to [`handle`], which
//! counts the interrupt per CPU, runs the line's handlers, sends the EOI
//! and leaves. Handlers run with interrupts off, must be short, must not
//! sleep or allocate (DESIGN.md rule 5), and return `Handled` or `NotMine`.
//! On a line requested with [`SHARED`], every handler runs: a PCI INTx line
//! can carry several devices, so each handler checks its own device's
//! status register. A line where nobody claims [`NOBODY_CARED_LIMIT`]
//! interrupts in a row is disabled with a log line (Linux's "nobody cared"):
//! a screaming line would otherwise eat the CPU.
//!
//! **IRQ exit.** Once the outermost handler has returned: run pending
//! softirqs (with interrupts on, under a budget — see `softirq`), then, if
//! the timer or a wake-up asked for it and the interrupted code allows it,
//! preempt the current thread.
//!
//! Lines are GSIs (IOAPIC pins; ISA IRQs are mapped through the MADT
//! overrides). Each requested line gets its own vector from the vector
//! allocator; `free` on the last handle masks the pin and frees the vector.

pub mod softirq;
pub mod tasklet;

mod ktests;

mod desc;

pub use desc::{
    is_disabled, lines, raise_for_test, request, request_msi, request_msi_block, set_affinity, vectors_available, Chip,
    IrqError, IrqHandle, NOBODY_CARED_LIMIT, SHARED,
};

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::apic;
use crate::arch::trap::TrapFrame;
use crate::percpu::this_cpu;

/// Interrupts no descriptor claimed (stray vectors, masked lines).
pub static SPURIOUS: AtomicU64 = AtomicU64::new(0);
pub static LAPIC_ERRORS: AtomicU64 = AtomicU64::new(0);
pub static IPIS_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Entry from the trap dispatcher for vectors 32..=255.
pub fn handle(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    if vector == crate::bench::BENCH_TIMER_VECTOR || vector == crate::bench::BENCH_IPI_VECTOR {
        // Measured: keep this the first thing the interrupt path does.
        crate::bench::hit(crate::arch::cpu::rdtsc());
        apic::eoi();
        return;
    }
    let me = this_cpu();
    me.vector_counts[usize::from(vector)].fetch_add(1, Ordering::Relaxed);
    me.irq_depth.fetch_add(1, Ordering::Relaxed);
    match vector {
        apic::TIMER_VECTOR => {
            crate::time::tick();
            apic::eoi();
        }
        apic::RESCHEDULE_VECTOR => {
            IPIS_RECEIVED.fetch_add(1, Ordering::Relaxed);
            me.need_resched.store(true, Ordering::Relaxed);
            apic::eoi();
        }
        apic::CALL_FUNCTION_VECTOR => {
            IPIS_RECEIVED.fetch_add(1, Ordering::Relaxed);
            apic::eoi();
        }
        apic::ERROR_VECTOR => {
            LAPIC_ERRORS.fetch_add(1, Ordering::Relaxed);
            apic::eoi();
        }
        apic::SPURIOUS_VECTOR => {
            // Spurious: no EOI (Intel SDM vol. 3A §11.9).
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
        v => desc::dispatch(v),
    }
    me.irq_depth.fetch_sub(1, Ordering::Relaxed);
    irq_exit(frame);
}

/// Bottom halves and preemption after the outermost handler.
fn irq_exit(frame: &TrapFrame) {
    let me = this_cpu();
    if me.irq_depth.load(Ordering::Relaxed) != 0 {
        return;
    }
    softirq::run_on_irq_exit();
    // Preempt only code that had interrupts on (RFLAGS.IF in the frame).
    if frame.rflags & (1 << 9) != 0 {
        crate::sched::resched_if_needed();
    }
}

/// Makes another CPU look at its run queue.
pub fn kick_cpu(cpu: usize) {
    let Some(target) = crate::percpu::cpu(cpu) else { return };
    if !target.online.load(Ordering::Acquire) {
        return;
    }
    let _ = apic::send_ipi(target.apic_id.load(Ordering::Relaxed), apic::RESCHEDULE_VECTOR);
}

/// Brings up the interrupt controllers on the boot CPU and enables interrupts.
pub fn init() {
    if let Err(e) = apic::init_boot() {
        log::error!("interrupt controllers: {e}; staying with interrupts off");
        return;
    }
    desc::init();
    tasklet::init();
}
