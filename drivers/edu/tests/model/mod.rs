//! A behavioural model of QEMU's `edu`, for testing the driver on the host.
//!
//! It plays the part of `hw/misc/edu.c`, following `docs/specs/edu.rst` and the
//! C model's exact behaviour where the spec is silent:
//!
//! - **Registers.** Identification, the liveness register (stores the inverse
//!   of what is written), factorial, status, interrupt status / raise /
//!   acknowledge, and the four DMA registers. Only 32-bit accesses below
//!   `0x80`, 32 or 64 bits from there; other widths read all ones and writes
//!   are dropped (and counted in `bad_width_accesses`). Unknown offsets read
//!   all ones, as in edu.c.
//! - **Time.** edu computes factorials in a thread and runs DMA from a timer
//!   100 ms after the command. Here both happen when the test calls
//!   [`EduModel::tick`] — or automatically every N register reads
//!   ([`EduModel::ticking_every`]), a device slower than the CPU polling it.
//!   Until then status bit 0 (or DMA command bit 0) stays set. A
//!   [`stalled`](EduModel::stalled) model never finishes anything, an
//!   [`instant`](EduModel::instant) one finishes as soon as work starts.
//! - **Factorial.** 32-bit wrapping arithmetic, as edu.c's `uint32_t`. Writing
//!   the factorial register while computing is ignored; reading it meanwhile
//!   returns the input.
//! - **Interrupts.** Raising ORs into the status; a non-zero status asserts
//!   the INTx line ([`EduModel::line`]) — or, in MSI mode, sends one message
//!   per raise ([`EduModel::msi_messages`]) and never touches the line.
//!   Acknowledging clears bits; with INTx the line drops when none is left.
//!   Factorial done raises `0x1` (if status bit 7), DMA done `0x100` (if
//!   command bit 2).
//! - **DMA.** Writes to the DMA registers while a transfer runs are ignored
//!   (counted), and so is a command write without the start bit. A transfer
//!   copies between the 4 KiB buffer at device address `0x40000` and the
//!   `FakeDma` memory *at the programmed bus address*, masked to 28 bits as
//!   edu does (truncations counted in `clamped`). A transfer that would leave
//!   the buffer is refused and counted in `range_errors` (real QEMU logs it and
//!   overruns its buffer, or aborts); one that hits no memory is counted in
//!   `bus_errors`.
//!
//! **Independence.** Offsets and bits are written out here from the spec
//! rather than imported from the driver's `regs` module, so a wrong constant
//! in the driver is not silently mirrored by the model.

#![allow(dead_code)]

use hal::dma::sim::PhysMemory;
use hal::dma::BusAddr;
use hal::sim::{DeviceModel, Width};

// Register offsets [edu.rst "MMIO area spec"].
const ID: usize = 0x00;
const LIVENESS: usize = 0x04;
const FACTORIAL: usize = 0x08;
const STATUS: usize = 0x20;
const IRQ_STATUS: usize = 0x24;
const IRQ_RAISE: usize = 0x60;
const IRQ_ACK: usize = 0x64;
const DMA_SRC: usize = 0x80;
const DMA_DST: usize = 0x88;
const DMA_COUNT: usize = 0x90;
const DMA_CMD: usize = 0x98;

const STATUS_COMPUTING: u32 = 0x01;
const STATUS_IRQFACT: u32 = 0x80;

const FACT_IRQ: u32 = 0x001;
const DMA_IRQ: u32 = 0x100;

const CMD_RUN: u64 = 0x1;
const CMD_TO_RAM: u64 = 0x2;
const CMD_IRQ: u64 = 0x4;

/// edu's DMA buffer, in its own address space.
pub const BUFFER_START: u64 = 0x40000;
pub const BUFFER_SIZE: usize = 4096;

/// What QEMU's edu reports: version 1.0.
pub const EDU_ID: u32 = 0x0100_00ed;

/// The edu device.
#[derive(Debug)]
pub struct EduModel {
    /// The identification register's value.
    pub id: u32,
    /// The liveness register (holds the inverse of the last write).
    pub addr4: u32,
    pub fact: u32,
    pub status: u32,
    pub irq_status: u32,
    pub dma_src: u64,
    pub dma_dst: u64,
    pub dma_cnt: u64,
    pub dma_cmd: u64,
    pub dma_buf: Vec<u8>,
    /// Bus addresses are ANDed with this (edu's `dma_mask`, 28 bits by default).
    pub dma_mask: u64,
    memory: Option<PhysMemory>,

