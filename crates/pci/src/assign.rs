//! Resource assignment: giving every BAR an address and every bridge its
//! windows, when firmware did not.
//!
//! # Why the kernel has to
//!
//! SeaBIOS programs every BAR before the kernel starts; qboot, which boots
//! faster, programs none (DESIGN.md). An unprogrammed BAR reads 0 and the
//! function decodes nothing, so a driver cannot reach its registers. Doing
//! it is a small allocation problem with two rules:
//!
//! - a BAR of size *S* must sit at a multiple of *S* (its low address bits
//!   are hardwired to zero, PCI 3.0 §6.2.5.1);
//! - a bridge forwards downstream only what falls in its three **windows**
//!   (PPB 1.2 §3.2.5.6, §3.2.5.8, §3.2.5.9): one for I/O (4 KiB granular),
//!   one for memory (1 MiB granular, below 4 GiB), one for prefetchable
//!   memory (1 MiB granular, may be 64-bit). Every BAR behind a bridge — and
//!   every window of every bridge behind it — must lie inside the matching
//!   window. A window whose base is above its limit is closed.
//!
//! # Bottom-up sizing, top-down placement
//!
//! [`plan`] works on a scanned [`Topology`] and the sized BARs of each
//! function ([`probe`]):
//!
//! 1. **Bottom up** (deepest bridge first): a bridge's window of each kind
//!    must hold its children's requests of that kind — the BARs of the
//!    functions on its secondary bus, and the same-kind windows of the
//!    bridges among them. Requests are packed largest alignment first, so
//!    padding is rare; the window is that packed size rounded up to the
//!    granularity, aligned to the larger of the granularity and its
//!    largest child's alignment (so the packing stays valid wherever the
//!    window lands).
//! 2. **Top down**: the root bus's requests are placed in the host's
//!    [`Windows`] in the same order, each at the next address aligned for
//!    it; then each bridge's children are placed inside its window, parents
//!    before children.
//!
//! The result is a list of [`Assignment`]s — pure data, testable without a
//! machine — which [`apply`] writes to the BARs and bridge registers,
//! enabling each function's decode for the kinds it received. Running out
//! of space is an error naming what did not fit.
//!
//! Prefetchable requests go to the prefetchable window; where the host's
//! prefetchable range overlaps its memory range (q35 under qboot offers one
//! range for both) the root places both kinds in one pool. A 32-bit
//! prefetchable BAR is treated as non-prefetchable if the host's
//! prefetchable range reaches above 4 GiB, where it could not be placed.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::bar::{self, Bar, BarError, Bars};
use crate::config::regs::{self, command, io_window, mem_window};
use crate::config::{update_command, Bdf, ConfigAccess};
use crate::enumerate::Topology;

const FOUR_GIB: u64 = 1 << 32;

/// The three kinds of address space a bridge forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// I/O ports.
    Io,
    /// Non-prefetchable memory (below 4 GiB behind a bridge).
    Mem,
    /// Prefetchable memory.
    Prefetchable,
}

impl ResourceKind {
    const ALL: [ResourceKind; 3] = [ResourceKind::Io, ResourceKind::Mem, ResourceKind::Prefetchable];

    const fn index(self) -> usize {
        match self {
            ResourceKind::Io => 0,
            ResourceKind::Mem => 1,
            ResourceKind::Prefetchable => 2,
        }
    }

    /// The bridge window granularity for this kind.
    pub const fn granularity(self) -> u64 {
        match self {
            ResourceKind::Io => io_window::GRANULARITY,
            ResourceKind::Mem | ResourceKind::Prefetchable => mem_window::GRANULARITY,
        }
    }
}

/// The address ranges the host bridge forwards to the root bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Non-prefetchable memory; must lie below 4 GiB.
    pub mem32: Range<u64>,
    /// Prefetchable memory; may be the same range as (or overlap) `mem32`.
    pub pref: Range<u64>,
    /// I/O ports (below 0x1_0000 on x86; keep clear of the legacy ports
    /// below 0x1000).
    pub io: Range<u64>,
}

/// What an assignment programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// BAR number `n` of the function.
    Bar(u8),
    /// One of a bridge's windows.
    Window(ResourceKind),
}

