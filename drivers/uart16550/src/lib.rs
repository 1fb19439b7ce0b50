//! Driver for the 16550A UART in polled mode: the kernel's first console.
//!
//! The 16550A is the PC serial port (COM1 at I/O port `0x3f8`, IRQ 4), QEMU's
//! `isa-serial`, and the console of RISC-V `virt` (MMIO at `0x1000_0000`). The
//! driver only speaks [`RegisterWindow`], so the same code drives all three —
//! and, in `cargo test`, a software model of the chip.
//!
//! # How the chip is driven
//!
//! *Transmit.* Writing THR only hands a byte to the UART: it then shifts the
//! byte out bit by bit at the line rate — about 87 µs per byte at 115200 baud,
//! hundreds of thousands of CPU instructions. The CPU's write completes long
//! before that (seed: "completion of a write instruction may not imply the
//! intended I/O operation is completed"), so a driver that writes bytes back to
//! back overruns the transmitter and the bytes it overwrites are silently lost
//! (seed: "writing back to back chars may result in data loss as the device may
//! not handle the output at CPU speed"). The chip says when it can take more:
//! LSR.THRE is set once THR — in FIFO mode, the whole 16-byte TX FIFO — is
//! empty. So [`Uart16550::write_byte`] polls LSR until THRE before each byte,
//! and [`Uart16550::write_bytes`] waits for THRE and then refills the whole
//! (empty) FIFO, one wait per 16 bytes instead of per byte.
//!
//! *Bounded waiting.* A UART can stop draining — a missing device, hardware
//! flow control holding it, a wedged emulator backend — and the kernel must not
//! hang with it (DESIGN.md, rule 4). Every wait polls at most [`POLL_LIMIT`]
//! times, then fails with [`Error::Timeout`] and counts it.
//!
//! *Receive.* LSR.DR says a byte waits in the RX FIFO; reading RBR pops it. If
//! the FIFO fills before software reads it, later bytes are lost and LSR.OE is
//! set. LSR also reports parity and framing errors and breaks. Reading LSR
//! *clears* those four error bits, so every LSR read — including the ones made
//! while polling for THRE — goes through one function that counts them.
//!
//! *Is anything there?* [`Uart16550::init`] writes two patterns into the
//! scratch register (SCR), which has no function but to hold a byte, and reads
//! them back (the check Linux's 8250 driver makes). Where no UART answers, the
//! bus floats and every read returns `0xff`, which fails the test, and `init`
//! reports [`Error::SelfTestFailed`] instead of the kernel printing into the
//! void. The test deliberately stays off the data path: a loopback test
//! (MCR.LOOP) would race with bytes already arriving on the line — QEMU keeps
//! delivering input in loopback mode — and lose or misread them.
//!
//! *Input that arrived before `init`.* A script may pipe text into the serial
//! port before the kernel runs. Enabling the FIFOs resets them, so `init`
//! first saves whatever is waiting and hands it out first.
//!
//! # Modes
//!
//! After [`init`](Uart16550::init) the UART is in polled mode: interrupts are
//! disabled (IER = 0) and the CPU spins on LSR. That is what an early console
//! needs — it works before there is an interrupt controller, and in a panic.
//!
//! [`Uart16550::enable_irq_mode`] switches to the interrupt-driven mode of
//! [`irq_mode`]: the chip raises its interrupt line when bytes arrive or the
//! transmitter wants more, [`Uart16550::handle_interrupt`] moves bytes between
//! the chip and two [`ByteRing`]s, and readers and writers only touch the
//! rings. [`Uart16550::set_interrupts`] and [`Uart16550::interrupt_id`] are the
//! register-level pieces it is built from.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod irq_mode;
pub mod regs;
pub mod ring;

use core::fmt;

use hal::{IoError, RegisterWindow};
use regs::{fcr, iir, lcr, lsr, mcr};

pub use irq_mode::{IrqOutcome, IRQ_LOOP_LIMIT};
pub use ring::ByteRing;

