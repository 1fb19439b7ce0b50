//! Memory barriers for talking to devices.
//!
//! Two parties can reorder a driver's memory accesses: the compiler, and the
//! CPU (seed: "Driver programmer should be careful about reorderings! Use of
//! volatile and fence instructions"). Register accesses through a
//! [`RegisterWindow`](crate::RegisterWindow) are already kept in order, so these
//! barriers are for the remaining cases, named as in Linux
//! (`Documentation/memory-barriers.txt`):
//!
//! | function  | orders                                              | x86_64          |
//! |-----------|-----------------------------------------------------|-----------------|
//! | [`mb`]    | all earlier loads/stores before all later ones      | `mfence`        |
//! | [`rmb`]   | earlier loads before later loads                    | `lfence`        |
//! | [`wmb`]   | earlier stores before later stores                  | `sfence`        |
//! | [`dma_rmb`] | reads of DMA memory (status, then data)           | compiler only   |
//! | [`dma_wmb`] | writes of DMA memory (data, then "ready" flag)    | compiler only   |
//!
//! Why the DMA barriers cost nothing on x86: DMA into write-back RAM is cache
//! coherent, and x86 keeps stores in order with stores and loads in order with
//! loads (TSO). So "fill the descriptor, then set its OWN bit" is already
//! ordered for the device once the compiler keeps the two stores in order.
//! `mb`/`rmb`/`wmb` are the big hammers for the rest: write-combining mappings
//! and non-temporal stores (which `sfence` orders), and store-then-load ordering,
//! which TSO does not give (only `mfence` does).
//!
//! Elsewhere the portable `core::sync::atomic::fence`s are used. They order
//! normal memory only, which is enough for `dma_*` on coherent hosts; an
//! architecture with separate device ordering (RISC-V's `fence iorw,iorw`)
//! gets its own arm here when its port lands.

#[cfg(target_arch = "x86_64")]
use core::arch::asm;
use core::sync::atomic::{self, Ordering};

/// Full barrier: no load or store moves across it, in the compiler or the CPU.
#[inline(always)]
pub fn mb() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `mfence` only orders memory accesses; it has no operands and
    // changes no register or flag. Not `nomem`, so it is a compiler barrier too.
    unsafe {
        asm!("mfence", options(nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "x86_64"))]
    atomic::fence(Ordering::SeqCst);
}

/// Read barrier: earlier loads complete before later loads.
#[inline(always)]
pub fn rmb() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `lfence` only orders loads (and instruction issue); no operands.
    unsafe {
        asm!("lfence", options(nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "x86_64"))]
    atomic::fence(Ordering::Acquire);
}

/// Write barrier: earlier stores are visible before later stores, including
/// write-combining and non-temporal ones.
#[inline(always)]
pub fn wmb() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` only orders stores; no operands.
    unsafe {
        asm!("sfence", options(nostack, preserves_flags))
    };
    #[cfg(not(target_arch = "x86_64"))]
    atomic::fence(Ordering::Release);
}

/// Orders reads of coherent DMA memory: read the descriptor's status (written
/// by the device) before reading the data it guards.
#[inline(always)]
pub fn dma_rmb() {
    // x86: loads are not reordered with other loads, so only the compiler
    // must be stopped from hoisting the data read above the status read.
    #[cfg(target_arch = "x86_64")]
    atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(not(target_arch = "x86_64"))]
    atomic::fence(Ordering::Acquire);
}

/// Orders writes to coherent DMA memory: write the data before the flag or
/// index that hands it to the device.
#[inline(always)]
pub fn dma_wmb() {
    // x86: stores are not reordered with other stores, and DMA snoops the
    // caches, so only the compiler must be stopped from sinking the data store.
    #[cfg(target_arch = "x86_64")]
    atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(not(target_arch = "x86_64"))]
    atomic::fence(Ordering::Release);
}

#[cfg(test)]
mod tests {
    // The barriers have no observable effect in a single thread; this checks
    // that each one assembles and executes (e.g. at user privilege on the host).
    #[test]
    fn every_barrier_executes() {
        super::mb();
        super::rmb();
        super::wmb();
        super::dma_rmb();
        super::dma_wmb();
    }
}
