//! Enumeration: finding every function in a segment, and numbering the
//! buses behind bridges.
//!
//! # Depth first from bus 0
//!
//! Software cannot ask "which devices exist?"; it can only read a vendor ID
//! at an address and see whether anyone answers (PCI 3.0 §6.1: a read with
//! no target returns all ones). So enumeration probes: on bus 0, for each of
//! the 32 device numbers, read function 0. If it answers, record it; if its
//! Header Type has the multi-function bit, probe functions 1–7 too (only
//! then — single-function devices may answer for every function number
//! with copies of function 0). If a function is a PCI-to-PCI bridge (type 1
//! header; PCIe root and switch ports look the same), the devices behind it
//! are on its **secondary bus**: scan that bus the same way, recursively.
//!
//! # Bus numbers route configuration cycles
//!
//! A bridge holds three bus numbers (PPB 1.2 §3.2.5.2–4): **primary** (the
//! bus it sits on), **secondary** (the bus directly behind it) and
//! **subordinate** (the highest bus anywhere behind it). A configuration
//! access for bus *N* travels down through the bridge whose
//! secondary..=subordinate range contains *N*; the bridge whose secondary
//! equals *N* turns it into a type 0 cycle on its secondary bus. A bus no
//! bridge claims cannot be reached: reads there return all ones. So the
//! numbers must exist before anything behind a bridge can be found.
//!
//! Firmware usually assigns them (SeaBIOS does); [`BusNumbering::KeepFirmware`]
//! trusts those. qboot assigns nothing, leaving every bridge at 0/0/0, and
//! then [`BusNumbering::AssignIfMissing`] numbers them the way the bridge
//! spec's configuration example does (PPB 1.2 §3.2.5.3): give the bridge
//! the next free bus number as its secondary, set its subordinate to the
//! highest number it may use (0xff at the top) so that configuration cycles
//! reach the whole subtree while it is being scanned, scan the subtree
//! depth-first (its bridges take the following numbers), and then set the
//! subordinate to the highest bus actually found. Firmware numbers that are
//! consistent (secondary above the bridge's bus and not yet used, range
//! within the parent's) are kept; inconsistent ones are replaced.
//!
//! # Never looping, never panicking
//!
//! A bridge whose secondary is not above its own bus, or names a bus already
//! scanned or claimed by an earlier bridge's range, would make a naive scan
//! loop forever or list functions twice; such a bridge is recorded
//! as a [`ScanProblem`] and not descended into (in `AssignIfMissing` mode it
//! is renumbered instead). The recursion depth is bounded by
//! [`MAX_BRIDGE_DEPTH`]. Every scan counts its configuration reads and
//! writes, buses and functions ([`ScanStats`], DESIGN.md rule 6).

use alloc::vec::Vec;
use core::fmt;

use crate::config::regs;
use crate::config::{Bdf, ConfigAccess, Counting};
use crate::header::{self, FunctionInfo, HeaderType};

/// How many bridges deep the scan goes. PCIe hierarchies are a few levels
/// deep; the bound keeps the kernel stack small whatever the device says.
pub const MAX_BRIDGE_DEPTH: u8 = 32;

/// What to do with the bus numbers firmware left in bridges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BusNumbering {
    /// Use them as they are; a bridge without numbers (secondary 0) is
    /// recorded but its subtree is not scanned.
    KeepFirmware,
    /// Keep consistent firmware numbers, assign the missing or inconsistent
    /// ones (writing the bridges' bus number registers).
    AssignIfMissing,
}

/// A function found by the scan, with its place in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// What its header says.
    pub info: FunctionInfo,
    /// The bridge it sits behind (an index into [`Topology::bridges`]), or
    /// `None` on the root bus.
    pub parent: Option<usize>,
    /// Bridges between it and the root bus (0 on the root bus).
    pub depth: u8,
}

