//! The logic of ioxide's bottom halves: deferred work, taken out of interrupt
//! context.
//!
//! # Why deferred work exists
//!
//! DESIGN.md rule 5: *interrupt context is small*. A hard IRQ handler
//! acknowledges the device, masks it if needed, and *schedules* the rest; it
//! never allocates, sleeps or walks long lists, because while it runs the
//! local CPU takes no other interrupt and the scheduler is off. The seeds say
//! it as a list of don'ts for ISRs ("avoid dynamic memory allocation…, avoid
//! call to scheduler…", `seeds/002`) ending in *"identify non-critical work
//! and use appropriate deferred routines"*. Linux calls those routines
//! **bottom halves**; Linux Device Drivers (LDD3) covers them in ch. 7 ("Time,
//! Delays, and Deferred Work": timers, tasklets, workqueues, `udelay`) and
//! ch. 10 ("Interrupt Handling": top and bottom halves).
//!
//! This crate holds the part of each mechanism that is pure logic — state
//! words, queues, masks, budgets, deadline arithmetic — so that the
//! guarantees the lectures teach can be tested on the host with real threads.
//! The kernel (`kernel/src/irq/`) wraps it with what needs hardware: one
//! instance per CPU, interrupt masking around the per-CPU parts, the
//! `ksoftirqd` kernel threads, and a clock.
//!
//! | module | mechanism | guarantee |
//! |---|---|---|
//! | [`softirq`] | per-CPU pending bitmask, run on IRQ exit or by `ksoftirqd` | a raise is never lost; a softirq storm is bounded and handed to a thread |
//! | [`tasklet`] | a dynamic bottom half on top of the TASKLET softirq | scheduled twice before it runs → runs once; never runs concurrently with itself; a schedule during a run → one more run |
//! | [`timer`] | deadline-ordered queue, expired from the TIMER softirq | runs at or after its deadline, in deadline order, once per arming |
//! | [`delay`] | busy-wait arithmetic for `udelay` | waits *at least* the time asked, with no overflow |
//!
//! Workqueues are not here: their logic is a kernel thread sleeping on a
//! queue, which needs the scheduler, so they live in `kernel/src/sched/`.
//!
//! # Conventions
//!
//! - `#![no_std]`, no heap, no dependencies: everything here is a fixed-size
//!   value that can sit in a `static` or a per-CPU area.
//! - Structures shared between CPUs ([`tasklet::TaskletState`],
//!   [`softirq::PendingMask`]) take `&self` and use atomics. Per-CPU
//!   structures ([`tasklet::TaskletQueue`], [`timer::TimerQueue`]) take
//!   `&mut self`: the kernel owns one per CPU and touches it with local
//!   interrupts masked, so no atomics are needed.
//! - Every structure counts itself (DESIGN.md rule 6) and has a `stats()`
//!   snapshot for the shell's `/proc`-style files.
//! - Nothing panics on a misuse the kernel could survive: full queues and
//!   duplicate ids are error values, an unbalanced enable is counted.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod delay;
pub mod softirq;
pub mod tasklet;
pub mod timer;
