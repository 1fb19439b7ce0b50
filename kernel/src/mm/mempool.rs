//! Mempools: an allocation that must not fail under memory pressure
//! (Linux's `mempool_create`/`mempool_alloc`).
//!
//! A pool sits on top of a slab cache and pre-allocates `min_nr` objects at
//! creation — its guaranteed reserve. An allocation first asks the cache;
//! only when the cache cannot deliver does it take an object from the
//! reserve. Freed objects refill the reserve before going back to the
//! cache. So a driver that needs, say, one request descriptor to make
//! progress while memory is short (the block layer's writeback path) always
//! gets it, as long as it returns what it took.
//!
//! Linux's `mempool_alloc` sleeps when the reserve is also empty; ioxide has
//! no sleeping yet, so that case returns `Exhausted` and is counted.

use alloc::vec::Vec;
use core::ptr::NonNull;

use crate::sync::SpinLockIrq;

use super::slab::SlabCache;
use super::MmError;

pub struct Mempool {
    name: &'static str,
    cache: &'static SlabCache,
    min_nr: usize,
    state: SpinLockIrq<PoolState>,
}

struct PoolState {
    /// Capacity `min_nr`, allocated once: the pool never allocates to refill.
    reserve: Vec<NonNull<u8>>,
    from_cache: u64,
    from_reserve: u64,
    exhausted: u64,
    frees: u64,
}

// SAFETY: the pointers are objects owned by the pool, handed out under the lock.
unsafe impl Send for PoolState {}

#[derive(Debug, Clone, Copy)]
pub struct MempoolStats {
    pub name: &'static str,
    pub min_nr: usize,
    pub reserve: usize,
    pub from_cache: u64,
    pub from_reserve: u64,
    pub exhausted: u64,
    pub frees: u64,
}

impl Mempool {
    /// Creates the pool and fills its reserve; fails if the reserve cannot be filled.
    pub fn new(name: &'static str, cache: &'static SlabCache, min_nr: usize) -> Result<Mempool, MmError> {
        let mut reserve = Vec::new();
        reserve.try_reserve_exact(min_nr).map_err(|_| MmError::OutOfMemory)?;
        for _ in 0..min_nr {
            match cache.alloc() {
                Ok(obj) => reserve.push(obj),
                Err(e) => {
                    for obj in reserve.drain(..) {
                        let _ = cache.free(obj);
                    }
                    return Err(e);
                }
            }
        }
        let state = PoolState { reserve, from_cache: 0, from_reserve: 0, exhausted: 0, frees: 0 };
        Ok(Mempool { name, cache, min_nr, state: SpinLockIrq::new(state) })
    }

    /// An object from the cache, or from the reserve if the cache is out.
    pub fn alloc(&self) -> Result<NonNull<u8>, MmError> {
        if let Ok(obj) = self.cache.alloc() {
            self.state.lock().from_cache += 1;
            return Ok(obj);
        }
        let mut st = self.state.lock();
        match st.reserve.pop() {
            Some(obj) => {
                st.from_reserve += 1;
                Ok(obj)
            }
            None => {
                st.exhausted += 1;
                Err(MmError::OutOfMemory)
            }
        }
    }

    /// Returns an object: it refills the reserve first.
    pub fn free(&self, obj: NonNull<u8>) -> Result<(), MmError> {
        let mut st = self.state.lock();
        st.frees += 1;
        if st.reserve.len() < self.min_nr {
            st.reserve.push(obj);
            Ok(())
        } else {
            drop(st);
            self.cache.free(obj)
        }
    }

    pub fn stats(&self) -> MempoolStats {
        let st = self.state.lock();
        MempoolStats {
            name: self.name,
            min_nr: self.min_nr,
            reserve: st.reserve.len(),
            from_cache: st.from_cache,
            from_reserve: st.from_reserve,
            exhausted: st.exhausted,
            frees: st.frees,
        }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        for obj in self.state.get_mut().reserve.drain(..) {
            let _ = self.cache.free(obj);
        }
    }
}

/// Pools shown by `meminfo`.
static REGISTRY: SpinLockIrq<Vec<&'static Mempool>> = SpinLockIrq::new(Vec::new());

// First user: the block layer's request pool (issue 6); `meminfo` lists
// whatever is registered.
#[allow(dead_code)]
pub fn register(pool: &'static Mempool) {
    REGISTRY.lock().push(pool);
}

pub fn for_each(mut f: impl FnMut(MempoolStats)) {
    let pools: Vec<&'static Mempool> = REGISTRY.lock().clone();
    for pool in pools {
        f(pool.stats());
    }
}
