//! Host fakes: register windows backed by a software model of a device.
//!
//! A driver crate is tested on the host (DESIGN.md, testing level 1) by giving
//! it a [`SimWindow`] instead of a port or MMIO window. The window does the same
//! bounds and alignment checks as [`MmioWindow`](crate::MmioWindow) and then
//! calls a [`DeviceModel`]: every register read and write becomes a method call
//! on the model, which is how QEMU's device models work too (a `MemoryRegionOps`
//! with `read`/`write` callbacks). Writes can therefore *trigger* behaviour —
//! writing a UART's transmit register pushes a byte into the model's FIFO,
//! reading its receive register pops one — instead of just storing a value.
//!
//! The test keeps the window and lends the driver a reference to it (`&W` is a
//! window too), so while the driver runs the test can reach into the model with
//! [`SimWindow::with_model`] to inject device-side events (a byte arriving on
//! the wire, a line error) or to inspect device state (what divisor was
//! programmed). The window also keeps a log of every access, for asserting on
//! register traffic ("the driver polled the status register N times").
//!
//! Two ready-made models cover common needs: [`RegisterFile`] (plain storage)
//! and [`FloatingBus`] (no device present: reads return all ones).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec;
use std::vec::Vec;

pub use crate::io::Width;
use crate::io::{check_alignment, check_bounds, IoError, IoStats, IoStatsSnapshot, RegisterWindow};

/// A software model of a device's register interface.
///
/// `read` takes `&mut self` because reads have side effects on real devices
/// (popping a FIFO, clearing status bits). Values are passed zero-extended in
/// a `u64`; the window truncates what `read` returns to the access width.
pub trait DeviceModel {
    /// The device's answer to a read of `width` at `offset`.
    fn read(&mut self, offset: usize, width: Width) -> u64;
    /// The device's reaction to a write of `value` (`width` wide) at `offset`.
    fn write(&mut self, offset: usize, width: Width, value: u64);
}

/// Whether an access was a read or a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A register read.
    Read,
    /// A register write.
    Write,
}

/// One access that reached the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Read or write.
    pub op: Op,
    /// Offset from the window's base.
    pub offset: usize,
    /// Access width.
    pub width: Width,
    /// The value read (after truncation) or written.
    pub value: u64,
}

/// A [`RegisterWindow`] whose accesses are served by a [`DeviceModel`].
///
/// Supports all four widths, with MMIO's rules: in bounds and naturally aligned
/// (relative to the window's base).
#[derive(Debug)]
pub struct SimWindow<M> {
    model: Mutex<M>,
    size: usize,
    stats: IoStats,
    log: Mutex<Vec<Access>>,
}

/// Takes a lock even if a previous holder panicked: a failed assertion in one
/// test step must not turn every later access into a second, confusing panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<M: DeviceModel> SimWindow<M> {
    /// A window of `size` bytes in front of `model`.
    pub fn new(model: M, size: usize) -> Self {
        SimWindow { model: Mutex::new(model), size, stats: IoStats::new(), log: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on the model: inject device-side events or inspect its state.
    ///
    /// `f` must not access the window itself (the model is locked meanwhile).
    pub fn with_model<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut lock(&self.model))
    }

    /// Consumes the window and returns the model.
    pub fn into_model(self) -> M {
        self.model.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of every access that reached the model so far, oldest first.
    pub fn log(&self) -> Vec<Access> {
        lock(&self.log).clone()
    }

    /// Forgets the logged accesses (the counters in [`stats`](RegisterWindow::stats) keep counting).
    pub fn clear_log(&self) {
        lock(&self.log).clear();
    }

    /// How many logged accesses were `op` at `offset`.
    pub fn count(&self, op: Op, offset: usize) -> usize {
        lock(&self.log).iter().filter(|a| a.op == op && a.offset == offset).count()
    }

    fn check(&self, offset: usize, width: Width) -> Result<(), IoError> {
        check_bounds(offset, width, self.size)?;
        check_alignment(offset, width)
    }

    fn record(&self, op: Op, offset: usize, width: Width, value: u64) {
        match op {
            Op::Read => self.stats.record_read(),
            Op::Write => self.stats.record_write(),
        }
        lock(&self.log).push(Access { op, offset, width, value });
    }

    fn read(&self, offset: usize, width: Width) -> Result<u64, IoError> {
        self.check(offset, width)?;
        let value = lock(&self.model).read(offset, width) & width.mask();
        self.record(Op::Read, offset, width, value);
        Ok(value)
    }

    fn write(&self, offset: usize, width: Width, value: u64) -> Result<(), IoError> {
        self.check(offset, width)?;
        lock(&self.model).write(offset, width, value);
        self.record(Op::Write, offset, width, value);
        Ok(())
    }
}

impl<M: DeviceModel> RegisterWindow for SimWindow<M> {
    fn size(&self) -> usize {
        self.size
    }
    fn stats(&self) -> IoStatsSnapshot {
        self.stats.snapshot()
    }
    fn read_u8(&self, offset: usize) -> Result<u8, IoError> {
        self.read(offset, Width::U8).map(|v| v as u8)
    }
    fn read_u16(&self, offset: usize) -> Result<u16, IoError> {
        self.read(offset, Width::U16).map(|v| v as u16)
    }
    fn read_u32(&self, offset: usize) -> Result<u32, IoError> {
        self.read(offset, Width::U32).map(|v| v as u32)
    }
    fn read_u64(&self, offset: usize) -> Result<u64, IoError> {
        self.read(offset, Width::U64)
    }
    fn write_u8(&self, offset: usize, value: u8) -> Result<(), IoError> {
        self.write(offset, Width::U8, value.into())
    }
    fn write_u16(&self, offset: usize, value: u16) -> Result<(), IoError> {
        self.write(offset, Width::U16, value.into())
    }
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), IoError> {
        self.write(offset, Width::U32, value.into())
    }
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), IoError> {
        self.write(offset, Width::U64, value)
    }
}

