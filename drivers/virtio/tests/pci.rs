//! Capability parsing and the BAR layout.

mod model;

use model::*;
use virtio::pci::{CapInfo, Layout, Region};
use virtio::transport::Transport;
use virtio::Error;

fn cap(cfg_type: u8, bar: u8, offset: u32, length: u32) -> CapInfo {
    CapInfo { cfg_type, bar, offset, length, notify_off_multiplier: 0 }
}

#[test]
fn qemu_capabilities_parse_into_its_bar4_layout() {
    let caps = caps();
    let parsed: Vec<CapInfo> = caps.iter().filter_map(|c| CapInfo::parse(c)).collect();
    assert_eq!(parsed.len(), 5, "all five are virtio capabilities");
    assert_eq!(parsed[3], CapInfo { cfg_type: 2, bar: 4, offset: 0x3000, length: 0x1000, notify_off_multiplier: 4 });
    assert_eq!(parsed[0].notify_off_multiplier, 0, "only the notify cap has a multiplier");
    let layout = Layout::from_caps(&parsed).unwrap();
    assert_eq!(
        layout,
        Layout {
            bar: 4,
            common: Region { offset: 0, length: 0x1000 },
            notify: Region { offset: 0x3000, length: 0x1000 },
            notify_off_multiplier: 4,
            isr: Region { offset: 0x1000, length: 0x1000 },
            device: Some(Region { offset: 0x2000, length: 0x1000 }),
        }
    );
}

#[test]
fn short_foreign_and_reserved_capabilities_are_not_parsed() {
    let caps = caps();
    let common = &caps[0];
    assert!(CapInfo::parse(&common[..15]).is_none(), "shorter than virtio_pci_cap");
    let mut msix = common.clone();
    msix[0] = 0x11; // MSI-X capability ID
    assert!(CapInfo::parse(&msix).is_none(), "not vendor-specific");
    let mut short_len = common.clone();
    short_len[2] = 12; // cap_len says 12 bytes
    assert!(CapInfo::parse(&short_len).is_none(), "its own cap_len is too short");
    let notify = &caps[3];
    assert!(CapInfo::parse(&notify[..16]).is_none(), "notify cap without its multiplier");
    let mut notify_len16 = notify.clone();
    notify_len16[2] = 16;
    assert!(CapInfo::parse(&notify_len16).is_none(), "notify cap whose cap_len omits the multiplier");
    let mut reserved = common.clone();
    reserved[3] = 6; // reserved cfg_type
    assert!(CapInfo::parse(&reserved).is_none());
    let mut bad_bar = common.clone();
    bad_bar[4] = 6;
    assert!(CapInfo::parse(&bad_bar).is_none(), "BARs are 0..=5");
    // Trailing bytes beyond the structure are fine.
    let mut long = common.clone();
    long.extend_from_slice(&[0xee; 8]);
    assert_eq!(CapInfo::parse(&long), CapInfo::parse(common));
}

#[test]
fn the_first_capability_of_each_type_wins_and_others_are_ignored() {
    let caps = [
        cap(5, 0, 0, 0), // PCI cfg access: ignored
        cap(1, 2, 0x100, 0x38),
        cap(1, 2, 0x900, 0x38), // a second common cfg
        cap(3, 2, 0x200, 1),
        cap(9, 0, 0, 0), // vendor data: ignored
        CapInfo { notify_off_multiplier: 0, ..cap(2, 2, 0x300, 2) },
    ];
    let layout = Layout::from_caps(&caps).unwrap();
    assert_eq!(layout.bar, 2);
    assert_eq!(layout.common, Region { offset: 0x100, length: 0x38 });
    assert_eq!(layout.device, None, "device config is optional");
    assert_eq!(layout.notify_off_multiplier, 0);
}

#[test]
fn missing_or_split_structures_are_errors() {
    let common = cap(1, 4, 0, 0x1000);
    let isr = cap(3, 4, 0x1000, 0x1000);
    let notify = cap(2, 4, 0x3000, 0x1000);
    assert_eq!(Layout::from_caps(&[common, isr]), Err(Error::MissingCapability("notification")));
    assert_eq!(Layout::from_caps(&[isr, notify]), Err(Error::MissingCapability("common configuration")));
    assert_eq!(Layout::from_caps(&[common, notify]), Err(Error::MissingCapability("ISR status")));
    let split = Layout::from_caps(&[common, isr, cap(2, 2, 0, 0x1000)]);
    assert!(matches!(split, Err(Error::Unsupported(msg)) if msg.contains("several BARs")), "{split:?}");
    let split_device = Layout::from_caps(&[common, isr, notify, cap(4, 0, 0, 0x100)]);
    assert!(matches!(split_device, Err(Error::Unsupported(_))));
}

#[test]
fn transport_refuses_structures_outside_the_bar_or_too_small() {
    let w = Window::new(net::model(dma(4).memory(), net::QEMU_FEATURES, 8), BAR_SIZE);
    let mut l = layout();
    l.notify = Region { offset: 0x3000, length: 0x2000 };
    let e = Transport::new(&w, l).unwrap_err();
    assert!(matches!(e, Error::RegionOutsideBar { what: "notification", .. }), "{e}");
    let mut l = layout();
    l.common = Region { offset: 0, length: 0x20 };
    assert!(matches!(Transport::new(&w, l), Err(Error::OutOfRegion { what: "common configuration", .. })));
    let mut l = layout();
    l.device = Some(Region { offset: usize::MAX, length: 2 });
    assert!(matches!(Transport::new(&w, l), Err(Error::RegionOutsideBar { .. })), "no overflow");
    assert!(w.log().is_empty(), "no register was touched");
}

#[test]
fn device_config_accesses_are_bounded_by_its_structure() {
    let w = Window::new(net::model(dma(4).memory(), net::QEMU_FEATURES, 8), BAR_SIZE);
    let mut l = layout();
    l.device = Some(Region { offset: 0x2000, length: 12 });
    let t = Transport::new(&w, l).unwrap();
    assert_eq!(t.read_config_u16(10), Ok(1500));
    assert_eq!(
        t.read_config_u32(10),
        Err(Error::OutOfRegion { what: "device configuration", offset: 10, len: 4, length: 12 })
    );
    let mut l = layout();
    l.device = None;
    let t = Transport::new(&w, l).unwrap();
    assert_eq!(t.read_config_u8(0), Err(Error::NoDeviceConfig));
    assert_clean(&w);
}
