//! A behavioural model of QEMU's e1000 (82540EM), for testing the driver on
//! the host.
//!
//! It plays the part of QEMU 7.2's `hw/net/e1000.c` and `e1000x_common.c`,
//! register by register, following the 8254x manual where QEMU does:
//!
//! - **Registers.** A 128 KiB register file of 32-bit registers; other
//!   widths are refused and counted (`bad_width_accesses`), as QEMU only
//!   implements 4-byte accesses. Plain registers store what is written.
//! - **CTRL.RST** self-clears at once and, like QEMU, resets *nothing*
//!   ([`E1000Model::resets_registers`] switches to the manual's behaviour:
//!   registers back to power-on values, the address reloaded from the
//!   EEPROM). [`E1000Model::reset_sticks`] makes the bit never clear.
//! - **EERD** answers a read started with START immediately with DONE and
//!   the EEPROM word, as QEMU does ([`E1000Model::eeprom_dead`]: never DONE).
//! - **Interrupts.** ICR read returns the causes and clears them; writing
//!   ICR clears the bits written; ICS sets causes; IMS/IMC set and clear the
//!   mask; the INTx [`line`](E1000Model::line) is `ICR & IMS != 0`, and its
//!   rising edges are counted. ([`E1000Model::unplugged`]: every read floats
//!   to all ones.)
//! - **Receive** ([`E1000Model::receive`], the test plays the wire): only
//!   with RCTL.EN and STATUS.LU; short frames padded to 60 bytes; frames over
//!   1518 bytes dropped without RCTL.LPE (ROC); QEMU's address filter
//!   (broadcast with BAM, multicast with MPE or the MTA hash per RCTL.MO,
//!   unicast with UPE or a valid RAL/RAH pair). No free descriptor (RDH ==
//!   RDT) → MPC and RXO. Otherwise the frame is written *through fake DMA*
//!   into the buffer of the descriptor at RDH (spanning descriptors when
//!   longer than the RCTL buffer size), the descriptor written back with
//!   length (plus 4 for the FCS unless RCTL.SECRC, which QEMU never
//!   actually stores), DD, EOP on the last, and — like QEMU — status and
//!   error bits the driver left in the descriptor kept; RDH advances; GPRC
//!   and GORC count; RXT0 (and RXDMT0 when free descriptors fall to the
//!   RDMTS threshold) is raised.
//! - **Transmit**: a TDT (or TCTL) write with TCTL.EN walks the ring from
//!   TDH to TDT like QEMU's `start_xmit`, reads each legacy descriptor and
//!   its data through fake DMA, gathers data up to EOP into a frame it
//!   records with the command bits, writes DD back when RS is set, counts
//!   GPTC/GOTC, and raises TXQE (and TXDW if any RS). With
//!   [`E1000Model::tx_hung`] it completes nothing.
//! - **Statistics**: GPRC, GPTC clear on read; GORC/GOTC clear both halves
//!   when the high half is read. CRCERRS and MPC do *not* clear on read,
//!   as in QEMU; [`E1000Model::counters_clear_on_read`] gives the manual's
//!   behaviour.
//!
//! **Independence.** Offsets and bits are written out here from the manual
//! and QEMU rather than imported from the driver's `regs` module, so a wrong
//! constant in the driver is not silently mirrored by the model.

#![allow(dead_code)]

use std::collections::BTreeSet;

use e1000::{Config, E1000};
use hal::dma::sim::{FakeDma, PhysMemory, PAGE_SIZE};
use hal::dma::BusAddr;
use hal::sim::{DeviceModel, SimWindow, Width};

