//! Transmit: frames queued by the driver, sent by the model on the TDT doorbell.

mod model;

use e1000::{Config, TxError, MAX_TX_FRAME, MIN_TX_FRAME};
use hal::sim::Op;
use model::*;

const PEER: [u8; 6] = [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc];

#[test]
fn a_hundred_frames_in_batches_of_32_take_one_doorbell_per_flush() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, Config { tx_ring: 64, ..small() });
    let frames: Vec<Vec<u8>> = (0..100).map(|i| frame(PEER, i, 60 + (i as usize * 37) % 1450)).collect();
    for (batch_no, batch) in frames.chunks(32).enumerate() {
        let sent_before = w.with_model(|m| m.transmitted.len());
        for f in batch {
            nic.transmit(f).unwrap();
        }
        assert_eq!(w.with_model(|m| m.transmitted.len()), sent_before, "nothing goes out before the doorbell");
        assert_eq!(w.count(Op::Write, TDT), batch_no, "transmit alone rings no doorbell");
        nic.flush_tx();
        assert_eq!(w.count(Op::Write, TDT), batch_no + 1, "exactly one TDT write per flush");
        assert_eq!(w.with_model(|m| m.transmitted.len()), sent_before + batch.len());
        assert_eq!(nic.clean_tx(), batch.len());
        assert_eq!(nic.tx_free_slots(), 63);
    }
    w.with_model(|m| {
        let got: Vec<Vec<u8>> = m.transmitted.iter().map(|t| t.bytes.clone()).collect();
        assert_eq!(got, frames, "every frame intact, in order");
        for t in &m.transmitted {
            assert_eq!(t.cmd & (TXD_EOP | TXD_IFCS | TXD_RS | TXD_DEXT), TXD_EOP | TXD_IFCS | TXD_RS);
        }
        assert_eq!(m.tx_descriptors, 100, "one descriptor per frame");
    });
    let stats = nic.stats();
    assert_eq!((stats.tx_packets, stats.tx_doorbells), (100, 4));
    assert_eq!(stats.tx_bytes, frames.iter().map(|f| f.len() as u64).sum::<u64>());
    assert_clean(&w);
}

#[test]
fn clean_tx_reclaims_only_what_the_device_completed() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    for i in 0..5 {
        nic.transmit(&frame(PEER, i, 100)).unwrap();
    }
    assert_eq!(nic.clean_tx(), 0, "queued but not flushed: nothing to reclaim");
    assert_eq!(nic.tx_free_slots(), 10);
    nic.flush_tx();
    w.with_model(|m| m.tx_hung = true);
    for i in 5..8 {
        nic.transmit(&frame(PEER, i, 100)).unwrap();
    }
    nic.flush_tx();
    assert_eq!(nic.clean_tx(), 5, "the three the device never did stay");
    assert_eq!(nic.clean_tx(), 0);
    assert_eq!(nic.tx_free_slots(), 12);
    assert_eq!(nic.stats().tx_packets, 5);
}

#[test]
fn a_full_ring_refuses_frames_and_overwrites_nothing() {
    let (dma, w) = setup(256);
    let mut nic = probe(&w, dma, Config { tx_ring: 8, rx_ring: 8, ..Config::default() });
    let frames: Vec<Vec<u8>> = (0..7).map(|i| frame(PEER, i, 200)).collect();
    for f in &frames {
        nic.transmit(f).unwrap();
    }
    assert_eq!(nic.tx_free_slots(), 0);
    assert_eq!(nic.transmit(&frame(PEER, 99, 200)), Err(TxError::RingFull));
    assert_eq!(nic.transmit(&frame(PEER, 100, 300)), Err(TxError::RingFull));
    assert_eq!(nic.stats().tx_ring_full, 2);
    nic.flush_tx();
    w.with_model(|m| {
        let got: Vec<Vec<u8>> = m.transmitted.iter().map(|t| t.bytes.clone()).collect();
        assert_eq!(got, frames, "the refused frames overwrote no queued one");
        assert_eq!(m.reg(TDT), 7);
    });
    assert_eq!(nic.clean_tx(), 7);
    nic.transmit(&frame(PEER, 8, 200)).unwrap();
    nic.flush_tx();
    assert_eq!(w.with_model(|m| m.transmitted.last().unwrap().bytes.clone()), frame(PEER, 8, 200));
    assert_clean(&w);
}

#[test]
fn frames_of_the_wrong_size_are_refused_untouched() {
    let (dma, w) = setup(1024);
    let mut nic = probe(&w, dma, small());
    assert_eq!(nic.transmit(&[]), Err(TxError::TooShort), "a zero-length frame kills QEMU's dgram netdev");
    assert_eq!(nic.transmit(&[0; MIN_TX_FRAME - 1]), Err(TxError::TooShort));
    assert_eq!(nic.transmit(&vec![0; MAX_TX_FRAME + 1]), Err(TxError::TooLong));
    assert_eq!(nic.tx_free_slots(), 15);
    nic.flush_tx();
    assert_eq!(w.count(Op::Write, TDT), 0, "nothing queued, no doorbell");
    nic.transmit(&[0xab; MIN_TX_FRAME]).unwrap();
    nic.flush_tx();
    assert_eq!(w.with_model(|m| m.transmitted[0].bytes.clone()), [0xab; MIN_TX_FRAME]);
    assert_eq!(TxError::TooLong.to_string(), "e1000: frame longer than 1514 bytes");
}

#[test]
fn the_ring_wraps_many_times() {
    let (dma, w) = setup(256);
    let mut nic = probe(&w, dma, Config { tx_ring: 8, rx_ring: 8, ..Config::default() });
    for i in 0..200 {
        nic.transmit(&frame(PEER, i, 64 + i as usize)).unwrap();
        if i % 3 == 2 {
            nic.flush_tx();
            nic.clean_tx();
        }
    }
    nic.flush_tx();
    nic.clean_tx();
    assert_eq!(nic.stats().tx_packets, 200);
    w.with_model(|m| {
        assert_eq!(m.transmitted.len(), 200);
        assert!(m.transmitted.iter().enumerate().all(|(i, t)| t.bytes == frame(PEER, i as u32, 64 + i)));
    });
    assert_eq!(nic.allocator().allocations(), 2 + 8 + 8);
}
