//! The 16550A register map, named once (DESIGN.md, rule 3).
//!
//! Source: National Semiconductor / Texas Instruments, *PC16550D Universal
//! Asynchronous Receiver/Transmitter with FIFOs* (TI literature number SNLS378),
//! cited below as `[PC16550D §x]`. Offsets and bit layouts are from its register
//! summary table (section 8.0, "Registers"); each register has its own
//! subsection. QEMU's `serial.c` implements the same map.
//!
//! The UART has eight byte-wide registers but more than eight functions: some
//! offsets mean different things for reads and writes (RBR/THR, IIR/FCR), and
//! LCR's DLAB bit switches offsets 0 and 1 from the data and interrupt-enable
//! registers to the two halves of the baud-rate divisor.

/// Registers occupy offsets `0..8`; a window must be at least this large.
pub const WINDOW_SIZE: usize = 8;

/// Receiver Buffer Register (read, DLAB = 0): the oldest received byte; reading
/// pops it from the receive FIFO.
pub const RBR: usize = 0;
/// Transmitter Holding Register (write, DLAB = 0): queues one byte to send.
pub const THR: usize = 0;
/// Divisor Latch, low byte (DLAB = 1) `[PC16550D §8.3]`.
pub const DLL: usize = 0;
/// Interrupt Enable Register (DLAB = 0) `[PC16550D §8.7]`.
pub const IER: usize = 1;
/// Divisor Latch, high byte (DLAB = 1) `[PC16550D §8.3]`.
pub const DLM: usize = 1;
/// Interrupt Identification Register (read) `[PC16550D §8.6]`.
pub const IIR: usize = 2;
/// FIFO Control Register (write) `[PC16550D §8.5]`.
pub const FCR: usize = 2;
/// Line Control Register `[PC16550D §8.1]`.
pub const LCR: usize = 3;
/// Modem Control Register `[PC16550D §8.8]`.
pub const MCR: usize = 4;
/// Line Status Register (read) `[PC16550D §8.4]`.
pub const LSR: usize = 5;
/// Modem Status Register (read) `[PC16550D §8.9]`.
pub const MSR: usize = 6;
/// Scratch Register: one byte of storage with no effect `[PC16550D §8.10]`.
pub const SCR: usize = 7;

/// The divisor latch divides the input clock by 16 × divisor `[PC16550D §8.3]`.
/// PCs (and QEMU) clock the UART at 1.8432 MHz, so the fastest rate — divisor
/// 1 — is 1_843_200 / 16 = 115_200 baud, and `divisor = BAUD_BASE / baud`.
pub const BAUD_BASE: u32 = 115_200;

/// Depth of the transmit and receive FIFOs in FIFO mode `[PC16550D §8.5]`.
pub const FIFO_DEPTH: usize = 16;

/// Interrupt Enable Register bits `[PC16550D §8.7]`.
pub mod ier {
    /// ERBFI: received data available (and, in FIFO mode, character timeout).
    pub const RX_AVAILABLE: u8 = 1 << 0;
    /// ETBEI: transmitter holding register (or TX FIFO) empty.
    pub const THR_EMPTY: u8 = 1 << 1;
    /// ELSI: receiver line status (overrun, parity, framing error, break).
    pub const LINE_STATUS: u8 = 1 << 2;
    /// EDSSI: modem status change (CTS, DSR, RI, DCD).
    pub const MODEM_STATUS: u8 = 1 << 3;
}

/// Interrupt Identification Register fields `[PC16550D §8.6]`.
///
/// Bit 0 is 0 while an interrupt is pending; bits 3:1 then name the highest
/// priority pending source. With bit 0 included, the low nibble reads:
///
/// | value  | source                    | priority | cleared by            |
/// |--------|---------------------------|----------|-----------------------|
/// | `0x06` | receiver line status      | 1        | reading LSR           |
/// | `0x04` | received data available   | 2        | RX FIFO below trigger |
/// | `0x0c` | character timeout         | 2        | reading RBR           |
/// | `0x02` | THR empty                 | 3        | reading IIR, writing THR |
/// | `0x00` | modem status              | 4        | reading MSR           |
pub mod iir {
    /// Set when *no* interrupt is pending.
    pub const NO_INTERRUPT: u8 = 1 << 0;
    /// Bits 3:1: the interrupt source.
    pub const ID_MASK: u8 = 0b1110;
    /// Receiver line status: an error or break is in LSR.
    pub const LINE_STATUS: u8 = 0b0110;
    /// Received data reached the FIFO trigger level.
    pub const RX_AVAILABLE: u8 = 0b0100;
    /// Bytes sit in the RX FIFO below the trigger level and none arrived or
    /// were read for four character times (FIFO mode only).
    pub const RX_TIMEOUT: u8 = 0b1100;
    /// The transmitter holding register (or TX FIFO) is empty.
    pub const THR_EMPTY: u8 = 0b0010;
    /// A modem status input changed.
    pub const MODEM_STATUS: u8 = 0b0000;
    /// Bits 7:6: both set when FCR enabled the FIFOs. A 16450 has no FIFO and
    /// reads 00 here, which is how a driver tells whether its FIFO works.
    pub const FIFOS_ENABLED: u8 = 0b1100_0000;
}

