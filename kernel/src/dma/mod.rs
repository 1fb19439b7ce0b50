//! DMA mapping: memory a device reads and writes by itself.
//!
//! A device sees *bus addresses*, not the CPU's virtual or even physical
//! addresses. Every bus address in ioxide comes from one mapper
//! ([`BusMapper`]): today the identity (bus = physical, no IOMMU); with
//! VT-d later, IOVA allocation and IOMMU page tables — behind the same
//! call, without touching a driver. No driver computes a physical address.
//!
//! [`DmaCoherent`] is memory both sides may touch at any time (descriptor
//! rings, small buffers): zeroed, physically contiguous, cache-coherent on
//! x86, reached by the CPU only through volatile, bounds-checked accessors
//! (`hal::dma::DmaMemory`) — never through `&mut` slices the device could
//! change behind the compiler's back. A device with a small DMA mask gets
//! memory from ZONE_DMA when ordinary memory lies too high.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use hal::dma::{BusAddr, DmaAllocator, DmaError, DmaMemory, DmaRegion};

use crate::mm::{dma_zone, frame, phys_to_virt, PhysAddr, PAGE_SIZE};

/// Turns physical memory into what a device puts on the bus.
pub trait BusMapper: Sync {
    fn map(&self, phys: PhysAddr, len: u64) -> BusAddr;
    fn unmap(&self, bus: BusAddr, len: u64);
    fn name(&self) -> &'static str;
}

/// No IOMMU: the device uses physical addresses.
pub struct Direct;

impl BusMapper for Direct {
    fn map(&self, phys: PhysAddr, _len: u64) -> BusAddr {
        BusAddr(phys)
    }
    fn unmap(&self, _bus: BusAddr, _len: u64) {}
    fn name(&self) -> &'static str {
        "direct (no IOMMU)"
    }
}

static MAPPER: Direct = Direct;

pub fn mapper() -> &'static dyn BusMapper {
    &MAPPER
}

pub struct DmaStats {
    pub live_mappings: AtomicU64,
    pub live_bytes: AtomicU64,
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub zone_fallbacks: AtomicU64,
    pub failures: AtomicU64,
}

pub static STATS: DmaStats = DmaStats {
    live_mappings: AtomicU64::new(0),
    live_bytes: AtomicU64::new(0),
    allocs: AtomicU64::new(0),
    frees: AtomicU64::new(0),
    zone_fallbacks: AtomicU64::new(0),
    failures: AtomicU64::new(0),
};

/// A coherent DMA buffer; unmapped and freed on drop.
pub struct DmaCoherent {
    mem: DmaMemory,
    phys: PhysAddr,
    order: usize,
    from_zone: bool,
}

/// Allocates `len` bytes of coherent DMA memory whose bus addresses all lie
/// below `addr_limit` (the device's DMA mask + 1).
pub fn alloc_coherent(len: usize, addr_limit: u64) -> Result<DmaCoherent, DmaError> {
    let result = try_alloc(len, addr_limit);
    if result.is_err() {
        STATS.failures.fetch_add(1, Ordering::Relaxed);
    }
    result
}

fn try_alloc(len: usize, addr_limit: u64) -> Result<DmaCoherent, DmaError> {
    if len == 0 {
        return Err(DmaError::OutOfMemory);
    }
    let order = frame::order_for(len as u64);
    let bytes = PAGE_SIZE << order;
    let fits = |phys: PhysAddr| phys + bytes <= addr_limit;
    let (phys, from_zone) = match frame::alloc_pages(order) {
        Ok(p) if fits(p) => (p, false),
        other => {
            if let Ok(p) = other {
                let _ = frame::free_pages(p, order);
            }
            STATS.zone_fallbacks.fetch_add(1, Ordering::Relaxed);
            let p = dma_zone::alloc(order).map_err(|_| DmaError::OutOfMemory)?;
            if !fits(p) {
                let _ = dma_zone::free(p, order);
                return Err(DmaError::AddressLimit);
            }
            (p, true)
        }
    };
    let virt = phys_to_virt(phys) as *mut u8;
    // SAFETY: the block was just allocated for us and is direct-mapped.
    unsafe { core::ptr::write_bytes(virt, 0, bytes as usize) };
    let bus = mapper().map(phys, bytes);
    let virt = NonNull::new(virt).ok_or(DmaError::OutOfMemory)?;
    // SAFETY: we own the block until drop, it is mapped RAM (coherent on
    // x86), and no Rust reference to it exists: all access goes through the
    // DmaMemory's volatile accessors.
    let mem = unsafe { DmaMemory::new(virt, bus, len) };
    STATS.allocs.fetch_add(1, Ordering::Relaxed);
    STATS.live_mappings.fetch_add(1, Ordering::Relaxed);
    STATS.live_bytes.fetch_add(bytes, Ordering::Relaxed);
    Ok(DmaCoherent { mem, phys, order, from_zone })
}

