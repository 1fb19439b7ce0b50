//! Buses the kernel enumerates: PCI/PCIe for now.

pub mod pci;
