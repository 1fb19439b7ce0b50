//! A simulated PCI segment for host tests (feature `sim`).
//!
//! [`SimPci`] implements [`ConfigAccess`] over a tree of simulated functions
//! built with a small builder:
//!
//! ```
//! use pci::sim::{SimBar, SimFunction, SimPci};
//! let pci = SimPci::new()
//!     .device(0, 0, SimFunction::endpoint(0x8086, 0x29c0).class(0x06, 0x00, 0x00))
//!     .bridge(1, 0, SimFunction::pcie_root_port(), |bus| {
//!         bus.device(0, 0, SimFunction::endpoint(0x1b36, 0x0010).class(0x01, 0x08, 0x02)
//!             .bar(0, SimBar::mem64(0x4000)))
//!     });
//! # let _ = pci;
//! ```
//!
//! # What it models, the way QEMU does
//!
//! Each function is 4 KiB of configuration bytes plus two masks, as in
//! QEMU's `hw/pci/pci.c`: a **write mask** (which bits software may change)
//! and a **write-1-to-clear mask**. A write stores `value & wmask` over the
//! old bits and then clears the old bits where `value & w1c` is set. That
//! alone gives the behaviours the crate relies on:
//!
//! - **BAR sizing**: a BAR of size *S* has address bits below *S* and its
//!   flag bits read-only, so writing all ones reads back `!(S − 1) | flags`;
//! - **read-only identity**: vendor, class, header type, capability
//!   structure, Multiple Message Capable…;
//! - **RW1C status**: writing back a status bit that reads 1 clears it,
//!   which catches careless read-modify-writes of the Command register.
//!
//! **Routing**: a configuration access for bus 0 reaches the root bus; for
//! any other bus it goes down through the bridge whose secondary..=
//! subordinate range (its *current* register values) holds it, until a
//! bridge's secondary equals it. A bus nobody claims is unreachable:
//! reads return all ones and writes vanish (a master abort, counted). So an
//! enumeration that forgets to number a bridge finds nothing behind it, as
//! on real hardware. Offsets at 0x100 and above read all ones unless the
//! function is PCI Express (QEMU's `pcie_mmcfg_data_read` does the same for
//! conventional functions).
//!
//! **Checks a test can read back** ([`SimStats`]): master aborts, and BAR
//! writes while the function decodes that BAR's space (sizing must turn
//! decode off). [`SimPci::writes`] logs every write that reached a function.
//!
//! **Independence**: register offsets here are written out from the specs
//! (with the section in a comment), not imported from [`config::regs`] —
//! like the `apic` crate's device models — so a wrong constant in the crate
//! is not silently mirrored by the model.
//!
//! [`SimMsixTable`] and [`SimPba`] model an MSI-X table and PBA in BAR
//! memory (every entry starts masked; updates to an unmasked entry are
//! counted as unsafe).
//!
//! Builder methods panic on nonsense (a BAR size that is not a power of
//! two, capabilities overflowing the space): that is a bug in the test.
//!
//! [`config::regs`]: crate::config::regs

use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use crate::config::{Bdf, ConfigAccess};
use crate::header::IntxPin;
use crate::msi::MsixTable;

const SPACE: usize = 4096;
const LEGACY_SPACE: usize = 256;
const ALL_ONES: u32 = 0xffff_ffff;

