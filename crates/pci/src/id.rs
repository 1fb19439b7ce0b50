//! Device ID tables: how a driver says which functions it drives.
//!
//! Linux drivers carry a table of `struct pci_device_id` (LDD3 ch. 12,
//! "PCI Drivers"): vendor, device, subsystem vendor, subsystem device — any
//! of which may be `PCI_ANY_ID` — plus a class and a class mask. The PCI
//! core walks every function against every table and calls the first
//! driver's `probe` that matches. [`PciDeviceId`] is that entry in Rust
//! form: `None` is "any", and the class test is
//! `(function.class ^ id.class) & id.class_mask == 0` over the 24-bit
//! `0xBBSSPP` class code, so a mask of 0 ignores the class, `0xffff00`
//! matches base and sub-class with any programming interface, and
//! `0xffffff` matches exactly.
//!
//! ```
//! use pci::id::PciDeviceId;
//! const IDS: &[PciDeviceId] = &[
//!     PciDeviceId::device(0x8086, 0x100e),            // e1000 (82540EM)
//!     PciDeviceId::class(0x01_08_02, 0xff_ff_ff),     // any NVMe controller
//! ];
//! # let _ = IDS;
//! ```

use crate::header::FunctionInfo;

/// One entry of a driver's ID table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PciDeviceId {
    /// Vendor ID, or any.
    pub vendor: Option<u16>,
    /// Device ID, or any.
    pub device: Option<u16>,
    /// Subsystem vendor ID, or any.
    pub subvendor: Option<u16>,
    /// Subsystem ID, or any.
    pub subdevice: Option<u16>,
    /// Class code `0xBBSSPP`, compared under `class_mask`.
    pub class: u32,
    /// Which class bits must match (0: class ignored).
    pub class_mask: u32,
}

impl PciDeviceId {
    /// Matches every function.
    pub const ANY: PciDeviceId =
        PciDeviceId { vendor: None, device: None, subvendor: None, subdevice: None, class: 0, class_mask: 0 };

    /// Matches one vendor and device ID, any subsystem and class
    /// (`PCI_DEVICE(v, d)`).
    pub const fn device(vendor: u16, device: u16) -> Self {
        PciDeviceId { vendor: Some(vendor), device: Some(device), ..Self::ANY }
    }

    /// Matches a class code under a mask, any vendor (`PCI_DEVICE_CLASS`).
    pub const fn class(class: u32, class_mask: u32) -> Self {
        PciDeviceId { class, class_mask, ..Self::ANY }
    }

    /// Matches any device of one vendor.
    pub const fn vendor(vendor: u16) -> Self {
        PciDeviceId { vendor: Some(vendor), ..Self::ANY }
    }

    /// The same entry, also requiring a subsystem vendor and device
    /// (`PCI_DEVICE_SUB`).
    pub const fn with_subsystem(self, subvendor: u16, subdevice: u16) -> Self {
        PciDeviceId { subvendor: Some(subvendor), subdevice: Some(subdevice), ..self }
    }

    /// The same entry, also requiring a class under a mask.
    pub const fn with_class(self, class: u32, class_mask: u32) -> Self {
        PciDeviceId { class, class_mask, ..self }
    }

    /// Whether `f` matches this entry.
    pub fn matches(&self, f: &FunctionInfo) -> bool {
        fn field(want: Option<u16>, have: u16) -> bool {
            want.is_none_or(|w| w == have)
        }
        field(self.vendor, f.vendor)
            && field(self.device, f.device)
            && field(self.subvendor, f.subsystem_vendor)
            && field(self.subdevice, f.subsystem_device)
            && (f.class.as_u32() ^ self.class) & self.class_mask == 0
    }
}

/// The index of the first entry of `table` that matches `f` (the order of
/// the table is the driver's order of preference).
pub fn find_match(table: &[PciDeviceId], f: &FunctionInfo) -> Option<usize> {
    table.iter().position(|id| id.matches(f))
}