/// How many times a wait reads LSR before giving up with [`Error::Timeout`].
///
/// A count, not a time: the driver runs at early boot, before any clock is
/// calibrated, and the console is what reports clock trouble. One LSR read is
/// a bus transaction to the UART — roughly 1 µs on a real ISA/LPC port and at
/// least ~0.1 µs under QEMU — so 100 000 reads last 10–100 ms. That outlasts
/// draining a full 16-byte FIFO at any console rate (1.4 ms at 115200 baud,
/// 17 ms at 9600) while keeping a dead or stalled UART from freezing the
/// kernel for long: each timed-out byte costs at most ~0.1 s.
pub const POLL_LIMIT: u32 = 100_000;

/// Patterns written to and read back from the scratch register by the
/// self-test: alternating bits, each bit both ways, and never `0xff` (what an
/// absent device reads as).
pub const SELF_TEST_PATTERNS: [u8; 2] = [0x55, 0xaa];

/// What can go wrong talking to the UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The register window refused an access.
    Io(IoError),
    /// The window is smaller than the UART's eight registers.
    WindowTooSmall {
        /// The window's size in bytes.
        size: usize,
    },
    /// The baud rate is 0, does not divide [`regs::BAUD_BASE`] exactly, or
    /// needs a divisor above 65535.
    InvalidBaud(u32),
    /// The transmitter did not become ready within [`POLL_LIMIT`] polls.
    Timeout,
    /// The loopback self-test did not get the byte back: no UART is there, or
    /// it is broken.
    SelfTestFailed {
        /// The byte sent through the loopback.
        sent: u8,
        /// What came back, or `None` if nothing arrived within [`POLL_LIMIT`] polls.
        received: Option<u8>,
    },
    /// IIR held an interrupt code the 16550 does not define.
    UnknownInterrupt(u8),
}

impl From<IoError> for Error {
    fn from(e: IoError) -> Self {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io(e) => write!(f, "uart16550: {e}"),
            Error::WindowTooSmall { size } => {
                write!(f, "uart16550: register window of {size} bytes, need {}", regs::WINDOW_SIZE)
            }
            Error::InvalidBaud(baud) => {
                write!(f, "uart16550: {baud} baud is not {} divided by a 16-bit divisor", regs::BAUD_BASE)
            }
            Error::Timeout => write!(f, "uart16550: transmitter not ready after {POLL_LIMIT} polls"),
            Error::SelfTestFailed { sent, received } => match received {
                Some(got) => write!(f, "uart16550: loopback self-test sent {sent:#04x}, got {got:#04x}"),
                None => write!(f, "uart16550: loopback self-test sent {sent:#04x}, got nothing"),
            },
            Error::UnknownInterrupt(iir) => {
                write!(f, "uart16550: undefined interrupt id in IIR {iir:#04x}")
            }
        }
    }
}

impl core::error::Error for Error {}

/// How many received bytes make the RX FIFO raise "data available".
///
/// Only matters with interrupts: a low level means an interrupt per byte, a
/// high one leaves less room (16 − level bytes) for interrupt latency before
/// the FIFO overruns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TriggerLevel {
    /// 1 byte.
    One,
    /// 4 bytes.
    Four,
    /// 8 bytes: Linux's choice for the 16550A, and the default.
    #[default]
    Eight,
    /// 14 bytes.
    Fourteen,
}

impl TriggerLevel {
    /// The level in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            TriggerLevel::One => 1,
            TriggerLevel::Four => 4,
            TriggerLevel::Eight => 8,
            TriggerLevel::Fourteen => 14,
        }
    }

    const fn fcr_bits(self) -> u8 {
        match self {
            TriggerLevel::One => fcr::TRIGGER_1,
            TriggerLevel::Four => fcr::TRIGGER_4,
            TriggerLevel::Eight => fcr::TRIGGER_8,
            TriggerLevel::Fourteen => fcr::TRIGGER_14,
        }
    }
}

