//! The 82540EM register map and descriptor layouts, named once (DESIGN.md, rule 3).
//!
//! Source: Intel's *PCI/PCI-X Family of Gigabit Ethernet Controllers
//! Software Developer's Manual* (the "8254x SDM", 317453006), cited as
//! `[E1000 13.4.22]` by section. Where QEMU's model (`hw/net/e1000.c`,
//! `e1000x_common.c`, QEMU 7.2) differs from the manual, or the manual leaves
//! something open, the difference is noted as `[qemu]`: the driver must work
//! on both.
//!
//! Every register is 32 bits wide and the driver only makes 32-bit accesses:
//! QEMU's MMIO region implements exactly 4-byte accesses
//! (`min_access_size = max_access_size = 4`), and the manual asks for 32-bit
//! accesses to the tables [E1000 13.5.1].
//!
//! | offset   | register | what                                   | section      |
//! |----------|----------|----------------------------------------|--------------|
//! | `0x0000` | CTRL     | device control (reset, link up)        | 13.4.1       |
//! | `0x0008` | STATUS   | device status (link up)                | 13.4.2       |
//! | `0x0014` | EERD     | EEPROM read                            | 13.4.4       |
//! | `0x00c0` | ICR      | interrupt cause read (read-to-clear)   | 13.4.17      |
//! | `0x00c4` | ITR      | interrupt throttling                   | 13.4.18      |
//! | `0x00c8` | ICS      | interrupt cause set                    | 13.4.19      |
//! | `0x00d0` | IMS      | interrupt mask set/read                | 13.4.20      |
//! | `0x00d8` | IMC      | interrupt mask clear                   | 13.4.21      |
//! | `0x0100` | RCTL     | receive control                        | 13.4.22      |
//! | `0x0400` | TCTL     | transmit control                       | 13.4.33      |
//! | `0x0410` | TIPG     | transmit inter-packet gap              | 13.4.34      |
//! | `0x2800` | RDBAL/H, RDLEN, RDH, RDT, RDTR, RADV | receive ring | 13.4.25–31   |
//! | `0x3800` | TDBAL/H, TDLEN, TDH, TDT | transmit ring          | 13.4.36–40   |
//! | `0x4000` | statistics (clear on read)             |             | 13.7         |
//! | `0x5200` | MTA\[128\] | multicast table array                | 13.5.1       |
//! | `0x5400` | RAL/RAH\[16\] | receive address (perfect filters) | 13.5.2–3     |

/// PCI vendor ID: Intel.
pub const PCI_VENDOR_ID: u16 = 0x8086;
/// PCI device ID of the 82540EM desktop adapter, the model QEMU's `e1000` is.
pub const PCI_DEVICE_ID: u16 = 0x100e;
/// BAR0: 128 KiB of memory-mapped registers (`PNPMMIO_SIZE` in `[qemu]`).
pub const BAR0_SIZE: usize = 0x2_0000;
/// The highest register the driver touches ends here; a window must cover at
/// least this much (the kernel may map less than the whole BAR).
pub const MIN_WINDOW_SIZE: usize = ral(15) + 8;

/// Device Control [E1000 13.4.1], bits in [`ctrl`].
pub const CTRL: usize = 0x0000;
/// Device Status (RO) [E1000 13.4.2], bits in [`status`].
pub const STATUS: usize = 0x0008;
/// EEPROM Read [E1000 13.4.4], fields in [`eerd`].
pub const EERD: usize = 0x0014;
/// Interrupt Cause Read [E1000 13.4.17], bits in [`irq`]. Reading returns the
/// pending causes *and clears them all*; writing 1s clears those bits.
pub const ICR: usize = 0x00c0;
/// Interrupt Throttling [E1000 13.4.18]: bits 15:0 are the minimum interval
/// between interrupts in 256 ns units; 0 turns throttling off.
pub const ITR: usize = 0x00c4;
/// Interrupt Cause Set (WO) [E1000 13.4.19]: software raises causes (tests).
pub const ICS: usize = 0x00c8;
/// Interrupt Mask Set/Read [E1000 13.4.20]: writing 1s *enables* those causes;
/// reading returns the enabled set.
pub const IMS: usize = 0x00d0;
/// Interrupt Mask Clear (WO) [E1000 13.4.21]: writing 1s *disables* those causes.
pub const IMC: usize = 0x00d8;
/// Receive Control [E1000 13.4.22], bits in [`rctl`].
pub const RCTL: usize = 0x0100;
/// Transmit Control [E1000 13.4.33], bits in [`tctl`].
pub const TCTL: usize = 0x0400;
/// Transmit Inter Packet Gap [E1000 13.4.34], fields in [`tipg`].
pub const TIPG: usize = 0x0410;

