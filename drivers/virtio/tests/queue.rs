//! The split virtqueue against the device side of the model's ring: chains,
//! the free list, wraparound, bad used entries, notification suppression.

mod model;

use hal::dma::sim::{FakeDma, FakeRegion, PhysMemory};
use hal::dma::{BusAddr, DmaAllocator, DmaRegion};
use model::ring::{read_u16, DeviceRing, Seg, AVAIL_F_NO_INTERRUPT, USED_F_NO_NOTIFY};
use virtio::queue::{vring_need_event, Buffer, SplitQueue, Used};
use virtio::Error;

struct Rig {
    dma: FakeDma,
    mem: PhysMemory,
    q: SplitQueue<FakeRegion>,
    dev: DeviceRing,
}

fn rig(size: u16, event_idx: bool) -> Rig {
    let dma = FakeDma::new(64 * 4096);
    let mem = dma.memory();
    let q = SplitQueue::new(&dma, 0, size, event_idx).unwrap();
    let dev = DeviceRing::new(size, q.desc_addr().0, q.avail_addr().0, q.used_addr().0, event_idx, true);
    Rig { dma, mem, q, dev }
}

fn rd(addr: u64, len: u32) -> Buffer {
    Buffer { addr: BusAddr(addr), len, writable: false }
}

fn wr(addr: u64, len: u32) -> Buffer {
    Buffer { addr: BusAddr(addr), len, writable: true }
}

#[test]
fn parts_are_placed_and_aligned_as_the_spec_asks() {
    let r = rig(8, false);
    assert_eq!(r.q.desc_addr().0 % 16, 0);
    assert_eq!(r.q.avail_addr().0, r.q.desc_addr().0 + 16 * 8);
    assert_eq!(r.q.used_addr().0 % 4, 0);
    assert!(r.q.used_addr().0 >= r.q.avail_addr().0 + 4 + 2 * 8 + 2);
    assert_eq!((r.q.size(), r.q.free_count(), r.q.in_flight()), (8, 8, 0));
}

#[test]
fn a_chain_reaches_the_device_readable_first_and_only_when_published() {
    let mut r = rig(8, false);
    let chain = [rd(0x1000, 16), rd(0x2000, 512), wr(0x3000, 1)];
    let head = r.q.add(&chain).unwrap();
    assert_eq!((r.q.free_count(), r.q.in_flight()), (5, 1));
    assert_eq!(r.dev.pop(&r.mem), Ok(None), "not published yet");
    assert!(r.q.publish(), "no suppression: notify");
    let got = r.dev.pop(&r.mem).unwrap().unwrap();
    assert_eq!(got.head, head);
    assert_eq!(got.readable, [Seg { addr: 0x1000, len: 16 }, Seg { addr: 0x2000, len: 512 }]);
    assert_eq!(got.writable, [Seg { addr: 0x3000, len: 1 }]);
    assert_eq!((got.indirect, got.ring_descs), (false, 3));
    assert!(!r.q.publish(), "nothing new to publish");
    assert_eq!(r.q.stats().published, 1);
}

#[test]
fn malformed_chains_are_refused_without_touching_the_queue() {
    let mut r = rig(4, false);
    assert_eq!(
        r.q.add(&[wr(0x1000, 4), rd(0x2000, 4)]),
        Err(Error::BadChain("device-readable buffer after a device-writable one"))
    );
    assert_eq!(r.q.add(&[]), Err(Error::BadChain("empty chain")));
    assert_eq!(r.q.add(&[rd(0x1000, 0)]), Err(Error::BadChain("zero-length buffer")));
    assert_eq!(r.q.add(&[rd(0x1000, 1); 5]), Err(Error::BadChain("longer than the queue size")));
    assert_eq!((r.q.free_count(), r.q.in_flight(), r.q.stats().added), (4, 0, 0));
    assert!(!r.q.publish());
}

#[test]
fn the_free_list_reuses_returned_descriptors_and_recovers_from_full() {
    let mut r = rig(4, false);
    let a = r.q.add(&[rd(0x1000, 8), wr(0x1100, 8)]).unwrap();
    let b = r.q.add(&[rd(0x2000, 8)]).unwrap();
    assert_eq!(r.q.free_count(), 1);
    assert_eq!(r.q.add(&[rd(0x3000, 8), wr(0x3100, 8)]), Err(Error::QueueFull));
    assert_eq!(r.q.free_count(), 1, "a refused chain takes nothing");
    let c = r.q.add(&[rd(0x4000, 8)]).unwrap();
    assert_eq!(r.q.add(&[rd(0x5000, 8)]), Err(Error::QueueFull));
    r.q.publish();
    // The device completes the two-descriptor chain `a` only.
    for _ in 0..3 {
        r.dev.pop(&r.mem).unwrap().unwrap();
    }
    r.dev.push(&r.mem, a.into(), 5);
    assert_eq!(r.q.pop_used(), Ok(Some(Used { id: a, len: 5 })));
    assert_eq!((r.q.free_count(), r.q.in_flight()), (2, 2));
    // The freed descriptors are reused first, head first.
    let d = r.q.add(&[rd(0x3000, 8), wr(0x3100, 8)]).unwrap();
    assert_eq!(d, a);
    r.q.publish();
    let chain = r.dev.pop(&r.mem).unwrap().unwrap();
    assert_eq!(chain.readable, [Seg { addr: 0x3000, len: 8 }]);
    assert_eq!(chain.writable, [Seg { addr: 0x3100, len: 8 }]);
    for id in [b, c, d] {
        r.dev.push(&r.mem, id.into(), if id == d { 8 } else { 0 });
    }
    for _ in 0..3 {
        assert!(r.q.pop_used().unwrap().is_some());
    }
    assert_eq!(r.q.pop_used(), Ok(None));
    assert_eq!((r.q.free_count(), r.q.in_flight()), (4, 0));
}

