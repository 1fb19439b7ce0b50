//! DMA pools: small, naturally aligned blocks carved from coherent pages
//! (Linux's `dma_pool`), for descriptors that do not need a page each.

use core::sync::atomic::{AtomicU64, Ordering};

use hal::dma::{BusAddr, DmaError, DmaRegion};

use super::{alloc_coherent, DmaCoherent};
use crate::mm::PAGE_SIZE;

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
