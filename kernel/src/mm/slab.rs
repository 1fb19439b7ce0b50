//! Slab caches: fixed-size objects carved out of page blocks (Bonwick's slab
//! allocator, USENIX 1994; Linux's `kmem_cache_create`/`kmem_cache_alloc`).
//!
//! A *slab* is one naturally aligned block of 2^order frames from the buddy
//! allocator. Its first bytes hold a [`SlabHeader`]; the rest is an array of
//! equally sized objects. Free objects form a singly linked list threaded
//! through the objects themselves, so allocation and free are a pointer
//! swap. Because slabs are aligned to their own size, the slab of any object
//! is found by masking the object's address — no lookup table.
//!
//! A cache keeps its slabs that still have free objects on a doubly linked
//! *partial* list (full slabs are off-list until an object comes back) and
//! keeps at most one empty slab; further empty slabs go back to the buddy
//! allocator. A cache may have a slab limit, which makes exhaustion
//! reproducible (mempools are tested that way).
//!
//! Freed objects are poisoned, which turns most double frees into an error
//! instead of a corrupted free list.

use core::ptr::{self, NonNull};

use crate::sync::SpinLockIrq;

use super::{frame, phys_to_virt, virt_to_phys, MmError, PAGE_SIZE};

const SLAB_MAGIC: u64 = 0x51ab_51ab_0c0f_fee5;
/// Written into the second word of every free object.
const FREE_POISON: u64 = 0x6b6b_6b6b_6b6b_6b6b;
const MIN_OBJECT: usize = 16;
const MIN_OBJECTS_PER_SLAB: usize = 8;
const MAX_SLAB_ORDER: usize = 3;

#[repr(C)]
struct SlabHeader {
    magic: u64,
    cache: *const SlabCache,
    free: *mut FreeObject,
    inuse: usize,
    next: *mut SlabHeader,
    prev: *mut SlabHeader,
}

#[repr(C)]
struct FreeObject {
    next: *mut FreeObject,
    poison: u64,
}

struct CacheState {
    partial: *mut SlabHeader,
    slabs: usize,
    empty_slabs: usize,
    inuse: usize,
    allocs: u64,
    frees: u64,
    failures: u64,
    bad_frees: u64,
}

// SAFETY: the raw pointers point into slabs owned by the cache; they are only
// followed with the cache's lock held.
unsafe impl Send for CacheState {}

/// A cache of equally sized objects.
pub struct SlabCache {
    name: &'static str,
    object_size: usize,
    first_offset: usize,
    capacity: usize,
    slab_order: usize,
    max_slabs: usize,
    state: SpinLockIrq<CacheState>,
}

/// A snapshot of a cache's counters.
#[derive(Debug, Clone, Copy)]
pub struct SlabStats {
    pub name: &'static str,
    pub object_size: usize,
    pub objects_per_slab: usize,
    pub slab_order: usize,
    pub slabs: usize,
    pub objects_inuse: usize,
    pub allocs: u64,
    pub frees: u64,
    pub failures: u64,
    pub bad_frees: u64,
}

const fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

impl SlabCache {
    /// A cache of `size`-byte objects aligned to `align` (a power of two).
    pub const fn new(name: &'static str, size: usize, align: usize) -> SlabCache {
        Self::with_limit(name, size, align, usize::MAX)
    }

    /// Like [`new`](Self::new), but never holds more than `max_slabs` slabs.
    pub const fn with_limit(name: &'static str, size: usize, align: usize, max_slabs: usize) -> SlabCache {
        let align = if align < 8 { 8 } else { align };
        let object_size = round_up(if size < MIN_OBJECT { MIN_OBJECT } else { size }, align);
        let first_offset = round_up(core::mem::size_of::<SlabHeader>(), align);
        let mut slab_order = 0;
        while slab_order < MAX_SLAB_ORDER
            && ((PAGE_SIZE as usize) << slab_order) - first_offset < MIN_OBJECTS_PER_SLAB * object_size
        {
            slab_order += 1;
        }
        let slab_bytes = (PAGE_SIZE as usize) << slab_order;
        let capacity = if slab_bytes > first_offset { (slab_bytes - first_offset) / object_size } else { 0 };
        SlabCache {
            name,
            object_size,
            first_offset,
            capacity,
            slab_order,
            max_slabs,
            state: SpinLockIrq::new(CacheState {
                partial: ptr::null_mut(),
                slabs: 0,
                empty_slabs: 0,
                inuse: 0,
                allocs: 0,
                frees: 0,
                failures: 0,
                bad_frees: 0,
            }),
        }
    }

