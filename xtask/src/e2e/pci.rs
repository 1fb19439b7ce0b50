//! The PCI oracle: the kernel's `pci dump` against QEMU's own `query-pci`.
//!
//! QEMU knows exactly which functions it created and what their configuration
//! space says, so the kernel's enumeration can be checked field by field: the
//! same set of BDFs; per function vendor, device, class (QMP gives base class
//! and subclass, not the programming interface), header type (QMP marks bridges
//! with a `pci_bridge` member), interrupt pin (where QMP reports one), and every
//! BAR's kind, address and size. QMP's region 6, the expansion ROM, is outside
//! the `pci dump` contract and is not compared.
//!
//! QMP reports a BAR's address as QEMU decodes it *now*: -1 (here `None`) when
//! the BAR was never programmed or the function's I/O or memory decoding is
//! off. Such a BAR cannot be compared; the kernel must still report a non-zero
//! address for it (it found the BAR a place). Under qboot, which assigns no
//! BARs, QEMU's view is asked for after `pci dump`, so every BAR the kernel
//! assigned and enabled is compared exactly.
//!
//! Independently of QEMU, the kernel's assigned BARs must be aligned to their
//! size, I/O BARs must lie in the 64 KiB port space, and no two may overlap.
//!
//! [`compare`] collects every mismatch, not just the first, so one run shows
//! the whole picture.

use super::parse::{BarKind, Bdf, PciBar, PciFunction};
use crate::qmp::{QmpPciFunction, QmpRegion, RegionKind, ROM_REGION};
use std::collections::{BTreeMap, BTreeSet};

/// The outcome of a comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// One sentence per disagreement, in BDF order; empty when all agree.
    pub mismatches: Vec<String>,
    /// Functions on both sides.
    pub functions: usize,
    /// BARs whose address QEMU reported and the kernel matched or not.
    pub bars_compared: usize,
    /// BARs QEMU does not decode (kind and size compared, address not).
    pub bars_undecoded: usize,
}

impl Comparison {
    /// A one-line summary for the test's note.
    pub fn summary(&self) -> String {
        format!(
            "{} functions, {} BARs at QEMU's addresses, {} not decoded by QEMU",
            self.functions, self.bars_compared, self.bars_undecoded
        )
    }
}

/// QMP's BDF in the kernel's terms (QEMU's q35 has one segment, 0).
fn qmp_bdf(f: &QmpPciFunction) -> Bdf {
    Bdf { segment: 0, bus: f.bus, device: f.slot, function: f.function }
}

/// A QMP region's kind in `pci dump`'s terms.
fn qmp_kind(r: &QmpRegion) -> BarKind {
    match r.kind {
        RegionKind::Io => BarKind::Io,
        RegionKind::Memory => BarKind::memory(r.mem_type_64, r.prefetch),
    }
}

/// How `pci dump` would write a BAR.
fn describe(bar: &PciBar) -> String {
    format!("{}:0x{:x}/0x{:x}", bar.kind, bar.address, bar.size)
}

/// Compares the kernel's functions with QEMU's.
pub fn compare(kernel: &[PciFunction], qemu: &[QmpPciFunction]) -> Comparison {
    let mut c = Comparison::default();
    let ours: BTreeMap<Bdf, &PciFunction> = kernel.iter().map(|f| (f.bdf, f)).collect();
    let theirs: BTreeMap<Bdf, &QmpPciFunction> = qemu.iter().map(|f| (qmp_bdf(f), f)).collect();
    let all: BTreeSet<Bdf> = ours.keys().chain(theirs.keys()).copied().collect();
    for bdf in all {
        match (ours.get(&bdf), theirs.get(&bdf)) {
            (Some(k), Some(q)) => {
                c.functions += 1;
                compare_function(k, q, &mut c);
            }
            (Some(k), None) => c.mismatches.push(format!(
                "{bdf}: `pci dump` lists vendor {:04x} device {:04x}, QEMU has no function there",
                k.vendor, k.device
            )),
            (None, Some(q)) => c.mismatches.push(format!(
                "{bdf}: QEMU has vendor {:04x} device {:04x} class {:04x}{}, `pci dump` does not list it",
                q.vendor_id,
                q.device_id,
                q.class,
                q.qdev_id.as_ref().map(|id| format!(" (-device id={id})")).unwrap_or_default()
            )),
            (None, None) => {}
        }
    }
    c.mismatches.extend(check_assignment(kernel));
    c
}