/// Line settings for [`Uart16550::init`]. The format is always 8N1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bits per second; must divide [`regs::BAUD_BASE`] (115200) exactly.
    pub baud: u32,
    /// FIFOs on with this RX interrupt trigger level, or `None` for FIFOs
    /// off (16450 mode: one byte each way).
    ///
    /// Turning the FIFOs on or off resets them (PC16550D §8.5, FCR bit 0), so
    /// input already arriving can be lost in the instant between `init`
    /// saving it and the reset — QEMU refills RBR as soon as it is read. A
    /// polled console that must not lose piped input keeps them off.
    pub fifo: Option<TriggerLevel>,
}

impl Default for Config {
    /// 115200 baud — what QEMU and most firmware consoles use — trigger 8.
    fn default() -> Self {
        Config { baud: regs::BAUD_BASE, fifo: Some(TriggerLevel::default()) }
    }
}

impl Config {
    /// The divisor latch value for `baud`: `BAUD_BASE / baud`, if that is an
    /// exact, non-zero 16-bit number. An inexact divisor would give a rate the
    /// other end cannot decode, so it is rejected rather than rounded.
    pub fn divisor(&self) -> Result<u16, Error> {
        let baud = self.baud;
        if baud == 0 || !regs::BAUD_BASE.is_multiple_of(baud) {
            return Err(Error::InvalidBaud(baud));
        }
        u16::try_from(regs::BAUD_BASE / baud).map_err(|_| Error::InvalidBaud(baud))
    }
}

/// Which interrupt sources IER enables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterruptEnable {
    /// Received data available, and character timeout.
    pub rx_available: bool,
    /// Transmitter holding register (TX FIFO) empty.
    pub thr_empty: bool,
    /// Receiver line status: overrun, parity, framing error, break.
    pub line_status: bool,
    /// Modem status input changed.
    pub modem_status: bool,
}

impl InterruptEnable {
    /// No interrupts: polled mode.
    pub const NONE: InterruptEnable =
        InterruptEnable { rx_available: false, thr_empty: false, line_status: false, modem_status: false };

    /// The IER value.
    pub const fn bits(self) -> u8 {
        let mut bits = 0;
        if self.rx_available {
            bits |= regs::ier::RX_AVAILABLE;
        }
        if self.thr_empty {
            bits |= regs::ier::THR_EMPTY;
        }
        if self.line_status {
            bits |= regs::ier::LINE_STATUS;
        }
        if self.modem_status {
            bits |= regs::ier::MODEM_STATUS;
        }
        bits
    }
}

/// The highest-priority pending interrupt, as IIR reports it `[PC16550D §8.6]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptId {
    /// Nothing pending (on a shared line: not this UART's interrupt).
    None,
    /// A line error or break; cleared by reading LSR.
    LineStatus,
    /// The RX FIFO reached its trigger level; cleared by reading it below.
    RxAvailable,
    /// Bytes wait below the trigger level and the line went quiet; cleared by
    /// reading RBR.
    RxTimeout,
    /// The transmitter can take more bytes; cleared by reading IIR (this read)
    /// or writing THR.
    ThrEmpty,
    /// A modem input changed; cleared by reading MSR.
    ModemStatus,
}

impl InterruptId {
    /// Decodes an IIR value.
    pub fn from_iir(iir: u8) -> Result<Self, Error> {
        if iir & iir::NO_INTERRUPT != 0 {
            return Ok(InterruptId::None);
        }
        match iir & iir::ID_MASK {
            iir::LINE_STATUS => Ok(InterruptId::LineStatus),
            iir::RX_AVAILABLE => Ok(InterruptId::RxAvailable),
            iir::RX_TIMEOUT => Ok(InterruptId::RxTimeout),
            iir::THR_EMPTY => Ok(InterruptId::ThrEmpty),
            iir::MODEM_STATUS => Ok(InterruptId::ModemStatus),
            _ => Err(Error::UnknownInterrupt(iir)),
        }
    }
}

