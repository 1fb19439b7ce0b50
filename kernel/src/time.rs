//! Time: the TSC as the clock, calibrated against the 8254 PIT.
//!
//! The seeds' "calibrate the device clock": the TSC counts at a frequency
//! nobody tells us (CPUID leaf 0x15 is often absent, and under TCG it is
//! the host's), so we measure it: PIT channel 2 counts down from a known
//! value at 1.193182 MHz, and we read the TSC when the count starts and
//! when the channel's output goes high (8254 datasheet, mode 0; Linux's
//! `pit_calibrate_tsc`). Timestamps are TSC ticks since kernel entry.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::rdtsc;
use crate::arch::port::{inb, outb};

const PIT_HZ: u64 = 1_193_182;
const PIT_CH2_DATA: u16 = 0x42;
const PIT_MODE: u16 = 0x43;
/// Port B of the keyboard controller: bit 0 gates PIT channel 2, bit 1
/// drives the speaker, bit 5 reads channel 2's output.
const PORT_B: u16 = 0x61;
/// 1 ms windows: each poll of port B is one emulated I/O access (~1 µs),
/// so a window's error is ~0.1%.
const CALIBRATION_MS: u64 = 1;
const CALIBRATION_TRIES: usize = 4;
/// Upper bound on polls of port B: far more than 1 ms of port reads.
const MAX_POLLS: u32 = 10_000_000;
/// Used if the PIT never answers (no PIT: say so and keep a plausible clock).
const FALLBACK_HZ: u64 = 2_000_000_000;

static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Marks time zero (first thing at kernel entry).
pub fn mark_boot() {
    BOOT_TSC.store(rdtsc(), Ordering::Relaxed);
}

/// One PIT-timed window: TSC ticks while channel 2 counts `count` down,
/// or `None` if the PIT never answered.
fn pit_window(count: u64) -> Option<u64> {
    // SAFETY: the PIT and port B belong to the arch/time code; channel 2 is
    // only wired to the speaker, which we keep off.
    unsafe {
        outb(PORT_B, (inb(PORT_B) & !0x02) | 0x01);
        outb(PIT_MODE, 0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        outb(PIT_CH2_DATA, count as u8);
        outb(PIT_CH2_DATA, (count >> 8) as u8);
        let start = rdtsc();
        let mut polls = 0;
        while inb(PORT_B) & 0x20 == 0 && polls < MAX_POLLS {
            polls += 1;
        }
        let end = rdtsc();
        (polls < MAX_POLLS).then_some(end - start)
    }
}

/// Measures the TSC frequency against PIT channel 2. Returns Hz.
///
/// Several short windows, keeping the shortest: on a busy host the vCPU
/// can be descheduled inside a window, which only ever makes it look
/// longer (Linux's `pit_calibrate_tsc` retries for the same reason).
pub fn calibrate_tsc() -> u64 {
    let count = PIT_HZ * CALIBRATION_MS / 1000;
    let best = (0..CALIBRATION_TRIES).filter_map(|_| pit_window(count)).min();
    let hz = best.map(|ticks| ticks * PIT_HZ / count).unwrap_or_else(|| {
        log::warn!("PIT did not answer, assuming a {FALLBACK_HZ} Hz TSC");
        FALLBACK_HZ
    });
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// TSC ticks since kernel entry.
pub fn ticks_since_boot() -> u64 {
    rdtsc().saturating_sub(BOOT_TSC.load(Ordering::Relaxed))
}

/// Converts TSC ticks to nanoseconds (0 before calibration).
pub fn ticks_to_ns(ticks: u64) -> u64 {
    match tsc_hz() {
        0 => 0,
        hz => (u128::from(ticks) * 1_000_000_000 / u128::from(hz)) as u64,
    }
}

pub fn uptime_ns() -> u64 {
    ticks_to_ns(ticks_since_boot())
}

/// Timer interrupts per second on each CPU (Linux's `HZ`).
pub const HZ: u64 = 100;

/// Ticks since the tick started on the boot CPU (Linux's `jiffies`).
static JIFFIES: AtomicU64 = AtomicU64::new(0);

pub fn jiffies() -> u64 {
    JIFFIES.load(Ordering::Relaxed)
}

/// The periodic timer interrupt (hard-IRQ context): advance time, let the
/// timer softirq run due timers, and end the running thread's time slice
/// if another thread is waiting for this CPU.
pub fn tick() {
    let me = crate::percpu::this_cpu();
    me.ticks.fetch_add(1, Ordering::Relaxed);
    if me.cpu() == 0 {
        JIFFIES.fetch_add(1, Ordering::Relaxed);
    }
    crate::timer::on_tick();
    if me.sched.has_waiting() {
        me.need_resched.store(true, Ordering::Relaxed);
    }
}

/// Busy-waits `us` microseconds on the calibrated TSC (Linux's `udelay`):
/// for the short, fixed waits hardware sequences demand (INIT–SIPI).
pub fn udelay(us: u64) {
    let hz = tsc_hz().max(1);
    let ticks = deferred::delay::ticks_for_us(us, hz);
    let start = rdtsc();
    while rdtsc().wrapping_sub(start) < ticks {
        crate::arch::cpu::pause();
    }
}
