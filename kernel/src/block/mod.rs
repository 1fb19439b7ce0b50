//! The block layer (LDD3 ch. 16): disks, their request queues, and the path
//! of a bio from a submitter to a driver and back.
//!
//! * A **disk** ([`Disk`], Linux's `gendisk`) is a named array of 512-byte
//!   sectors: a whole device with a driver (`vda`, `ram0`) or a partition
//!   (`vda1`), which is only a window on its parent.
//! * A **bio** (`block::bio::Bio`) asks for one transfer: an operation, a
//!   start sector and a list of page segments (scatter-gather). Its pages
//!   are [`Page`]s — coherent DMA memory, so a DMA driver can point the
//!   device straight at them and the RAM disk can copy into them.
//! * The disk's **request queue** (`block::queue::RequestQueue`) merges a
//!   bio with an adjacent queued one, lets the I/O scheduler (`noop` or
//!   `deadline`, per disk) choose the order, and hands at most the driver's
//!   queue depth of requests to it at once.
//! * The **driver** ([`BlockDevice`]) starts a request and, when the
//!   device says it is done (usually in an interrupt handler), ends it with
//!   [`Disk::end_request`]: every bio in it is completed (its callback
//!   runs), the latency is recorded and the next requests are dispatched.
//!
//! Waiting is the submitter's business: [`io`] sleeps on a completion;
//! the benchmark keeps many bios in flight with callbacks instead.

pub mod bcache;
pub mod bench;
pub mod io;
mod ktests;
pub mod partitions;
pub mod ramdisk;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use ::block::bio::{Bio, BioError};
use ::block::queue::{QueueStats, RequestQueue};
use ::block::request::{Limits, Request};

use crate::dma::DmaCoherent;
use crate::sync::{SpinLock, SpinLockIrq};

/// A page of a bio's data: coherent DMA memory shared by the submitter
/// (which keeps a reference to read the data back) and the driver.
pub type Page = Arc<DmaCoherent>;

/// Why an I/O failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoError {
    /// The bio itself is wrong (out of range, unaligned, empty): nothing was sent.
    Invalid(BioError),
    /// The device answered with an error status.
    Device(&'static str),
    /// The disk cannot do this (a flush on a disk without a write cache).
    Unsupported(&'static str),
    /// No memory for the transfer's pages.
    NoMemory,
    /// The device did not answer in time.
    Timeout,
    /// The disk was removed (its driver unbound).
    Gone,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::Invalid(e) => write!(f, "{e}"),
            IoError::Device(what) => write!(f, "device {what}"),
            IoError::Unsupported(what) => write!(f, "unsupported: {what}"),
            IoError::NoMemory => write!(f, "out of memory for the transfer"),
            IoError::Timeout => write!(f, "timed out waiting for the device"),
            IoError::Gone => write!(f, "the disk was removed"),
        }
    }
}

/// Runs when a bio completes (possibly in interrupt context: keep it short).
pub type EndIo = Box<dyn FnOnce(Result<(), IoError>) + Send>;

