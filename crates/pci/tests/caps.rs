//! Capability list walks (PCI 3.0 §6.7, PCIe §7.6), including corrupt lists.

use pci::caps::{
    self, capabilities, extended_capabilities, find, find_extended, pcie_port_type, CapError, Capability,
    ExtCapability, PciePortType,
};
use pci::sim::{SimFunction, SimPci};
use pci::Bdf;

const DEV: Bdf = Bdf::new(0, 0, 3, 0);

fn with(f: SimFunction) -> SimPci {
    SimPci::new().device(3, 0, f)
}

fn walk(pci: &SimPci) -> Vec<Result<Capability, CapError>> {
    capabilities(pci, DEV).collect()
}

/// PM at 0x40 (8 bytes), MSI 64-bit at 0x48 (16), vendor-specific at 0x58
/// (16), MSI-X at 0x68 (12), PCIe at 0x74 (0x3c).
fn five_caps() -> SimFunction {
    SimFunction::endpoint(0x1af4, 0x1041)
        .power_management()
        .msi(0, true, false)
        .capability(0x09, 16)
        .msix(4, 1, 0, 1, 0x800)
        .pcie(0x0)
}

#[test]
fn standard_list_in_order_with_names() {
    let pci = with(five_caps());
    let caps: Vec<_> = walk(&pci).into_iter().map(Result::unwrap).collect();
    let found: Vec<(u16, u8)> = caps.iter().map(|c| (c.offset, c.id)).collect();
    assert_eq!(found, [(0x40, 0x01), (0x48, 0x05), (0x58, 0x09), (0x68, 0x11), (0x74, 0x10)]);
    let names: Vec<_> = caps.iter().map(Capability::name).collect();
    assert_eq!(names, ["Power Management", "MSI", "Vendor Specific", "MSI-X", "Express"]);
    assert_eq!(find(&pci, DEV, 0x11), Ok(Some(0x68)));
    assert_eq!(find(&pci, DEV, 0x0d), Ok(None));
    assert_eq!(pcie_port_type(&pci, DEV), Ok(Some(PciePortType::Endpoint)));
}

#[test]
fn no_list_when_status_says_so() {
    // Pointer set but Status bit 4 clear: there is no list.
    let pci = with(SimFunction::endpoint(1, 2).poke8(0x34, 0x40).poke8(0x40, 0x05));
    assert!(walk(&pci).is_empty());
    assert_eq!(pcie_port_type(&pci, DEV), Ok(None));
    // Absent function: nothing, no error.
    assert!(capabilities(&pci, Bdf::new(0, 0, 7, 0)).next().is_none());
}

#[test]
fn a_loop_ends_the_walk_with_an_error() {
    // The last capability (PCIe at 0x74) points back to MSI at 0x48.
    let pci = with(five_caps().poke8(0x75, 0x48));
    let caps = walk(&pci);
    assert_eq!(caps.len(), 6, "five capabilities, then the error, then nothing");
    assert_eq!(caps[5], Err(CapError::Loop { from: 0x74, to: 0x48 }));
    assert_eq!(find(&pci, DEV, 0x0d), Err(CapError::Loop { from: 0x74, to: 0x48 }));
    // A capability pointing at itself.
    let pci = with(SimFunction::endpoint(1, 2).power_management().poke8(0x41, 0x40));
    assert_eq!(walk(&pci), [Ok(Capability { offset: 0x40, id: 1 }), Err(CapError::Loop { from: 0x40, to: 0x40 })]);
}

#[test]
fn a_pointer_into_the_header_is_an_error() {
    let pci = with(five_caps().poke8(0x59, 0x20));
    let caps = walk(&pci);
    assert_eq!(caps.len(), 4);
    assert_eq!(caps[3], Err(CapError::BadPointer { from: 0x58, to: 0x20 }));
    // The header's own pointer can be bad too.
    let pci = with(five_caps().poke8(0x34, 0x3c));
    assert_eq!(walk(&pci), [Err(CapError::BadPointer { from: 0x34, to: 0x3c })]);
}

#[test]
fn reserved_pointer_bits_are_masked_as_the_spec_requires() {
    // 0x4b: bits 1:0 are reserved, so this means 0x48.
    let pci = with(five_caps().poke8(0x41, 0x4b));
    let offsets: Vec<u16> = walk(&pci).into_iter().map(|c| c.unwrap().offset).collect();
    assert_eq!(offsets, [0x40, 0x48, 0x58, 0x68, 0x74]);
}

