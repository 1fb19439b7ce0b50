//! MSI and MSI-X at register level: interrupts as memory writes.
//!
//! # Why messages
//!
//! An INTx wire is shared, level-triggered and routed through bridges and
//! the chipset to an IOAPIC pin ([`intx`](crate::intx)). With **MSI** (PCI
//! 3.0 §6.8.1) the device instead raises an interrupt by *writing* a data
//! word to an address; on x86 the address is in the 0xFEEx_xxxx window the
//! chipset delivers to a local APIC, and the data carries the vector (the
//! `apic` crate composes both). No wire, no sharing, no routing tables, and
//! the write is ordered behind the device's DMA writes, so the data is in
//! memory when the handler runs.
//!
//! # MSI: one address, up to 32 consecutive vectors
//!
//! The MSI capability holds one address and one 16-bit data value. A device
//! that wants several vectors says how many it could use (Multiple Message
//! Capable, a log2) and software grants a power of two (Multiple Message
//! Enable); the device then ORs the vector number into the low bits of the
//! data — so the data's low `count_log2` bits must be zero, and the kernel
//! must allocate an aligned block of vectors. [`configure`] follows the
//! order the spec implies: MSI off, address (low, then high for a 64-bit
//! capable function), data, Multiple Message Enable, then MSI on. Optional
//! per-vector mask bits ([`set_mask`]) let a driver silence one vector.
//!
//! # MSI-X: a table in a BAR
//!
//! **MSI-X** (PCI 3.0 §6.8.2) gives every vector (up to 2048) its own
//! address, data and mask bit, in a **table** that lives in one of the
//! function's memory BARs (the capability says which BAR, the *BIR*, and at
//! what offset), next to a **Pending Bit Array** recording vectors that
//! fired while masked. The kernel ioremaps the two ranges and hands them to
//! this module as [`MsixTable`]s; [`MsixCap`] parses the capability and
//! programs entries. Linux's order, which this module's docs assume:
//!
//! 1. enable MSI-X with the **function mask** set ([`MsixCap::enable`],
//!    [`MsixCap::set_function_mask`]) — every vector stays masked whatever
//!    its own bit says;
//! 2. write each entry ([`MsixCap::write_entry`]);
//! 3. clear the function mask.
//!
//! An entry's address and data must never change while the entry is
//! unmasked: "if software changes the Address or Data value of an entry
//! while the entry is unmasked, the result is undefined" (PCI 3.0 §6.8.3.5;
//! the mask bit is Vector Control bit 0, §6.8.2.9). The device could fire
//! between the writes and send half-old, half-new — an interrupt to a
//! vector nobody handles. So [`MsixCap::write_entry`] masks the entry, writes
//! address and data, and only then unmasks it.
//!
//! When either kind of message is enabled the function must not use its
//! INTx pin (PCI 3.0 §6.8.1.3, §6.8.2.3); setting Command bit 10 as well
//! ([`config::update_command`](crate::config::update_command)) is
//! belt-and-braces, as Linux does.

pub mod regs;

use core::fmt;

use crate::caps::{self, CapError};
use crate::config::{Bdf, ConfigAccess};
use regs::msi::control as msi_ctl;
use regs::msix::control as msix_ctl;

/// What can go wrong programming MSI or MSI-X.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiError {
    /// The capability list is corrupt.
    Cap(CapError),
    /// The offset does not hold the expected capability.
    WrongCapability {
        /// The offset given.
        offset: u16,
        /// The ID found there.
        id: u8,
    },
    /// More vectors asked for than the function can use.
    TooManyVectors {
        /// log2 of the vectors asked for.
        requested_log2: u8,
        /// log2 of what the function supports.
        capable_log2: u8,
    },
    /// An address above 4 GiB for a function with a 32-bit MSI address.
    AddressTooWide(u64),
    /// An address with bits 1:0 set (messages are dword writes).
    AddressMisaligned(u64),
    /// With 2^n vectors the device ORs the vector number into the data's low
    /// n bits, so they must be zero.
    DataMisaligned {
        /// The data given.
        data: u16,
        /// log2 of the vectors enabled.
        count_log2: u8,
    },
    /// The function has no per-vector mask bits.
    NoPerVectorMasking,
    /// A vector (MSI) or table entry (MSI-X) beyond what exists.
    VectorOutOfRange {
        /// The vector or entry asked for.
        vector: u16,
        /// How many there are.
        count: u16,
    },
    /// An MSI-X BIR of 6 or 7 (reserved).
    ReservedBir(u8),
}

