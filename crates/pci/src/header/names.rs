//! Names for `lspci`: classes, and the vendors and devices QEMU's q35 offers.
//!
//! Not a copy of the PCI ID database — a small table covering the devices
//! the standard test machine shows (DESIGN.md), spelled as `pci.ids` spells
//! them so the output can be compared with Linux's `lspci` line by line.
//! Class names follow PCI 3.0 appendix D; devices not listed print as
//! `Device xxxx`.

use super::ClassCode;

/// `(base, sub, name)`: classes named by base class and sub-class.
const CLASSES: &[(u8, u8, &str)] = &[
    (0x00, 0x00, "Non-VGA unclassified device"),
    (0x00, 0x01, "VGA compatible unclassified device"),
    // QEMU's edu device reports class 0x00ff.
    (0x00, 0xff, "Unclassified device"),
    // virtio-blk (legacy and modern) reports 0x0100.
    (0x01, 0x00, "SCSI storage controller"),
    (0x01, 0x01, "IDE interface"),
    (0x01, 0x05, "ATA controller"),
    (0x01, 0x06, "SATA controller"),
    (0x01, 0x07, "Serial Attached SCSI controller"),
    (0x01, 0x08, "Non-Volatile memory controller"),
    (0x01, 0x80, "Mass storage controller"),
    (0x02, 0x00, "Ethernet controller"),
    (0x02, 0x80, "Network controller"),
    (0x03, 0x00, "VGA compatible controller"),
    (0x03, 0x80, "Display controller"),
    (0x04, 0x03, "Audio device"),
    (0x05, 0x00, "RAM memory"),
    (0x06, 0x00, "Host bridge"),
    (0x06, 0x01, "ISA bridge"),
    // PCI-PCI bridges and PCIe root/switch ports share 0x0604.
    (0x06, 0x04, "PCI bridge"),
    (0x06, 0x80, "Bridge"),
    (0x07, 0x00, "Serial controller"),
    (0x07, 0x80, "Communication controller"),
    (0x08, 0x80, "System peripheral"),
    (0x0c, 0x03, "USB controller"),
    (0x0c, 0x05, "SMBus"),
];

/// `(base, name)`: the fallback when the sub-class is not listed.
const BASE_CLASSES: &[(u8, &str)] = &[
    (0x00, "Unclassified device"),
    (0x01, "Mass storage controller"),
    (0x02, "Network controller"),
    (0x03, "Display controller"),
    (0x04, "Multimedia controller"),
    (0x05, "Memory controller"),
    (0x06, "Bridge"),
    (0x07, "Communication controller"),
    (0x08, "Generic system peripheral"),
    (0x09, "Input device controller"),
    (0x0c, "Serial bus controller"),
    (0xff, "Unassigned class"),
];

/// `(vendor, name)`.
const VENDORS: &[(u16, &str)] = &[
    (0x8086, "Intel Corporation"),
    (0x1af4, "Red Hat, Inc."),
    (0x1b36, "Red Hat, Inc."),
    // pci.ids lists 0x1234 as "Technical Corp."; QEMU uses it for its own
    // devices (edu, the Bochs/std VGA).
    (0x1234, "QEMU"),
];

/// `(vendor, device, name)`.
const DEVICES: &[(u16, u16, &str)] = &[
    (0x8086, 0x29c0, "82G33/G31/P35/P31 Express DRAM Controller"),
    (0x8086, 0x2918, "82801IB (ICH9) LPC Interface Controller"),
    (0x8086, 0x2922, "82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]"),
    (0x8086, 0x2930, "82801I (ICH9 Family) SMBus Controller"),
    (0x8086, 0x100e, "82540EM Gigabit Ethernet Controller"),
    (0x8086, 0x10d3, "82574L Gigabit Network Connection"),
    (0x1234, 0x11e8, "QEMU edu device"),
    (0x1234, 0x1111, "QEMU standard VGA"),
    (0x1af4, 0x1000, "Virtio network device"),
    (0x1af4, 0x1001, "Virtio block device"),
    (0x1af4, 0x1041, "Virtio 1.0 network device"),
    (0x1af4, 0x1042, "Virtio 1.0 block device"),
    (0x1b36, 0x0001, "QEMU PCI-PCI bridge"),
    (0x1b36, 0x000c, "QEMU PCIe Root port"),
    (0x1b36, 0x0010, "QEMU NVM Express Controller"),
];

/// The `lspci` name of a class: by base and sub-class, else by base class,
/// else "Unknown class".
pub fn class_name(class: ClassCode) -> &'static str {
    CLASSES
        .iter()
        .find(|&&(b, s, _)| b == class.base && s == class.sub)
        .map(|&(_, _, n)| n)
        .or_else(|| BASE_CLASSES.iter().find(|&&(b, _)| b == class.base).map(|&(_, n)| n))
        .unwrap_or("Unknown class")
}

/// The vendor's name, if listed.
pub fn vendor_name(vendor: u16) -> Option<&'static str> {
    VENDORS.iter().find(|&&(v, _)| v == vendor).map(|&(_, n)| n)
}

/// The device's name, if listed.
pub fn device_name(vendor: u16, device: u16) -> Option<&'static str> {
    DEVICES.iter().find(|&&(v, d, _)| v == vendor && d == device).map(|&(_, _, n)| n)
}
