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
//!
//! - [`coherent`]: `DmaCoherent` and `KernelDma`, the allocator driver
//!   crates are handed;
//! - [`stream`]: `DmaStream<Direction>`, an existing buffer lent to the
//!   device for one transfer, with the direction in its type;
//! - [`pool`]: `DmaPool`, small naturally aligned blocks carved from
//!   coherent pages.

pub mod coherent;
pub mod pool;
pub mod stream;

use core::sync::atomic::AtomicU64;

use hal::dma::BusAddr;

pub use coherent::{alloc_coherent, DmaCoherent, KernelDma};
pub use pool::DmaPool;
pub use stream::{DmaStream, FromDevice, ToDevice, STREAMING_BYTES, STREAMING_LIVE};

use crate::mm::PhysAddr;

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
