//! In-kernel tests of threads, preemption, and the sleeping primitives, on
//! both CPUs.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::ktest::util::{other_cpu, wait_until};
use crate::sync::{Completion, Mutex, Semaphore, SpinLockIrq, WaitQueue};
use crate::timer::Timer;
use crate::workqueue::Work;
use crate::{check, check_eq, ktest};

fn err(e: impl core::fmt::Display) -> alloc::string::String {
    alloc::format!("{e}")
}

ktest! {
    fn threads_run_and_exit() {
        let ran = Arc::new(AtomicU32::new(0));
        for i in 0..4 {
            let r = ran.clone();
            super::spawn(&alloc::format!("t{i}"), move || { r.fetch_add(1, Ordering::SeqCst); }).map_err(err)?;
        }
        check!(wait_until(1000, || ran.load(Ordering::SeqCst) == 4), "threads did not all run");
        check!(wait_until(1000, || super::threads().iter().all(|t| !t.name.starts_with('t') || t.name.len() > 2)), "exited threads still listed");
    }

    fn timer_tick_preempts_a_thread_that_never_yields() {
        let stop = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), spins.clone());
        // Same CPU as us: if the tick did not preempt it, we would never run
        // again and the test would hang instead of passing.
        super::spawn("spinner", move || {
            while !s.load(Ordering::SeqCst) {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }).map_err(err)?;
        check!(wait_until(2000, || spins.load(Ordering::Relaxed) > 1000), "spinner never ran");
        stop.store(true, Ordering::SeqCst);
    }

    fn completion_wakes_across_cpus_without_losing_any() {
        let cpu = other_cpu().unwrap_or(0);
        const N: u32 = 2000;
        let c = Arc::new(Completion::new());
        let received = Arc::new(AtomicU32::new(0));
        let (c2, r) = (c.clone(), received.clone());
        super::spawn_on(cpu, "waiter", move || {
            for _ in 0..N {
                c2.wait();
                r.fetch_add(1, Ordering::SeqCst);
            }
        }).map_err(err)?;
        for i in 0..N {
            c.complete();
            if i % 64 == 0 { super::yield_now(); }
        }
        check!(wait_until(10_000, || received.load(Ordering::SeqCst) == N), "lost wake-ups: {} of {N}", received.load(Ordering::SeqCst));
    }

    fn wait_queue_condition_races_lose_no_wakeup() {
        let cpu = other_cpu().unwrap_or(0);
        const ROUNDS: u64 = 1000;
        let wq = Arc::new(WaitQueue::new());
        let value = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(AtomicU64::new(0));
        let (w, v, a) = (wq.clone(), value.clone(), acked.clone());
        super::spawn_on(cpu, "wq-waiter", move || {
            for round in 1..=ROUNDS {
                w.wait_event(|| v.load(Ordering::SeqCst) >= round);
                a.store(round, Ordering::SeqCst);
            }
        }).map_err(err)?;
        for round in 1..=ROUNDS {
            value.store(round, Ordering::SeqCst);
            wq.wake_up_all();
            if !wait_until(2000, || acked.load(Ordering::SeqCst) >= round) {
                return Err(alloc::format!("waiter stuck at round {round}: a wake-up was lost"));
            }
        }
    }

    fn mutex_serialises_sleeping_holders() {
        let cpu = other_cpu().unwrap_or(0);
        let m = Arc::new(Mutex::new(Vec::<u32>::new()));
        let done = Arc::new(AtomicU32::new(0));
        for (i, c) in [(1u32, 0usize), (2, cpu)] {
            let (m, d) = (m.clone(), done.clone());
            super::spawn_on(c, "mutex-user", move || {
                for _ in 0..200 {
                    let mut g = m.lock();
                    let n = g.len();
                    super::yield_now(); // holding it across a switch is allowed
                    g.push(i);
                    assert_eq!(g.len(), n + 1);
                }
                d.fetch_add(1, Ordering::SeqCst);
            }).map_err(err)?;
        }
        check!(
            wait_until(10_000, || done.load(Ordering::SeqCst) == 2),
            "mutex users did not finish: {} pushes, locked {}, threads {}",
            m.try_lock().map_or(usize::MAX, |g| g.len()),
            m.try_lock().is_none(),
            crate::ktest::util::thread_states()
        );
        check_eq!(m.lock().len(), 400);
    }

    fn semaphore_admits_at_most_its_count() {
        let sem = Arc::new(Semaphore::new(2));
        let inside = Arc::new(AtomicU32::new(0));
        let max = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicU32::new(0));
        for i in 0..4 {
            let (s, n, m, d) = (sem.clone(), inside.clone(), max.clone(), done.clone());
            let cpu = if i % 2 == 0 { 0 } else { other_cpu().unwrap_or(0) };
            super::spawn_on(cpu, "sem-user", move || {
                for _ in 0..50 {
                    s.down();
                    let now = n.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    super::yield_now();
                    n.fetch_sub(1, Ordering::SeqCst);
                    s.up();
                }
                d.fetch_add(1, Ordering::SeqCst);
            }).map_err(err)?;
        }
        check!(wait_until(10_000, || done.load(Ordering::SeqCst) == 4), "semaphore users did not finish");
        check!(max.load(Ordering::SeqCst) <= 2, "{} holders at once", max.load(Ordering::SeqCst));
        check_eq!(sem.count(), 2);
    }

    fn timers_fire_in_deadline_order_and_del_timer_cancels() {
        let order = Arc::new(SpinLockIrq::new(Vec::new()));
        let mk = |tag: u32| {
            let o = order.clone();
            Timer::new(move || o.lock().push(tag))
        };
        let (t3, t1, t2, cancelled) = (mk(3).map_err(err)?, mk(1).map_err(err)?, mk(2).map_err(err)?, mk(99).map_err(err)?);
        let now = crate::time::jiffies();
        t3.modify(now + 6);
        t1.modify(now + 2);
        t2.modify(now + 4);
        cancelled.modify(now + 3);
        check!(cancelled.delete(), "delete of a pending timer must report it was pending");
        check!(!cancelled.delete(), "second delete must report not pending");
        check!(wait_until(3000, || order.lock().len() == 3), "timers did not fire: {:?}", *order.lock());
        check_eq!(*order.lock(), alloc::vec![1, 2, 3]);
        check!(!t1.is_pending());
    }

    fn periodic_timer_rearms() {
        let fired = Arc::new(AtomicU32::new(0));
        let f = fired.clone();
        let t = Timer::periodic(1, move || { f.fetch_add(1, Ordering::SeqCst); }).map_err(err)?;
        t.start_in(1);
        check!(wait_until(3000, || fired.load(Ordering::SeqCst) >= 3), "periodic timer fired {} times", fired.load(Ordering::SeqCst));
        t.delete();
    }

    fn workqueue_item_may_sleep() {
        let wq = crate::workqueue::system().ok_or("no system workqueue")?;
        let slept = Arc::new(AtomicU64::new(0));
        let s = slept.clone();
        let work = Work::new(move || {
            let before = crate::time::jiffies();
            super::sleep_ticks(3);
            s.store(crate::time::jiffies() - before, Ordering::SeqCst);
        });
        check!(wq.queue(&work), "queue refused an idle item");
        wq.flush();
        check!(slept.load(Ordering::SeqCst) >= 3, "slept {} ticks, wanted 3", slept.load(Ordering::SeqCst));
    }
}
