//! BAR decoding, sizing and programming (PCI 3.0 §6.2.5.1).

use pci::bar::{probe_bars, program_bar, Bar, BarError};
use pci::sim::{SimBar, SimFunction, SimPci};
use pci::{Bdf, ConfigAccess};

const DEV: Bdf = Bdf::new(0, 0, 4, 0);

#[test]
fn decode_every_kind_from_hand_computed_readbacks() {
    // I/O, 64 ports at 0xc040: reads back 0xffffffc1.
    assert_eq!(Bar::decode(0xc041, 0xffff_ffc1, 0, 0), Ok(Bar::Io { port: 0xc040, size: 0x40 }));
    // A 16-bit I/O decoder: upper bits read back 0; size is still 0x20.
    assert_eq!(Bar::decode(0x0001, 0x0000_ffe1, 0, 0), Ok(Bar::Io { port: 0, size: 0x20 }));
    // 32-bit memory, 128 KiB at 0xfebc0000.
    assert_eq!(
        Bar::decode(0xfebc_0000, 0xfffe_0000, 0, 0),
        Ok(Bar::Mem32 { addr: 0xfebc_0000, size: 0x2_0000, prefetchable: false })
    );
    // 32-bit prefetchable, 16 MiB.
    assert_eq!(
        Bar::decode(0xfd00_0008, 0xff00_0008, 0, 0),
        Ok(Bar::Mem32 { addr: 0xfd00_0000, size: 0x100_0000, prefetchable: true })
    );
    // 64-bit prefetchable, 16 KiB at 0x8_0000_0000: type bits 10b, bit 3.
    assert_eq!(
        Bar::decode(0x0000_000c, 0xffff_c00c, 0x0000_0008, 0xffff_ffff),
        Ok(Bar::Mem64 { addr: 0x8_0000_0000, size: 0x4000, prefetchable: true })
    );
    // 64-bit, 8 GiB: no writable bits in the low half.
    assert_eq!(
        Bar::decode(0x0000_0004, 0x0000_0004, 0x0000_0000, 0xffff_fffe),
        Ok(Bar::Mem64 { addr: 0, size: 0x2_0000_0000, prefetchable: false })
    );
    // PCI 2.x "below 1 MiB" type decodes as 32-bit.
    assert_eq!(
        Bar::decode(0x000d_0002, 0xffff_f002, 0, 0),
        Ok(Bar::Mem32 { addr: 0xd_0000, size: 0x1000, prefetchable: false })
    );
    // Unimplemented: reads back 0.
    assert_eq!(Bar::decode(0, 0, 0, 0), Ok(Bar::None));
    // Reserved memory type 11b.
    assert_eq!(Bar::decode(0x6, 0xffff_f006, 0, 0), Err(BarError::ReservedType { raw: 0x6, kind: 3 }));
    // I/O with no address bits.
    assert_eq!(Bar::decode(0x1, 0x1, 0, 0), Err(BarError::NoAddressBits { readback: 0x1 }));
}

fn device_with_every_kind() -> SimPci {
    let f = SimFunction::endpoint(0x1af4, 0x1041)
        .bar(0, SimBar::io(0x20).at(0xc000))
        .bar(1, SimBar::mem32(0x1000).at(0xfeb0_0000))
        .bar(2, SimBar::mem64_prefetchable(0x4000).at(0x8_0000_c000))
        // BAR4 unimplemented.
        .bar(5, SimBar::mem32_prefetchable(0x10_0000).at(0xfd00_0000))
        .command(0x0007)
        .status_bits(1 << 15);
    SimPci::new().device(4, 0, f)
}

#[test]
fn probe_sizes_every_kind_and_a_64_bit_bar_takes_two_slots() {
    let pci = device_with_every_kind();
    let bars = probe_bars(&pci, DEV, 6).unwrap();
    assert_eq!(bars[0], Some(Bar::Io { port: 0xc000, size: 0x20 }));
    assert_eq!(bars[1], Some(Bar::Mem32 { addr: 0xfeb0_0000, size: 0x1000, prefetchable: false }));
    assert_eq!(bars[2], Some(Bar::Mem64 { addr: 0x8_0000_c000, size: 0x4000, prefetchable: true }));
    assert_eq!(bars[3], None, "upper half of BAR2");
    assert_eq!(bars[4], Some(Bar::None), "unimplemented");
    assert_eq!(bars[5], Some(Bar::Mem32 { addr: 0xfd00_0000, size: 0x10_0000, prefetchable: true }));
}

