//! Configuration space: how software addresses a function and reads its
//! registers.
//!
//! # Addresses
//!
//! Every PCI function has a 256-byte (PCIe: 4 KiB) *configuration space*,
//! separate from memory and I/O space, addressed by **segment, bus, device,
//! function** ([`Bdf`], printed `0000:00:02.0` as Linux does). A segment is an
//! independent tree of up to 256 buses; a bus holds up to 32 devices; a
//! device up to 8 functions. The root bus (bus 0 of the segment) hangs off
//! the host bridge; every other bus sits behind a PCI-to-PCI bridge
//! (see [`enumerate`](crate::enumerate)).
//!
//! The PC offers two ways in:
//!
//! - **ECAM** (PCIe §7.2.2): the whole configuration space of a segment is
//!   memory-mapped, one 4 KiB page per function, at
//!   `base + (bus << 20 | device << 15 | function << 12 | register)`
//!   ([`ecam_offset`]). ACPI's MCFG table gives the base (q35: 0xb000_0000).
//!   One memory access per register, all 4 KiB reachable.
//! - **Configuration mechanism #1** (PCI 3.0 §3.2.2.3.2): write an address
//!   ([`legacy_address`]: enable bit 31, bus, device, function, dword
//!   number) to port 0xCF8, then access the data at port 0xCFC–0xCFF. Two
//!   accesses that must not interleave between CPUs, and only the first 256
//!   bytes are reachable.
//!
//! The kernel implements [`ConfigAccess`] with one of them; this crate only
//! ever talks through the trait, and host tests plug in the simulator
//! (`sim`, feature `sim`).
//!
//! # Dwords, and the read-modify-write trap
//!
//! [`ConfigAccess`] is dword-granular: `read32`/`write32` at 4-byte aligned
//! offsets. Narrower accesses are derived: [`ConfigAccess::read16`] and
//! [`read8`](ConfigAccess::read8) read the dword and shift;
//! [`write16`](ConfigAccess::write16) and [`write8`](ConfigAccess::write8)
//! read the dword, replace the target bytes and write it back. That is only
//! correct if writing back the *other* bytes unchanged has no effect, and one
//! place in every header breaks this: the Command register (0x04) shares its
//! dword with the Status register (0x06), whose error bits are **RW1C**
//! (write 1 to clear). Writing back a status bit that reads 1 would clear it,
//! silently discarding an error report. So the derived writes put **zero** in
//! the status bytes unless they are the target (zero is a no-op on RW1C bits
//! and every other status bit is read-only); see [`preserve_mask`].
//! Implementations that can do native 8/16-bit accesses (ECAM can; port 0xCFC
//! can) may override the defaults.
//!
//! Two other RW1C registers share a dword with writable ones in type 1
//! headers: Secondary Status (0x1e, with I/O base/limit) and Bridge Control
//! (0x3e, with the interrupt line). This crate writes those dwords whole, with
//! zero in the RW1C half; callers using `write8`/`write16` there must know
//! they may clear a latched secondary error.

pub mod regs;

use core::cell::Cell;
use core::fmt;

/// The address of one PCI function: segment, bus, device (0–31), function
/// (0–7).
///
/// Constructed with struct syntax or [`Bdf::new`]; out-of-range device or
/// function numbers are masked to their field widths by the address encoders
/// ([`ecam_offset`], [`legacy_address`]), so [`Bdf::is_valid`] exists for
/// callers who build addresses from untrusted numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bdf {
    /// The PCI segment (ACPI MCFG "PCI segment group"); 0 on a PC.
    pub segment: u16,
    /// The bus number, 0–255.
    pub bus: u8,
    /// The device number, 0–31.
    pub device: u8,
    /// The function number, 0–7.
    pub function: u8,
}

impl Bdf {
    /// The function `segment:bus:device.function`.
    pub const fn new(segment: u16, bus: u8, device: u8, function: u8) -> Self {
        Bdf { segment, bus, device, function }
    }

    /// The same device, function `function`.
    pub const fn with_function(self, function: u8) -> Self {
        Bdf { function, ..self }
    }

    /// Whether device and function fit their 5- and 3-bit fields.
    pub const fn is_valid(&self) -> bool {
        self.device < regs::MAX_DEVICES && self.function < regs::MAX_FUNCTIONS
    }