// Register offsets [E1000 13.4, 13.5, 13.7].
pub const CTRL: usize = 0x0000;
pub const STATUS: usize = 0x0008;
pub const EERD: usize = 0x0014;
pub const ICR: usize = 0x00c0;
pub const ITR: usize = 0x00c4;
pub const ICS: usize = 0x00c8;
pub const IMS: usize = 0x00d0;
pub const IMC: usize = 0x00d8;
pub const RCTL: usize = 0x0100;
pub const TCTL: usize = 0x0400;
pub const TIPG: usize = 0x0410;
pub const RDBAL: usize = 0x2800;
pub const RDBAH: usize = 0x2804;
pub const RDLEN: usize = 0x2808;
pub const RDH: usize = 0x2810;
pub const RDT: usize = 0x2818;
pub const TDBAL: usize = 0x3800;
pub const TDBAH: usize = 0x3804;
pub const TDLEN: usize = 0x3808;
pub const TDH: usize = 0x3810;
pub const TDT: usize = 0x3818;
pub const CRCERRS: usize = 0x4000;
pub const MPC: usize = 0x4010;
pub const GPRC: usize = 0x4074;
pub const GPTC: usize = 0x4080;
pub const GORCL: usize = 0x4088;
pub const GORCH: usize = 0x408c;
pub const GOTCL: usize = 0x4090;
pub const GOTCH: usize = 0x4094;
pub const RNBC: usize = 0x40a0;
pub const ROC: usize = 0x40ac;
pub const MTA: usize = 0x5200;
pub const RA: usize = 0x5400;

pub const CTRL_SLU: u32 = 1 << 6;
pub const CTRL_ASDE: u32 = 1 << 5;
pub const CTRL_RST: u32 = 1 << 26;
pub const CTRL_SPEED_1000: u32 = 0b10 << 8;
pub const STATUS_FD: u32 = 1 << 0;
pub const STATUS_LU: u32 = 1 << 1;
pub const STATUS_SPEED_1000: u32 = 0b10 << 6;
pub const EERD_START: u32 = 1 << 0;
pub const EERD_DONE: u32 = 1 << 4;
pub const RAH_AV: u32 = 1 << 31;

pub const ICR_TXDW: u32 = 1 << 0;
pub const ICR_TXQE: u32 = 1 << 1;
pub const ICR_LSC: u32 = 1 << 2;
pub const ICR_RXDMT0: u32 = 1 << 4;
pub const ICR_RXO: u32 = 1 << 6;
pub const ICR_RXT0: u32 = 1 << 7;

pub const RCTL_EN: u32 = 1 << 1;
pub const RCTL_SBP: u32 = 1 << 2;
pub const RCTL_UPE: u32 = 1 << 3;
pub const RCTL_MPE: u32 = 1 << 4;
pub const RCTL_LPE: u32 = 1 << 5;
pub const RCTL_BAM: u32 = 1 << 15;
pub const RCTL_BSEX: u32 = 1 << 25;
pub const RCTL_SECRC: u32 = 1 << 26;

pub const TCTL_EN: u32 = 1 << 1;
pub const TCTL_PSP: u32 = 1 << 3;

pub const RXD_DD: u8 = 1 << 0;
pub const RXD_EOP: u8 = 1 << 1;
pub const RXD_IXSM: u8 = 1 << 2;
pub const RXD_ERR_CE: u8 = 1 << 0;
pub const RXD_ERR_RXE: u8 = 1 << 7;

pub const TXD_EOP: u8 = 1 << 0;
pub const TXD_IFCS: u8 = 1 << 1;
pub const TXD_RS: u8 = 1 << 3;
pub const TXD_DEXT: u8 = 1 << 5;
pub const TXD_DD: u8 = 1 << 0;

/// QEMU's `PNPMMIO_SIZE`.
pub const BAR0_SIZE: usize = 0x2_0000;

/// The guest MAC of the standard test machine (DESIGN.md).
pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// What became of a frame offered to the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rx {
    /// Written to the ring.
    Stored,
    /// No free descriptor: counted in MPC.
    Missed,
    /// Not for us (address filter).
    Filtered,
    /// Longer than 1518 bytes without RCTL.LPE (ROC).
    Oversize,
    /// Receiver disabled or link down.
    Disabled,
}

/// A frame the model transmitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxFrame {
    pub bytes: Vec<u8>,
    /// The command byte of its last descriptor.
    pub cmd: u8,
}

/// The e1000.
#[derive(Debug)]
pub struct E1000Model {
    /// The register file, one word per 4 bytes of BAR0.
    pub regs: Vec<u32>,
    memory: PhysMemory,
    /// The EEPROM: words 0..2 hold the address.
    pub eeprom: [u16; 64],
    /// The INTx output.
    pub line: bool,
    /// Rising edges of the line.
    pub assertions: u32,
    /// Frames sent to the wire, in order.
    pub transmitted: Vec<TxFrame>,
    /// Data gathered from descriptors without EOP.
    partial: Vec<u8>,

