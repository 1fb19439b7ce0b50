//! virtio-blk against the model: bring-up, data round trips, checks made
//! before the device sees anything, device errors, deep queues with and
//! without indirect descriptors, flush, teardown.

mod model;

use std::sync::Arc;

use hal::dma::sim::{FakeDma, FakeRegion};
use hal::dma::{DmaAllocator, DmaRegion};
use model::blk::*;
use model::*;
use virtio::blk::{BlkConfig, BlkError, BlkOp, BlkRequest, Segment, VirtioBlk, MAX_SEGMENTS};
use virtio::regs::features::{EVENT_IDX, INDIRECT_DESC, VERSION_1};
use virtio::{Error, Vectors};

type Disk<'a> = VirtioBlk<&'a Window, Shared>;

/// One fake DMA allocator shared by the driver (queue, slots, tables) and
/// the test (data buffers), so the device reaches both in one memory.
#[derive(Clone)]
struct Shared(Arc<FakeDma>);

impl DmaAllocator for Shared {
    type Region = FakeRegion;
    fn alloc_coherent(&self, len: usize, addr_limit: u64) -> Result<FakeRegion, hal::dma::DmaError> {
        self.0.alloc_coherent(len, addr_limit)
    }
}

const SECTORS: u64 = 256;

fn rig(features: u64, queue: u16, seg_max: u32) -> (Shared, Window) {
    let dma = dma(1024);
    let w = Window::new(model(dma.memory(), features, SECTORS, queue, seg_max), BAR_SIZE);
    (Shared(Arc::new(dma)), w)
}

fn probe(w: &Window, dma: Shared, queue_size: u16) -> Disk<'_> {
    VirtioBlk::new(transport(w), dma, BlkConfig { queue_size }, &Vectors::intx()).expect("the model is a virtio-blk")
}

fn seg(r: &FakeRegion, offset: usize, len: u32) -> Segment {
    Segment { addr: hal::dma::BusAddr(r.bus_addr().0 + offset as u64), len }
}

fn req(op: BlkOp, sector: u64, segments: &[Segment]) -> BlkRequest<'_> {
    BlkRequest { op, sector, segments }
}

/// Submits, kicks, polls one request to completion.
fn complete(disk: &mut Disk<'_>, req: &BlkRequest) -> Result<(), BlkError> {
    let tag = disk.submit(req)?;
    disk.kick();
    let mut result = None;
    assert_eq!(
        disk.poll(|t, r| {
            assert_eq!(t, tag);
            result = Some(r);
        }),
        1
    );
    result.unwrap()
}