    pub fn object_size(&self) -> usize {
        self.object_size
    }

    fn slab_bytes(&self) -> usize {
        (PAGE_SIZE as usize) << self.slab_order
    }

    /// Allocates one object (uninitialised memory).
    pub fn alloc(&self) -> Result<NonNull<u8>, MmError> {
        if self.capacity == 0 {
            return Err(MmError::InvalidArgument("object larger than a slab"));
        }
        let mut st = self.state.lock();
        if st.partial.is_null() {
            if let Err(e) = self.grow(&mut st) {
                st.failures += 1;
                return Err(e);
            }
        }
        let slab = st.partial;
        // SAFETY: `slab` heads the partial list, so it is a live slab of this
        // cache with at least one free object; we hold the lock.
        unsafe {
            let obj = (*slab).free;
            (*slab).free = (*obj).next;
            (*obj).poison = 0;
            if (*slab).inuse == 0 {
                st.empty_slabs -= 1;
            }
            (*slab).inuse += 1;
            if (*slab).inuse == self.capacity {
                Self::unlink(&mut st, slab);
            }
            st.inuse += 1;
            st.allocs += 1;
            Ok(NonNull::new_unchecked(obj.cast()))
        }
    }

    /// Returns an object to the cache. Pointers that are not live objects of
    /// this cache are refused (and counted) instead of corrupting it.
    pub fn free(&self, obj: NonNull<u8>) -> Result<(), MmError> {
        let mut st = self.state.lock();
        let result = self.free_locked(&mut st, obj);
        if result.is_err() {
            st.bad_frees += 1;
            log::error!("slab {}: bad free of {:p}", self.name, obj);
        }
        result
    }

    fn free_locked(&self, st: &mut CacheState, obj: NonNull<u8>) -> Result<(), MmError> {
        let addr = obj.as_ptr() as usize;
        let slab = (addr & !(self.slab_bytes() - 1)) as *mut SlabHeader;
        let offset = addr - slab as usize;
        if offset < self.first_offset || !(offset - self.first_offset).is_multiple_of(self.object_size) {
            return Err(MmError::InvalidArgument("not an object start"));
        }
        if (offset - self.first_offset) / self.object_size >= self.capacity {
            return Err(MmError::InvalidArgument("beyond the slab's objects"));
        }
        if virt_to_phys(slab as u64).is_none() {
            return Err(MmError::InvalidArgument("not a direct-map address"));
        }
        // SAFETY: `slab` is a direct-map address; reading its header is safe
        // memory-wise, and the magic/owner check rejects non-slabs before we
        // trust anything else in it.
        unsafe {
            if (*slab).magic != SLAB_MAGIC || !core::ptr::eq((*slab).cache, self) {
                return Err(MmError::InvalidArgument("not a slab of this cache"));
            }
            let obj = obj.as_ptr().cast::<FreeObject>();
            if (*obj).poison == FREE_POISON && self.on_free_list(slab, obj) {
                return Err(MmError::InvalidArgument("double free"));
            }
            if (*slab).inuse == self.capacity {
                self.push_partial(st, slab);
            }
            (*obj).next = (*slab).free;
            (*obj).poison = FREE_POISON;
            (*slab).free = obj;
            (*slab).inuse -= 1;
            st.inuse -= 1;
            st.frees += 1;
            if (*slab).inuse == 0 {
                st.empty_slabs += 1;
                if st.empty_slabs > 1 {
                    self.release(st, slab);
                }
            }
        }
        Ok(())
    }

    /// # Safety
    /// `slab` is a live slab of this cache; the lock is held.
    unsafe fn on_free_list(&self, slab: *mut SlabHeader, obj: *mut FreeObject) -> bool {
        // SAFETY: per the contract, the free list links only objects of `slab`.
        unsafe {
            let mut cur = (*slab).free;
            while !cur.is_null() {
                if cur == obj {
                    return true;
                }
                cur = (*cur).next;
            }
        }
        false
    }