    /// MSI enabled: raises send messages instead of asserting the line.
    pub msi: bool,
    /// The INTx output.
    pub line: bool,
    /// MSI messages sent.
    pub msi_messages: u32,

    /// Nothing ever finishes.
    pub stalled: bool,
    /// Work finishes the moment it is started (a host far faster than the
    /// guest): catches a driver that asks for the interrupt too late.
    pub instant: bool,
    /// The device is gone: reads float to all ones, writes vanish.
    pub unplugged: bool,
    auto_tick: Option<u32>,
    reads_since_tick: u32,
    /// Raised (by "the device") right after the next interrupt-status read:
    /// an event landing between a handler's read and its acknowledge.
    pub raise_after_status_read: u32,

    // What happened, for assertions.
    /// Accesses of a width edu does not accept.
    pub bad_width_accesses: u32,
    /// DMA register writes dropped because a transfer was running.
    pub ignored_dma_writes: u32,
    /// Transfers that would have left the device buffer (refused here).
    pub range_errors: u32,
    /// Bus addresses truncated by `dma_mask`.
    pub clamped: u32,
    /// Transfers that hit an address with no memory behind it.
    pub bus_errors: u32,
    /// Transfers completed.
    pub dma_transfers: u32,
    /// Factorials completed.
    pub factorials: u32,
}

impl EduModel {
    /// An edu whose DMA reaches `memory`.
    pub fn new(memory: PhysMemory) -> Self {
        let mut model = Self::without_memory();
        model.memory = Some(memory);
        model
    }

    /// An edu with nothing to DMA to (every transfer is a bus error).
    pub fn without_memory() -> Self {
        EduModel {
            id: EDU_ID,
            addr4: 0,
            fact: 0,
            status: 0,
            irq_status: 0,
            dma_src: 0,
            dma_dst: 0,
            dma_cnt: 0,
            dma_cmd: 0,
            dma_buf: vec![0; BUFFER_SIZE],
            dma_mask: (1 << 28) - 1,
            memory: None,
            msi: false,
            line: false,
            msi_messages: 0,
            stalled: false,
            unplugged: false,
            instant: false,
            auto_tick: None,
            reads_since_tick: 0,
            raise_after_status_read: 0,
            bad_width_accesses: 0,
            ignored_dma_writes: 0,
            range_errors: 0,
            clamped: 0,
            bus_errors: 0,
            dma_transfers: 0,
            factorials: 0,
        }
    }

    /// Reports `id` in the identification register.
    pub fn with_id(mut self, id: u32) -> Self {
        self.id = id;
        self
    }

    /// Ticks by itself after every `reads` register reads.
    pub fn ticking_every(mut self, reads: u32) -> Self {
        self.auto_tick = Some(reads);
        self
    }

    /// Never finishes a factorial or a transfer.
    pub fn stalled(mut self) -> Self {
        self.stalled = true;
        self
    }

    /// Finishes work as soon as it is started.
    pub fn instant(mut self) -> Self {
        self.instant = true;
        self
    }

    /// Uses MSI instead of INTx.
    pub fn with_msi(mut self) -> Self {
        self.msi = true;
        self
    }

    /// Whether a factorial is being computed.
    pub fn computing(&self) -> bool {
        self.status & STATUS_COMPUTING != 0
    }

    /// Whether a DMA transfer is pending.
    pub fn dma_running(&self) -> bool {
        self.dma_cmd & CMD_RUN != 0
    }

    /// Lets time pass: the factorial thread and the DMA timer do their work.
    pub fn tick(&mut self) {
        self.reads_since_tick = 0;
        if self.stalled {
            return;
        }
        if self.computing() {
            let mut result: u32 = 1;
            let mut n = self.fact;
            while n > 0 {
                result = result.wrapping_mul(n);
                n -= 1;
            }
            self.fact = result;
            self.status &= !STATUS_COMPUTING;
            self.factorials += 1;
            if self.status & STATUS_IRQFACT != 0 {
                self.raise(FACT_IRQ);
            }
        }
        if self.dma_running() {
            self.run_dma();
            self.dma_cmd &= !CMD_RUN;
            self.dma_transfers += 1;
            if self.dma_cmd & CMD_IRQ != 0 {
                self.raise(DMA_IRQ);
            }
        }
    }

