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

use hal::dma::{BusAddr, DmaError, DmaMemory, DmaRegion};

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

        fn small_dma_mask_is_honoured() {
            // 16 MiB: only ZONE_DMA (or very low normal memory) qualifies.
            let limit = 16 << 20;
            let buf = alloc_coherent(4096, limit).map_err(|e| alloc::format!("{e}"))?;
            check!(buf.bus_addr().0 + 4096 <= limit, "bus address {:#x} above the mask", buf.bus_addr().0);
        }
    }
}
