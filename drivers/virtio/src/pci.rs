//! Finding a modern virtio device's registers: its vendor-specific PCI
//! capabilities [virtio 1.2 §4.1.4].
//!
//! A legacy (0.9) virtio device had one fixed register block in an I/O BAR.
//! A modern one describes itself instead: its PCI capability list holds one
//! *vendor-specific* capability (ID `0x09`) per structure, each saying "the
//! structure of type `cfg_type` lives in BAR `bar` at `offset`, `length`
//! bytes long":
//!
//! | cfg_type | structure                       | used for                          |
//! |----------|---------------------------------|-----------------------------------|
//! | 1        | common configuration            | status, features, queue set-up    |
//! | 2        | notifications                   | doorbells, one per queue          |
//! | 3        | ISR status                      | INTx cause (read-to-clear)        |
//! | 4        | device-specific configuration   | MAC address, disk capacity…       |
//! | 5        | PCI configuration access        | ignored (for firmware)            |
//!
//! The kernel's PCI code walks the capability list and hands each virtio
//! capability's bytes to [`CapInfo::parse`]; [`Layout::from_caps`] then picks
//! one of each type. The spec lets a device offer several of a type and asks
//! the driver to use the first it understands (§4.1.4, driver requirements),
//! and to ignore reserved `cfg_type` and `bar` values, which is why unknown
//! capabilities are skipped rather than refused.
//!
//! QEMU puts every structure in BAR 4 (a 16 KiB 64-bit memory BAR: common at
//! `0x0`, ISR at `0x1000`, device at `0x2000`, notify at `0x3000`). This
//! driver maps one BAR, so a device that spreads its structures over several
//! BARs is refused with [`Error::Unsupported`].

use crate::regs::cap;
use crate::Error;

/// One virtio vendor-specific capability (`struct virtio_pci_cap`, plus the
/// multiplier of `struct virtio_pci_notify_cap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapInfo {
    /// Which structure ([`cap::COMMON_CFG`] …).
    pub cfg_type: u8,
    /// The BAR holding it (0..=5).
    pub bar: u8,
    /// Its offset in the BAR.
    pub offset: u32,
    /// Its length in bytes.
    pub length: u32,
    /// For the notification capability: bytes between consecutive
    /// `queue_notify_off` values (§4.1.4.4); 0 otherwise.
    pub notify_off_multiplier: u32,
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl CapInfo {
    /// Parses a capability from its bytes in configuration space, starting at
    /// its `cap_vndr` byte. `None` if it is not a vendor-specific capability,
    /// is shorter than its structure (both the slice and its own `cap_len`
    /// count), or has a reserved `cfg_type` or `bar` (which §4.1.4 tells the
    /// driver to ignore).
    pub fn parse(bytes: &[u8]) -> Option<CapInfo> {
        if bytes.len() < cap::LEN || bytes[0] != cap::VNDR {
            return None;
        }
        // The capability's own length, as the device says: never read past it.
        let len = bytes.len().min(usize::from(bytes[cap::CAP_LEN]));
        if len < cap::LEN {
            return None;
        }
        let cfg_type = bytes[cap::CFG_TYPE];
        let known = matches!(
            cfg_type,
            cap::COMMON_CFG
                | cap::NOTIFY_CFG
                | cap::ISR_CFG
                | cap::DEVICE_CFG
                | cap::PCI_CFG
                | cap::SHARED_MEMORY_CFG
                | cap::VENDOR_CFG
        );
        let bar = bytes[cap::BAR];
        if !known || bar > cap::MAX_BAR {
            return None;
        }
        let notify_off_multiplier = if cfg_type == cap::NOTIFY_CFG {
            if len < cap::NOTIFY_LEN {
                return None;
            }
            le32(bytes, cap::NOTIFY_OFF_MULTIPLIER)
        } else {
            0
        };
        Some(CapInfo {
            cfg_type,
            bar,
            offset: le32(bytes, cap::OFFSET),
            length: le32(bytes, cap::LENGTH),
            notify_off_multiplier,
        })
    }

    fn region(&self) -> Region {
        Region { offset: self.offset as usize, length: self.length as usize }
    }
}

/// A structure's place inside the BAR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// Offset from the BAR's start.
    pub offset: usize,
    /// Length in bytes.
    pub length: usize,
}

/// Where a device's virtio structures are, all inside one BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The BAR the kernel must map and hand to [`crate::transport::Transport`].
    pub bar: u8,
    /// The common configuration structure.
    pub common: Region,
    /// The notification area.
    pub notify: Region,
    /// Bytes per unit of `queue_notify_off`.
    pub notify_off_multiplier: u32,
    /// The ISR status byte.
    pub isr: Region,
    /// The device-specific configuration, if the device has one.
    pub device: Option<Region>,
}

impl Layout {
    /// Chooses the first capability of each type (§4.1.4: "the driver SHOULD
    /// use the first instance") and checks that the required ones — common,
    /// notify, ISR — exist and that everything lies in one BAR. Capabilities
    /// of other types (PCI access, shared memory, vendor) are ignored.
    pub fn from_caps(caps: &[CapInfo]) -> Result<Layout, Error> {
        let first = |cfg_type| caps.iter().find(|c| c.cfg_type == cfg_type);
        let common = first(cap::COMMON_CFG).ok_or(Error::MissingCapability("common configuration"))?;
        let notify = first(cap::NOTIFY_CFG).ok_or(Error::MissingCapability("notification"))?;
        let isr = first(cap::ISR_CFG).ok_or(Error::MissingCapability("ISR status"))?;
        let device = first(cap::DEVICE_CFG);
        let bar = common.bar;
        if notify.bar != bar || isr.bar != bar || device.is_some_and(|d| d.bar != bar) {
            return Err(Error::Unsupported(
                "virtio structures are spread over several BARs; this driver maps only one (QEMU uses BAR 4 for all)",
            ));
        }
        Ok(Layout {
            bar,
            common: common.region(),
            notify: notify.region(),
            notify_off_multiplier: notify.notify_off_multiplier,
            isr: isr.region(),
            device: device.map(CapInfo::region),
        })
    }
}
