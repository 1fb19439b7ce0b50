//! virtio-blk (`1af4:1042`) bound to the `virtio` driver crate and
//! registered with the block layer as `vda`, `vdb`, ….
//!
//! The block layer hands the driver whole requests; each becomes one
//! virtio-blk request (header, the bio pages as data descriptors, status
//! byte), and with indirect descriptors one ring slot, so as many requests
//! can be in flight as the queue has entries.
//!
//! A configuration-change interrupt (its own MSI-X vector, or the ISR's
//! config bit) means the disk was resized (QEMU's `block_resize`): the
//! tasklet re-reads the capacity and the disk grows or shrinks.
//!
//! Top and bottom half: the hard handler (a queue vector under MSI-X, or
//! INTx after reading the ISR to de-assert the line) only acknowledges and
//! schedules the device's tasklet. The tasklet, in softirq context right
//! after, collects the completions from the used ring and ends the
//! requests — which runs the submitters' completions (waking sleepers,
//! freeing bookkeeping) and dispatches what the queue holds next: work that
//! allocates and may take a while, so not in the hard handler.

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use ::block::bio::Op;
use ::block::request::{Limits, Request};
use hal::dma::DmaRegion;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;
use spin::Once;
use virtio::blk::{BlkConfig, BlkError, BlkOp, BlkRequest, Segment, VirtioBlk};

use super::virtio::{self as vpci, VectorUse};
use super::Bound;
use crate::block::{self, BlockDevice, Disk, IoError, Page};
use crate::bus::pci::driver::{self, Instance, PciDriver};
use crate::bus::pci::irq::IrqKind;
use crate::bus::pci::{PciDevice, PciError};
use crate::dma::KernelDma;
use crate::irq::tasklet::Tasklet;
use crate::mm::ioremap::IoMem;
use crate::sync::SpinLockIrq;

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x1af4, 0x1042), PciDeviceId::device(0x1af4, 0x1001)];
static DRIVER: PciDriver = PciDriver { name: "virtio-blk", id_table: IDS, probe, remove: Some(remove) };
/// How long `remove` lets the device finish the requests it holds.
const DRAIN_TICKS: u64 = 2 * crate::time::HZ;
const QUEUE_SIZE: u16 = 256;

type InFlight = Option<(Arc<Disk>, Request<Page>)>;

pub struct VirtioBlkDev {
    blk: SpinLockIrq<VirtioBlk<IoMem, KernelDma>>,
    /// The request behind each tag the device holds.
    slots: SpinLockIrq<Vec<InFlight>>,
    /// Interrupt kind and vector count.
    irq_layout: (IrqKind, usize),
    /// The disk it serves (weak: the disk owns the driver).
    disk: Once<Weak<Disk>>,
    /// Ends finished requests after the hard handler acknowledged.
    bottom_half: Once<Arc<Tasklet>>,
    /// A configuration-change interrupt came (the disk was resized).
    config_changed: AtomicBool,
}

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (transport, claim) = vpci::transport(pci, "virtio-blk")?;
    let dev_slot: Arc<Once<Weak<VirtioBlkDev>>> = Arc::new(Once::new());
    let weak_slot = dev_slot.clone();
    let irqs = vpci::alloc_irqs(pci, 1, "virtio-blk", move |i| {
        weak_slot.get().and_then(|w| w.upgrade()).map_or(IrqReturn::NotMine, |d| d.interrupt(i))
    })?;
    let vectors = vpci::vectors(&irqs, 1);
    let blk = VirtioBlk::new(transport, KernelDma, BlkConfig { queue_size: QUEUE_SIZE }, &vectors)
        .map_err(|e| PciError::Map(alloc::format!("virtio-blk: {e}")))?;
    let depth = blk.max_in_flight();
    let dev = Arc::new(VirtioBlkDev {
        blk: SpinLockIrq::new(blk),
        slots: SpinLockIrq::new((0..depth).map(|_| None).collect()),
        irq_layout: (irqs.kind(), irqs.count()),
        disk: Once::new(),
        bottom_half: Once::new(),
        config_changed: AtomicBool::new(false),
    });
    let weak = Arc::downgrade(&dev);
    let tasklet = Tasklet::new(move || {
        if let Some(dev) = weak.upgrade() {
            dev.complete();
        }
    })
    .map_err(|_| PciError::Irq("no tasklet slot left".into()))?;
    dev.bottom_half.call_once(|| tasklet);
    dev_slot.call_once(|| Arc::downgrade(&dev));
    let name = block::free_name("vd");
    let (sectors, flush) = {
        let b = dev.blk.lock();
        (b.capacity(), b.flush_supported())
    };
    log::info!(
        "{name}: virtio-blk {} sectors ({} MiB), queue depth {depth}, {:?} interrupts{}",
        sectors,
        sectors / 2048,
        irqs.kind(),
        if flush { ", write cache (flush)" } else { "" }
    );
    let disk = block::add_disk(name, dev.clone());
    dev.disk.call_once(|| Arc::downgrade(&disk));
    let described: Arc<dyn vpci::Describe> = dev.clone();
    vpci::announce(Arc::downgrade(&described));
    Ok(alloc::boxed::Box::new(Bound { dev, irqs, bar: claim }))
}

