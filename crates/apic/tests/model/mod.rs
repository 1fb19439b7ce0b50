//! Device models for testing the `apic` crate on the host.
//!
//! Like QEMU's `hw/intc/ioapic.c` and `hw/intc/apic.c`, each model turns
//! register reads and writes (through `hal::sim::SimWindow`, or the
//! `MsrAccess` trait for the x2APIC) into device behaviour: IOREGSEL/IOWIN
//! indirection, read-only status bits, an ICR that stays busy, a timer that
//! counts down, MSRs that fault.
//!
//! **Independence.** Offsets and bits are written out here from the
//! datasheet and the SDM rather than imported from the crate's `regs`
//! modules, so a wrong constant in the crate is not silently mirrored by the
//! model.

// Each test file uses only some of the models.
#![allow(dead_code)]

pub mod ioapic;
pub mod msr;
pub mod xapic;