#[test]
fn indices_wrap_at_65536_without_losing_an_entry() {
    let mut r = rig(4, true);
    let total = 70_000u32;
    let mut expected = std::collections::VecDeque::new();
    for i in 0..total {
        // Alternate one- and two-descriptor chains so ids move around.
        let chain: &[Buffer] = if i % 2 == 0 { &[wr(0x1000, 64)] } else { &[rd(0x2000, 8), wr(0x3000, 64)] };
        let head = r.q.add(chain).unwrap();
        expected.push_back(head);
        r.q.publish();
        let c = r.dev.pop(&r.mem).unwrap().unwrap();
        assert_eq!(c.head, head);
        r.dev.push(&r.mem, c.head.into(), i % 64);
        let used = r.q.pop_used().unwrap().unwrap();
        assert_eq!(used, Used { id: expected.pop_front().unwrap(), len: i % 64 });
    }
    assert_eq!(r.q.pop_used(), Ok(None));
    assert_eq!(r.q.stats().used_popped, u64::from(total));
    assert_eq!(read_u16(&r.mem, r.dev.avail + 2), (total % 65536) as u16, "avail.idx wrapped");
    assert_eq!(read_u16(&r.mem, r.dev.used + 2), (total % 65536) as u16, "used.idx wrapped");
    assert_eq!((r.q.free_count(), r.q.in_flight()), (4, 0));
}

#[test]
fn a_bad_used_id_is_an_error_and_leaves_the_queue_consistent() {
    let mut r = rig(8, false);
    let a = r.q.add(&[wr(0x1000, 100)]).unwrap();
    let b = r.q.add(&[wr(0x2000, 100)]).unwrap();
    r.q.publish();
    r.dev.push(&r.mem, 9, 1); // beyond the queue
    r.dev.push(&r.mem, 3, 1); // in range, but not in flight
    r.dev.push(&r.mem, u32::MAX, 1);
    r.dev.push(&r.mem, a.into(), 100);
    r.dev.push(&r.mem, a.into(), 100); // returned twice
    assert_eq!(r.q.pop_used(), Err(Error::BadUsed { id: 9 }));
    assert_eq!(r.q.pop_used(), Err(Error::BadUsed { id: 3 }));
    assert_eq!(r.q.pop_used(), Err(Error::BadUsed { id: u32::MAX }));
    assert_eq!((r.q.free_count(), r.q.in_flight()), (6, 2), "nothing freed by bad entries");
    assert_eq!(r.q.pop_used(), Ok(Some(Used { id: a, len: 100 })));
    assert_eq!(r.q.pop_used(), Err(Error::BadUsed { id: a.into() }), "a double return is caught");
    assert_eq!((r.q.free_count(), r.q.in_flight()), (7, 1));
    assert_eq!(r.q.stats().bad_used, 4);
    // The queue still works.
    r.dev.push(&r.mem, b.into(), 0);
    assert_eq!(r.q.pop_used(), Ok(Some(Used { id: b, len: 0 })));
    assert_eq!(r.q.free_count(), 8);
}

#[test]
fn a_used_length_beyond_the_writable_bytes_is_an_error_but_the_chain_returns() {
    let mut r = rig(4, false);
    let a = r.q.add(&[rd(0x1000, 1000), wr(0x2000, 100), wr(0x3000, 28)]).unwrap();
    r.q.publish();
    r.dev.push(&r.mem, a.into(), 129);
    assert_eq!(r.q.pop_used(), Err(Error::BadUsedLen { id: a, len: 129, capacity: 128 }));
    assert_eq!((r.q.free_count(), r.q.in_flight()), (4, 0), "reclaimed");
}

