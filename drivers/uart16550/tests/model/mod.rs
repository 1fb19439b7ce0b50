//! A behavioural model of the 16550A, for testing the driver on the host.
//!
//! It plays the part QEMU's `hw/char/serial.c` plays for the real driver:
//! register reads and writes (through `hal::sim::SimWindow`) drive a small
//! state machine with the chip's FIFOs, shift register, divisor latch, status
//! bits and interrupt logic, per the PC16550D datasheet.
//!
//! **Time.** The real transmitter is thousands of times slower than the CPU.
//! Here the line advances one character time per [`Uart16550Model::tick`],
//! which the test calls, or automatically every N register *reads*
//! ([`Uart16550Model::ticking_every`]) — a line slower than the CPU that polls
//! it. With the clock stopped, the TX FIFO never drains, so THRE stays clear
//! for as long as a byte is queued. A THR write while the TX FIFO is full loses
//! the byte and counts it in `tx_overflows`: a driver that does not wait for
//! THRE is caught.
//!
//! **Interrupts.** The chip's interrupt output ([`Uart16550Model::irq_asserted`])
//! follows the priority table of PC16550D §8.6: line status (cleared by
//! reading LSR), received data at the trigger level (cleared by reading the
//! FIFO below it), character timeout (bytes below the trigger, four character
//! times with nothing received or read; cleared by reading RBR), THR empty
//! (raised when the TX FIFO runs empty with IER.THRE set, or when IER.THRE is
//! turned on with it empty; cleared by an IIR read that reports it or a THR
//! write) and modem status (cleared by reading MSR). On a PC the output reaches
//! the interrupt controller only through the OUT2 gate
//! ([`Uart16550Model::irq_reaches_pic`]). Two misbehaving variants exist for
//! tests: a level-triggered THRE source, as on UARTs whose TX interrupt means
//! "FIFO empty" rather than "FIFO became empty" ([`Uart16550Model::with_level_thre`]),
//! and an IIR stuck at one value ([`Uart16550Model::stuck_iir`]).
//!
//! **Independence.** Offsets and bits are written out here from the datasheet
//! rather than imported from the driver's `regs` module, so a wrong constant
//! in the driver is not silently mirrored by the model.

// Each test binary (`uart.rs`, `irq_mode.rs`) uses a different part of the model.
#![allow(dead_code)]

use std::collections::VecDeque;

use hal::sim::{DeviceModel, Width};

// Register offsets [PC16550D §8.0].
const DATA: usize = 0; // RBR (read) / THR (write); DLL when DLAB
const IER: usize = 1; // DLM when DLAB
const IIR_FCR: usize = 2;
const LCR: usize = 3;
const MCR: usize = 4;
const LSR: usize = 5;
const MSR: usize = 6;
const SCR: usize = 7;

const LCR_DLAB: u8 = 0x80;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;

const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
const LSR_PE: u8 = 0x04;
const LSR_FE: u8 = 0x08;
const LSR_BI: u8 = 0x10;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;
const LSR_RXFE: u8 = 0x80;

const IER_RX: u8 = 0x01;
const IER_THRE: u8 = 0x02;
const IER_LINE: u8 = 0x04;
const IER_MODEM: u8 = 0x08;

const IIR_NONE: u8 = 0x01;
const IIR_LINE: u8 = 0x06;
const IIR_RX: u8 = 0x04;
const IIR_TIMEOUT: u8 = 0x0c;
const IIR_THRE: u8 = 0x02;
const IIR_MODEM: u8 = 0x00;
const IIR_FIFOS: u8 = 0xc0;

const FIFO_DEPTH: usize = 16;
/// Character times without RX activity before a character timeout [PC16550D §8.6].
const TIMEOUT_CHARS: u32 = 4;

/// An error the receiver attaches to a received character.
#[derive(Clone, Copy, Debug)]
pub enum LineError {
    /// Wrong parity bit.
    Parity,
    /// Missing stop bit.
    Framing,
    /// Line held low: arrives as a 0x00 character with BI.
    Break,
}

#[derive(Clone, Copy, Debug)]
struct RxChar {
    byte: u8,
    /// LSR error bits (PE/FE/BI) travelling with this character.
    errors: u8,
}

