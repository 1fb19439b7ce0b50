//! In-kernel measurements behind `bench irq` (driven by `cargo xtask bench
//! irq`, which boots the machine, runs the command and keeps the JSON).
//!
//! * **Timer latency**: arm the local APIC timer one-shot, compute the TSC
//!   value at which it should fire (the APIC timer was calibrated against
//!   the TSC), and read the TSC first thing in the interrupt path. The
//!   difference is the delivery latency: APIC → IDT → stub → dispatcher.
//!   The periodic tick is paused on this CPU while it runs.
//! * **Self-IPI round trip**: send a fixed-vector IPI to our own APIC and
//!   spin until its handler has run: the cost of a null interrupt.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::{apic, cpu};
use crate::percpu::this_cpu;
use crate::time;

pub const BENCH_TIMER_VECTOR: u8 = 0xed;
pub const BENCH_IPI_VECTOR: u8 = 0xee;

static HIT: AtomicBool = AtomicBool::new(false);
static HIT_TSC: AtomicU64 = AtomicU64::new(0);

/// Called first thing in the interrupt path for the bench vectors.
pub fn hit(tsc: u64) {
    HIT_TSC.store(tsc, Ordering::Relaxed);
    HIT.store(true, Ordering::Release);
}

/// min / p50 / p99 / max of a sample set.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub min: i64,
    pub p50: i64,
    pub p99: i64,
    pub max: i64,
}

pub fn summarize(samples: &mut [i64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    Some(Summary { min: samples[0], p50: at(50), p99: at(99), max: samples[samples.len() - 1] })
}

/// Spins (bounded, 100 ms of TSC) until the bench handler ran.
fn wait_hit() -> Option<u64> {
    let limit = time::tsc_hz() / 10;
    let start = cpu::rdtsc();
    while !HIT.load(Ordering::Acquire) {
        if cpu::rdtsc() - start > limit {
            return None;
        }
        cpu::pause();
    }
    Some(HIT_TSC.load(Ordering::Relaxed))
}

pub struct IrqBench {
    pub timer_cycles: Summary,
    pub ipi_cycles: Summary,
    pub samples: usize,
    pub lost: usize,
}

/// Runs both measurements `samples` times each.
pub fn irq(samples: usize) -> Result<IrqBench, &'static str> {
    if !cpu::interrupts_enabled() {
        return Err("interrupts are off");
    }
    let lapic_per_ms = apic::ticks_per_ms();
    if lapic_per_ms == 0 {
        return Err("local APIC timer not calibrated");
    }
    let tsc_per_ms = time::tsc_hz() / 1000;
    // 20 µs ahead: long enough to arm it, short enough to keep the run quick.
    let ticks = (lapic_per_ms / 50).max(1) as u32;
    let tsc_delay = u64::from(ticks) * tsc_per_ms / lapic_per_ms;
    let mut timer = Vec::with_capacity(samples);
    let mut ipi = Vec::with_capacity(samples);
    let mut lost = 0;
    let me = this_cpu().apic_id.load(Ordering::Relaxed);
    crate::percpu::preempt_disable();
    for _ in 0..samples {
        HIT.store(false, Ordering::Release);
        let armed = cpu::rdtsc();
        if apic::oneshot(BENCH_TIMER_VECTOR, ticks).is_err() {
            lost += 1;
            continue;
        }
        match wait_hit() {
            Some(at) => timer.push(at as i64 - (armed + tsc_delay) as i64),
            None => lost += 1,
        }
    }
    let _ = apic::start_tick(time::HZ);
    for _ in 0..samples {
        HIT.store(false, Ordering::Release);
        let sent = cpu::rdtsc();
        if apic::send_ipi(me, BENCH_IPI_VECTOR).is_err() {
            lost += 1;
            continue;
        }
        if wait_hit().is_some() {
            ipi.push((cpu::rdtsc() - sent) as i64);
        } else {
            lost += 1;
        }
    }
    crate::percpu::preempt_enable();
    Ok(IrqBench {
        timer_cycles: summarize(&mut timer).ok_or("no timer samples")?,
        ipi_cycles: summarize(&mut ipi).ok_or("no IPI samples")?,
        samples,
        lost,
    })
}