/// The driver's counters (DESIGN.md, rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UartStats {
    /// Bytes written to THR (self-test bytes excluded).
    pub tx_bytes: u64,
    /// Bytes read from RBR (self-test bytes excluded).
    pub rx_bytes: u64,
    /// Waits for THRE that hit [`POLL_LIMIT`].
    pub tx_timeouts: u64,
    /// LSR reads reporting an overrun: received bytes were lost.
    pub overruns: u64,
    /// LSR reads reporting a parity error.
    pub parity_errors: u64,
    /// LSR reads reporting a framing error (wrong baud rate, line noise).
    pub framing_errors: u64,
    /// LSR reads reporting a break condition.
    pub breaks: u64,
    /// [`handle_interrupt`](Uart16550::handle_interrupt) calls that found this
    /// UART's interrupt pending (Linux's count in `/proc/interrupts`, per device).
    pub interrupts: u64,
    /// `handle_interrupt` calls that found nothing pending: another device's
    /// interrupt on a shared line, or a spurious one.
    pub not_mine: u64,
    /// Times the receive ring was full and receive interrupts were switched
    /// off until a reader made room (input waits in the chip, nothing is lost).
    pub rx_throttles: u64,
    /// `handle_interrupt` calls that stopped at [`IRQ_LOOP_LIMIT`] rounds with
    /// the chip still reporting interrupts: a stuck or misbehaving device.
    pub stuck_loops: u64,
    /// THR-empty interrupts served (each refills the TX FIFO from the ring).
    pub thre_interrupts: u64,
}

impl UartStats {
    fn record_line_errors(&mut self, status: u8) {
        let count = |bit: u8| u64::from(status & bit != 0);
        self.overruns += count(lsr::OE);
        self.parity_errors += count(lsr::PE);
        self.framing_errors += count(lsr::FE);
        self.breaks += count(lsr::BI);
    }
}

/// A 16550A UART behind a register window.
#[derive(Debug)]
pub struct Uart16550<W> {
    regs: W,
    stats: UartStats,
    /// Bytes written per THRE wait: 16 once `init` has seen working FIFOs, 1
    /// before that (or on a FIFO-less 16450), where THR holds a single byte.
    tx_burst: usize,
    /// Set by `enable_irq_mode`.
    irq_mode: bool,
    /// Bytes that were already waiting when `init` ran (typed or piped in
    /// while firmware was still booting). Enabling the FIFOs resets them, so
    /// `init` saves them here first and `try_read_byte` returns them first.
    early_rx: [u8; regs::FIFO_DEPTH],
    early_len: usize,
    early_pos: usize,
    /// What the driver last wrote to IER. Interrupt mode flips IER.THRE on and
    /// off per burst; keeping a copy saves a bus read per flip (and IER is not
    /// worth reading back in an interrupt handler).
    ier: u8,
}

impl<W: RegisterWindow> Uart16550<W> {
    /// Takes over the UART behind `regs`, without touching it.
    ///
    /// Until [`init`](Self::init) succeeds the driver assumes nothing about the
    /// chip's state (e.g. firmware may have set it up), writing one byte per
    /// THRE wait.
    pub fn new(regs: W) -> Result<Self, Error> {
        let size = regs.size();
        if size < regs::WINDOW_SIZE {
            return Err(Error::WindowTooSmall { size });
        }
        Ok(Uart16550 {
            regs,
            stats: UartStats::default(),
            tx_burst: 1,
            irq_mode: false,
            early_rx: [0; regs::FIFO_DEPTH],
            early_len: 0,
            early_pos: 0,
            ier: InterruptEnable::NONE.bits(),
        })
    }

