//! The hardware-access vocabulary that ioxide drivers speak.
//!
//! A driver crate never touches a raw pointer or an `in`/`out` instruction. It is
//! handed a [`RegisterWindow`] — a bounds-checked view of one device's registers —
//! and reads and writes named offsets through it. Whether the window is a range of
//! x86 I/O ports ([`PortWindow`]), an uncached memory mapping ([`MmioWindow`]) or,
//! in a host test, a software model of the device (`sim::SimWindow`) is decided by
//! whoever creates the window: the kernel when it binds the driver, or the test.
//! This is how the same driver crate runs in the kernel and in `cargo test`.
//!
//! This crate is one of the few rooms where `unsafe` lives (DESIGN.md, rule 1). The
//! unsafety is concentrated in the two constructors, [`PortWindow::new`] and
//! [`MmioWindow::new`], whose callers promise that the ports or the mapping belong
//! to the device; every access after that is checked and safe.
//!
//! Modules:
//! - [`io`]: the [`RegisterWindow`] trait, access widths, errors and counters.
//! - `pio`: x86 port I/O windows (only on `x86_64`).
//! - [`mmio`]: memory-mapped register windows.
//! - [`barrier`]: CPU and DMA memory barriers.
//! - [`irq`]: what an interrupt handler tells the dispatcher.
//! - `sim` (feature `sim`): host fakes for driver tests.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

// The fakes in `sim` (and the unit tests) run on the host and may use `std`; the
// rest of the crate stays `core`-only so it builds for `x86_64-unknown-none`.
#[cfg(any(test, feature = "sim"))]
extern crate std;

pub mod barrier;
pub mod dma;
pub mod io;
pub mod irq;
pub mod mmio;
#[cfg(target_arch = "x86_64")]
pub mod pio;
#[cfg(any(test, feature = "sim"))]
pub mod sim;

pub use io::{IoError, IoStats, IoStatsSnapshot, RegisterWindow, Width};
pub use irq::IrqReturn;
pub use mmio::MmioWindow;
#[cfg(target_arch = "x86_64")]
pub use pio::PortWindow;