#[test]
fn a_function_vanishing_mid_walk_is_an_error() {
    let pci = with(five_caps());
    let id = pci.find(0x1af4, 0x1041).unwrap();
    pci.raw_write32(id, 0x58, 0xffff_ffff);
    let caps = walk(&pci);
    assert_eq!(caps[2], Err(CapError::NotPresent { at: 0x58 }));
    assert_eq!(caps.len(), 3);
}

#[test]
fn the_longest_possible_list_is_walked_and_bounded() {
    // 48 four-byte capabilities fill 0x40..0x100 exactly.
    let mut f = SimFunction::endpoint(1, 2);
    for _ in 0..48 {
        f = f.capability(0x09, 4);
    }
    let pci = with(f);
    let caps = walk(&pci);
    assert_eq!(caps.len(), 48);
    assert!(caps.iter().all(Result::is_ok));
}

fn express_with_ext() -> SimFunction {
    SimFunction::endpoint(0x1b36, 0x0010)
        .pcie(0x0)
        .ext_capability(0x0001, 2, 0x48) // AER at 0x100
        .ext_capability(0x0003, 1, 0x0c) // DSN at 0x148
        .ext_capability(0x000e, 1, 0x08) // ARI at 0x154
}

#[test]
fn extended_list_in_order_with_versions_and_names() {
    let pci = with(express_with_ext());
    let caps: Vec<ExtCapability> = extended_capabilities(&pci, DEV).map(Result::unwrap).collect();
    assert_eq!(
        caps,
        [
            ExtCapability { offset: 0x100, id: 0x0001, version: 2 },
            ExtCapability { offset: 0x148, id: 0x0003, version: 1 },
            ExtCapability { offset: 0x154, id: 0x000e, version: 1 },
        ]
    );
    assert_eq!(caps[0].name(), "Advanced Error Reporting");
    assert_eq!(find_extended(&pci, DEV, 0x000e), Ok(Some(0x154)));
    assert_eq!(find_extended(&pci, DEV, 0x0010), Ok(None));
}

#[test]
fn extended_list_ends_on_zero_and_on_all_ones() {
    // PCIe function without extended capabilities: header 0 at 0x100.
    let pci = with(SimFunction::endpoint(1, 2).pcie(0));
    assert!(extended_capabilities(&pci, DEV).next().is_none());
    // Conventional function: offset 0x100 reads all ones.
    let pci = with(SimFunction::endpoint(1, 2));
    assert!(extended_capabilities(&pci, DEV).next().is_none());
    // Zero header reached through a next pointer also ends it.
    let pci = with(SimFunction::endpoint(1, 2).ext_capability(0x0001, 1, 8).poke32(0x100, 0x2000_0001));
    let caps: Vec<_> = extended_capabilities(&pci, DEV).collect();
    assert_eq!(caps, [Ok(ExtCapability { offset: 0x100, id: 1, version: 0 })]);
}

#[test]
fn extended_loops_and_bad_pointers_are_errors() {
    // DSN at 0x148 points back to 0x100.
    let f = express_with_ext().poke32(0x148, 0x1001_0003);
    let caps: Vec<_> = extended_capabilities(&with(f), DEV).collect();
    assert_eq!(caps.len(), 3);
    assert_eq!(caps[2], Err(CapError::Loop { from: 0x148, to: 0x100 }));
    // AER's next pointer is 0x0c0, inside the legacy space.
    let f = express_with_ext().poke32(0x100, 0x0c02_0001);
    let caps: Vec<_> = extended_capabilities(&with(f), DEV).collect();
    assert_eq!(caps[1], Err(CapError::BadPointer { from: 0x100, to: 0x0c0 }));
    assert_eq!(caps.len(), 2);
}

#[test]
fn root_port_type_is_read_from_the_express_capability() {
    let pci = SimPci::new().bridge(3, 0, SimFunction::pcie_root_port(), |b| b);
    assert_eq!(pcie_port_type(&pci, DEV), Ok(Some(PciePortType::RootPort)));
    assert_eq!(caps::name(0x42), "Unknown");
    assert_eq!(caps::ext_name(0x0010), "Single Root I/O Virtualization (SR-IOV)");
}
