//! The logic of ioxide's PCI subsystem.
//!
//! # From "something is plugged in" to "a driver owns it"
//!
//! PCI is how a PC attaches devices, and PCI Express kept its software model
//! intact: a tree of buses, joined by bridges, holding *functions* that each
//! have a small **configuration space** describing themselves. Everything the
//! kernel does with PCI is a walk through that space:
//!
//! ```text
//!  config access ─▶ enumerate ─▶ header ─▶ BARs ─▶ capabilities ─▶ interrupts ─▶ driver match
//!   (ECAM/CF8)     (bus tree,    (who is   (sizes,  (PM, MSI,       (INTx route   (id tables,
//!                   bus numbers)  it?)      addresses) MSI-X, PCIe)  or MSI/MSI-X)  probe)
//! ```
//!
//! | module | mechanism | spec |
//! |---|---|---|
//! | [`config`] | addressing a function (ECAM, port 0xCF8), dword access, the header's registers | PCI 3.0 §3.2.2.3.2, §6.1–6.2; PCIe §7.2.2 |
//! | [`header`] | vendor, device, class, header type, interrupt pin; `lspci` names | PCI 3.0 §6.2.1, §6.2.4 |
//! | [`bar`] | sizing BARs without disturbing them; programming them | PCI 3.0 §6.2.5 |
//! | [`caps`] | the capability lists, walked defensively | PCI 3.0 §6.7; PCIe §7.6 |
//! | [`msi`] | MSI and MSI-X registers and tables | PCI 3.0 §6.8 |
//! | [`enumerate`] | depth-first scan, bridge bus numbering | PPB 1.2 §3.2.5.2–4 |
//! | [`assign`] | BAR and bridge-window assignment when firmware did none | PPB 1.2 §3.2.5.6–11 |
//! | [`intx`] | INTx swizzling through bridges, q35's PIRQ→GSI map | PPB 1.2 §9.1; QEMU `lpc_ich9.c` |
//! | [`id`] | driver ID tables and matching | (Linux `pci_device_id`) |
//! | `sim` (feature `sim`) | a simulated segment for host tests | — |
//!
//! # What this crate is, and is not
//!
//! Pure logic over one trait, [`ConfigAccess`] (read and write a dword of a
//! function's configuration space), plus [`msi::MsixTable`] for the MSI-X
//! table that lives in device memory. The kernel implements both (ECAM
//! through ioremapped pages or port 0xCF8; the MSI-X table through an
//! ioremapped BAR), runs the scan at boot, keeps the [`Topology`], binds
//! drivers and exposes `lspci`. Host tests run the same code against
//! `sim::SimPci`, which routes configuration cycles through bridges by their
//! bus-number registers and gives BARs real sizing semantics.
//!
//! Following DESIGN.md: registers and bits are named once, with their spec
//! section, in the `regs` modules ([`config::regs`], [`caps::regs`],
//! [`msi::regs`]); every loop over device-provided data is bounded (the
//! capability walks, the bridge recursion); device misbehaviour — a
//! capability loop, a bridge pointing back up the tree, a BAR with a
//! reserved type, a function vanishing mid-walk — is an error value, never a
//! panic or a hang; scans count their work ([`enumerate::ScanStats`]).
//!
//! Specifications cited:
//! - `PCI 3.0 §x`: PCI Local Bus Specification, revision 3.0.
//! - `PPB 1.2 §x`: PCI-to-PCI Bridge Architecture Specification, revision 1.2.
//! - `PCIe §x`: PCI Express Base Specification (4.0 and later numbering).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod assign;
pub mod bar;
pub mod caps;
pub mod config;
pub mod enumerate;
pub mod header;
pub mod id;
pub mod intx;
pub mod msi;
#[cfg(feature = "sim")]
pub mod sim;

pub use bar::{Bar, BarError, Bars};
pub use caps::{CapError, Capability, ExtCapability};
pub use config::{Bdf, ConfigAccess};
pub use enumerate::{scan, BusNumbering, ScanError, Topology};
pub use header::{ClassCode, FunctionInfo, HeaderType, IntxPin};
pub use id::PciDeviceId;
pub use msi::{MsiCap, MsiError, MsixCap, MsixTable};