/// One line of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// The function (for a window: the bridge).
    pub bdf: Bdf,
    /// What to program.
    pub target: Target,
    /// The kind of space.
    pub kind: ResourceKind,
    /// The base address (port for I/O).
    pub base: u64,
    /// The size; 0 for a window to close.
    pub size: u64,
}

impl Assignment {
    /// The assigned range (empty for a closed window).
    pub const fn range(&self) -> Range<u64> {
        self.base..self.base + self.size
    }
}

/// What can go wrong assigning resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignError {
    /// A request did not fit in the space left.
    OutOfSpace {
        /// The function or bridge asking.
        bdf: Bdf,
        /// The BAR or window.
        target: Target,
        /// The kind of space.
        kind: ResourceKind,
        /// How much it needed.
        size: u64,
    },
    /// The host windows are unusable: memory above 4 GiB for `mem32`, or I/O
    /// beyond 32 bits.
    InvalidWindows,
    /// `bars` does not have one entry per function of the topology.
    BarsMismatch {
        /// Functions in the topology.
        functions: usize,
        /// Entries in `bars`.
        bars: usize,
    },
    /// Programming a BAR failed.
    Bar(BarError),
    /// A bridge window did not read back as written.
    WindowNotAccepted {
        /// The bridge.
        bdf: Bdf,
        /// Which window.
        kind: ResourceKind,
    },
}

impl From<BarError> for AssignError {
    fn from(e: BarError) -> Self {
        AssignError::Bar(e)
    }
}

impl fmt::Display for AssignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AssignError::OutOfSpace { bdf, target, kind, size } => {
                write!(f, "pci: no room for {size:#x} bytes of {kind:?} space for {bdf} {target:?}")
            }
            AssignError::InvalidWindows => write!(f, "pci: host windows out of range"),
            AssignError::BarsMismatch { functions, bars } => {
                write!(f, "pci: {bars} BAR sets for {functions} functions")
            }
            AssignError::Bar(e) => write!(f, "{e}"),
            AssignError::WindowNotAccepted { bdf, kind } => {
                write!(f, "pci: bridge {bdf} did not accept its {kind:?} window")
            }
        }
    }
}

impl core::error::Error for AssignError {}

/// Sizes the BARs of every function of `topology` ([`bar::probe_bars`]),
/// one entry per function, in the same order.
pub fn probe(access: &dyn ConfigAccess, topology: &Topology) -> Result<Vec<Bars>, BarError> {
    topology.functions.iter().map(|f| bar::probe_bars(access, f.info.bdf, f.info.header_type.bar_count())).collect()
}

/// Who asks for space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Bar { function: usize, index: u8 },
    Window { bridge: usize },
}

#[derive(Clone, Copy, Debug)]
struct Request {
    owner: Owner,
    kind: ResourceKind,
    size: u64,
    align: u64,
}

