//! The modern virtio PCI transport [virtio 1.2 §4.1]: one BAR, four
//! structures, every access bounds-checked.
//!
//! virtio separates *what* a device does (net, blk: §5) from *how* the driver
//! reaches it (PCI, MMIO, channel I/O: §4). A transport provides the same few
//! services whatever the device: a status byte, 64 feature bits, virtqueue
//! set-up, a doorbell per queue, an interrupt cause, and a device-specific
//! configuration space. [`Transport`] provides them over PCI:
//!
//! - [`status`]: reset, the status handshake and feature
//!   negotiation (§3.1.1);
//! - [`queues`]: handing a [`SplitQueue`] to the device,
//!   MSI-X vectors, and doorbells;
//! - [`isr`]: the ISR byte, INTx's read-to-clear acknowledgement;
//! - [`config`]: the device-specific configuration and its
//!   generation counter.
//!
//! The kernel maps the BAR that [`Layout`] names and passes it as a
//! [`RegisterWindow`]; the structures are found at the layout's offsets
//! inside it. [`Transport::new`] checks that each one fits in the window,
//! and every access checks that it fits in its structure, so a device
//! advertising a tiny common-config region gets an error, not an access to
//! whatever lies behind it.
//!
//! Register widths follow §4.1.3.1: 8-bit fields with 8-bit accesses, 16-bit
//! with 16-bit, 32-bit with 32-bit, and 64-bit fields as two 32-bit halves
//! (QEMU's common-config region implements at most 4-byte accesses).

pub mod config;
pub mod isr;
pub mod queues;
pub mod status;

use alloc::vec::Vec;
use core::cell::Cell;

use hal::RegisterWindow;

use crate::pci::{Layout, Region};
#[cfg(doc)]
use crate::queue::SplitQueue;
use crate::regs::common;
use crate::Error;
pub use isr::{IrqCounts, IsrStatus};

/// How many times a reset reads the status before giving up (§4.1.4.3.2
/// says "wait"; DESIGN.md says every wait has a bound). QEMU resets
/// synchronously inside the write, so the first read already says 0.
pub const RESET_POLL_LIMIT: u32 = 10_000;

/// How many times a device-configuration read is retried while the
/// generation counter keeps changing (§2.5.1).
pub const CONFIG_RETRY_LIMIT: u32 = 100;

/// A virtio device behind a modern PCI BAR.
pub struct Transport<W> {
    bar: W,
    layout: Layout,
    /// Per queue index: the doorbell's offset in the BAR, computed at set-up
    /// from `queue_notify_off` (cached: reading it again per notify would
    /// double the register traffic). A `Cell` because the transport is used
    /// through `&self`; swapped out and back, never borrowed.
    notify_at: Cell<Vec<Option<usize>>>,
}

impl<W> core::fmt::Debug for Transport<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Transport").field("layout", &self.layout).finish_non_exhaustive()
    }
}

/// The smallest structures the driver relies on: the virtio 1.0 common
/// config, one ISR byte, one 16-bit doorbell.
const MIN_COMMON: usize = common::LEN;
const MIN_ISR: usize = 1;
const MIN_NOTIFY: usize = 2;

fn check_region(what: &'static str, r: Region, min: usize, bar_size: usize) -> Result<(), Error> {
    let fits = r.offset.checked_add(r.length).is_some_and(|end| end <= bar_size);
    if !fits {
        return Err(Error::RegionOutsideBar { what, offset: r.offset, length: r.length, bar_size });
    }
    if r.length < min {
        return Err(Error::OutOfRegion { what, offset: 0, len: min, length: r.length });
    }
    Ok(())
}

impl<W: RegisterWindow> Transport<W> {
    /// A transport over `bar`, the window onto BAR `layout.bar`. Checks that
    /// every structure fits in the window and is large enough; touches no
    /// register.
    pub fn new(bar: W, layout: Layout) -> Result<Self, Error> {
        let size = bar.size();
        check_region("common configuration", layout.common, MIN_COMMON, size)?;
        check_region("notification", layout.notify, MIN_NOTIFY, size)?;
        check_region("ISR", layout.isr, MIN_ISR, size)?;
        if let Some(device) = layout.device {
            check_region("device configuration", device, 0, size)?;
        }
        Ok(Transport { bar, layout, notify_at: Cell::new(Vec::new()) })
    }

    /// The register window (for its access counters).
    pub fn window(&self) -> &W {
        &self.bar
    }

    /// Where the structures are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The BAR offset of `len` bytes at `offset` inside `region`, if they fit.
    fn at(what: &'static str, region: Region, offset: usize, len: usize) -> Result<usize, Error> {
        match offset.checked_add(len) {
            Some(end) if end <= region.length => Ok(region.offset + offset),
            _ => Err(Error::OutOfRegion { what, offset, len, length: region.length }),
        }
    }

    fn common_at(&self, offset: usize, len: usize) -> Result<usize, Error> {
        Self::at("common configuration", self.layout.common, offset, len)
    }

    pub(crate) fn common_read_u8(&self, offset: usize) -> Result<u8, Error> {
        Ok(self.bar.read_u8(self.common_at(offset, 1)?)?)
    }

    pub(crate) fn common_read_u16(&self, offset: usize) -> Result<u16, Error> {
        Ok(self.bar.read_u16(self.common_at(offset, 2)?)?)
    }

    pub(crate) fn common_read_u32(&self, offset: usize) -> Result<u32, Error> {
        Ok(self.bar.read_u32(self.common_at(offset, 4)?)?)
    }

    pub(crate) fn common_write_u8(&self, offset: usize, value: u8) -> Result<(), Error> {
        Ok(self.bar.write_u8(self.common_at(offset, 1)?, value)?)
    }

    pub(crate) fn common_write_u16(&self, offset: usize, value: u16) -> Result<(), Error> {
        Ok(self.bar.write_u16(self.common_at(offset, 2)?, value)?)
    }

    pub(crate) fn common_write_u32(&self, offset: usize, value: u32) -> Result<(), Error> {
        Ok(self.bar.write_u32(self.common_at(offset, 4)?, value)?)
    }

    /// A 64-bit field as two 32-bit writes, low half first (§4.1.3.1).
    pub(crate) fn common_write_u64(&self, offset: usize, value: u64) -> Result<(), Error> {
        self.common_write_u32(offset, value as u32)?;
        self.common_write_u32(offset + 4, (value >> 32) as u32)
    }
}
