//! Receive: frames written by the model through fake DMA, polled by the driver.

mod model;

use e1000::Config;
use hal::sim::Op;
use model::*;

#[test]
fn ten_frames_arrive_in_order_with_exact_bytes_and_one_doorbell() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    let sent: Vec<Vec<u8>> =
        (0..10).map(|i| to_us(i, [60, 64, 100, 577, 1000, 1514, 61, 200, 1400, 90][i as usize])).collect();
    for f in &sent {
        assert_eq!(w.with_model(|m| m.receive(f)), Rx::Stored);
    }
    let (n, got) = poll(&mut nic, 64);
    assert_eq!(n, 10);
    assert_eq!(got, sent, "every byte, in order, no FCS");
    assert_eq!(w.count(Op::Write, RDT), 1, "one doorbell for the batch");
    assert_eq!(w.with_model(|m| m.reg(RDT)), 9, "the ten descriptors handed back, one kept in reserve");
    let stats = nic.stats();
    assert_eq!((stats.rx_packets, stats.rx_doorbells, stats.polls), (10, 1, 1));
    assert_eq!(stats.rx_bytes, sent.iter().map(|f| f.len() as u64).sum::<u64>());

    // Nothing new: nothing delivered, no doorbell.
    let (n, got) = poll(&mut nic, 64);
    assert_eq!((n, got.len()), (0, 0));
    assert_eq!(w.count(Op::Write, RDT), 1);
    assert_eq!(nic.stats().polls, 2);
    assert_clean(&w);
}

#[test]
fn a_short_frame_arrives_padded_as_qemu_pads_it() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    let short = to_us(7, 42);
    w.with_model(|m| m.receive(&short));
    let (_, got) = poll(&mut nic, 8);
    let mut padded = short.clone();
    padded.resize(60, 0);
    assert_eq!(got, [padded]);
}

#[test]
fn the_budget_is_respected_and_the_rest_comes_next_poll() {
    let (dma, w) = setup(1200);
    let mut nic = probe(&w, dma, Config { rx_ring: 512, ..small() });
    let sent: Vec<Vec<u8>> = (0..300).map(|i| to_us(i, 60 + (i as usize * 7) % 1400)).collect();
    for f in &sent {
        assert_eq!(w.with_model(|m| m.receive(f)), Rx::Stored);
    }
    let (n, first) = poll(&mut nic, 64);
    assert_eq!((n, first.len()), (64, 64));
    assert_eq!(first, sent[..64]);
    assert_eq!(w.count(Op::Write, RDT), 1);
    // Only what was processed goes back to the device.
    assert_eq!(w.with_model(|m| m.rx_free()), 511 - 300 + 64);

    let mut all = first;
    let mut polls = 1;
    loop {
        let (n, got) = poll(&mut nic, 64);
        polls += 1;
        all.extend(got);
        if n < 64 {
            break;
        }
    }
    assert_eq!(polls, 5, "64 + 64 + 64 + 64 + 44");
    assert_eq!(all, sent);
    assert_eq!(w.count(Op::Write, RDT), 5, "one doorbell per poll");
    assert_eq!(w.with_model(|m| m.rx_free()), 511);
    assert_clean(&w);
}

#[test]
fn a_thousand_frames_through_a_sixteen_entry_ring_reuse_the_same_buffers() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    let allocations = nic.allocator().allocations();
    let mut seq = 0;
    let mut delivered = 0;
    while seq < 1000 {
        // Fill what the device has, then drain.
        let mut batch = Vec::new();
        while seq < 1000 && w.with_model(|m| m.rx_free()) > 0 {
            let f = to_us(seq, 60 + (seq as usize * 13) % 1450);
            assert_eq!(w.with_model(|m| m.receive(&f)), Rx::Stored);
            batch.push(f);
            seq += 1;
        }
        assert!((1..=15).contains(&batch.len()), "a 16-entry ring holds 15 frames, got {}", batch.len());
        let (n, got) = poll(&mut nic, 64);
        assert_eq!(n, batch.len());
        assert_eq!(got, batch);
        delivered += got.len();
    }
    assert_eq!(delivered, 1000);
    assert_eq!(nic.allocator().allocations(), allocations, "no DMA allocation on the packet path");
    w.with_model(|m| {
        assert_eq!(m.rx_buffers_used.len(), 16, "the same sixteen pool buffers, over and over");
        assert_eq!(m.reg(MPC), 0, "nothing missed");
    });
    assert_eq!(nic.stats().rx_packets, 1000);
    assert_clean(&w);
}

