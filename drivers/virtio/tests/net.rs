//! virtio-net against the model: bring-up, echo, malformed frames, the
//! transmit ring, interrupts (INTx and MSI-X), NAPI, teardown.

mod model;

use hal::dma::sim::FakeDma;
use hal::sim::Op;
use model::net::{receive, set_link, F_MAC, F_STATUS, MAC};
use model::*;
use virtio::net::{NetConfig, NetTxError, VirtioNet, FALLBACK_MAC, MAX_FRAME};
use virtio::regs::features::{EVENT_IDX, VERSION_1};
use virtio::{Error, Vectors};

type Nic<'a> = VirtioNet<&'a Window, FakeDma>;

fn rig(features: u64, max_queue: u16) -> (FakeDma, Window) {
    let dma = dma(512);
    let w = Window::new(net::model(dma.memory(), features, max_queue), BAR_SIZE);
    (dma, w)
}

fn probe(w: &Window, dma: FakeDma, queue_size: u16) -> Nic<'_> {
    VirtioNet::new(transport(w), dma, NetConfig { queue_size }, &Vectors::intx()).expect("the model is a virtio-net")
}

/// A frame to us of `len` bytes, stamped with `seq`.
fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&[0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc, 0x88, 0xb5]);
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2_654_435_761) | 1;
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push(x as u8);
    }
    f.truncate(len);
    f
}

fn poll(nic: &mut Nic<'_>, max: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    nic.poll_rx(max, |f| got.push(f.to_vec()));
    got
}

#[test]
fn bring_up_negotiates_fills_the_receive_queue_and_sets_driver_ok() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let nic = probe(&w, dma, 16);
    assert_eq!(nic.mac(), MAC);
    assert!(nic.link_up());
    assert_eq!(nic.features(), VERSION_1 | EVENT_IDX | F_MAC | F_STATUS);
    assert_eq!(nic.queue_sizes(), (16, 16), "our cap is below the device's 256");
    w.with_model(|m| {
        assert_eq!(m.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert_eq!(*m.status_writes.last().unwrap(), ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert!(m.queues[0].enabled && m.queues[1].enabled);
        assert!(!m.queues[2].enabled, "no control queue");
        assert_eq!(m.queues[0].size, 16);
        let mem = m.memory.clone();
        assert_eq!(m.ring(0).pending(&mem), 16, "every receive buffer offered");
        assert_eq!(m.notifies, [0], "one doorbell for the whole receive ring, after DRIVER_OK");
    });
    assert_eq!(nic.stats().rx_notifies, 1);
    assert_clean(&w);
}

#[test]
fn the_device_maximum_wins_and_sizes_round_down_to_powers_of_two() {
    let (dma, w) = rig(net::QEMU_FEATURES, 8);
    let nic = probe(&w, dma, 100);
    assert_eq!(nic.queue_sizes(), (8, 8));
    drop(nic);
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let nic = probe(&w, dma, 100);
    assert_eq!(nic.queue_sizes(), (64, 64));
    drop(nic);
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let e = VirtioNet::new(transport(&w), dma, NetConfig { queue_size: 0 }, &Vectors::intx()).err();
    assert_eq!(e, Some(Error::InvalidConfig("queue_size")));
    assert_ne!(w.with_model(|m| m.status) & FAILED, 0);
}

#[test]
fn without_mac_and_status_features_a_fallback_address_and_link_up() {
    let (dma, w) = rig(F_VERSION_1, 16);
    let nic = probe(&w, dma, 16);
    assert_eq!(nic.mac(), FALLBACK_MAC);
    assert!(FALLBACK_MAC[0] & 2 != 0 && FALLBACK_MAC[0] & 1 == 0, "locally administered unicast");
    w.with_model(|m| set_link(m, false));
    assert!(nic.link_up(), "no STATUS feature: always up");
    assert_clean(&w);
}

#[test]
fn a_device_without_version_1_is_refused() {
    let (dma, w) = rig(net::QEMU_FEATURES & !F_VERSION_1, 16);
    let e = VirtioNet::new(transport(&w), dma, NetConfig::default(), &Vectors::intx()).err();
    assert_eq!(e, Some(Error::MissingFeature(VERSION_1)));
    w.with_model(|m| {
        assert_ne!(m.status & FAILED, 0);
        assert!(m.queues.iter().all(|q| !q.enabled));
    });
}

#[test]
fn frames_of_every_length_echo_back_exactly_without_the_header() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 16);
    w.with_model(|m| m.net().loopback = true);
    for (seq, len) in (60..=MAX_FRAME).enumerate() {
        let f = frame(seq as u32, len);
        nic.transmit(&f).unwrap();
        nic.flush_tx();
        let got = poll(&mut nic, 64);
        assert_eq!(got, [f], "length {len}");
        if seq % 8 == 7 {
            nic.clean_tx();
        }
    }
    nic.clean_tx();
    let n = (MAX_FRAME - 60 + 1) as u64;
    let bytes: u64 = (60..=MAX_FRAME as u64).sum();
    let s = nic.stats();
    assert_eq!((s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes), (n, bytes, n, bytes));
    assert_eq!(s.rx_dropped, 0);
    w.with_model(|m| {
        assert_eq!(m.net().bad_tx_headers, 0, "transmit headers all zero");
        assert_eq!(m.net().transmitted.len() as u64, n);
    });
    assert_clean(&w);
}