#[test]
fn bring_up_reads_the_configuration_and_sets_driver_ok() {
    let (dma, w) = rig(QEMU_FEATURES, 128, 126);
    let disk = probe(&w, dma.clone(), 128);
    assert_eq!(disk.capacity(), SECTORS);
    assert!(disk.flush_supported());
    assert!(!disk.read_only());
    assert_eq!(disk.features(), VERSION_1 | EVENT_IDX | INDIRECT_DESC | F_SEG_MAX | F_BLK_SIZE | F_FLUSH);
    assert_eq!(disk.max_segments(), MAX_SEGMENTS, "seg_max 126 is above our 64");
    assert_eq!(disk.max_in_flight(), 128, "indirect: one ring descriptor per request");
    assert_eq!(disk.in_flight(), 0);
    w.with_model(|m| {
        assert_eq!(m.status, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert!(m.queues[0].enabled);
    });
    assert_clean(&w);
}

#[test]
fn writes_and_reads_round_trip_through_several_segments() {
    for features in [QEMU_FEATURES, QEMU_FEATURES & !F_INDIRECT_DESC] {
        let (dma, w) = rig(features, 128, 126);
        let mut disk = probe(&w, dma.clone(), 128);
        let bufs = dma.clone();
        let out = bufs.alloc_coherent(4 * 4096, u64::MAX).unwrap();
        let data: Vec<u8> = (0..2048).map(|i| (i * 7 + 3) as u8).collect();
        out.write(0, &data[..512]).unwrap();
        out.write(4096, &data[512..1536]).unwrap();
        out.write(8192, &data[1536..]).unwrap();
        let segs = [seg(&out, 0, 512), seg(&out, 4096, 1024), seg(&out, 8192, 512)];
        complete(&mut disk, &BlkRequest { op: BlkOp::Write, sector: 10, segments: &segs }).unwrap();
        w.with_model(|m| assert_eq!(&m.blk().disk[10 * 512..14 * 512], &data[..]));

        let back = bufs.alloc_coherent(4096, u64::MAX).unwrap();
        let segs = [seg(&back, 0, 1536), seg(&back, 2048, 512)];
        complete(&mut disk, &BlkRequest { op: BlkOp::Read, sector: 10, segments: &segs }).unwrap();
        let mut got = vec![0; 2048];
        back.read(0, &mut got[..1536]).unwrap();
        back.read(2048, &mut got[1536..]).unwrap();
        assert_eq!(got, data);
        w.with_model(|m| {
            let seen = &m.blk().seen;
            assert_eq!(seen.len(), 2);
            assert_eq!((seen[0].kind, seen[0].sector, seen[0].data_len, seen[0].segments), (T_OUT, 10, 2048, 3));
            assert_eq!((seen[1].kind, seen[1].sector, seen[1].data_len, seen[1].segments), (T_IN, 10, 2048, 2));
            let indirect = features & F_INDIRECT_DESC != 0;
            assert_eq!(seen[0].indirect, indirect);
            assert_eq!(seen[0].ring_descs, if indirect { 1 } else { 5 }, "header + 3 segments + status");
        });
        let s = disk.stats();
        assert_eq!((s.requests, s.reads, s.writes, s.errors), (2, 1, 1, 0));
        assert_clean(&w);
    }
}

#[test]
fn bad_requests_are_refused_before_the_device_sees_anything() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    assert_eq!(disk.max_segments(), 14, "limited by the 16-entry queue (chain ≤ queue size)");
    let bufs = dma.clone();
    let r = bufs.alloc_coherent(64 * 4096, u64::MAX).unwrap();
    let one = [seg(&r, 0, 512)];
    assert_eq!(
        disk.submit(&req(BlkOp::Read, SECTORS, &one)),
        Err(BlkError::OutOfRange { sector: SECTORS, sectors: 1, capacity: SECTORS })
    );
    let eight = [seg(&r, 0, 4096)];
    assert!(matches!(disk.submit(&req(BlkOp::Write, SECTORS - 7, &eight)), Err(BlkError::OutOfRange { .. })));
    assert!(matches!(disk.submit(&req(BlkOp::Read, u64::MAX, &one)), Err(BlkError::OutOfRange { .. })), "no overflow");
    assert_eq!(disk.submit(&req(BlkOp::Read, 0, &[seg(&r, 0, 100)])), Err(BlkError::Unaligned));
    assert_eq!(disk.submit(&req(BlkOp::Write, 0, &[seg(&r, 0, 512), seg(&r, 512, 0)])), Err(BlkError::Unaligned));
    let many: Vec<Segment> = (0..15).map(|i| seg(&r, i * 512, 512)).collect();
    assert_eq!(disk.submit(&req(BlkOp::Read, 0, &many)), Err(BlkError::TooManySegments));
    assert!(matches!(disk.submit(&req(BlkOp::Read, 0, &[])), Err(BlkError::BadRequest(_))));
    assert!(matches!(disk.submit(&req(BlkOp::Flush, 0, &one)), Err(BlkError::BadRequest(_))));
    assert!(matches!(disk.submit(&req(BlkOp::GetId, 0, &[])), Err(BlkError::BadRequest(_))));
    disk.kick();
    w.with_model(|m| {
        assert!(m.blk().seen.is_empty(), "the device saw nothing");
        assert!(m.notifies.is_empty(), "nothing to ring for");
    });
    assert_eq!(disk.in_flight(), 0);
    // 14 segments is fine.
    complete(&mut disk, &req(BlkOp::Read, 0, &many[..14])).unwrap();
    assert_clean(&w);
}

