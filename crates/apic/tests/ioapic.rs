//! The IOAPIC driver against a model of the chip (`model/ioapic.rs`).
//!
//! Expected values are hand-computed from the 82093AA datasheet §3.2.4 bit
//! layout, not from the crate's constants.

mod model;

use apic::{DeliveryMode, DestinationMode, Error, IoApic, Polarity, RedirectionEntry, Trigger};
use hal::sim::{FloatingBus, Op, SimWindow};
use model::ioapic::{IoApicModel, RTE_MASKED, RTE_REMOTE_IRR};

type Window = SimWindow<IoApicModel>;

/// The window the kernel maps: the whole register page.
const PAGE: usize = 0x1000;

fn window(version: u8, pins: u32) -> Window {
    SimWindow::new(IoApicModel::new(version, pins), PAGE)
}

/// A q35-like IOAPIC: version 0x20, 24 pins, GSI base 0. The log is cleared
/// after `new` so tests see only their own traffic.
fn q35(w: &Window) -> IoApic<&Window> {
    let ioapic = IoApic::new(w, 0).expect("the model answers");
    w.clear_log();
    ioapic
}

fn writes(w: &Window) -> Vec<(u32, u32)> {
    w.with_model(|m| m.indirect_writes.clone())
}

fn clear_writes(w: &Window) {
    w.with_model(|m| m.indirect_writes.clear());
}

/// Indirect index of pin `n`'s low / high half: 0x10 + 2n, 0x11 + 2n.
fn lo(n: u32) -> u32 {
    0x10 + 2 * n
}
fn hi(n: u32) -> u32 {
    0x11 + 2 * n
}

#[test]
fn entry_encoding_matches_the_datasheet() {
    // Vector 0x31, fixed (000), physical, active low (bit 13), level (bit 15),
    // unmasked, destination APIC 1 (bits 63:56).
    let pci = RedirectionEntry::fixed(0x31, 1, Trigger::Level, Polarity::ActiveLow);
    assert_eq!(pci.encode(), 0x0100_0000_0000_a031);
    assert_eq!(RedirectionEntry { masked: true, ..pci }.encode(), 0x0100_0000_0001_a031);
    // ISA: edge, active high, to APIC 0 — just the vector.
    assert_eq!(RedirectionEntry::fixed(0x30, 0, Trigger::Edge, Polarity::ActiveHigh).encode(), 0x30);
    // Lowest priority (001) in logical mode (bit 11) to CPU set 0xFF.
    let lowest = RedirectionEntry {
        vector: 0x40,
        delivery_mode: DeliveryMode::LowestPriority,
        destination_mode: DestinationMode::Logical,
        polarity: Polarity::ActiveHigh,
        trigger: Trigger::Edge,
        masked: false,
        destination: 0xff,
    };
    assert_eq!(lowest.encode(), 0xff00_0000_0000_0940);
    // The other delivery modes in bits 10:8: SMI 010, NMI 100, INIT 101, ExtINT 111.
    let mode = |delivery_mode| RedirectionEntry { delivery_mode, vector: 0, ..lowest }.encode() & 0x700;
    assert_eq!(mode(DeliveryMode::Fixed), 0x000);
    assert_eq!(mode(DeliveryMode::Smi), 0x200);
    assert_eq!(mode(DeliveryMode::Nmi), 0x400);
    assert_eq!(mode(DeliveryMode::Init), 0x500);
    assert_eq!(mode(DeliveryMode::ExtInt), 0x700);
}