impl Drop for DmaCoherent {
    fn drop(&mut self) {
        let bytes = PAGE_SIZE << self.order;
        mapper().unmap(self.mem.bus_addr(), bytes);
        let _ = if self.from_zone {
            dma_zone::free(self.phys, self.order)
        } else {
            frame::free_pages(self.phys, self.order)
        };
        STATS.frees.fetch_add(1, Ordering::Relaxed);
        STATS.live_mappings.fetch_sub(1, Ordering::Relaxed);
        STATS.live_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl DmaRegion for DmaCoherent {
    fn bus_addr(&self) -> BusAddr {
        self.mem.bus_addr()
    }
    fn len(&self) -> usize {
        self.mem.len()
    }
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
        self.mem.read(offset, buf)
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        self.mem.write(offset, data)
    }
    fn read_u32(&self, offset: usize) -> Result<u32, DmaError> {
        self.mem.read_u32(offset)
    }
    fn write_u32(&self, offset: usize, value: u32) -> Result<(), DmaError> {
        self.mem.write_u32(offset, value)
    }
}

/// The allocator handed to driver crates (they are generic over
/// `hal::dma::DmaAllocator` so their host tests can use a fake).
#[derive(Clone, Copy, Default)]
pub struct KernelDma;

impl DmaAllocator for KernelDma {
    type Region = DmaCoherent;
    fn alloc_coherent(&self, len: usize, addr_limit: u64) -> Result<DmaCoherent, DmaError> {
        alloc_coherent(len, addr_limit)
    }
}

/// Which way the data flows in a streaming mapping (Linux's
/// `enum dma_data_direction`, made a type so the wrong sync is a compile
/// error, as Asterinas's `DmaStream<Direction>`).
pub trait Direction: Send + Sync + 'static {
    const NAME: &'static str;
}
// Marker types: used only as `DmaStream`'s type parameter, never built.
/// The CPU fills the buffer, the device reads it (a packet to send).
#[allow(dead_code)]
pub struct ToDevice;
/// The device fills the buffer, the CPU reads it (a received packet).
pub struct FromDevice;
/// Both.
#[allow(dead_code)]
pub struct Bidirectional;
impl Direction for ToDevice {
    const NAME: &'static str = "to-device";
}
impl Direction for FromDevice {
    const NAME: &'static str = "from-device";
}
impl Direction for Bidirectional {
    const NAME: &'static str = "bidirectional";
}

/// Can the CPU read what the device wrote? (FromDevice, Bidirectional)
pub trait DeviceWrites: Direction {}
impl DeviceWrites for FromDevice {}
impl DeviceWrites for Bidirectional {}

pub static STREAMING_LIVE: AtomicU64 = AtomicU64::new(0);
pub static STREAMING_BYTES: AtomicU64 = AtomicU64::new(0);

/// An existing kernel buffer lent to a device (a *streaming* mapping).
///
/// Mapping takes the buffer away from the CPU side — Rust ownership moves
/// into the mapping — so nothing can touch it behind the device's back;
/// [`unmap`](Self::unmap) gives it back. On x86 DMA is cache-coherent, so
/// `sync_*` are ordering fences only; on other architectures (and with
/// bounce buffers) they are where cache maintenance or copying happens, so
/// drivers must call them at the same points regardless.
pub struct DmaStream<D: Direction> {
    buf: alloc::boxed::Box<[u8]>,
    bus: BusAddr,
    _dir: core::marker::PhantomData<D>,
}

impl<D: Direction> DmaStream<D> {
    /// Maps `buf` for the device. Heap buffers are physically contiguous in
    /// ioxide (slab objects live in one slab block, large allocations are
    /// buddy blocks), which a device without an IOMMU needs.
    pub fn map(buf: alloc::boxed::Box<[u8]>) -> Result<Self, DmaError> {
        if buf.is_empty() {
            return Err(DmaError::OutOfMemory);
        }
        let virt = buf.as_ptr() as u64;
        let phys = crate::mm::virt_to_phys(virt).ok_or(DmaError::AddressLimit)?;
        let bus = mapper().map(phys, buf.len() as u64);
        STREAMING_LIVE.fetch_add(1, Ordering::Relaxed);
        STREAMING_BYTES.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(DmaStream { buf, bus, _dir: core::marker::PhantomData })
    }