/// A device that is plain storage: reads return what was last written
/// (little-endian across widths), with no side effects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterFile {
    /// The register bytes; tests may preset or inspect them directly.
    pub bytes: Vec<u8>,
}

impl RegisterFile {
    /// `size` bytes of zeroed registers.
    pub fn new(size: usize) -> Self {
        RegisterFile { bytes: vec![0; size] }
    }
}

impl DeviceModel for RegisterFile {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        let mut le = [0u8; 8];
        le[..width.bytes()].copy_from_slice(&self.bytes[offset..offset + width.bytes()]);
        u64::from_le_bytes(le)
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        self.bytes[offset..offset + width.bytes()].copy_from_slice(&value.to_le_bytes()[..width.bytes()]);
    }
}

/// No device at all: reads return all ones and writes vanish — what a CPU sees
/// at an I/O port or PCI address that nothing decodes (the bus "floats" high).
/// Drivers test their "is the device really there?" checks against it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloatingBus;

impl DeviceModel for FloatingBus {
    fn read(&mut self, _offset: usize, _width: Width) -> u64 {
        u64::MAX
    }

    fn write(&mut self, _offset: usize, _width: Width, _value: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny device with write-triggered behaviour: writing the doorbell at 8
    /// adds its value to the counter at 0, which reads then clear.
    #[derive(Default)]
    struct Doorbell {
        counter: u64,
    }

    impl DeviceModel for Doorbell {
        fn read(&mut self, offset: usize, _width: Width) -> u64 {
            match offset {
                0 => core::mem::take(&mut self.counter),
                _ => 0,
            }
        }
        fn write(&mut self, offset: usize, _width: Width, value: u64) {
            if offset == 8 {
                self.counter += value;
            }
        }
    }

    #[test]
    fn accesses_are_dispatched_to_the_model() {
        let w = SimWindow::new(Doorbell::default(), 16);
        w.write_u32(8, 5).unwrap();
        w.write_u8(8, 2).unwrap();
        assert_eq!(w.with_model(|m| m.counter), 7);
        assert_eq!(w.read_u64(0), Ok(7));
        assert_eq!(w.read_u64(0), Ok(0), "the read cleared the counter");
        w.with_model(|m| m.counter = 9); // a device-side event
        assert_eq!(w.read_u16(0), Ok(9));
    }

    #[test]
    fn reads_are_truncated_to_the_access_width() {
        let w = SimWindow::new(FloatingBus, 8);
        assert_eq!(w.read_u8(0), Ok(0xff));
        assert_eq!(w.read_u16(2), Ok(0xffff));
        assert_eq!(w.read_u32(4), Ok(0xffff_ffff));
        assert_eq!(w.log()[0].value, 0xff);
    }

    #[test]
    fn bounds_and_alignment_are_checked_before_the_model_sees_anything() {
        let w = SimWindow::new(Doorbell::default(), 16);
        assert_eq!(w.write_u64(16, 1), Err(IoError::OutOfBounds { offset: 16, width: Width::U64, size: 16 }));
        assert_eq!(w.write_u32(10, 1), Err(IoError::Misaligned { offset: 10, width: Width::U32 }));
        assert_eq!(w.with_model(|m| m.counter), 0);
        assert!(w.log().is_empty());
        assert_eq!(w.stats(), IoStatsSnapshot::default());
    }

    #[test]
    fn the_log_and_counters_record_the_traffic() {
        let w = SimWindow::new(RegisterFile::new(8), 8);
        w.write_u16(2, 0xbeef).unwrap();
        w.read_u8(2).unwrap();
        w.read_u8(2).unwrap();
        assert_eq!(
            w.log(),
            [
                Access { op: Op::Write, offset: 2, width: Width::U16, value: 0xbeef },
                Access { op: Op::Read, offset: 2, width: Width::U8, value: 0xef },
                Access { op: Op::Read, offset: 2, width: Width::U8, value: 0xef },
            ]
        );
        assert_eq!(w.count(Op::Read, 2), 2);
        assert_eq!(w.count(Op::Write, 2), 1);
        assert_eq!(w.stats(), IoStatsSnapshot { reads: 2, writes: 1 });
        w.clear_log();
        assert!(w.log().is_empty());
        assert_eq!(w.stats().reads, 2, "clearing the log keeps the counters");
    }

    #[test]
    fn a_register_file_stores_little_endian() {
        let w = SimWindow::new(RegisterFile::new(8), 8);
        w.write_u32(4, 0x1122_3344).unwrap();
        assert_eq!(w.read_u8(4), Ok(0x44));
        assert_eq!(w.read_u16(6), Ok(0x1122));
        assert_eq!(w.into_model().bytes, [0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]);
    }

    #[test]
    fn a_shared_reference_is_a_window_too() {
        fn poke(w: impl RegisterWindow) {
            w.write_u8(0, 1).unwrap();
        }
        let w = SimWindow::new(RegisterFile::new(1), 1);
        poke(&w);
        assert_eq!(w.read_u8(0), Ok(1));
    }
}
