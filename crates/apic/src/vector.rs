//! A vector allocator for one CPU's IDT.
//!
//! A **vector** is the number (0–255) the CPU uses to index its interrupt
//! descriptor table and find a handler. Every interrupt source — an IOAPIC
//! pin, an MSI, an IPI, the APIC timer — is told which vector to raise, so
//! vectors are a per-CPU resource: two sources sharing a vector on one CPU
//! would run each other's handlers. The kernel keeps one
//! [`VectorAllocator`] per CPU.
//!
//! **Not every vector can be handed out.** Vectors 0–31 belong to the CPU
//! itself: exceptions such as divide error (0), NMI (2), invalid opcode (6),
//! double fault (8), general protection (13) and page fault (14), with 21–31
//! reserved for future ones `[SDM 3A §6.2]`. A device interrupt on vector 14
//! would be indistinguishable from a page fault — and the CPU pushes an error
//! code for some exceptions but never for an interrupt, so the stub would even
//! misread the stack. The local APIC refuses vectors 0–15 outright (an
//! "illegal vector" error). Vector 255 is kept for the local APIC's
//! **spurious** interrupt: early APICs forced its low four bits to 1, so it
//! had to be 0x?F, and 0xFF is the conventional choice (Linux's too). That
//! leaves 32–254, 223 vectors.
//!
//! **Priority.** A vector's priority class is `vector >> 4`; the local APIC
//! serves higher classes first (see [`lapic`](crate::lapic)). [`alloc`]
//! hands out the lowest free vector, so device interrupts fill the low
//! classes; vectors that must preempt them (IPIs, the timer) can be
//! [`reserve`]d high up.
//!
//! **Blocks.** Multi-message MSI needs 2ⁿ consecutive vectors starting at a
//! multiple of 2ⁿ (see [`msi`](crate::msi)): [`alloc_block`] with `aligned`.
//!
//! The state is a 256-bit bitmap — no heap, `const`-constructible, so one can
//! live in a per-CPU static.
//!
//! [`alloc`]: VectorAllocator::alloc
//! [`reserve`]: VectorAllocator::reserve
//! [`alloc_block`]: VectorAllocator::alloc_block

use crate::Error;

/// The architectural vector map, named once (DESIGN.md, rule 3).
pub mod regs {
    /// Vectors below this are exceptions or reserved for them
    /// `[SDM 3A §6.2, table 6-1]`; the first one a device may use.
    pub const FIRST_ALLOCATABLE: u8 = 32;
    /// The spurious-interrupt vector programmed into the local APIC's SVR
    /// `[SDM 3A §11.9]` (a convention, not architecture).
    pub const SPURIOUS: u8 = 0xff;
    /// The last vector a device may use.
    pub const LAST_ALLOCATABLE: u8 = SPURIOUS - 1;
    /// The largest multi-message MSI block: the MSI capability's Multiple
    /// Message Enable field is 3 bits, encoding 1, 2, 4, 8, 16 or 32 messages
    /// (PCI Local Bus Specification 3.0 §6.8.1.3).
    pub const MAX_BLOCK: usize = 32;
    /// Vector `>> 4` is its priority class `[SDM 3A §11.8.3]`.
    pub const PRIORITY_CLASS_SHIFT: u32 = 4;
}

/// How many vectors can be allocated (32–254).
pub const CAPACITY: usize = (regs::LAST_ALLOCATABLE - regs::FIRST_ALLOCATABLE) as usize + 1;

const WORD_BITS: usize = u64::BITS as usize;
const WORDS: usize = (u8::MAX as usize + 1) / WORD_BITS;

/// The priority class of `vector` (0–15).
pub const fn priority_class(vector: u8) -> u8 {
    vector >> regs::PRIORITY_CLASS_SHIFT
}

/// Which of one CPU's vectors are in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorAllocator {
    /// Bit `v` set: vector `v` is allocated or reserved. Bits outside
    /// 32..=254 are never set.
    used: [u64; WORDS],
    failures: u64,
}