fn compare_function(k: &PciFunction, q: &QmpPciFunction, c: &mut Comparison) {
    let bdf = k.bdf;
    let mut differ = |what: &str, ours: String, theirs: String| {
        c.mismatches.push(format!("{bdf}: {what} is {ours} in `pci dump`, {theirs} in QEMU"));
    };
    if k.vendor != q.vendor_id {
        differ("vendor", format!("{:04x}", k.vendor), format!("{:04x}", q.vendor_id));
    }
    if k.device != q.device_id {
        differ("device", format!("{:04x}", k.device), format!("{:04x}", q.device_id));
    }
    if k.class >> 8 != u32::from(q.class) {
        differ(
            "class (base, sub)",
            format!("{:04x} (class={:06x})", k.class >> 8, k.class),
            format!("{:04x}", q.class),
        );
    }
    if k.header != q.header_type {
        let name = |h: u8| match h {
            0 => "0 (endpoint)".to_string(),
            1 => "1 (bridge)".to_string(),
            h => h.to_string(),
        };
        differ("header type", name(k.header), name(q.header_type));
    }
    if let Some(pin) = q.irq_pin {
        if k.pin != pin {
            differ("interrupt pin", k.pin.to_string(), pin.to_string());
        }
    }

    let regions: BTreeMap<u8, &QmpRegion> =
        q.regions.iter().filter(|r| r.bar < ROM_REGION).map(|r| (r.bar, r)).collect();
    let bars: BTreeMap<u8, &PciBar> = k.bars.iter().map(|b| (b.index, b)).collect();
    let indexes: BTreeSet<u8> = regions.keys().chain(bars.keys()).copied().collect();
    for index in indexes {
        match (bars.get(&index), regions.get(&index)) {
            (Some(b), Some(r)) => compare_bar(bdf, b, r, c),
            (Some(b), None) => {
                c.mismatches.push(format!("{bdf} bar{index}: `pci dump` reports {}, QEMU has no such BAR", describe(b)))
            }
            (None, Some(r)) => c.mismatches.push(format!(
                "{bdf} bar{index}: QEMU has a {} BAR of 0x{:x} bytes, `pci dump` does not report it",
                qmp_kind(r),
                r.size
            )),
            (None, None) => {}
        }
    }
}

fn compare_bar(bdf: Bdf, b: &PciBar, r: &QmpRegion, c: &mut Comparison) {
    let at = format!("{bdf} bar{}", b.index);
    let kind = qmp_kind(r);
    if b.kind != kind {
        c.mismatches.push(format!("{at}: kind is {} in `pci dump`, {kind} in QEMU", b.kind));
    }
    if b.size != r.size {
        c.mismatches.push(format!("{at}: size is 0x{:x} in `pci dump`, 0x{:x} in QEMU", b.size, r.size));
    }
    match r.address {
        Some(address) => {
            c.bars_compared += 1;
            if b.address != address {
                c.mismatches.push(format!("{at}: address is 0x{:x} in `pci dump`, 0x{address:x} in QEMU", b.address));
            }
        }
        None => {
            c.bars_undecoded += 1;
            if b.address == 0 {
                c.mismatches.push(format!(
                    "{at}: QEMU does not decode this BAR and `pci dump` reports address 0x0: nobody assigned it"
                ));
            }
        }
    }
}

