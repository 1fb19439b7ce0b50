//! INTx swizzling (PPB 1.2 §9.1, table 9-1) and q35's default PIRQ routing
//! (QEMU `hw/isa/lpc_ich9.c`). Expected values are written out by hand.

mod model;

use pci::enumerate::{scan, BusNumbering};
use pci::intx::{q35_gsi, q35_gsi_for, q35_pirq, route_to_root, swizzle};
use pci::{Bdf, IntxPin};
use IntxPin::{A, B, C, D};

#[test]
fn swizzle_matches_the_bridge_spec_table() {
    // Rows: device number mod 4; columns: the device's INTA..INTD; entry:
    // the pin seen on the bridge's primary side.
    let table = [
        [A, B, C, D], // device 0, 4, 8, ...
        [B, C, D, A], // device 1, 5, ...
        [C, D, A, B], // device 2, 6, ...
        [D, A, B, C], // device 3, 7, ...
    ];
    for device in 0..32u8 {
        for (i, pin) in IntxPin::ALL.into_iter().enumerate() {
            assert_eq!(swizzle(device, pin), table[usize::from(device % 4)][i], "device {device} {pin}");
        }
    }
}

#[test]
fn q35_root_bus_slots_use_pirq_e_to_h() {
    // ich9_cc_init: pin i of slot s → PIRQ (s + i) mod 4 + 4 (E..H).
    assert_eq!(q35_pirq(0, A), 4);
    assert_eq!(q35_pirq(1, A), 5);
    assert_eq!(q35_pirq(2, A), 6);
    assert_eq!(q35_pirq(3, A), 7);
    assert_eq!(q35_pirq(4, A), 4);
    assert_eq!(q35_pirq(3, B), 4);
    assert_eq!(q35_pirq(2, D), 5);
    assert_eq!(q35_pirq(24, C), 6);
    // PIRQ n is GSI 16 + n: e1000 in slot 1 → GSI 21, edu in slot 3 → 23.
    assert_eq!(q35_gsi(1, A), 21);
    assert_eq!(q35_gsi(3, A), 23);
    assert_eq!(q35_gsi(4, A), 20);
}

#[test]
fn q35_chipset_slots_use_their_dir_registers() {
    // D25IR..D31IR reset to 0x3210: INTA..D → PIRQ A..D → GSI 16..19.
    for slot in [25, 26, 27, 28, 29, 31] {
        assert_eq!([A, B, C, D].map(|p| q35_gsi(slot, p)), [16, 17, 18, 19], "slot {slot}");
    }
    // Slot 30 (DMI-to-PCI bridge) is fixed at PIRQ E..H.
    assert_eq!([A, B, C, D].map(|p| q35_gsi(30, p)), [20, 21, 22, 23]);
    // Every GSI is one of the eight PIRQ inputs.
    for slot in 0..32 {
        for pin in IntxPin::ALL {
            assert!((16..24).contains(&q35_gsi(slot, pin)));
        }
    }
}

#[test]
fn interrupts_behind_bridges_are_swizzled_up_to_the_root() {
    let pci = model::q35_like(true);
    let topo = scan(&pci, 0, BusNumbering::KeepFirmware).unwrap();
    let index = |bus, dev, func| topo.function_index(Bdf::new(0, bus, dev, func)).unwrap();

    // Root bus: no swizzle.
    assert_eq!(route_to_root(&topo, index(0, 1, 0)), Some((1, A)));
    assert_eq!(q35_gsi_for(&topo, index(0, 1, 0)), Some(21));
    // AHCI at 1f.2, INTA → D31IR → PIRQA → GSI 16.
    assert_eq!(q35_gsi_for(&topo, index(0, 31, 2)), Some(16));
    // virtio-blk at 02:01.0 INTA → (bridge 01:00.0) INTB → (port 00:02.0
    // sees device 0) INTB → slot 2 INTB → PIRQ (2 + 1) mod 4 + 4 = H → 23.
    assert_eq!(route_to_root(&topo, index(2, 1, 0)), Some((2, B)));
    assert_eq!(q35_gsi_for(&topo, index(2, 1, 0)), Some(23));
    // edu at 02:02.0 INTA → INTC → INTC at slot 2 → PIRQ E → 20.
    assert_eq!(route_to_root(&topo, index(2, 2, 0)), Some((2, C)));
    assert_eq!(q35_gsi_for(&topo, index(2, 2, 0)), Some(20));
    // NVMe at 03:00.0 INTA → port 00:03.0 INTA → PIRQ H → 23.
    assert_eq!(q35_gsi_for(&topo, index(3, 0, 0)), Some(23));
    // VGA has no interrupt pin.
    assert_eq!(route_to_root(&topo, index(2, 3, 0)), None);
    assert_eq!(route_to_root(&topo, 999), None);
}
