//! Memory-mapped register windows.
//!
//! With MMIO the chipset routes a range of physical addresses to a device
//! instead of RAM (seed: "Memory mapped I/O"); the kernel maps that range
//! *uncached* (`ioremap`) and the driver reaches registers with ordinary loads
//! and stores. Two things make those loads and stores different from memory:
//!
//! - **Every access is an event.** Reading a status register may clear it,
//!   writing a doorbell starts a DMA. The compiler must neither drop, merge,
//!   split nor reorder them, so [`MmioWindow`] uses `read_volatile` /
//!   `write_volatile` of exactly the register's width, and a compiler fence on
//!   each side so ordinary memory accesses (a DMA descriptor filled just before
//!   the doorbell write) are not moved across it — the compiler half of what
//!   Linux's `readl`/`writel` promise.
//! - **Alignment matters.** A device decodes one naturally aligned access; an
//!   unaligned one may become two bus cycles, or fault. The window checks the
//!   *address* (base + offset), which is also what makes `read_volatile` sound.

use core::ptr::NonNull;
use core::sync::atomic::{compiler_fence, Ordering};

use crate::io::{check_bounds, IoError, IoStats, IoStatsSnapshot, RegisterWindow, Width};

/// A window onto `size` bytes of memory-mapped registers.
#[derive(Debug)]
pub struct MmioWindow {
    base: NonNull<u8>,
    size: usize,
    stats: IoStats,
}

// SAFETY: the window holds only an address. `new`'s contract makes that
// address device memory which no Rust code reaches except through windows, and
// every access is one volatile, naturally aligned load or store, which the
// hardware performs indivisibly. Using the window from another CPU therefore
// means issuing those same loads and stores from there, exactly as C drivers do;
// what concurrent accesses *mean* is the device's business, and drivers
// serialise them with locks where the device needs it.
unsafe impl Send for MmioWindow {}
// SAFETY: as for `Send`: all methods take `&self` and perform single volatile
// accesses; the counters are atomics.
unsafe impl Sync for MmioWindow {}

impl MmioWindow {
    /// Creates a window onto the `size` bytes starting at virtual address `virt`.
    ///
    /// # Safety
    ///
    /// For as long as the window exists:
    /// - `virt .. virt + size` is mapped, with caching disabled (UC, or at least
    ///   a type the device tolerates), to the registers of one device that the
    ///   caller owns;
    /// - no other Rust code accesses that range except through windows (it is
    ///   not ordinary memory with Rust references into it).
    pub const unsafe fn new(virt: NonNull<u8>, size: usize) -> Self {
        MmioWindow { base: virt, size, stats: IoStats::new() }
    }

    /// The virtual address of the window's first byte.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// A pointer to the register of `width` at `offset`, if it is inside the
    /// window and naturally aligned.
    fn register<T>(&self, offset: usize, width: Width) -> Result<*mut T, IoError> {
        check_bounds(offset, width, self.size)?;
        // SAFETY: `offset + width <= size` (checked above) and `new`'s contract
        // makes `base .. base + size` one mapped range, so the pointer stays
        // inside it.
        let register = unsafe { self.base.as_ptr().add(offset) }.cast::<T>();
        if register.is_aligned() {
            Ok(register)
        } else {
            Err(IoError::Misaligned { offset, width })
        }
    }

    fn read<T>(&self, offset: usize, width: Width) -> Result<T, IoError> {
        let register = self.register::<T>(offset, width)?;
        // SAFETY: `register` is inside the mapping and aligned for `T`, and
        // `new`'s contract makes it valid device memory for the window's life.
        let value = unsafe { register.read_volatile() };
        compiler_fence(Ordering::SeqCst);
        self.stats.record_read();
        Ok(value)
    }

    fn write<T>(&self, offset: usize, width: Width, value: T) -> Result<(), IoError> {
        let register = self.register::<T>(offset, width)?;
        compiler_fence(Ordering::SeqCst);
        // SAFETY: as in `read`.
        unsafe { register.write_volatile(value) };
        self.stats.record_write();
        Ok(())
    }
}