#[test]
fn injected_frames_are_delivered_in_order_and_buffers_recycled() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    let frames: Vec<_> = (0..40).map(|i| frame(i, 60 + i as usize * 30)).collect();
    let mut got = Vec::new();
    for chunk in frames.chunks(5) {
        w.with_model(|m| chunk.iter().for_each(|f| receive(m, f)));
        got.extend(poll(&mut nic, 64));
    }
    assert_eq!(got, frames);
    w.with_model(|m| {
        let mem = m.memory.clone();
        assert_eq!(m.ring(0).pending(&mem), 8, "all buffers back with the device");
        assert!(m.net().backlog.is_empty());
    });
    assert_clean(&w);
}

#[test]
fn poll_respects_its_budget_and_publishes_once_per_call() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 16);
    w.with_model(|m| (0..10).for_each(|i| receive(m, &frame(i, 100))));
    assert_eq!(nic.poll_rx(4, |_| {}), 4);
    assert_eq!(nic.poll_rx(4, |_| {}), 4);
    assert_eq!(nic.poll_rx(4, |_| {}), 2, "drained: under budget");
    assert_eq!(nic.stats().rx_packets, 10);
    // Each poll publishes its recycled buffers once; with event-idx the
    // device (which takes buffers as frames arrive) asks for at most one
    // doorbell per publish.
    let s = nic.stats();
    assert!(s.rx_notifies + s.notifies_suppressed > 3, "{s:?}");
    assert_clean(&w);
}

#[test]
fn malformed_receive_lengths_are_counted_dropped_and_the_buffer_recycled() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| {
        m.net().next_rx_len = Some(5); // shorter than the header
        receive(m, &frame(1, 60));
        m.net().next_rx_len = Some(4000); // longer than the 2048-byte buffer
        receive(m, &frame(2, 60));
        receive(m, &frame(3, 60));
    });
    let got = poll(&mut nic, 16);
    assert_eq!(got, [frame(3, 60)]);
    let s = nic.stats();
    assert_eq!((s.rx_dropped, s.rx_packets), (2, 1));
    w.with_model(|m| {
        let mem = m.memory.clone();
        assert_eq!(m.ring(0).pending(&mem), 8, "dropped buffers went back too");
    });
    // A used entry with an id the driver never gave: counted, nothing recycled.
    w.with_model(|m| {
        let mem = m.memory.clone();
        m.ring(0).push(&mem, 200, 64);
    });
    assert_eq!(poll(&mut nic, 16), Vec::<Vec<u8>>::new());
    assert_eq!(nic.stats().device_errors, 1);
    w.with_model(|m| receive(m, &frame(4, 70)));
    assert_eq!(poll(&mut nic, 16), [frame(4, 70)], "still works");
    assert_clean(&w);
}

#[test]
fn a_full_transmit_ring_refuses_then_recovers() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| m.auto_process = false); // a busy device: nothing completes
    for i in 0..8 {
        nic.transmit(&frame(i, 100)).unwrap();
    }
    nic.flush_tx();
    assert_eq!(nic.transmit(&frame(8, 100)), Err(NetTxError::RingFull));
    assert_eq!(nic.stats().tx_ring_full, 1);
    assert_eq!(nic.clean_tx(), 0);
    // The device catches up.
    w.with_model(|m| m.process(1));
    assert_eq!(nic.clean_tx(), 8);
    assert_eq!(nic.tx_pending(), 0);
    for i in 0..8 {
        nic.transmit(&frame(10 + i, 100)).unwrap();
    }
    nic.flush_tx();
    w.with_model(|m| m.process(1));
    // transmit reclaims by itself when it finds the ring full.
    nic.transmit(&frame(20, 100)).unwrap();
    assert_eq!(nic.stats().tx_packets, 16);
    w.with_model(|m| assert_eq!(m.net().transmitted.len(), 16));
    assert_clean(&w);
}

#[test]
fn frames_that_are_too_long_or_short_are_refused() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    assert_eq!(nic.transmit(&frame(0, MAX_FRAME + 1)), Err(NetTxError::TooLong));
    assert_eq!(nic.transmit(&[]), Err(NetTxError::TooShort), "never an empty datagram (QEMU 7.2 dgram bug)");
    assert_eq!(nic.transmit(&[0; 13]), Err(NetTxError::TooShort));
    nic.flush_tx();
    w.with_model(|m| assert_eq!(m.notifies, [0], "nothing was sent"));
    assert_eq!(NetTxError::RingFull.to_string(), "virtio-net: transmit queue full");
}

