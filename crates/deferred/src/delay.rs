//! Short busy-wait delays: `udelay`, `ndelay`, `mdelay` against a calibrated
//! free-running counter.
//!
//! # The mechanism (LDD3 ch. 7, "Short Delays")
//!
//! A driver sometimes must wait a few microseconds for a device — a reset
//! pulse, a settle time from the datasheet — in a context that cannot sleep
//! or where sleeping would cost more than the wait. The seeds' *"busy wait"*
//! (`seeds/002`, "Introducing delays"): spin until enough time has passed.
//! Linux counts loop iterations calibrated at boot (`loops_per_jiffy`,
//! BogoMIPS) or reads the TSC; ioxide reads a free-running counter (the TSC)
//! whose frequency was calibrated against a known clock (the PIT or HPET):
//! [`calibrate_hz`].
//!
//! # The guarantee: at least the time asked, never less
//!
//! A delay may be longer than asked (the CPU may be interrupted while
//! spinning), never shorter — the device's minimum timing is what it
//! protects. So:
//!
//! - time → ticks conversions round **up** ([`ticks_for_us`] and friends);
//! - [`Delay::udelay`] waits one tick more than the conversion, because the
//!   first counter tick after the start reading may be only partly elapsed;
//! - the arithmetic is done in `u128` and saturates, so no argument overflows
//!   into a short wait. Linux's `udelay` multiplies in 32-bit fixed point and
//!   refuses constant arguments of 20 000 µs or more (`__bad_udelay`) for
//!   exactly that reason; here a huge argument is merely a long wait.
//!
//! The counter is read through a closure so the same code runs against the
//! TSC in the kernel and against `std::time::Instant` or a fake on the host.
//! Elapsed ticks are a wrapping difference, so a counter that wraps once
//! during the wait is fine. Busy-waiting is for microseconds; anything in
//! milliseconds belongs on a timer ([`crate::timer`]) or a sleep.

use core::sync::atomic::{AtomicU64, Ordering};

const NS_PER_S: u128 = 1_000_000_000;
const US_PER_S: u128 = 1_000_000;
const MS_PER_S: u128 = 1_000;

/// `ceil(amount * hz / per_second)`, saturating at `u64::MAX`.
const fn ticks_ceil(amount: u64, hz: u64, per_second: u128) -> u64 {
    let product = amount as u128 * hz as u128; // < 2^128: cannot overflow
    let ticks = product.div_ceil(per_second);
    if ticks > u64::MAX as u128 {
        u64::MAX
    } else {
        ticks as u64
    }
}

/// Counter ticks covering at least `ns` nanoseconds at `hz` (rounded up,
/// saturating).
pub const fn ticks_for_ns(ns: u64, hz: u64) -> u64 {
    ticks_ceil(ns, hz, NS_PER_S)
}

/// Counter ticks covering at least `us` microseconds at `hz` (rounded up,
/// saturating).
pub const fn ticks_for_us(us: u64, hz: u64) -> u64 {
    ticks_ceil(us, hz, US_PER_S)
}

/// Counter ticks covering at least `ms` milliseconds at `hz` (rounded up,
/// saturating).
pub const fn ticks_for_ms(ms: u64, hz: u64) -> u64 {
    ticks_ceil(ms, hz, MS_PER_S)
}

/// Nanoseconds in `ticks` at `hz`, rounded down (a measurement, not a
/// wait), saturating. 0 if `hz` is 0.
pub const fn ns_for_ticks(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let ns = ticks as u128 * NS_PER_S / hz as u128;
    if ns > u64::MAX as u128 {
        u64::MAX
    } else {
        ns as u64
    }
}

/// Calibration: a counter advanced `counter_ticks` while a reference clock
/// of known frequency `ref_hz` advanced `ref_ticks`; the counter's frequency
/// is `counter_ticks * ref_hz / ref_ticks` (rounded down, saturating). 0 if
/// `ref_ticks` is 0. E.g. TSC ticks counted over 11 932 PIT ticks (10 ms at
/// 1 193 182 Hz).
pub const fn calibrate_hz(counter_ticks: u64, ref_ticks: u64, ref_hz: u64) -> u64 {
    if ref_ticks == 0 {
        return 0;
    }
    let hz = counter_ticks as u128 * ref_hz as u128 / ref_ticks as u128;
    if hz > u64::MAX as u128 {
        u64::MAX
    } else {
        hz as u64
    }
}

/// A busy-wait delay against a counter of frequency `hz`, with counters.
#[derive(Debug)]
pub struct Delay {
    hz: u64,
    calls: AtomicU64,
    ticks_waited: AtomicU64,
}

impl Delay {
    /// A delay for a counter running at `hz` (from [`calibrate_hz`]).
    pub const fn new(hz: u64) -> Self {
        Delay { hz, calls: AtomicU64::new(0), ticks_waited: AtomicU64::new(0) }
    }

    /// The counter frequency.
    pub const fn hz(&self) -> u64 {
        self.hz
    }

