//! Base Address Registers: where a function's registers live, and how big
//! they are.
//!
//! # The sizing protocol
//!
//! A function asks for address space through its BARs (PCI 3.0 §6.2.5.1).
//! Each BAR is a 32-bit register whose low bits are read-only flags and
//! whose address bits are writable only down to the size of the region: a
//! 64 KiB memory BAR has bits 31:16 writable and bits 15:4 hardwired to zero.
//! So software learns the size by writing all ones and reading back:
//!
//! ```text
//!   write 0xffff_ffff  →  read 0xffff_0000 | flags   →   size = lowest set address bit = 0x1_0000
//! ```
//!
//! The low bits say what kind of space it is ([`regs::bar`]): bit 0 set is an
//! I/O port range (bits 31:2 address); otherwise memory, with bits 2:1 the
//! type (00 = 32-bit, 10 = 64-bit: this BAR and the next form one 64-bit
//! register) and bit 3 "prefetchable". A BAR that reads back 0 is not
//! implemented.
//!
//! [`probe_bars`] does it properly, as the spec's implementation note and
//! Linux's `__pci_read_base` do:
//!
//! 1. save the Command register and clear its I/O and memory decode bits —
//!    while a BAR holds all ones the function would otherwise claim a bogus
//!    range (the top of the address space, where the LAPIC and firmware
//!    live);
//! 2. for each BAR: save it, write all ones, read back, **restore** it (both
//!    halves of a 64-bit BAR);
//! 3. restore the Command register.
//!
//! Nothing the firmware set up is lost: sizing a live device leaves every
//! register as it was. [`program_bar`] writes a new address (with decode off
//! around the write, so a 64-bit BAR is never live with one half updated) and
//! reads it back to check the function took it.

use core::fmt;

use crate::config::regs::{self, bar as fields, command};
use crate::config::{Bdf, ConfigAccess};
use crate::header::HeaderType;

/// How many BAR slots a header can have (type 0).
pub const MAX_BARS: usize = regs::TYPE0_BAR_COUNT;

/// One decoded BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bar {
    /// An I/O port range.
    Io {
        /// First port (0 if firmware assigned nothing).
        port: u32,
        /// Size in bytes (ports), a power of two ≥ 4.
        size: u32,
    },
    /// A memory range below 4 GiB.
    Mem32 {
        /// Base address (0 if unassigned).
        addr: u32,
        /// Size in bytes, a power of two ≥ 16.
        size: u32,
        /// Reads have no side effects, so the range may be mapped
        /// write-combining and placed in a bridge's prefetchable window.
        prefetchable: bool,
    },
    /// A memory range anywhere in 64-bit space; occupies two BAR slots.
    Mem64 {
        /// Base address (0 if unassigned).
        addr: u64,
        /// Size in bytes, a power of two ≥ 16.
        size: u64,
        /// As for [`Bar::Mem32`].
        prefetchable: bool,
    },
    /// The slot exists but is not implemented (reads back 0).
    None,
}

impl Bar {
    /// The base address (port number for I/O); 0 for [`Bar::None`].
    pub const fn address(&self) -> u64 {
        match *self {
            Bar::Io { port, .. } => port as u64,
            Bar::Mem32 { addr, .. } => addr as u64,
            Bar::Mem64 { addr, .. } => addr,
            Bar::None => 0,
        }
    }

    /// The size in bytes; 0 for [`Bar::None`].
    pub const fn size(&self) -> u64 {
        match *self {
            Bar::Io { size, .. } => size as u64,
            Bar::Mem32 { size, .. } => size as u64,
            Bar::Mem64 { size, .. } => size,
            Bar::None => 0,
        }
    }

    /// Whether it is an I/O port range.
    pub const fn is_io(&self) -> bool {
        matches!(self, Bar::Io { .. })
    }

