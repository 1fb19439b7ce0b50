//! The transmit watchdog and reset-and-recover.

mod model;

use e1000::{Config, Error};
use model::*;

const PEER: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];
const TIMEOUT: u64 = 100;

#[test]
fn a_stalled_transmitter_is_detected_and_recovery_restores_traffic_without_leaking() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    let allocations = nic.allocator().allocations();

    w.with_model(|m| m.tx_hung = true);
    for i in 0..5 {
        nic.transmit(&frame(PEER, i, 100)).unwrap();
    }
    nic.flush_tx();
    nic.transmit(&frame(PEER, 5, 100)).unwrap(); // queued, never flushed
                                                 // Two frames received and not yet polled.
    w.with_model(|m| {
        m.receive(&to_us(1, 100));
        m.receive(&to_us(2, 100));
    });

    assert!(!nic.tx_stalled(1000, TIMEOUT), "the first look starts the clock");
    assert!(!nic.tx_stalled(1050, TIMEOUT));
    assert_eq!(nic.clean_tx(), 0);
    assert!(!nic.tx_stalled(1099, TIMEOUT));
    assert!(nic.tx_stalled(1100, TIMEOUT), "pending for the whole timeout without a completion");

    w.with_model(|m| m.tx_hung = false); // a reset cures it
    nic.reset_and_recover().unwrap();
    assert_eq!(nic.allocator().allocations(), allocations, "recovery reuses the rings and buffers");
    let stats = nic.stats();
    assert_eq!(stats.resets, 2, "the one in new, and this one");
    assert_eq!(stats.tx_timeouts, 6, "every frame queued was dropped");
    assert_eq!(stats.rx_dropped, 2, "received frames not yet polled are gone with the ring");
    assert_eq!(nic.tx_free_slots(), 15);
    assert!(!nic.tx_stalled(2000, TIMEOUT));
    w.with_model(|m| {
        assert_eq!(m.resets, 2);
        assert_eq!((m.reg(TDH), m.reg(TDT), m.reg(RDH), m.reg(RDT)), (0, 0, 0, 15));
        assert_eq!(m.reg(IMS), ENABLED_CAUSES, "interrupts unmasked again, as they were");
        assert_eq!(m.reg(RA + 4), u32::from_le_bytes([MAC[4], MAC[5], 0, 0]) | RAH_AV);
    });

    // Traffic flows again, both ways, through the same memory.
    for i in 10..20 {
        nic.transmit(&frame(PEER, i, 300)).unwrap();
    }
    nic.flush_tx();
    assert_eq!(nic.clean_tx(), 10);
    w.with_model(|m| {
        let last: Vec<Vec<u8>> = m.transmitted.iter().map(|t| t.bytes.clone()).collect();
        assert_eq!(last, (10..20).map(|i| frame(PEER, i, 300)).collect::<Vec<_>>(), "nothing stale resent");
    });
    let incoming: Vec<Vec<u8>> = (30..45).map(|i| to_us(i, 400)).collect();
    for f in &incoming {
        assert_eq!(w.with_model(|m| m.receive(f)), Rx::Stored);
    }
    assert_eq!(poll(&mut nic, 64).1, incoming);
    assert_eq!(nic.allocator().allocations(), allocations);
    // Descriptors 0..15 after the reset: the pool buffers they always had.
    assert_eq!(w.with_model(|m| m.rx_buffers_used.len()), 15);
    assert_clean(&w);
}

const ENABLED_CAUSES: u32 = ICR_RXT0 | ICR_RXO | ICR_RXDMT0 | ICR_LSC | ICR_TXDW;

#[test]
fn the_watchdog_stays_quiet_while_idle_or_progressing() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    // Idle: nothing pending, whatever the time.
    assert!(!nic.tx_stalled(0, TIMEOUT));
    assert!(!nic.tx_stalled(1_000_000, TIMEOUT));

    // Completed but not yet reclaimed is progress, not a stall.
    nic.transmit(&frame(PEER, 1, 100)).unwrap();
    nic.flush_tx();
    assert!(!nic.tx_stalled(1_000_100, TIMEOUT));
    assert!(!nic.tx_stalled(1_000_500, TIMEOUT));

    // A slow device that keeps completing now and then is not stalled.
    nic.clean_tx();
    w.with_model(|m| m.tx_hung = true);
    for i in 0..3 {
        nic.transmit(&frame(PEER, i, 100)).unwrap();
        nic.flush_tx();
    }
    assert!(!nic.tx_stalled(2000, TIMEOUT));
    assert!(!nic.tx_stalled(2090, TIMEOUT));
    // The device completes the first; the driver reclaims it: the clock restarts.
    w.with_model(|m| m.tx_hung = false);
    nic.transmit(&frame(PEER, 9, 100)).unwrap();
    nic.flush_tx();
    assert_eq!(nic.clean_tx(), 4);
    w.with_model(|m| m.tx_hung = true);
    nic.transmit(&frame(PEER, 10, 100)).unwrap();
    nic.flush_tx();
    assert!(!nic.tx_stalled(2150, TIMEOUT), "progress since the last look");
    assert!(!nic.tx_stalled(2249, TIMEOUT));
    assert!(nic.tx_stalled(2250, TIMEOUT));
    // An idle period in between does not count against later frames.
    nic.reset_and_recover().unwrap();
    assert!(!nic.tx_stalled(10_000, TIMEOUT));
    nic.transmit(&frame(PEER, 11, 100)).unwrap();
    nic.flush_tx();
    assert!(!nic.tx_stalled(20_000, TIMEOUT), "the clock starts when frames are first seen pending");
}

#[test]
fn recovery_keeps_the_configuration_and_filters() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, Config { itr: 651, ..small() });
    let group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    nic.add_multicast(group).unwrap();
    nic.set_promiscuous(true);
    let mta = w.with_model(|m| (0..128).map(|n| m.reg(MTA + 4 * n)).collect::<Vec<_>>());
    w.with_model(|m| m.resets_registers = true); // a reset that really forgets
    nic.reset_and_recover().unwrap();
    w.with_model(|m| {
        assert_eq!((0..128).map(|n| m.reg(MTA + 4 * n)).collect::<Vec<_>>(), mta);
        assert_eq!(m.reg(RCTL) & (RCTL_UPE | RCTL_MPE), RCTL_UPE | RCTL_MPE);
        assert_eq!(m.reg(ITR), 651);
        assert_eq!(m.reg(IMS), 0, "interrupts were never enabled, so they stay masked");
    });
    assert_eq!(nic.mac(), MAC);
}

#[test]
fn hardware_counters_survive_a_reset_that_clears_them() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    w.with_model(|m| {
        m.resets_registers = true;
        m.counters_clear_on_read = true;
    });
    for i in 0..4 {
        w.with_model(|m| m.receive(&to_us(i, 100)));
    }
    poll(&mut nic, 64);
    nic.reset_and_recover().unwrap();
    assert_eq!(nic.hw_stats().good_packets_received, 4, "harvested before the reset");
}

#[test]
fn a_recovery_that_cannot_reset_reports_it() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.set_poll_limit(10);
    w.with_model(|m| m.reset_sticks = true);
    assert_eq!(nic.reset_and_recover(), Err(Error::ResetTimeout));
    assert_eq!(w.count(hal::sim::Op::Read, CTRL), 1 + 10, "one to set RST, ten polls");
}

#[test]
fn dropping_the_driver_resets_the_device_first() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    let resets = w.with_model(|m| m.resets);
    drop(nic);
    assert_eq!(w.with_model(|m| m.resets), resets + 1, "the DMA engines must stop before the rings are freed");
}