/// The checks on the kernel's own BAR assignment: alignment, the I/O port
/// space, and overlaps within each address space. BARs at address 0 are
/// unassigned and already reported by the comparison.
fn check_assignment(kernel: &[PciFunction]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut assigned: Vec<(Bdf, &PciBar)> = Vec::new();
    for f in kernel {
        for b in f.bars.iter().filter(|b| b.address != 0) {
            let at = format!("{} bar{}", f.bdf, b.index);
            if b.address.checked_rem(b.size) != Some(0) {
                problems.push(format!("{at}: address 0x{:x} is not aligned to its size 0x{:x}", b.address, b.size));
            }
            if b.kind.is_io() && b.end() > 0xffff {
                problems.push(format!("{at}: I/O range {} reaches beyond port 0xffff", describe(b)));
            }
            assigned.push((f.bdf, b));
        }
    }
    assigned.sort_by_key(|(_, b)| (b.kind.is_io(), b.address));
    for (i, (bdf, b)) in assigned.iter().enumerate() {
        // Every later BAR of the same space that starts within this one overlaps it.
        for (other_bdf, o) in assigned[i + 1..].iter().take_while(|(_, o)| o.kind.is_io() == b.kind.is_io()) {
            if o.address > b.end() {
                break;
            }
            problems.push(format!(
                "{bdf} bar{} ({}) overlaps {other_bdf} bar{} ({})",
                b.index,
                describe(b),
                o.index,
                describe(o)
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::parse::parse_pci_dump;
    use crate::qmp::flatten_query_pci;
    use serde_json::Value;

    const STANDARD: &str = include_str!("../../tests/data/query-pci-standard.json");
    const BRIDGES: &str = include_str!("../../tests/data/query-pci-bridges.json");
    const QBOOT: &str = include_str!("../../tests/data/query-pci-qboot.json");

    fn sample(text: &str) -> Vec<QmpPciFunction> {
        let reply: Value = serde_json::from_str(text).unwrap();
        flatten_query_pci(&reply["return"]).unwrap()
    }

    /// `pci dump` as a kernel agreeing with QEMU would print it; regions QEMU
    /// does not decode get their addresses from `assign`.
    fn dump(qemu: &[QmpPciFunction], mut assign: impl FnMut(&QmpRegion) -> u64) -> String {
        let mut out = String::from("pci dump\n");
        // The kernel may list functions in any order.
        for f in qemu.iter().rev() {
            out.push_str(&format!(
                "pcifn {} vendor={:04x} device={:04x} class={:04x}00 header={} pin={}",
                qmp_bdf(f),
                f.vendor_id,
                f.device_id,
                f.class,
                f.header_type,
                f.irq_pin.unwrap_or(0)
            ));
            for r in f.regions.iter().filter(|r| r.bar < ROM_REGION) {
                let address = r.address.unwrap_or_else(|| assign(r));
                out.push_str(&format!(" bar{}={}:0x{address:x}/0x{:x}", r.bar, qmp_kind(r), r.size));
            }
            out.push('\n');
        }
        out.push_str("pci dump: end\n");
        out
    }

    fn mismatches(kernel: &str, qemu: &[QmpPciFunction]) -> Vec<String> {
        compare(&parse_pci_dump(kernel).unwrap(), qemu).mismatches
    }

    #[test]
    fn an_agreeing_kernel_passes_on_every_captured_machine() {
        for (name, text, functions, bars) in [("standard", STANDARD, 9, 13), ("bridges", BRIDGES, 14, 19)] {
            let qemu = sample(text);
            let c = compare(&parse_pci_dump(&dump(&qemu, |_| unreachable!())).unwrap(), &qemu);
            assert_eq!(c.mismatches, Vec::<String>::new(), "{name}");
            assert_eq!((c.functions, c.bars_compared, c.bars_undecoded), (functions, bars, 0), "{name}");
        }
    }

    #[test]
    fn under_qboot_unassigned_bars_need_a_nonzero_address() {
        let qemu = sample(QBOOT);
        // A kernel that assigned everything but left decoding off: QEMU cannot
        // confirm the addresses, and nothing is wrong with them.
        let mut next_mem = 0xc000_0000u64;
        let mut next_io = 0x1000u64;
        let text = dump(&qemu, |r| {
            let next = if r.kind == RegionKind::Io { &mut next_io } else { &mut next_mem };
            let address = next.next_multiple_of(r.size);
            *next = address + r.size;
            address
        });
        let c = compare(&parse_pci_dump(&text).unwrap(), &qemu);
        assert_eq!(c.mismatches, Vec::<String>::new());
        assert_eq!((c.bars_compared, c.bars_undecoded), (0, 13));
        assert!(c.summary().contains("13 not decoded"));

        // A kernel that assigned nothing.
        let nothing = dump(&qemu, |_| 0);
        let m = mismatches(&nothing, &qemu);
        assert_eq!(m.len(), 13, "{m:#?}");
        assert!(m.iter().all(|l| l.contains("nobody assigned it")));
    }

    #[test]
    fn every_mismatch_is_reported() {
        let qemu = sample(BRIDGES);
        let good = dump(&qemu, |_| unreachable!());
        let e1000 = qemu.iter().find(|f| (f.bus, f.slot) == (0, 4)).unwrap();
        let (mem, io) = (e1000.regions[0].address.unwrap(), e1000.regions[1].address.unwrap());
        let edits = [
            // Another vendor and device for edu at 00:01.0.
            ("0000:00:01.0 vendor=1234 device=11e8", "0000:00:01.0 vendor=1235 device=11e9".to_string()),
            // The e1000 behind the bridge: wrong class, header and pin.
            (
                "0000:03:00.0 vendor=8086 device=100e class=020000 header=0 pin=1",
                "0000:03:00.0 vendor=8086 device=100e class=028000 header=1 pin=2".to_string(),
            ),
            // The first e1000's BAR0 moved to a free place, its BAR1 wrong in every way.
            (&format!("bar0=mem32:0x{mem:x}/0x20000"), "bar0=mem32:0xf0000000/0x20000".to_string()),
            (&format!("bar1=io:0x{io:x}/0x40"), "bar1=mem32:0xf1000040/0x80".to_string()),
        ];
        let mut bad = good.clone();
        for (from, to) in &edits {
            assert!(bad.contains(from), "{from:?} not in {good}");
            bad = bad.replace(from, to);
        }
        // The SMBus goes missing and an extra function appears.
        let bad: String = bad
            .lines()
            .filter(|l| !l.contains("0000:00:1f.3"))
            .map(|l| match l {
                "pci dump: end" => {
                    "pcifn 0000:00:09.0 vendor=abcd device=0001 class=ff0000 header=0 pin=0\npci dump: end\n"
                        .to_string()
                }
                l => format!("{l}\n"),
            })
            .collect();
        let m = mismatches(&bad, &qemu);
        let expected = [
            "0000:00:01.0: vendor is 1235 in `pci dump`, 1234 in QEMU".to_string(),
            "0000:00:01.0: device is 11e9 in `pci dump`, 11e8 in QEMU".to_string(),
            format!("0000:00:04.0 bar0: address is 0xf0000000 in `pci dump`, 0x{mem:x} in QEMU"),
            "0000:00:04.0 bar1: kind is mem32 in `pci dump`, io in QEMU".to_string(),
            "0000:00:04.0 bar1: size is 0x80 in `pci dump`, 0x40 in QEMU".to_string(),
            format!("0000:00:04.0 bar1: address is 0xf1000040 in `pci dump`, 0x{io:x} in QEMU"),
            "0000:00:09.0: `pci dump` lists vendor abcd device 0001, QEMU has no function there".to_string(),
            "0000:00:1f.3: QEMU has vendor 8086 device 2930 class 0c05, `pci dump` does not list it".to_string(),
            "0000:03:00.0: class (base, sub) is 0280 (class=028000) in `pci dump`, 0200 in QEMU".to_string(),
            "0000:03:00.0: header type is 1 (bridge) in `pci dump`, 0 (endpoint) in QEMU".to_string(),
            "0000:03:00.0: interrupt pin is 2 in `pci dump`, 1 in QEMU".to_string(),
        ];
        // In BDF order, then the checks of the kernel's own assignment.
        assert_eq!(m[..expected.len()], expected, "{m:#?}");
        assert_eq!(m[expected.len()..], ["0000:00:04.0 bar1: address 0xf1000040 is not aligned to its size 0x80"]);
    }

    #[test]
    fn missing_and_extra_bars_are_reported() {
        let qemu = sample(STANDARD);
        let good = dump(&qemu, |_| unreachable!());
        let line = good.lines().find(|l| l.contains("0000:00:02.0")).unwrap().to_string();
        // Drop the virtio-blk's BAR4, add a BAR5.
        let words: Vec<&str> = line.split(' ').filter(|w| !w.starts_with("bar4=")).collect();
        let changed = format!("{} bar5=io:0x8000/0x4", words.join(" "));
        let m = mismatches(&good.replace(&line, &changed), &qemu);
        assert_eq!(
            m,
            [
                "0000:00:02.0 bar4: QEMU has a mem64p BAR of 0x4000 bytes, `pci dump` does not report it",
                "0000:00:02.0 bar5: `pci dump` reports io:0x8000/0x4, QEMU has no such BAR",
            ]
        );
    }

    #[test]
    fn the_rom_and_missing_pins_are_not_compared() {
        let mut qemu = sample(STANDARD);
        for f in &mut qemu {
            f.irq_pin = None;
        }
        let text = dump(&sample(STANDARD), |_| unreachable!()).replace("pin=1", "pin=3");
        assert_eq!(mismatches(&text, &qemu), Vec::<String>::new());
        // The e1000 has a ROM in QEMU (region 6); the dump has no bar6 and needs none.
        assert!(qemu.iter().any(|f| f.regions.iter().any(|r| r.bar == ROM_REGION)));
    }

    #[test]
    fn overlaps_and_port_space_are_checked() {
        let f = |n: u8, bars: &str| {
            format!("pcifn 0000:00:{n:02x}.0 vendor=1234 device=00{n:02x} class=000000 header=0 pin=0 {bars}\n")
        };
        let text = [
            f(1, "bar0=mem32:0x1000/0x1000 bar1=io:0x10000/0x20"),
            f(2, "bar0=mem64:0x1800/0x800 bar2=io:0x1000/0x10"),
            f(3, "bar0=mem32:0x3000/0x1000 bar1=io:0x1008/0x8"),
            "pci dump: end\n".into(),
        ]
        .concat();
        let kernel = parse_pci_dump(&text).unwrap();
        let problems = check_assignment(&kernel);
        assert_eq!(
            problems,
            [
                "0000:00:01.0 bar1: I/O range io:0x10000/0x20 reaches beyond port 0xffff",
                "0000:00:01.0 bar0 (mem32:0x1000/0x1000) overlaps 0000:00:02.0 bar0 (mem64:0x1800/0x800)",
                "0000:00:02.0 bar2 (io:0x1000/0x10) overlaps 0000:00:03.0 bar1 (io:0x1008/0x8)",
            ]
        );
        // Memory at 0x1000 and ports at 0x1000 do not collide.
        let ok = parse_pci_dump(&(f(1, "bar0=mem32:0x1000/0x1000 bar1=io:0x1000/0x20") + "pci dump: end")).unwrap();
        assert!(check_assignment(&ok).is_empty());
    }
}