    /// Device and function as the 8-bit "devfn" Linux and QEMU use
    /// (`device << 3 | function`).
    pub const fn devfn(&self) -> u8 {
        (self.device & (regs::MAX_DEVICES - 1)) << 3 | (self.function & (regs::MAX_FUNCTIONS - 1))
    }

    /// The bus-relative form `bb:dd.f` (what `lspci` prints in segment 0).
    pub fn short(&self) -> ShortBdf {
        ShortBdf(*self)
    }
}

/// `ssss:bb:dd.f`, all hexadecimal, as Linux prints it: `0000:00:02.0`.
impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{}", self.segment, self.short())
    }
}

/// [`Bdf::short`]: displays as `bb:dd.f`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortBdf(Bdf);

impl fmt::Display for ShortBdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{:x}", self.0.bus, self.0.device, self.0.function)
    }
}

/// The byte offset of a register in an ECAM window whose base maps bus 0
/// `[PCIe §7.2.2]`: `bus << 20 | device << 15 | function << 12 | offset`.
///
/// The kernel maps windows per bus and passes `bus = 0` to get the offset
/// within one bus's 1 MiB. Fields are masked to their widths (device 5 bits,
/// function 3, offset 12), so a bad number cannot reach a *different*
/// bus's page; check [`Bdf::is_valid`] first if the numbers are untrusted.
pub const fn ecam_offset(bus: u8, device: u8, function: u8, offset: u16) -> u64 {
    (bus as u64) << regs::ECAM_BUS_SHIFT
        | ((device & (regs::MAX_DEVICES - 1)) as u64) << regs::ECAM_DEVICE_SHIFT
        | ((function & (regs::MAX_FUNCTIONS - 1)) as u64) << regs::ECAM_FUNCTION_SHIFT
        | (offset & regs::ECAM_OFFSET_MASK) as u64
}

/// The value to write to port 0xCF8 (configuration mechanism #1) to reach
/// the dword containing `offset` of `bdf` `[PCI 3.0 §3.2.2.3.2]`: enable bit
/// 31, bus in 23:16, device in 15:11, function in 10:8, dword number in 7:2.
///
/// The byte within the dword is selected by accessing port `0xCFC +
/// (offset & 3)`. Mechanism #1 reaches only offsets below 0x100 and has no
/// segment: callers must refuse anything else (bits 11:8 of `offset` are
/// dropped here, which would otherwise alias a low register).
pub const fn legacy_address(bdf: Bdf, offset: u16) -> u32 {
    regs::CF8_ENABLE
        | (bdf.bus as u32) << regs::CF8_BUS_SHIFT
        | ((bdf.device & (regs::MAX_DEVICES - 1)) as u32) << regs::CF8_DEVICE_SHIFT
        | ((bdf.function & (regs::MAX_FUNCTIONS - 1)) as u32) << regs::CF8_FUNCTION_SHIFT
        | (offset as u32 & regs::CF8_REGISTER_MASK)
}

/// Which bits of the dword at `dword_offset` a derived 8/16-bit write must
/// write back as read; the others (RW1C bits) are written as zero unless
/// they are the bytes being written.
///
/// Only the Command/Status dword (0x04) needs this in every header type:
/// its upper half, Status, is read-only or RW1C `[PCI 3.0 §6.2.3]`.
pub const fn preserve_mask(dword_offset: u16) -> u32 {
    if dword_offset == regs::COMMAND {
        0x0000_ffff
    } else {
        0xffff_ffff
    }
}

/// Dword-granular access to configuration space, implemented by the kernel
/// (ECAM or port 0xCF8) and by `sim::SimPci` (feature `sim`).
///
/// Implementations must return [`regs::ABSENT`] (all ones) for a function
/// that does not exist or an offset they cannot reach (mechanism #1 at 0x100
/// and above), and silently drop writes there — exactly what the hardware
/// does on a master abort. Offsets passed to `read32`/`write32` are
/// dword-aligned; the derived accessors align theirs down to their width.
pub trait ConfigAccess {
    /// Reads the dword at `offset` (a multiple of 4) of `addr`.
    fn read32(&self, addr: Bdf, offset: u16) -> u32;

    /// Writes the dword at `offset` (a multiple of 4) of `addr`.
    fn write32(&self, addr: Bdf, offset: u16, value: u32);

    /// Reads the 16-bit register at `offset` (rounded down to even).
    fn read16(&self, addr: Bdf, offset: u16) -> u16 {
        let shift = u32::from(offset & 2) * 8;
        (self.read32(addr, offset & !3) >> shift) as u16
    }