#[test]
fn entries_round_trip_through_encode_and_decode() {
    let modes = [
        DeliveryMode::Fixed,
        DeliveryMode::LowestPriority,
        DeliveryMode::Smi,
        DeliveryMode::Nmi,
        DeliveryMode::Init,
        DeliveryMode::ExtInt,
    ];
    let mut checked = 0;
    for delivery_mode in modes {
        for destination_mode in [DestinationMode::Physical, DestinationMode::Logical] {
            for polarity in [Polarity::ActiveHigh, Polarity::ActiveLow] {
                for trigger in [Trigger::Edge, Trigger::Level] {
                    for masked in [false, true] {
                        for (vector, destination) in [(0x20, 0), (0x5a, 0xa5), (0xfe, 0xff)] {
                            let e = RedirectionEntry {
                                vector,
                                delivery_mode,
                                destination_mode,
                                polarity,
                                trigger,
                                masked,
                                destination,
                            };
                            let raw = e.encode();
                            assert_eq!(RedirectionEntry::decode(raw), Ok(e), "{raw:#018x}");
                            // The read-only status bits do not change the meaning.
                            assert_eq!(RedirectionEntry::decode(raw | 1 << 12 | 1 << 14), Ok(e));
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 2 * 2 * 2 * 2 * 3);
}

#[test]
fn reserved_delivery_modes_do_not_decode() {
    assert_eq!(RedirectionEntry::decode(0b011 << 8), Err(Error::ReservedDeliveryMode(0b011)));
    assert_eq!(RedirectionEntry::decode(0b110 << 8), Err(Error::ReservedDeliveryMode(0b110)));
}

#[test]
fn new_reads_version_and_pin_count() {
    let w = window(0x20, 24);
    let ioapic = IoApic::new(&w, 0).unwrap();
    assert_eq!(ioapic.version(), 0x20);
    assert_eq!(ioapic.pins(), 24);
    assert_eq!(ioapic.gsis(), 0..24);
    assert!(ioapic.has_eoi_register());
    // VER was selected through IOREGSEL (index 1) and read through IOWIN.
    let log = w.log();
    assert_eq!((log[0].op, log[0].offset, log[0].value), (Op::Write, 0x00, 0x01));
    assert_eq!((log[1].op, log[1].offset), (Op::Read, 0x10));

    // An 82093AA-like second IOAPIC: version 0x11, 16 pins, GSIs 24..40.
    let w = window(0x11, 16);
    let ioapic = IoApic::new(&w, 24).unwrap();
    assert_eq!((ioapic.version(), ioapic.pins(), ioapic.gsi_base()), (0x11, 16, 24));
    assert!(!ioapic.has_eoi_register());
    assert!(!ioapic.handles(23));
    assert!(ioapic.handles(24) && ioapic.handles(39));
    assert!(!ioapic.handles(40));
}

#[test]
fn new_refuses_small_windows_and_absent_chips() {
    let small = SimWindow::new(IoApicModel::new(0x20, 24), 0x10);
    assert_eq!(IoApic::new(&small, 0).err(), Some(Error::WindowTooSmall { size: 0x10, need: 0x20 }));
    assert!(small.log().is_empty(), "nothing was touched");
    let nothing = SimWindow::new(FloatingBus, 0x20);
    assert_eq!(IoApic::new(&nothing, 0).err(), Some(Error::NotPresent));
}

#[test]
fn id_is_bits_27_to_24() {
    let w = SimWindow::new(IoApicModel::new(0x20, 24).with_id(9), PAGE);
    assert_eq!(q35(&w).id(), Ok(9));
}

#[test]
fn program_writes_the_high_half_then_the_low_half() {
    let w = window(0x20, 24);
    let mut ioapic = q35(&w);
    // Pin 5 is masked (reset state), so no preliminary masking is needed.
    let entry = RedirectionEntry::fixed(0x35, 2, Trigger::Level, Polarity::ActiveLow);
    ioapic.program(5, entry).unwrap();
    assert_eq!(writes(&w), [(hi(5), 0x0200_0000), (lo(5), 0xa035)]);
    assert_eq!(w.with_model(|m| m.entry(5)), 0x0200_0000_0000_a035);

    // A masked entry is written masked: the low half carries bit 16.
    clear_writes(&w);
    ioapic.program(6, RedirectionEntry { masked: true, ..entry }).unwrap();
    assert_eq!(writes(&w), [(hi(6), 0x0200_0000), (lo(6), 0x1_a035)]);
    assert_eq!(ioapic.entry(6), Ok(RedirectionEntry { masked: true, ..entry }));
}

#[test]
fn program_masks_a_live_entry_before_changing_it() {
    let w = window(0x20, 24);
    let old = 0x0100_0000_0000_0041; // unmasked, vector 0x41 to APIC 1
    w.with_model(|m| m.set_entry(3, old));
    let mut ioapic = q35(&w);
    let new = RedirectionEntry::fixed(0x42, 2, Trigger::Edge, Polarity::ActiveHigh);
    ioapic.program(3, new).unwrap();
    assert_eq!(writes(&w), [(lo(3), 0x1_0041), (hi(3), 0x0200_0000), (lo(3), 0x42)]);
    assert_eq!(ioapic.entry(3), Ok(new));
}

#[test]
fn gsis_are_numbered_from_the_gsi_base() {
    let w = window(0x11, 24);
    let mut ioapic = IoApic::new(&w, 24).unwrap();
    ioapic.program(26, RedirectionEntry::fixed(0x50, 0, Trigger::Edge, Polarity::ActiveHigh)).unwrap();
    assert_eq!(writes(&w), [(hi(2), 0), (lo(2), 0x50)]);
}

#[test]
fn gsis_outside_the_range_are_errors_and_touch_nothing() {
    let w = window(0x20, 24);
    let mut ioapic = IoApic::new(&w, 24).unwrap();
    w.clear_log();
    let entry = RedirectionEntry::fixed(0x50, 0, Trigger::Edge, Polarity::ActiveHigh);
    for gsi in [0, 23, 48, u32::MAX] {
        let err = Err(Error::GsiOutOfRange { gsi, base: 24, pins: 24 });
        assert_eq!(ioapic.program(gsi, entry), err);
        assert_eq!(ioapic.entry(gsi), err.map(|()| entry));
        assert_eq!(ioapic.mask(gsi), err);
        assert_eq!(ioapic.unmask(gsi), err);
        assert_eq!(ioapic.set_destination(gsi, 1), err);
        assert_eq!(ioapic.remote_irr(gsi), err.map(|()| false));
    }
    assert!(w.log().is_empty(), "no register was touched: {:?}", w.log());
}

#[test]
fn program_refuses_exception_vectors() {
    let w = window(0x20, 24);
    let mut ioapic = q35(&w);
    let entry = RedirectionEntry::fixed(14, 0, Trigger::Edge, Polarity::ActiveHigh);
    assert_eq!(ioapic.program(1, entry), Err(Error::InvalidVector(14)));
    assert!(writes(&w).is_empty());
    // NMI ignores the vector, so 0 is fine there.
    ioapic.program(1, RedirectionEntry { vector: 0, delivery_mode: DeliveryMode::Nmi, ..entry }).unwrap();
    assert_eq!(w.with_model(|m| m.entry(1)), 0x400);
}

#[test]
fn mask_and_unmask_flip_only_bit_16() {
    let w = window(0x20, 24);
    // Vector 0xCD, lowest priority, logical, active low, level, Remote IRR
    // (read-only) set, unmasked; destination 0xA5.
    let entry = 0xa500_0000_0000_e9cd_u64;
    w.with_model(|m| m.set_entry(7, entry));
    let mut ioapic = q35(&w);

    ioapic.mask(7).unwrap();
    assert_eq!(w.with_model(|m| m.entry(7)), entry | RTE_MASKED);
    assert_eq!(writes(&w), [(lo(7), 0x1_e9cd)], "one write, to the low half only");
    assert!(ioapic.entry(7).unwrap().masked);

    clear_writes(&w);
    ioapic.unmask(7).unwrap();
    assert_eq!(w.with_model(|m| m.entry(7)), entry);
    assert_eq!(writes(&w), [(lo(7), 0xe9cd)]);
    assert!(!ioapic.entry(7).unwrap().masked);
}

#[test]
fn set_destination_changes_only_bits_56_to_63() {
    let w = window(0x20, 24);
    // Reserved bits 55:32 set, so a sloppy write would show.
    let entry = 0x01ab_cdef_0000_a031_u64;
    w.with_model(|m| m.set_entry(9, entry));
    let mut ioapic = q35(&w);
    ioapic.set_destination(9, 0x07).unwrap();
    assert_eq!(w.with_model(|m| m.entry(9)), 0x07ab_cdef_0000_a031);
    assert_eq!(writes(&w), [(hi(9), 0x07ab_cdef)], "one write, to the high half only");
    assert_eq!(ioapic.entry(9).unwrap().destination, 7);
}

#[test]
fn mask_all_masks_every_pin_and_keeps_the_rest() {
    let w = window(0x20, 24);
    let live = [(0, 0x30_u64), (4, 0x0100_0000_0000_a034), (23, 0x0300_0000_0000_8047)];
    w.with_model(|m| live.iter().for_each(|&(pin, raw)| m.set_entry(pin, raw)));
    let mut ioapic = q35(&w);
    ioapic.mask_all().unwrap();
    for pin in 0..24 {
        let raw = w.with_model(|m| m.entry(pin));
        let before = live.iter().find(|&&(p, _)| p == pin).map_or(RTE_MASKED, |&(_, r)| r);
        assert_eq!(raw, before | RTE_MASKED, "pin {pin}");
    }
    assert_eq!(writes(&w).len(), live.len(), "pins already masked are not written");
}

#[test]
fn eoi_register_clears_remote_irr_on_version_0x20() {
    let w = window(0x20, 24);
    let mut ioapic = q35(&w);
    ioapic.program(10, RedirectionEntry::fixed(0x39, 0, Trigger::Level, Polarity::ActiveLow)).unwrap();
    assert!(w.with_model(|m| m.assert_level(10)), "the pin fires");
    assert_eq!(ioapic.remote_irr(10), Ok(true));
    assert!(!w.with_model(|m| m.assert_level(10)), "and is then blocked until EOI");

    w.clear_log();
    assert_eq!(ioapic.eoi(0x39), Ok(true));
    assert_eq!(w.count(Op::Write, 0x40), 1);
    assert_eq!(w.with_model(|m| m.eoi_writes.clone()), [0x39]);
    assert_eq!(w.with_model(|m| m.entry(10)) & RTE_REMOTE_IRR, 0);
    assert_eq!(ioapic.remote_irr(10), Ok(false));
    assert_eq!(ioapic.directed_eois(), 1);
}

#[test]
fn eoi_does_nothing_on_version_0x11() {
    let w = window(0x11, 24);
    let ioapic = q35(&w);
    assert_eq!(ioapic.eoi(0x39), Ok(false));
    assert!(w.log().is_empty(), "no register access at all");
    assert!(w.with_model(|m| m.stray_writes.is_empty()));
    assert_eq!(ioapic.directed_eois(), 0);
}