/// Receive Descriptor Base Address Low [E1000 13.4.25]: bits 3:0 are ignored,
/// the ring must be 16-byte aligned.
pub const RDBAL: usize = 0x2800;
/// Receive Descriptor Base Address High [E1000 13.4.26]: the upper 32 bits.
pub const RDBAH: usize = 0x2804;
/// Receive Descriptor Length [E1000 13.4.27]: the ring's size in bytes, a
/// multiple of 128 (so the descriptor count is a multiple of 8).
pub const RDLEN: usize = 0x2808;
/// Receive Descriptor Head [E1000 13.4.28]: the next descriptor the *device*
/// fills. Software writes it only after a reset, before RCTL.EN.
pub const RDH: usize = 0x2810;
/// Receive Descriptor Tail [E1000 13.4.29]: software writes it to hand
/// descriptors to the device (the receive doorbell).
pub const RDT: usize = 0x2818;
/// Receive Delay Timer [E1000 13.4.30]: delays RXT0; the manual recommends ITR
/// instead, so the driver writes 0.
pub const RDTR: usize = 0x2820;
/// Receive Interrupt Absolute Delay Timer [E1000 13.4.31]: unused (0).
pub const RADV: usize = 0x282c;

/// Transmit Descriptor Base Address Low [E1000 13.4.36] (16-byte aligned).
pub const TDBAL: usize = 0x3800;
/// Transmit Descriptor Base Address High [E1000 13.4.37].
pub const TDBAH: usize = 0x3804;
/// Transmit Descriptor Length [E1000 13.4.38] (multiple of 128 bytes).
pub const TDLEN: usize = 0x3808;
/// Transmit Descriptor Head [E1000 13.4.39]: the descriptor the device is
/// working on. Software writes it only after a reset, before TCTL.EN.
pub const TDH: usize = 0x3810;
/// Transmit Descriptor Tail [E1000 13.4.40]: one past the last descriptor
/// software has filled (the transmit doorbell). `[qemu]` transmits everything
/// from TDH to TDT synchronously inside the write.
pub const TDT: usize = 0x3818;

/// CRC Error Count [E1000 13.7.1]. Clear on read per the manual; `[qemu]` never
/// clears it (and never counts anything in it).
pub const CRCERRS: usize = 0x4000;
/// Missed Packets Count [E1000 13.7.5]: packets dropped because no receive
/// descriptor was free. Clear on read per the manual; `[qemu]` never clears
/// it (`[CRCERRS ... MPC] = mac_readreg` in e1000.c).
pub const MPC: usize = 0x4010;
/// Good Packets Received Count [E1000 13.7.27] (clear on read).
pub const GPRC: usize = 0x4074;
/// Good Packets Transmitted Count [E1000 13.7.30] (clear on read).
pub const GPTC: usize = 0x4080;
/// Good Octets Received Count, low half [E1000 13.7.31]. Read it before
/// [`GORCH`]: reading the high half clears both.
pub const GORCL: usize = 0x4088;
/// Good Octets Received Count, high half [E1000 13.7.31].
pub const GORCH: usize = 0x408c;
/// Good Octets Transmitted Count, low half [E1000 13.7.32] (read before [`GOTCH`]).
pub const GOTCL: usize = 0x4090;
/// Good Octets Transmitted Count, high half [E1000 13.7.32].
pub const GOTCH: usize = 0x4094;

/// Multicast Table Array [E1000 13.5.1]: 128 32-bit words, a 4096-bit hash
/// filter for multicast destinations (see [`mta_position`]).
pub const MTA: usize = 0x5200;
/// Number of words in the multicast table.
pub const MTA_WORDS: usize = 128;
/// Number of receive address (perfect filter) pairs [E1000 13.5.2].
pub const RA_ENTRIES: usize = 16;

/// Receive Address Low `n` [E1000 13.5.2]: the first four bytes of the
/// address, first byte in bits 7:0.
pub const fn ral(n: usize) -> usize {
    0x5400 + 8 * n
}