#[test]
fn read_only_disks_and_flushless_disks_refuse_those_requests() {
    let (dma, w) = rig(QEMU_FEATURES & !F_FLUSH | F_RO, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    assert!(disk.read_only());
    assert!(!disk.flush_supported());
    let bufs = dma.clone();
    let r = bufs.alloc_coherent(512, u64::MAX).unwrap();
    let segs = [seg(&r, 0, 512)];
    assert_eq!(disk.submit(&BlkRequest { op: BlkOp::Write, sector: 0, segments: &segs }), Err(BlkError::ReadOnly));
    assert_eq!(
        disk.submit(&BlkRequest { op: BlkOp::Flush, sector: 0, segments: &[] }),
        Err(BlkError::FlushUnsupported)
    );
    complete(&mut disk, &BlkRequest { op: BlkOp::Read, sector: 0, segments: &segs }).unwrap();
    assert_clean(&w);
}

#[test]
fn device_errors_are_reported_per_request() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    let bufs = dma.clone();
    let r = bufs.alloc_coherent(4096, u64::MAX).unwrap();
    w.with_model(|m| {
        m.blk().ioerr_sectors.insert(33);
    });
    let segs = [seg(&r, 0, 1024)];
    let read = |sector| req(BlkOp::Read, sector, &segs);
    assert_eq!(complete(&mut disk, &read(32)), Err(BlkError::Device(1)), "sectors 32..34 include the bad 33");
    assert_eq!(complete(&mut disk, &read(30)), Ok(()), "30..32 are fine");
    w.with_model(|m| m.blk().unsupported = true);
    assert_eq!(complete(&mut disk, &read(0)), Err(BlkError::Device(2)));
    w.with_model(|m| {
        m.blk().unsupported = false;
        m.blk().skip_status = true;
    });
    assert_eq!(complete(&mut disk, &read(0)), Err(BlkError::Device(0xff)), "no status written: caught by the poison");
    assert_eq!(disk.stats().errors, 3);
    assert_eq!(BlkError::Device(1).to_string(), "virtio-blk: device reported an I/O error");
    assert_clean(&w);
}

#[test]
fn with_indirect_the_whole_queue_can_be_in_flight() {
    let (dma, w) = rig(QEMU_FEATURES, 32, 126);
    let mut disk = probe(&w, dma.clone(), 32);
    w.with_model(|m| m.blk().hold = true);
    let bufs = dma.clone();
    let r = bufs.alloc_coherent(64 * 4096, u64::MAX).unwrap();
    // Requests of 8 segments each: 10 ring descriptors without indirect.
    let mut tags = Vec::new();
    for i in 0..32 {
        let segs: Vec<Segment> = (0..8).map(|s| seg(&r, (i * 8 + s) * 512, 512)).collect();
        tags.push(disk.submit(&BlkRequest { op: BlkOp::Read, sector: i as u64, segments: &segs }).unwrap());
    }
    assert_eq!(disk.in_flight(), 32);
    let mut sorted = tags.clone();
    sorted.sort();
    assert_eq!(sorted, (0..32).collect::<Vec<u16>>(), "tags are below max_in_flight and distinct");
    let segs = [seg(&r, 0, 512)];
    assert_eq!(disk.submit(&BlkRequest { op: BlkOp::Read, sector: 0, segments: &segs }), Err(BlkError::QueueFull));
    disk.kick();
    disk.kick();
    w.with_model(|m| {
        assert_eq!(m.notifies, [0], "32 requests, one doorbell");
        run(m);
    });
    let mut done = Vec::new();
    assert_eq!(disk.poll(|t, res| done.push((t, res))), 32);
    assert!(done.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(disk.in_flight(), 0);
    // Request 5 read sectors 5..13: its fourth segment holds sector 8.
    let mut got = vec![0; 512];
    r.read((5 * 8 + 3) * 512, &mut got).unwrap();
    w.with_model(|m| assert_eq!(&got[..], &m.blk().disk[8 * 512..9 * 512]));
    assert_clean(&w);
}

#[test]
fn without_indirect_requests_share_the_ring_descriptors() {
    let (dma, w) = rig(QEMU_FEATURES & !F_INDIRECT_DESC, 32, 126);
    let mut disk = probe(&w, dma.clone(), 32);
    assert_eq!(disk.max_in_flight(), 16);
    w.with_model(|m| m.blk().hold = true);
    let bufs = dma.clone();
    let r = bufs.alloc_coherent(16 * 4096, u64::MAX).unwrap();
    // Three 8-segment requests take 30 of 32 descriptors; a fourth does not fit.
    for i in 0..3 {
        let segs: Vec<Segment> = (0..8).map(|s| seg(&r, (i * 8 + s) * 512, 512)).collect();
        disk.submit(&BlkRequest { op: BlkOp::Read, sector: 0, segments: &segs }).unwrap();
    }
    let segs: Vec<Segment> = (0..8).map(|s| seg(&r, s * 512, 512)).collect();
    assert_eq!(disk.submit(&BlkRequest { op: BlkOp::Read, sector: 0, segments: &segs }), Err(BlkError::QueueFull));
    // ... but a flush (2 descriptors) does.
    disk.submit(&BlkRequest { op: BlkOp::Flush, sector: 0, segments: &[] }).unwrap();
    disk.kick();
    w.with_model(run);
    assert_eq!(disk.poll(|_, r| assert_eq!(r, Ok(()))), 4);
    disk.submit(&BlkRequest { op: BlkOp::Read, sector: 0, segments: &segs }).unwrap();
    assert_clean(&w);
}

#[test]
fn flush_and_get_id() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    complete(&mut disk, &BlkRequest { op: BlkOp::Flush, sector: 99, segments: &[] }).unwrap();
    w.with_model(|m| {
        assert_eq!(m.blk().flushes, 1);
        assert_eq!(m.blk().seen[0].sector, 0, "sector is 0 for non-data requests");
    });
    let bufs = dma.clone();
    let r = bufs.alloc_coherent(64, u64::MAX).unwrap();
    complete(&mut disk, &BlkRequest { op: BlkOp::GetId, sector: 0, segments: &[seg(&r, 0, 20)] }).unwrap();
    let mut id = [0; 20];
    r.read(0, &mut id).unwrap();
    assert_eq!(&id, SERIAL);
    assert_eq!(disk.stats().flushes, 1);
    assert_clean(&w);
}

