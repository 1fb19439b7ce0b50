//! Resource trees: who owns which physical addresses and I/O ports
//! (Linux's `struct resource`, `request_region`, `/proc/iomem`,
//! `/proc/ioports`).
//!
//! Each tree is a hierarchy of named, non-overlapping ranges: a child lies
//! inside its parent (a device's BAR inside its bridge's window inside the
//! PCI host's aperture); siblings never overlap. A claim that overlaps a
//! sibling without fitting inside it is refused with an error — two drivers
//! can never both think they own the same registers. Dropping a
//! [`Claim`] releases the range (and must happen after its children are
//! released: a range with children cannot be released).

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::sync::SpinLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Io,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceError {
    /// Overlaps `holder` without fitting inside it.
    Conflict {
        holder: String,
        start: u64,
        end: u64,
    },
    Empty,
    HasChildren,
}

impl core::fmt::Display for ResourceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ResourceError::Conflict { holder, start, end } => {
                write!(f, "conflicts with {holder} [{start:#x}-{end:#x}]")
            }
            ResourceError::Empty => write!(f, "empty range"),
            ResourceError::HasChildren => write!(f, "range still has claimed children"),
        }
    }
}

struct Node {
    id: u64,
    name: String,
    /// Claimed by a driver for its own use (Linux's IORESOURCE_BUSY):
    /// nothing may be claimed inside it.
    busy: bool,
    start: u64,
    /// Inclusive, as /proc/iomem prints it.
    end: u64,
    children: Vec<Node>,
}