/// Receive Address High `n` [E1000 13.5.3]: bytes 5 and 6 in bits 15:0, and
/// [`rah::AV`].
pub const fn rah(n: usize) -> usize {
    0x5404 + 8 * n
}

/// Multicast Table Array word `n` [E1000 13.5.1].
pub const fn mta(n: usize) -> usize {
    MTA + 4 * n
}

/// Where the filter bit for multicast address `mac` lives in the table: (word,
/// bit), for RCTL.MO = 00 [E1000 13.5.1, Figure 13-2]. The 12-bit hash is
/// destination address bits 47:36, i.e. the high nibble of byte 4 and all of
/// byte 5; its bits 11:5 select the word, 4:0 the bit. The manual's example:
/// `xx:xx:xx:xx:9x:bc` hashes to `0xbc9`, word 94, bit 9.
pub const fn mta_position(mac: [u8; 6]) -> (usize, u32) {
    let hash = ((mac[5] as u16) << 4 | (mac[4] as u16) >> 4) & 0xfff;
    ((hash >> 5) as usize, (hash & 0x1f) as u32)
}

/// Device Control bits [E1000 13.4.1].
pub mod ctrl {
    /// Full duplex.
    pub const FD: u32 = 1 << 0;
    /// Link reset: must be 0 for the link to come up.
    pub const LRST: u32 = 1 << 3;
    /// Auto-speed detection enable: take the speed the PHY negotiated.
    pub const ASDE: u32 = 1 << 5;
    /// Set link up: lets the MAC talk to the PHY (required with an internal
    /// PHY, as on the 82540EM) [E1000 14.3].
    pub const SLU: u32 = 1 << 6;
    /// Invert loss-of-signal: must be 0 for the 82540EM's internal PHY.
    pub const ILOS: u32 = 1 << 7;
    /// Device reset: resets everything but the PCI interface and
    /// self-clears when done. `[qemu]` clears the bit at once and resets
    /// *nothing*, so every register the driver relies on is written
    /// explicitly afterwards.
    pub const RST: u32 = 1 << 26;
    /// Receive flow control enable (PAUSE frames honoured): left off.
    pub const RFCE: u32 = 1 << 27;
    /// Transmit flow control enable (PAUSE frames sent): left off.
    pub const TFCE: u32 = 1 << 28;
    /// VLAN mode enable: left off.
    pub const VME: u32 = 1 << 30;
    /// PHY reset: must be 0 for the link to come up.
    pub const PHY_RST: u32 = 1 << 31;
}

/// Device Status bits [E1000 13.4.2].
pub mod status {
    /// Full duplex.
    pub const FD: u32 = 1 << 0;
    /// Link up.
    pub const LU: u32 = 1 << 1;
}

/// EEPROM Read register fields for the 82540EP/EM [E1000 13.4.4]
/// (the 82541/82547 use other positions). `[qemu]` answers immediately.
pub mod eerd {
    /// Start a read of the word at `ADDR`.
    pub const START: u32 = 1 << 0;
    /// The read is done and `DATA` is valid.
    pub const DONE: u32 = 1 << 4;
    /// Word address, bits 15:8.
    pub const ADDR_SHIFT: u32 = 8;
    /// Data, bits 31:16.
    pub const DATA_SHIFT: u32 = 16;
    /// EEPROM words 0, 1, 2 hold the Ethernet address, low byte first
    /// [E1000 Table 5-2].
    pub const MAC_WORDS: [u32; 3] = [0, 1, 2];
}

/// Receive Address High bits [E1000 13.5.3].
pub mod rah {
    /// Address valid: the pair takes part in filtering. Loaded from the
    /// EEPROM with the address at reset.
    pub const AV: u32 = 1 << 31;
}

