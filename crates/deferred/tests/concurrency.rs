//! The bottom-half guarantees under real concurrency: std threads play CPUs,
//! each with its own tasklet queue, running the kernel's protocol.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use deferred::softirq::{CpuSoftirqs, PendingMask, RestartPolicy, RunExit, SoftirqVector, NR_SOFTIRQS};
use deferred::tasklet::{RunOutcome, TaskletQueue, TaskletState};

const ID: u16 = 0;

/// One pass of a CPU's TASKLET softirq over what is queued now: the run
/// protocol, with busy/disabled tasklets pushed back (the "re-raise" is the
/// caller calling this again).
fn tasklet_softirq<const N: usize>(q: &mut TaskletQueue<N>, t: &TaskletState, mut f: impl FnMut()) {
    for _ in 0..q.len() {
        let id = q.pop().expect("len said so");
        match t.run(&mut f) {
            RunOutcome::Busy | RunOutcome::Disabled => q.push(id).expect("an id is on one queue at most"),
            RunOutcome::Ran => {}
            RunOutcome::NotScheduled => panic!("a queued tasklet must be scheduled"),
        }
    }
}

/// Widens the critical section so an overlap, if possible, happens.
fn busy_work(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

/// `cpus` threads schedule and run the same tasklet; the function also
/// reschedules itself now and then. Never two runs at once; every
/// successful schedule gets exactly one run.
fn race(cpus: usize, iterations: u32) {
    let t = TaskletState::new();
    let in_function = AtomicU32::new(0);
    let overlap = AtomicBool::new(false);
    let runs = AtomicU64::new(0);
    let schedules = AtomicU64::new(0);
    let start = Barrier::new(cpus);

    thread::scope(|s| {
        for cpu in 0..cpus {
            let (t, in_function, overlap, runs, schedules, start) =
                (&t, &in_function, &overlap, &runs, &schedules, &start);
            s.spawn(move || {
                let mut q = TaskletQueue::<4>::new();
                let mut resched_from_function = false;
                let function = |resched: &mut bool| {
                    if in_function.fetch_add(1, SeqCst) != 0 {
                        overlap.store(true, SeqCst);
                    }
                    busy_work(50);
                    let n = runs.fetch_add(1, SeqCst) + 1;
                    // "schedule called from the tasklet itself"
                    if n.is_multiple_of(7) && t.try_schedule() {
                        schedules.fetch_add(1, SeqCst);
                        *resched = true;
                    }
                    in_function.fetch_sub(1, SeqCst);
                };
                let softirq = |q: &mut TaskletQueue<4>, resched: &mut bool| {
                    tasklet_softirq(q, t, || function(resched));
                    if std::mem::take(resched) {
                        q.push(ID).unwrap();
                    }
                };
                start.wait();
                for i in 0..iterations {
                    // The "hard IRQ": schedule on this CPU.
                    if !(i as usize + cpu).is_multiple_of(3) && t.try_schedule() {
                        schedules.fetch_add(1, SeqCst);
                        q.push(ID).unwrap();
                    }
                    softirq(&mut q, &mut resched_from_function);
                }
                while !q.is_empty() {
                    softirq(&mut q, &mut resched_from_function);
                }
            });
        }
    });

    assert!(!overlap.load(SeqCst), "the tasklet ran on two CPUs at once");
    let s = t.stats();
    assert_eq!(runs.load(SeqCst), schedules.load(SeqCst), "runs != successful schedules");
    assert_eq!(s.runs, runs.load(SeqCst));
    assert_eq!(s.scheduled, schedules.load(SeqCst));
    assert!(!t.is_scheduled() && !t.is_running());
    std::println!("{cpus} cpus: {s:?}");
}

#[test]
fn two_cpus_never_run_a_tasklet_concurrently_and_runs_match_schedules() {
    race(2, 20_000);
}

#[test]
fn four_cpus_never_run_a_tasklet_concurrently_and_runs_match_schedules() {
    race(4, 10_000);
}

/// Guarantee 1: after `try_schedule` (queued or coalesced), some run starts
/// later and sees what the scheduler wrote before scheduling. The last run
/// must see the final value.
#[test]
fn every_schedule_is_followed_by_a_run_that_sees_its_data() {
    const CPUS: usize = 3;
    let t = TaskletState::new();
    let produced = AtomicU64::new(0);
    let seen = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..CPUS {
            s.spawn(|| {
                let mut q = TaskletQueue::<2>::new();
                for _ in 0..20_000 {
                    produced.fetch_add(1, SeqCst);
                    if t.try_schedule() {
                        q.push(ID).unwrap();
                    }
                    tasklet_softirq(&mut q, &t, || {
                        busy_work(20);
                        seen.store(produced.load(SeqCst), SeqCst);
                    });
                }
                while !q.is_empty() {
                    tasklet_softirq(&mut q, &t, || seen.store(produced.load(SeqCst), SeqCst));
                }
            });
        }
    });
    assert_eq!(seen.load(SeqCst), produced.load(SeqCst), "a schedule was coalesced into a run that had already read");
}