/// A PCI-to-PCI bridge found by the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeInfo {
    /// Where it is.
    pub bdf: Bdf,
    /// Its entry in [`Topology::functions`].
    pub function: usize,
    /// The bridge it sits behind, or `None` on the root bus.
    pub parent: Option<usize>,
    /// The bus it sits on.
    pub primary: u8,
    /// The bus directly behind it.
    pub secondary: u8,
    /// The highest bus behind it.
    pub subordinate: u8,
    /// Whether the scan wrote these numbers (rather than keeping firmware's).
    pub assigned: bool,
    /// Whether its secondary bus was scanned.
    pub scanned: bool,
}

/// Something wrong with a bridge that the scan worked around.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanProblem {
    /// Firmware left the bridge without bus numbers (KeepFirmware mode).
    UnconfiguredBridge {
        /// The bridge.
        bdf: Bdf,
    },
    /// The bus numbers are inconsistent: secondary not above the bridge's
    /// own bus, subordinate below secondary, or outside the parent's range
    /// (KeepFirmware mode).
    BadBusNumbers {
        /// The bridge.
        bdf: Bdf,
        /// Primary, secondary, subordinate as read.
        numbers: (u8, u8, u8),
    },
    /// The secondary bus was already scanned through another bridge — a
    /// loop or a duplicate (KeepFirmware mode).
    BusAlreadyScanned {
        /// The bridge.
        bdf: Bdf,
        /// Its secondary bus.
        bus: u8,
    },
    /// The secondary bus lies inside a range an earlier bridge already
    /// claims, so configuration cycles for it go there instead (KeepFirmware
    /// mode).
    OverlappingRange {
        /// The bridge.
        bdf: Bdf,
        /// Its secondary bus.
        bus: u8,
    },
    /// The bridge is [`MAX_BRIDGE_DEPTH`] deep; its subtree was skipped.
    TooDeep {
        /// The bridge.
        bdf: Bdf,
    },
}

impl fmt::Display for ScanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScanProblem::UnconfiguredBridge { bdf } => write!(f, "pci: bridge {bdf} has no bus numbers; not scanned"),
            ScanProblem::BadBusNumbers { bdf, numbers: (p, s, o) } => {
                write!(f, "pci: bridge {bdf} has bad bus numbers {p:02x}/{s:02x}/{o:02x}; not scanned")
            }
            ScanProblem::BusAlreadyScanned { bdf, bus } => {
                write!(f, "pci: bridge {bdf} leads to bus {bus:02x}, already scanned")
            }
            ScanProblem::OverlappingRange { bdf, bus } => {
                write!(f, "pci: bridge {bdf} leads to bus {bus:02x}, inside another bridge's range; not scanned")
            }
            ScanProblem::TooDeep { bdf } => {
                write!(f, "pci: bridge {bdf} is {MAX_BRIDGE_DEPTH} bridges deep; not scanned")
            }
        }
    }
}

/// A scan that could not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// No bus number is left for this bridge's secondary bus (within its
    /// parent's range).
    BusNumbersExhausted {
        /// The bridge.
        bridge: Bdf,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScanError::BusNumbersExhausted { bridge } => write!(f, "pci: no bus number left for bridge {bridge}"),
        }
    }
}

impl core::error::Error for ScanError {}

/// What a scan cost and found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Buses scanned.
    pub buses_scanned: u32,
    /// Device numbers probed (function 0 reads).
    pub slots_probed: u32,
    /// Functions found.
    pub functions_found: u32,
    /// Bridges found.
    pub bridges_found: u32,
    /// Bridges whose bus numbers the scan wrote.
    pub buses_assigned: u32,
    /// Configuration dword reads.
    pub config_reads: u64,
    /// Configuration dword writes.
    pub config_writes: u64,
}

/// Everything found in one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// The segment scanned.
    pub segment: u16,
    /// Every function, in scan order (depth first: a bridge's subtree follows
    /// the bridge).
    pub functions: Vec<Function>,
    /// Every PCI-to-PCI bridge, in scan order (parents before children).
    pub bridges: Vec<BridgeInfo>,
    /// Bridges the scan had to skip, and why.
    pub problems: Vec<ScanProblem>,
    /// Counters.
    pub stats: ScanStats,
}

impl Topology {
    /// The function at `bdf`, if found.
    pub fn function(&self, bdf: Bdf) -> Option<&Function> {
        self.functions.iter().find(|f| f.info.bdf == bdf)
    }