// Offsets, from the specs (see "Independence" above).
const COMMAND: usize = 0x04; // PCI 3.0 §6.2.2
const STATUS: usize = 0x06; // PCI 3.0 §6.2.3
const CLASS_REV: usize = 0x08; // PCI 3.0 §6.2.1
const HEADER_TYPE: usize = 0x0e;
const BARS: usize = 0x10; // PCI 3.0 §6.2.5.1
const SUBSYSTEM: usize = 0x2c; // type 0
const CAP_PTR: usize = 0x34; // PCI 3.0 §6.7
const INT_LINE: usize = 0x3c;
const INT_PIN: usize = 0x3d;
const BUS_NUMBERS: usize = 0x18; // PPB 1.2 §3.2.5.2-4
const IO_BASE: usize = 0x1c; // PPB 1.2 §3.2.5.6
const SEC_STATUS: usize = 0x1e; // PPB 1.2 §3.2.5.7
const MEM_BASE: usize = 0x20; // PPB 1.2 §3.2.5.8
const PREF_BASE: usize = 0x24; // PPB 1.2 §3.2.5.9
const PREF_UPPER: usize = 0x28; // PPB 1.2 §3.2.5.10
const IO_UPPER: usize = 0x30; // PPB 1.2 §3.2.5.11
const BRIDGE_CONTROL: usize = 0x3e; // PPB 1.2 §3.2.5.18
const STATUS_CAP_LIST: u16 = 1 << 4;
/// Status bits 8, 11–15 are RW1C.
const STATUS_W1C: u16 = 0xf900;
/// Command bits software may set: I/O, memory, bus master, parity, SERR,
/// INTx disable.
const COMMAND_WMASK: u16 = 0x0547;
const CMD_IO: u16 = 1 << 0;
const CMD_MEM: u16 = 1 << 1;

/// One BAR of a simulated function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimBar {
    /// The initial low dword (flags and address).
    low: u32,
    /// Writable bits of the low dword.
    low_wmask: u32,
    /// For a 64-bit BAR: initial high dword and its writable bits.
    high: Option<(u32, u32)>,
}

impl SimBar {
    fn sized(size: u64, min: u64, flags: u32, flag_bits: u32, wide: bool) -> Self {
        assert!(size.is_power_of_two() && size >= min, "sim: BAR size {size:#x} must be a power of two >= {min}");
        let mask = !(size - 1);
        if wide {
            SimBar { low: flags, low_wmask: mask as u32 & !flag_bits, high: Some((0, (mask >> 32) as u32)) }
        } else {
            assert!(size <= 1 << 31, "sim: 32-bit BAR of {size:#x}");
            SimBar { low: flags, low_wmask: mask as u32 & !flag_bits, high: None }
        }
    }

    /// An I/O BAR of `size` ports.
    pub fn io(size: u32) -> Self {
        Self::sized(u64::from(size), 4, 0x1, 0x3, false)
    }

    /// A 32-bit non-prefetchable memory BAR.
    pub fn mem32(size: u32) -> Self {
        Self::sized(u64::from(size), 16, 0x0, 0xf, false)
    }

    /// A 32-bit prefetchable memory BAR.
    pub fn mem32_prefetchable(size: u32) -> Self {
        Self::sized(u64::from(size), 16, 0x8, 0xf, false)
    }

    /// A 64-bit non-prefetchable memory BAR (takes two slots).
    pub fn mem64(size: u64) -> Self {
        Self::sized(size, 16, 0x4, 0xf, true)
    }

    /// A 64-bit prefetchable memory BAR (takes two slots).
    pub fn mem64_prefetchable(size: u64) -> Self {
        Self::sized(size, 16, 0xc, 0xf, true)
    }

    /// A BAR with raw contents: `value` initially, `wmask` writable.
    pub fn raw(value: u32, wmask: u32) -> Self {
        SimBar { low: value, low_wmask: wmask, high: None }
    }

    /// The same BAR, with firmware having assigned `addr`.
    pub fn at(mut self, addr: u64) -> Self {
        self.low = (self.low & !self.low_wmask) | (addr as u32 & self.low_wmask);
        if let Some((_, wmask)) = self.high {
            self.high = Some(((addr >> 32) as u32 & wmask, wmask));
        }
        self
    }
}

/// A simulated function: its configuration bytes and masks, built up with
/// the methods below.
#[derive(Clone, Debug)]
pub struct SimFunction {
    config: Vec<u8>,
    wmask: Vec<u8>,
    w1c: Vec<u8>,
    express: bool,
    bridge: bool,
    /// Which BAR slots decode I/O (`Some(true)`) or memory (`Some(false)`).
    bar_space: [Option<bool>; 6],
    last_cap: Option<usize>,
    cap_cursor: usize,
    last_ext: Option<usize>,
    ext_cursor: usize,
}