    /// Transmit completes nothing (TDT writes are ignored).
    pub tx_hung: bool,
    /// CTRL.RST never clears.
    pub reset_sticks: bool,
    /// CTRL.RST resets the registers, as the manual says (QEMU: it does not).
    pub resets_registers: bool,
    /// EERD never reports DONE.
    pub eeprom_dead: bool,
    /// CRCERRS and MPC clear on read, as the manual says (QEMU: they do not).
    pub counters_clear_on_read: bool,
    /// The device is gone: reads float to all ones, writes vanish.
    pub unplugged: bool,

    // What happened, for assertions.
    /// CTRL.RST writes.
    pub resets: u32,
    /// Accesses that were not 32 bits wide.
    pub bad_width_accesses: u32,
    /// DMA that hit no memory.
    pub dma_errors: u32,
    /// Descriptors the model could not use (null buffer, DEXT set).
    pub bad_descriptors: u32,
    /// Every receive buffer address the model wrote a frame into.
    pub rx_buffers_used: BTreeSet<u64>,
    /// Transmit descriptors processed.
    pub tx_descriptors: u32,
}

impl E1000Model {
    /// An e1000 with Ethernet address `mac`, DMA reaching `memory`, link up.
    pub fn new(memory: PhysMemory, mac: [u8; 6]) -> Self {
        let mut eeprom = [0xffff; 64];
        for i in 0..3 {
            eeprom[i] = u16::from_le_bytes([mac[2 * i], mac[2 * i + 1]]);
        }
        let mut model = E1000Model {
            regs: vec![0; BAR0_SIZE / 4],
            memory,
            eeprom,
            line: false,
            assertions: 0,
            transmitted: Vec::new(),
            partial: Vec::new(),
            tx_hung: false,
            reset_sticks: false,
            resets_registers: false,
            eeprom_dead: false,
            counters_clear_on_read: false,
            unplugged: false,
            resets: 0,
            bad_width_accesses: 0,
            dma_errors: 0,
            bad_descriptors: 0,
            rx_buffers_used: BTreeSet::new(),
            tx_descriptors: 0,
        };
        model.power_on();
        model
    }

    /// Power-on register values (QEMU's `mac_reg_init`, trimmed) and the
    /// address loaded from the EEPROM into RAL0/RAH0 with AV.
    fn power_on(&mut self) {
        self.regs.iter_mut().for_each(|r| *r = 0);
        self.regs[CTRL / 4] = CTRL_SLU | CTRL_SPEED_1000;
        self.regs[STATUS / 4] = STATUS_FD | STATUS_LU | STATUS_SPEED_1000;
        let [a, b] = self.eeprom[0].to_le_bytes();
        let [c, d] = self.eeprom[1].to_le_bytes();
        let [e, f] = self.eeprom[2].to_le_bytes();
        self.regs[RA / 4] = u32::from_le_bytes([a, b, c, d]);
        self.regs[RA / 4 + 1] = u32::from_le_bytes([e, f, 0, 0]) | RAH_AV;
        self.line = false;
        self.partial.clear();
    }

    pub fn reg(&self, offset: usize) -> u32 {
        self.regs[offset / 4]
    }

    pub fn set_reg(&mut self, offset: usize, value: u32) {
        self.regs[offset / 4] = value;
    }

    fn bump(&mut self, offset: usize, by: u32) {
        let r = &mut self.regs[offset / 4];
        *r = r.saturating_add(by);
    }

    fn bump64(&mut self, low: usize, by: u64) {
        let value = (u64::from(self.reg(low + 4)) << 32 | u64::from(self.reg(low))).saturating_add(by);
        self.set_reg(low, value as u32);
        self.set_reg(low + 4, (value >> 32) as u32);
    }

    /// Raises interrupt causes (QEMU's `set_ics`).
    pub fn raise(&mut self, causes: u32) {
        self.regs[ICR / 4] |= causes;
        self.update_line();
    }

    fn update_line(&mut self) {
        let level = self.reg(ICR) & self.reg(IMS) != 0;
        if level && !self.line {
            self.assertions += 1;
        }
        self.line = level;
    }

    /// The link goes up or down (the peer, a cable): STATUS.LU and LSC.
    pub fn set_link(&mut self, up: bool) {
        let status = self.reg(STATUS);
        self.set_reg(STATUS, if up { status | STATUS_LU } else { status & !STATUS_LU });
        self.raise(ICR_LSC);
    }