const fn align_up(value: u64, align: u64) -> Option<u64> {
    // `align` is a power of two.
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Largest alignment first; ties keep their order (stable sort), so sizing
/// and placement see the same sequence.
fn sort_requests(requests: &mut [Request]) {
    requests.sort_by_key(|r| core::cmp::Reverse(r.align));
}

/// Computes the assignment plan (module docs). `bars` has one entry per
/// function of `topology`, as [`probe`] returns.
///
/// The plan holds one assignment per implemented BAR and three per scanned
/// bridge (size 0 = close that window).
pub fn plan(topology: &Topology, bars: &[Bars], windows: &Windows) -> Result<Vec<Assignment>, AssignError> {
    if bars.len() != topology.functions.len() {
        return Err(AssignError::BarsMismatch { functions: topology.functions.len(), bars: bars.len() });
    }
    if windows.mem32.end > FOUR_GIB || windows.io.end > FOUR_GIB || windows.pref.start > windows.pref.end {
        return Err(AssignError::InvalidWindows);
    }
    let pref32_ok = windows.pref.end <= FOUR_GIB;

    // Container 0 is the root bus; bridge b's secondary bus is container b+1.
    let nbridges = topology.bridges.len();
    let mut children: Vec<Vec<Request>> = vec![Vec::new(); nbridges + 1];
    for (function, (f, bars)) in topology.functions.iter().zip(bars).enumerate() {
        let container = f.parent.map_or(0, |b| b + 1);
        for (index, bar) in bars.iter().enumerate() {
            let Some(bar) = bar else { continue };
            let kind = match *bar {
                Bar::None => continue,
                Bar::Io { .. } => ResourceKind::Io,
                Bar::Mem32 { prefetchable: true, .. } if pref32_ok => ResourceKind::Prefetchable,
                Bar::Mem64 { prefetchable: true, .. } => ResourceKind::Prefetchable,
                Bar::Mem32 { .. } | Bar::Mem64 { .. } => ResourceKind::Mem,
            };
            let size = bar.size();
            if size == 0 {
                continue;
            }
            children[container].push(Request {
                owner: Owner::Bar { function, index: index as u8 },
                kind,
                size,
                align: size,
            });
        }
    }

    // 1. Bottom up. Bridges are in preorder, so every descendant of bridge b
    // has a larger index: walking backwards sizes children before parents.
    let mut window_size: Vec<[(u64, u64); 3]> = vec![[(0, 0); 3]; nbridges];
    for b in (0..nbridges).rev() {
        if !topology.bridges[b].scanned {
            continue;
        }
        let mut own = core::mem::take(&mut children[b + 1]);
        sort_requests(&mut own);
        for kind in ResourceKind::ALL {
            let mut end: u64 = 0;
            let mut align = kind.granularity();
            for r in own.iter().filter(|r| r.kind == kind) {
                let overflow = AssignError::OutOfSpace {
                    bdf: topology.bridges[b].bdf,
                    target: Target::Window(kind),
                    kind,
                    size: u64::MAX,
                };
                end = align_up(end, r.align).and_then(|e| e.checked_add(r.size)).ok_or(overflow)?;
                align = align.max(r.align);
            }
            if end == 0 {
                continue;
            }
            let size = align_up(end, kind.granularity()).ok_or(AssignError::OutOfSpace {
                bdf: topology.bridges[b].bdf,
                target: Target::Window(kind),
                kind,
                size: end,
            })?;
            window_size[b][kind.index()] = (size, align);
            let parent = topology.bridges[b].parent.map_or(0, |p| p + 1);
            children[parent].push(Request { owner: Owner::Window { bridge: b }, kind, size, align });
        }
        children[b + 1] = own;
    }

    // 2. Top down.
    let mut plan = Vec::new();
    let mut window_base: Vec<[Option<u64>; 3]> = vec![[None; 3]; nbridges];
    let aliased = windows.mem32.start < windows.pref.end && windows.pref.start < windows.mem32.end;
    {
        let mut root = core::mem::take(&mut children[0]);
        sort_requests(&mut root);
        let (mem_pool, pref_pool) = if aliased {
            let union = windows.mem32.start.min(windows.pref.start)..windows.mem32.end.max(windows.pref.end);
            (union.clone(), union)
        } else {
            (windows.mem32.clone(), windows.pref.clone())
        };
        let mut cursors = [windows.io.start, mem_pool.start, pref_pool.start];
        let ends = [windows.io.end, mem_pool.end, pref_pool.end];
        let pool_of = |kind: ResourceKind| match kind {
            ResourceKind::Prefetchable if aliased => ResourceKind::Mem.index(),
            k => k.index(),
        };
        for r in &root {
            let pool = pool_of(r.kind);
            let base = place(topology, r, &mut cursors[pool], ends[pool])?;
            record(topology, r, base, &mut plan, &mut window_base);
        }
    }
    for (b, bridge) in topology.bridges.iter().enumerate() {
        if !bridge.scanned {
            for kind in ResourceKind::ALL {
                plan.push(Assignment { bdf: bridge.bdf, target: Target::Window(kind), kind, base: 0, size: 0 });
            }
            continue;
        }
        let mut own = core::mem::take(&mut children[b + 1]);
        sort_requests(&mut own);
        for kind in ResourceKind::ALL {
            let (size, _) = window_size[b][kind.index()];
            let Some(base) = window_base[b][kind.index()] else {
                plan.push(Assignment { bdf: bridge.bdf, target: Target::Window(kind), kind, base: 0, size: 0 });
                continue;
            };
            plan.push(Assignment { bdf: bridge.bdf, target: Target::Window(kind), kind, base, size });
            let mut cursor = base;
            for r in own.iter().filter(|r| r.kind == kind) {
                let at = place(topology, r, &mut cursor, base + size)?;
                record(topology, r, at, &mut plan, &mut window_base);
            }
        }
    }
    Ok(plan)
}

/// Places `r` at the next aligned address from `cursor`, below `end`.
fn place(topology: &Topology, r: &Request, cursor: &mut u64, end: u64) -> Result<u64, AssignError> {
    let (bdf, target) = match r.owner {
        Owner::Bar { function, index } => (topology.functions[function].info.bdf, Target::Bar(index)),
        Owner::Window { bridge } => (topology.bridges[bridge].bdf, Target::Window(r.kind)),
    };
    let out_of_space = AssignError::OutOfSpace { bdf, target, kind: r.kind, size: r.size };
    let base = align_up(*cursor, r.align).ok_or(out_of_space)?;
    let top = base.checked_add(r.size).ok_or(out_of_space)?;
    if top > end {
        return Err(out_of_space);
    }
    *cursor = top;
    Ok(base)
}

fn record(
    topology: &Topology,
    r: &Request,
    base: u64,
    plan: &mut Vec<Assignment>,
    window_base: &mut [[Option<u64>; 3]],
) {
    match r.owner {
        Owner::Bar { function, index } => plan.push(Assignment {
            bdf: topology.functions[function].info.bdf,
            target: Target::Bar(index),
            kind: r.kind,
            base,
            size: r.size,
        }),
        // The window's own assignment is emitted with its children.
        Owner::Window { bridge } => window_base[bridge][r.kind.index()] = Some(base),
    }
}

/// What [`apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// BARs programmed.
    pub bars: u32,
    /// Bridge windows opened.
    pub windows_opened: u32,
    /// Bridge windows closed.
    pub windows_closed: u32,
    /// Functions whose decode bits were turned on.
    pub decode_enabled: u32,
}