    /// Reads the byte at `offset`.
    fn read8(&self, addr: Bdf, offset: u16) -> u8 {
        let shift = u32::from(offset & 3) * 8;
        (self.read32(addr, offset & !3) >> shift) as u8
    }

    /// Writes the 16-bit register at `offset` (rounded down to even) by a
    /// read-modify-write of its dword that never clears RW1C status bits by
    /// accident (module docs, [`preserve_mask`]).
    fn write16(&self, addr: Bdf, offset: u16, value: u16) {
        let dword = offset & !3;
        let shift = u32::from(offset & 2) * 8;
        let lanes = 0xffff_u32 << shift;
        let old = self.read32(addr, dword);
        let keep = !lanes & preserve_mask(dword);
        self.write32(addr, dword, (old & keep) | u32::from(value) << shift);
    }

    /// Writes the byte at `offset` by a read-modify-write of its dword, with
    /// the same RW1C care as [`write16`](Self::write16).
    fn write8(&self, addr: Bdf, offset: u16, value: u8) {
        let dword = offset & !3;
        let shift = u32::from(offset & 3) * 8;
        let lanes = 0xff_u32 << shift;
        let old = self.read32(addr, dword);
        let keep = !lanes & preserve_mask(dword);
        self.write32(addr, dword, (old & keep) | u32::from(value) << shift);
    }
}

impl<T: ConfigAccess + ?Sized> ConfigAccess for &T {
    fn read32(&self, addr: Bdf, offset: u16) -> u32 {
        (**self).read32(addr, offset)
    }
    fn write32(&self, addr: Bdf, offset: u16, value: u32) {
        (**self).write32(addr, offset, value)
    }
    fn read16(&self, addr: Bdf, offset: u16) -> u16 {
        (**self).read16(addr, offset)
    }
    fn read8(&self, addr: Bdf, offset: u16) -> u8 {
        (**self).read8(addr, offset)
    }
    fn write16(&self, addr: Bdf, offset: u16, value: u16) {
        (**self).write16(addr, offset, value)
    }
    fn write8(&self, addr: Bdf, offset: u16, value: u8) {
        (**self).write8(addr, offset, value)
    }
}

/// Whether a function answers at `bdf`: its vendor ID is neither all ones
/// (nobody answered) nor zero (some bridges return 0 for absent functions).
pub fn is_present(access: &dyn ConfigAccess, bdf: Bdf) -> bool {
    !matches!(access.read16(bdf, regs::VENDOR_ID), 0xffff | 0x0000)
}

/// Sets the `set` bits and clears the `clear` bits of the Command register,
/// writing only if something changes. Returns the previous value.
///
/// Typical uses: `update_command(a, bdf, command::BUS_MASTER, 0)` before a
/// driver starts DMA (SeaBIOS leaves bus mastering off, DESIGN.md);
/// `update_command(a, bdf, command::INTX_DISABLE, 0)` once MSI is on.
pub fn update_command(access: &dyn ConfigAccess, bdf: Bdf, set: u16, clear: u16) -> u16 {
    let old = access.read16(bdf, regs::COMMAND);
    let new = (old | set) & !clear;
    if new != old {
        access.write16(bdf, regs::COMMAND, new);
    }
    old
}

/// A [`ConfigAccess`] wrapper that counts the accesses going through it
/// (DESIGN.md rule 6): how many configuration cycles an enumeration or a
/// BAR sizing pass costs.
pub struct Counting<'a> {
    inner: &'a dyn ConfigAccess,
    reads: Cell<u64>,
    writes: Cell<u64>,
}

impl<'a> Counting<'a> {
    /// Wraps `inner` with both counters at zero.
    pub fn new(inner: &'a dyn ConfigAccess) -> Self {
        Counting { inner, reads: Cell::new(0), writes: Cell::new(0) }
    }

    /// Dword reads so far (each derived 8/16-bit access counts its dwords).
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }

    /// Dword writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }
}

impl ConfigAccess for Counting<'_> {
    fn read32(&self, addr: Bdf, offset: u16) -> u32 {
        self.reads.set(self.reads.get() + 1);
        self.inner.read32(addr, offset)
    }

    fn write32(&self, addr: Bdf, offset: u16, value: u32) {
        self.writes.set(self.writes.get() + 1);
        self.inner.write32(addr, offset, value)
    }
}
