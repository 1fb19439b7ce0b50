//! MSI and MSI-X capability and table layouts, named once (DESIGN.md, rule 3).
//!
//! Source: PCI Local Bus Specification 3.0, cited `[PCI 3.0 §x]`: §6.8.1 the
//! MSI capability, §6.8.2 the MSI-X capability, table and PBA, §6.8.3.5
//! masking. Offsets are relative to the capability's start.
//!
//! ```text
//!  MSI, 32-bit:              MSI, 64-bit:               MSI-X:
//!  +0  id | next | control   +0  id | next | control    +0  id | next | control
//!  +4  address               +4  address (low)          +4  table offset | BIR
//!  +8  data                  +8  address (high)         +8  PBA offset   | BIR
//!  +c  mask bits (if PVM)    +c  data
//!  +10 pending bits          +10 mask bits (if PVM)
//!                            +14 pending bits
//! ```

/// Message Control, 16 bits at +2 (both MSI and MSI-X).
pub const CONTROL: u16 = 0x2;

/// MSI register offsets `[PCI 3.0 §6.8.1]`.
pub mod msi {
    /// Message Address, bits 31:2 (bits 1:0 are zero) `[PCI 3.0 §6.8.1.4]`.
    pub const ADDRESS_LO: u16 = 0x4;
    /// Message Upper Address, 64-bit capable functions only
    /// `[PCI 3.0 §6.8.1.5]`.
    pub const ADDRESS_HI: u16 = 0x8;
    /// Message Data, 16 bits, 32-bit layout `[PCI 3.0 §6.8.1.6]`.
    pub const DATA_32: u16 = 0x8;
    /// Message Data, 64-bit layout.
    pub const DATA_64: u16 = 0xc;
    /// Mask Bits, 32-bit layout, per-vector masking only `[PCI 3.0 §6.8.1.7]`.
    pub const MASK_32: u16 = 0xc;
    /// Mask Bits, 64-bit layout.
    pub const MASK_64: u16 = 0x10;
    /// Pending Bits, 32-bit layout `[PCI 3.0 §6.8.1.8]`.
    pub const PENDING_32: u16 = 0x10;
    /// Pending Bits, 64-bit layout.
    pub const PENDING_64: u16 = 0x14;
    /// The address must be dword aligned.
    pub const ADDRESS_ALIGN_MASK: u64 = 0x3;

    /// Message Control bits `[PCI 3.0 §6.8.1.3]`.
    pub mod control {
        /// Bit 0: MSI enable.
        pub const ENABLE: u16 = 1 << 0;
        /// Bits 3:1 (RO): Multiple Message Capable, log2 of the vectors the
        /// function can use (0–5: 1–32 vectors).
        pub const MMC_SHIFT: u32 = 1;
        /// Three bits wide.
        pub const MMC_MASK: u16 = 0x7;
        /// Bits 6:4: Multiple Message Enable, log2 of the vectors software
        /// grants. The function ORs the vector number into the low MME bits
        /// of the data.
        pub const MME_SHIFT: u32 = 4;
        /// Three bits wide.
        pub const MME_MASK: u16 = 0x7;
        /// Bit 7 (RO): 64-bit address capable.
        pub const ADDR_64: u16 = 1 << 7;
        /// Bit 8 (RO): per-vector masking capable.
        pub const PER_VECTOR_MASKING: u16 = 1 << 8;
        /// The largest legal log2 vector count (32 vectors).
        pub const MAX_LOG2: u8 = 5;
    }
}

/// MSI-X capability registers `[PCI 3.0 §6.8.2]`.
pub mod msix {
    /// Table Offset/Table BIR `[PCI 3.0 §6.8.2.4]`.
    pub const TABLE: u16 = 0x4;
    /// PBA Offset/PBA BIR `[PCI 3.0 §6.8.2.5]`.
    pub const PBA: u16 = 0x8;
    /// Bits 2:0 of TABLE/PBA: which BAR (0–5) holds the structure.
    pub const BIR_MASK: u32 = 0x7;
    /// Bits 31:3 of TABLE/PBA: the offset within that BAR (8-byte aligned).
    pub const OFFSET_MASK: u32 = !0x7;
    /// BIR values 6 and 7 are reserved.
    pub const MAX_BIR: u8 = 5;

    /// Message Control bits `[PCI 3.0 §6.8.2.3]`.
    pub mod control {
        /// Bits 10:0 (RO): table size minus one (1–2048 entries).
        pub const TABLE_SIZE_MASK: u16 = 0x7ff;
        /// Bit 14: function mask — every vector is masked regardless of its
        /// own mask bit.
        pub const FUNCTION_MASK: u16 = 1 << 14;
        /// Bit 15: MSI-X enable.
        pub const ENABLE: u16 = 1 << 15;
    }

    /// One table entry is 16 bytes `[PCI 3.0 §6.8.2]`, at `index * ENTRY_SIZE`.
    pub const ENTRY_SIZE: usize = 16;
    /// Entry +0: Message Address, bits 31:2 `[PCI 3.0 §6.8.2.6]`.
    pub const ENTRY_ADDRESS_LO: usize = 0x0;
    /// Entry +4: Message Upper Address `[PCI 3.0 §6.8.2.7]`.
    pub const ENTRY_ADDRESS_HI: usize = 0x4;
    /// Entry +8: Message Data, 32 bits `[PCI 3.0 §6.8.2.8]`.
    pub const ENTRY_DATA: usize = 0x8;
    /// Entry +12: Vector Control `[PCI 3.0 §6.8.2.9]`.
    pub const ENTRY_VECTOR_CONTROL: usize = 0xc;
    /// Vector Control bit 0: the vector is masked. Resets to 1: every vector
    /// starts masked.
    pub const VECTOR_MASKED: u32 = 1 << 0;

    /// The Pending Bit Array is an array of qwords, one bit per vector
    /// `[PCI 3.0 §6.8.2.10]`; this crate reads it a dword at a time.
    pub const PBA_BITS_PER_DWORD: usize = 32;

    /// The offset of entry `index`'s field `field` in the table.
    pub const fn entry_offset(index: u16, field: usize) -> usize {
        index as usize * ENTRY_SIZE + field
    }
}
