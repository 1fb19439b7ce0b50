//! Coherent DMA buffers: zeroed, physically contiguous pages that CPU and
//! device share for as long as the buffer lives (Linux's
//! `dma_alloc_coherent`), from ZONE_DMA when the device's mask needs it.

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use hal::dma::{BusAddr, DmaAllocator, DmaError, DmaMemory, DmaRegion};

use super::{mapper, STATS};
use crate::mm::{dma_zone, frame, phys_to_virt, PhysAddr, PAGE_SIZE};

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
    // DmaMemory's accessors (volatile words, fenced bulk copies).
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