    fn grow(&self, st: &mut CacheState) -> Result<(), MmError> {
        if st.slabs >= self.max_slabs {
            return Err(MmError::OutOfMemory);
        }
        let phys = frame::alloc_pages(self.slab_order)?;
        let slab = phys_to_virt(phys) as *mut SlabHeader;
        // SAFETY: a fresh block from the buddy allocator, direct-mapped,
        // `slab_bytes` long; we lay out the header and thread the free list
        // through the object array inside it.
        unsafe {
            let base = slab.cast::<u8>();
            let mut free: *mut FreeObject = ptr::null_mut();
            for i in (0..self.capacity).rev() {
                let obj = base.add(self.first_offset + i * self.object_size).cast::<FreeObject>();
                (*obj).next = free;
                (*obj).poison = FREE_POISON;
                free = obj;
            }
            slab.write(SlabHeader {
                magic: SLAB_MAGIC,
                cache: self,
                free,
                inuse: 0,
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
            });
            self.push_partial(st, slab);
        }
        st.slabs += 1;
        st.empty_slabs += 1;
        Ok(())
    }

    /// # Safety
    /// `slab` is an empty slab of this cache on the partial list; lock held.
    unsafe fn release(&self, st: &mut CacheState, slab: *mut SlabHeader) {
        // SAFETY: per the contract.
        unsafe {
            Self::unlink(st, slab);
            (*slab).magic = 0;
        }
        st.slabs -= 1;
        st.empty_slabs -= 1;
        if let Some(phys) = virt_to_phys(slab as u64) {
            let _ = frame::free_pages(phys, self.slab_order);
        }
    }

    /// Gives every empty slab back to the page allocator.
    pub fn shrink(&self) {
        let mut st = self.state.lock();
        let mut cur = st.partial;
        while !cur.is_null() {
            // SAFETY: walking our own partial list with the lock held; `next`
            // is read before `cur` may be released.
            unsafe {
                let next = (*cur).next;
                if (*cur).inuse == 0 {
                    self.release(&mut st, cur);
                }
                cur = next;
            }
        }
    }

    /// # Safety
    /// `slab` is a live slab of this cache not on the list; lock held.
    unsafe fn push_partial(&self, st: &mut CacheState, slab: *mut SlabHeader) {
        // SAFETY: per the contract.
        unsafe {
            (*slab).prev = ptr::null_mut();
            (*slab).next = st.partial;
            if !st.partial.is_null() {
                (*st.partial).prev = slab;
            }
        }
        st.partial = slab;
    }

    /// # Safety
    /// `slab` is on this cache's partial list; lock held.
    unsafe fn unlink(st: &mut CacheState, slab: *mut SlabHeader) {
        // SAFETY: per the contract, neighbours are live slabs of the list.
        unsafe {
            let (prev, next) = ((*slab).prev, (*slab).next);
            if prev.is_null() {
                st.partial = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*slab).next = ptr::null_mut();
            (*slab).prev = ptr::null_mut();
        }
    }

    pub fn stats(&self) -> SlabStats {
        let st = self.state.lock();
        SlabStats {
            name: self.name,
            object_size: self.object_size,
            objects_per_slab: self.capacity,
            slab_order: self.slab_order,
            slabs: st.slabs,
            objects_inuse: st.inuse,
            allocs: st.allocs,
            frees: st.frees,
            failures: st.failures,
            bad_frees: st.bad_frees,
        }
    }
}

/// Caches shown by `meminfo` (Linux's `/proc/slabinfo`).
static REGISTRY: SpinLockIrq<[Option<&'static SlabCache>; 32]> = SpinLockIrq::new([None; 32]);

pub fn register(cache: &'static SlabCache) {
    let mut reg = REGISTRY.lock();
    if let Some(slot) = reg.iter_mut().find(|s| s.is_none()) {
        *slot = Some(cache);
    } else {
        log::warn!("slab: registry full, {} not listed", cache.name);
    }
}

pub fn for_each(mut f: impl FnMut(SlabStats)) {
    let caches: [Option<&'static SlabCache>; 32] = *REGISTRY.lock();
    for cache in caches.iter().flatten() {
        f(cache.stats());
    }
}
