//! Header parsing (PCI 3.0 §6.2.1, §6.2.4) and `lspci` names.

mod model;

use pci::header::{read_function, ClassCode, HeaderType, IntxPin};
use pci::sim::{SimFunction, SimPci};
use pci::{Bdf, ConfigAccess};

#[test]
fn endpoint_header_is_parsed() {
    let pci = SimPci::new().device(1, 0, model::e1000().interrupt_line(11));
    let info = read_function(&pci, Bdf::new(0, 0, 1, 0)).expect("present");
    assert_eq!((info.vendor, info.device), (0x8086, 0x100e));
    assert_eq!((info.subsystem_vendor, info.subsystem_device), (0x1af4, 0x1100));
    assert_eq!(info.revision, 0x03);
    assert_eq!(info.class, ClassCode { base: 0x02, sub: 0x00, prog_if: 0x00 });
    assert_eq!(info.header_type, HeaderType::Endpoint);
    assert!(!info.multi_function);
    assert_eq!(info.interrupt_pin, Some(IntxPin::A));
    assert_eq!(info.interrupt_line, 11);
    assert!(!info.is_bridge());
}

#[test]
fn bridge_header_is_parsed_with_subsystem_from_its_capability() {
    let bridge = SimFunction::pcie_root_port().subsystem(0x1b36, 0x0000).interrupt_pin(IntxPin::A);
    let pci = SimPci::new().bridge(2, 0, bridge, |bus| bus);
    let info = read_function(&pci, Bdf::new(0, 0, 2, 0)).unwrap();
    assert_eq!(info.header_type, HeaderType::PciBridge);
    assert!(info.is_bridge());
    assert_eq!(info.class.as_u32(), 0x06_04_00);
    assert_eq!((info.subsystem_vendor, info.subsystem_device), (0x1b36, 0x0000));
    // A bridge without the capability reports subsystem 0 — not the bytes
    // at 0x2c, which are its prefetchable limit upper half.
    let plain = SimFunction::qemu_pci_bridge();
    let pci = SimPci::new().bridge(3, 0, plain, |bus| bus);
    pci.write32(Bdf::new(0, 0, 3, 0), 0x2c, 0x1234_5678);
    let info = read_function(&pci, Bdf::new(0, 0, 3, 0)).unwrap();
    assert_eq!((info.subsystem_vendor, info.subsystem_device), (0, 0));
}

#[test]
fn multi_function_bit_and_other_layouts() {
    let pci = SimPci::new()
        .device(31, 0, model::lpc())
        .device(31, 2, model::ahci())
        .device(5, 0, SimFunction::endpoint(0x1111, 0x2222).poke8(0x0e, 0x02))
        .device(6, 0, SimFunction::endpoint(0x1111, 0x2223).poke8(0x0e, 0x85));
    let lpc = read_function(&pci, Bdf::new(0, 0, 31, 0)).unwrap();
    assert!(lpc.multi_function);
    assert_eq!(lpc.header_type, HeaderType::Endpoint);
    assert_eq!(read_function(&pci, Bdf::new(0, 0, 31, 2)).unwrap().class.as_u32(), 0x01_06_01);
    assert_eq!(read_function(&pci, Bdf::new(0, 0, 5, 0)).unwrap().header_type, HeaderType::CardBus);
    let odd = read_function(&pci, Bdf::new(0, 0, 6, 0)).unwrap();
    assert_eq!(odd.header_type, HeaderType::Unknown(0x05));
    assert!(odd.multi_function);
    assert_eq!(HeaderType::Unknown(5).bar_count(), 0);
    assert_eq!(HeaderType::PciBridge.bar_count(), 2);
}

#[test]
fn absent_and_zero_vendor_functions_are_none() {
    let pci = SimPci::new().device(1, 0, SimFunction::endpoint(0x0000, 0x0000));
    assert_eq!(read_function(&pci, Bdf::new(0, 0, 1, 0)), None, "vendor 0 is not a function");
    assert_eq!(read_function(&pci, Bdf::new(0, 0, 2, 0)), None);
}

#[test]
fn interrupt_pin_register_decodes_a_to_d_and_rejects_the_rest() {
    assert_eq!(IntxPin::from_register(0), None);
    assert_eq!(IntxPin::from_register(1), Some(IntxPin::A));
    assert_eq!(IntxPin::from_register(4), Some(IntxPin::D));
    assert_eq!(IntxPin::from_register(5), None);
    assert_eq!(IntxPin::from_register(0xff), None);
    for pin in IntxPin::ALL {
        assert_eq!(IntxPin::from_register(pin.number()), Some(pin));
    }
}

#[test]
fn lspci_lines_for_the_q35_devices() {
    let pci = model::q35_like(true);
    let line = |bus, dev, func| read_function(&pci, Bdf::new(0, bus, dev, func)).unwrap().lspci().to_string();
    assert_eq!(
        line(0, 1, 0),
        "00:01.0 Ethernet controller [0200]: Intel Corporation 82540EM Gigabit Ethernet Controller [8086:100e] (rev 03)"
    );
    assert_eq!(
        line(0, 0, 0),
        "00:00.0 Host bridge [0600]: Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller [8086:29c0]"
    );
    assert_eq!(line(0, 2, 0), "00:02.0 PCI bridge [0604]: Red Hat, Inc. QEMU PCIe Root port [1b36:000c]");
    assert_eq!(line(2, 2, 0), "02:02.0 Unclassified device [00ff]: QEMU QEMU edu device [1234:11e8] (rev 10)");
    assert_eq!(line(2, 1, 0), "02:01.0 SCSI storage controller [0100]: Red Hat, Inc. Virtio block device [1af4:1001]");
    assert!(line(3, 0, 0).starts_with("03:00.0 Non-Volatile memory controller [0108]: Red Hat, Inc. QEMU NVM Express"));
    assert!(line(0, 31, 0).starts_with("00:1f.0 ISA bridge [0601]"));
    assert!(line(0, 31, 2).starts_with("00:1f.2 SATA controller [0106]"));
    assert!(line(0, 31, 3).starts_with("00:1f.3 SMBus [0c05]"));
    assert!(line(2, 3, 0).starts_with("02:03.0 VGA compatible controller [0300]: QEMU QEMU standard VGA"));
}

#[test]
fn unknown_devices_and_classes_fall_back() {
    let pci = SimPci::new().device(4, 0, SimFunction::endpoint(0xabcd, 0x0042).class(0x02, 0x42, 0));
    let info = read_function(&pci, Bdf::new(0, 0, 4, 0)).unwrap();
    assert_eq!(info.lspci().to_string(), "00:04.0 Network controller [0242]: Vendor abcd Device 0042 [abcd:0042]");
    assert_eq!(ClassCode::from_u32(0x42_00_00).name(), "Unknown class");
    assert_eq!(ClassCode::from_u32(0x01_80_00).name(), "Mass storage controller");
    assert_eq!(ClassCode::from_u32(0x00_ff_00).name(), "Unclassified device");
    let seg1 = Bdf::new(1, 0, 4, 0);
    let info = pci::FunctionInfo { bdf: seg1, ..info };
    assert!(info.lspci().to_string().starts_with("0001:00:04.0 "));
}
