//! The edu register map, named once (DESIGN.md, rule 3).
//!
//! Source: QEMU's `docs/specs/edu.rst`, cited as `[edu.rst §…]` by section
//! ("PCI specs", "MMIO area spec", "IRQ controller", "DMA controller"). Where
//! the spec is silent the behaviour is taken from the device model itself,
//! QEMU's `hw/misc/edu.c`, cited as `[edu.c]`.
//!
//! The spec's register table `[edu.rst §MMIO area spec]`, all in BAR0:
//!
//! | offset | access | register                       | constant            |
//! |--------|--------|--------------------------------|---------------------|
//! | `0x00` | RO     | identification `0xRRrr00ed`    | [`ID`]              |
//! | `0x04` | RW     | card liveness check (`~value`) | [`LIVENESS`]        |
//! | `0x08` | RW     | factorial computation          | [`FACTORIAL`]       |
//! | `0x20` | RW     | status                         | [`STATUS`]          |
//! | `0x24` | RO     | interrupt status               | [`IRQ_STATUS`]      |
//! | `0x60` | WO     | interrupt raise                | [`IRQ_RAISE`]       |
//! | `0x64` | WO     | interrupt acknowledge          | [`IRQ_ACK`]         |
//! | `0x80` | RW     | DMA source address             | [`DMA_SRC`]         |
//! | `0x88` | RW     | DMA destination address        | [`DMA_DST`]         |
//! | `0x90` | RW     | DMA transfer count             | [`DMA_COUNT`]       |
//! | `0x98` | RW     | DMA command                    | [`DMA_CMD`]         |
//!
//! Access widths `[edu.rst §MMIO area spec]`: only 32-bit accesses below
//! `0x80`; 32- or 64-bit from `0x80` up. Anything else reads as all ones and
//! writes are dropped `[edu.c]`. The driver makes 32-bit accesses everywhere
//! except the two DMA address registers, which hold a 64-bit `dma_addr_t` and
//! are written whole with one 64-bit access.

/// PCI vendor ID: QEMU `[edu.rst §PCI specs]`.
pub const PCI_VENDOR_ID: u16 = 0x1234;
/// PCI device ID `[edu.rst §PCI specs]`.
pub const PCI_DEVICE_ID: u16 = 0x11e8;
/// BAR0 is 1 MiB of MMIO `[edu.rst §PCI specs]`.
pub const BAR0_SIZE: usize = 1 << 20;
/// The registers end at `DMA_CMD + 8`; a window must cover at least this much
/// (the kernel may map less than the whole BAR).
pub const MIN_WINDOW_SIZE: usize = 0xa0;

/// Identification (RO): `0xRRrr00ed`, `RR` major and `rr` minor version.
pub const ID: usize = 0x00;
/// Card liveness check (RW): reads back the bitwise inverse of what was
/// written.
pub const LIVENESS: usize = 0x04;
/// Factorial computation (RW): writing `n` starts computing `n!` (ignored
/// while a computation runs `[edu.c]`); the result replaces `n` here once
/// [`status::COMPUTING`] clears.
pub const FACTORIAL: usize = 0x08;
/// Status (RW), bits in [`status`].
pub const STATUS: usize = 0x20;
/// Interrupt status (RO): the OR of every value raised and not yet
/// acknowledged; the interrupt is asserted while it is non-zero.
pub const IRQ_STATUS: usize = 0x24;
/// Interrupt raise (WO): ORs the value into [`IRQ_STATUS`] and raises the interrupt.
pub const IRQ_RAISE: usize = 0x60;
/// Interrupt acknowledge (WO): clears the value's bits from [`IRQ_STATUS`];
/// with INTx, the line drops once no bit is left.
pub const IRQ_ACK: usize = 0x64;
/// DMA source address (RW, 64-bit).
pub const DMA_SRC: usize = 0x80;
/// DMA destination address (RW, 64-bit).
pub const DMA_DST: usize = 0x88;
/// DMA transfer count in bytes (RW).
pub const DMA_COUNT: usize = 0x90;
/// DMA command (RW), bits in [`dma_cmd`].
pub const DMA_CMD: usize = 0x98;