/// What a block device driver provides.
pub trait BlockDevice: Send + Sync {
    /// The driver's name for `lsblk`.
    fn driver_name(&self) -> &'static str;
    /// Size in 512-byte sectors.
    fn capacity(&self) -> u64;
    /// Requests the device can have in flight at once (the queue depth).
    fn depth(&self) -> usize;
    /// Largest request the driver accepts.
    fn limits(&self) -> Limits;
    /// The scheduler a new disk starts with.
    fn default_scheduler(&self) -> &'static str {
        "deadline"
    }
    /// Whether the device has a volatile write cache that `Flush` empties.
    fn has_write_cache(&self) -> bool;
    /// Starts `rq`. The driver ends it with [`Disk::end_request`] — later
    /// from its interrupt handler, or before returning (the RAM disk). On
    /// a full device it gives the request back, untouched.
    fn start(&self, disk: &Arc<Disk>, rq: Request<Page>) -> Result<(), Request<Page>>;
    /// Tells the device about everything started since the last kick (one
    /// doorbell for a batch).
    fn kick(&self) {}
    /// Driver-specific counters for `blkstat`.
    fn stats(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// A whole disk's queue and driver.
pub struct Queue {
    pub driver: Arc<dyn BlockDevice>,
    rq: SpinLockIrq<RequestQueue<Page>>,
    /// Requests the driver gave back (device full), retried first.
    requeued: SpinLockIrq<Vec<Request<Page>>>,
    end_io: SpinLockIrq<BTreeMap<u64, EndIo>>,
    dispatching: AtomicBool,
    rerun: AtomicBool,
    /// Plugs held ([`Disk::plug`]): while any is, nothing is dispatched.
    plugged: AtomicUsize,
    /// Set by [`del_disk`]: new bios fail, queued ones are failed.
    dead: AtomicBool,
}

pub enum Kind {
    Whole(Box<Queue>),
    Partition { parent: Arc<Disk>, start: u64, index: u32 },
}

/// A disk (`gendisk`): a name, a size and either a queue or a parent.
pub struct Disk {
    pub name: String,
    /// Size in sectors; a whole disk's changes when its device is resized.
    sectors: AtomicU64,
    pub kind: Kind,
}

static DISKS: SpinLock<Vec<Arc<Disk>>> = SpinLock::new(Vec::new());
static NEXT_BIO: AtomicU64 = AtomicU64::new(1);

/// Registers a whole disk, scans it for partitions and returns it.
pub fn add_disk(name: String, driver: Arc<dyn BlockDevice>) -> Arc<Disk> {
    let limits = driver.limits();
    let sched = ::block::sched::by_name::<Page>(driver.default_scheduler())
        .unwrap_or_else(|| ::block::sched::by_name::<Page>("noop").expect("noop exists"));
    let queue = RequestQueue::new(driver.capacity(), limits, sched, driver.depth().max(1));
    let disk = Arc::new(Disk {
        name,
        sectors: AtomicU64::new(driver.capacity()),
        kind: Kind::Whole(Box::new(Queue {
            driver,
            rq: SpinLockIrq::new(queue),
            requeued: SpinLockIrq::new(Vec::new()),
            end_io: SpinLockIrq::new(BTreeMap::new()),
            dispatching: AtomicBool::new(false),
            rerun: AtomicBool::new(false),
            plugged: AtomicUsize::new(0),
            dead: AtomicBool::new(false),
        })),
    });
    DISKS.lock().push(disk.clone());
    partitions::scan(&disk);
    disk
}

fn add_partition(parent: &Arc<Disk>, index: u32, start: u64, sectors: u64) {
    let name = if parent.name.ends_with(|c: char| c.is_ascii_digit()) {
        alloc::format!("{}p{index}", parent.name)
    } else {
        alloc::format!("{}{index}", parent.name)
    };
    let disk = Arc::new(Disk {
        name,
        sectors: AtomicU64::new(sectors),
        kind: Kind::Partition { parent: parent.clone(), start, index },
    });
    DISKS.lock().push(disk);
}

/// Removes a whole disk and its partitions (Linux's `del_gendisk`, from a
/// driver's `remove`): the buffer cache writes its dirty blocks back while
/// the device still works, then the disk leaves the registry and every bio
/// submitted from now on, and every request still queued, fails with
/// [`IoError::Gone`]. Requests the device holds are the driver's to end.
pub fn del_disk(disk: &Arc<Disk>) {
    let members: Vec<Arc<Disk>> = all().into_iter().filter(|d| Arc::ptr_eq(&d.whole().0, disk)).collect();
    for d in &members {
        if let Err(e) = bcache::forget(d) {
            log::warn!("{}: dirty cached blocks lost at removal: {e}", d.name);
        }
    }
    DISKS.lock().retain(|d| !members.iter().any(|m| Arc::ptr_eq(d, m)));
    if let Kind::Whole(q) = &disk.kind {
        q.dead.store(true, Ordering::Release);
    }
    disk.run_queue();
    log::info!("{}: removed", disk.name);
}

/// The first of `prefix` + `a`, `b`, … that no disk uses (`vda`, `vdb`, …).
pub fn free_name(prefix: &str) -> String {
    let disks = DISKS.lock();
    (b'a'..=b'z')
        .map(|c| alloc::format!("{prefix}{}", c as char))
        .find(|name| !disks.iter().any(|d| &d.name == name))
        .unwrap_or_else(|| alloc::format!("{prefix}{}", disks.len()))
}

pub fn by_name(name: &str) -> Option<Arc<Disk>> {
    DISKS.lock().iter().find(|d| d.name == name).cloned()
}

pub fn all() -> Vec<Arc<Disk>> {
    DISKS.lock().clone()
}

/// The next bio cookie (unique per boot).
pub fn new_bio_id() -> u64 {
    NEXT_BIO.fetch_add(1, Ordering::Relaxed)
}

impl Disk {
    /// Size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors.load(Ordering::Acquire)
    }

    /// The device was resized (a virtio-blk configuration change): bios
    /// are checked against the new size from now on. Partitions keep
    /// theirs — the table on the disk says where they end.
    pub fn resize(&self, sectors: u64) {
        let Kind::Whole(q) = &self.kind else { return };
        let old = self.sectors.swap(sectors, Ordering::AcqRel);
        q.rq.lock().set_capacity(sectors);
        if old != sectors {
            log::info!("{}: resized from {old} to {sectors} sectors", self.name);
        }
    }
    /// The whole disk's queue (a partition's is its parent's).
    pub fn queue(&self) -> Option<&Queue> {
        match &self.kind {
            Kind::Whole(q) => Some(q),
            Kind::Partition { .. } => None,
        }
    }

    /// The disk holding the data and where this one starts on it.
    pub fn whole(self: &Arc<Self>) -> (Arc<Disk>, u64) {
        match &self.kind {
            Kind::Whole(_) => (self.clone(), 0),
            Kind::Partition { parent, start, .. } => {
                let (disk, offset) = parent.whole();
                (disk, offset + start)
            }
        }
    }

    pub fn driver(self: &Arc<Self>) -> Arc<dyn BlockDevice> {
        let (whole, _) = self.whole();
        match &whole.kind {
            Kind::Whole(q) => q.driver.clone(),
            Kind::Partition { .. } => unreachable!("whole() returns a whole disk"),
        }
    }

    /// Submits `bio`; `end_io` runs when it completes. A bio that is
    /// invalid for this disk completes at once with the error.
    pub fn submit(self: &Arc<Self>, mut bio: Bio<Page>, end_io: EndIo) {
        if let Err(e) = bio.validate(self.sectors()) {
            end_io(Err(IoError::Invalid(e)));
            return;
        }
        let (whole, offset) = self.whole();
        bio.sector += offset;
        let Kind::Whole(q) = &whole.kind else { unreachable!() };
        if q.dead.load(Ordering::Acquire) {
            end_io(Err(IoError::Gone));
            return;
        }
        q.end_io.lock().insert(bio.id, end_io);
        let now = crate::time::uptime_ns();
        if let Err((bio, e)) = q.rq.lock().submit(bio, now) {
            if let Some(end) = q.end_io.lock().remove(&bio.id) {
                end(Err(IoError::Invalid(e)));
            }
            return;
        }
        whole.run_queue();
    }

    /// Plugs the disk (Linux's `blk_start_plug`): until the returned
    /// guard is dropped, submitted bios wait in the queue, where adjacent
    /// ones merge into one request, instead of each going to the driver
    /// as it arrives. Used around a burst of submissions.
    pub fn plug(self: &Arc<Self>) -> Plug {
        let (whole, _) = self.whole();
        if let Some(q) = whole.queue() {
            q.plugged.fetch_add(1, Ordering::AcqRel);
        }
        Plug(whole)
    }

    /// Hands requests to the driver while it has room. Only one context
    /// dispatches at a time; a caller that finds another one busy asks it
    /// to go round once more, so no request is left behind.
    pub fn run_queue(self: &Arc<Self>) {
        let Kind::Whole(q) = &self.kind else { return };
        if q.dead.load(Ordering::Acquire) {
            self.fail_queued(q);
            return;
        }
        if q.plugged.load(Ordering::Acquire) > 0 {
            return; // the last unplug runs the queue
        }
        loop {
            if q.dispatching.swap(true, Ordering::Acquire) {
                q.rerun.store(true, Ordering::Release);
                return;
            }
            let mut started = 0;
            loop {
                let now = crate::time::uptime_ns();
                let next = q.requeued.lock().pop().or_else(|| q.rq.lock().dispatch(now));
                let Some(rq) = next else { break };
                match q.driver.start(self, rq) {
                    Ok(()) => started += 1,
                    Err(rq) => {
                        q.requeued.lock().push(rq);
                        break;
                    }
                }
            }
            if started > 0 {
                q.driver.kick();
            }
            q.dispatching.store(false, Ordering::Release);
            if !q.rerun.swap(false, Ordering::AcqRel) {
                return;
            }
        }
    }

    /// A removed disk: every request not yet on the device ends with
    /// [`IoError::Gone`].
    fn fail_queued(self: &Arc<Self>, q: &Queue) {
        loop {
            let now = crate::time::uptime_ns();
            let next = q.requeued.lock().pop().or_else(|| q.rq.lock().dispatch(now));
            let Some(rq) = next else { return };
            self.end_request(rq, Err(IoError::Gone));
        }
    }

    /// Ends a request the driver started: accounts it, completes each of
    /// its bios, and dispatches more. Callable from interrupt context.
    pub fn end_request(self: &Arc<Self>, rq: Request<Page>, result: Result<(), IoError>) {
        let Kind::Whole(q) = &self.kind else { return };
        q.rq.lock().complete(&rq, crate::time::uptime_ns(), result.is_ok());
        for bio in rq.bios {
            let end = q.end_io.lock().remove(&bio.id);
            if let Some(end) = end {
                end(result.clone());
            }
        }
    }

    /// Like [`end_request`](Self::end_request) for a batch, then one
    /// `run_queue` (what an interrupt handler calls).
    pub fn end_requests(self: &Arc<Self>, done: Vec<(Request<Page>, Result<(), IoError>)>) {
        for (rq, result) in done {
            self.end_request(rq, result);
        }
        self.run_queue();
    }

    pub fn stats(&self) -> Option<QueueStats> {
        self.queue().map(|q| q.rq.lock().stats().clone())
    }

    pub fn in_flight(&self) -> usize {
        self.queue().map_or(0, |q| q.rq.lock().in_flight())
    }

    pub fn scheduler_name(&self) -> &'static str {
        self.queue().map_or("-", |q| q.rq.lock().scheduler_name())
    }

    /// Switches the I/O scheduler (`blk sched <dev> <name>`).
    pub fn set_scheduler(&self, name: &str) -> Result<(), String> {
        let q = self.queue().ok_or("a partition uses its disk's scheduler")?;
        let sched = ::block::sched::by_name::<Page>(name)
            .ok_or_else(|| alloc::format!("no scheduler '{name}' (have: {})", ::block::sched::NAMES.join(" ")))?;
        q.rq.lock().set_scheduler(sched).map_err(|e| alloc::format!("{e:?}"))
    }

    pub fn partition_info(&self) -> Option<(&str, u64, u32)> {
        match &self.kind {
            Kind::Partition { parent, start, index } => Some((&parent.name, *start, *index)),
            Kind::Whole(_) => None,
        }
    }
}

/// A held plug; dropping it unplugs and runs the queue.
pub struct Plug(Arc<Disk>);

impl Drop for Plug {
    fn drop(&mut self) {
        if let Some(q) = self.0.queue() {
            if q.plugged.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.0.run_queue();
            }
        }
    }
}

/// Registers the block drivers that are not on a bus (the RAM disk).
pub fn init() {
    ramdisk::init();
}

/// Writes back every cache and flushes every disk (before power-off).
pub fn sync_all() {
    let written = bcache::sync();
    for disk in all() {
        if disk.queue().is_some_and(|q| q.driver.has_write_cache()) {
            if let Err(e) = io::flush(&disk) {
                log::warn!("{}: flush at power-off failed: {e}", disk.name);
            }
        }
    }
    if let Ok(n) = written {
        if n > 0 {
            log::info!("block: wrote back {n} cached blocks");
        }
    }
}
