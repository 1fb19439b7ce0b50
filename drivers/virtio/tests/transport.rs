//! The transport: reset, the status handshake, feature negotiation, queue
//! set-up, MSI-X vectors, doorbells, and configuration reads.

mod model;

use hal::sim::Op;
use model::*;
use virtio::queue::SplitQueue;
use virtio::regs::features::{EVENT_IDX, VERSION_1};
use virtio::regs::net::{F_MAC, F_STATUS};
use virtio::transport::{CONFIG_RETRY_LIMIT, RESET_POLL_LIMIT};
use virtio::Error;

fn rig(features: u64) -> (hal::dma::sim::FakeDma, Window) {
    let dma = dma(64);
    let w = Window::new(net::model(dma.memory(), features, 16), BAR_SIZE);
    (dma, w)
}

#[test]
fn negotiation_follows_the_status_handshake_in_order() {
    let (_dma, w) = rig(net::QEMU_FEATURES);
    let t = transport(&w);
    let accepted = t.negotiate(F_MAC | F_STATUS | EVENT_IDX, VERSION_1).unwrap();
    assert_eq!(accepted, VERSION_1 | F_MAC | F_STATUS | EVENT_IDX, "MRG_RXBUF, CTRL_VQ, INDIRECT not accepted");
    w.with_model(|m| {
        // reset, ACKNOWLEDGE, +DRIVER, +FEATURES_OK (§3.1.1 steps 1–5).
        assert_eq!(m.status_writes, [0, ACKNOWLEDGE, ACKNOWLEDGE | DRIVER, ACKNOWLEDGE | DRIVER | FEATURES_OK]);
        assert_eq!(m.driver_features, accepted);
        assert_eq!(m.resets, 1);
    });
    assert_eq!(t.status(), ACKNOWLEDGE | DRIVER | FEATURES_OK);
    t.driver_ok();
    assert_eq!(t.status(), ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    // Both feature halves were read through the select register.
    assert_eq!(w.count(Op::Write, DFSELECT), 2);
    assert_eq!(w.count(Op::Read, DF), 2);
    assert_clean(&w);
}

#[test]
fn version_1_is_required_even_if_the_caller_forgets() {
    let (_dma, w) = rig(net::QEMU_FEATURES & !F_VERSION_1);
    let t = transport(&w);
    assert_eq!(t.negotiate(F_MAC, 0), Err(Error::MissingFeature(VERSION_1)));
    let status = t.status();
    assert_ne!(status & FAILED, 0, "the driver gave up");
    assert_eq!(status & FEATURES_OK, 0);
    w.with_model(|m| assert_eq!(m.driver_features, 0, "no features were written"));
    assert_clean(&w);
}

#[test]
fn a_device_that_rejects_features_ok_gets_failed() {
    let (_dma, w) = rig(net::QEMU_FEATURES);
    w.with_model(|m| m.reject_features_ok = true);
    let t = transport(&w);
    assert_eq!(t.negotiate(F_MAC, VERSION_1), Err(Error::FeaturesRejected));
    assert_eq!(t.status(), ACKNOWLEDGE | DRIVER | FAILED);
    w.with_model(|m| assert_eq!(*m.status_writes.last().unwrap(), ACKNOWLEDGE | DRIVER | FAILED));
    assert_clean(&w);
}

#[test]
fn reset_waits_for_the_status_to_read_zero_but_not_forever() {
    let (_dma, w) = rig(net::QEMU_FEATURES);
    let t = transport(&w);
    t.add_status(ACKNOWLEDGE);
    w.with_model(|m| m.reset_delay = 5);
    w.clear_log();
    assert_eq!(t.reset(), Ok(()));
    assert_eq!(w.count(Op::Read, STATUS), 6, "five stale reads, then 0");

    t.add_status(ACKNOWLEDGE);
    w.with_model(|m| m.reset_delay = u32::MAX);
    w.clear_log();
    assert_eq!(t.reset(), Err(Error::ResetTimeout));
    assert_eq!(w.count(Op::Read, STATUS), RESET_POLL_LIMIT as usize);
}

#[test]
fn setup_queue_programs_size_addresses_and_enable() {
    let (dma, w) = rig(net::QEMU_FEATURES);
    let t = transport(&w);
    t.negotiate(EVENT_IDX, VERSION_1).unwrap();
    assert_eq!(t.num_queues(), 3);
    assert_eq!(t.max_queue_size(1), 16);
    assert_eq!(t.max_queue_size(3), 0, "no such queue");
    let q = SplitQueue::new(&dma, 1, 8, true).unwrap();
    t.setup_queue(&q, None).unwrap();
    w.with_model(|m| {
        let r = &m.queues[1];
        assert!(r.enabled);
        assert_eq!(r.size, 8, "smaller than the maximum 16");
        assert_eq!((r.desc, r.avail, r.used), (q.desc_addr().0, q.avail_addr().0, q.used_addr().0));
        assert_eq!(r.msix, NO_VECTOR);
        assert!(!m.queues[0].enabled);
    });
    assert_eq!(t.notify(0), Err(Error::QueueNotReady(0)), "queue 0 was never set up");
    t.driver_ok();
    t.notify(1).unwrap();
    // QEMU's layout: queue 1's doorbell at notify + 1 * 4.
    assert_eq!(w.count(Op::Write, NOTIFY + 4), 1);
    w.with_model(|m| assert_eq!(m.notifies, [1]));
    assert_clean(&w);
}

#[test]
fn queues_the_device_lacks_or_cannot_hold_are_refused() {
    let (dma, w) = rig(net::QEMU_FEATURES);
    let t = transport(&w);
    t.negotiate(0, VERSION_1).unwrap();
    let too_big = SplitQueue::new(&dma, 0, 32, false).unwrap();
    assert_eq!(t.setup_queue(&too_big, None), Err(Error::BadQueueSize { index: 0, size: 32, max: 16 }));
    let missing = SplitQueue::new(&dma, 7, 8, false).unwrap();
    assert_eq!(t.setup_queue(&missing, None), Err(Error::QueueUnavailable(7)));
    w.with_model(|m| m.queues[2].max_size = 0);
    let zero = SplitQueue::new(&dma, 2, 8, false).unwrap();
    w.with_model(|m| m.queues[2].size = 0);
    assert_eq!(t.setup_queue(&zero, None), Err(Error::QueueUnavailable(2)), "size 0: unavailable");
    assert!(matches!(SplitQueue::new(&dma, 0, 0, false), Err(Error::BadQueueSize { size: 0, .. })));
    assert!(matches!(SplitQueue::new(&dma, 0, 12, false), Err(Error::BadQueueSize { size: 12, .. })));
    assert_clean(&w);
}

#[test]
fn msix_vectors_are_programmed_and_read_back() {
    let (dma, w) = rig(net::QEMU_FEATURES);
    w.with_model(|m| m.msix_vectors = 3);
    let t = transport(&w);
    t.negotiate(0, VERSION_1).unwrap();
    t.set_config_vector(Some(0)).unwrap();
    let q = SplitQueue::new(&dma, 0, 8, false).unwrap();
    t.setup_queue(&q, Some(2)).unwrap();
    w.with_model(|m| {
        assert_eq!(m.config_msix, 0);
        assert_eq!(m.queues[0].msix, 2);
    });
    // A vector beyond the table: the device answers NO_VECTOR.
    let q1 = SplitQueue::new(&dma, 1, 8, false).unwrap();
    assert_eq!(t.setup_queue(&q1, Some(3)), Err(Error::VectorRejected { queue: Some(1), vector: 3 }));
    assert_eq!(t.set_config_vector(Some(9)), Err(Error::VectorRejected { queue: None, vector: 9 }));
    // Back to INTx: NO_VECTOR is written, nothing to check.
    t.set_config_vector(None).unwrap();
    w.with_model(|m| assert_eq!(m.config_msix, NO_VECTOR));
    assert_clean(&w);
}

#[test]
fn config_reads_retry_while_the_generation_changes() {
    let (_dma, w) = rig(net::QEMU_FEATURES);
    w.with_model(|m| m.config[16..24].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes()));
    let t = transport(&w);
    assert_eq!(t.read_config_u64(16), Ok(0x1122_3344_5566_7788));
    // The config changes under the first two reads: two retries.
    w.with_model(|m| m.generation_bumps = 2);
    w.clear_log();
    assert_eq!(t.read_config_u64(16), Ok(0x1122_3344_5566_7788));
    assert_eq!(w.count(Op::Read, DEVICE + 16), 2, "two attempts: the generation moved during the first");
    // A config that never settles: bounded.
    w.with_model(|m| m.generation_bumps = u32::MAX);
    w.clear_log();
    assert_eq!(t.read_config_u64(16), Err(Error::ConfigUnstable));
    assert_eq!(w.count(Op::Read, CFG_GENERATION), 2 * CONFIG_RETRY_LIMIT as usize);
    w.with_model(|m| m.generation_bumps = 0);
    assert_eq!(t.config_generation(), w.with_model(|m| m.generation));
    assert_clean(&w);
}
