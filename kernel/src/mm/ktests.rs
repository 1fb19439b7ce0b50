//! In-kernel tests of memory management: they run on the real page tables,
//! the real buddy allocator and the real heap.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;

use hal::io::RegisterWindow;

use super::frame::{self, Pages};
use super::ioremap;
use super::mempool::Mempool;
use super::paging::{self, Flags, PageSize};
use super::slab::SlabCache;
use super::{phys_to_virt, virt_to_phys, MmError, PAGE_SIZE, VMAP_BASE};
use crate::arch::extable::probe_read_u64;
use crate::{check, check_eq, ktest};

fn free_pages() -> usize {
    frame::stats().map_or(0, |s| s.free_pages)
}

/// A virtual address in the vmap area that tests may map and unmap: the top
/// of the area, far from anything `ioremap` hands out.
const TEST_VIRT: u64 = VMAP_BASE + (1 << 39) - (1 << 30);

ktest! {
    fn buddy_alloc_free_restores_free_count() {
        let before = free_pages();
        let a = frame::alloc_pages(0).map_err(|e| alloc::format!("{e}"))?;
        let b = frame::alloc_pages(3).map_err(|e| alloc::format!("{e}"))?;
        check_eq!(free_pages(), before - 1 - 8);
        check!(b % (PAGE_SIZE << 3) == 0, "order-3 block {b:#x} is not 32 KiB aligned");
        check!(a != b);
        frame::free_pages(a, 0).map_err(|e| alloc::format!("{e}"))?;
        frame::free_pages(b, 3).map_err(|e| alloc::format!("{e}"))?;
        check_eq!(free_pages(), before);
    }

    fn buddy_coalesces_split_blocks() {
        let before = frame::stats().unwrap();
        // Splitting a block for an order-0 page and freeing it must merge
        // all the way back: the per-order free-block counts return exactly.
        let page = frame::alloc_pages(0).map_err(|e| alloc::format!("{e}"))?;
        let during = frame::stats().unwrap();
        frame::free_pages(page, 0).map_err(|e| alloc::format!("{e}"))?;
        let after = frame::stats().unwrap();
        check_eq!(after.free_blocks, before.free_blocks);
        check!(after.merges - before.merges >= during.splits - before.splits, "every split merged back");
    }

    fn buddy_rejects_double_free() {
        let page = frame::alloc_pages(0).map_err(|e| alloc::format!("{e}"))?;
        frame::free_pages(page, 0).map_err(|e| alloc::format!("{e}"))?;
        let before = free_pages();
        check!(frame::free_pages(page, 0).is_err(), "second free accepted");
        check_eq!(free_pages(), before);
    }

    fn buddy_exhaustion_is_an_error_not_a_panic() {
        // Room for every block we will take, reserved before memory runs out.
        let mut taken: Vec<(u64, usize)> = Vec::with_capacity(free_pages() + 16);
        let before = frame::stats().unwrap();
        for order in (0..=buddy::MAX_ORDER).rev() {
            while let Ok(phys) = frame::alloc_pages(order) {
                taken.push((phys, order));
            }
        }
        let empty = free_pages();
        let result = frame::alloc_pages(0);
        let failed = frame::stats().unwrap().failed_allocs;
        for &(phys, order) in &taken {
            frame::free_pages(phys, order).map_err(|e| alloc::format!("{e}"))?;
        }
        check_eq!(empty, 0);
        check_eq!(result, Err(MmError::OutOfMemory));
        check!(failed > before.failed_allocs, "failure was counted");
        check_eq!(frame::stats().unwrap().free_pages, before.free_pages);
        check_eq!(frame::stats().unwrap().free_blocks, before.free_blocks);
    }

    fn direct_map_round_trips() {
        let mut pages = Pages::alloc_zeroed(0).map_err(|e| alloc::format!("{e}"))?;
        let phys = pages.phys();
        let virt = phys_to_virt(phys);
        check_eq!(virt_to_phys(virt), Some(phys));
        check_eq!(paging::translate(virt).map(|t| t.phys), Some(phys));
        pages.as_mut_slice()[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        check_eq!(probe_read_u64(virt + 8), Ok(0x1122_3344_5566_7788));
        // The kernel image is identity-mapped.
        let here = direct_map_round_trips as *const () as usize as u64;
        check_eq!(virt_to_phys(here), Some(here));
        check_eq!(paging::translate(here).map(|t| t.phys), Some(here));
    }

    fn kernel_image_permissions() {
        let text = paging::translate(kernel_image_permissions as *const () as usize as u64).ok_or("text unmapped")?;
        check!(text.flags.executable() && !text.flags.writable(), "text must be R-X: {:?}", text.flags);
        static DATA: u64 = 7;
        let rodata = paging::translate(&DATA as *const u64 as u64).ok_or("rodata unmapped")?;
        check!(!rodata.flags.executable() && !rodata.flags.writable(), "rodata must be R--: {:?}", rodata.flags);
        let direct = paging::translate(phys_to_virt(0x10_0000)).ok_or("direct map missing")?;
        check!(!direct.flags.executable() && direct.flags.writable(), "direct map must be RW-");
        check!(paging::translate(0).is_none(), "page 0 must stay unmapped");
    }

    fn direct_map_uses_huge_pages() {
        // 16 MiB is inside RAM and 2 MiB aligned on both sides.
        let t = paging::translate(phys_to_virt(16 << 20)).ok_or("not mapped")?;
        check_eq!(t.size, PageSize::Size2M);
        check_eq!(t.phys, 16 << 20);
    }

    fn map_translate_unmap() {
        let mut pages = Pages::alloc_zeroed(0).map_err(|e| alloc::format!("{e}"))?;
        pages.as_mut_slice()[..8].copy_from_slice(&0xfeed_f00du64.to_le_bytes());
        check!(paging::translate(TEST_VIRT).is_none(), "test address already mapped");
        paging::map(TEST_VIRT, pages.phys(), PageSize::Size4K, Flags::KERNEL_DATA).map_err(|e| alloc::format!("{e}"))?;
        let t = paging::translate(TEST_VIRT + 0x123);
        let read = probe_read_u64(TEST_VIRT);
        let again = paging::map(TEST_VIRT, pages.phys(), PageSize::Size4K, Flags::KERNEL_DATA);
        let unmapped = paging::unmap(TEST_VIRT);
        check_eq!(t.map(|t| t.phys), Some(pages.phys() + 0x123));
        check_eq!(read, Ok(0xfeed_f00d));
        check_eq!(again, Err(MmError::AlreadyMapped(TEST_VIRT)));
        check_eq!(unmapped.map(|t| t.phys), Ok(pages.phys()));
        check!(paging::translate(TEST_VIRT).is_none(), "still mapped after unmap");
        // The TLB entry is gone too: the access faults now.
        check_eq!(probe_read_u64(TEST_VIRT).map_err(|f| (f.vector, f.address)), Err((14, TEST_VIRT)));
        check_eq!(paging::unmap(TEST_VIRT), Err(MmError::NotMapped(TEST_VIRT)));
    }

    fn map_rejects_misaligned() {
        check_eq!(paging::map(TEST_VIRT + 1, 0x20_0000, PageSize::Size4K, Flags::KERNEL_DATA), Err(MmError::Misaligned(TEST_VIRT + 1)));
        check_eq!(paging::map(TEST_VIRT, 0x1000, PageSize::Size2M, Flags::KERNEL_DATA), Err(MmError::Misaligned(0x1000)));
    }

    fn page_fault_on_unmapped_address_is_reported() {
        let before = crate::arch::trap::STATS.fixups.load(core::sync::atomic::Ordering::Relaxed);
        let fault = probe_read_u64(0xdead_b000);
        check_eq!(fault.map_err(|f| (f.vector, f.address)), Err((14, 0xdead_b000)));
        // A null pointer too: page 0 is never mapped.
        check_eq!(probe_read_u64(0).map_err(|f| f.address), Err(0));
        let after = crate::arch::trap::STATS.fixups.load(core::sync::atomic::Ordering::Relaxed);
        check_eq!(after - before, 2);
    }

    fn heap_box_and_vec() {
        let before = super::heap::bytes_in_use();
        {
            let b = Box::new([0xabu8; 100]);
            let mut v: Vec<u32> = (0..1000).collect();
            v.push(7);
            check_eq!(b[99], 0xab);
            check_eq!(v.iter().map(|&x| u64::from(x)).sum::<u64>(), 499_500 + 7);
            check!(super::heap::bytes_in_use() > before, "allocations not counted");
        }
        check_eq!(super::heap::bytes_in_use(), before);
    }

    fn heap_honours_alignment() {
        for align in [8usize, 64, 512, 4096, 16384] {
            let layout = core::alloc::Layout::from_size_align(24, align).unwrap();
            // SAFETY: non-zero size; freed with the same layout right away.
            let ptr = unsafe { alloc::alloc::alloc(layout) };
            check!(!ptr.is_null(), "allocation failed");
            let addr = ptr as usize;
            // SAFETY: as above.
            unsafe { alloc::alloc::dealloc(ptr, layout) };
            check!(addr.is_multiple_of(align), "{addr:#x} not aligned to {align}");
        }
    }

    fn heap_large_allocation_uses_pages() {
        let before = super::heap::LARGE.pages_inuse.load(core::sync::atomic::Ordering::Relaxed);
        let v: Vec<u8> = alloc::vec![1u8; 64 * 1024];
        let during = super::heap::LARGE.pages_inuse.load(core::sync::atomic::Ordering::Relaxed);
        check_eq!(v.iter().map(|&b| b as usize).sum::<usize>(), 64 * 1024);
        drop(v);
        let after = super::heap::LARGE.pages_inuse.load(core::sync::atomic::Ordering::Relaxed);
        check_eq!(during - before, 16);
        check_eq!(after, before);
    }

    fn slab_alloc_free_and_reuse() {
        static CACHE: SlabCache = SlabCache::new("ktest-slab", 48, 16);
        let a = CACHE.alloc().map_err(|e| alloc::format!("{e}"))?;
        let b = CACHE.alloc().map_err(|e| alloc::format!("{e}"))?;
        check!(a != b);
        check!((a.as_ptr() as usize).is_multiple_of(16), "misaligned object");
        check_eq!(CACHE.stats().objects_inuse, 2);
        CACHE.free(a).map_err(|e| alloc::format!("{e}"))?;
        let c = CACHE.alloc().map_err(|e| alloc::format!("{e}"))?;
        check_eq!(c, a); // LIFO free list: the hot object comes back first
        CACHE.free(b).map_err(|e| alloc::format!("{e}"))?;
        CACHE.free(c).map_err(|e| alloc::format!("{e}"))?;
        check_eq!(CACHE.stats().objects_inuse, 0);
    }

    fn slab_grows_and_gives_pages_back() {
        static CACHE: SlabCache = SlabCache::new("ktest-grow", 256, 64);
        let pages_before = free_pages();
        let per_slab = CACHE.stats().objects_per_slab;
        let mut objs = Vec::new();
        for _ in 0..per_slab * 3 + 1 {
            objs.push(CACHE.alloc().map_err(|e| alloc::format!("{e}"))?);
        }
        check_eq!(CACHE.stats().slabs, 4);
        for o in objs.drain(..) {
            CACHE.free(o).map_err(|e| alloc::format!("{e}"))?;
        }
        check_eq!(CACHE.stats().slabs, 1); // one empty slab is kept
        CACHE.shrink();
        check_eq!(CACHE.stats().slabs, 0);
        drop(objs);
        check_eq!(free_pages(), pages_before);
    }

    fn slab_refuses_bad_and_double_frees() {
        static CACHE: SlabCache = SlabCache::new("ktest-bad", 32, 8);
        static OTHER: SlabCache = SlabCache::new("ktest-other", 32, 8);
        let a = CACHE.alloc().map_err(|e| alloc::format!("{e}"))?;
        let keep = CACHE.alloc().map_err(|e| alloc::format!("{e}"))?;
        CACHE.free(a).map_err(|e| alloc::format!("{e}"))?;
        check!(CACHE.free(a).is_err(), "double free accepted");
        let inside = NonNull::new(a.as_ptr().wrapping_add(4)).unwrap();
        check!(CACHE.free(inside).is_err(), "free of an interior pointer accepted");
        check!(OTHER.free(keep).is_err(), "free into the wrong cache accepted");
        check_eq!(CACHE.stats().bad_frees, 2);
        check_eq!(CACHE.stats().objects_inuse, 1);
        CACHE.free(keep).map_err(|e| alloc::format!("{e}"))?;
        CACHE.shrink();
    }

    fn mempool_reserve_serves_when_cache_is_exhausted() {
        // A cache limited to one slab: exhaustion without starving the kernel.
        static CACHE: SlabCache = SlabCache::with_limit("ktest-pool", 512, 8, 1);
        let pool = Mempool::new("ktest-pool", &CACHE, 4).map_err(|e| alloc::format!("{e}"))?;
        let per_slab = CACHE.stats().objects_per_slab;
        let mut objs = Vec::new();
        // The reserve took 4 objects; the remaining ones come from the cache...
        for _ in 0..per_slab - 4 {
            objs.push(pool.alloc().map_err(|e| alloc::format!("{e}"))?);
        }
        check_eq!(pool.stats().from_reserve, 0);
        // ...then the cache is out and the reserve serves, exactly 4 times.
        for _ in 0..4 {
            objs.push(pool.alloc().map_err(|e| alloc::format!("cache empty, reserve should serve: {e}"))?);
        }
        check_eq!(pool.stats().from_reserve, 4);
        check_eq!(pool.alloc(), Err(MmError::OutOfMemory));
        check_eq!(pool.stats().exhausted, 1);
        // Frees refill the reserve first.
        for o in objs.drain(..) {
            pool.free(o).map_err(|e| alloc::format!("{e}"))?;
        }
        check_eq!(pool.stats().reserve, 4);
        drop(pool);
        check_eq!(CACHE.stats().objects_inuse, 0);
        CACHE.shrink();
    }

    fn ioremap_reads_ioapic_version() {
        // IOAPIC at 0xfec00000 (MADT): IOREGSEL at 0, IOWIN at 0x10; register 1
        // holds the version and the highest redirection entry (82093AA §3.2.2).
        let io = ioremap::ioremap(0xfec0_0000, 0x20).map_err(|e| alloc::format!("{e}"))?;
        let t = paging::translate(io.virt()).ok_or("ioremap left no mapping")?;
        check!(t.flags.uncached(), "device memory must be uncached");
        io.write_u32(0, 1).map_err(|e| alloc::format!("{e}"))?;
        let version = io.read_u32(0x10).map_err(|e| alloc::format!("{e}"))?;
        check_eq!((version >> 16) & 0xff, 23); // 24 pins on q35
        check!(io.read_u32(0x20).is_err(), "access past the window accepted");
        let virt = io.virt();
        drop(io);
        check!(paging::translate(virt).is_none(), "iounmap left the mapping");
    }

    fn ioremap_space_is_reused() {
        let live = ioremap::LIVE_MAPPINGS.load(core::sync::atomic::Ordering::Relaxed);
        let first = ioremap::ioremap(0xfed0_0000, 0x400).map_err(|e| alloc::format!("{e}"))?.virt();
        let second = ioremap::ioremap(0xfed0_0000, 0x400).map_err(|e| alloc::format!("{e}"))?.virt();
        check_eq!(first, second); // freed on drop, so the same range comes back
        check_eq!(ioremap::LIVE_MAPPINGS.load(core::sync::atomic::Ordering::Relaxed), live);
    }
}
