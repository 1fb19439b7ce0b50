//! In-kernel tests of the IRQ core, softirqs and tasklets. Lines are driven
//! by self-IPIs on the line's vector, which enter the same dispatch path a
//! device interrupt takes. GSIs 17–19 (PIRQ B–D) and 23 (the NVMe's pin,
//! no driver yet) carry no device handlers on the standard machine.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use hal::irq::IrqReturn;

use super::softirq::{self, SoftirqVector};
use super::tasklet::Tasklet;
use super::{raise_for_test, request, IrqError, NOBODY_CARED_LIMIT, SHARED};
use crate::ktest::util::{other_cpu, wait_until};
use crate::percpu::this_cpu;
use crate::sync::SpinLockIrq;
use crate::{check, check_eq, ktest};

fn err(e: impl core::fmt::Display) -> alloc::string::String {
    alloc::format!("{e}")
}

ktest! {
    fn shared_line_calls_every_handler_and_only_the_owner_claims() {
        static A_CALLS: AtomicU32 = AtomicU32::new(0);
        static B_CALLS: AtomicU32 = AtomicU32::new(0);
        static B_PENDING: AtomicBool = AtomicBool::new(false);
        // Device A never has anything pending; device B does, once per raise.
        let a = request(17, "test-a", SHARED, || {
            A_CALLS.fetch_add(1, Ordering::SeqCst);
            IrqReturn::NotMine
        }).map_err(err)?;
        let b = request(17, "test-b", SHARED, || {
            B_CALLS.fetch_add(1, Ordering::SeqCst);
            if B_PENDING.swap(false, Ordering::SeqCst) { IrqReturn::Handled } else { IrqReturn::NotMine }
        }).map_err(err)?;
        check_eq!(request(17, "exclusive", 0, || IrqReturn::Handled).err(), Some(IrqError::Busy));
        for _ in 0..5 {
            B_PENDING.store(true, Ordering::SeqCst);
            raise_for_test(17).map_err(err)?;
            check!(wait_until(1000, || !B_PENDING.load(Ordering::SeqCst)), "B's interrupt was not handled");
        }
        check_eq!(A_CALLS.load(Ordering::SeqCst), 5);
        check_eq!(B_CALLS.load(Ordering::SeqCst), 5);
        let line = super::lines().into_iter().find(|l| l.gsi == 17).ok_or("line 17 missing")?;
        check_eq!(line.unhandled, 0);
        check!(line.names.contains("test-a") && line.names.contains("test-b"));
        drop(a);
        drop(b);
        check!(super::lines().iter().all(|l| l.gsi != 17), "freeing the last handler must free the line");
    }

    fn exclusive_line_refuses_a_second_handler() {
        let first = request(18, "first", 0, || IrqReturn::Handled).map_err(err)?;
        check_eq!(request(18, "second", SHARED, || IrqReturn::Handled).err(), Some(IrqError::Busy));
        drop(first);
        let again = request(18, "again", 0, || IrqReturn::Handled);
        check!(again.is_ok(), "the line is free again after drop");
    }

    fn nobody_cared_disables_a_screaming_line() {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let h = request(19, "deaf", 0, || {
            CALLS.fetch_add(1, Ordering::SeqCst);
            IrqReturn::NotMine
        }).map_err(err)?;
        for i in 0..NOBODY_CARED_LIMIT {
            raise_for_test(19).map_err(err)?;
            check!(wait_until(1000, || CALLS.load(Ordering::SeqCst) > i), "interrupt {i} not delivered");
        }
        check!(super::is_disabled(19), "line still enabled after {NOBODY_CARED_LIMIT} unclaimed interrupts");
        let spurious = super::SPURIOUS.load(Ordering::SeqCst);
        raise_for_test(19).map_err(err)?;
        check!(wait_until(1000, || super::SPURIOUS.load(Ordering::SeqCst) > spurious), "disabled line's interrupt not counted");
        check_eq!(CALLS.load(Ordering::SeqCst), NOBODY_CARED_LIMIT);
        drop(h);
    }

    fn softirq_raised_in_a_handler_runs_after_it_on_the_same_cpu() {
        static HARD_DONE: AtomicU64 = AtomicU64::new(0);
        static SOFT_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
        static ORDER_OK: AtomicBool = AtomicBool::new(false);
        static HARD_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
        fn soft() {
            SOFT_CPU.store(this_cpu().cpu(), Ordering::SeqCst);
            ORDER_OK.store(HARD_DONE.load(Ordering::SeqCst) == 1, Ordering::SeqCst);
        }
        softirq::open(SoftirqVector::Block, soft);
        let cpu = other_cpu().unwrap_or(0);
        let h = request(23, "raiser", 0, || {
            softirq::raise(SoftirqVector::Block);
            HARD_CPU.store(this_cpu().cpu(), Ordering::SeqCst);
            HARD_DONE.store(1, Ordering::SeqCst);
            IrqReturn::Handled
        }).map_err(err)?;
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        crate::sched::spawn_on(cpu, "raise", move || {
            let _ = raise_for_test(23);
            d.store(true, Ordering::SeqCst);
        }).map_err(err)?;
        check!(wait_until(2000, || SOFT_CPU.load(Ordering::SeqCst) != usize::MAX), "softirq never ran");
        check_eq!(HARD_CPU.load(Ordering::SeqCst), cpu);
        check_eq!(SOFT_CPU.load(Ordering::SeqCst), cpu);
        check!(ORDER_OK.load(Ordering::SeqCst), "softirq ran before the hard handler finished");
        check!(wait_until(1000, || done.load(Ordering::SeqCst)));
        drop(h);
    }

    fn ksoftirqd_takes_over_a_self_reraising_softirq() {
        static RUNS: AtomicU32 = AtomicU32::new(0);
        const TOTAL: u32 = 300;
        fn reraise() {
            if RUNS.fetch_add(1, Ordering::SeqCst) + 1 < TOTAL {
                softirq::raise(SoftirqVector::Block);
            }
        }
        softirq::open(SoftirqVector::Block, reraise);
        let me = this_cpu();
        let deferred_before = me.softirq.state.stats().deferred_to_thread;
        let ksoftirqd_before = me.softirq.ksoftirqd_runs.load(Ordering::SeqCst);
        // A thread on this CPU keeps counting: it must make progress while
        // the softirq storm is going on.
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (progress.clone(), stop.clone());
        crate::sched::spawn("counter", move || {
            while !s.load(Ordering::SeqCst) {
                p.fetch_add(1, Ordering::SeqCst);
                crate::sched::yield_now();
            }
        }).map_err(err)?;
        // Raise from an interrupt so the first batch runs on IRQ exit.
        let h = request(23, "storm", 0, || {
            softirq::raise(SoftirqVector::Block);
            IrqReturn::Handled
        }).map_err(err)?;
        raise_for_test(23).map_err(err)?;
        let finished = wait_until(5000, || RUNS.load(Ordering::SeqCst) >= TOTAL);
        let counted = progress.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        drop(h);
        check!(finished, "softirq storm did not finish: {} runs", RUNS.load(Ordering::SeqCst));
        check!(me.softirq.state.stats().deferred_to_thread > deferred_before, "the IRQ-exit budget never deferred");
        check!(me.softirq.ksoftirqd_runs.load(Ordering::SeqCst) > ksoftirqd_before, "ksoftirqd never ran");
        check!(counted > 0, "the competing thread starved");
    }

    fn tasklet_scheduled_twice_runs_once() {
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let t = Tasklet::new(move || { r.fetch_add(1, Ordering::SeqCst); }).map_err(|_| "no tasklet slot")?;
        {
            // With interrupts off nothing runs in between the two schedules.
            let lock = SpinLockIrq::new(());
            let _irqs_off = lock.lock();
            t.schedule();
            t.schedule();
        }
        check!(wait_until(1000, || runs.load(Ordering::SeqCst) >= 1), "tasklet never ran");
        check!(!wait_until(50, || runs.load(Ordering::SeqCst) > 1), "ran twice");
        check_eq!(t.stats().coalesced, 1);
        t.kill();
    }

    fn disabled_tasklet_waits_for_enable() {
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let t = Tasklet::new(move || { r.fetch_add(1, Ordering::SeqCst); }).map_err(|_| "no tasklet slot")?;
        t.disable();
        t.schedule();
        check!(!wait_until(50, || runs.load(Ordering::SeqCst) > 0), "a disabled tasklet ran");
        t.enable();
        check!(wait_until(1000, || runs.load(Ordering::SeqCst) == 1), "tasklet did not run after enable");
        t.kill();
    }

    fn tasklet_runs_on_the_scheduling_cpu() {
        let Some(cpu) = other_cpu() else { return Err("needs 2 CPUs".into()) };
        let ran_on = Arc::new(AtomicUsize::new(usize::MAX));
        let r = ran_on.clone();
        let t = Tasklet::new(move || r.store(this_cpu().cpu(), Ordering::SeqCst)).map_err(|_| "no tasklet slot")?;
        let t2 = t.clone();
        crate::sched::spawn_on(cpu, "sched-tasklet", move || t2.schedule()).map_err(err)?;
        check!(wait_until(2000, || ran_on.load(Ordering::SeqCst) != usize::MAX), "tasklet never ran");
        check_eq!(ran_on.load(Ordering::SeqCst), cpu);
        t.kill();
    }

    fn tasklet_never_runs_concurrently_with_itself() {
        let Some(cpu) = other_cpu() else { return Err("needs 2 CPUs".into()) };
        static INSIDE: AtomicU32 = AtomicU32::new(0);
        static OVERLAPS: AtomicU32 = AtomicU32::new(0);
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let t = Tasklet::new(|| {
            if INSIDE.fetch_add(1, Ordering::SeqCst) != 0 {
                OVERLAPS.fetch_add(1, Ordering::SeqCst);
            }
            for _ in 0..2000 { core::hint::spin_loop(); }
            RUNS.fetch_add(1, Ordering::SeqCst);
            INSIDE.fetch_sub(1, Ordering::SeqCst);
        }).map_err(|_| "no tasklet slot")?;
        let done = Arc::new(AtomicBool::new(false));
        let (t2, d) = (t.clone(), done.clone());
        crate::sched::spawn_on(cpu, "hammer", move || {
            for _ in 0..500 { t2.schedule(); crate::sched::yield_now(); }
            d.store(true, Ordering::SeqCst);
        }).map_err(err)?;
        for _ in 0..500 { t.schedule(); crate::sched::yield_now(); }
        check!(wait_until(5000, || done.load(Ordering::SeqCst)), "the other CPU did not finish");
        check!(wait_until(2000, || !t.is_scheduled()), "tasklet still pending");
        check_eq!(OVERLAPS.load(Ordering::SeqCst), 0);
        check!(RUNS.load(Ordering::SeqCst) > 0);
        t.kill();
    }

    fn masked_line_delivers_nothing_until_unmasked() {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let h = request(17, "maskme", 0, || {
            CALLS.fetch_add(1, Ordering::SeqCst);
            IrqReturn::Handled
        }).map_err(err)?;
        h.mask();
        let spurious = super::SPURIOUS.load(Ordering::SeqCst);
        raise_for_test(17).map_err(err)?;
        check!(wait_until(1000, || super::SPURIOUS.load(Ordering::SeqCst) > spurious), "masked interrupt not accounted");
        check_eq!(CALLS.load(Ordering::SeqCst), 0);
        h.unmask();
        raise_for_test(17).map_err(err)?;
        check!(wait_until(1000, || CALLS.load(Ordering::SeqCst) == 1), "unmasked line not delivered");
    }

    fn affinity_reprograms_the_ioapic_destination() {
        let Some(cpu) = other_cpu() else { return Err("needs 2 CPUs".into()) };
        let h = request(18, "affine", 0, || IrqReturn::Handled).map_err(err)?;
        let target = crate::percpu::cpu(cpu).unwrap().apic_id.load(Ordering::SeqCst) as u8;
        check!(crate::arch::apic::gsi_destination(18) != Some(target), "already routed there");
        super::set_affinity(18, cpu).map_err(err)?;
        check_eq!(crate::arch::apic::gsi_destination(18), Some(target));
        check_eq!(super::set_affinity(18, 99), Err(IrqError::NoSuchCpu(99)));
        check_eq!(super::set_affinity(16, cpu), Err(IrqError::NotRequested(16)));
        drop(h);
    }

    fn msi_line_composes_its_message_and_follows_affinity() {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        static WRITTEN: AtomicU64 = AtomicU64::new(0);
        let h = super::request_msi("test-msi", || {
            CALLS.fetch_add(1, Ordering::SeqCst);
            IrqReturn::Handled
        }).map_err(err)?;
        let irq = h.irq();
        check!(irq >= 24, "MSI lines are numbered above the IOAPIC pins, got {irq}");
        let msg = h.msi_message().ok_or("no MSI message")?;
        let decoded = msg.decode().map_err(err)?;
        check_eq!(msg.address >> 20, 0xfee);
        check_eq!(decoded.destination, 0);
        raise_for_test(irq).map_err(err)?;
        check!(wait_until(1000, || CALLS.load(Ordering::SeqCst) == 1), "MSI vector not dispatched");
        if let Some(cpu) = other_cpu() {
            h.set_msi_writer(|m| WRITTEN.store(m.address, Ordering::SeqCst));
            super::set_affinity(irq, cpu).map_err(err)?;
            let apic_id = crate::percpu::cpu(cpu).unwrap().apic_id.load(Ordering::SeqCst) as u64;
            check_eq!((WRITTEN.load(Ordering::SeqCst) >> 12) & 0xff, apic_id);
        }
        let line = super::lines().into_iter().find(|l| l.gsi == irq).ok_or("line missing")?;
        check_eq!(line.chip, super::Chip::Msi);
        drop(h);
        check!(super::lines().iter().all(|l| l.gsi != irq), "MSI line not freed");
    }

    fn irq_handler_and_thread_share_a_spinlock_irq() {
        static LOCK: SpinLockIrq<Vec<u32>> = SpinLockIrq::new(Vec::new());
        static HANDLED: AtomicBool = AtomicBool::new(false);
        let h = request(18, "locker", 0, || {
            if let Some(mut v) = LOCK.try_lock() { v.push(2); }
            HANDLED.store(true, Ordering::SeqCst);
            IrqReturn::Handled
        }).map_err(err)?;
        {
            let mut v = LOCK.lock();
            // The interrupt is raised while we hold the lock: it must stay
            // pending (local interrupts are off) until we let go.
            raise_for_test(18).map_err(err)?;
            for _ in 0..100_000 { core::hint::spin_loop(); }
            check!(!HANDLED.load(Ordering::SeqCst), "handler ran inside a SpinLockIrq section");
            v.push(1);
        }
        check!(wait_until(1000, || HANDLED.load(Ordering::SeqCst)), "handler never ran");
        check_eq!(*LOCK.lock(), alloc::vec![1, 2]);
        LOCK.lock().clear();
        drop(h);
    }
}