impl From<CapError> for MsiError {
    fn from(e: CapError) -> Self {
        MsiError::Cap(e)
    }
}

impl fmt::Display for MsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MsiError::Cap(e) => write!(f, "{e}"),
            MsiError::WrongCapability { offset, id } => {
                write!(f, "pci: capability at {offset:#x} has ID {id:#04x}, not the one expected")
            }
            MsiError::TooManyVectors { requested_log2, capable_log2 } => write!(
                f,
                "pci: {} MSI vectors asked for, function supports {}",
                1u32 << requested_log2.min(31),
                1u32 << capable_log2.min(31)
            ),
            MsiError::AddressTooWide(a) => write!(f, "pci: MSI address {a:#x} needs 64 bits, function has 32"),
            MsiError::AddressMisaligned(a) => write!(f, "pci: MSI address {a:#x} is not dword aligned"),
            MsiError::DataMisaligned { data, count_log2 } => {
                write!(f, "pci: MSI data {data:#06x} has bits set below the {count_log2} vector-number bits")
            }
            MsiError::NoPerVectorMasking => write!(f, "pci: function has no per-vector MSI masking"),
            MsiError::VectorOutOfRange { vector, count } => {
                write!(f, "pci: vector {vector} out of range (function has {count})")
            }
            MsiError::ReservedBir(b) => write!(f, "pci: MSI-X BIR {b} is reserved"),
        }
    }
}

impl core::error::Error for MsiError {}

// ---------------------------------------------------------------------------
// MSI
// ---------------------------------------------------------------------------

/// A function's MSI capability, as read from its read-only fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsiCap {
    /// The capability's offset in configuration space.
    pub offset: u16,
    /// Multiple Message Capable: log2 of the vectors the function can use
    /// (0–5).
    pub multiple_message_capable: u8,
    /// Whether the address register is 64 bits (the layout then shifts).
    pub is_64bit: bool,
    /// Whether the function has mask and pending bits per vector.
    pub per_vector_masking: bool,
}

impl MsiCap {
    /// Parses the MSI capability at `offset` of `bdf`.
    pub fn read(access: &dyn ConfigAccess, bdf: Bdf, offset: u16) -> Result<Self, MsiError> {
        let header = access.read32(bdf, offset);
        let id = header as u8;
        if id != caps::regs::id::MSI {
            return Err(MsiError::WrongCapability { offset, id });
        }
        let control = (header >> 16) as u16;
        Ok(MsiCap {
            offset,
            multiple_message_capable: ((control >> msi_ctl::MMC_SHIFT) & msi_ctl::MMC_MASK) as u8,
            is_64bit: control & msi_ctl::ADDR_64 != 0,
            per_vector_masking: control & msi_ctl::PER_VECTOR_MASKING != 0,
        })
    }

    /// Finds and parses the MSI capability of `bdf`, if it has one.
    pub fn find(access: &dyn ConfigAccess, bdf: Bdf) -> Result<Option<Self>, MsiError> {
        match caps::find(access, bdf, caps::regs::id::MSI)? {
            Some(offset) => Self::read(access, bdf, offset).map(Some),
            None => Ok(None),
        }
    }

    /// How many vectors the function can use (1–32).
    pub const fn max_vectors(&self) -> u16 {
        1 << self.multiple_message_capable
    }

    /// The Message Data register's offset in configuration space.
    pub const fn data_offset(&self) -> u16 {
        self.offset + if self.is_64bit { regs::msi::DATA_64 } else { regs::msi::DATA_32 }
    }

    /// The Mask Bits register's offset, if the function has one.
    pub const fn mask_offset(&self) -> Option<u16> {
        if !self.per_vector_masking {
            return None;
        }
        Some(self.offset + if self.is_64bit { regs::msi::MASK_64 } else { regs::msi::MASK_32 })
    }

    /// The Pending Bits register's offset, if the function has one.
    pub const fn pending_offset(&self) -> Option<u16> {
        if !self.per_vector_masking {
            return None;
        }
        Some(self.offset + if self.is_64bit { regs::msi::PENDING_64 } else { regs::msi::PENDING_32 })
    }

    /// Whether MSI is enabled.
    pub fn is_enabled(&self, access: &dyn ConfigAccess, bdf: Bdf) -> bool {
        access.read16(bdf, self.offset + regs::CONTROL) & msi_ctl::ENABLE != 0
    }
}