#[test]
fn indirect_chains_take_one_ring_descriptor() {
    let mut r = rig(8, false);
    let table = r.dma.alloc_coherent(4096, u64::MAX).unwrap();
    let chain = [rd(0x1000, 16), rd(0x2000, 512), rd(0x2200, 512), rd(0x2400, 512), wr(0x3000, 1)];
    let head = r.q.add_indirect(&table, 64, &chain).unwrap();
    assert_eq!(r.q.free_count(), 7);
    r.q.publish();
    let c = r.dev.pop(&r.mem).unwrap().unwrap();
    assert!(c.indirect);
    assert_eq!((c.head, c.ring_descs, c.readable.len(), c.writable.len()), (head, 1, 4, 1));
    // The ring descriptor: INDIRECT only, pointing at the table.
    let desc = r.q.desc_addr().0 + 16 * u64::from(head);
    assert_eq!(model::ring::read_u64(&r.mem, desc), table.bus_addr().0 + 64);
    assert_eq!(model::ring::read_u32(&r.mem, desc + 8), 5 * 16);
    assert_eq!(read_u16(&r.mem, desc + 12), 4);
    r.dev.push(&r.mem, head.into(), 1);
    assert_eq!(r.q.pop_used(), Ok(Some(Used { id: head, len: 1 })));
    assert_eq!(r.q.free_count(), 8);
    assert_eq!(r.q.add_indirect(&table, 8, &chain), Err(Error::BadChain("indirect table not 16-byte aligned")));
    assert_eq!(
        r.q.add_indirect(&table, 4096 - 64, &chain),
        Err(Error::BadChain("indirect table does not fit its region"))
    );
}

#[test]
fn without_event_idx_the_no_notify_flag_suppresses_doorbells() {
    let mut r = rig(8, false);
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(r.q.publish());
    r.dev.set_used_flags(&r.mem, USED_F_NO_NOTIFY); // the device is polling
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(!r.q.publish());
    r.dev.set_used_flags(&r.mem, 0);
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(r.q.publish());
    let s = r.q.stats();
    assert_eq!((s.published, s.notifications_needed, s.notifications_suppressed), (3, 2, 1));
}

#[test]
fn without_event_idx_interrupts_are_switched_by_the_avail_flag() {
    let mut r = rig(8, false);
    r.q.disable_interrupts();
    assert_eq!(r.dev.avail_flags(&r.mem), AVAIL_F_NO_INTERRUPT);
    let id = r.q.add(&[wr(0x1000, 8)]).unwrap();
    r.q.publish();
    r.dev.pop(&r.mem).unwrap();
    r.dev.push(&r.mem, id.into(), 8);
    assert!(!r.dev.should_interrupt(&r.mem));
    assert!(r.q.enable_interrupts(), "an entry is already waiting: poll again");
    assert_eq!(r.dev.avail_flags(&r.mem), 0);
    r.q.pop_used().unwrap().unwrap();
    assert!(!r.q.enable_interrupts(), "drained");
}

#[test]
fn with_event_idx_publish_notifies_only_when_avail_event_is_crossed() {
    let mut r = rig(8, true);
    // avail_event starts at 0: moving 0 → 1 crosses it.
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(r.q.publish());
    // The device takes it and asks to be told about index 1 onwards.
    r.dev.pop(&r.mem).unwrap().unwrap();
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(r.q.publish(), "1 → 3 crosses avail_event 1");
    // The device has not looked since: it will see these when it does.
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(!r.q.publish(), "3 → 4 does not cross avail_event 1");
    // A device that says "tell me at 6".
    r.dev.set_avail_event(&r.mem, 6);
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(!r.q.publish(), "4 → 5");
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    r.q.add(&[rd(0x1000, 8)]).unwrap();
    assert!(r.q.publish(), "5 → 7 crosses 6");
    assert_eq!(r.dev.avail_flags(&r.mem), 0, "flags stay 0 with event-idx");
    let s = r.q.stats();
    assert_eq!((s.notifications_needed, s.notifications_suppressed), (3, 2));
    assert!(vring_need_event(6, 7, 5));
}

#[test]
fn with_event_idx_enable_interrupts_writes_used_event_and_reports_pending_work() {
    let mut r = rig(8, true);
    let ids: Vec<u16> = (0..3).map(|_| r.q.add(&[wr(0x1000, 8)]).unwrap()).collect();
    r.q.publish();
    r.q.disable_interrupts();
    assert_eq!(r.dev.avail_flags(&r.mem), 0, "flags must stay 0 with event-idx (§2.7.7)");
    assert_eq!(r.dev.used_event(&r.mem), u16::MAX, "used_event parked behind the driver");
    for &id in &ids[..2] {
        r.dev.pop(&r.mem).unwrap();
        r.dev.push(&r.mem, id.into(), 8);
    }
    // First decision always interrupts (QEMU's signalled_used not yet valid);
    // after that the parked used_event suppresses.
    r.dev.should_interrupt(&r.mem);
    r.dev.pop(&r.mem).unwrap();
    r.dev.push(&r.mem, ids[2].into(), 8);
    assert!(!r.dev.should_interrupt(&r.mem), "disabled: no interrupt");

    assert!(r.q.enable_interrupts(), "three entries already pending");
    assert_eq!(r.dev.used_event(&r.mem), 0, "interrupt me when used.idx passes 0");
    for _ in 0..3 {
        r.q.pop_used().unwrap().unwrap();
    }
    assert_eq!(r.dev.used_event(&r.mem), 3, "kept at the next index while enabled");
    assert!(!r.q.enable_interrupts());
    // Now a new completion interrupts.
    let id = r.q.add(&[wr(0x1000, 8)]).unwrap();
    r.q.publish();
    r.dev.pop(&r.mem).unwrap();
    r.dev.push(&r.mem, id.into(), 8);
    assert!(r.dev.should_interrupt(&r.mem));
}