/// Guarantee 3 across CPUs, step by step: CPU B schedules while CPU A is
/// inside the function. B's schedule must queue (SCHED was cleared before the
/// run), B's softirq must bounce it (A holds RUN), and once A is done B runs
/// it and sees B's data. 1000 rounds, each a handshake, so the interleaving
/// is forced rather than hoped for.
#[test]
fn schedule_from_another_cpu_during_a_run_runs_again_there() {
    const ROUNDS: u32 = 1000;
    let t = TaskletState::new();
    let produced = AtomicU64::new(0);
    let seen = AtomicU64::new(0);
    let in_function = AtomicBool::new(false);
    let b_done = AtomicBool::new(false);
    let schedule_coalesced = AtomicBool::new(false);
    let not_bounced = AtomicBool::new(false);
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        // CPU A
        s.spawn(|| {
            let mut q = TaskletQueue::<2>::new();
            for _ in 0..ROUNDS {
                barrier.wait();
                // No asserts in here: a panic would leave B waiting at the barrier.
                if t.try_schedule() {
                    q.push(ID).unwrap();
                }
                tasklet_softirq(&mut q, &t, || {
                    seen.store(produced.load(SeqCst), SeqCst);
                    in_function.store(true, SeqCst);
                    while !b_done.load(SeqCst) {
                        thread::yield_now();
                    }
                });
                barrier.wait(); // A's run is over
                barrier.wait(); // B has run it again
            }
        });
        // CPU B
        s.spawn(|| {
            let mut q = TaskletQueue::<2>::new();
            for _ in 0..ROUNDS {
                barrier.wait();
                // Bounded: if A never runs it (a broken schedule), give up.
                let deadline = Instant::now() + Duration::from_secs(10);
                while !in_function.load(SeqCst) && Instant::now() < deadline {
                    thread::yield_now();
                }
                produced.fetch_add(1, SeqCst);
                if t.try_schedule() {
                    q.push(ID).unwrap();
                    let mut ran = false;
                    tasklet_softirq(&mut q, &t, || ran = true);
                    if ran || q.len() != 1 {
                        not_bounced.store(true, SeqCst);
                    }
                } else {
                    schedule_coalesced.store(true, SeqCst);
                }
                b_done.store(true, SeqCst);
                barrier.wait();
                while !q.is_empty() {
                    tasklet_softirq(&mut q, &t, || seen.store(produced.load(SeqCst), SeqCst));
                }
                in_function.store(false, SeqCst);
                b_done.store(false, SeqCst);
                barrier.wait();
            }
        });
    });
    assert!(!schedule_coalesced.load(SeqCst), "a schedule during a run was coalesced into that run");
    assert!(!not_bounced.load(SeqCst), "B ran the tasklet while A was running it");
    assert_eq!(seen.load(SeqCst), produced.load(SeqCst));
    let st = t.stats();
    assert_eq!(st.runs, 2 * u64::from(ROUNDS));
    assert_eq!(st.deferred_busy, u64::from(ROUNDS));
}