/// Unbinding: the disk goes away first (cached data written back, new I/O
/// refused), the device gets a moment to finish what it holds, then it is
/// reset and anything left ends with an error — nobody waits forever.
fn remove(_pci: &Arc<PciDevice>, instance: &Instance) {
    let Some(bound) = instance.downcast_ref::<Bound<Arc<VirtioBlkDev>>>() else { return };
    let dev = &bound.dev;
    let Some(disk) = dev.disk.get().and_then(Weak::upgrade) else { return };
    block::del_disk(&disk);
    let deadline = crate::time::jiffies() + DRAIN_TICKS;
    while dev.slots.lock().iter().any(Option::is_some) && crate::time::jiffies() < deadline {
        crate::sched::sleep_ticks(1);
    }
    if let Err(e) = dev.blk.lock().transport().reset() {
        log::warn!("{}: reset at removal: {e}", disk.name);
    }
    let orphans: Vec<(Arc<Disk>, Request<Page>)> = dev.slots.lock().iter_mut().filter_map(Option::take).collect();
    for (d, rq) in orphans {
        d.end_request(rq, Err(IoError::Gone));
    }
    if let Some(t) = dev.bottom_half.get() {
        t.kill();
    }
    // The disk owns the driver: once its last user lets go, only the
    // binding holds it, and dropping that resets the device while its BAR
    // is still ours.
    let name = disk.name.clone();
    drop(disk);
    let deadline = crate::time::jiffies() + DRAIN_TICKS;
    while Arc::strong_count(dev) > 1 && crate::time::jiffies() < deadline {
        crate::sched::sleep_ticks(1);
    }
    if Arc::strong_count(dev) > 1 {
        log::warn!("{name}: still referenced {} times after removal", Arc::strong_count(dev) - 1);
    }
}

fn io_error(e: BlkError) -> IoError {
    match e {
        BlkError::Device(1) => IoError::Device("I/O error"),
        BlkError::Device(2) => IoError::Unsupported("the device does not support the request"),
        BlkError::Device(_) => IoError::Device("returned an unknown status"),
        BlkError::FlushUnsupported => IoError::Unsupported("no write cache to flush"),
        BlkError::ReadOnly => IoError::Device("is read-only"),
        _ => IoError::Device("rejected the request"),
    }
}

impl VirtioBlkDev {
    /// The top half: acknowledge, then let the tasklet do the rest.
    fn interrupt(&self, vector: usize) -> IrqReturn {
        let (kind, count) = self.irq_layout;
        let used = vpci::vector_use(kind, count, 1, vector);
        {
            let mut blk = self.blk.lock();
            match used {
                VectorUse::Shared => {
                    let isr = blk.handle_intx();
                    if !isr.is_mine() {
                        return IrqReturn::NotMine;
                    }
                    if isr.config {
                        self.config_changed.store(true, Ordering::Release);
                    }
                }
                VectorUse::Config => {
                    blk.count_config_interrupt();
                    self.config_changed.store(true, Ordering::Release);
                }
                VectorUse::Queue(_) => blk.count_interrupt(),
            }
        }
        if let Some(t) = self.bottom_half.get() {
            t.schedule();
        }
        IrqReturn::Handled
    }