impl Default for VectorAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl VectorAllocator {
    /// All 223 vectors free.
    pub const fn new() -> Self {
        VectorAllocator { used: [0; WORDS], failures: 0 }
    }

    /// Allocates the lowest free vector.
    pub fn alloc(&mut self) -> Result<u8, Error> {
        self.alloc_block(1, false)
    }

    /// Allocates `count` consecutive vectors and returns the first.
    ///
    /// `count` must be a power of two up to [`regs::MAX_BLOCK`]. With
    /// `aligned`, the first vector is a multiple of `count`, as multi-message
    /// MSI requires.
    pub fn alloc_block(&mut self, count: usize, aligned: bool) -> Result<u8, Error> {
        check_block_size(count)?;
        let step = if aligned { count } else { 1 };
        let first = usize::from(regs::FIRST_ALLOCATABLE).next_multiple_of(step);
        let end = usize::from(regs::LAST_ALLOCATABLE) + 1;
        let mut start = first;
        while start + count <= end {
            if (start..start + count).all(|v| !self.get(v)) {
                (start..start + count).for_each(|v| self.set(v, true));
                return Ok(start as u8);
            }
            start += step;
        }
        self.failures += 1;
        Err(Error::NoFreeVectors { count })
    }

    /// Frees one vector. Freeing a vector that is not allocated — a double
    /// free — is an error and changes nothing.
    pub fn free(&mut self, vector: u8) -> Result<(), Error> {
        self.free_block(vector, 1)
    }

    /// Frees the `count` vectors from `first`, all or nothing: if any of them
    /// is not allocated, none is freed.
    pub fn free_block(&mut self, first: u8, count: usize) -> Result<(), Error> {
        check_block_size(count)?;
        let first_idx = usize::from(first);
        for v in first_idx..first_idx + count {
            check_allocatable(v)?;
            if !self.get(v) {
                return Err(Error::NotAllocated(v as u8));
            }
        }
        (first_idx..first_idx + count).for_each(|v| self.set(v, false));
        Ok(())
    }

    /// Marks `vector` as in use without allocating it (a fixed IPI vector, a
    /// vector firmware or a legacy path already uses). Undo with [`free`](Self::free).
    pub fn reserve(&mut self, vector: u8) -> Result<(), Error> {
        let v = usize::from(vector);
        check_allocatable(v)?;
        if self.get(v) {
            return Err(Error::VectorInUse(vector));
        }
        self.set(v, true);
        Ok(())
    }

    /// Whether `vector` is allocated or reserved.
    pub fn is_allocated(&self, vector: u8) -> bool {
        self.get(usize::from(vector))
    }

    /// How many vectors are in use.
    pub fn allocated(&self) -> usize {
        self.used.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// How many vectors are free.
    pub fn available(&self) -> usize {
        CAPACITY - self.allocated()
    }

    /// How many allocations failed for lack of vectors (DESIGN.md, rule 6).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    fn get(&self, v: usize) -> bool {
        self.used[v / WORD_BITS] & (1 << (v % WORD_BITS)) != 0
    }

    fn set(&mut self, v: usize, in_use: bool) {
        let bit = 1 << (v % WORD_BITS);
        if in_use {
            self.used[v / WORD_BITS] |= bit;
        } else {
            self.used[v / WORD_BITS] &= !bit;
        }
    }
}

fn check_block_size(count: usize) -> Result<(), Error> {
    if count.is_power_of_two() && count <= regs::MAX_BLOCK {
        Ok(())
    } else {
        Err(Error::InvalidBlockSize(count))
    }
}

/// Fails for vectors outside 32..=254 (exceptions, the spurious vector, or
/// past 255 at the end of a block).
fn check_allocatable(v: usize) -> Result<(), Error> {
    if (usize::from(regs::FIRST_ALLOCATABLE)..=usize::from(regs::LAST_ALLOCATABLE)).contains(&v) {
        Ok(())
    } else {
        // A block running past 255 names vector 255 itself: the spurious one.
        Err(Error::InvalidVector(v.min(usize::from(u8::MAX)) as u8))
    }
}