impl Node {
    /// Inserts `new` at the deepest node that contains it.
    fn insert(&mut self, new: Node) -> Result<(), ResourceError> {
        for child in &mut self.children {
            let overlaps = new.start <= child.end && child.start <= new.end;
            if !overlaps {
                continue;
            }
            if child.start <= new.start && new.end <= child.end && !child.busy {
                return child.insert(new);
            }
            return Err(ResourceError::Conflict { holder: child.name.clone(), start: child.start, end: child.end });
        }
        let at = self.children.partition_point(|c| c.start < new.start);
        self.children.insert(at, new);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> Option<Result<(), ResourceError>> {
        if let Some(i) = self.children.iter().position(|c| c.id == id) {
            if !self.children[i].children.is_empty() {
                return Some(Err(ResourceError::HasChildren));
            }
            self.children.remove(i);
            return Some(Ok(()));
        }
        self.children.iter_mut().find_map(|c| c.remove(id))
    }

    fn walk(&self, depth: usize, f: &mut impl FnMut(usize, &str, u64, u64)) {
        for c in &self.children {
            f(depth, &c.name, c.start, c.end);
            c.walk(depth + 1, f);
        }
    }
}

pub struct Tree {
    kind: Kind,
    root: SpinLock<Node>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Tree {
    const fn new(kind: Kind, end: u64) -> Tree {
        Tree {
            kind,
            root: SpinLock::new(Node { id: 0, name: String::new(), busy: false, start: 0, end, children: Vec::new() }),
        }
    }

    /// Claims `[start, start+len)` under the deepest range containing it
    /// (bus windows, device BARs: ranges others may nest in).
    pub fn claim(&'static self, name: &str, start: u64, len: u64) -> Result<Claim, ResourceError> {
        self.insert(name, start, len, false)
    }

    /// Claims a range for exclusive use by a driver (`request_region`): a
    /// second claim of any part of it fails.
    pub fn claim_busy(&'static self, name: &str, start: u64, len: u64) -> Result<Claim, ResourceError> {
        self.insert(name, start, len, true)
    }

    fn insert(&'static self, name: &str, start: u64, len: u64, busy: bool) -> Result<Claim, ResourceError> {
        if len == 0 {
            return Err(ResourceError::Empty);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let node = Node { id, name: String::from(name), busy, start, end: start + len - 1, children: Vec::new() };
        self.root.lock().insert(node)?;
        Ok(Claim { tree: self, id, start, len })
    }

    /// Calls `f(depth, name, start, end)` for every range, in address order.
    pub fn walk(&self, mut f: impl FnMut(usize, &str, u64, u64)) {
        self.root.lock().walk(0, &mut f);
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// An owned range; released on drop.
pub struct Claim {
    tree: &'static Tree,
    id: u64,
    pub start: u64,
    pub len: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.tree.root.lock().remove(self.id) {
            log::error!("resource: releasing [{:#x}+{:#x}]: {e}", self.start, self.len);
        }
    }
}

/// Physical address space (`/proc/iomem`).
pub static IOMEM: Tree = Tree::new(Kind::Memory, u64::MAX);
/// I/O port space (`/proc/ioports`).
pub static IOPORTS: Tree = Tree::new(Kind::Io, 0xffff);

/// Claims that live as long as the kernel (RAM, firmware, fixed devices).
static PERMANENT: SpinLock<Vec<Claim>> = SpinLock::new(Vec::new());

fn keep(tree: &'static Tree, name: &str, start: u64, len: u64) {
    match tree.claim(name, start, len) {
        Ok(c) => PERMANENT.lock().push(c),
        Err(e) => log::warn!("resource: {name} [{start:#x}+{len:#x}]: {e}"),
    }
}

/// Records what boot already knows: RAM and firmware ranges, the kernel
/// image, the interrupt controllers, ECAM, and the legacy ports.
pub fn init(map: &[crate::arch::pvh::MemoryRegion]) {
    use crate::arch::pvh::MemoryKind;
    for r in map {
        let name = match r.kind {
            MemoryKind::Ram => "System RAM",
            MemoryKind::AcpiReclaimable => "ACPI Tables",
            MemoryKind::AcpiNvs => "ACPI Non-volatile Storage",
            _ => "Reserved",
        };
        keep(&IOMEM, name, r.start, r.len);
    }
    let image = crate::mm::kernel_image();
    keep(&IOMEM, "Kernel image", image.start, image.end - image.start);
    if let Some(info) = crate::acpi::info() {
        keep(&IOMEM, "Local APIC", info.local_apic_address, 0x1000);
        for e in &info.madt {
            if let crate::acpi::MadtInfo::IoApic { address, .. } = e {
                keep(&IOMEM, "IOAPIC", *address, 0x1000);
            }
        }
        for r in &info.ecam {
            let len = (u64::from(r.bus_end) - u64::from(r.bus_start) + 1) << 20;
            keep(&IOMEM, "PCI ECAM", r.base, len);
        }
        if let Some(h) = &info.hpet {
            keep(&IOMEM, "HPET", h.base, 0x400);
        }
        if let Some(port) = info.pm1a_control_port {
            keep(&IOPORTS, "ACPI PM1a control", u64::from(port), 2);
        }
    }
    for (name, start, len) in [
        ("pic1", 0x20, 2),
        ("timer (PIT)", 0x40, 4),
        ("keyboard / port B", 0x60, 5),
        ("pic2", 0xa0, 2),
        ("isa-debug-exit", 0xf4, 4),
        ("serial (COM1)", 0x3f8, 8),
        ("PCI conf1", 0xcf8, 8),
    ] {
        keep(&IOPORTS, name, start, len);
    }
}

mod ktests {
    use super::{ResourceError, IOMEM};
    use crate::{check, check_eq, ktest};

    ktest! {
        fn overlapping_claims_are_refused_nested_ones_accepted() {
            // A hole in the physical address space far above RAM.
            const BASE: u64 = 0x7f00_0000_0000;
            let outer = IOMEM.claim("test window", BASE, 0x10000).map_err(|e| alloc::format!("{e}"))?;
            let inner = IOMEM.claim("test bar", BASE + 0x1000, 0x1000).map_err(|e| alloc::format!("{e}"))?;
            let clash = IOMEM.claim("clash", BASE + 0x1800, 0x1000);
            check!(matches!(clash, Err(ResourceError::Conflict { .. })), "overlap accepted: {:?}", clash.is_ok());
            let straddle = IOMEM.claim("straddle", BASE + 0xf000, 0x2000);
            check!(matches!(straddle, Err(ResourceError::Conflict { ref holder, .. }) if holder == "test window"));
            let mut depth_of_bar = None;
            IOMEM.walk(|d, name, _, _| if name == "test bar" { depth_of_bar = Some(d) });
            check_eq!(depth_of_bar, Some(1));
            drop(inner);
            let again = IOMEM.claim("test bar 2", BASE + 0x1800, 0x1000);
            check!(again.is_ok(), "released range not reusable");
            drop(again);
            drop(outer);
            let mut left = 0;
            IOMEM.walk(|_, name, _, _| if name.starts_with("test") { left += 1 });
            check_eq!(left, 0);
        }

        fn busy_claims_are_exclusive() {
            const BASE: u64 = 0x7f10_0000_0000;
            let bar = IOMEM.claim("test bar", BASE, 0x1000).map_err(|e| alloc::format!("{e}"))?;
            let driver = IOMEM.claim_busy("test driver", BASE, 0x1000).map_err(|e| alloc::format!("{e}"))?;
            let second = IOMEM.claim_busy("second driver", BASE, 0x1000);
            check!(matches!(second, Err(ResourceError::Conflict { ref holder, .. }) if holder == "test driver"));
            let part = IOMEM.claim("part", BASE + 0x100, 0x10);
            check!(part.is_err(), "claimed inside a busy range");
            drop(driver);
            drop(bar);
        }
    }
}