/// Interrupt cause bits, shared by ICR, ICS, IMS and IMC [E1000 13.4.17, Table 13-63].
pub mod irq {
    /// Transmit descriptor written back: a descriptor with RS was done.
    pub const TXDW: u32 = 1 << 0;
    /// Transmit queue empty.
    pub const TXQE: u32 = 1 << 1;
    /// Link status change.
    pub const LSC: u32 = 1 << 2;
    /// Receive descriptor minimum threshold: free descriptors fell below
    /// RCTL.RDMTS of the ring; software should return buffers soon.
    pub const RXDMT0: u32 = 1 << 4;
    /// Receiver overrun: a packet arrived with no free descriptor (counted
    /// in [`MPC`](super::MPC)).
    pub const RXO: u32 = 1 << 6;
    /// Receiver timer interrupt: a packet was stored (after RDTR, if set).
    pub const RXT0: u32 = 1 << 7;
    /// The causes the driver enables: receive, overrun, low on receive
    /// buffers, link change, transmit done.
    pub const ENABLED: u32 = RXT0 | RXO | RXDMT0 | LSC | TXDW;
    /// Every cause: what IMC is written with to mask them all.
    pub const ALL: u32 = 0xffff_ffff;
}

/// Receive Control bits [E1000 13.4.22].
pub mod rctl {
    /// Receiver enable.
    pub const EN: u32 = 1 << 1;
    /// Store bad packets: left off, the hardware drops them.
    pub const SBP: u32 = 1 << 2;
    /// Unicast promiscuous: accept every unicast destination.
    pub const UPE: u32 = 1 << 3;
    /// Multicast promiscuous: accept every multicast destination.
    pub const MPE: u32 = 1 << 4;
    /// Long packet enable (frames up to 16 KiB): left off, so frames longer
    /// than 1522 bytes are dropped by the hardware.
    pub const LPE: u32 = 1 << 5;
    /// Receive descriptor minimum threshold size, bits 9:8: 00 raises
    /// RXDMT0 when half the ring is left.
    pub const RDMTS_HALF: u32 = 0b00 << 8;
    /// Multicast offset, bits 13:12: 00 hashes address bits 47:36 (see
    /// [`mta_position`](super::mta_position)).
    pub const MO_47_36: u32 = 0b00 << 12;
    /// Broadcast accept mode.
    pub const BAM: u32 = 1 << 15;
    /// Receive buffer size, bits 17:16 (meaning scaled by [`BSEX`]).
    pub const BSIZE_SHIFT: u32 = 16;
    /// Buffer size extension: multiplies BSIZE by 16.
    pub const BSEX: u32 = 1 << 25;
    /// Strip the Ethernet CRC: descriptors' lengths then exclude the 4-byte
    /// FCS, and the frame handed up is exactly the frame.
    pub const SECRC: u32 = 1 << 26;

    /// RCTL bits selecting receive buffers of `size` bytes, if the hardware
    /// has such a size: 2048/1024/512/256 with BSEX clear,
    /// 16384/8192/4096 with it set.
    pub const fn buffer_size_bits(size: usize) -> Option<u32> {
        match size {
            2048 => Some(0b00 << BSIZE_SHIFT),
            1024 => Some(0b01 << BSIZE_SHIFT),
            512 => Some(0b10 << BSIZE_SHIFT),
            256 => Some(0b11 << BSIZE_SHIFT),
            16384 => Some(BSEX | 0b01 << BSIZE_SHIFT),
            8192 => Some(BSEX | 0b10 << BSIZE_SHIFT),
            4096 => Some(BSEX | 0b11 << BSIZE_SHIFT),
            _ => None,
        }
    }
}

/// Transmit Control bits [E1000 13.4.33, Table 13-76].
pub mod tctl {
    /// Transmitter enable.
    pub const EN: u32 = 1 << 1;
    /// Pad short packets to 64 bytes (with the FCS).
    pub const PSP: u32 = 1 << 3;
    /// Collision threshold, bits 11:4.
    pub const CT_SHIFT: u32 = 4;
    /// Recommended collision threshold: 15 retries (only matters at half duplex).
    pub const CT_DEFAULT: u32 = 0x0f;
    /// Collision distance, bits 21:12.
    pub const COLD_SHIFT: u32 = 12;
    /// Recommended collision distance for full duplex: 64 byte times.
    pub const COLD_FULL_DUPLEX: u32 = 0x40;
}

/// Transmit IPG fields [E1000 13.4.34, Table 13-77]: the values the manual
/// gives for IEEE 802.3 minimum gaps on 10/100/1000BASE-T (copper) parts.
pub mod tipg {
    /// IPG transmit time, bits 9:0: 10.
    pub const IPGT: u32 = 10;
    /// IPG receive time 1, bits 19:10: 8 (2/3 of IPGR2's gap).
    pub const IPGR1: u32 = 8 << 10;
    /// IPG receive time 2, bits 29:20: 6.
    pub const IPGR2: u32 = 6 << 20;
    /// The register value.
    pub const DEFAULT: u32 = IPGT | IPGR1 | IPGR2;
}