    /// Whether it is a memory range.
    pub const fn is_memory(&self) -> bool {
        matches!(self, Bar::Mem32 { .. } | Bar::Mem64 { .. })
    }

    /// Whether it is a 64-bit BAR (and so takes the next slot too).
    pub const fn is_64bit(&self) -> bool {
        matches!(self, Bar::Mem64 { .. })
    }

    /// Whether it is a prefetchable memory range.
    pub const fn is_prefetchable(&self) -> bool {
        matches!(self, Bar::Mem32 { prefetchable: true, .. } | Bar::Mem64 { prefetchable: true, .. })
    }

    /// Decodes a BAR from its original contents and what it read back after
    /// all ones were written. For a 64-bit BAR (`original_low`'s type bits
    /// say so) the `_high` values are the next slot's; otherwise they are
    /// ignored.
    ///
    /// Size is the lowest writable address bit, which is robust to devices
    /// that implement fewer upper bits (16-bit I/O decoders read back
    /// 0x0000_fffd, not 0xffff_fffd).
    pub const fn decode(
        original_low: u32,
        readback_low: u32,
        original_high: u32,
        readback_high: u32,
    ) -> Result<Bar, BarError> {
        if readback_low == 0 {
            return Ok(Bar::None);
        }
        if original_low & fields::IO != 0 {
            let mask = readback_low & fields::IO_ADDRESS_MASK;
            if mask == 0 {
                return Err(BarError::NoAddressBits { readback: readback_low });
            }
            return Ok(Bar::Io { port: original_low & fields::IO_ADDRESS_MASK, size: lowest_bit32(mask) });
        }
        let prefetchable = original_low & fields::MEM_PREFETCHABLE != 0;
        match (original_low >> fields::MEM_TYPE_SHIFT) & fields::MEM_TYPE_MASK {
            fields::MEM_TYPE_32 | fields::MEM_TYPE_1M => {
                let mask = readback_low & fields::MEM_ADDRESS_MASK;
                if mask == 0 {
                    return Ok(Bar::None);
                }
                Ok(Bar::Mem32 { addr: original_low & fields::MEM_ADDRESS_MASK, size: lowest_bit32(mask), prefetchable })
            }
            fields::MEM_TYPE_64 => {
                let mask = (readback_high as u64) << 32 | (readback_low & fields::MEM_ADDRESS_MASK) as u64;
                if mask == 0 {
                    return Ok(Bar::None);
                }
                let addr = (original_high as u64) << 32 | (original_low & fields::MEM_ADDRESS_MASK) as u64;
                Ok(Bar::Mem64 { addr, size: mask & mask.wrapping_neg(), prefetchable })
            }
            reserved => Err(BarError::ReservedType { raw: original_low, kind: reserved as u8 }),
        }
    }
}

const fn lowest_bit32(mask: u32) -> u32 {
    mask & mask.wrapping_neg()
}