/// Programs and enables MSI: `2^count_log2` vectors, the first one
/// signalled by writing `data` to `address`.
///
/// Order: MSI off (if it was on), address low, address high (64-bit
/// functions), data, Multiple Message Enable, MSI on. Everything is checked
/// before the first write, so an error leaves the function untouched.
pub fn configure(
    access: &dyn ConfigAccess,
    bdf: Bdf,
    cap: &MsiCap,
    address: u64,
    data: u16,
    count_log2: u8,
) -> Result<(), MsiError> {
    if count_log2 > cap.multiple_message_capable || count_log2 > msi_ctl::MAX_LOG2 {
        return Err(MsiError::TooManyVectors {
            requested_log2: count_log2,
            capable_log2: cap.multiple_message_capable,
        });
    }
    if address & regs::msi::ADDRESS_ALIGN_MASK != 0 {
        return Err(MsiError::AddressMisaligned(address));
    }
    if !cap.is_64bit && address > u64::from(u32::MAX) {
        return Err(MsiError::AddressTooWide(address));
    }
    if data & ((1u16 << count_log2) - 1) != 0 {
        return Err(MsiError::DataMisaligned { data, count_log2 });
    }
    let control_at = cap.offset + regs::CONTROL;
    let control = access.read16(bdf, control_at);
    if control & msi_ctl::ENABLE != 0 {
        access.write16(bdf, control_at, control & !msi_ctl::ENABLE);
    }
    access.write32(bdf, cap.offset + regs::msi::ADDRESS_LO, address as u32);
    if cap.is_64bit {
        access.write32(bdf, cap.offset + regs::msi::ADDRESS_HI, (address >> 32) as u32);
    }
    access.write16(bdf, cap.data_offset(), data);
    let control = (control & !msi_ctl::ENABLE & !(msi_ctl::MME_MASK << msi_ctl::MME_SHIFT))
        | u16::from(count_log2) << msi_ctl::MME_SHIFT;
    access.write16(bdf, control_at, control);
    access.write16(bdf, control_at, control | msi_ctl::ENABLE);
    Ok(())
}

/// Turns MSI off (the function falls back to INTx, unless INTx is disabled
/// in the Command register).
pub fn disable(access: &dyn ConfigAccess, bdf: Bdf, cap: &MsiCap) {
    let control_at = cap.offset + regs::CONTROL;
    let control = access.read16(bdf, control_at);
    if control & msi_ctl::ENABLE != 0 {
        access.write16(bdf, control_at, control & !msi_ctl::ENABLE);
    }
}

/// Masks or unmasks MSI vector `vector` (per-vector masking functions
/// only). A masked vector's messages are held as pending, not lost.
pub fn set_mask(access: &dyn ConfigAccess, bdf: Bdf, cap: &MsiCap, vector: u8, masked: bool) -> Result<(), MsiError> {
    let at = cap.mask_offset().ok_or(MsiError::NoPerVectorMasking)?;
    check_msi_vector(cap, vector)?;
    let bits = access.read32(bdf, at);
    let bit = 1u32 << vector;
    let new = if masked { bits | bit } else { bits & !bit };
    if new != bits {
        access.write32(bdf, at, new);
    }
    Ok(())
}

/// Whether MSI vector `vector` is masked (per-vector masking functions
/// only).
pub fn is_masked(access: &dyn ConfigAccess, bdf: Bdf, cap: &MsiCap, vector: u8) -> Result<bool, MsiError> {
    let at = cap.mask_offset().ok_or(MsiError::NoPerVectorMasking)?;
    check_msi_vector(cap, vector)?;
    Ok(access.read32(bdf, at) & (1 << vector) != 0)
}

/// Whether MSI vector `vector` has a message pending (it fired while
/// masked).
pub fn is_pending(access: &dyn ConfigAccess, bdf: Bdf, cap: &MsiCap, vector: u8) -> Result<bool, MsiError> {
    let at = cap.pending_offset().ok_or(MsiError::NoPerVectorMasking)?;
    check_msi_vector(cap, vector)?;
    Ok(access.read32(bdf, at) & (1 << vector) != 0)
}