    /// The offset into the buffer of `cnt` bytes at device address `addr`.
    fn buffer_range(&mut self, addr: u64) -> Option<std::ops::Range<usize>> {
        let end = addr.checked_add(self.dma_cnt)?;
        if addr < BUFFER_START || end > BUFFER_START + BUFFER_SIZE as u64 {
            self.range_errors += 1;
            return None;
        }
        let start = (addr - BUFFER_START) as usize;
        Some(start..start + self.dma_cnt as usize)
    }

    fn clamp(&mut self, addr: u64) -> BusAddr {
        let masked = addr & self.dma_mask;
        if masked != addr {
            self.clamped += 1;
        }
        BusAddr(masked)
    }

    fn run_dma(&mut self) {
        let to_ram = self.dma_cmd & CMD_TO_RAM != 0;
        let (device, bus) = if to_ram { (self.dma_src, self.dma_dst) } else { (self.dma_dst, self.dma_src) };
        let Some(range) = self.buffer_range(device) else { return };
        let bus = self.clamp(bus);
        let result = match &self.memory {
            None => Err(hal::dma::DmaError::OutOfMemory),
            Some(memory) if to_ram => memory.write(bus, &self.dma_buf[range]),
            Some(memory) => memory.read(bus, &mut self.dma_buf[range]),
        };
        if result.is_err() {
            self.bus_errors += 1;
        }
    }

    fn raise(&mut self, bits: u32) {
        self.irq_status |= bits;
        if self.irq_status != 0 {
            if self.msi {
                self.msi_messages += 1;
            } else {
                self.line = true;
            }
        }
    }

    fn lower(&mut self, bits: u32) {
        self.irq_status &= !bits;
        if self.irq_status == 0 && !self.msi {
            self.line = false;
        }
    }

    fn width_ok(&mut self, offset: usize, width: Width) -> bool {
        let ok = match width {
            Width::U32 => true,
            Width::U64 => offset >= 0x80,
            _ => false,
        };
        if !ok {
            self.bad_width_accesses += 1;
        }
        ok
    }

    fn write_dma_reg(&mut self, offset: usize, value: u64) {
        if self.dma_running() {
            self.ignored_dma_writes += 1;
            return;
        }
        match offset {
            DMA_SRC => self.dma_src = value,
            DMA_DST => self.dma_dst = value,
            DMA_COUNT => self.dma_cnt = value,
            _ => self.dma_cmd = value,
        }
    }
}

impl DeviceModel for EduModel {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        if let Some(every) = self.auto_tick {
            self.reads_since_tick += 1;
            if self.reads_since_tick >= every {
                self.tick();
            }
        }
        if self.unplugged || !self.width_ok(offset, width) {
            return u64::MAX;
        }
        match offset {
            ID => self.id.into(),
            LIVENESS => self.addr4.into(),
            FACTORIAL => self.fact.into(),
            STATUS => self.status.into(),
            IRQ_STATUS => {
                let value = self.irq_status;
                let late = std::mem::take(&mut self.raise_after_status_read);
                if late != 0 {
                    self.raise(late);
                }
                value.into()
            }
            DMA_SRC => self.dma_src,
            DMA_DST => self.dma_dst,
            DMA_COUNT => self.dma_cnt,
            DMA_CMD => self.dma_cmd,
            _ => u64::MAX,
        }
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        if self.unplugged || !self.width_ok(offset, width) {
            return;
        }
        let value32 = value as u32;
        match offset {
            LIVENESS => self.addr4 = !value32,
            // Ignored while computing.
            FACTORIAL if !self.computing() => {
                self.fact = value32;
                self.status |= STATUS_COMPUTING;
            }
            STATUS => {
                // Only the interrupt-enable bit is writable.
                self.status = (self.status & !STATUS_IRQFACT) | (value32 & STATUS_IRQFACT);
            }
            IRQ_RAISE => self.raise(value32),
            IRQ_ACK => self.lower(value32),
            DMA_SRC | DMA_DST | DMA_COUNT => self.write_dma_reg(offset, value),
            // A command without the start bit is ignored.
            DMA_CMD if value & CMD_RUN != 0 => self.write_dma_reg(offset, value),
            _ => {}
        }
        if self.instant {
            self.tick();
        }
    }
}