/// The 16550A (or, with [`Uart16550Model::new_16450`], its FIFO-less parent).
#[derive(Debug)]
pub struct Uart16550Model {
    // Programmable registers, public for inspection.
    pub lcr: u8,
    pub ier: u8,
    pub mcr: u8,
    pub scr: u8,
    /// Models a device whose SCR does not hold values (reads 0).
    pub scr_broken: bool,
    pub dll: u8,
    pub dlm: u8,
    pub fifo_enabled: bool,
    /// RX FIFO interrupt trigger level in bytes.
    pub rx_trigger: usize,

    // What happened on the line, public for assertions.
    /// Bytes that left on the TX wire (not in loopback).
    pub transmitted: Vec<u8>,
    /// THR writes that found the TX FIFO full: bytes the driver lost.
    pub tx_overflows: usize,
    /// Received bytes dropped because the RX FIFO was full.
    pub rx_overruns: usize,
    /// When set, every IIR read returns this value and clears nothing: a
    /// wedged or non-16550 device whose interrupt never goes away.
    pub stuck_iir: Option<u8>,

    has_fifos: bool,
    rx: VecDeque<RxChar>,
    tx: VecDeque<u8>,
    shift_register: Option<u8>,
    /// OE/PE/FE/BI as LSR will report them; reading LSR clears them.
    lsr_errors: u8,
    thre_interrupt: bool,
    /// THRE as a level ("TX FIFO is empty") instead of a latch.
    thre_level: bool,
    rx_timeout: bool,
    /// Character times since a byte was last received or read.
    rx_idle_chars: u32,
    msr_deltas: u8,
    auto_tick: Option<u32>,
    reads_since_tick: u32,
}

impl Uart16550Model {
    /// A 16550A in its power-on state, with the clock stopped.
    pub fn new() -> Self {
        Uart16550Model {
            lcr: 0,
            ier: 0,
            mcr: 0,
            scr: 0,
            scr_broken: false,
            dll: 0,
            dlm: 0,
            fifo_enabled: false,
            rx_trigger: 1,
            transmitted: Vec::new(),
            tx_overflows: 0,
            rx_overruns: 0,
            stuck_iir: None,
            has_fifos: true,
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            shift_register: None,
            lsr_errors: 0,
            thre_interrupt: false,
            thre_level: false,
            rx_timeout: false,
            rx_idle_chars: 0,
            msr_deltas: 0,
            auto_tick: None,
            reads_since_tick: 0,
        }
    }

    /// A 16450: same registers, but FCR does nothing, THR and RBR hold one
    /// byte each, and IIR bits 7:6 read 0.
    pub fn new_16450() -> Self {
        Uart16550Model { has_fifos: false, ..Self::new() }
    }

    /// A UART whose THRE interrupt is a level: pending for as long as IER.THRE
    /// is set and the TX FIFO is empty, whatever IIR reads happen.
    pub fn with_level_thre(mut self) -> Self {
        self.thre_level = true;
        self
    }

    /// The line advances one character time every `reads` register reads.
    pub fn ticking_every(mut self, reads: u32) -> Self {
        self.auto_tick = Some(reads);
        self
    }

    /// Stops the automatic clock: from now on the line only moves on `tick()`.
    pub fn stop_clock(&mut self) {
        self.auto_tick = None;
    }

    /// One character time: the shift register finishes its byte (onto the
    /// wire, or back to the receiver in loopback) and takes the next one from
    /// the TX FIFO; bytes waiting below the RX trigger age towards a
    /// character timeout.
    pub fn tick(&mut self) {
        if let Some(byte) = self.shift_register.take() {
            self.shift_out(byte);
        }
        if let Some(next) = self.tx.pop_front() {
            self.shift_register = Some(next);
            if self.tx.is_empty() && self.ier & IER_THRE != 0 {
                self.thre_interrupt = true;
            }
        }
        if self.fifo_enabled && !self.rx.is_empty() {
            self.rx_idle_chars += 1;
            if self.rx_idle_chars >= TIMEOUT_CHARS {
                self.rx_timeout = true;
            }
        }
    }

    /// Ticks `n` character times.
    pub fn tick_n(&mut self, n: usize) {
        (0..n).for_each(|_| self.tick());
    }

