//! In-kernel tests of the trap path.

use core::sync::atomic::Ordering;

use super::{cpu, extable, trap};
use crate::{check, check_eq, ktest};

ktest! {
    fn breakpoint_returns() {
        let before = trap::STATS.breakpoints.load(Ordering::Relaxed);
        cpu::breakpoint();
        cpu::breakpoint();
        check_eq!(trap::STATS.breakpoints.load(Ordering::Relaxed) - before, 2);
    }

    fn extable_recovers_from_a_fault_and_resumes() {
        let mut x = 0x5a5a_u64;
        let ok = extable::probe_read_u64(&mut x as *mut u64 as u64);
        let bad = extable::probe_read_u64(0x8000_0000_0000); // non-canonical: #GP, not #PF
        check_eq!(ok, Ok(0x5a5a));
        check_eq!(bad.map_err(|f| f.vector), Err(13));
    }

    fn timer_interrupts_arrive() {
        check!(cpu::interrupts_enabled(), "threads run with interrupts on");
        let before = crate::percpu::this_cpu().ticks.load(Ordering::Relaxed);
        // Bounded: 2 s of TSC time for at least 3 ticks at 100 Hz.
        let start = cpu::rdtsc();
        while crate::percpu::this_cpu().ticks.load(Ordering::Relaxed) < before + 3
            && cpu::rdtsc() - start < 2 * crate::time::tsc_hz()
        {
            cpu::pause();
        }
        check!(crate::percpu::this_cpu().ticks.load(Ordering::Relaxed) >= before + 3, "the timer tick did not arrive");
    }

    fn udelay_waits_at_least_as_long_as_asked() {
        let hz = crate::time::tsc_hz();
        let start = cpu::rdtsc();
        crate::time::udelay(2000);
        let waited = cpu::rdtsc() - start;
        check!(waited >= hz / 500, "udelay(2000) returned after {} us", waited * 1_000_000 / hz);
    }

    fn tsc_is_calibrated_and_monotonic() {
        let hz = crate::time::tsc_hz();
        check!(hz > 100_000_000 && hz < 20_000_000_000, "implausible TSC frequency {hz}");
        let a = crate::time::uptime_ns();
        let b = crate::time::uptime_ns();
        check!(b >= a, "time went backwards");
    }
}