impl RegisterWindow for MmioWindow {
    fn size(&self) -> usize {
        self.size
    }
    fn stats(&self) -> IoStatsSnapshot {
        self.stats.snapshot()
    }
    fn read_u8(&self, offset: usize) -> Result<u8, IoError> {
        self.read(offset, Width::U8)
    }
    fn read_u16(&self, offset: usize) -> Result<u16, IoError> {
        self.read(offset, Width::U16)
    }
    fn read_u32(&self, offset: usize) -> Result<u32, IoError> {
        self.read(offset, Width::U32)
    }
    fn read_u64(&self, offset: usize) -> Result<u64, IoError> {
        self.read(offset, Width::U64)
    }
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), IoError> {
        self.write(offset, Width::U8, value)
    }
    fn write_u16(&self, offset: usize, value: u16) -> Result<(), IoError> {
        self.write(offset, Width::U16, value)
    }
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), IoError> {
        self.write(offset, Width::U32, value)
    }
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), IoError> {
        self.write(offset, Width::U64, value)
    }
}

// The window is tested against a plain heap buffer standing in for device
// memory: volatile accesses to RAM behave like accesses to a register file.
#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// A 32-byte, 8-aligned buffer (a `Vec<u64>`) and a window over it. The
    /// window is only used while `buffer` is alive and is the only accessor.
    fn window_over(buffer: &mut Vec<u64>) -> MmioWindow {
        let size = buffer.len() * 8;
        let base = NonNull::new(buffer.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: the buffer is `size` bytes of live memory that the test does
        // not touch while the window is in use (it is read only after the
        // window's last access), which is all a window needs.
        unsafe { MmioWindow::new(base, size) }
    }

    #[test]
    fn every_width_reads_back_what_was_written() {
        let mut buffer = vec![0u64; 4];
        let w = window_over(&mut buffer);
        w.write_u8(0, 0x11).unwrap();
        w.write_u16(2, 0x2233).unwrap();
        w.write_u32(4, 0x4455_6677).unwrap();
        w.write_u64(8, 0x8899_aabb_ccdd_eeff).unwrap();
        assert_eq!(w.read_u8(0), Ok(0x11));
        assert_eq!(w.read_u16(2), Ok(0x2233));
        assert_eq!(w.read_u32(4), Ok(0x4455_6677));
        assert_eq!(w.read_u64(8), Ok(0x8899_aabb_ccdd_eeff));
        // The access landed at base + offset, with the CPU's byte order.
        assert_eq!(w.read_u8(8), Ok(0x8899_aabb_ccdd_eeff_u64.to_ne_bytes()[0]));
        // The window is not used past this point; the buffer holds the value.
        assert_eq!(buffer[1], 0x8899_aabb_ccdd_eeff);
    }

    #[test]
    fn accesses_past_the_end_are_refused() {
        let mut buffer = vec![0u64; 4];
        let w = window_over(&mut buffer);
        assert_eq!(w.read_u32(32), Err(IoError::OutOfBounds { offset: 32, width: Width::U32, size: 32 }));
        assert!(w.write_u64(28, 0).is_err());
        assert!(w.read_u8(usize::MAX).is_err());
        assert_eq!(w.read_u64(24), Ok(0));
    }

    #[test]
    fn misaligned_accesses_are_refused() {
        let mut buffer = vec![0u64; 4];
        let w = window_over(&mut buffer);
        assert_eq!(w.read_u16(1), Err(IoError::Misaligned { offset: 1, width: Width::U16 }));
        assert!(w.write_u32(2, 0).is_err());
        assert!(w.read_u64(4).is_err());
        assert!(w.write_u8(3, 0).is_ok());
    }

    #[test]
    fn only_accesses_that_reach_the_device_are_counted() {
        let mut buffer = vec![0u64; 4];
        let w = window_over(&mut buffer);
        w.write_u32(0, 1).unwrap();
        w.read_u32(0).unwrap();
        w.read_u8(5).unwrap();
        let _ = w.read_u32(2); // misaligned
        let _ = w.write_u8(32, 0); // out of bounds
        assert_eq!(w.stats(), IoStatsSnapshot { reads: 2, writes: 1 });
    }
}