/// What can go wrong with a BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// Memory type 11b, reserved `[PCI 3.0 §6.2.5.1]`.
    ReservedType {
        /// The BAR's original value.
        raw: u32,
        /// The two type bits.
        kind: u8,
    },
    /// An I/O BAR with no writable address bits.
    NoAddressBits {
        /// What it read back after all ones were written.
        readback: u32,
    },
    /// A 64-bit BAR in the last slot: its upper half would be outside the
    /// header.
    Mem64InLastSlot {
        /// The BAR index.
        index: usize,
    },
    /// A BAR index outside the header's BARs.
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// How many BARs the header has.
        count: usize,
    },
    /// The index names the upper half of a 64-bit BAR.
    UpperHalf {
        /// The index asked for.
        index: usize,
    },
    /// The function read all ones: it is gone (surprise removal) or never
    /// was.
    NotPresent(Bdf),
    /// The address written did not read back: not aligned to the BAR's
    /// size, or above 4 GiB for a 32-bit BAR (or above 64 KiB for a 16-bit
    /// I/O decoder).
    NotAccepted {
        /// The BAR index.
        index: usize,
        /// The address written.
        wrote: u64,
        /// What the BAR holds now.
        read: u64,
    },
    /// The BAR is not implemented ([`Bar::None`]) or has no room for the
    /// address (a 32-bit BAR given one above 4 GiB).
    Unassignable {
        /// The BAR index.
        index: usize,
        /// The address asked for.
        addr: u64,
    },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BarError::ReservedType { raw, kind } => {
                write!(f, "pci: BAR {raw:#010x} has reserved memory type {kind:#b}")
            }
            BarError::NoAddressBits { readback } => {
                write!(f, "pci: I/O BAR reads back {readback:#010x}: no address bits")
            }
            BarError::Mem64InLastSlot { index } => write!(f, "pci: 64-bit BAR{index} in the last slot"),
            BarError::IndexOutOfRange { index, count } => {
                write!(f, "pci: BAR{index} out of range (header has {count})")
            }
            BarError::UpperHalf { index } => write!(f, "pci: BAR{index} is the upper half of a 64-bit BAR"),
            BarError::NotPresent(bdf) => write!(f, "pci: {bdf} reads all ones"),
            BarError::NotAccepted { index, wrote, read } => {
                write!(f, "pci: BAR{index} written {wrote:#x} but reads {read:#x}")
            }
            BarError::Unassignable { index, addr } => write!(f, "pci: BAR{index} cannot take address {addr:#x}"),
        }
    }
}

impl core::error::Error for BarError {}

/// The BARs of one function, indexed by slot: `Some(bar)` for a slot that is
/// a BAR of its own (possibly [`Bar::None`], unimplemented), `None` for the
/// upper half of a 64-bit BAR and for slots beyond the header's count.
pub type Bars = [Option<Bar>; MAX_BARS];

/// Sizes the first `count` BARs of `bdf` (6 for type 0, 2 for type 1 — see
/// [`HeaderType::bar_count`](crate::header::HeaderType::bar_count)) with the
/// protocol in the module docs, leaving every register as it was.
///
/// Errors (after restoring everything): a reserved memory type, an I/O BAR
/// without address bits, a 64-bit BAR in the last slot, a function reading
/// all ones.
pub fn probe_bars(access: &dyn ConfigAccess, bdf: Bdf, count: usize) -> Result<Bars, BarError> {
    let count = count.min(MAX_BARS);
    let mut bars: Bars = [None; MAX_BARS];
    if count == 0 {
        return Ok(bars);
    }
    let cmd = access.read16(bdf, regs::COMMAND);
    if cmd == 0xffff {
        return Err(BarError::NotPresent(bdf));
    }
    if cmd & command::DECODE != 0 {
        access.write16(bdf, regs::COMMAND, cmd & !command::DECODE);
    }
    let result = size_all(access, bdf, count, &mut bars);
    if cmd & command::DECODE != 0 {
        access.write16(bdf, regs::COMMAND, cmd);
    }
    result.map(|()| bars)
}

/// Writes all ones to the dword at `offset`, reads it back, restores it.
/// Returns (original, readback).
fn size_one(access: &dyn ConfigAccess, bdf: Bdf, offset: u16) -> (u32, u32) {
    let original = access.read32(bdf, offset);
    access.write32(bdf, offset, 0xffff_ffff);
    let readback = access.read32(bdf, offset);
    access.write32(bdf, offset, original);
    (original, readback)
}

fn size_all(access: &dyn ConfigAccess, bdf: Bdf, count: usize, bars: &mut Bars) -> Result<(), BarError> {
    let mut index = 0;
    while index < count {
        let offset = regs::bar_offset(index);
        let (original, readback) = size_one(access, bdf, offset);
        if original == regs::ABSENT && readback == regs::ABSENT {
            return Err(BarError::NotPresent(bdf));
        }
        if is_mem64(original) && readback != 0 {
            if index + 1 >= count {
                return Err(BarError::Mem64InLastSlot { index });
            }
            let (original_high, readback_high) = size_one(access, bdf, offset + 4);
            bars[index] = Some(Bar::decode(original, readback, original_high, readback_high)?);
            index += 2;
        } else {
            bars[index] = Some(Bar::decode(original, readback, 0, 0)?);
            index += 1;
        }
    }
    Ok(())
}