    fn rx_ring_len(&self) -> u32 {
        self.reg(RDLEN) / 16
    }

    fn rx_base(&self) -> u64 {
        u64::from(self.reg(RDBAH)) << 32 | u64::from(self.reg(RDBAL) & !0xf)
    }

    fn tx_base(&self) -> u64 {
        u64::from(self.reg(TDBAH)) << 32 | u64::from(self.reg(TDBAL) & !0xf)
    }

    /// The receive buffer size RCTL selects (QEMU's `e1000x_rxbufsize`).
    fn rx_buffer_size(&self) -> usize {
        let rctl = self.reg(RCTL);
        let bsize = (rctl >> 16) & 3;
        match (rctl & RCTL_BSEX != 0, bsize) {
            (true, 1) => 16384,
            (true, 2) => 8192,
            (true, 3) => 4096,
            (false, 1) => 1024,
            (false, 2) => 512,
            (false, 3) => 256,
            _ => 2048,
        }
    }

    /// Free receive descriptors the device may fill.
    pub fn rx_free(&self) -> u32 {
        let n = self.rx_ring_len();
        if n == 0 {
            return 0;
        }
        (self.reg(RDT) + n - self.reg(RDH)) % n
    }

    /// The multicast table bit for destination `dst` under RCTL.MO
    /// [E1000 13.5.1], as QEMU computes it.
    pub fn mta_bit(&self, dst: &[u8]) -> (usize, u32) {
        let shift = [4, 3, 2, 0][((self.reg(RCTL) >> 12) & 3) as usize];
        let hash = ((u32::from(dst[5]) << 8 | u32::from(dst[4])) >> shift) & 0xfff;
        ((hash >> 5) as usize, hash & 0x1f)
    }

    /// QEMU's `e1000x_rx_group_filter`.
    fn accepts(&self, dst: &[u8]) -> bool {
        let rctl = self.reg(RCTL);
        if dst.iter().all(|&b| b == 0xff) {
            if rctl & RCTL_BAM != 0 {
                return true;
            }
        } else if dst[0] & 1 != 0 {
            if rctl & RCTL_MPE != 0 {
                return true;
            }
        } else if rctl & RCTL_UPE != 0 {
            return true;
        }
        for n in 0..16 {
            let low = self.reg(RA + 8 * n).to_le_bytes();
            let high = self.reg(RA + 8 * n + 4);
            if high & RAH_AV == 0 {
                continue;
            }
            let [e, f, _, _] = high.to_le_bytes();
            if dst == [low[0], low[1], low[2], low[3], e, f] {
                return true;
            }
        }
        let (word, bit) = self.mta_bit(dst);
        self.reg(MTA + 4 * word) & (1 << bit) != 0
    }

    /// A frame arrives from the wire.
    pub fn receive(&mut self, frame: &[u8]) -> Rx {
        self.receive_with_errors(frame, 0)
    }

