//! x86 port I/O windows.
//!
//! The x86 I/O address space is 64 Ki one-byte ports, separate from memory and
//! reachable only with `in` and `out` (seed: "Port I/O access"). No page table
//! maps it, so there is nothing to `ioremap`: a driver needs only to know which
//! ports are its own. Legacy devices sit at addresses fixed by the PC platform
//! (COM1 at `0x3f8`, the PIT at `0x40`), PCI devices get theirs from an I/O BAR.
//!
//! A [`PortWindow`] is `base .. base + size`. Accesses may be 8, 16 or 32 bits
//! wide; there is no 64-bit `in`/`out`, so 64-bit accesses are refused with
//! [`IoError::Unsupported`]. Unlike MMIO, port accesses need not be aligned (the
//! CPU splits them), so none is checked here.
//!
//! Ordering: the CPU does not buffer or reorder port I/O against memory accesses
//! (Intel SDM Vol. 1, "Ordering I/O"), and the `asm!` blocks below are not
//! marked `nomem`, so the compiler treats each one as touching memory and moves
//! no load or store across it. That is what Linux's `inb`/`outb` give a driver.
//!
//! Port I/O is what the seed's serial-console example uses: an `out` completes
//! from the CPU's point of view long before the UART has sent the byte, which is
//! why the 16550 driver must poll a status register before each write.

use core::arch::asm;

use crate::io::{check_bounds, IoError, IoStats, IoStatsSnapshot, RegisterWindow, Width};

/// The number of ports in the x86 I/O space.
const PORT_SPACE: u32 = 0x1_0000;

/// A window onto the I/O ports `base .. base + size`.
#[derive(Debug)]
pub struct PortWindow {
    base: u16,
    size: u16,
    stats: IoStats,
}

impl PortWindow {
    /// Creates a window onto ports `base .. base + size`.
    ///
    /// # Safety
    ///
    /// The caller owns these ports: they belong to one device (e.g. claimed in
    /// the kernel's `/proc/ioports` table) and no other code accesses them while
    /// this window exists. Reading or writing a port can have any side effect
    /// the device (or the chipset) attaches to it, so handing out ports the
    /// caller does not own could, say, reset the machine.
    ///
    /// # Panics
    ///
    /// If the range runs past port `0xffff` (a constant-argument mistake, caught
    /// at compile time when called in a `const` context).
    pub const unsafe fn new(base: u16, size: u16) -> Self {
        assert!(base as u32 + size as u32 <= PORT_SPACE, "port window runs past 0xffff");
        PortWindow { base, size, stats: IoStats::new() }
    }

    /// The first port of the window.
    pub fn base(&self) -> u16 {
        self.base
    }

    /// The port an access of `width` at `offset` goes to, if it fits.
    fn port(&self, offset: usize, width: Width) -> Result<u16, IoError> {
        check_bounds(offset, width, usize::from(self.size))?;
        // Cannot overflow or truncate: offset < size and base + size <= 0x10000.
        Ok(self.base + offset as u16)
    }
}

impl RegisterWindow for PortWindow {
    fn size(&self) -> usize {
        usize::from(self.size)
    }

    fn stats(&self) -> IoStatsSnapshot {
        self.stats.snapshot()
    }

    fn read_u8(&self, offset: usize) -> Result<u8, IoError> {
        let port = self.port(offset, Width::U8)?;
        let value: u8;
        // SAFETY: `new`'s caller owns every port of the window and `port` checked
        // that this one is inside it. `in` touches no memory and no stack.
        unsafe { asm!("in al, dx", out("al") value, in("dx") port, options(nostack, preserves_flags)) };
        self.stats.record_read();
        Ok(value)
    }

    fn read_u16(&self, offset: usize) -> Result<u16, IoError> {
        let port = self.port(offset, Width::U16)?;
        let value: u16;
        // SAFETY: as in `read_u8`; `port` checked both bytes are in the window.
        unsafe { asm!("in ax, dx", out("ax") value, in("dx") port, options(nostack, preserves_flags)) };
        self.stats.record_read();
        Ok(value)
    }

    fn read_u32(&self, offset: usize) -> Result<u32, IoError> {
        let port = self.port(offset, Width::U32)?;
        let value: u32;
        // SAFETY: as in `read_u8`; `port` checked all four bytes are in the window.
        unsafe { asm!("in eax, dx", out("eax") value, in("dx") port, options(nostack, preserves_flags)) };
        self.stats.record_read();
        Ok(value)
    }

    fn read_u64(&self, _offset: usize) -> Result<u64, IoError> {
        Err(IoError::Unsupported { width: Width::U64 })
    }

    fn write_u8(&self, offset: usize, value: u8) -> Result<(), IoError> {
        let port = self.port(offset, Width::U8)?;
        // SAFETY: `new`'s caller owns every port of the window and `port` checked
        // that this one is inside it. `out` touches no memory and no stack.
        unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nostack, preserves_flags)) };
        self.stats.record_write();
        Ok(())
    }

    fn write_u16(&self, offset: usize, value: u16) -> Result<(), IoError> {
        let port = self.port(offset, Width::U16)?;
        // SAFETY: as in `write_u8`; `port` checked both bytes are in the window.
        unsafe { asm!("out dx, ax", in("dx") port, in("ax") value, options(nostack, preserves_flags)) };
        self.stats.record_write();
        Ok(())
    }

    fn write_u32(&self, offset: usize, value: u32) -> Result<(), IoError> {
        let port = self.port(offset, Width::U32)?;
        // SAFETY: as in `write_u8`; `port` checked all four bytes are in the window.
        unsafe { asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, preserves_flags)) };
        self.stats.record_write();
        Ok(())
    }

    fn write_u64(&self, _offset: usize, _value: u64) -> Result<(), IoError> {
        Err(IoError::Unsupported { width: Width::U64 })
    }
}

// Host tests cannot execute `in`/`out` (a user process has no I/O privilege),
// so they check only the refusals, which happen before any instruction runs.
#[cfg(test)]
mod tests {
    use super::*;

    fn com1() -> PortWindow {
        // SAFETY: the tests below only make accesses the window refuses, so no
        // port is ever touched.
        unsafe { PortWindow::new(0x3f8, 8) }
    }

    #[test]
    fn accesses_outside_the_window_are_refused() {
        let w = com1();
        assert_eq!(w.read_u8(8), Err(IoError::OutOfBounds { offset: 8, width: Width::U8, size: 8 }));
        assert!(w.write_u32(6, 0).is_err());
        assert!(w.read_u16(usize::MAX).is_err());
        assert_eq!(w.stats(), IoStatsSnapshot::default());
    }

    #[test]
    fn there_is_no_64_bit_port_io() {
        let w = com1();
        assert_eq!(w.read_u64(0), Err(IoError::Unsupported { width: Width::U64 }));
        assert_eq!(w.write_u64(0, 0), Err(IoError::Unsupported { width: Width::U64 }));
        assert_eq!(w.stats(), IoStatsSnapshot::default());
    }

    #[test]
    fn the_window_describes_its_ports() {
        let w = com1();
        assert_eq!(w.base(), 0x3f8);
        assert_eq!(w.size(), 8);
        assert_eq!(w.port(7, Width::U8), Ok(0x3ff));
    }

    #[test]
    #[should_panic(expected = "port window runs past 0xffff")]
    fn a_window_cannot_wrap_the_port_space() {
        // SAFETY: construction panics before a window exists.
        let _ = unsafe { PortWindow::new(0xfff8, 9) };
    }
}
