//! Register windows: one trait for every way a CPU reaches device registers.
//!
//! A device controller exposes its registers in one of two address spaces
//! (seed: "Port I/O access" and "Memory mapped I/O"):
//!
//! - **port I/O** — x86's separate 64 KiB I/O space, reached only with the
//!   `in`/`out` instructions, 8, 16 or 32 bits at a time (the legacy serial port
//!   lives at ports `0x3f8..0x400`);
//! - **MMIO** — a range of physical addresses that the chipset routes to the
//!   device instead of RAM, reached with ordinary loads and stores through an
//!   uncached mapping (a PCI BAR, the 16550 at `0x1000_0000` on RISC-V `virt`).
//!
//! Linux hides the difference behind `ioread8`/`iowrite32` on an `__iomem`
//! cookie; ioxide hides it behind [`RegisterWindow`]. A window knows its
//! [`size`](RegisterWindow::size) and refuses any access that does not fit inside
//! it, so a driver bug (or a corrupted offset) becomes an [`IoError`] instead of
//! a write to some other device's register. Methods take `&self`: device
//! registers are interior-mutable by nature (reading a FIFO register pops it),
//! and a `&self` window can be shared with an interrupt handler.
//!
//! Every window counts its accesses in an [`IoStats`] (DESIGN.md, rule 6):
//! register accesses are the expensive part of talking to a device — each one
//! is a bus transaction on hardware and a VM exit or an emulator callback under
//! QEMU — so "register accesses per packet" is a number worth watching.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// The width of one register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 8 bits (`inb`/`outb`, `readb`/`writeb`).
    U8,
    /// 16 bits.
    U16,
    /// 32 bits.
    U32,
    /// 64 bits (MMIO only: there is no 64-bit port I/O instruction).
    U64,
}

impl Width {
    /// The access size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Width::U8 => 1,
            Width::U16 => 2,
            Width::U32 => 4,
            Width::U64 => 8,
        }
    }

    /// A mask with the low `8 * bytes()` bits set: the values this width can carry.
    pub const fn mask(self) -> u64 {
        match self {
            Width::U64 => u64::MAX,
            w => (1u64 << (8 * w.bytes())) - 1,
        }
    }
}

impl fmt::Display for Width {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-bit", 8 * self.bytes())
    }
}

/// Why a register access was refused. The device was not touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// `offset .. offset + width` does not lie inside the window.
    OutOfBounds {
        /// Requested offset from the window's base.
        offset: usize,
        /// Requested access width.
        width: Width,
        /// The window's size in bytes.
        size: usize,
    },
    /// The register address is not a multiple of the access width. MMIO needs
    /// naturally aligned accesses: an unaligned one may be split into two bus
    /// cycles (or fault), and a device register must be hit in one.
    Misaligned {
        /// Requested offset from the window's base.
        offset: usize,
        /// Requested access width.
        width: Width,
    },
    /// This kind of window cannot perform accesses of this width.
    Unsupported {
        /// Requested access width.
        width: Width,
    },
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IoError::OutOfBounds { offset, width, size } => {
                write!(f, "{width} register access at offset {offset:#x} is outside a {size:#x}-byte window")
            }
            IoError::Misaligned { offset, width } => {
                write!(f, "{width} register access at offset {offset:#x} is misaligned")
            }
            IoError::Unsupported { width } => {
                write!(f, "{width} register accesses are not supported by this window")
            }
        }
    }
}

/// Checks that an access of `width` at `offset` fits in a window of `size` bytes.
///
/// Written with `checked_add` so that a huge offset cannot wrap around and pass.
pub fn check_bounds(offset: usize, width: Width, size: usize) -> Result<(), IoError> {
    match offset.checked_add(width.bytes()) {
        Some(end) if end <= size => Ok(()),
        _ => Err(IoError::OutOfBounds { offset, width, size }),
    }
}

/// Checks that `offset` is a multiple of the access width.
pub fn check_alignment(offset: usize, width: Width) -> Result<(), IoError> {
    if offset.is_multiple_of(width.bytes()) {
        Ok(())
    } else {
        Err(IoError::Misaligned { offset, width })
    }
}

/// Access counters kept by every window.
///
/// Relaxed atomics: each counter is an independent tally read for statistics,
/// never used to synchronise anything, so no ordering is needed — only that two
/// CPUs (or a CPU and its interrupt handler) incrementing at once lose nothing.
/// Only accesses that reached the device are counted; refused ones are errors.
#[derive(Debug, Default)]
pub struct IoStats {
    reads: AtomicU64,
    writes: AtomicU64,
}

/// A point-in-time copy of an [`IoStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStatsSnapshot {
    /// Register reads that reached the device.
    pub reads: u64,
    /// Register writes that reached the device.
    pub writes: u64,
}

impl IoStats {
    /// Zeroed counters (`const` so a window can live in a `static`).
    pub const fn new() -> Self {
        IoStats { reads: AtomicU64::new(0), writes: AtomicU64::new(0) }
    }

    /// Counts one register read.
    pub fn record_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one register write.
    pub fn record_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the counters out.
    pub fn snapshot(&self) -> IoStatsSnapshot {
        IoStatsSnapshot { reads: self.reads.load(Ordering::Relaxed), writes: self.writes.load(Ordering::Relaxed) }
    }
}