    /// The bottom half (tasklet): pick up a resize, then end every request
    /// the device finished.
    fn complete(&self) {
        if self.config_changed.swap(false, Ordering::AcqRel) {
            let capacity = self.blk.lock().refresh_capacity();
            match (capacity, self.disk.get().and_then(Weak::upgrade)) {
                (Ok(sectors), Some(disk)) => disk.resize(sectors),
                (Err(e), _) => log::warn!("virtio-blk: reading the new capacity: {e}"),
                _ => {}
            }
        }
        let mut finished = Vec::new();
        self.blk.lock().poll(|tag, result| finished.push((tag, result)));
        self.end(finished);
    }

    /// Ends the requests behind finished tags (grouped per disk).
    fn end(&self, finished: Vec<(u16, Result<(), BlkError>)>) {
        if finished.is_empty() {
            return;
        }
        let mut done = Vec::with_capacity(finished.len());
        let mut disk = None;
        {
            let mut slots = self.slots.lock();
            for (tag, result) in finished {
                match slots.get_mut(usize::from(tag)).and_then(Option::take) {
                    Some((d, rq)) => {
                        disk.get_or_insert(d);
                        done.push((rq, result.map_err(io_error)));
                    }
                    None => log::error!("virtio-blk: completion for unknown tag {tag}"),
                }
            }
        }
        if let Some(disk) = disk {
            disk.end_requests(done);
        }
    }
}

impl vpci::Describe for VirtioBlkDev {
    fn report(&self) -> vpci::Report {
        let blk = self.blk.lock();
        let name = self.disk.get().and_then(Weak::upgrade).map_or(String::from("(removed)"), |d| d.name.clone());
        vpci::Report {
            name: alloc::format!("virtio-blk {name}"),
            device_id: virtio::regs::DEVICE_ID_BLK,
            features: blk.features(),
            interrupts: self.irq_layout.0,
            vectors: self.irq_layout.1,
            queues: alloc::vec![("requestq", blk.queue_stats())],
        }
    }
}

impl BlockDevice for VirtioBlkDev {
    fn driver_name(&self) -> &'static str {
        "virtio-blk"
    }
    fn capacity(&self) -> u64 {
        self.blk.lock().capacity()
    }
    fn depth(&self) -> usize {
        self.blk.lock().max_in_flight()
    }
    fn limits(&self) -> Limits {
        let segments = self.blk.lock().max_segments().max(1);
        Limits { max_sectors: (segments * 8) as u64, max_segments: segments }
    }
    fn has_write_cache(&self) -> bool {
        self.blk.lock().flush_supported()
    }

    fn start(&self, disk: &Arc<Disk>, rq: Request<Page>) -> Result<(), Request<Page>> {
        let segments: Vec<Segment> = rq
            .segments()
            .map(|s| Segment {
                addr: s.page.bus_addr().checked_add(s.offset as u64).unwrap_or_default(),
                len: s.len as u32,
            })
            .collect();
        let op = match rq.op {
            Op::Read => BlkOp::Read,
            Op::Write => BlkOp::Write,
            Op::Flush => BlkOp::Flush,
        };
        let mut slots = self.slots.lock();
        let submitted = self.blk.lock().submit(&BlkRequest { op, sector: rq.sector, segments: &segments });
        match submitted {
            Ok(tag) => {
                slots[usize::from(tag)] = Some((disk.clone(), rq));
                Ok(())
            }
            Err(BlkError::QueueFull) => Err(rq),
            Err(e) => {
                drop(slots);
                disk.end_request(rq, Err(io_error(e)));
                Ok(())
            }
        }
    }

    fn kick(&self) {
        self.blk.lock().kick();
    }

    fn stats(&self) -> Vec<(&'static str, u64)> {
        let s = self.blk.lock().stats();
        alloc::vec![
            ("interrupts", s.interrupts),
            ("not_mine", s.not_mine),
            ("notifies", s.notifies),
            ("notifies_suppressed", s.notifies_suppressed),
            ("register_reads", s.register_reads),
            ("register_writes", s.register_writes),
        ]
    }
}
