//! virtio-blk (`1af4:1042`) bound to the `virtio` driver crate and
//! registered with the block layer as `vda`, `vdb`, ….
//!
//! The block layer hands the driver whole requests; each becomes one
//! virtio-blk request (header, the bio pages as data descriptors, status
//! byte), and with indirect descriptors one ring slot, so as many requests
//! can be in flight as the queue has entries. The interrupt handler (a
//! queue vector under MSI-X, or INTx after reading the ISR) collects the
//! completions and ends the requests, which wakes the submitters and
//! dispatches what the queue holds next.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use ::block::bio::Op;
use ::block::request::{Limits, Request};
use hal::dma::DmaRegion;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;
use spin::Once;
use virtio::blk::{BlkConfig, BlkError, BlkOp, BlkRequest, Segment, VirtioBlk};

use super::virtio::{self as vpci, VectorUse};
use crate::block::{self, BlockDevice, Disk, IoError, Page};
use crate::bus::pci::driver::{self, Instance, PciDriver};
use crate::bus::pci::irq::{IrqKind, PciIrqs};
use crate::bus::pci::{PciDevice, PciError};
use crate::dma::KernelDma;
use crate::mm::ioremap::IoMem;
use crate::resource::Claim;
use crate::sync::{SpinLock, SpinLockIrq};

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x1af4, 0x1042), PciDeviceId::device(0x1af4, 0x1001)];
static DRIVER: PciDriver = PciDriver { name: "virtio-blk", id_table: IDS, probe, remove: None };
static DISKS_MADE: AtomicUsize = AtomicUsize::new(0);
const QUEUE_SIZE: u16 = 256;

type InFlight = Option<(Arc<Disk>, Request<Page>)>;

pub struct VirtioBlkDev {
    blk: SpinLockIrq<VirtioBlk<IoMem, KernelDma>>,
    /// The request behind each tag the device holds.
    slots: SpinLockIrq<Vec<InFlight>>,
    irqs: SpinLock<Option<PciIrqs>>,
    irq_layout: Once<(IrqKind, usize)>,
    _bar: Claim,
}

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (transport, claim) = vpci::transport(pci, "virtio-blk")?;
    let dev_slot: Arc<Once<alloc::sync::Weak<VirtioBlkDev>>> = Arc::new(Once::new());
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
        irqs: SpinLock::new(None),
        irq_layout: Once::new(),
        _bar: claim,
    });
    dev.irq_layout.call_once(|| (irqs.kind(), irqs.count()));
    *dev.irqs.lock() = Some(irqs);
    dev_slot.call_once(|| Arc::downgrade(&dev));
    let name = alloc::format!("vd{}", (b'a' + DISKS_MADE.fetch_add(1, Ordering::Relaxed) as u8) as char);
    let (sectors, flush) = {
        let b = dev.blk.lock();
        (b.capacity(), b.flush_supported())
    };
    log::info!(
        "{name}: virtio-blk {} sectors ({} MiB), queue depth {depth}, {:?} interrupts{}",
        sectors,
        sectors / 2048,
        dev.irq_layout.get().map(|l| l.0),
        if flush { ", write cache (flush)" } else { "" }
    );
    block::add_disk(name, dev.clone());
    Ok(alloc::boxed::Box::new(dev))
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
    fn interrupt(&self, vector: usize) -> IrqReturn {
        let Some(&(kind, count)) = self.irq_layout.get() else { return IrqReturn::NotMine };
        let used = vpci::vector_use(kind, count, 1, vector);
        let mut blk = self.blk.lock();
        if used == VectorUse::Shared {
            if !blk.handle_intx().is_mine() {
                return IrqReturn::NotMine;
            }
        } else {
            blk.count_interrupt();
        }
        let mut finished = Vec::new();
        blk.poll(|tag, result| finished.push((tag, result)));
        drop(blk);
        self.end(finished);
        IrqReturn::Handled
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