#[test]
fn interrupts_intx_and_polling_switch() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    disk.submit(&BlkRequest { op: BlkOp::Flush, sector: 0, segments: &[] }).unwrap();
    disk.kick();
    assert!(w.with_model(|m| m.line));
    assert!(disk.handle_intx().queue);
    assert!(!w.with_model(|m| m.line), "ISR read de-asserted INTx");
    assert!(!disk.handle_intx().is_mine());
    assert_eq!(disk.poll(|_, _| {}), 1);
    disk.disable_interrupts();
    disk.submit(&BlkRequest { op: BlkOp::Flush, sector: 0, segments: &[] }).unwrap();
    disk.kick();
    assert!(!w.with_model(|m| m.line), "polling: no interrupt");
    assert!(disk.enable_interrupts(), "a completion is already waiting");
    assert_eq!(disk.poll(|_, _| {}), 1);
    assert!(!disk.enable_interrupts());
    let s = disk.stats();
    assert_eq!((s.interrupts, s.not_mine, s.notifies), (1, 1, 2));
    assert_clean(&w);
}

#[test]
fn a_bad_used_entry_completes_nothing_and_is_counted() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    w.with_model(|m| {
        let mem = m.memory.clone();
        m.ring(0).push(&mem, 3, 1);
    });
    assert_eq!(disk.poll(|_, _| panic!("nothing was submitted")), 0);
    assert_eq!(disk.stats().device_errors, 1);
    complete(&mut disk, &BlkRequest { op: BlkOp::Flush, sector: 0, segments: &[] }).unwrap();
}

#[test]
fn a_queue_too_small_for_a_request_is_refused_at_init() {
    let (dma, w) = rig(QEMU_FEATURES, 2, 126);
    let e = VirtioBlk::new(transport(&w), dma.clone(), BlkConfig::default(), &Vectors::intx()).err();
    assert!(matches!(e, Some(Error::Unsupported(_))), "{e:?}");
    assert_ne!(w.with_model(|m| m.status) & FAILED, 0);
}

#[test]
fn dropping_the_driver_resets_the_device() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    w.with_model(|m| m.blk().hold = true);
    disk.submit(&BlkRequest { op: BlkOp::Flush, sector: 0, segments: &[] }).unwrap();
    disk.kick();
    drop(disk);
    w.with_model(|m| {
        assert_eq!(m.status, 0);
        assert!(!m.queues[0].enabled, "the device stopped before the queue memory was freed");
        assert_eq!(m.resets, 2, "negotiate's reset and Drop's");
    });
}

#[test]
fn a_resized_disk_is_seen_after_the_config_change() {
    let (dma, w) = rig(QEMU_FEATURES, 16, 126);
    let mut disk = probe(&w, dma.clone(), 16);
    let r = dma.alloc_coherent(4096, u64::MAX).unwrap();
    let segs = [seg(&r, 0, 512)];
    let past_end = req(BlkOp::Read, SECTORS, &segs);
    assert!(matches!(disk.submit(&past_end), Err(BlkError::OutOfRange { .. })));
    w.with_model(|m| {
        m.blk().disk.resize(2 * SECTORS as usize * 512, 0);
        m.config[0..8].copy_from_slice(&(2 * SECTORS).to_le_bytes());
        m.config_changed();
    });
    let isr = disk.handle_intx();
    assert!(isr.config && !isr.queue, "a configuration change, not a completion: {isr:?}");
    assert_eq!(disk.stats().config_changes, 1);
    assert_eq!(disk.refresh_capacity(), Ok(2 * SECTORS));
    assert_eq!(disk.capacity(), 2 * SECTORS);
    assert_eq!(complete(&mut disk, &past_end), Ok(()), "the new sectors are reachable");
}