impl SimFunction {
    fn blank(vendor: u16, device: u16, header_type: u8) -> Self {
        let mut f = SimFunction {
            config: vec![0; SPACE],
            wmask: vec![0; SPACE],
            w1c: vec![0; SPACE],
            express: false,
            bridge: header_type == 1,
            bar_space: [None; 6],
            last_cap: None,
            cap_cursor: 0x40,
            last_ext: None,
            ext_cursor: 0x100,
        };
        f.set16(0x00, vendor);
        f.set16(0x02, device);
        f.config[HEADER_TYPE] = header_type;
        f.set_wmask16(COMMAND, COMMAND_WMASK);
        f.set_w1c16(STATUS, STATUS_W1C);
        f.wmask[0x0c] = 0xff; // cache line size
        f.wmask[0x0d] = 0xff; // latency timer
        f.wmask[INT_LINE] = 0xff;
        f
    }

    /// A type 0 function with this vendor and device ID and class 0.
    pub fn endpoint(vendor: u16, device: u16) -> Self {
        Self::blank(vendor, device, 0)
    }

    /// A type 1 PCI-to-PCI bridge (class 0x0604) with bus numbers 0/0/0,
    /// closed-at-reset windows (all zero, as QEMU resets them), a 32-bit I/O
    /// window and a 64-bit prefetchable window, and no BARs.
    pub fn pci_bridge(vendor: u16, device: u16) -> Self {
        let mut f = Self::blank(vendor, device, 1).class(0x06, 0x04, 0x00);
        for at in BUS_NUMBERS..BUS_NUMBERS + 4 {
            f.wmask[at] = 0xff;
        }
        // I/O base/limit: bits 7:4 writable, bits 3:0 = 1 (32-bit I/O).
        f.config[IO_BASE] = 0x01;
        f.config[IO_BASE + 1] = 0x01;
        f.wmask[IO_BASE] = 0xf0;
        f.wmask[IO_BASE + 1] = 0xf0;
        f.set_w1c16(SEC_STATUS, STATUS_W1C);
        f.set_wmask16(MEM_BASE, 0xfff0);
        f.set_wmask16(MEM_BASE + 2, 0xfff0);
        // Prefetchable base/limit: bits 3:0 = 1 (64-bit).
        f.set16(PREF_BASE, 0x0001);
        f.set16(PREF_BASE + 2, 0x0001);
        f.set_wmask16(PREF_BASE, 0xfff0);
        f.set_wmask16(PREF_BASE + 2, 0xfff0);
        for at in PREF_UPPER..PREF_UPPER + 8 {
            f.wmask[at] = 0xff;
        }
        for at in IO_UPPER..IO_UPPER + 4 {
            f.wmask[at] = 0xff;
        }
        f.set_wmask16(BRIDGE_CONTROL, 0x007f);
        f
    }

    /// QEMU's `pci-bridge` (1b36:0001): a conventional PCI-to-PCI bridge.
    pub fn qemu_pci_bridge() -> Self {
        Self::pci_bridge(0x1b36, 0x0001)
    }

    /// QEMU's `pcie-root-port` (1b36:000c): a bridge with a PCI Express
    /// capability saying "root port".
    pub fn pcie_root_port() -> Self {
        Self::pci_bridge(0x1b36, 0x000c).pcie(0x4)
    }

    /// Sets the class code.
    pub fn class(mut self, base: u8, sub: u8, prog_if: u8) -> Self {
        self.config[CLASS_REV + 1] = prog_if;
        self.config[CLASS_REV + 2] = sub;
        self.config[CLASS_REV + 3] = base;
        self
    }

    /// Sets the revision ID.
    pub fn revision(mut self, revision: u8) -> Self {
        self.config[CLASS_REV] = revision;
        self
    }

    /// Sets the subsystem IDs: in the type 0 header, or, for a bridge, in a
    /// Bridge Subsystem Vendor ID capability (ID 0x0d).
    pub fn subsystem(mut self, vendor: u16, device: u16) -> Self {
        if self.bridge {
            let at = self.add_cap(0x0d, 8);
            self.set16(at + 4, vendor);
            self.set16(at + 6, device);
        } else {
            self.set16(SUBSYSTEM, vendor);
            self.set16(SUBSYSTEM + 2, device);
        }
        self
    }