    /// The chip's interrupt output (INTRPT): some enabled source is pending.
    pub fn irq_asserted(&self) -> bool {
        match self.stuck_iir {
            Some(iir) => iir & IIR_NONE == 0,
            None => self.pending_interrupt() != IIR_NONE,
        }
    }

    /// What a PC's interrupt controller sees: the output, gated by MCR.OUT2.
    pub fn irq_reaches_pic(&self) -> bool {
        self.irq_asserted() && self.mcr & MCR_OUT2 != 0
    }

    /// Ticks until everything queued has been sent.
    pub fn drain(&mut self) {
        while !self.tx.is_empty() || self.shift_register.is_some() {
            self.tick();
        }
    }

    /// A byte arrives on the RX wire. In loopback the receiver is cut off
    /// from the wire, so it is ignored.
    pub fn receive(&mut self, byte: u8) {
        if !self.loopback() {
            self.push_rx(byte, 0);
        }
    }

    /// Bytes arrive on the RX wire.
    pub fn receive_all(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.receive(b));
    }

    /// A character arrives with a line error.
    pub fn receive_with_error(&mut self, byte: u8, error: LineError) {
        let (byte, errors) = match error {
            LineError::Parity => (byte, LSR_PE),
            LineError::Framing => (byte, LSR_FE),
            LineError::Break => (0, LSR_BI),
        };
        if !self.loopback() {
            self.push_rx(byte, errors);
        }
    }

    /// Four character times pass with bytes waiting below the RX trigger.
    pub fn character_timeout(&mut self) {
        self.rx_timeout = !self.rx.is_empty();
    }

    /// CTS changes on the modem lines.
    pub fn modem_input_change(&mut self) {
        self.msr_deltas |= 0x01; // DCTS
    }

    pub fn divisor(&self) -> u16 {
        u16::from_le_bytes([self.dll, self.dlm])
    }

    pub fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    pub fn tx_fifo_len(&self) -> usize {
        self.tx.len()
    }

    pub fn rx_fifo_len(&self) -> usize {
        self.rx.len()
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    fn fifo_capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO_DEPTH
        } else {
            1
        }
    }

    fn shift_out(&mut self, byte: u8) {
        if !self.loopback() {
            self.transmitted.push(byte);
        } else {
            self.push_rx(byte, 0);
        }
    }

    fn push_rx(&mut self, byte: u8, errors: u8) {
        if self.rx.len() >= self.fifo_capacity() {
            // [PC16550D §8.4]: the character in the shift register is
            // overwritten and never reaches the FIFO.
            self.lsr_errors |= LSR_OE;
            self.rx_overruns += 1;
            return;
        }
        self.rx.push_back(RxChar { byte, errors });
        self.rx_idle_chars = 0;
        if self.rx.len() == 1 {
            self.surface_head_errors();
        }
    }

    /// In FIFO mode a character's PE/FE/BI show in LSR when it reaches the
    /// head of the FIFO [PC16550D §8.4].
    fn surface_head_errors(&mut self) {
        if let Some(head) = self.rx.front() {
            self.lsr_errors |= head.errors;
        }
    }

    fn advance_clock(&mut self) {
        if let Some(every) = self.auto_tick {
            self.reads_since_tick += 1;
            if self.reads_since_tick >= every {
                self.reads_since_tick = 0;
                self.tick();
            }
        }
    }

    fn read_rbr(&mut self) -> u8 {
        let byte = self.rx.pop_front().map_or(0, |c| c.byte);
        self.rx_timeout = false;
        self.rx_idle_chars = 0;
        self.surface_head_errors();
        byte
    }

    fn read_lsr(&mut self) -> u8 {
        let mut lsr = std::mem::take(&mut self.lsr_errors);
        if !self.rx.is_empty() {
            lsr |= LSR_DR;
        }
        if self.tx.is_empty() {
            lsr |= LSR_THRE;
            if self.shift_register.is_none() {
                lsr |= LSR_TEMT;
            }
        }
        if self.fifo_enabled && self.rx.iter().any(|c| c.errors != 0) {
            lsr |= LSR_RXFE;
        }
        lsr
    }

    /// The highest-priority pending interrupt [PC16550D §8.6].
    fn pending_interrupt(&self) -> u8 {
        let enabled = |bit: u8| self.ier & bit != 0;
        let rx_level = if self.fifo_enabled { self.rx_trigger } else { 1 };
        if enabled(IER_LINE) && self.lsr_errors != 0 {
            IIR_LINE
        } else if enabled(IER_RX) && self.rx.len() >= rx_level {
            IIR_RX
        } else if enabled(IER_RX) && self.rx_timeout {
            IIR_TIMEOUT
        } else if enabled(IER_THRE) && self.thre_pending() {
            IIR_THRE
        } else if enabled(IER_MODEM) && self.msr_deltas != 0 {
            IIR_MODEM
        } else {
            IIR_NONE
        }
    }

    fn thre_pending(&self) -> bool {
        if self.thre_level {
            self.tx.is_empty()
        } else {
            self.thre_interrupt
        }
    }

    fn read_iir(&mut self) -> u8 {
        if let Some(stuck) = self.stuck_iir {
            return stuck;
        }
        let id = self.pending_interrupt();
        if id == IIR_THRE {
            // Reading IIR acknowledges a THRE interrupt.
            self.thre_interrupt = false;
        }
        let fifos = if self.fifo_enabled { IIR_FIFOS } else { 0 };
        id | fifos
    }

    fn read_msr(&mut self) -> u8 {
        // In loopback the modem inputs follow the outputs: CTS=RTS, DSR=DTR,
        // RI=OUT1, DCD=OUT2 [PC16550D §8.8]. Outside it, all inputs are low.
        let lines = if self.loopback() {
            let m = self.mcr;
            ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4)
        } else {
            0
        };
        lines | std::mem::take(&mut self.msr_deltas)
    }

    fn write_thr(&mut self, byte: u8) {
        self.thre_interrupt = false;
        if self.tx.len() >= self.fifo_capacity() {
            self.tx_overflows += 1;
            return;
        }
        self.tx.push_back(byte);
    }

    fn write_ier(&mut self, value: u8) {
        let thre_changed = (value ^ self.ier) & IER_THRE != 0;
        self.ier = value & 0x0f;
        if thre_changed {
            // Enabling ETBEI with THR already empty raises the interrupt at
            // once; disabling it drops a pending one (QEMU's serial.c does
            // the same).
            self.thre_interrupt = self.ier & IER_THRE != 0 && self.tx.is_empty();
        }
    }

    fn write_fcr(&mut self, value: u8) {
        if !self.has_fifos {
            return;
        }
        let enable = value & 0x01 != 0;
        if enable != self.fifo_enabled {
            // Switching between FIFO and character mode empties both FIFOs.
            self.rx.clear();
            self.tx.clear();
            self.fifo_enabled = enable;
        }
        if !enable {
            return; // bits 1-7 are ignored unless bit 0 is set [PC16550D §8.5]
        }
        if value & 0x02 != 0 {
            self.rx.clear();
            self.rx_timeout = false;
        }
        if value & 0x04 != 0 {
            self.tx.clear();
        }
        self.rx_trigger = [1, 4, 8, 14][usize::from(value >> 6)];
    }
}

impl DeviceModel for Uart16550Model {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        assert_eq!(width, Width::U8, "16550 registers are 8 bits wide");
        self.advance_clock();
        let value = match offset {
            DATA if self.dlab() => self.dll,
            DATA => self.read_rbr(),
            IER if self.dlab() => self.dlm,
            IER => self.ier,
            IIR_FCR => self.read_iir(),
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => self.read_lsr(),
            MSR => self.read_msr(),
            SCR if self.scr_broken => 0,
            SCR => self.scr,
            _ => unreachable!("the window is 8 bytes"),
        };
        u64::from(value)
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        assert_eq!(width, Width::U8, "16550 registers are 8 bits wide");
        let value = value as u8;
        match offset {
            DATA if self.dlab() => self.dll = value,
            DATA => self.write_thr(value),
            IER if self.dlab() => self.dlm = value,
            IER => self.write_ier(value),
            IIR_FCR => self.write_fcr(value),
            LCR => self.lcr = value,
            MCR => self.mcr = value & 0x1f,
            LSR | MSR => {} // read-only
            SCR => self.scr = value,
            _ => unreachable!("the window is 8 bytes"),
        }
    }
}