#[test]
fn tx_doorbells_follow_event_idx() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 16);
    w.with_model(|m| m.auto_process = false);
    nic.transmit(&frame(0, 64)).unwrap();
    nic.flush_tx();
    assert_eq!(nic.stats().tx_notifies, 1, "the device is idle: ring");
    nic.transmit(&frame(1, 64)).unwrap();
    nic.flush_tx();
    assert_eq!(nic.stats().tx_notifies, 1, "it has not looked since the last doorbell: don't ring again");
    assert_eq!(nic.stats().notifies_suppressed, 1);
    w.with_model(|m| m.process(1)); // it looks, takes both, sets avail_event = 2
    nic.transmit(&frame(2, 64)).unwrap();
    nic.flush_tx();
    assert_eq!(nic.stats().tx_notifies, 2);
    assert_clean(&w);
}

#[test]
fn intx_handler_reads_the_isr_and_the_line_drops() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| receive(m, &frame(0, 60)));
    assert!(w.with_model(|m| m.line), "a frame arrived: INTx asserted");
    w.clear_log();
    let isr = nic.handle_intx();
    assert!(isr.queue && !isr.config && isr.is_mine());
    w.with_model(|m| {
        assert!(!m.line, "reading the ISR de-asserted the line");
        assert_eq!(m.isr_reads, 1);
    });
    assert_eq!(w.log().len(), 1, "the hard handler makes exactly one register access");
    assert_eq!(w.count(Op::Read, ISR), 1);
    // A zero ISR: a shared line's other device.
    let isr = nic.handle_intx();
    assert!(!isr.is_mine());
    let s = nic.stats();
    assert_eq!((s.interrupts, s.not_mine), (1, 1));
    assert_eq!(poll(&mut nic, 8).len(), 1);
    assert_clean(&w);
}

#[test]
fn a_driver_that_skips_the_isr_read_leaves_the_line_asserted() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| receive(m, &frame(0, 60)));
    // Polling alone (what a buggy INTx handler does) drains the ring but
    // never acknowledges: the level-triggered line stays high — a storm.
    assert_eq!(poll(&mut nic, 8).len(), 1);
    assert!(w.with_model(|m| m.line));
    nic.handle_intx();
    assert!(!w.with_model(|m| m.line));
}

#[test]
fn config_change_interrupts_are_reported_and_link_state_read() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| set_link(m, false));
    let isr = nic.handle_intx();
    assert!(isr.config && !isr.queue);
    assert!(!nic.link_up());
    assert_eq!(nic.stats().config_changes, 1);
    w.with_model(|m| set_link(m, true));
    nic.handle_intx();
    assert!(nic.link_up());
    assert_clean(&w);
}

#[test]
fn msix_vectors_route_each_source_and_a_rejected_vector_fails_init() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    w.with_model(|m| m.msix_vectors = 3);
    let vectors = Vectors { config: Some(0), queues: vec![Some(1), Some(2)] };
    let mut nic = VirtioNet::new(transport(&w), dma, NetConfig { queue_size: 8 }, &vectors).unwrap();
    w.with_model(|m| {
        assert_eq!((m.config_msix, m.queues[0].msix, m.queues[1].msix), (0, 1, 2));
        receive(m, &frame(0, 60));
        assert_eq!(m.msi, [1], "receive interrupt on vector 1");
        assert!(!m.line, "no INTx with MSI-X");
        set_link(m, false);
        assert_eq!(m.msi, [1, 0]);
    });
    nic.count_interrupt();
    assert_eq!(nic.stats().interrupts, 1);
    assert_eq!(w.with_model(|m| m.isr_reads), 0, "the MSI-X path does not touch the ISR");
    assert_eq!(poll(&mut nic, 8).len(), 1);
    drop(nic);

    // Only two vectors: queue 1's vector 2 comes back NO_VECTOR.
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    w.with_model(|m| m.msix_vectors = 2);
    let e = VirtioNet::new(transport(&w), dma, NetConfig { queue_size: 8 }, &vectors).err();
    assert_eq!(e, Some(Error::VectorRejected { queue: Some(1), vector: 2 }));
    w.with_model(|m| {
        assert_eq!(m.status, FAILED, "reset (queue 0 was live), then FAILED");
        assert!(m.queues.iter().all(|q| !q.enabled));
    });
    assert_clean(&w);
}

