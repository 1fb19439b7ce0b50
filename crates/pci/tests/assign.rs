//! Resource assignment for a qboot-like machine (nothing assigned by
//! firmware): the plan's invariants, then the plan applied to the simulator
//! and read back.

mod model;

use std::ops::Range;

use pci::assign::{self, apply, plan, read_window, AssignError, Assignment, ResourceKind, Target, Windows};
use pci::bar::Bars;
use pci::enumerate::{scan, BusNumbering, Topology};
use pci::sim::{SimBar, SimFunction, SimPci};
use pci::{Bar, Bdf, ConfigAccess};

const MIB: u64 = 1 << 20;

/// What QEMU's q35 forwards below 4 GiB with 512 MiB of RAM, as one range
/// for both memory kinds (the host bridge does not distinguish them).
fn q35_windows() -> Windows {
    Windows { mem32: 0xc000_0000..0xfec0_0000, pref: 0xc000_0000..0xfec0_0000, io: 0x1000..0x1_0000 }
}

fn setup() -> (SimPci, Topology, Vec<Bars>) {
    let pci = model::q35_like(false);
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    let bars = assign::probe(&pci, &topo).unwrap();
    (pci, topo, bars)
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

fn space(kind: ResourceKind) -> u8 {
    if kind == ResourceKind::Io {
        0
    } else {
        1
    }
}

fn window_of(plan: &[Assignment], bridge: Bdf, kind: ResourceKind) -> &Assignment {
    plan.iter().find(|a| a.bdf == bridge && a.target == Target::Window(kind)).unwrap()
}

/// The invariants every plan must satisfy, checked against the topology.
fn check_plan(topo: &Topology, bars: &[Bars], plan: &[Assignment], windows: &Windows) {
    // Every implemented BAR is assigned exactly once, with its size.
    for (f, bars) in topo.functions.iter().zip(bars) {
        for (index, bar) in bars.iter().enumerate() {
            let Some(bar) = bar.filter(|b| *b != Bar::None) else { continue };
            let hits: Vec<_> =
                plan.iter().filter(|a| a.bdf == f.info.bdf && a.target == Target::Bar(index as u8)).collect();
            assert_eq!(hits.len(), 1, "{} BAR{index}", f.info.bdf);
            assert_eq!(hits[0].size, bar.size());
            assert_eq!(hits[0].kind == ResourceKind::Io, bar.is_io());
        }
    }
    // Natural alignment, inside the host windows.
    for a in plan.iter().filter(|a| a.size > 0) {
        match a.target {
            Target::Bar(_) => assert_eq!(a.base % a.size, 0, "{a:?} not naturally aligned"),
            Target::Window(kind) => {
                let g = if kind == ResourceKind::Io { 0x1000 } else { MIB };
                assert_eq!((a.base % g, a.size % g), (0, 0), "{a:?} not on window granularity");
            }
        }
        let host = match a.kind {
            ResourceKind::Io => &windows.io,
            ResourceKind::Mem => &windows.mem32,
            ResourceKind::Prefetchable => &windows.pref,
        };
        assert!(host.start <= a.base && a.range().end <= host.end, "{a:?} outside the host window");
    }
    // No two BARs overlap (in the same space).
    let bar_ranges: Vec<_> = plan.iter().filter(|a| matches!(a.target, Target::Bar(_))).collect();
    for (i, a) in bar_ranges.iter().enumerate() {
        for b in &bar_ranges[i + 1..] {
            if space(a.kind) == space(b.kind) {
                assert!(!overlaps(&a.range(), &b.range()), "{a:?} overlaps {b:?}");
            }
        }
    }
    // Every bridge window holds exactly its subtree: each BAR behind the
    // bridge is inside the matching window, and nothing else is.
    for (bi, bridge) in topo.bridges.iter().enumerate() {
        let behind = |mut parent: Option<usize>| {
            while let Some(p) = parent {
                if p == bi {
                    return true;
                }
                parent = topo.bridges[p].parent;
            }
            false
        };
        for a in bar_ranges.iter() {
            let f = topo.function(a.bdf).unwrap();
            let window = window_of(plan, bridge.bdf, a.kind);
            let inside = a.range().start >= window.base && a.range().end <= window.range().end && window.size > 0;
            assert_eq!(inside, behind(f.parent), "{a:?} vs window {window:?} of {}", bridge.bdf);
        }
        // Child windows nest in their parent's.
        if let Some(p) = bridge.parent {
            for kind in [ResourceKind::Io, ResourceKind::Mem, ResourceKind::Prefetchable] {
                let (child, parent) = (window_of(plan, bridge.bdf, kind), window_of(plan, topo.bridges[p].bdf, kind));
                if child.size > 0 {
                    assert!(child.base >= parent.base && child.range().end <= parent.range().end);
                }
            }
        }
    }
    // Sibling windows of the same space do not overlap each other or BARs
    // outside them.
    let windows_open: Vec<_> = plan.iter().filter(|a| matches!(a.target, Target::Window(_)) && a.size > 0).collect();
    for (i, a) in windows_open.iter().enumerate() {
        for b in &windows_open[i + 1..] {
            let nested = (a.base >= b.base && a.range().end <= b.range().end)
                || (b.base >= a.base && b.range().end <= a.range().end);
            if space(a.kind) == space(b.kind) && !nested {
                assert!(!overlaps(&a.range(), &b.range()), "{a:?} overlaps {b:?}");
            }
        }
    }
}

#[test]
fn plan_for_a_qboot_like_machine_satisfies_every_invariant() {
    let (_, topo, bars) = setup();
    let windows = q35_windows();
    let plan = plan(&topo, &bars, &windows).unwrap();
    check_plan(&topo, &bars, &plan, &windows);
    // 12 BARs (e1000 2, virtio-blk 3, edu 1, VGA 2, NVMe 1, AHCI 2, SMBus 1)
    // plus three windows for each of the three bridges.
    assert_eq!(plan.iter().filter(|a| matches!(a.target, Target::Bar(_))).count(), 12);
    assert_eq!(plan.iter().filter(|a| matches!(a.target, Target::Window(_))).count(), 9);
}

#[test]
fn window_sizes_follow_the_children() {
    let (_, topo, bars) = setup();
    let plan = plan(&topo, &bars, &q35_windows()).unwrap();
    let br = Bdf::new(0, 1, 0, 0);
    // Behind the PCI bridge: virtio-blk I/O 0x80 → one 4 KiB I/O window.
    assert_eq!(window_of(&plan, br, ResourceKind::Io).size, 0x1000);
    // Memory: edu 1 MiB + virtio 4 KiB + VGA BAR2 4 KiB → 2 MiB.
    assert_eq!(window_of(&plan, br, ResourceKind::Mem).size, 2 * MIB);
    // Prefetchable: VGA 16 MiB + virtio 16 KiB → 17 MiB, aligned to 16 MiB.
    let pref = window_of(&plan, br, ResourceKind::Prefetchable);
    assert_eq!((pref.size, pref.base % (16 * MIB)), (17 * MIB, 0));
    // The NVMe port: no I/O, no prefetchable, 1 MiB of memory.
    let rp2 = Bdf::new(0, 0, 3, 0);
    assert_eq!(window_of(&plan, rp2, ResourceKind::Io).size, 0);
    assert_eq!(window_of(&plan, rp2, ResourceKind::Mem).size, MIB);
    assert_eq!(window_of(&plan, rp2, ResourceKind::Prefetchable).size, 0);
}

#[test]
fn applied_plan_reads_back_from_the_hardware() {
    let (pci, topo, bars) = setup();
    let plan = plan(&topo, &bars, &q35_windows()).unwrap();
    pci.clear_writes();
    let stats = apply(&plan, &pci).unwrap();
    // Open: all three of port 02.0 and of the PCI bridge, and port 03.0's
    // memory window; closed: port 03.0's I/O and prefetchable windows.
    assert_eq!((stats.bars, stats.windows_opened, stats.windows_closed), (12, 7, 2));
    assert_eq!(pci.stats().bar_writes_while_decoding, 0);

    // Re-size every BAR through the routed configuration space: each now
    // holds its planned address.
    let after = assign::probe(&pci, &topo).unwrap();
    for a in plan.iter() {
        match a.target {
            Target::Bar(i) => {
                let f = topo.function_index(a.bdf).unwrap();
                let bar = after[f][usize::from(i)].unwrap();
                assert_eq!((bar.address(), bar.size()), (a.base, a.size), "{a:?}");
            }
            Target::Window(kind) => {
                let want = if a.size == 0 { None } else { Some(a.range()) };
                assert_eq!(read_window(&pci, a.bdf, kind), want, "{a:?}");
            }
        }
    }
    // Decode is on exactly for the spaces each function received.
    assert_eq!(pci.read16(Bdf::new(0, 0, 1, 0), 0x04) & 3, 3, "e1000: memory and I/O");
    assert_eq!(pci.read16(Bdf::new(0, 3, 0, 0), 0x04) & 3, 2, "NVMe: memory only");
    assert_eq!(pci.read16(Bdf::new(0, 0, 3, 0), 0x04) & 3, 2, "its port: memory window only");
    assert_eq!(pci.read16(Bdf::new(0, 0, 2, 0), 0x04) & 3, 3, "the other port forwards both");
    assert_eq!(pci.read16(Bdf::new(0, 0, 0, 0), 0x04) & 3, 0, "host bridge: no BARs, untouched");
    assert_eq!(pci.read16(Bdf::new(0, 0, 2, 0), 0x04) & 4, 0, "bus mastering left to drivers");
    assert_eq!(pci.read16(Bdf::new(0, 1, 0, 0), 0x1e), 1 << 13, "latched secondary status survives the I/O window");
}

#[test]
fn a_window_holding_a_child_window_and_a_bar_is_padded() {
    // Behind the root port: a bridge whose prefetchable window must be
    // 17 MiB aligned to 16 MiB (16 MiB + 16 KiB of BARs), and a device with a
    // 2 MiB prefetchable BAR. Packed largest alignment first, the BAR lands
    // at 18 MiB (17 MiB rounded up to 2 MiB), so the port's window is
    // 20 MiB, not the 19 MiB a plain sum gives.
    let pci = SimPci::new().bridge(2, 0, SimFunction::pcie_root_port(), |bus| {
        bus.bridge(0, 0, SimFunction::qemu_pci_bridge(), |bus| {
            bus.device(1, 0, model::vga()).device(2, 0, model::virtio_blk())
        })
        .device(1, 0, SimFunction::endpoint(1, 2).bar(0, SimBar::mem64_prefetchable(2 * MIB)))
    });
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    let bars = assign::probe(&pci, &topo).unwrap();
    let windows = q35_windows();
    let plan = plan(&topo, &bars, &windows).unwrap();
    check_plan(&topo, &bars, &plan, &windows);
    let port = window_of(&plan, Bdf::new(0, 0, 2, 0), ResourceKind::Prefetchable);
    assert_eq!((port.size, port.base % (16 * MIB)), (20 * MIB, 0));
    let bar = plan.iter().find(|a| a.bdf == Bdf::new(0, 1, 1, 0)).unwrap();
    assert_eq!(bar.base - port.base, 18 * MIB);
}

#[test]
fn separate_prefetchable_window_takes_the_prefetchable_bars() {
    let (_, topo, bars) = setup();
    let windows = Windows { mem32: 0xc000_0000..0xd000_0000, pref: 0xe000_0000..0xf000_0000, io: 0x1000..0x1_0000 };
    let plan = plan(&topo, &bars, &windows).unwrap();
    check_plan(&topo, &bars, &plan, &windows);
    let vga = plan.iter().find(|a| a.bdf == Bdf::new(0, 2, 3, 0) && a.target == Target::Bar(0)).unwrap();
    assert_eq!(vga.kind, ResourceKind::Prefetchable);
    assert!(windows.pref.contains(&vga.base));
    let e1000 = plan.iter().find(|a| a.bdf == Bdf::new(0, 0, 1, 0) && a.target == Target::Bar(0)).unwrap();
    assert!(windows.mem32.contains(&e1000.base));
}

#[test]
fn running_out_of_space_is_an_error() {
    let (_, topo, bars) = setup();
    // 16 MiB of memory cannot hold the 17 MiB prefetchable window alone.
    let small = Windows { mem32: 0xc000_0000..0xc100_0000, pref: 0xc000_0000..0xc100_0000, io: 0x1000..0x1_0000 };
    assert!(matches!(plan(&topo, &bars, &small), Err(AssignError::OutOfSpace { .. })));
    // Two 4 KiB I/O windows and root-bus I/O BARs do not fit in 4 KiB.
    let no_io = Windows { io: 0x1000..0x2000, ..q35_windows() };
    assert!(matches!(plan(&topo, &bars, &no_io), Err(AssignError::OutOfSpace { kind: ResourceKind::Io, .. })));
    let bad = Windows { mem32: 0xc000_0000..0x1_4000_0000, ..q35_windows() };
    assert_eq!(plan(&topo, &bars, &bad), Err(AssignError::InvalidWindows));
    assert_eq!(plan(&topo, &bars[1..], &q35_windows()), Err(AssignError::BarsMismatch { functions: 12, bars: 11 }));
}

#[test]
fn largest_alignment_goes_first_at_the_root() {
    // Two root-bus devices: 4 KiB then 1 MiB. The 1 MiB one is placed first
    // at the window base; the 4 KiB one right after it, no gap.
    let pci = SimPci::new().device(1, 0, SimFunction::endpoint(1, 1).bar(0, SimBar::mem32(0x1000))).device(
        2,
        0,
        SimFunction::endpoint(1, 2).bar(0, SimBar::mem32(0x10_0000)),
    );
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    let bars = assign::probe(&pci, &topo).unwrap();
    let windows = Windows { mem32: 0xc000_0000..0xc020_0000, pref: 0..0, io: 0..0 };
    let plan = plan(&topo, &bars, &windows).unwrap();
    let base = |dev| plan.iter().find(|a| a.bdf.device == dev).unwrap().base;
    assert_eq!((base(2), base(1)), (0xc000_0000, 0xc010_0000));
}