/// FIFO Control Register bits `[PC16550D §8.5]`. Bits 1–7 only take effect
/// when bit 0 is set in the same write.
pub mod fcr {
    /// Enable both FIFOs (FIFO mode); clearing it empties them.
    pub const ENABLE: u8 = 1 << 0;
    /// Empty the receive FIFO (self-clearing).
    pub const CLEAR_RX: u8 = 1 << 1;
    /// Empty the transmit FIFO (self-clearing; the shift register is kept).
    pub const CLEAR_TX: u8 = 1 << 2;
    /// Receive FIFO interrupt trigger level: 1 byte.
    pub const TRIGGER_1: u8 = 0b00 << 6;
    /// Receive FIFO interrupt trigger level: 4 bytes.
    pub const TRIGGER_4: u8 = 0b01 << 6;
    /// Receive FIFO interrupt trigger level: 8 bytes.
    pub const TRIGGER_8: u8 = 0b10 << 6;
    /// Receive FIFO interrupt trigger level: 14 bytes.
    pub const TRIGGER_14: u8 = 0b11 << 6;
}

/// Line Control Register bits `[PC16550D §8.1]`.
pub mod lcr {
    /// Bits 1:0: word length 5 + n bits; 0b11 is 8 data bits.
    pub const WORD_LENGTH_8: u8 = 0b11;
    /// Two stop bits (1.5 for 5-bit words) instead of one.
    pub const TWO_STOP_BITS: u8 = 1 << 2;
    /// Generate and check a parity bit.
    pub const PARITY_ENABLE: u8 = 1 << 3;
    /// Divisor Latch Access Bit: offsets 0 and 1 address DLL/DLM instead of
    /// RBR/THR and IER. Must be cleared again before sending or receiving.
    pub const DLAB: u8 = 1 << 7;
    /// 8 data bits, no parity, 1 stop bit ("8N1"): the line format every PC
    /// console and QEMU's default chardev expect.
    pub const MODE_8N1: u8 = WORD_LENGTH_8;
}

/// Modem Control Register bits `[PC16550D §8.8]`.
pub mod mcr {
    /// Data Terminal Ready output.
    pub const DTR: u8 = 1 << 0;
    /// Request To Send output.
    pub const RTS: u8 = 1 << 1;
    /// OUT1 output (unused on PCs).
    pub const OUT1: u8 = 1 << 2;
    /// OUT2 output. On PC serial ports it gates the UART's interrupt line onto
    /// the ISA bus: without it no IRQ 4 ever reaches the interrupt controller.
    pub const OUT2: u8 = 1 << 3;
    /// Local loopback: the transmitter's output is wired to the receiver's
    /// input inside the chip and the TX pin idles, so a driver can check that
    /// the UART exists and works without sending anything on the line.
    pub const LOOP: u8 = 1 << 4;
}

/// Line Status Register bits `[PC16550D §8.4]`. Reading LSR clears OE, PE, FE
/// and BI, so every read must be inspected for them or they are lost.
pub mod lsr {
    /// Data Ready: at least one byte waits in RBR / the RX FIFO.
    pub const DR: u8 = 1 << 0;
    /// Overrun Error: a byte arrived while the RX FIFO was full and was lost.
    pub const OE: u8 = 1 << 1;
    /// Parity Error in the byte at the head of the RX FIFO.
    pub const PE: u8 = 1 << 2;
    /// Framing Error (no valid stop bit) in the byte at the head of the RX FIFO.
    pub const FE: u8 = 1 << 3;
    /// Break Interrupt: the line was held low for more than a character time;
    /// a zero byte stands for it in the RX FIFO.
    pub const BI: u8 = 1 << 4;
    /// Transmitter Holding Register Empty: THR (in FIFO mode, the whole TX
    /// FIFO) is empty and can take new bytes.
    pub const THRE: u8 = 1 << 5;
    /// Transmitter Empty: THR/TX FIFO *and* the shift register are empty, i.e.
    /// the last byte has left the wire.
    pub const TEMT: u8 = 1 << 6;
    /// Error in RCVR FIFO: some byte in the RX FIFO has PE, FE or BI.
    pub const RXFE: u8 = 1 << 7;
    /// The error bits that reading LSR clears.
    pub const ERRORS: u8 = OE | PE | FE | BI;
}