    pub fn bus_addr(&self) -> BusAddr {
        self.bus
    }

    /// Which way the data flows (for diagnostics).
    pub fn direction(&self) -> &'static str {
        D::NAME
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands the buffer to the device after CPU writes.
    pub fn sync_for_device(&self) {
        core::sync::atomic::fence(Ordering::Release);
    }

    /// Ends the mapping and returns the buffer to the CPU.
    pub fn unmap(self) -> alloc::boxed::Box<[u8]> {
        mapper().unmap(self.bus, self.buf.len() as u64);
        STREAMING_LIVE.fetch_sub(1, Ordering::Relaxed);
        STREAMING_BYTES.fetch_sub(self.buf.len() as u64, Ordering::Relaxed);
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move the box out once.
        unsafe { core::ptr::read(&this.buf) }
    }
}

impl<D: DeviceWrites> DmaStream<D> {
    /// Makes what the device wrote visible to the CPU, then copies `len`
    /// bytes from `offset` out (volatile: the device wrote them).
    pub fn sync_for_cpu_read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaError> {
        hal::dma::check_range(offset, out.len(), self.buf.len())?;
        core::sync::atomic::fence(Ordering::Acquire);
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: in bounds (checked); the buffer is owned by the mapping.
            *b = unsafe { self.buf.as_ptr().add(offset + i).read_volatile() };
        }
        Ok(())
    }
}

impl<D: Direction> Drop for DmaStream<D> {
    fn drop(&mut self) {
        mapper().unmap(self.bus, self.buf.len() as u64);
        STREAMING_LIVE.fetch_sub(1, Ordering::Relaxed);
        STREAMING_BYTES.fetch_sub(self.buf.len() as u64, Ordering::Relaxed);
    }
}

/// Small DMA blocks (descriptors) carved from coherent pages (Linux's
/// `dma_pool`): a ring of 16-byte descriptors does not need a page each.
pub struct DmaPool {
    block: usize,
    pages: crate::sync::SpinLock<alloc::vec::Vec<alloc::sync::Arc<DmaCoherent>>>,
    free: crate::sync::SpinLock<alloc::vec::Vec<(usize, usize)>>,
    pub in_use: AtomicU64,
}

/// One block of a [`DmaPool`]; returned to the pool on drop.
pub struct DmaBlock {
    pool: alloc::sync::Arc<DmaPool>,
    page: alloc::sync::Arc<DmaCoherent>,
    page_index: usize,
    offset: usize,
}

impl DmaPool {
    /// `block` bytes per block, rounded up to a power of two (natural alignment).
    pub fn new(block: usize) -> alloc::sync::Arc<DmaPool> {
        alloc::sync::Arc::new(DmaPool {
            block: block.next_power_of_two().max(8),
            pages: crate::sync::SpinLock::new(alloc::vec::Vec::new()),
            free: crate::sync::SpinLock::new(alloc::vec::Vec::new()),
            in_use: AtomicU64::new(0),
        })
    }

    pub fn alloc(self: &alloc::sync::Arc<Self>) -> Result<DmaBlock, DmaError> {
        let slot = self.free.lock().pop();
        let (page_index, offset) = match slot {
            Some(s) => s,
            None => {
                let page = alloc::sync::Arc::new(alloc_coherent(PAGE_SIZE as usize, u64::MAX)?);
                let mut pages = self.pages.lock();
                let index = pages.len();
                pages.push(page);
                let mut free = self.free.lock();
                for off in (self.block..PAGE_SIZE as usize).step_by(self.block).rev() {
                    free.push((index, off));
                }
                (index, 0)
            }
        };
        let page = self.pages.lock()[page_index].clone();
        self.in_use.fetch_add(1, Ordering::Relaxed);
        Ok(DmaBlock { pool: self.clone(), page, page_index, offset })
    }
}