/// Programs BAR `index` of `bdf` with `addr`, and checks it read back.
///
/// The BAR count comes from the header type, the BAR's kind from its
/// read-only type bits (for a 64-bit BAR both halves are written). The
/// decode bit for its space is cleared around the write and then restored,
/// so the function never decodes a half-written address. Errors: index out
/// of range or naming the upper half of a 64-bit BAR, a 32-bit BAR given an
/// address above 4 GiB, an address with flag bits set or that does not read
/// back (not aligned to the BAR's size, or the BAR is unimplemented).
pub fn program_bar(access: &dyn ConfigAccess, bdf: Bdf, index: usize, addr: u64) -> Result<(), BarError> {
    let raw_type = access.read8(bdf, regs::HEADER_TYPE);
    if raw_type == 0xff {
        return Err(BarError::NotPresent(bdf));
    }
    let count = HeaderType::from_register(raw_type).bar_count();
    if index >= count {
        return Err(BarError::IndexOutOfRange { index, count });
    }
    // Walk the slots from 0: only a slot the walk lands on starts a BAR.
    let mut slot = 0;
    while slot < index {
        slot += if is_mem64(access.read32(bdf, regs::bar_offset(slot))) { 2 } else { 1 };
    }
    if slot != index {
        return Err(BarError::UpperHalf { index });
    }
    let offset = regs::bar_offset(index);
    let raw = access.read32(bdf, offset);
    let is_io = raw & fields::IO != 0;
    let is_64 = is_mem64(raw);
    if is_64 && index + 1 >= count {
        return Err(BarError::Mem64InLastSlot { index });
    }
    if !is_64 && addr > u64::from(u32::MAX) {
        return Err(BarError::Unassignable { index, addr });
    }
    let (flags_mask, decode) = if is_io {
        (!fields::IO_ADDRESS_MASK, command::IO_SPACE)
    } else {
        (!fields::MEM_ADDRESS_MASK, command::MEMORY_SPACE)
    };
    if addr & u64::from(flags_mask) != 0 {
        return Err(BarError::NotAccepted {
            index,
            wrote: addr,
            read: read_address(access, bdf, offset, is_64, flags_mask),
        });
    }

    let cmd = access.read16(bdf, regs::COMMAND);
    if cmd & decode != 0 {
        access.write16(bdf, regs::COMMAND, cmd & !decode);
    }
    access.write32(bdf, offset, addr as u32 | (raw & flags_mask));
    if is_64 {
        access.write32(bdf, offset + 4, (addr >> 32) as u32);
    }
    let read = read_address(access, bdf, offset, is_64, flags_mask);
    if cmd & decode != 0 {
        access.write16(bdf, regs::COMMAND, cmd);
    }
    if read != addr {
        return Err(BarError::NotAccepted { index, wrote: addr, read });
    }
    Ok(())
}

/// Whether a BAR's original value says "64-bit memory BAR".
const fn is_mem64(raw: u32) -> bool {
    raw & fields::IO == 0 && (raw >> fields::MEM_TYPE_SHIFT) & fields::MEM_TYPE_MASK == fields::MEM_TYPE_64
}

fn read_address(access: &dyn ConfigAccess, bdf: Bdf, offset: u16, is_64: bool, flags_mask: u32) -> u64 {
    let low = u64::from(access.read32(bdf, offset) & !flags_mask);
    if is_64 {
        low | u64::from(access.read32(bdf, offset + 4)) << 32
    } else {
        low
    }
}