/// Programs `plan` into the hardware: each BAR ([`bar::program_bar`]), each
/// bridge window (checked by reading it back), then turns on I/O and/or
/// memory decode for every function and bridge that received space of that
/// kind. Bus mastering is left to drivers.
pub fn apply(plan: &[Assignment], access: &dyn ConfigAccess) -> Result<ApplyStats, AssignError> {
    let mut stats = ApplyStats::default();
    let mut decode: Vec<(Bdf, u16)> = Vec::new();
    for a in plan {
        match a.target {
            Target::Bar(index) => {
                bar::program_bar(access, a.bdf, usize::from(index), a.base)?;
                stats.bars += 1;
            }
            Target::Window(kind) => {
                program_window(access, a.bdf, kind, a.base, a.size);
                let want = if a.size == 0 { None } else { Some(a.range()) };
                if read_window(access, a.bdf, kind) != want {
                    return Err(AssignError::WindowNotAccepted { bdf: a.bdf, kind });
                }
                if a.size == 0 {
                    stats.windows_closed += 1;
                } else {
                    stats.windows_opened += 1;
                }
            }
        }
        if a.size != 0 {
            let bit = if a.kind == ResourceKind::Io { command::IO_SPACE } else { command::MEMORY_SPACE };
            match decode.iter_mut().find(|(bdf, _)| *bdf == a.bdf) {
                Some((_, bits)) => *bits |= bit,
                None => decode.push((a.bdf, bit)),
            }
        }
    }
    for (bdf, bits) in decode {
        update_command(access, bdf, bits, 0);
        stats.decode_enabled += 1;
    }
    Ok(stats)
}