#[test]
fn probe_restores_every_bar_and_the_command_register() {
    let pci = device_with_every_kind();
    let before: Vec<u32> = (0..0x40).step_by(4).map(|o| pci.read32(DEV, o)).collect();
    probe_bars(&pci, DEV, 6).unwrap();
    let after: Vec<u32> = (0..0x40).step_by(4).map(|o| pci.read32(DEV, o)).collect();
    assert_eq!(before, after, "header unchanged after sizing, status RW1C bit included");
    assert_eq!(pci.read16(DEV, 0x04), 0x0007);
    assert_eq!(pci.stats().bar_writes_while_decoding, 0, "decode was off while BARs held all ones");
    // The protocol, in order: decode off, then per BAR all-ones + restore
    // (both halves of BAR2), then the command register back.
    let writes: Vec<(u16, u32)> = pci.writes().iter().map(|w| (w.offset, w.value)).collect();
    assert_eq!(writes.first(), Some(&(0x04, 0x0004)), "I/O and memory decode cleared, bus master kept");
    assert_eq!(writes.last(), Some(&(0x04, 0x0007)));
    let bar2: Vec<_> = writes.iter().filter(|(o, _)| *o == 0x18 || *o == 0x1c).collect();
    assert_eq!(bar2, [&(0x18, 0xffff_ffff), &(0x18, 0x0000_c00c), &(0x1c, 0xffff_ffff), &(0x1c, 0x8)]);
}

#[test]
fn probe_leaves_command_alone_when_decode_was_off() {
    let f = SimFunction::endpoint(0x1234, 0x11e8).bar(0, SimBar::mem32(0x10_0000));
    let pci = SimPci::new().device(4, 0, f);
    probe_bars(&pci, DEV, 6).unwrap();
    assert!(pci.writes().iter().all(|w| w.offset != 0x04));
}

#[test]
fn a_bridge_has_two_bars() {
    let bridge = SimFunction::qemu_pci_bridge().bar(0, SimBar::mem64(0x100));
    let pci = SimPci::new().bridge(4, 0, bridge, |b| b);
    let bars = probe_bars(&pci, DEV, 2).unwrap();
    assert_eq!(bars[0], Some(Bar::Mem64 { addr: 0, size: 0x100, prefetchable: false }));
    assert_eq!(&bars[1..], &[None; 5]);
    // The bus number register at 0x18 was not treated as a BAR.
    assert!(pci.writes().iter().all(|w| w.offset < 0x18));
}

#[test]
fn broken_bars_are_errors_and_still_restore() {
    // A 64-bit BAR in slot 5 has no upper half.
    let f = SimFunction::endpoint(0x1, 0x2).bar(5, SimBar::raw(0x4, 0xffff_f000)).command(0x2);
    let pci = SimPci::new().device(4, 0, f);
    assert_eq!(probe_bars(&pci, DEV, 6), Err(BarError::Mem64InLastSlot { index: 5 }));
    assert_eq!(pci.read16(DEV, 0x04), 0x2, "command restored after the error");
    assert_eq!(pci.read32(DEV, 0x24), 0x4);
    // Reserved memory type.
    let f = SimFunction::endpoint(0x1, 0x2).bar(1, SimBar::raw(0x6, 0xffff_f000));
    let pci = SimPci::new().device(4, 0, f);
    assert_eq!(probe_bars(&pci, DEV, 6), Err(BarError::ReservedType { raw: 0x6, kind: 3 }));
    // Nobody there.
    assert_eq!(probe_bars(&pci, Bdf::new(0, 0, 9, 0), 6), Err(BarError::NotPresent(Bdf::new(0, 0, 9, 0))));
}

#[test]
fn program_bar_writes_both_halves_and_checks_readback() {
    let f = SimFunction::endpoint(0x1b36, 0x0010)
        .bar(0, SimBar::mem64(0x4000))
        .bar(2, SimBar::io(0x40))
        .bar(3, SimBar::mem32(0x1000))
        .command(0x0003);
    let pci = SimPci::new().device(4, 0, f);
    program_bar(&pci, DEV, 0, 0x1_fe00_4000).unwrap();
    assert_eq!((pci.read32(DEV, 0x10), pci.read32(DEV, 0x14)), (0xfe00_4004, 0x1));
    program_bar(&pci, DEV, 2, 0xc080).unwrap();
    assert_eq!(pci.read32(DEV, 0x18), 0xc081);
    assert_eq!(pci.stats().bar_writes_while_decoding, 0, "decode off around the write");
    assert_eq!(pci.read16(DEV, 0x04), 0x0003, "and back on after");

    assert_eq!(program_bar(&pci, DEV, 1, 0), Err(BarError::UpperHalf { index: 1 }));
    assert_eq!(program_bar(&pci, DEV, 6, 0), Err(BarError::IndexOutOfRange { index: 6, count: 6 }));
    assert_eq!(program_bar(&pci, DEV, 3, 0x1_0000_0000), Err(BarError::Unassignable { index: 3, addr: 0x1_0000_0000 }));
    // Not aligned to the 4 KiB size: the low bits are hardwired to zero.
    assert_eq!(
        program_bar(&pci, DEV, 3, 0xfe00_0800),
        Err(BarError::NotAccepted { index: 3, wrote: 0xfe00_0800, read: 0xfe00_0000 })
    );
    // Flag bits in the address are refused before anything is written.
    assert!(matches!(program_bar(&pci, DEV, 3, 0xfe00_0004), Err(BarError::NotAccepted { .. })));
}