    /// Sets the multi-function bit of the header type.
    pub fn multi_function(mut self) -> Self {
        self.config[HEADER_TYPE] |= 0x80;
        self
    }

    /// Sets the Interrupt Pin register.
    pub fn interrupt_pin(mut self, pin: IntxPin) -> Self {
        self.config[INT_PIN] = pin.number();
        self
    }

    /// Sets the Interrupt Line register (as firmware would).
    pub fn interrupt_line(mut self, line: u8) -> Self {
        self.config[INT_LINE] = line;
        self
    }

    /// Sets the Command register (as firmware would), within its writable
    /// bits.
    pub fn command(mut self, bits: u16) -> Self {
        self.set16(COMMAND, bits & COMMAND_WMASK);
        self
    }

    /// Sets Status bits directly (e.g. a latched RW1C error bit).
    pub fn status_bits(mut self, bits: u16) -> Self {
        let old = self.get16(STATUS);
        self.set16(STATUS, old | bits);
        self
    }

    /// Sets a bridge's bus numbers (as firmware would).
    pub fn bus_numbers(mut self, primary: u8, secondary: u8, subordinate: u8) -> Self {
        self.config[BUS_NUMBERS] = primary;
        self.config[BUS_NUMBERS + 1] = secondary;
        self.config[BUS_NUMBERS + 2] = subordinate;
        self
    }

    /// Installs BAR `index` (a 64-bit BAR also takes `index + 1`).
    pub fn bar(mut self, index: usize, bar: SimBar) -> Self {
        let slots = if self.bridge { 2 } else { 6 };
        let wide = bar.high.is_some();
        assert!(index + usize::from(wide) < slots, "sim: BAR{index} does not fit the header");
        let at = BARS + 4 * index;
        self.set32(at, bar.low);
        self.set_wmask32(at, bar.low_wmask);
        let io = bar.low & 1 != 0;
        self.bar_space[index] = Some(io);
        if let Some((high, wmask)) = bar.high {
            self.set32(at + 4, high);
            self.set_wmask32(at + 4, wmask);
            self.bar_space[index + 1] = Some(false);
        }
        self
    }

    /// Marks the function PCI Express: offsets 0x100 and up are readable
    /// (zero unless extended capabilities are added).
    pub fn express(mut self) -> Self {
        self.express = true;
        self
    }

    /// Appends a standard capability of `len` bytes (zero body) and returns
    /// its offset. Capabilities are laid out from 0x40 in call order, each
    /// starting at the next multiple of 4, and linked in that order.
    fn add_cap(&mut self, id: u8, len: usize) -> usize {
        let at = self.cap_cursor;
        assert!(at + len <= LEGACY_SPACE, "sim: capabilities overflow the 256-byte space");
        self.config[at] = id;
        self.config[at + 1] = 0;
        match self.last_cap {
            Some(prev) => self.config[prev + 1] = at as u8,
            None => {
                self.config[CAP_PTR] = at as u8;
                let status = self.get16(STATUS);
                self.set16(STATUS, status | STATUS_CAP_LIST);
            }
        }
        self.last_cap = Some(at);
        self.cap_cursor = (at + len + 3) & !3;
        at
    }

    /// Appends a capability with ID `id` and a `len`-byte (zero) body.
    pub fn capability(mut self, id: u8, len: usize) -> Self {
        self.add_cap(id, len.max(2));
        self
    }

    /// Appends a power management capability (ID 0x01, 8 bytes).
    pub fn power_management(mut self) -> Self {
        let at = self.add_cap(0x01, 8);
        self.set16(at + 2, 0x0003); // PMC: version 3
        self.set_wmask16(at + 4, 0x0003); // PMCSR power state
        self
    }