fn check_msi_vector(cap: &MsiCap, vector: u8) -> Result<(), MsiError> {
    if u16::from(vector) >= cap.max_vectors() {
        return Err(MsiError::VectorOutOfRange { vector: u16::from(vector), count: cap.max_vectors() });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// MSI-X
// ---------------------------------------------------------------------------

/// A window onto an MSI-X table or Pending Bit Array: 32-bit accesses at
/// byte offsets from the structure's start. The kernel implements it over
/// an ioremapped range of the BAR ([`MsixCap::table_bytes`] and
/// [`MsixCap::pba_bytes`] long); tests use
/// `sim::SimMsixTable` (feature `sim`).
pub trait MsixTable {
    /// Reads the dword at `offset`.
    fn read32(&self, offset: usize) -> u32;
    /// Writes the dword at `offset`.
    fn write32(&self, offset: usize, value: u32);
}

/// A function's MSI-X capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MsixCap {
    /// The capability's offset in configuration space.
    pub offset: u16,
    /// Number of table entries (1–2048).
    pub table_size: u16,
    /// Which BAR holds the table (0–5).
    pub table_bar: u8,
    /// The table's offset within that BAR (8-byte aligned).
    pub table_offset: u32,
    /// Which BAR holds the Pending Bit Array (0–5).
    pub pba_bar: u8,
    /// The PBA's offset within that BAR (8-byte aligned).
    pub pba_offset: u32,
}

impl MsixCap {
    /// Parses the MSI-X capability at `offset` of `bdf`.
    pub fn read(access: &dyn ConfigAccess, bdf: Bdf, offset: u16) -> Result<Self, MsiError> {
        let header = access.read32(bdf, offset);
        let id = header as u8;
        if id != caps::regs::id::MSIX {
            return Err(MsiError::WrongCapability { offset, id });
        }
        let control = (header >> 16) as u16;
        let table = access.read32(bdf, offset + regs::msix::TABLE);
        let pba = access.read32(bdf, offset + regs::msix::PBA);
        let table_bar = (table & regs::msix::BIR_MASK) as u8;
        let pba_bar = (pba & regs::msix::BIR_MASK) as u8;
        for bir in [table_bar, pba_bar] {
            if bir > regs::msix::MAX_BIR {
                return Err(MsiError::ReservedBir(bir));
            }
        }
        Ok(MsixCap {
            offset,
            table_size: (control & msix_ctl::TABLE_SIZE_MASK) + 1,
            table_bar,
            table_offset: table & regs::msix::OFFSET_MASK,
            pba_bar,
            pba_offset: pba & regs::msix::OFFSET_MASK,
        })
    }

    /// Finds and parses the MSI-X capability of `bdf`, if it has one.
    pub fn find(access: &dyn ConfigAccess, bdf: Bdf) -> Result<Option<Self>, MsiError> {
        match caps::find(access, bdf, caps::regs::id::MSIX)? {
            Some(offset) => Self::read(access, bdf, offset).map(Some),
            None => Ok(None),
        }
    }

    /// The table's length in bytes (16 per entry): what to ioremap.
    pub const fn table_bytes(&self) -> usize {
        self.table_size as usize * regs::msix::ENTRY_SIZE
    }

    /// The PBA's length in bytes: one bit per entry, in whole qwords.
    pub const fn pba_bytes(&self) -> usize {
        (self.table_size as usize).div_ceil(64) * 8
    }

    fn update_control(&self, access: &dyn ConfigAccess, bdf: Bdf, set: u16, clear: u16) {
        let at = self.offset + regs::CONTROL;
        let old = access.read16(bdf, at);
        let new = (old | set) & !clear;
        if new != old {
            access.write16(bdf, at, new);
        }
    }

    /// Sets MSI-X Enable (the function mask is left as it is).
    pub fn enable(&self, access: &dyn ConfigAccess, bdf: Bdf) {
        self.update_control(access, bdf, msix_ctl::ENABLE, 0);
    }

    /// Clears MSI-X Enable.
    pub fn disable(&self, access: &dyn ConfigAccess, bdf: Bdf) {
        self.update_control(access, bdf, 0, msix_ctl::ENABLE);
    }

    /// Sets or clears the function mask, which masks every vector at once.
    pub fn set_function_mask(&self, access: &dyn ConfigAccess, bdf: Bdf, masked: bool) {
        if masked {
            self.update_control(access, bdf, msix_ctl::FUNCTION_MASK, 0);
        } else {
            self.update_control(access, bdf, 0, msix_ctl::FUNCTION_MASK);
        }
    }

    /// Whether MSI-X is enabled.
    pub fn is_enabled(&self, access: &dyn ConfigAccess, bdf: Bdf) -> bool {
        access.read16(bdf, self.offset + regs::CONTROL) & msix_ctl::ENABLE != 0
    }

    /// Whether the function mask is set.
    pub fn is_function_masked(&self, access: &dyn ConfigAccess, bdf: Bdf) -> bool {
        access.read16(bdf, self.offset + regs::CONTROL) & msix_ctl::FUNCTION_MASK != 0
    }

    fn check_entry(&self, index: u16) -> Result<(), MsiError> {
        if index >= self.table_size {
            return Err(MsiError::VectorOutOfRange { vector: index, count: self.table_size });
        }
        Ok(())
    }

    /// Writes entry `index` of `table` to send `data` to `address`, then
    /// unmasks it: Vector Control gets the mask bit first (if not already
    /// set), then address low, address high, data, then Vector Control with
    /// the mask bit clear (module docs; PCI 3.0 §6.8.2.9, §6.8.3.5). The
    /// Vector Control register's reserved bits are written back as read.
    pub fn write_entry(&self, table: &dyn MsixTable, index: u16, address: u64, data: u32) -> Result<(), MsiError> {
        use regs::msix::*;
        self.check_entry(index)?;
        if address & regs::msi::ADDRESS_ALIGN_MASK != 0 {
            return Err(MsiError::AddressMisaligned(address));
        }
        let vc_at = entry_offset(index, ENTRY_VECTOR_CONTROL);
        let vc = table.read32(vc_at);
        if vc & VECTOR_MASKED == 0 {
            table.write32(vc_at, vc | VECTOR_MASKED);
        }
        table.write32(entry_offset(index, ENTRY_ADDRESS_LO), address as u32);
        table.write32(entry_offset(index, ENTRY_ADDRESS_HI), (address >> 32) as u32);
        table.write32(entry_offset(index, ENTRY_DATA), data);
        table.write32(vc_at, vc & !VECTOR_MASKED);
        Ok(())
    }

    /// Reads entry `index`'s address and data.
    pub fn read_entry(&self, table: &dyn MsixTable, index: u16) -> Result<(u64, u32), MsiError> {
        use regs::msix::*;
        self.check_entry(index)?;
        let lo = u64::from(table.read32(entry_offset(index, ENTRY_ADDRESS_LO)));
        let hi = u64::from(table.read32(entry_offset(index, ENTRY_ADDRESS_HI)));
        Ok((hi << 32 | lo, table.read32(entry_offset(index, ENTRY_DATA))))
    }

    fn set_entry_mask(&self, table: &dyn MsixTable, index: u16, masked: bool) -> Result<(), MsiError> {
        use regs::msix::*;
        self.check_entry(index)?;
        let at = entry_offset(index, ENTRY_VECTOR_CONTROL);
        let vc = table.read32(at);
        let new = if masked { vc | VECTOR_MASKED } else { vc & !VECTOR_MASKED };
        if new != vc {
            table.write32(at, new);
        }
        Ok(())
    }

    /// Masks entry `index`: its messages are held as pending.
    pub fn mask(&self, table: &dyn MsixTable, index: u16) -> Result<(), MsiError> {
        self.set_entry_mask(table, index, true)
    }

    /// Unmasks entry `index`; a pending message is then sent.
    pub fn unmask(&self, table: &dyn MsixTable, index: u16) -> Result<(), MsiError> {
        self.set_entry_mask(table, index, false)
    }

    /// Whether entry `index`'s own mask bit is set (the function mask is
    /// separate: [`is_function_masked`](Self::is_function_masked)).
    pub fn is_masked(&self, table: &dyn MsixTable, index: u16) -> Result<bool, MsiError> {
        use regs::msix::*;
        self.check_entry(index)?;
        Ok(table.read32(entry_offset(index, ENTRY_VECTOR_CONTROL)) & VECTOR_MASKED != 0)
    }

    /// Whether entry `index` has a pending message, from the Pending Bit
    /// Array `pba`.
    pub fn pending(&self, pba: &dyn MsixTable, index: u16) -> Result<bool, MsiError> {
        use regs::msix::PBA_BITS_PER_DWORD;
        self.check_entry(index)?;
        let index = usize::from(index);
        let dword = pba.read32(index / PBA_BITS_PER_DWORD * 4);
        Ok(dword & (1 << (index % PBA_BITS_PER_DWORD)) != 0)
    }
}
