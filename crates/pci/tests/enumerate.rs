//! Enumeration and bus numbering (PPB 1.2 §3.2.5.2–4) against the
//! simulator, which routes configuration cycles by the bridges' registers.

mod model;

use pci::enumerate::{scan, BusNumbering, ScanError, ScanProblem, Topology, MAX_BRIDGE_DEPTH};
use pci::sim::{SimFunction, SimPci};
use pci::{Bdf, ConfigAccess, IntxPin};

fn bdfs(topo: &Topology) -> Vec<String> {
    topo.functions.iter().map(|f| f.info.bdf.short().to_string()).collect()
}

fn numbers(topo: &Topology) -> Vec<(String, u8, u8, u8)> {
    topo.bridges.iter().map(|b| (b.bdf.short().to_string(), b.primary, b.secondary, b.subordinate)).collect()
}

/// Every function of `model::q35_like`, in depth-first order.
const ALL: [&str; 12] = [
    "00:00.0", "00:01.0", "00:02.0", "01:00.0", "02:01.0", "02:02.0", "02:03.0", "00:03.0", "03:00.0", "00:1f.0",
    "00:1f.2", "00:1f.3",
];

#[test]
fn firmware_numbers_are_kept_and_everything_is_found() {
    let pci = model::q35_like(true);
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(bdfs(&topo), ALL);
    assert_eq!(numbers(&topo), [("00:02.0".into(), 0, 1, 2), ("01:00.0".into(), 1, 2, 2), ("00:03.0".into(), 0, 3, 3)]);
    assert!(topo.problems.is_empty());
    assert!(topo.bridges.iter().all(|b| b.scanned && !b.assigned));
    assert!(pci.writes().is_empty(), "a scan that keeps firmware numbers writes nothing");

    // Parents and depths.
    let edu = topo.function(Bdf::new(0, 2, 2, 0)).unwrap();
    assert_eq!((edu.depth, edu.parent), (2, Some(1)));
    assert_eq!(topo.bridges[1].parent, Some(0));
    let nvme = topo.function(Bdf::new(0, 3, 0, 0)).unwrap();
    assert_eq!((nvme.depth, nvme.parent), (1, Some(2)));
    assert_eq!(topo.function(Bdf::new(0, 0, 1, 0)).unwrap().parent, None);
    assert_eq!(topo.children(Some(1)).count(), 3);
    assert_eq!(topo.max_bus(), 3);

    // Counters.
    let s = topo.stats;
    assert_eq!((s.buses_scanned, s.functions_found, s.bridges_found, s.buses_assigned), (4, 12, 3, 0));
    assert_eq!(s.slots_probed, 4 * 32);
    assert_eq!(s.config_writes, 0);
    assert!(s.config_reads >= u64::from(s.slots_probed));
}

#[test]
fn assign_if_missing_keeps_consistent_firmware_numbers() {
    let pci = model::q35_like(true);
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    assert_eq!(bdfs(&topo), ALL);
    assert!(topo.bridges.iter().all(|b| !b.assigned));
    assert!(pci.writes().is_empty());
}

#[test]
fn with_all_zeros_keep_firmware_sees_only_the_root_bus() {
    let pci = model::q35_like(false);
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(bdfs(&topo), ["00:00.0", "00:01.0", "00:02.0", "00:03.0", "00:1f.0", "00:1f.2", "00:1f.3"]);
    assert_eq!(
        topo.problems,
        [
            ScanProblem::UnconfiguredBridge { bdf: Bdf::new(0, 0, 2, 0) },
            ScanProblem::UnconfiguredBridge { bdf: Bdf::new(0, 0, 3, 0) },
        ]
    );
    assert!(topo.bridges.iter().all(|b| !b.scanned));
}

#[test]
fn with_all_zeros_bus_numbers_are_assigned_depth_first() {
    let pci = model::q35_like(false);
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    assert_eq!(bdfs(&topo), ALL);
    assert_eq!(numbers(&topo), [("00:02.0".into(), 0, 1, 2), ("01:00.0".into(), 1, 2, 2), ("00:03.0".into(), 0, 3, 3)]);
    assert!(topo.bridges.iter().all(|b| b.assigned && b.scanned));
    assert_eq!(topo.stats.buses_assigned, 3);

    // The registers hold them (latency byte kept at 0), read through the
    // now-working routing.
    assert_eq!(pci.read32(Bdf::new(0, 0, 2, 0), 0x18), 0x0002_0100);
    assert_eq!(pci.read32(Bdf::new(0, 1, 0, 0), 0x18), 0x0002_0201);
    assert_eq!(pci.read32(Bdf::new(0, 0, 3, 0), 0x18), 0x0003_0300);

    // The protocol for the root port: subordinate 0xff while its subtree
    // was scanned, then closed at the highest bus found.
    let rp: Vec<u32> =
        pci.writes().iter().filter(|w| w.bdf == Bdf::new(0, 0, 2, 0) && w.offset == 0x18).map(|w| w.value).collect();
    assert_eq!(rp, [0x00ff_0100, 0x0002_0100]);
    // A rescan keeps what was assigned.
    pci.clear_writes();
    let again = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    assert_eq!(numbers(&again), numbers(&topo));
    assert!(pci.writes().is_empty());
}