    /// Appends an MSI capability (ID 0x05, PCI 3.0 §6.8.1): `vectors_log2`
    /// is Multiple Message Capable; the layout follows `is_64bit` and
    /// `per_vector_masking`.
    pub fn msi(mut self, vectors_log2: u8, is_64bit: bool, per_vector_masking: bool) -> Self {
        assert!(vectors_log2 <= 5, "sim: MSI supports at most 32 vectors");
        let len = match (is_64bit, per_vector_masking) {
            (false, false) => 0x0c,
            (true, false) => 0x10,
            (false, true) => 0x14,
            (true, true) => 0x18,
        };
        let at = self.add_cap(0x05, len);
        let mut control = u16::from(vectors_log2) << 1;
        if is_64bit {
            control |= 1 << 7;
        }
        if per_vector_masking {
            control |= 1 << 8;
        }
        self.set16(at + 2, control);
        self.set_wmask16(at + 2, 0x0071); // enable, Multiple Message Enable
        self.set_wmask32(at + 4, 0xffff_fffc);
        let data = if is_64bit {
            self.set_wmask32(at + 8, 0xffff_ffff);
            at + 0x0c
        } else {
            at + 0x08
        };
        self.set_wmask16(data, 0xffff);
        if per_vector_masking {
            let vectors = 1u64 << vectors_log2;
            self.set_wmask32(data + 4, ((1u64 << vectors) - 1) as u32);
        }
        self
    }

    /// Appends an MSI-X capability (ID 0x11, PCI 3.0 §6.8.2).
    pub fn msix(mut self, table_size: u16, table_bir: u8, table_offset: u32, pba_bir: u8, pba_offset: u32) -> Self {
        assert!((1..=2048).contains(&table_size), "sim: MSI-X table size {table_size}");
        let at = self.add_cap(0x11, 12);
        self.set16(at + 2, table_size - 1);
        self.set_wmask16(at + 2, 0xc000); // enable, function mask
        self.set32(at + 4, (table_offset & !7) | u32::from(table_bir));
        self.set32(at + 8, (pba_offset & !7) | u32::from(pba_bir));
        self
    }

    /// Appends a PCI Express capability (ID 0x10, PCIe §7.5.3) with device/
    /// port type `port_type`, and marks the function PCI Express.
    pub fn pcie(mut self, port_type: u8) -> Self {
        let at = self.add_cap(0x10, 0x3c);
        self.set16(at + 2, 0x0002 | u16::from(port_type & 0xf) << 4);
        self.express = true;
        self
    }

    /// Appends an extended capability (PCIe §7.6) at the next free offset
    /// from 0x100 and marks the function PCI Express.
    pub fn ext_capability(mut self, id: u16, version: u8, len: usize) -> Self {
        let at = self.ext_cursor;
        assert!(at + len.max(4) <= SPACE, "sim: extended capabilities overflow");
        self.set32(at, u32::from(id) | u32::from(version & 0xf) << 16);
        if let Some(prev) = self.last_ext {
            let header = self.get32(prev);
            self.set32(prev, (header & 0x000f_ffff) | (at as u32) << 20);
        }
        self.last_ext = Some(at);
        self.ext_cursor = (at + len.max(4) + 3) & !3;
        self.express = true;
        self
    }

    /// Overwrites a byte, bypassing the masks (to build broken devices).
    pub fn poke8(mut self, offset: usize, value: u8) -> Self {
        self.config[offset] = value;
        self
    }

    /// Overwrites a dword, bypassing the masks.
    pub fn poke32(mut self, offset: usize, value: u32) -> Self {
        self.set32(offset, value);
        self
    }