    /// Programs the UART for polled operation and checks that it works.
    ///
    /// In order: bytes already received are saved (see `early_rx`) and the
    /// FIFOs enabled and cleared; interrupts off (IER = 0); divisor and 8N1;
    /// DTR, RTS and OUT2 raised; the scratch-register self-test.
    pub fn init(&mut self, config: Config) -> Result<(), Error> {
        let divisor = config.divisor()?;
        // Save waiting input and reset the FIFOs back to back: a byte that
        // arrives in between would be lost to the reset.
        self.save_early_rx()?;
        let fcr = match config.fifo {
            Some(trigger) => fcr::ENABLE | fcr::CLEAR_RX | fcr::CLEAR_TX | trigger.fcr_bits(),
            None => 0,
        };
        self.write(regs::FCR, fcr)?;
        self.write_ier(InterruptEnable::NONE.bits())?;
        self.set_divisor(divisor)?;
        self.write(regs::LCR, lcr::MODE_8N1)?;
        self.write(regs::MCR, mcr::DTR | mcr::RTS | mcr::OUT2)?;
        for pattern in SELF_TEST_PATTERNS {
            self.write(regs::SCR, pattern)?;
            let received = self.read(regs::SCR)?;
            if received != pattern {
                return Err(Error::SelfTestFailed { sent: pattern, received: Some(received) });
            }
        }
        let fifos_work = self.read(regs::IIR)? & iir::FIFOS_ENABLED == iir::FIFOS_ENABLED;
        self.tx_burst = if fifos_work { regs::FIFO_DEPTH } else { 1 };
        Ok(())
    }

    /// Sends one byte, first waiting (bounded) until the transmitter can take it.
    pub fn write_byte(&mut self, byte: u8) -> Result<(), Error> {
        self.wait_for_thr_empty()?;
        self.send(byte)
    }