    /// A frame arrives with the receive error bits `errors` (a bad CRC...),
    /// as hardware storing bad packets reports them.
    pub fn receive_with_errors(&mut self, frame: &[u8], errors: u8) -> Rx {
        let rctl = self.reg(RCTL);
        if rctl & RCTL_EN == 0 || self.reg(STATUS) & STATUS_LU == 0 {
            return Rx::Disabled;
        }
        let mut data = frame.to_vec();
        if data.len() < 60 {
            data.resize(60, 0);
        }
        if data.len() > 1518 && rctl & (RCTL_LPE | RCTL_SBP) == 0 {
            self.bump(ROC, 1);
            return Rx::Oversize;
        }
        if !self.accepts(&data[..6]) {
            return Rx::Filtered;
        }
        let buf_size = self.rx_buffer_size();
        let total = data.len() + if rctl & RCTL_SECRC != 0 { 0 } else { 4 };
        let needed = total.div_ceil(buf_size) as u32;
        if self.rx_free() < needed.max(1) {
            self.bump(MPC, 1);
            self.bump(RNBC, 1);
            self.raise(ICR_RXO);
            return Rx::Missed;
        }
        let n = self.rx_ring_len();
        let mut offset = 0;
        while offset < total {
            let chunk = (total - offset).min(buf_size);
            let desc_addr = BusAddr(self.rx_base() + 16 * u64::from(self.reg(RDH)));
            let mut desc = [0u8; 16];
            if self.memory.read(desc_addr, &mut desc).is_err() {
                self.dma_errors += 1;
                return Rx::Missed;
            }
            let buffer = u64::from_le_bytes(desc[0..8].try_into().unwrap());
            let mut status = desc[12] & !RXD_DD;
            if buffer == 0 {
                self.bad_descriptors += 1;
            } else {
                // The FCS is counted in the length but never stored (QEMU).
                let stored = data.len().saturating_sub(offset).min(chunk);
                if self.memory.write(BusAddr(buffer), &data[offset..offset + stored]).is_err() {
                    self.dma_errors += 1;
                }
                self.rx_buffers_used.insert(buffer);
                desc[8..10].copy_from_slice(&(chunk as u16).to_le_bytes());
                offset += chunk;
                if offset >= total {
                    status |= RXD_EOP | RXD_IXSM;
                    desc[13] |= errors;
                } else {
                    status &= !RXD_EOP;
                }
            }
            desc[12] = status | RXD_DD;
            if self.memory.write(desc_addr, &desc).is_err() {
                self.dma_errors += 1;
            }
            let rdh = (self.reg(RDH) + 1) % n;
            self.set_reg(RDH, rdh);
        }
        self.bump(GPRC, 1);
        self.bump64(GORCL, data.len() as u64 + 4);
        let mut causes = ICR_RXT0;
        // RXDMT0 when the free descriptors fall to RDMTS (1/2, 1/4, 1/8) of the ring.
        let shift = ((rctl >> 8) & 3) + 1;
        if self.rx_free() * 16 <= self.reg(RDLEN) >> shift {
            causes |= ICR_RXDMT0;
        }
        self.raise(causes);
        Rx::Stored
    }

    /// QEMU's `start_xmit`: everything from TDH to TDT.
    fn start_xmit(&mut self) {
        if self.reg(TCTL) & TCTL_EN == 0 || self.tx_hung {
            return;
        }
        let n = self.reg(TDLEN) / 16;
        if n == 0 {
            return;
        }
        let start = self.reg(TDH);
        let mut causes = ICR_TXQE;
        while self.reg(TDH) != self.reg(TDT) {
            let desc_addr = BusAddr(self.tx_base() + 16 * u64::from(self.reg(TDH)));
            let mut desc = [0u8; 16];
            if self.memory.read(desc_addr, &mut desc).is_err() {
                self.dma_errors += 1;
                break;
            }
            self.tx_descriptors += 1;
            let cmd = desc[11];
            if cmd & TXD_DEXT != 0 {
                self.bad_descriptors += 1;
            } else {
                let addr = u64::from_le_bytes(desc[0..8].try_into().unwrap());
                let len = usize::from(u16::from_le_bytes([desc[8], desc[9]]));
                let mut data = vec![0; len];
                if self.memory.read(BusAddr(addr), &mut data).is_err() {
                    self.dma_errors += 1;
                }
                self.partial.extend_from_slice(&data);
                if cmd & TXD_EOP != 0 {
                    let bytes = std::mem::take(&mut self.partial);
                    self.bump(GPTC, 1);
                    self.bump64(GOTCL, bytes.len() as u64 + 4);
                    self.transmitted.push(TxFrame { bytes, cmd });
                }
            }
            if cmd & TXD_RS != 0 {
                desc[12] |= TXD_DD;
                if self.memory.write(BusAddr(desc_addr.0 + 12), &desc[12..13]).is_err() {
                    self.dma_errors += 1;
                }
                causes |= ICR_TXDW;
            }
            let tdh = (self.reg(TDH) + 1) % n;
            self.set_reg(TDH, tdh);
            if tdh == start {
                break; // a bogus TDT: QEMU stops after one lap too
            }
        }
        self.raise(causes);
    }

    /// Reads a register that clears on read.
    fn take(&mut self, offset: usize) -> u32 {
        std::mem::take(&mut self.regs[offset / 4])
    }
}