/// `tasklet_disable` = `disable()` then wait while running: once that
/// returns, no run may start until `enable()`. Two runner CPUs schedule and
/// run as fast as they can; a third disables, waits, holds the window open,
/// and enables, with a varying pause so the windows slide across the
/// runners' steps. A race detector, not a proof: with the lock and the
/// disable check swapped in `run`, it fails about nine times in ten.
#[test]
fn disable_then_wait_excludes_runs_until_enable() {
    const RUNNERS: usize = 2;
    let t = TaskletState::new();
    let window = AtomicBool::new(false);
    let violation = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let ran_enabled = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..RUNNERS {
            s.spawn(|| {
                let mut q = TaskletQueue::<2>::new();
                let mut iterations = 0u32;
                while !done.load(SeqCst) || iterations < 2_000 {
                    iterations += 1;
                    if t.try_schedule() {
                        q.push(ID).unwrap();
                    }
                    tasklet_softirq(&mut q, &t, || {
                        if window.load(SeqCst) {
                            violation.store(true, SeqCst);
                        }
                        ran_enabled.fetch_add(1, SeqCst);
                    });
                }
                // Leave it enabled and drained.
                while !q.is_empty() {
                    tasklet_softirq(&mut q, &t, || {});
                }
            });
        }
        s.spawn(|| {
            for i in 0..60_000 {
                t.disable();
                while t.is_running() {
                    std::hint::spin_loop();
                }
                window.store(true, SeqCst);
                busy_work(50);
                window.store(false, SeqCst);
                t.enable();
                busy_work(i % 61);
            }
            done.store(true, SeqCst);
        });
    });
    assert!(!violation.load(SeqCst), "a disabled tasklet ran");
    assert!(ran_enabled.load(SeqCst) > 0);
    std::println!("{:?}", t.stats());
}

/// Several "CPUs" raise while one takes: every raise that set a bit (returned
/// true) is returned by exactly one take — nothing lost, nothing doubled.
#[test]
fn softirq_raise_and_take_across_threads_loses_nothing() {
    let m = PendingMask::new();
    let raisers = [SoftirqVector::NetRx, SoftirqVector::NetRx, SoftirqVector::Timer, SoftirqVector::Block];
    const RAISES: u64 = 100_000;
    let fresh: [AtomicU64; NR_SOFTIRQS] = Default::default();
    let mut taken = [0u64; NR_SOFTIRQS];
    let running = AtomicU32::new(raisers.len() as u32);
    thread::scope(|s| {
        for v in raisers {
            let (m, fresh, running) = (&m, &fresh, &running);
            s.spawn(move || {
                for _ in 0..RAISES {
                    if m.raise(v) {
                        fresh[v.index()].fetch_add(1, SeqCst);
                    }
                }
                running.fetch_sub(1, SeqCst);
            });
        }
        loop {
            let last = running.load(SeqCst) == 0;
            let bits = m.take();
            for (i, t) in taken.iter_mut().enumerate() {
                *t += u64::from(bits >> i & 1);
            }
            if last {
                break;
            }
        }
    });
    assert_eq!(m.pending(), 0);
    for v in SoftirqVector::ALL {
        assert_eq!(taken[v.index()], fresh[v.index()].load(SeqCst), "{v:?}");
    }
    assert!(taken[SoftirqVector::NetRx.index()] > 0);
    assert_eq!(m.raised(SoftirqVector::NetRx), 2 * RAISES);
    assert_eq!(m.raised(SoftirqVector::Timer), RAISES);
    let netrx = SoftirqVector::NetRx;
    assert_eq!(m.coalesced(netrx), 2 * RAISES - fresh[netrx.index()].load(SeqCst));
}

/// The same through the softirq loop: a raise from another CPU while `run`
/// is going is handled by this run or the next, exactly once.
#[test]
fn softirq_run_handles_every_fresh_raise_once() {
    let c = CpuSoftirqs::new();
    let fresh = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let mut handled = 0u64;
    let mut deferred = 0u64;
    // A small pass budget so the storm path is taken too.
    let policy = RestartPolicy { max_restarts: 2, ..RestartPolicy::LINUX };
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..200_000 {
                if c.pending.raise(SoftirqVector::NetRx) {
                    fresh.fetch_add(1, SeqCst);
                }
            }
            done.store(true, SeqCst);
        });
        loop {
            let last = done.load(SeqCst);
            match c.run(&policy, || 0, |_| handled += 1) {
                RunExit::DeferToThread { .. } => deferred += 1,
                RunExit::Drained { .. } => {}
            }
            if last && c.pending.pending() == 0 {
                break;
            }
        }
    });
    assert_eq!(handled, fresh.load(SeqCst));
    let s = c.stats();
    assert_eq!(s.handled[SoftirqVector::NetRx.index()], handled);
    assert_eq!(s.deferred_to_thread, deferred);
}
