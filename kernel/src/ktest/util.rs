//! Helpers for in-kernel tests that involve other threads and CPUs.

use crate::arch::cpu;
use crate::time;

/// Yields until `cond()` holds or `ms` milliseconds of TSC time pass;
/// returns whether it held. Every cross-thread test waits through this, so
/// a broken mechanism fails the test instead of hanging the run.
pub fn wait_until(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let limit = time::tsc_hz() / 1000 * ms;
    let start = cpu::rdtsc();
    loop {
        if cond() {
            return true;
        }
        if cpu::rdtsc() - start > limit {
            return cond();
        }
        crate::sched::yield_now();
        cpu::pause();
    }
}

/// The second CPU, if there is one (tests that need two CPUs skip cleanly
/// on one: they report what they could not check).
pub fn other_cpu() -> Option<usize> {
    let me = crate::percpu::this_cpu().cpu();
    crate::percpu::possible()
        .find(|c| c.cpu() != me && c.online.load(core::sync::atomic::Ordering::Acquire))
        .map(|c| c.cpu())
}

/// The scheduler's view, for failure messages of cross-thread tests.
pub fn thread_states() -> alloc::string::String {
    let mut out = alloc::string::String::new();
    for t in crate::sched::threads() {
        out += &alloc::format!("{}@cpu{}:{:?} ", t.name, t.cpu, t.state);
    }
    out
}
