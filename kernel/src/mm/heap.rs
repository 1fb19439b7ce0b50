//! The kernel heap: `kmalloc` as Rust's global allocator.
//!
//! Small requests go to one of eight power-of-two slab caches
//! (`kmalloc-16` … `kmalloc-2048`): since every object of a class is
//! aligned to its size, a request is served by the class of
//! `max(size, align)`. Larger requests take whole blocks from the buddy
//! allocator (Linux's `kmalloc_large`). `dealloc` receives the same layout,
//! so it finds the same class again without any per-object header.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};

use super::slab::{self, SlabCache};
use super::{frame, phys_to_virt, virt_to_phys, PAGE_SIZE};

const SMALLEST_CLASS_SHIFT: u32 = 4;
pub const LARGEST_SMALL: usize = 2048;

static KMALLOC_CACHES: [SlabCache; 8] = [
    SlabCache::new("kmalloc-16", 16, 16),
    SlabCache::new("kmalloc-32", 32, 32),
    SlabCache::new("kmalloc-64", 64, 64),
    SlabCache::new("kmalloc-128", 128, 128),
    SlabCache::new("kmalloc-256", 256, 256),
    SlabCache::new("kmalloc-512", 512, 512),
    SlabCache::new("kmalloc-1024", 1024, 1024),
    SlabCache::new("kmalloc-2048", 2048, 2048),
];

/// Counters for allocations served straight from the page allocator.
pub struct LargeStats {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub pages_inuse: AtomicU64,
    pub failures: AtomicU64,
}

pub static LARGE: LargeStats = LargeStats {
    allocs: AtomicU64::new(0),
    frees: AtomicU64::new(0),
    pages_inuse: AtomicU64::new(0),
    failures: AtomicU64::new(0),
};

enum Route {
    Slab(&'static SlabCache),
    Pages(usize),
}

fn route(layout: Layout) -> Route {
    let size = layout.size().max(layout.align()).max(1);
    if size <= LARGEST_SMALL {
        let class = size.next_power_of_two().trailing_zeros().max(SMALLEST_CLASS_SHIFT) - SMALLEST_CLASS_SHIFT;
        Route::Slab(&KMALLOC_CACHES[class as usize])
    } else {
        Route::Pages(frame::order_for(size as u64))
    }
}

struct Kmalloc;

unsafe impl GlobalAlloc for Kmalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match route(layout) {
            Route::Slab(cache) => cache.alloc().map_or(null_mut(), NonNull::as_ptr),
            Route::Pages(order) => match frame::alloc_pages(order) {
                Ok(phys) => {
                    LARGE.allocs.fetch_add(1, Ordering::Relaxed);
                    LARGE.pages_inuse.fetch_add(1 << order, Ordering::Relaxed);
                    phys_to_virt(phys) as *mut u8
                }
                Err(_) => {
                    LARGE.failures.fetch_add(1, Ordering::Relaxed);
                    null_mut()
                }
            },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(ptr) = NonNull::new(ptr) else { return };
        match route(layout) {
            Route::Slab(cache) => {
                let _ = cache.free(ptr);
            }
            Route::Pages(order) => {
                if let Some(phys) = virt_to_phys(ptr.as_ptr() as u64) {
                    if frame::free_pages(phys, order).is_ok() {
                        LARGE.frees.fetch_add(1, Ordering::Relaxed);
                        LARGE.pages_inuse.fetch_sub(1 << order, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

#[global_allocator]
static HEAP: Kmalloc = Kmalloc;

pub fn init() {
    for cache in &KMALLOC_CACHES {
        slab::register(cache);
    }
}

/// Bytes currently allocated from the heap (slab objects + large pages).
pub fn bytes_in_use() -> u64 {
    let small: u64 = KMALLOC_CACHES.iter().map(|c| (c.stats().objects_inuse * c.object_size()) as u64).sum();
    small + LARGE.pages_inuse.load(Ordering::Relaxed) * PAGE_SIZE
}