impl Drop for DmaBlock {
    fn drop(&mut self) {
        self.pool.free.lock().push((self.page_index, self.offset));
        self.pool.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DmaRegion for DmaBlock {
    fn bus_addr(&self) -> BusAddr {
        BusAddr(self.page.bus_addr().0 + self.offset as u64)
    }
    fn len(&self) -> usize {
        self.pool.block
    }
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaError> {
        hal::dma::check_range(offset, buf.len(), self.pool.block)?;
        self.page.read(self.offset + offset, buf)
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaError> {
        hal::dma::check_range(offset, data.len(), self.pool.block)?;
        self.page.write(self.offset + offset, data)
    }
}

mod ktests {
    use hal::dma::DmaRegion;

    use super::{alloc_coherent, STATS};
    use crate::{check, check_eq, ktest};

    ktest! {
        fn coherent_buffer_round_trips_and_is_freed() {
            let live = STATS.live_mappings.load(core::sync::atomic::Ordering::SeqCst);
            let buf = alloc_coherent(8192, u64::MAX).map_err(|e| alloc::format!("{e}"))?;
            check_eq!(buf.read_u32(4096).map_err(|e| alloc::format!("{e}"))?, 0); // zeroed
            buf.write(100, b"ioxide").map_err(|e| alloc::format!("{e}"))?;
            let mut back = [0u8; 6];
            buf.read(100, &mut back).map_err(|e| alloc::format!("{e}"))?;
            check_eq!(&back, b"ioxide");
            check!(buf.write(8190, b"xyz").is_err(), "write past the end accepted");
            check_eq!(buf.bus_addr().0 % 4096, 0);
            drop(buf);
            check_eq!(STATS.live_mappings.load(core::sync::atomic::Ordering::SeqCst), live);
        }

        fn streaming_mapping_lends_and_returns_the_buffer() {
            let live = super::STREAMING_LIVE.load(core::sync::atomic::Ordering::SeqCst);
            let buf = alloc::vec![7u8; 1500].into_boxed_slice();
            let virt = buf.as_ptr() as u64;
            let s = super::DmaStream::<super::FromDevice>::map(buf).map_err(|e| alloc::format!("{e}"))?;
            check_eq!(s.bus_addr().0, crate::mm::virt_to_phys(virt).unwrap());
            let mut out = [0u8; 4];
            s.sync_for_cpu_read(1496, &mut out).map_err(|e| alloc::format!("{e}"))?;
            check_eq!(out, [7; 4]);
            check!(s.sync_for_cpu_read(1498, &mut out).is_err(), "read past the end accepted");
            check_eq!(super::STREAMING_LIVE.load(core::sync::atomic::Ordering::SeqCst), live + 1);
            check_eq!((s.len(), s.is_empty(), s.direction()), (1500, false, "from-device"));
            let out_buf = alloc::vec![1u8; 64].into_boxed_slice();
            let to = super::DmaStream::<super::ToDevice>::map(out_buf).map_err(|e| alloc::format!("{e}"))?;
            to.sync_for_device();
            check_eq!(to.unmap()[63], 1);
            let back = s.unmap();
            check_eq!(back.len(), 1500);
            check_eq!(super::STREAMING_LIVE.load(core::sync::atomic::Ordering::SeqCst), live);
        }

        fn dma_pool_packs_small_blocks_into_pages() {
            let pool = super::DmaPool::new(16);
            let live = STATS.live_mappings.load(core::sync::atomic::Ordering::SeqCst);
            let blocks: alloc::vec::Vec<_> = (0..300).map(|_| pool.alloc()).collect::<Result<_, _>>().map_err(|e| alloc::format!("{e}"))?;
            // 256 blocks of 16 bytes per page: 300 blocks take 2 pages.
            check_eq!(STATS.live_mappings.load(core::sync::atomic::Ordering::SeqCst), live + 2);
            let mut addrs: alloc::vec::Vec<u64> = blocks.iter().map(|b| b.bus_addr().0).collect();
            addrs.sort_unstable();
            addrs.dedup();
            check_eq!(addrs.len(), 300);
            check!(addrs.iter().all(|a| a % 16 == 0), "misaligned block");
            blocks[5].write(0, &[1, 2, 3, 4]).map_err(|e| alloc::format!("{e}"))?;
            check!(blocks[5].write(14, &[0; 4]).is_err(), "write past the block accepted");
            check_eq!(pool.in_use.load(core::sync::atomic::Ordering::SeqCst), 300);
            drop(blocks);
            check_eq!(pool.in_use.load(core::sync::atomic::Ordering::SeqCst), 0);
        }

        fn small_dma_mask_is_honoured() {
            // 16 MiB: only ZONE_DMA (or very low normal memory) qualifies.
            let limit = 16 << 20;
            let buf = alloc_coherent(4096, limit).map_err(|e| alloc::format!("{e}"))?;
            check!(buf.bus_addr().0 + 4096 <= limit, "bus address {:#x} above the mask", buf.bus_addr().0);
        }
    }
}