#[test]
fn napi_disables_receive_interrupts_and_catches_the_reenable_race() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 16);
    w.with_model(|m| receive(m, &frame(0, 60)));
    nic.handle_intx();
    nic.disable_rx_interrupts();
    // While polling, more frames arrive: no interrupts for them.
    w.with_model(|m| (1..5).for_each(|i| receive(m, &frame(i, 60))));
    assert!(!w.with_model(|m| m.line), "suppressed while polling");
    assert_eq!(poll(&mut nic, 3).len(), 3, "budget used up: keep polling");
    // The race: a frame lands between the last poll and the re-enable.
    assert!(nic.enable_rx_interrupts(), "work pending: poll again");
    assert_eq!(poll(&mut nic, 64).len(), 2);
    assert!(!nic.enable_rx_interrupts(), "drained");
    w.with_model(|m| receive(m, &frame(9, 60)));
    assert!(w.with_model(|m| m.line), "enabled again: the next frame interrupts");
    assert_eq!(nic.stats().interrupts, 1);
    assert_clean(&w);
}

#[test]
fn napi_works_without_event_idx_too() {
    let (dma, w) = rig(F_VERSION_1 | F_MAC, 256);
    let mut nic = probe(&w, dma, 16);
    nic.disable_rx_interrupts();
    w.with_model(|m| receive(m, &frame(0, 60)));
    assert!(!w.with_model(|m| m.line));
    assert!(nic.enable_rx_interrupts());
    assert_eq!(poll(&mut nic, 64).len(), 1);
    assert!(!nic.enable_rx_interrupts());
    w.with_model(|m| receive(m, &frame(1, 60)));
    assert!(w.with_model(|m| m.line));
    assert_clean(&w);
}

#[test]
fn counters_include_register_traffic() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let nic = probe(&w, dma, 8);
    let s = nic.stats();
    let io = hal::RegisterWindow::stats(&w);
    assert_eq!((s.register_reads, s.register_writes), (io.reads, io.writes));
    assert!(s.register_writes > 10);
}

#[test]
fn dropping_the_driver_resets_the_device() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let nic = probe(&w, dma, 8);
    let resets = w.with_model(|m| m.resets);
    drop(nic);
    w.with_model(|m| {
        assert_eq!(m.resets, resets + 1);
        assert_eq!(m.status, 0);
        assert!(m.queues.iter().all(|q| !q.enabled), "the device forgot our memory");
    });
}

#[test]
fn the_watchdog_fires_on_a_stalled_transmitter_and_recovery_restores_traffic() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| m.net().loopback = true);
    assert!(!nic.tx_stalled(0, 10), "nothing pending");
    nic.inject_tx_stall();
    for i in 0..3 {
        nic.transmit(&frame(i, 80)).unwrap();
    }
    nic.flush_tx();
    w.with_model(|m| assert!(m.net().transmitted.is_empty(), "the device was told nothing"));
    assert!(!nic.tx_stalled(100, 10), "arms the timer");
    assert!(!nic.tx_stalled(105, 10));
    assert!(nic.tx_stalled(110, 10), "no progress for the timeout");
    nic.disable_rx_interrupts();

    let resets = w.with_model(|m| m.resets);
    nic.reset_and_recover().unwrap();
    let s = nic.stats();
    assert_eq!((s.tx_timeouts, s.resets), (3, 2));
    w.with_model(|m| {
        assert_eq!(m.resets, resets + 1);
        assert_eq!(m.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        let mem = m.memory.clone();
        assert_eq!(m.ring(0).pending(&mem), 8, "receive queue refilled");
        assert_eq!(m.ring(0).avail_flags(&mem), 0, "event-idx: flags stay 0");
        assert_eq!(m.ring(0).used_event(&mem), u16::MAX, "receive interrupts still off");
    });
    assert!(!nic.tx_stalled(200, 10));
    // Traffic flows again, from index 0 of fresh rings.
    nic.transmit(&frame(9, 100)).unwrap();
    nic.flush_tx();
    assert_eq!(poll(&mut nic, 8), [frame(9, 100)]);
    assert_eq!(nic.clean_tx(), 1);
    assert_clean(&w);
}

#[test]
fn a_slow_transmitter_that_makes_progress_is_not_stalled() {
    let (dma, w) = rig(net::QEMU_FEATURES, 256);
    let mut nic = probe(&w, dma, 8);
    w.with_model(|m| m.auto_process = false);
    nic.transmit(&frame(0, 80)).unwrap();
    nic.transmit(&frame(1, 80)).unwrap();
    nic.flush_tx();
    assert!(!nic.tx_stalled(0, 10));
    assert!(nic.tx_stalled(10, 10), "nothing came back");
    w.with_model(|m| m.process(1));
    assert!(!nic.tx_stalled(20, 10), "completions waiting count as progress");
    nic.clean_tx();
    assert!(!nic.tx_stalled(30, 10), "all reclaimed");
    assert_clean(&w);
}