#[test]
fn frames_too_long_for_a_buffer_and_frames_with_errors_are_dropped_and_counted() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, Config { rx_buffer: 1024, ..small() });
    let good1 = to_us(1, 300);
    let long = to_us(2, 1500); // two 1024-byte buffers
    let crc_bad = to_us(3, 400);
    let rx_bad = to_us(4, 500);
    let good2 = to_us(5, 1024); // exactly one buffer
    w.with_model(|m| {
        assert_eq!(m.receive(&good1), Rx::Stored);
        assert_eq!(m.receive(&long), Rx::Stored);
        assert_eq!(m.receive_with_errors(&crc_bad, RXD_ERR_CE), Rx::Stored);
        assert_eq!(m.receive_with_errors(&rx_bad, RXD_ERR_RXE), Rx::Stored);
        assert_eq!(m.receive(&good2), Rx::Stored);
    });
    let (n, got) = poll(&mut nic, 64);
    assert_eq!(n, 6, "descriptors, not frames: the long one took two");
    assert_eq!(got, [good1, good2]);
    let stats = nic.stats();
    assert_eq!((stats.rx_packets, stats.rx_too_long, stats.rx_errors, stats.rx_dropped), (2, 1, 2, 3));

    // The error bits were cleared with the status: the same descriptors carry
    // good frames next time round the ring.
    let again: Vec<Vec<u8>> = (10..24).map(|i| to_us(i, 100)).collect();
    for f in &again {
        assert_eq!(w.with_model(|m| m.receive(f)), Rx::Stored);
    }
    let (_, got) = poll(&mut nic, 64);
    assert_eq!(got, again);
    assert_eq!(nic.stats().rx_dropped, 3);
    assert_clean(&w);
}

#[test]
fn a_long_frame_split_across_two_polls_is_still_dropped_whole() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, Config { rx_buffer: 512, ..small() });
    let long = to_us(1, 1300); // three 512-byte buffers
    let good = to_us(2, 100);
    w.with_model(|m| {
        m.receive(&long);
        m.receive(&good);
    });
    let (n, got) = poll(&mut nic, 2);
    assert_eq!((n, got.len()), (2, 0), "the budget ends inside the long frame");
    let (n, got) = poll(&mut nic, 64);
    assert_eq!(n, 2);
    assert_eq!(got, [good]);
    assert_eq!(nic.stats().rx_too_long, 1);
}

#[test]
fn a_full_ring_makes_the_device_miss_frames_and_the_driver_carries_on() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    let outcomes: Vec<Rx> = (0..20).map(|i| w.with_model(|m| m.receive(&to_us(i, 100)))).collect();
    assert_eq!(outcomes.iter().filter(|&&o| o == Rx::Stored).count(), 15, "n - 1 descriptors");
    assert_eq!(&outcomes[15..], [Rx::Missed; 5]);
    w.with_model(|m| {
        assert_eq!(m.reg(MPC), 5);
        assert_ne!(m.reg(ICR) & ICR_RXO, 0, "receiver overrun raised");
    });

    let (n, got) = poll(&mut nic, 64);
    assert_eq!(n, 15);
    assert_eq!(got, (0..15).map(|i| to_us(i, 100)).collect::<Vec<_>>());

    // The ring is usable again.
    let more: Vec<Vec<u8>> = (100..110).map(|i| to_us(i, 200)).collect();
    for f in &more {
        assert_eq!(w.with_model(|m| m.receive(f)), Rx::Stored);
    }
    assert_eq!(poll(&mut nic, 64).1, more);
    assert_eq!(nic.hw_stats().missed_packets, 5);
    assert_clean(&w);
}

#[test]
fn rxdmt0_is_raised_when_the_ring_runs_low() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    nic.enable_interrupts();
    for i in 0..6 {
        w.with_model(|m| m.receive(&to_us(i, 100)));
    }
    assert_eq!(w.with_model(|m| m.reg(ICR)) & ICR_RXDMT0, 0, "9 of 16 free");
    w.with_model(|m| m.receive(&to_us(6, 100)));
    let event = nic.handle_interrupt();
    assert!(event.rx);
    assert_ne!(event.icr & ICR_RXDMT0, 0, "half the ring left");
}

#[test]
fn descriptors_go_back_sixteen_at_a_time_on_a_big_ring() {
    // A 256-descriptor ring: polls of 5 frames hand nothing back until 16
    // have been recycled — at most 2 doorbells per 32 frames.
    let (dma, w) = setup(4096);
    let mut nic = probe(&w, dma, Config::default());
    let mut writes = Vec::new();
    for round in 0..8u32 {
        for i in 0..5 {
            assert_eq!(w.with_model(|m| m.receive(&to_us(round * 5 + i, 100))), Rx::Stored);
        }
        let (n, _) = poll(&mut nic, 64);
        assert_eq!(n, 5);
        writes.push(w.count(Op::Write, RDT));
    }
    // 40 frames: handed back after 20 (round 4) and after 40 (round 8).
    assert_eq!(writes, [0, 0, 0, 1, 1, 1, 1, 2]);
    assert_eq!(w.with_model(|m| m.reg(RDT)), 39);
    assert_clean(&w);
}