    /// Sends `bytes`, waiting for THRE once per FIFO-full.
    ///
    /// Returns how many bytes were queued, like `std::io::Write::write`: all of
    /// them, unless the transmitter stopped draining part-way, in which case
    /// the count is short (and the timeout counted). Fails with
    /// [`Error::Timeout`] only if not even the first byte could be queued.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        let mut written = 0;
        for chunk in bytes.chunks(self.tx_burst) {
            match self.wait_for_thr_empty() {
                Ok(()) => {}
                Err(Error::Timeout) if written > 0 => break,
                Err(e) => return Err(e),
            }
            for &byte in chunk {
                self.send(byte)?;
            }
            written += chunk.len();
        }
        Ok(written)
    }

    /// Returns the next received byte, or `None` if none is waiting. Never waits.
    ///
    /// Line errors reported alongside are counted in [`stats`](Self::stats); the
    /// byte is returned regardless (a break arrives as a `0x00` byte).
    pub fn try_read_byte(&mut self) -> Result<Option<u8>, Error> {
        if let Some(byte) = self.pop_early_rx() {
            return Ok(Some(byte));
        }
        if self.read_lsr()? & lsr::DR == 0 {
            return Ok(None);
        }
        let byte = self.read(regs::RBR)?;
        self.stats.rx_bytes += 1;
        Ok(Some(byte))
    }

    /// The oldest saved byte not yet handed out.
    fn pop_early_rx(&mut self) -> Option<u8> {
        let byte = *self.early_rx[..self.early_len].get(self.early_pos)?;
        self.early_pos += 1;
        Some(byte)
    }

    /// Moves bytes waiting in RBR/the RX FIFO into `early_rx` (bounded by
    /// its size, which is the FIFO depth), behind any saved bytes not yet
    /// handed out.
    fn save_early_rx(&mut self) -> Result<(), Error> {
        // An absent UART reads as all ones: DR "set" forever. Leave that to
        // the self-test instead of saving sixteen 0xff bytes.
        const FLOATING_BUS: u8 = 0xff;
        // Called again by `enable_irq_mode`: reuse the room of bytes already
        // handed out.
        self.early_rx.copy_within(self.early_pos..self.early_len, 0);
        self.early_len -= self.early_pos;
        self.early_pos = 0;
        while self.early_len < self.early_rx.len() {
            let status = self.read_lsr()?;
            if status == FLOATING_BUS || status & lsr::DR == 0 {
                break;
            }
            self.early_rx[self.early_len] = self.read(regs::RBR)?;
            self.early_len += 1;
            self.stats.rx_bytes += 1;
        }
        Ok(())
    }

    /// Programs IER: which events raise the UART's interrupt line.
    pub fn set_interrupts(&mut self, enable: InterruptEnable) -> Result<(), Error> {
        self.write_ier(enable.bits())
    }

    /// Reads IIR: the highest-priority pending interrupt. Reading IIR is itself
    /// the acknowledgement of a [`InterruptId::ThrEmpty`] interrupt.
    pub fn interrupt_id(&self) -> Result<InterruptId, Error> {
        InterruptId::from_iir(self.read(regs::IIR)?)
    }

    /// The driver's counters.
    pub fn stats(&self) -> UartStats {
        self.stats
    }

    /// How many bytes [`write_bytes`](Self::write_bytes) queues per THRE wait:
    /// [`regs::FIFO_DEPTH`] once [`init`](Self::init) found working FIFOs, else 1.
    pub fn tx_burst(&self) -> usize {
        self.tx_burst
    }

    /// The register window (e.g. for its access counters).
    pub fn window(&self) -> &W {
        &self.regs
    }

    /// Writes IER and remembers the value (see the `ier` field).
    fn write_ier(&mut self, bits: u8) -> Result<(), Error> {
        self.write(regs::IER, bits)?;
        self.ier = bits;
        Ok(())
    }

    fn read(&self, reg: usize) -> Result<u8, Error> {
        Ok(self.regs.read_u8(reg)?)
    }

    fn write(&self, reg: usize, value: u8) -> Result<(), Error> {
        Ok(self.regs.write_u8(reg, value)?)
    }

    /// Reads LSR and counts the errors it reports. All LSR reads go through
    /// here because the read clears OE/PE/FE/BI: an overrun seen while polling
    /// for THRE would otherwise vanish uncounted.
    fn read_lsr(&mut self) -> Result<u8, Error> {
        let status = self.read(regs::LSR)?;
        self.stats.record_line_errors(status);
        Ok(status)
    }

    /// Polls LSR until one of the `bits` is set, at most [`POLL_LIMIT`] times.
    /// Returns whether it was.
    fn poll_lsr(&mut self, bits: u8) -> Result<bool, Error> {
        for _ in 0..POLL_LIMIT {
            if self.read_lsr()? & bits != 0 {
                return Ok(true);
            }
            // `pause` on x86: tells the CPU (and a hypervisor) this is a spin.
            core::hint::spin_loop();
        }
        Ok(false)
    }

    fn wait_for_thr_empty(&mut self) -> Result<(), Error> {
        if self.poll_lsr(lsr::THRE)? {
            Ok(())
        } else {
            self.stats.tx_timeouts += 1;
            Err(Error::Timeout)
        }
    }

    /// Writes THR; the caller has seen THRE.
    fn send(&mut self, byte: u8) -> Result<(), Error> {
        self.write(regs::THR, byte)?;
        self.stats.tx_bytes += 1;
        Ok(())
    }

    fn set_divisor(&mut self, divisor: u16) -> Result<(), Error> {
        let [low, high] = divisor.to_le_bytes();
        self.write(regs::LCR, lcr::DLAB)?;
        self.write(regs::DLL, low)?;
        self.write(regs::DLM, high)?;
        // The caller's LCR write clears DLAB again.
        Ok(())
    }

    /// `write_bytes` for `fmt::Write`: anything short of everything is an error.
    fn write_all(&mut self, bytes: &[u8]) -> fmt::Result {
        match self.write_bytes(bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            _ => Err(fmt::Error),
        }
    }
}

/// `write!(uart, ...)` for the console. A serial terminal needs `"\r\n"`:
/// `'\n'` alone moves down a line without returning to column 0, giving the
/// staircase effect, so each `'\n'` is sent as `"\r\n"`.
impl<W: RegisterWindow> fmt::Write for Uart16550<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                self.write_all(b"\r\n")?;
            }
            self.write_all(line.as_bytes())?;
        }
        Ok(())
    }
}