/// The legacy receive descriptor, 16 bytes [E1000 3.2.3]:
///
/// | bytes | field           | written by                           |
/// |-------|-----------------|--------------------------------------|
/// | 0..8  | buffer address  | software                             |
/// | 8..10 | length          | device: bytes stored in this buffer  |
/// | 10..12| packet checksum | device                               |
/// | 12    | status          | device, bits in this module          |
/// | 13    | errors          | device, bits in this module          |
/// | 14..16| special (VLAN)  | device                               |
pub mod rxd {
    /// Size of one descriptor in bytes.
    pub const SIZE: usize = 16;
    /// Offset of the buffer address.
    pub const ADDR: usize = 0;
    /// Offset of the length field.
    pub const LENGTH: usize = 8;
    /// Offset of the status byte; a 32-bit read here returns status in bits
    /// 7:0 and errors in 15:8, one access.
    pub const STATUS: usize = 12;

    /// Status: descriptor done — the device has finished with it [E1000 3.2.3.1].
    pub const STA_DD: u8 = 1 << 0;
    /// Status: end of packet — the last descriptor of a frame.
    pub const STA_EOP: u8 = 1 << 1;

    /// Errors [E1000 3.2.3.2]: CRC or alignment error.
    pub const ERR_CE: u8 = 1 << 0;
    /// Errors: symbol error (TBI mode).
    pub const ERR_SE: u8 = 1 << 1;
    /// Errors: sequence error.
    pub const ERR_SEQ: u8 = 1 << 2;
    /// Errors: carrier extension error.
    pub const ERR_CXE: u8 = 1 << 4;
    /// Errors: TCP/UDP checksum error (only with checksum offload, unused).
    pub const ERR_TCPE: u8 = 1 << 5;
    /// Errors: IP checksum error (only with checksum offload, unused).
    pub const ERR_IPE: u8 = 1 << 6;
    /// Errors: RX data error.
    pub const ERR_RXE: u8 = 1 << 7;
    /// The errors that make the frame itself bad (the checksum-offload bits
    /// only judge the payload's checksums, which the stack checks anyway).
    pub const ERR_FRAME: u8 = ERR_CE | ERR_SE | ERR_SEQ | ERR_CXE | ERR_RXE;
}

/// The legacy transmit descriptor, 16 bytes [E1000 3.3.3]:
///
/// | bytes | field    | written by                          |
/// |-------|----------|-------------------------------------|
/// | 0..8  | address  | software                            |
/// | 8..10 | length   | software                            |
/// | 10    | CSO      | software (checksum offset, unused)  |
/// | 11    | CMD      | software, bits in this module       |
/// | 12    | STA      | device (low nibble), bits here      |
/// | 13    | CSS      | software (checksum start, unused)   |
/// | 14..16| special  | software (VLAN tag, unused)         |
pub mod txd {
    /// Size of one descriptor in bytes.
    pub const SIZE: usize = 16;
    /// Offset of the buffer address.
    pub const ADDR: usize = 0;
    /// Offset of the second quadword: length, CSO, CMD, STA, CSS, special.
    pub const LOWER: usize = 8;
    /// Offset of the length field.
    pub const LENGTH: usize = 8;
    /// Offset of the status byte.
    pub const STATUS: usize = 12;
    /// Bit position of CMD within the 32-bit word at [`LOWER`].
    pub const CMD_SHIFT: u32 = 24;

    /// Command [E1000 3.3.3.1]: end of packet — the last descriptor of a frame.
    pub const CMD_EOP: u8 = 1 << 0;
    /// Command: insert FCS — the hardware appends the Ethernet CRC.
    pub const CMD_IFCS: u8 = 1 << 1;
    /// Command: report status — write DD back when done (and raise TXDW).
    pub const CMD_RS: u8 = 1 << 3;
    /// Command: descriptor extension — 0 for a legacy descriptor.
    pub const CMD_DEXT: u8 = 1 << 5;

    /// Status [E1000 3.3.3.2]: descriptor done.
    pub const STA_DD: u8 = 1 << 0;
}