/// Identification register fields `[edu.rst §MMIO area spec, 0x00]`.
pub mod id {
    /// The low 16 bits are always `0x00ed`.
    pub const MAGIC_MASK: u32 = 0x0000_ffff;
    /// The magic value in the low 16 bits.
    pub const MAGIC: u32 = 0x0000_00ed;
    /// Bits 31:24: major version.
    pub const MAJOR_SHIFT: u32 = 24;
    /// Bits 23:16: minor version.
    pub const MINOR_SHIFT: u32 = 16;
    /// The major version this driver speaks (QEMU reports `0x010000ed`, 1.0).
    pub const MAJOR_SUPPORTED: u8 = 1;
}

/// Status register bits `[edu.rst §MMIO area spec, 0x20]`.
pub mod status {
    /// Computing factorial (RO): set by the [`FACTORIAL`](super::FACTORIAL)
    /// write, cleared when the result is in place.
    pub const COMPUTING: u32 = 0x01;
    /// Raise interrupt [`irq::FACTORIAL`](super::irq::FACTORIAL) when a
    /// factorial finishes. A write sets or clears only this bit `[edu.c]`.
    pub const IRQ_ON_FACTORIAL: u32 = 0x80;
}

/// Interrupt status values the device raises by itself.
pub mod irq {
    /// A factorial finished (with [`status::IRQ_ON_FACTORIAL`](super::status::IRQ_ON_FACTORIAL)
    /// set). Not in the spec: `FACT_IRQ` in `[edu.c]`.
    pub const FACTORIAL: u32 = 0x0000_0001;
    /// A DMA transfer finished (with [`dma_cmd::IRQ`](super::dma_cmd::IRQ)
    /// set) `[edu.rst §MMIO area spec, 0x98]`.
    pub const DMA: u32 = 0x0000_0100;
    /// Every bit the device raises by itself; other bits only come from
    /// writes to [`IRQ_RAISE`](super::IRQ_RAISE).
    pub const DEVICE: u32 = FACTORIAL | DMA;
}

/// DMA command register bits `[edu.rst §MMIO area spec, 0x98]`.
pub mod dma_cmd {
    /// Start the transfer. Reads back as 1 while it runs; a write without it
    /// is ignored, and so is every DMA register write while it is set `[edu.c]`.
    pub const START: u32 = 0x01;
    /// Direction: 0 from RAM to edu, 1 from edu to RAM.
    pub const TO_RAM: u32 = 0x02;
    /// Raise interrupt [`irq::DMA`](super::irq::DMA) when the transfer finishes.
    pub const IRQ: u32 = 0x04;
}

/// Where the device's DMA buffer sits in *its own* address space: DMA
/// addresses in this range mean the buffer, all others are bus addresses
/// `[edu.rst §DMA controller]`.
pub const DMA_BUFFER: u64 = 0x40000;
/// The buffer's size in bytes: the longest possible transfer
/// `[edu.rst §DMA controller]`.
pub const DMA_BUFFER_SIZE: usize = 4096;
/// The longest transfer QEMU 7.2's edu accepts: its range check
/// (`edu_check_range` in `[edu.c]`) compares inclusive end addresses with
/// `<`, so a transfer that ends exactly at the buffer's last byte is a
/// "hardware error" that stops QEMU. One byte less is always safe.
pub const MAX_DMA_LEN: usize = DMA_BUFFER_SIZE - 1;
/// One more than the highest bus address edu can reach: its addresses are
/// masked to 28 bits (256 MiB) by default `[edu.rst §Command line switches]`,
/// `dma_mask` in `[edu.c]`. Higher addresses are silently truncated.
pub const DMA_ADDR_LIMIT: u64 = 1 << 28;