#[test]
fn functions_beyond_zero_are_probed_only_when_function_0_says_multi_function() {
    let extra = || SimFunction::endpoint(0x8086, 0x2930).class(0x0c, 0x05, 0).interrupt_pin(IntxPin::B);
    // Device 4: function 0 multi-function, functions 3 and 7 exist.
    // Device 5: function 0 is NOT multi-function; a function 1 answers
    // anyway (a phantom, as some single-function devices decode every
    // function number) and must not be listed.
    let pci = SimPci::new()
        .device(4, 0, SimFunction::endpoint(0x8086, 0x2918).multi_function())
        .device(4, 3, extra())
        .device(4, 7, extra())
        .device(5, 0, SimFunction::endpoint(0x8086, 0x100e))
        .device(5, 1, extra());
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(bdfs(&topo), ["00:04.0", "00:04.3", "00:04.7", "00:05.0"]);
    assert!(topo.functions[0].info.multi_function);
    assert_eq!(topo.functions[1].info.interrupt_pin, Some(IntxPin::B));
}

#[test]
fn a_bridge_pointing_back_up_does_not_loop() {
    // Root port 0/1/1; behind it a bridge claiming secondary 1 — its own
    // bus — and another claiming bus 0.
    let build = || {
        SimPci::new().bridge(2, 0, SimFunction::pcie_root_port().bus_numbers(0, 1, 1), |bus| {
            bus.bridge(0, 0, SimFunction::qemu_pci_bridge().bus_numbers(1, 1, 1), |b| b).bridge(
                1,
                0,
                SimFunction::qemu_pci_bridge().bus_numbers(1, 0, 0xff),
                |b| b,
            )
        })
    };
    let pci = build();
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(bdfs(&topo), ["00:02.0", "01:00.0", "01:01.0"]);
    assert_eq!(
        topo.problems,
        [
            ScanProblem::BadBusNumbers { bdf: Bdf::new(0, 1, 0, 0), numbers: (1, 1, 1) },
            ScanProblem::BadBusNumbers { bdf: Bdf::new(0, 1, 1, 0), numbers: (1, 0, 0xff) },
        ]
    );
    // Rebuilt as firmware left it: 1/1/1 does not fit in the root port's
    // 1..=1 range, so numbering the bridges behind it runs out.
    let pci = build();
    assert_eq!(
        scan(&pci, 0, BusNumbering::AssignIfMissing),
        Err(ScanError::BusNumbersExhausted { bridge: Bdf::new(0, 1, 0, 0) })
    );
}

#[test]
fn two_bridges_claiming_one_bus_scan_it_once() {
    let pci = SimPci::new()
        .bridge(2, 0, SimFunction::pcie_root_port().bus_numbers(0, 1, 1), |b| b.device(0, 0, model::nvme()))
        .bridge(3, 0, SimFunction::pcie_root_port().bus_numbers(0, 1, 1), |b| b.device(0, 0, model::edu()));
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(bdfs(&topo), ["00:02.0", "01:00.0", "00:03.0"]);
    assert_eq!(topo.problems, [ScanProblem::BusAlreadyScanned { bdf: Bdf::new(0, 0, 3, 0), bus: 1 }]);
    // Renumbering fixes it: the second port gets bus 2.
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    assert_eq!(bdfs(&topo), ["00:02.0", "01:00.0", "00:03.0", "02:00.0"]);
    assert_eq!(numbers(&topo)[1], ("00:03.0".into(), 0, 2, 2));
}

#[test]
fn overlapping_firmware_ranges_are_renumbered() {
    // Port 02.0 reserves buses 1..=5 (e.g. for hot-plug) but only bus 1 is
    // populated; port 03.0 claims bus 3, inside that range. Configuration
    // cycles for bus 3 go to port 02.0, so nothing behind 03.0 is
    // reachable until it gets a number of its own.
    let pci = SimPci::new()
        .bridge(2, 0, SimFunction::pcie_root_port().bus_numbers(0, 1, 5), |b| b.device(0, 0, model::nvme()))
        .bridge(3, 0, SimFunction::pcie_root_port().bus_numbers(0, 3, 3), |b| b.device(0, 0, model::edu()));
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(bdfs(&topo), ["00:02.0", "01:00.0", "00:03.0"]);
    assert_eq!(topo.problems, [ScanProblem::OverlappingRange { bdf: Bdf::new(0, 0, 3, 0), bus: 3 }]);
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    assert_eq!(bdfs(&topo), ["00:02.0", "01:00.0", "00:03.0", "06:00.0"]);
    assert_eq!(numbers(&topo), [("00:02.0".into(), 0, 1, 5), ("00:03.0".into(), 0, 6, 6)]);
    assert_eq!((topo.bridges[0].assigned, topo.bridges[1].assigned), (false, true));
}

#[test]
fn the_bridge_chain_is_bounded() {
    // A chain deeper than MAX_BRIDGE_DEPTH; each bridge numbered by the scan.
    fn chain(bus: pci::sim::SimBus<'_>, left: u32) -> pci::sim::SimBus<'_> {
        if left == 0 {
            return bus.device(0, 0, model::edu());
        }
        bus.bridge(0, 0, SimFunction::qemu_pci_bridge(), move |b| chain(b, left - 1))
    }
    let pci = SimPci::new().bridge(1, 0, SimFunction::qemu_pci_bridge(), |b| chain(b, 40));
    let topo = scan(&pci, 0, BusNumbering::AssignIfMissing).unwrap();
    assert_eq!(topo.bridges.len(), usize::from(MAX_BRIDGE_DEPTH));
    assert_eq!(topo.problems.len(), 1);
    assert!(matches!(topo.problems[0], ScanProblem::TooDeep { .. }));
    assert!(topo.functions.iter().all(|f| f.depth < MAX_BRIDGE_DEPTH));
}

#[test]
fn another_segment_and_an_empty_one() {
    let pci = model::q35_like(true).segment(1);
    assert!(scan(&pci, 0, BusNumbering::KeepFirmware).unwrap().functions.is_empty());
    let topo = scan(&pci, 1, BusNumbering::KeepFirmware).unwrap();
    assert_eq!(topo.functions.len(), 12);
    assert!(topo.functions.iter().all(|f| f.info.bdf.segment == 1));
}