impl DeviceModel for E1000Model {
    fn read(&mut self, offset: usize, width: Width) -> u64 {
        if self.unplugged {
            return u64::MAX;
        }
        if width != Width::U32 {
            self.bad_width_accesses += 1;
            return 0;
        }
        let value = match offset {
            ICR => {
                let value = self.take(ICR);
                self.update_line();
                value
            }
            ICS => self.reg(ICR),
            EERD => {
                let eerd = self.reg(EERD);
                if eerd & EERD_START == 0 || self.eeprom_dead {
                    eerd
                } else {
                    let word = self.eeprom.get((eerd >> 8 & 0xff) as usize).copied().unwrap_or(0);
                    (eerd & !EERD_START) | EERD_DONE | u32::from(word) << 16
                }
            }
            GPRC | GPTC => self.take(offset),
            GORCH | GOTCH => {
                self.set_reg(offset - 4, 0);
                self.take(offset)
            }
            CRCERRS | MPC if self.counters_clear_on_read => self.take(offset),
            _ => self.reg(offset),
        };
        value.into()
    }

    fn write(&mut self, offset: usize, width: Width, value: u64) {
        if self.unplugged {
            return;
        }
        if width != Width::U32 {
            self.bad_width_accesses += 1;
            return;
        }
        let value = value as u32;
        match offset {
            CTRL => {
                let reset = value & CTRL_RST != 0;
                if reset {
                    self.resets += 1;
                }
                if reset && self.resets_registers {
                    // The rest of the write is lost with the reset.
                    self.power_on();
                    if self.reset_sticks {
                        self.regs[CTRL / 4] |= CTRL_RST;
                    }
                } else {
                    self.set_reg(CTRL, if self.reset_sticks { value } else { value & !CTRL_RST });
                }
            }
            ICR => {
                self.regs[ICR / 4] &= !value;
                self.update_line();
            }
            ICS => self.raise(value),
            IMS => {
                self.regs[IMS / 4] |= value;
                self.update_line();
            }
            IMC => {
                self.regs[IMS / 4] &= !value;
                self.update_line();
            }
            RDLEN | TDLEN => self.set_reg(offset, value & 0xfff80),
            RDH | RDT | TDH | ITR => self.set_reg(offset, value & 0xffff),
            TDT | TCTL => {
                self.set_reg(offset, if offset == TDT { value & 0xffff } else { value });
                self.start_xmit();
            }
            STATUS | GPRC | GPTC | GORCL | GORCH | GOTCL | GOTCH | CRCERRS | MPC => {} // read-only
            _ => self.set_reg(offset, value),
        }
    }
}

// ---------------------------------------------------------------------------
// The test rig: a model behind a window, fake DMA, and a driver on top.

pub type Window = SimWindow<E1000Model>;
pub type Nic<'a> = E1000<&'a Window, FakeDma>;

/// Fake memory of `pages` pages and an e1000 reaching it.
pub fn setup(pages: usize) -> (FakeDma, Window) {
    let dma = FakeDma::new(pages * PAGE_SIZE);
    let model = E1000Model::new(dma.memory(), MAC);
    (dma, SimWindow::new(model, BAR0_SIZE))
}

/// A small configuration: 16-entry rings.
pub fn small() -> Config {
    Config { rx_ring: 16, tx_ring: 16, ..Config::default() }
}

/// A driver bound to `w` with `config`; the window's log starts empty.
pub fn probe(w: &Window, dma: FakeDma, config: Config) -> Nic<'_> {
    let nic = E1000::new(w, dma, config).expect("the model is an e1000");
    w.clear_log();
    nic
}

/// An Ethernet frame to `dst` from a peer, `len` bytes, its payload
/// stamped with `seq` so every frame differs.
pub fn frame(dst: [u8; 6], seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]);
    f.extend_from_slice(&[0x88, 0xb5]); // local experimental EtherType
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2_654_435_761);
    while f.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        f.push((x >> 16) as u8);
    }
    f.truncate(len);
    f
}

/// A frame for us.
pub fn to_us(seq: u32, len: usize) -> Vec<u8> {
    frame(MAC, seq, len)
}

/// Polls with `budget`, collecting the frames delivered.
pub fn poll(nic: &mut Nic<'_>, budget: usize) -> (usize, Vec<Vec<u8>>) {
    let mut got = Vec::new();
    let n = nic.poll_rx(budget, |f| got.push(f.to_vec()));
    (n, got)
}

/// The model saw nothing misprogrammed.
pub fn assert_clean(w: &Window) {
    w.with_model(|m| {
        assert_eq!(m.bad_width_accesses, 0, "register access of a width QEMU does not implement");
        assert_eq!(m.dma_errors, 0, "DMA to an address with no memory");
        assert_eq!(m.bad_descriptors, 0, "a descriptor the device could not use");
    });
}
