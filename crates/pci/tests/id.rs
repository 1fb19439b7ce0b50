//! Driver ID matching (Linux `pci_device_id` semantics).

use pci::header::{ClassCode, FunctionInfo, HeaderType};
use pci::id::{find_match, PciDeviceId};
use pci::Bdf;

fn function(vendor: u16, device: u16, sub: (u16, u16), class: u32) -> FunctionInfo {
    FunctionInfo {
        bdf: Bdf::new(0, 0, 3, 0),
        vendor,
        device,
        subsystem_vendor: sub.0,
        subsystem_device: sub.1,
        revision: 0,
        class: ClassCode::from_u32(class),
        header_type: HeaderType::Endpoint,
        multi_function: false,
        interrupt_pin: None,
        interrupt_line: 0xff,
    }
}

#[test]
fn vendor_and_device_with_wildcards() {
    let e1000 = function(0x8086, 0x100e, (0x1af4, 0x1100), 0x02_00_00);
    assert!(PciDeviceId::device(0x8086, 0x100e).matches(&e1000));
    assert!(!PciDeviceId::device(0x8086, 0x10d3).matches(&e1000));
    assert!(!PciDeviceId::device(0x1af4, 0x100e).matches(&e1000));
    assert!(PciDeviceId::vendor(0x8086).matches(&e1000));
    assert!(PciDeviceId::ANY.matches(&e1000));
    let any_device = PciDeviceId { device: None, ..PciDeviceId::device(0x8086, 0) };
    assert!(any_device.matches(&e1000));
}

#[test]
fn subsystem_ids_narrow_the_match() {
    // virtio (legacy) puts the device type in the subsystem ID: 1 = net.
    let net = function(0x1af4, 0x1000, (0x1af4, 0x0001), 0x02_00_00);
    let id = PciDeviceId::device(0x1af4, 0x1000).with_subsystem(0x1af4, 0x0001);
    assert!(id.matches(&net));
    assert!(!id.matches(&function(0x1af4, 0x1000, (0x1af4, 0x0002), 0x02_00_00)));
    let any_sub_device = PciDeviceId { subdevice: None, ..id };
    assert!(any_sub_device.matches(&function(0x1af4, 0x1000, (0x1af4, 0x0002), 0x02_00_00)));
}

#[test]
fn class_masks() {
    let nvme = function(0x1b36, 0x0010, (0x1af4, 0x1100), 0x01_08_02);
    assert!(PciDeviceId::class(0x01_08_02, 0xff_ff_ff).matches(&nvme));
    assert!(!PciDeviceId::class(0x01_08_01, 0xff_ff_ff).matches(&nvme), "exact prog-if");
    assert!(PciDeviceId::class(0x01_08_00, 0xff_ff_00).matches(&nvme), "any prog-if");
    assert!(PciDeviceId::class(0x01_00_00, 0xff_00_00).matches(&nvme), "any mass storage");
    assert!(!PciDeviceId::class(0x02_00_00, 0xff_00_00).matches(&nvme));
    assert!(PciDeviceId::class(0x02_00_00, 0).matches(&nvme), "mask 0 ignores the class");
    let both = PciDeviceId::device(0x1b36, 0x0010).with_class(0x01_08_02, 0xff_ff_ff);
    assert!(both.matches(&nvme));
    assert!(!both.matches(&function(0x1b36, 0x0010, (0, 0), 0x01_08_03)));
}

#[test]
fn first_match_in_table_order_wins() {
    const TABLE: &[PciDeviceId] = &[
        PciDeviceId::device(0x8086, 0x10d3),
        PciDeviceId::class(0x02_00_00, 0xff_ff_00),
        PciDeviceId::device(0x8086, 0x100e),
    ];
    assert_eq!(find_match(TABLE, &function(0x8086, 0x10d3, (0, 0), 0x02_00_00)), Some(0));
    assert_eq!(find_match(TABLE, &function(0x8086, 0x100e, (0, 0), 0x02_00_00)), Some(1));
    assert_eq!(find_match(TABLE, &function(0x8086, 0x100e, (0, 0), 0x08_80_00)), Some(2));
    assert_eq!(find_match(TABLE, &function(0x1234, 0x11e8, (0, 0), 0x00_ff_00)), None);
}
