//! Address filtering (promiscuity, the multicast hash) and the hardware
//! statistics registers.

mod model;

use e1000::{Config, Error, HwStats};
use hal::sim::Op;
use model::*;

const STRANGER: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const MDNS: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];

#[test]
fn only_our_unicast_and_broadcast_pass_by_default() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    w.with_model(|m| {
        assert_eq!(m.receive(&frame(STRANGER, 1, 100)), Rx::Filtered);
        assert_eq!(m.receive(&frame(MDNS, 2, 100)), Rx::Filtered);
        assert_eq!(m.receive(&frame([0xff; 6], 3, 100)), Rx::Stored, "BAM");
        assert_eq!(m.receive(&to_us(4, 100)), Rx::Stored, "RAL0/RAH0");
    });
    assert_eq!(poll(&mut nic, 64).0, 2);
}

#[test]
fn promiscuous_mode_sets_upe_and_mpe_and_lets_everything_in() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, Config { promiscuous: true, ..small() });
    w.with_model(|m| {
        assert_eq!(m.reg(RCTL) & (RCTL_UPE | RCTL_MPE), RCTL_UPE | RCTL_MPE);
        assert_eq!(m.receive(&frame(STRANGER, 1, 100)), Rx::Stored);
        assert_eq!(m.receive(&frame(MDNS, 2, 100)), Rx::Stored);
    });
    assert_eq!(poll(&mut nic, 64).1, [frame(STRANGER, 1, 100), frame(MDNS, 2, 100)]);

    nic.set_promiscuous(false);
    w.with_model(|m| {
        assert_eq!(m.reg(RCTL) & (RCTL_UPE | RCTL_MPE), 0);
        assert_eq!(m.reg(RCTL) & (RCTL_EN | RCTL_BAM | RCTL_SECRC), RCTL_EN | RCTL_BAM | RCTL_SECRC, "the rest kept");
        assert_eq!(m.receive(&frame(STRANGER, 3, 100)), Rx::Filtered);
    });
    assert!(!nic.config().promiscuous);

    // RCTL is only written when it changes (QEMU pauses receive for a
    // second after every RCTL write).
    w.clear_log();
    nic.set_promiscuous(false);
    assert_eq!(w.count(Op::Write, RCTL), 0);
    nic.set_promiscuous(true);
    nic.set_promiscuous(true);
    assert_eq!(w.count(Op::Write, RCTL), 1);
    assert_eq!(w.with_model(|m| m.reg(RCTL)) & RCTL_UPE, RCTL_UPE);
}

#[test]
fn a_multicast_group_sets_its_hash_bit_and_its_frames_pass() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.add_multicast(MDNS).unwrap();
    let (word, bit) = w.with_model(|m| m.mta_bit(&MDNS));
    w.with_model(|m| {
        for n in 0..128 {
            let expected = if n == word { 1 << bit } else { 0 };
            assert_eq!(m.reg(MTA + 4 * n), expected, "MTA[{n}]");
        }
        assert_eq!(m.receive(&frame(MDNS, 1, 100)), Rx::Stored);
        // Another group with a different hash stays out.
        assert_eq!(m.receive(&frame([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01], 2, 100)), Rx::Filtered);
    });
    assert_eq!(poll(&mut nic, 64).1, [frame(MDNS, 1, 100)]);
    assert_eq!(nic.add_multicast(STRANGER), Err(Error::NotMulticast(STRANGER)));
}

#[test]
fn the_hash_matches_the_manuals_worked_example() {
    // [E1000 13.5.1]: an address ending 9x:bc sets bit 9 of MTA word 94.
    assert_eq!(e1000::regs::mta_position([0x01, 0, 0x5e, 0, 0x9a, 0xbc]), (94, 9));
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.add_multicast([0x01, 0, 0x5e, 0, 0x9a, 0xbc]).unwrap();
    nic.add_multicast([0x01, 0, 0x5e, 0, 0x95, 0xbc]).unwrap(); // same hash bit
    nic.add_multicast([0x01, 0, 0x5e, 0, 0xa0, 0xbc]).unwrap(); // the next bit
    assert_eq!(w.with_model(|m| m.reg(MTA + 4 * 94)), 1 << 9 | 1 << 10);
}

/// Moves `rx` frames in and `tx` frames out, `len` bytes each.
fn traffic(nic: &mut Nic<'_>, w: &Window, rx: u32, tx: u32, len: usize) {
    for i in 0..rx {
        w.with_model(|m| m.receive(&to_us(i, len)));
        poll(nic, 64);
    }
    for i in 0..tx {
        nic.transmit(&to_us(i, len)).unwrap();
        nic.flush_tx();
        nic.clean_tx();
    }
}

#[test]
fn hardware_counters_accumulate_across_clearing_reads() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    traffic(&mut nic, &w, 3, 2, 100);
    let first = nic.hw_stats();
    assert_eq!(
        first,
        HwStats {
            crc_errors: 0,
            missed_packets: 0,
            good_packets_received: 3,
            good_packets_transmitted: 2,
            good_octets_received: 3 * 104,
            good_octets_transmitted: 2 * 104,
        }
    );
    w.with_model(|m| assert_eq!((m.reg(GPRC), m.reg(GORCL), m.reg(GOTCL)), (0, 0, 0), "the reads cleared them"));
    traffic(&mut nic, &w, 4, 1, 200);
    let second = nic.hw_stats();
    assert_eq!(second.good_packets_received, 7);
    assert_eq!(second.good_packets_transmitted, 3);
    assert_eq!(second.good_octets_received, 3 * 104 + 4 * 204);
    assert_eq!(second.good_octets_transmitted, 2 * 104 + 204);
    assert_eq!(nic.hw_stats(), second, "nothing new, nothing added");
}

/// Fills the 16-entry ring and misses `missed` more frames, then drains it.
fn miss(nic: &mut Nic<'_>, w: &Window, missed: u32) {
    for i in 0..15 + missed {
        w.with_model(|m| m.receive(&to_us(i, 60)));
    }
    poll(nic, 64);
}

#[test]
fn missed_packets_are_counted_once_whether_mpc_clears_on_read_or_not() {
    for clears in [false, true] {
        let (dma, w) = setup(1024);
        w.with_model(|m| m.counters_clear_on_read = clears);
        let mut nic = probe(&w, dma, small());
        assert_eq!(nic.hw_stats().missed_packets, 0);
        miss(&mut nic, &w, 3);
        assert_eq!(nic.hw_stats().missed_packets, 3, "clears on read: {clears}");
        assert_eq!(nic.hw_stats().missed_packets, 3, "clears on read: {clears}");
        miss(&mut nic, &w, 2);
        assert_eq!(nic.hw_stats().missed_packets, 5, "clears on read: {clears}");
        w.clear_log();
        miss(&mut nic, &w, 1);
        assert_eq!(nic.hw_stats().missed_packets, 6, "clears on read: {clears}");
        assert_eq!(w.count(Op::Read, MPC), 1, "once its behaviour is known, one read");
        w.with_model(|m| {
            let expected = if clears { 0 } else { 6 };
            assert_eq!(m.reg(MPC), expected);
        });
    }
}