    /// The index of the function at `bdf`, if found.
    pub fn function_index(&self, bdf: Bdf) -> Option<usize> {
        self.functions.iter().position(|f| f.info.bdf == bdf)
    }

    /// The index of the bridge at `bdf`, if it is one.
    pub fn bridge_index(&self, bdf: Bdf) -> Option<usize> {
        self.bridges.iter().position(|b| b.bdf == bdf)
    }

    /// The functions directly behind `bridge` (`None`: on the root bus).
    pub fn children(&self, bridge: Option<usize>) -> impl Iterator<Item = (usize, &Function)> + '_ {
        self.functions.iter().enumerate().filter(move |(_, f)| f.parent == bridge)
    }

    /// The highest bus number in use.
    pub fn max_bus(&self) -> u8 {
        self.bridges.iter().filter(|b| b.scanned).map(|b| b.subordinate).max().unwrap_or(0)
    }
}

/// Scans segment `segment` from bus 0 (module docs).
///
/// Errors only when bus numbers run out in `AssignIfMissing` mode; bridges
/// that cannot be descended into are listed in [`Topology::problems`].
pub fn scan(access: &dyn ConfigAccess, segment: u16, numbering: BusNumbering) -> Result<Topology, ScanError> {
    let counting = Counting::new(access);
    let mut scanner = Scanner {
        access: &counting,
        numbering,
        next_free: 1,
        visited: [0; 4],
        topo: Topology { segment, ..Topology::default() },
    };
    let result = scanner.scan_bus(0, None, 0, u8::MAX);
    let mut topo = scanner.topo;
    topo.stats.config_reads = counting.reads();
    topo.stats.config_writes = counting.writes();
    result.map(|_| topo)
}

struct Scanner<'a> {
    access: &'a dyn ConfigAccess,
    numbering: BusNumbering,
    /// The lowest bus number not yet given to any bus (256 = none left).
    next_free: u16,
    /// One bit per bus number already scanned.
    visited: [u64; 4],
    topo: Topology,
}