    /// Spins until at least `ticks` full counter ticks have passed, reading
    /// the counter with `now`. Returns the ticks actually waited.
    pub fn spin_ticks(&self, ticks: u64, mut now: impl FnMut() -> u64) -> u64 {
        // One more than asked: the tick in progress at `start` is partial.
        let target = ticks.saturating_add(1);
        let start = now();
        let waited = loop {
            let elapsed = now().wrapping_sub(start);
            if elapsed >= target {
                break elapsed;
            }
            core::hint::spin_loop();
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.ticks_waited.fetch_add(waited, Ordering::Relaxed);
        waited
    }

    /// Waits at least `ns` nanoseconds.
    pub fn ndelay(&self, ns: u64, now: impl FnMut() -> u64) -> u64 {
        self.spin_ticks(ticks_for_ns(ns, self.hz), now)
    }

    /// Waits at least `us` microseconds.
    pub fn udelay(&self, us: u64, now: impl FnMut() -> u64) -> u64 {
        self.spin_ticks(ticks_for_us(us, self.hz), now)
    }

    /// Waits at least `ms` milliseconds. Busy: prefer a timer or a sleep.
    pub fn mdelay(&self, ms: u64, now: impl FnMut() -> u64) -> u64 {
        self.spin_ticks(ticks_for_ms(ms, self.hz), now)
    }

    /// (delays performed, counter ticks spent spinning).
    pub fn stats(&self) -> (u64, u64) {
        (self.calls.load(Ordering::Relaxed), self.ticks_waited.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn conversions_round_up() {
        assert_eq!(ticks_for_us(1, 1_000_000), 1);
        assert_eq!(ticks_for_us(1, 1_500_000), 2, "1.5 ticks → 2");
        assert_eq!(ticks_for_us(1, 1), 1, "a microsecond of a 1 Hz counter is still one tick");
        assert_eq!(ticks_for_us(0, 3_000_000_000), 0);
        assert_eq!(ticks_for_us(10, 3_000_000_000), 30_000);
        assert_eq!(ticks_for_ns(1, 1_193_182), 1);
        assert_eq!(ticks_for_ns(1_000, 1_193_182), 2, "1.19 ticks → 2");
        assert_eq!(ticks_for_ms(10, 1_193_182), 11_932, "11931.82 → 11932");
        assert_eq!(ticks_for_us(5, 0), 0);
    }

    #[test]
    fn conversions_do_not_overflow() {
        // u64::MAX µs at 3 GHz: the product needs ~96 bits.
        assert_eq!(ticks_for_us(u64::MAX, 3_000_000_000), u64::MAX, "saturates");
        // Large but representable: 2^40 µs at 4 GHz = 2^40 * 4000 ticks.
        assert_eq!(ticks_for_us(1 << 40, 4_000_000_000), (1u64 << 40) * 4000);
        // Linux's udelay limit (20 000 µs) is no limit here.
        assert_eq!(ticks_for_us(20_000, 3_000_000_000), 60_000_000);
        assert_eq!(ticks_for_ns(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(ticks_for_ms(u64::MAX, 1), u64::MAX.div_ceil(1000));
    }

    #[test]
    fn ns_for_ticks_rounds_down_and_saturates() {
        assert_eq!(ns_for_ticks(3, 1_000_000_000), 3);
        assert_eq!(ns_for_ticks(1, 3_000_000_000), 0);
        assert_eq!(ns_for_ticks(u64::MAX, 1), u64::MAX);
        assert_eq!(ns_for_ticks(5, 0), 0);
    }

    #[test]
    fn calibration() {
        // 10 ms of PIT (11 932 ticks at 1 193 182 Hz) saw 30 000 000 TSC ticks.
        let hz = calibrate_hz(30_000_000, 11_932, 1_193_182);
        assert!((2_999_000_000..=3_001_000_000).contains(&hz), "{hz}");
        assert_eq!(calibrate_hz(1, 0, 1_000), 0);
        assert_eq!(calibrate_hz(u64::MAX, 1, u64::MAX), u64::MAX);
    }

    #[test]
    fn udelay_waits_at_least_the_ticks_plus_one() {
        let d = Delay::new(1_000_000); // 1 tick = 1 µs
        let clock = Cell::new(1000u64);
        let waited = d.udelay(5, || {
            let t = clock.get();
            clock.set(t + 1);
            t
        });
        assert_eq!(waited, 6);
        assert!(clock.get() - 1000 >= 7, "start read + 6 elapsed reads");
        assert_eq!(d.stats(), (1, 6));
    }

    #[test]
    fn udelay_tolerates_counter_wrap() {
        let d = Delay::new(1_000_000);
        let clock = Cell::new(u64::MAX - 2);
        let waited = d.udelay(10, || {
            let t = clock.get();
            clock.set(t.wrapping_add(1));
            t
        });
        assert_eq!(waited, 11);
    }

    #[test]
    fn zero_delay_still_crosses_a_tick_boundary() {
        let d = Delay::new(1_000);
        let clock = Cell::new(0u64);
        let waited = d.ndelay(0, || {
            let t = clock.get();
            clock.set(t + 1);
            t
        });
        assert_eq!(waited, 1);
    }

    #[test]
    fn udelay_against_real_time() {
        let origin = std::time::Instant::now();
        let now = || origin.elapsed().as_nanos() as u64;
        let d = Delay::new(1_000_000_000);
        for us in [1, 50, 300] {
            let t0 = std::time::Instant::now();
            d.udelay(us, now);
            assert!(t0.elapsed() >= std::time::Duration::from_micros(us), "udelay({us}) returned early");
        }
        let t0 = std::time::Instant::now();
        d.mdelay(2, now);
        assert!(t0.elapsed() >= std::time::Duration::from_millis(2));
    }
}