/// A bounds-checked window onto one device's registers.
///
/// Offsets are in bytes from the start of the window. Every method either
/// performs exactly one device access of the stated width or returns an
/// [`IoError`] without touching the device.
///
/// Ordering: accesses through one window reach the device in program order, and
/// each access is a compiler barrier, so ordinary memory writes before a
/// register write are not moved after it by the compiler. Ordering of DMA memory
/// as seen by the *device* is the business of [`crate::barrier`].
pub trait RegisterWindow {
    /// The window's size in bytes.
    fn size(&self) -> usize;

    /// The window's access counters.
    fn stats(&self) -> IoStatsSnapshot;

    /// Reads an 8-bit register.
    fn read_u8(&self, offset: usize) -> Result<u8, IoError>;
    /// Reads a 16-bit register.
    fn read_u16(&self, offset: usize) -> Result<u16, IoError>;
    /// Reads a 32-bit register.
    fn read_u32(&self, offset: usize) -> Result<u32, IoError>;
    /// Reads a 64-bit register.
    fn read_u64(&self, offset: usize) -> Result<u64, IoError>;

    /// Writes an 8-bit register.
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), IoError>;
    /// Writes a 16-bit register.
    fn write_u16(&self, offset: usize, value: u16) -> Result<(), IoError>;
    /// Writes a 32-bit register.
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), IoError>;
    /// Writes a 64-bit register.
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), IoError>;
}

/// A shared reference to a window is a window: the kernel can keep a window in
/// a `static` and hand drivers `&'static` references, and a host test can keep
/// its `sim::SimWindow` to inspect the model while a driver owns a reference.
impl<W: RegisterWindow + ?Sized> RegisterWindow for &W {
    fn size(&self) -> usize {
        (**self).size()
    }
    fn stats(&self) -> IoStatsSnapshot {
        (**self).stats()
    }
    fn read_u8(&self, offset: usize) -> Result<u8, IoError> {
        (**self).read_u8(offset)
    }
    fn read_u16(&self, offset: usize) -> Result<u16, IoError> {
        (**self).read_u16(offset)
    }
    fn read_u32(&self, offset: usize) -> Result<u32, IoError> {
        (**self).read_u32(offset)
    }
    fn read_u64(&self, offset: usize) -> Result<u64, IoError> {
        (**self).read_u64(offset)
    }
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), IoError> {
        (**self).write_u8(offset, value)
    }
    fn write_u16(&self, offset: usize, value: u16) -> Result<(), IoError> {
        (**self).write_u16(offset, value)
    }
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), IoError> {
        (**self).write_u32(offset, value)
    }
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), IoError> {
        (**self).write_u64(offset, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn bounds_accept_accesses_that_fit() {
        assert_eq!(check_bounds(0, Width::U8, 1), Ok(()));
        assert_eq!(check_bounds(4, Width::U32, 8), Ok(()));
        assert_eq!(check_bounds(0, Width::U64, 8), Ok(()));
    }

    #[test]
    fn bounds_reject_accesses_that_overhang_or_wrap() {
        let err = |offset, width, size| Err(IoError::OutOfBounds { offset, width, size });
        assert_eq!(check_bounds(8, Width::U8, 8), err(8, Width::U8, 8));
        assert_eq!(check_bounds(6, Width::U32, 8), err(6, Width::U32, 8));
        assert_eq!(check_bounds(0, Width::U8, 0), err(0, Width::U8, 0));
        // Without checked arithmetic, usize::MAX + 1 would wrap to 0 and pass.
        assert_eq!(check_bounds(usize::MAX, Width::U16, 8), err(usize::MAX, Width::U16, 8));
    }

    #[test]
    fn alignment_is_a_multiple_of_the_width() {
        assert_eq!(check_alignment(3, Width::U8), Ok(()));
        assert_eq!(check_alignment(4, Width::U32), Ok(()));
        assert_eq!(check_alignment(2, Width::U32), Err(IoError::Misaligned { offset: 2, width: Width::U32 }));
        assert!(check_alignment(4, Width::U64).is_err());
    }

    #[test]
    fn width_masks() {
        assert_eq!(Width::U8.mask(), 0xff);
        assert_eq!(Width::U16.mask(), 0xffff);
        assert_eq!(Width::U32.mask(), 0xffff_ffff);
        assert_eq!(Width::U64.mask(), u64::MAX);
    }

    #[test]
    fn errors_display_what_went_wrong() {
        let e = IoError::OutOfBounds { offset: 8, width: Width::U32, size: 8 };
        assert_eq!(e.to_string(), "32-bit register access at offset 0x8 is outside a 0x8-byte window");
        let e = IoError::Misaligned { offset: 2, width: Width::U32 };
        assert_eq!(e.to_string(), "32-bit register access at offset 0x2 is misaligned");
        let e = IoError::Unsupported { width: Width::U64 };
        assert_eq!(e.to_string(), "64-bit register accesses are not supported by this window");
    }

    #[test]
    fn stats_count_reads_and_writes() {
        let stats = IoStats::new();
        stats.record_read();
        stats.record_read();
        stats.record_write();
        assert_eq!(stats.snapshot(), IoStatsSnapshot { reads: 2, writes: 1 });
    }
}