impl Scanner<'_> {
    fn is_visited(&self, bus: u8) -> bool {
        self.visited[usize::from(bus / 64)] & (1 << (bus % 64)) != 0
    }

    /// Scans `bus`, whose bridge may forward up to bus `limit`. Returns the
    /// highest bus number at or behind `bus`.
    fn scan_bus(&mut self, bus: u8, parent: Option<usize>, depth: u8, limit: u8) -> Result<u8, ScanError> {
        self.visited[usize::from(bus / 64)] |= 1 << (bus % 64);
        self.topo.stats.buses_scanned += 1;
        self.next_free = self.next_free.max(u16::from(bus) + 1);
        let segment = self.topo.segment;
        let mut max = bus;
        for device in 0..regs::MAX_DEVICES {
            self.topo.stats.slots_probed += 1;
            let Some(f0) = header::read_function(self.access, Bdf::new(segment, bus, device, 0)) else {
                continue;
            };
            let functions = if f0.multi_function { regs::MAX_FUNCTIONS } else { 1 };
            for function in 0..functions {
                let info = if function == 0 {
                    f0
                } else {
                    match header::read_function(self.access, Bdf::new(segment, bus, device, function)) {
                        Some(info) => info,
                        None => continue,
                    }
                };
                let index = self.topo.functions.len();
                self.topo.functions.push(Function { info, parent, depth });
                self.topo.stats.functions_found += 1;
                if info.header_type == HeaderType::PciBridge {
                    let behind = self.bridge(info.bdf, index, parent, depth, limit)?;
                    max = max.max(behind);
                }
            }
        }
        Ok(max)
    }

    /// Handles the bridge at `bdf` (function `index`), sitting on a bus at
    /// `depth` whose range ends at `limit`. Returns the highest bus behind it
    /// (its own bus if none).
    fn bridge(&mut self, bdf: Bdf, index: usize, parent: Option<usize>, depth: u8, limit: u8) -> Result<u8, ScanError> {
        let bus = bdf.bus;
        let (primary, secondary, subordinate) = (
            self.access.read8(bdf, regs::PRIMARY_BUS),
            self.access.read8(bdf, regs::SECONDARY_BUS),
            self.access.read8(bdf, regs::SUBORDINATE_BUS),
        );
        let me = self.topo.bridges.len();
        self.topo.bridges.push(BridgeInfo {
            bdf,
            function: index,
            parent,
            primary,
            secondary,
            subordinate,
            assigned: false,
            scanned: false,
        });
        self.topo.stats.bridges_found += 1;
        if depth + 1 >= MAX_BRIDGE_DEPTH {
            self.topo.problems.push(ScanProblem::TooDeep { bdf });
            return Ok(bus);
        }

        let plausible = secondary > bus && subordinate >= secondary && subordinate <= limit;
        match self.numbering {
            BusNumbering::KeepFirmware => {
                if secondary == 0 && subordinate == 0 {
                    self.topo.problems.push(ScanProblem::UnconfiguredBridge { bdf });
                    return Ok(bus);
                }
                if !plausible {
                    self.topo
                        .problems
                        .push(ScanProblem::BadBusNumbers { bdf, numbers: (primary, secondary, subordinate) });
                    return Ok(bus);
                }
                if self.is_visited(secondary) {
                    self.topo.problems.push(ScanProblem::BusAlreadyScanned { bdf, bus: secondary });
                    return Ok(bus);
                }
                if u16::from(secondary) < self.next_free {
                    self.topo.problems.push(ScanProblem::OverlappingRange { bdf, bus: secondary });
                    return Ok(bus);
                }
                self.descend_kept(me, secondary, subordinate, depth)
            }
            BusNumbering::AssignIfMissing => {
                let consistent = plausible
                    && primary == bus
                    && u16::from(secondary) >= self.next_free
                    && !self.is_visited(secondary);
                if consistent {
                    return self.descend_kept(me, secondary, subordinate, depth);
                }
                if self.next_free > u16::from(limit) {
                    return Err(ScanError::BusNumbersExhausted { bridge: bdf });
                }
                let secondary = self.next_free as u8;
                self.next_free += 1;
                // While the subtree is scanned, let the bridge forward
                // everything its parent forwards (PPB 1.2 §3.2.5.3)…
                self.write_bus_numbers(bdf, bus, secondary, limit);
                let max = self.scan_bus(secondary, Some(me), depth + 1, limit)?;
                // …then close the range at the highest bus found.
                self.write_bus_numbers(bdf, bus, secondary, max);
                self.next_free = self.next_free.max(u16::from(max) + 1);
                let b = &mut self.topo.bridges[me];
                (b.primary, b.secondary, b.subordinate) = (bus, secondary, max);
                b.assigned = true;
                b.scanned = true;
                self.topo.stats.buses_assigned += 1;
                Ok(max)
            }
        }
    }

    fn descend_kept(&mut self, me: usize, secondary: u8, subordinate: u8, depth: u8) -> Result<u8, ScanError> {
        self.scan_bus(secondary, Some(me), depth + 1, subordinate)?;
        self.topo.bridges[me].scanned = true;
        self.next_free = self.next_free.max(u16::from(subordinate) + 1);
        Ok(subordinate)
    }

    /// Writes primary/secondary/subordinate, keeping the secondary latency
    /// timer (the dword's top byte).
    fn write_bus_numbers(&mut self, bdf: Bdf, primary: u8, secondary: u8, subordinate: u8) {
        // The four registers are consecutive bytes of one dword.
        let lane = |reg: u16| u32::from(reg - regs::PRIMARY_BUS) * 8;
        let old = self.access.read32(bdf, regs::PRIMARY_BUS);
        let value = (old & 0xff << lane(regs::SECONDARY_LATENCY_TIMER))
            | u32::from(subordinate) << lane(regs::SUBORDINATE_BUS)
            | u32::from(secondary) << lane(regs::SECONDARY_BUS)
            | u32::from(primary) << lane(regs::PRIMARY_BUS);
        self.access.write32(bdf, regs::PRIMARY_BUS, value);
    }
}