    fn get16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.config[at], self.config[at + 1]])
    }
    fn get32(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.config[at], self.config[at + 1], self.config[at + 2], self.config[at + 3]])
    }
    fn set16(&mut self, at: usize, v: u16) {
        self.config[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn set32(&mut self, at: usize, v: u32) {
        self.config[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn set_wmask16(&mut self, at: usize, v: u16) {
        self.wmask[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn set_wmask32(&mut self, at: usize, v: u32) {
        self.wmask[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn set_w1c16(&mut self, at: usize, v: u16) {
        self.w1c[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn read(&self, offset: usize) -> u32 {
        if offset >= LEGACY_SPACE && !self.express {
            return ALL_ONES;
        }
        self.get32(offset)
    }

    /// QEMU's `pci_default_write_config`, byte by byte. Returns whether the
    /// write touched a BAR whose space is being decoded.
    fn write(&mut self, offset: usize, value: u32) -> bool {
        if offset >= LEGACY_SPACE && !self.express {
            return false;
        }
        let slots = if self.bridge { 2 } else { 6 };
        let mut live_bar = false;
        if (BARS..BARS + 4 * slots).contains(&offset) {
            let command = self.get16(COMMAND);
            live_bar = match self.bar_space[(offset - BARS) / 4] {
                Some(true) => command & CMD_IO != 0,
                Some(false) => command & CMD_MEM != 0,
                None => false,
            };
        }
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            let at = offset + i;
            let old = self.config[at];
            let new = (old & !self.wmask[at]) | (byte & self.wmask[at]);
            self.config[at] = new & !(byte & self.w1c[at]);
        }
        live_bar
    }
}

/// A handle to a function in a [`SimPci`], for inspecting it regardless of
/// bus numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimId(usize);

/// One logged configuration write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimWrite {
    /// The address as the access named it.
    pub bdf: Bdf,
    /// The dword offset.
    pub offset: u16,
    /// The value written.
    pub value: u32,
}

/// The simulator's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Dword reads.
    pub reads: u64,
    /// Dword writes.
    pub writes: u64,
    /// Accesses nobody answered (no route to the bus, or no function).
    pub master_aborts: u64,
    /// Writes to a BAR while the function decoded its space.
    pub bar_writes_while_decoding: u64,
}

#[derive(Debug)]
struct Node {
    f: SimFunction,
    device: u8,
    function: u8,
    /// The physical bus behind this bridge.
    child: Option<usize>,
}

#[derive(Debug, Default)]
struct State {
    nodes: Vec<Node>,
    /// Physical buses: the nodes on each. Bus 0 is the root.
    buses: Vec<Vec<usize>>,
    log: Vec<SimWrite>,
    stats: SimStats,
}

impl State {
    fn add(&mut self, bus: usize, device: u8, function: u8, f: SimFunction) -> usize {
        assert!(device < 32 && function < 8, "sim: bad device {device}.{function}");
        assert!(
            !self.buses[bus].iter().any(|&n| self.nodes[n].device == device && self.nodes[n].function == function),
            "sim: {device}.{function} added twice"
        );
        let child = if f.bridge {
            self.buses.push(Vec::new());
            Some(self.buses.len() - 1)
        } else {
            None
        };
        self.nodes.push(Node { f, device, function, child });
        let id = self.nodes.len() - 1;
        self.buses[bus].push(id);
        id
    }

    /// The physical bus that bus number `number` reaches, following the
    /// bridges' current registers.
    fn route(&self, number: u8) -> Option<usize> {
        if number == 0 {
            return Some(0);
        }
        let mut bus = 0;
        // Each step goes one bridge deeper; the tree has fewer levels than
        // buses.
        for _ in 0..self.buses.len() {
            let next = self.buses[bus].iter().find_map(|&n| {
                let node = &self.nodes[n];
                let child = node.child?;
                let (sec, sub) = (node.f.config[BUS_NUMBERS + 1], node.f.config[BUS_NUMBERS + 2]);
                (sec != 0 && sec <= number && number <= sub).then_some((child, sec))
            });
            match next {
                None => return None,
                Some((child, sec)) if sec == number => return Some(child),
                Some((child, _)) => bus = child,
            }
        }
        None
    }

    fn target(&self, bdf: Bdf) -> Option<usize> {
        let bus = self.route(bdf.bus)?;
        self.buses[bus]
            .iter()
            .copied()
            .find(|&n| self.nodes[n].device == bdf.device && self.nodes[n].function == bdf.function)
    }
}

/// A simulated PCI segment (module docs).
#[derive(Debug)]
pub struct SimPci {
    segment: u16,
    state: RefCell<State>,
}

impl Default for SimPci {
    fn default() -> Self {
        Self::new()
    }
}

/// A bus being populated inside [`SimPci::bridge`]'s closure.
pub struct SimBus<'a> {
    state: &'a mut State,
    bus: usize,
}

impl SimBus<'_> {
    /// Adds a function at `device.function` on this bus.
    pub fn device(self, device: u8, function: u8, f: SimFunction) -> Self {
        self.state.add(self.bus, device, function, f);
        self
    }

    /// Adds a bridge at `device.function` on this bus, and populates its
    /// secondary bus with `children`.
    pub fn bridge<F>(self, device: u8, function: u8, f: SimFunction, children: F) -> Self
    where
        F: for<'b> FnOnce(SimBus<'b>) -> SimBus<'b>,
    {
        assert!(f.bridge, "sim: bridge() needs a type 1 function");
        let id = self.state.add(self.bus, device, function, f);
        let child = self.state.nodes[id].child.unwrap_or_default();
        children(SimBus { state: &mut *self.state, bus: child });
        self
    }
}

impl SimPci {
    /// An empty segment 0.
    pub fn new() -> Self {
        SimPci { segment: 0, state: RefCell::new(State { buses: vec![Vec::new()], ..State::default() }) }
    }

    /// The same simulator answering as segment `segment` (other segments
    /// read all ones).
    pub fn segment(mut self, segment: u16) -> Self {
        self.segment = segment;
        self
    }

    /// Adds a function on the root bus.
    pub fn device(mut self, device: u8, function: u8, f: SimFunction) -> Self {
        self.state.get_mut().add(0, device, function, f);
        self
    }

    /// Alias of [`device`](Self::device).
    pub fn root_device(self, device: u8, function: u8, f: SimFunction) -> Self {
        self.device(device, function, f)
    }

    /// Adds a bridge on the root bus and populates its secondary bus.
    pub fn bridge<F>(mut self, device: u8, function: u8, f: SimFunction, children: F) -> Self
    where
        F: for<'b> FnOnce(SimBus<'b>) -> SimBus<'b>,
    {
        SimBus { state: self.state.get_mut(), bus: 0 }.bridge(device, function, f, children);
        self
    }

    /// The `n`th function (in build order) with this vendor and device ID.
    pub fn find_nth(&self, vendor: u16, device: u16, n: usize) -> Option<SimId> {
        let id = u32::from(device) << 16 | u32::from(vendor);
        let state = self.state.borrow();
        state.nodes.iter().enumerate().filter(|(_, node)| node.f.get32(0) == id).nth(n).map(|(i, _)| SimId(i))
    }

    /// The first function with this vendor and device ID.
    pub fn find(&self, vendor: u16, device: u16) -> Option<SimId> {
        self.find_nth(vendor, device, 0)
    }

    /// Reads a dword of a function directly, whatever the routing.
    pub fn raw_read32(&self, id: SimId, offset: u16) -> u32 {
        self.state.borrow().nodes[id.0].f.get32(usize::from(offset & 0xffc))
    }

    /// Overwrites a dword of a function directly, bypassing masks and
    /// routing (to corrupt a device after building it).
    pub fn raw_write32(&self, id: SimId, offset: u16, value: u32) {
        self.state.borrow_mut().nodes[id.0].f.set32(usize::from(offset & 0xffc), value);
    }

    /// Every configuration write that reached a function, in order.
    pub fn writes(&self) -> Vec<SimWrite> {
        self.state.borrow().log.clone()
    }

    /// Forgets the write log.
    pub fn clear_writes(&self) {
        self.state.borrow_mut().log.clear();
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.state.borrow().stats
    }
}

impl ConfigAccess for SimPci {
    fn read32(&self, addr: Bdf, offset: u16) -> u32 {
        let mut state = self.state.borrow_mut();
        state.stats.reads += 1;
        let target = if addr.segment == self.segment { state.target(addr) } else { None };
        match target {
            Some(n) if usize::from(offset) < SPACE => state.nodes[n].f.read(usize::from(offset & !3)),
            _ => {
                state.stats.master_aborts += 1;
                ALL_ONES
            }
        }
    }

    fn write32(&self, addr: Bdf, offset: u16, value: u32) {
        let mut state = self.state.borrow_mut();
        state.stats.writes += 1;
        let target = if addr.segment == self.segment { state.target(addr) } else { None };
        match target {
            Some(n) if usize::from(offset) < SPACE => {
                let offset = offset & !3;
                if state.nodes[n].f.write(usize::from(offset), value) {
                    state.stats.bar_writes_while_decoding += 1;
                }
                state.log.push(SimWrite { bdf: addr, offset, value });
            }
            _ => state.stats.master_aborts += 1,
        }
    }
}

/// A simulated MSI-X table in BAR memory (PCI 3.0 §6.8.2): 16 bytes per
/// entry, every Vector Control mask bit set at reset.
#[derive(Debug)]
pub struct SimMsixTable {
    words: RefCell<Vec<u32>>,
    log: RefCell<Vec<(usize, u32)>>,
    unsafe_updates: Cell<u64>,
    out_of_range: Cell<u64>,
}

impl SimMsixTable {
    /// A table of `entries` entries, all masked, address and data zero.
    pub fn new(entries: u16) -> Self {
        let mut words = vec![0; usize::from(entries) * 4];
        for entry in words.chunks_mut(4) {
            entry[3] = 1; // Vector Control: masked
        }
        SimMsixTable {
            words: RefCell::new(words),
            log: RefCell::new(Vec::new()),
            unsafe_updates: Cell::new(0),
            out_of_range: Cell::new(0),
        }
    }

    /// Every write, as (byte offset, value), in order.
    pub fn writes(&self) -> Vec<(usize, u32)> {
        self.log.borrow().clone()
    }

    /// Address or data writes made while the entry was unmasked (undefined
    /// behaviour on real hardware, PCI 3.0 §6.8.3.5).
    pub fn unsafe_updates(&self) -> u64 {
        self.unsafe_updates.get()
    }

    /// Accesses beyond the table.
    pub fn out_of_range(&self) -> u64 {
        self.out_of_range.get()
    }
}

impl MsixTable for SimMsixTable {
    fn read32(&self, offset: usize) -> u32 {
        match self.words.borrow().get(offset / 4) {
            Some(&w) if offset.is_multiple_of(4) => w,
            _ => {
                self.out_of_range.set(self.out_of_range.get() + 1);
                ALL_ONES
            }
        }
    }

    fn write32(&self, offset: usize, value: u32) {
        let mut words = self.words.borrow_mut();
        if !offset.is_multiple_of(4) || offset / 4 >= words.len() {
            self.out_of_range.set(self.out_of_range.get() + 1);
            return;
        }
        let word = offset / 4;
        let entry = word / 4 * 4;
        if word % 4 != 3 && words[entry + 3] & 1 == 0 {
            self.unsafe_updates.set(self.unsafe_updates.get() + 1);
        }
        words[word] = value;
        self.log.borrow_mut().push((offset, value));
    }
}

/// A simulated MSI-X Pending Bit Array: read-only to software.
#[derive(Debug)]
pub struct SimPba {
    words: RefCell<Vec<u32>>,
}

impl SimPba {
    /// A PBA for `entries` vectors, nothing pending.
    pub fn new(entries: u16) -> Self {
        SimPba { words: RefCell::new(vec![0; usize::from(entries).div_ceil(64) * 2]) }
    }

    /// Sets or clears vector `index`'s pending bit (as the device would).
    pub fn set_pending(&self, index: u16, pending: bool) {
        let index = usize::from(index);
        let mut words = self.words.borrow_mut();
        if let Some(w) = words.get_mut(index / 32) {
            if pending {
                *w |= 1 << (index % 32);
            } else {
                *w &= !(1 << (index % 32));
            }
        }
    }
}

impl MsixTable for SimPba {
    fn read32(&self, offset: usize) -> u32 {
        self.words.borrow().get(offset / 4).copied().unwrap_or(ALL_ONES)
    }

    fn write32(&self, _offset: usize, _value: u32) {
        // Read-only (PCI 3.0 §6.8.2.10).
    }
}