/// Writes one bridge window (PPB 1.2 §3.2.5.6, .8–.11); `size` 0 closes it
/// (base above limit). The dwords holding Secondary Status (RW1C) are
/// written with zero there.
pub fn program_window(access: &dyn ConfigAccess, bdf: Bdf, kind: ResourceKind, base: u64, size: u64) {
    let (base, limit) = if size == 0 { (u64::MAX, 0) } else { (base, base + size - 1) };
    match kind {
        ResourceKind::Io => {
            let lo = |a: u64| u32::from((a >> io_window::ADDRESS_SHIFT) as u8 & io_window::ADDRESS_MASK);
            let hi = |a: u64| (a >> io_window::UPPER_SHIFT) as u16;
            let (base_hi, limit_hi) = if size == 0 { (0, 0) } else { (hi(base), hi(limit)) };
            let limit_lane = u32::from(regs::IO_LIMIT_UPPER16 - regs::IO_BASE_UPPER16) * 8;
            access.write32(bdf, regs::IO_BASE_UPPER16, u32::from(base_hi) | u32::from(limit_hi) << limit_lane);
            access.write32(bdf, regs::IO_BASE, lo(base) | lo(limit) << 8);
        }
        ResourceKind::Mem => {
            let reg = |a: u64| u32::from((a >> mem_window::ADDRESS_SHIFT) as u16 & mem_window::ADDRESS_MASK);
            access.write32(bdf, regs::MEMORY_BASE, reg(base) | reg(limit) << 16);
        }
        ResourceKind::Prefetchable => {
            let reg = |a: u64| u32::from((a >> mem_window::ADDRESS_SHIFT) as u16 & mem_window::ADDRESS_MASK);
            let (base_hi, limit_hi) = if size == 0 {
                (0, 0)
            } else {
                ((base >> mem_window::UPPER_SHIFT) as u32, (limit >> mem_window::UPPER_SHIFT) as u32)
            };
            // Linux's order: clear the upper limit first so the window is
            // never briefly wider than either the old or the new one.
            access.write32(bdf, regs::PREF_LIMIT_UPPER32, 0);
            access.write32(bdf, regs::PREF_MEMORY_BASE, reg(base) | reg(limit) << 16);
            access.write32(bdf, regs::PREF_BASE_UPPER32, base_hi);
            access.write32(bdf, regs::PREF_LIMIT_UPPER32, limit_hi);
        }
    }
}

/// Reads one bridge window back: `None` if closed (base above limit).
pub fn read_window(access: &dyn ConfigAccess, bdf: Bdf, kind: ResourceKind) -> Option<Range<u64>> {
    let (base, limit) = match kind {
        ResourceKind::Io => {
            let (b, l) = (access.read8(bdf, regs::IO_BASE), access.read8(bdf, regs::IO_LIMIT));
            let wide = b & io_window::CAP_MASK == io_window::CAP_32BIT;
            let (up_base, up_limit) = if wide {
                (access.read16(bdf, regs::IO_BASE_UPPER16), access.read16(bdf, regs::IO_LIMIT_UPPER16))
            } else {
                (0, 0)
            };
            let base = u64::from(up_base) << io_window::UPPER_SHIFT
                | u64::from(b & io_window::ADDRESS_MASK) << io_window::ADDRESS_SHIFT;
            let limit = u64::from(up_limit) << io_window::UPPER_SHIFT
                | u64::from(l & io_window::ADDRESS_MASK) << io_window::ADDRESS_SHIFT
                | (io_window::GRANULARITY - 1);
            (base, limit)
        }
        ResourceKind::Mem => {
            let raw = access.read32(bdf, regs::MEMORY_BASE);
            let base = u64::from(raw as u16 & mem_window::ADDRESS_MASK) << mem_window::ADDRESS_SHIFT;
            let limit = u64::from((raw >> 16) as u16 & mem_window::ADDRESS_MASK) << mem_window::ADDRESS_SHIFT
                | (mem_window::GRANULARITY - 1);
            (base, limit)
        }
        ResourceKind::Prefetchable => {
            let raw = access.read32(bdf, regs::PREF_MEMORY_BASE);
            let wide = raw as u16 & mem_window::CAP_MASK == mem_window::CAP_64BIT;
            let (up_base, up_limit) = if wide {
                (access.read32(bdf, regs::PREF_BASE_UPPER32), access.read32(bdf, regs::PREF_LIMIT_UPPER32))
            } else {
                (0, 0)
            };
            let base = u64::from(up_base) << mem_window::UPPER_SHIFT
                | u64::from(raw as u16 & mem_window::ADDRESS_MASK) << mem_window::ADDRESS_SHIFT;
            let limit = u64::from(up_limit) << mem_window::UPPER_SHIFT
                | u64::from((raw >> 16) as u16 & mem_window::ADDRESS_MASK) << mem_window::ADDRESS_SHIFT
                | (mem_window::GRANULARITY - 1);
            (base, limit)
        }
    };
    (base <= limit).then(|| base..limit + 1)
}
