//! The binary buddy page-frame allocator: ioxide's `alloc_pages(order)` and
//! `__free_pages(page, order)`.
//!
//! Seed concept: the *page allocator*, "the primary memory allocator and
//! source of memory" under the slab allocator, `kmalloc` and the mempools
//! (`seeds/002`, memory-allocation lecture). Everything else that wants
//! physically contiguous memory — slab caches, DMA buffers, descriptor rings —
//! ultimately asks this allocator for a block of `2^order` page frames.
//!
//! # The model
//!
//! The buddy system is Knowlton's (1965), analysed by Knuth in *The Art of
//! Computer Programming*, vol. 1, §2.5 ("Dynamic Storage Allocation",
//! Algorithms R and S). Linux's zone allocator in `mm/page_alloc.c`
//! (`__rmqueue_smallest`, `expand`, `__free_one_page`) is the same algorithm
//! over `struct page`; this crate follows that shape, written from the
//! description, not from the code.
//!
//! Memory is managed in blocks of `2^order` frames, `order` in
//! `0..=MAX_ORDER`. A block of order `n` always starts at a PFN that is a
//! multiple of `2^n` — *absolute* PFN, not an offset into the managed range —
//! so an order-`n` block's physical address is `2^n`-page aligned. The slab
//! allocator and DMA pools rely on that.
//!
//! ## Allocation: split
//!
//! There is one free list per order. To allocate order `n`, take a block from
//! the smallest order `k >= n` whose list is not empty. While `k > n`, cut the
//! block in two halves of order `k - 1`; keep the lower half and put the upper
//! half on the order `k - 1` free list. Each halving is one *split*.
//!
//! ## The buddy, by XOR
//!
//! The two halves of a block of order `k + 1` are *buddies*. Because blocks
//! are naturally aligned, the buddy of the order-`k` block at PFN `p` differs
//! from `p` in exactly bit `k`:
//!
//! ```text
//! buddy(p, k) = p ^ (1 << k)
//! ```
//!
//! No search and no table: one XOR finds the only block this one can ever be
//! merged with.
//!
//! ## Free: coalesce
//!
//! To free the order-`k` block at `p`, look at its buddy `b = p ^ (1 << k)`.
//! If `b` is inside the managed range and is the head of a *free* block of
//! *the same order*, remove `b` from its free list, merge the two into the
//! order-`k + 1` block at `min(p, b)` and try again one order up, stopping at
//! `MAX_ORDER`. Each step is one *merge*. The result is that the allocator
//! never holds two free buddies of the same order: any naturally aligned,
//! wholly free region of up to `2^MAX_ORDER` frames is a single free block.
//!
//! ## Why the free lists are doubly linked
//!
//! Coalescing has to take the buddy out of *the middle* of its free list: it
//! was found by address, not by walking the list. With a singly linked list
//! that needs the predecessor, i.e. a walk — O(free blocks). With `prev` and
//! `next` links stored in the buddy's own metadata entry it is O(1), so both
//! `alloc` and `free` cost O(`MAX_ORDER`). The links live *inside the
//! metadata array* (one [`PageMeta`] per frame, Linux's `mem_map`), as `u32`
//! frame indices with a sentinel for "none": no pointers, no heap, no
//! `unsafe`.
//!
//! Each block's *head* frame records the block's state (free or allocated)
//! and order; every other frame of a block is marked as a tail. Recording the
//! order of allocated blocks is what lets [`BuddyAllocator::free`] reject a
//! free with the wrong order, a double free, or a pointer into the middle of
//! a block, instead of silently corrupting the free lists.
//!
//! ## External fragmentation
//!
//! Buddies only merge with each other. Free every other page of a region and
//! half of it is free, yet not one order-1 block is: the free pages exist but
//! are not contiguous. [`BuddyAllocator::alloc`] then returns
//! [`AllocError::OutOfMemory`] although [`BuddyStats::free_pages`] is large;
//! [`BuddyStats::free_blocks`] (Linux's `/proc/buddyinfo`) shows it. Linux
//! fights this with migrate types and compaction; ioxide keeps long-lived
//! allocations few and asks for high orders early.
//!
//! ## Giving memory to the allocator
//!
//! Every frame starts [`PageMeta::RESERVED`] (not RAM, or not ours: the
//! kernel image, the metadata array itself, firmware tables). The kernel
//! hands over usable RAM with [`BuddyAllocator::add_free_range`], in any order
//! and any alignment. Each range is cut into the largest naturally aligned
//! blocks that fit and each block is freed through the coalescing path, so
//! ranges that touch merge into large blocks across the seam.
//!
//! # Counters
//!
//! [`BuddyAllocator::stats`] returns calls, failures, rejected frees, splits,
//! merges and the free-block count per order; its `Display` is a
//! `/proc/buddyinfo`-style table for the shell.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

use core::fmt;

/// Largest block order: blocks of `2^MAX_ORDER` frames (4 MiB with 4 KiB
/// pages). Orders run `0..=MAX_ORDER`.
pub const MAX_ORDER: usize = 10;

/// Number of orders, i.e. of free lists.
pub const NR_ORDERS: usize = MAX_ORDER + 1;

/// Sentinel link: "no frame".
const NONE: u32 = u32::MAX;

/// Most frames one allocator manages: links are `u32` indices and
/// `u32::MAX` is the sentinel. Metadata beyond this is ignored.
pub const MAX_FRAMES: usize = NONE as usize;

/// What a frame is, as far as the allocator knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum State {
    /// Not given to the allocator: not RAM, or not ours.
    Reserved,
    /// A frame of a block (free or allocated) other than its head.
    Tail,
    /// Head of a free block; `order`, `next`, `prev` are valid.
    Free,
    /// Head of an allocated block; `order` is valid.
    Allocated,
}

/// Per-frame metadata (Linux's `struct page`, as far as the buddy allocator
/// needs it). The kernel allocates `frames * BuddyAllocator::meta_size()`
/// bytes for an array of these and lends it to [`BuddyAllocator::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageMeta {
    /// Next block in the same free list (frame index), or `NONE`.
    next: u32,
    /// Previous block in the same free list (frame index), or `NONE`.
    prev: u32,
    state: State,
    /// Order of the block this frame heads (heads only).
    order: u8,
}

impl PageMeta {
    /// A frame that is not RAM or not ours. Every frame starts like this.
    pub const RESERVED: PageMeta = PageMeta { next: NONE, prev: NONE, state: State::Reserved, order: 0 };

    /// A non-head frame of a block.
    const TAIL: PageMeta = PageMeta { next: NONE, prev: NONE, state: State::Tail, order: 0 };
}

impl Default for PageMeta {
    fn default() -> Self {
        Self::RESERVED
    }
}

/// Whether a block is on a free list or handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    Free,
    Allocated,
}

/// A block as the allocator sees it: head PFN, order and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub pfn: usize,
    pub order: usize,
    pub state: BlockState,
}

/// Counters, readable from the shell. `Display` prints a
/// `/proc/buddyinfo`-style table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuddyStats {
    /// Frames given to the allocator by `add_free_range`.
    pub total_pages: usize,
    /// Frames currently free.
    pub free_pages: usize,
    /// Every call to `alloc`, successful or not.
    pub alloc_calls: u64,
    /// Every call to `free`, successful or not.
    pub free_calls: u64,
    /// `alloc` calls that returned an error (out of memory or invalid order).
    pub failed_allocs: u64,
    /// `free` calls that were rejected (double free, wrong order, ...).
    pub rejected_frees: u64,
    /// Blocks halved by `alloc`.
    pub splits: u64,
    /// Buddy pairs joined by `free` (merges while adding ranges at boot are
    /// not counted: they are bookkeeping, not traffic).
    pub merges: u64,
    /// Number of free blocks of each order.
    pub free_blocks: [usize; NR_ORDERS],
}

impl fmt::Display for BuddyStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pages: total {}, free {}, allocated {}",
            self.total_pages,
            self.free_pages,
            self.total_pages - self.free_pages
        )?;
        write!(f, "order")?;
        for order in 0..NR_ORDERS {
            write!(f, " {order:>6}")?;
        }
        writeln!(f)?;
        write!(f, "free ")?;
        for n in self.free_blocks {
            write!(f, " {n:>6}")?;
        }
        writeln!(f)?;
        write!(
            f,
            "allocs {} (failed {}), frees {} (rejected {}), splits {}, merges {}",
            self.alloc_calls, self.failed_allocs, self.free_calls, self.rejected_frees, self.splits, self.merges
        )
    }
}

/// Why `add_free_range` refused a range. The allocator is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// `start > end`.
    Inverted { start: usize, end: usize },
    /// Part of the range has no metadata entry.
    OutOfRange { start: usize, end: usize, managed_start: usize, managed_end: usize },
    /// `pfn` already belongs to the allocator (free or allocated).
    Overlap { pfn: usize },
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RangeError::Inverted { start, end } => {
                write!(f, "frame range {start:#x}..{end:#x} is inverted")
            }
            RangeError::OutOfRange { start, end, managed_start, managed_end } => write!(
                f,
                "frame range {start:#x}..{end:#x} is outside the managed frames \
                 {managed_start:#x}..{managed_end:#x}"
            ),
            RangeError::Overlap { pfn } => {
                write!(f, "frame {pfn:#x} already belongs to the allocator")
            }
        }
    }
}

/// Why `alloc` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// `order > MAX_ORDER`.
    InvalidOrder { order: usize },
    /// No free block of `order` or larger.
    OutOfMemory { order: usize },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::InvalidOrder { order } => {
                write!(f, "invalid order {order} (max {MAX_ORDER})")
            }
            AllocError::OutOfMemory { order } => {
                write!(f, "out of memory: no free block of order {order} or above")
            }
        }
    }
}

/// Why `free` refused. The allocator is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// `order > MAX_ORDER`.
    InvalidOrder { order: usize },
    /// `pfn` has no metadata entry.
    OutOfRange { pfn: usize },
    /// `pfn` is not a multiple of `2^order`, so no block of that order starts there.
    Misaligned { pfn: usize, order: usize },
    /// `pfn` is not an allocated frame: already free (double free), or
    /// reserved (never ours).
    NotAllocated { pfn: usize },
    /// `pfn` is inside the allocated block that starts at `head`, not its head.
    NotBlockHead { pfn: usize, head: usize, order: usize },
    /// The block at `pfn` was allocated with order `allocated`.
    WrongOrder { pfn: usize, allocated: usize, requested: usize },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreeError::InvalidOrder { order } => {
                write!(f, "invalid order {order} (max {MAX_ORDER})")
            }
            FreeError::OutOfRange { pfn } => {
                write!(f, "frame {pfn:#x} is outside the managed frames")
            }
            FreeError::Misaligned { pfn, order } => {
                write!(f, "frame {pfn:#x} is not aligned for order {order}")
            }
            FreeError::NotAllocated { pfn } => {
                write!(f, "frame {pfn:#x} is not allocated (double free?)")
            }
            FreeError::NotBlockHead { pfn, head, order } => {
                write!(f, "frame {pfn:#x} is inside the order-{order} block at {head:#x}, not its head")
            }
            FreeError::WrongOrder { pfn, allocated, requested } => {
                write!(f, "frame {pfn:#x} was allocated with order {allocated}, freed with order {requested}")
            }
        }
    }
}

/// What [`BuddyAllocator::verify`] found wrong, at which frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub pfn: usize,
    pub what: &'static str,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "buddy metadata corrupt at frame {:#x}: {}", self.pfn, self.what)
    }
}

/// The smallest order whose block holds `pages` frames (Linux's `get_order`,
/// in pages), or `None` if that is above `MAX_ORDER`. Zero pages is order 0.
pub const fn order_for_pages(pages: usize) -> Option<usize> {
    let mut order = 0;
    while order <= MAX_ORDER {
        if pages <= 1 << order {
            return Some(order);
        }
        order += 1;
    }
    None
}

/// The binary buddy allocator over one contiguous span of frames.
pub struct BuddyAllocator<'a> {
    /// `meta[i]` describes frame `base + i`.
    meta: &'a mut [PageMeta],
    base: usize,
    /// First block (frame index) of each order's free list, or `NONE`.
    free_heads: [u32; NR_ORDERS],
    stats: BuddyStats,
}

impl<'a> BuddyAllocator<'a> {
    /// `meta[i]` describes frame `base_pfn + i`. All frames start reserved
    /// (the array is overwritten). At most [`MAX_FRAMES`] entries are used,
    /// and none past the end of the address space.
    pub fn new(meta: &'a mut [PageMeta], base_pfn: usize) -> Self {
        let len = meta.len().min(MAX_FRAMES).min(usize::MAX - base_pfn);
        let (meta, _) = meta.split_at_mut(len);
        meta.fill(PageMeta::RESERVED);
        BuddyAllocator { meta, base: base_pfn, free_heads: [NONE; NR_ORDERS], stats: BuddyStats::default() }
    }

    /// Bytes of metadata per frame, for sizing the array at boot.
    pub const fn meta_size() -> usize {
        core::mem::size_of::<PageMeta>()
    }

    /// First frame with a metadata entry.
    pub fn base_pfn(&self) -> usize {
        self.base
    }

    /// One past the last frame with a metadata entry.
    pub fn end_pfn(&self) -> usize {
        self.base + self.meta.len()
    }

    /// Give frames `[start_pfn, end_pfn)` to the allocator (usable RAM from
    /// the firmware memory map, minus the kernel image and the like). The
    /// range is cut into the largest naturally aligned blocks that fit, and
    /// each is merged with free buddies, so adjacent ranges coalesce whatever
    /// order they arrive in. An empty range is accepted and does nothing.
    ///
    /// Fails, changing nothing, if the range is inverted, leaves the managed
    /// frames, or touches a frame already given.
    pub fn add_free_range(&mut self, start_pfn: usize, end_pfn: usize) -> Result<(), RangeError> {
        if start_pfn > end_pfn {
            return Err(RangeError::Inverted { start: start_pfn, end: end_pfn });
        }
        if start_pfn < self.base || end_pfn > self.end_pfn() {
            return Err(RangeError::OutOfRange {
                start: start_pfn,
                end: end_pfn,
                managed_start: self.base,
                managed_end: self.end_pfn(),
            });
        }
        let (lo, hi) = (start_pfn - self.base, end_pfn - self.base);
        if let Some(i) = (lo..hi).find(|&i| self.meta[i].state != State::Reserved) {
            return Err(RangeError::Overlap { pfn: self.base + i });
        }

        // Everything becomes a tail first; the loop below then makes heads.
        // A tail is never merged with, so the not-yet-inserted rest of the
        // range cannot be mistaken for a free buddy.
        self.meta[lo..hi].fill(PageMeta::TAIL);
        let mut pfn = start_pfn;
        while pfn < end_pfn {
            let order = largest_fitting_order(pfn, end_pfn - pfn);
            // Boot-time merges are not traffic: not counted.
            self.insert_free(pfn - self.base, order);
            pfn += 1 << order;
        }
        let pages = end_pfn - start_pfn;
        self.stats.total_pages += pages;
        self.stats.free_pages += pages;
        Ok(())
    }

    /// Allocate a block of `2^order` frames; returns its first PFN, a
    /// multiple of `2^order`. Takes the smallest free block of at least that
    /// order and splits it down.
    pub fn alloc(&mut self, order: usize) -> Result<usize, AllocError> {
        self.stats.alloc_calls += 1;
        if order > MAX_ORDER {
            self.stats.failed_allocs += 1;
            return Err(AllocError::InvalidOrder { order });
        }
        let Some(mut k) = (order..NR_ORDERS).find(|&k| self.free_heads[k] != NONE) else {
            self.stats.failed_allocs += 1;
            return Err(AllocError::OutOfMemory { order });
        };
        let idx = self.free_heads[k] as usize;
        self.unlink(idx, k);
        // Keep the lower half, free the upper half (the buddy), one order down.
        while k > order {
            k -= 1;
            self.push(idx + (1 << k), k);
            self.stats.splits += 1;
        }
        self.meta[idx] = PageMeta { next: NONE, prev: NONE, state: State::Allocated, order: order as u8 };
        self.stats.free_pages -= 1 << order;
        Ok(self.base + idx)
    }

    /// Free the block of `2^order` frames at `pfn`, which `alloc(order)`
    /// returned. Merges it with its buddy as far up as possible.
    ///
    /// Fails, changing nothing but the `free_calls`/`rejected_frees`
    /// counters, on an invalid order, a PFN outside the managed frames, a
    /// PFN not aligned for the order, a frame that is not allocated (double
    /// free), a frame inside a block, or an order different from the one
    /// allocated.
    pub fn free(&mut self, pfn: usize, order: usize) -> Result<(), FreeError> {
        self.stats.free_calls += 1;
        match self.check_free(pfn, order) {
            Ok(idx) => {
                let merges = self.insert_free(idx, order);
                self.stats.merges += merges;
                self.stats.free_pages += 1 << order;
                Ok(())
            }
            Err(e) => {
                self.stats.rejected_frees += 1;
                Err(e)
            }
        }
    }

    /// Whether frame `pfn` is part of an allocated block (head or not).
    /// Reserved and out-of-range frames are not.
    pub fn is_allocated(&self, pfn: usize) -> bool {
        matches!(self.block_containing(pfn), Some(Block { state: BlockState::Allocated, .. }))
    }

    /// The block frame `pfn` belongs to, or `None` if it is reserved or
    /// outside the managed frames. O(`MAX_ORDER`): blocks are naturally
    /// aligned, so the head can only be `pfn` rounded down to some order.
    pub fn block_containing(&self, pfn: usize) -> Option<Block> {
        if pfn < self.base || pfn >= self.end_pfn() {
            return None;
        }
        if self.meta[pfn - self.base].state == State::Reserved {
            return None;
        }
        for order in 0..NR_ORDERS {
            let head = pfn & !((1usize << order) - 1);
            if head < self.base {
                break;
            }
            let m = self.meta[head - self.base];
            if usize::from(m.order) != order {
                continue;
            }
            let state = match m.state {
                State::Free => BlockState::Free,
                State::Allocated => BlockState::Allocated,
                State::Reserved | State::Tail => continue,
            };
            return Some(Block { pfn: head, order, state });
        }
        None
    }

    /// PFNs of the free blocks of `order`, in list order (most recently
    /// freed first). Empty for an invalid order.
    pub fn free_list(&self, order: usize) -> FreeList<'_> {
        let (next, remaining) = match self.stats.free_blocks.get(order) {
            Some(&n) => (self.free_heads[order], n),
            None => (NONE, 0),
        };
        FreeList { meta: self.meta, base: self.base, next, remaining }
    }

    /// Counters and free blocks per order.
    pub fn stats(&self) -> BuddyStats {
        self.stats
    }

    /// Check every invariant, O(frames): each managed frame belongs to
    /// exactly one naturally aligned block; free lists are consistent,
    /// doubly linked and match the free heads; no two free buddies of the
    /// same order exist; page counts add up. For in-kernel tests and the
    /// shell; `alloc` and `free` never need it.
    pub fn verify(&self) -> Result<(), Corruption> {
        let len = self.meta.len();
        let bad = |i: usize, what| Err(Corruption { pfn: self.base + i, what });
        let mut free_heads = [0usize; NR_ORDERS];
        let (mut managed, mut free) = (0usize, 0usize);
        let mut i = 0;
        while i < len {
            let m = self.meta[i];
            match m.state {
                State::Reserved => {
                    i += 1;
                    continue;
                }
                State::Tail => return bad(i, "tail frame outside any block"),
                State::Free | State::Allocated => {}
            }
            let order = usize::from(m.order);
            if order > MAX_ORDER {
                return bad(i, "order above MAX_ORDER");
            }
            let pfn = self.base + i;
            if pfn & ((1 << order) - 1) != 0 {
                return bad(i, "block not naturally aligned");
            }
            let size = 1usize << order;
            if size > len - i {
                return bad(i, "block runs past the managed frames");
            }
            if let Some(j) = (i + 1..i + size).find(|&j| self.meta[j].state != State::Tail) {
                return bad(j, "frame inside a block is not a tail");
            }
            managed += size;
            if m.state == State::Free {
                free += size;
                free_heads[order] += 1;
                let buddy = pfn ^ size;
                if order < MAX_ORDER && buddy >= self.base && buddy < self.end_pfn() {
                    let b = self.meta[buddy - self.base];
                    if b.state == State::Free && usize::from(b.order) == order {
                        return bad(i, "free buddies of the same order not coalesced");
                    }
                }
            }
            i += size;
        }

        for (order, &count) in free_heads.iter().enumerate() {
            let mut prev = NONE;
            let mut cur = self.free_heads[order];
            let mut seen = 0;
            while cur != NONE {
                let c = cur as usize;
                if c >= len {
                    return bad(0, "free-list link past the managed frames");
                }
                let m = self.meta[c];
                if m.state != State::Free || usize::from(m.order) != order {
                    return bad(c, "free-list entry is not a free head of this order");
                }
                if m.prev != prev {
                    return bad(c, "free-list prev link broken");
                }
                seen += 1;
                if seen > count {
                    return bad(c, "free list longer than the free heads (cycle?)");
                }
                prev = cur;
                cur = m.next;
            }
            if seen != count {
                return bad(0, "free list misses free heads");
            }
            if self.stats.free_blocks[order] != count {
                return bad(0, "free_blocks counter disagrees with the free lists");
            }
        }
        if managed != self.stats.total_pages {
            return bad(0, "total_pages disagrees with the blocks");
        }
        if free != self.stats.free_pages {
            return bad(0, "free_pages disagrees with the free blocks");
        }
        Ok(())
    }

    /// Validate a free; on success returns the frame index of the block head.
    fn check_free(&self, pfn: usize, order: usize) -> Result<usize, FreeError> {
        if order > MAX_ORDER {
            return Err(FreeError::InvalidOrder { order });
        }
        if pfn < self.base || pfn >= self.end_pfn() {
            return Err(FreeError::OutOfRange { pfn });
        }
        if pfn & ((1 << order) - 1) != 0 {
            return Err(FreeError::Misaligned { pfn, order });
        }
        let idx = pfn - self.base;
        let m = self.meta[idx];
        match m.state {
            State::Allocated if usize::from(m.order) == order => Ok(idx),
            State::Allocated => Err(FreeError::WrongOrder { pfn, allocated: usize::from(m.order), requested: order }),
            State::Tail => match self.block_containing(pfn) {
                Some(Block { pfn: head, order, state: BlockState::Allocated }) => {
                    Err(FreeError::NotBlockHead { pfn, head, order })
                }
                _ => Err(FreeError::NotAllocated { pfn }),
            },
            State::Free | State::Reserved => Err(FreeError::NotAllocated { pfn }),
        }
    }

    /// Put the block at frame index `idx` of `order` on the free lists,
    /// merging with free buddies first. Returns the number of merges.
    fn insert_free(&mut self, idx: usize, order: usize) -> u64 {
        let end = self.end_pfn();
        let mut pfn = self.base + idx;
        let mut order = order;
        let mut merges = 0;
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            if buddy < self.base || buddy >= end {
                break;
            }
            let b = buddy - self.base;
            let m = self.meta[b];
            if m.state != State::Free || usize::from(m.order) != order {
                break;
            }
            // The O(1) removal the doubly linked lists exist for.
            self.unlink(b, order);
            let tail = pfn.max(buddy);
            self.meta[tail - self.base] = PageMeta::TAIL;
            pfn = pfn.min(buddy);
            order += 1;
            merges += 1;
        }
        self.push(pfn - self.base, order);
        merges
    }

    /// Make frame `idx` a free head of `order` at the front of its list
    /// (LIFO: the most recently freed block is the cache-warmest).
    fn push(&mut self, idx: usize, order: usize) {
        let old = self.free_heads[order];
        self.meta[idx] = PageMeta { next: old, prev: NONE, state: State::Free, order: order as u8 };
        if old != NONE {
            self.meta[old as usize].prev = idx as u32;
        }
        self.free_heads[order] = idx as u32;
        self.stats.free_blocks[order] += 1;
    }

    /// Take the free head `idx` off the `order` list in O(1). The caller
    /// overwrites the entry with what the frame becomes (allocated head,
    /// tail, or a free head one order up).
    fn unlink(&mut self, idx: usize, order: usize) {
        let PageMeta { next, prev, .. } = self.meta[idx];
        if prev == NONE {
            self.free_heads[order] = next;
        } else {
            self.meta[prev as usize].next = next;
        }
        if next != NONE {
            self.meta[next as usize].prev = prev;
        }
        self.stats.free_blocks[order] -= 1;
    }
}

/// The largest order of a naturally aligned block starting at `pfn` that fits
/// in `pages` (> 0) frames.
fn largest_fitting_order(pfn: usize, pages: usize) -> usize {
    let align = pfn.trailing_zeros() as usize; // 64 for pfn 0
    let fit = (usize::BITS - 1 - pages.leading_zeros()) as usize; // floor(log2)
    MAX_ORDER.min(align).min(fit)
}

/// Iterator over the PFNs of one order's free list; see
/// [`BuddyAllocator::free_list`].
pub struct FreeList<'b> {
    meta: &'b [PageMeta],
    base: usize,
    next: u32,
    /// Bounds the walk by the counter even if the metadata were corrupt.
    remaining: usize,
}

impl Iterator for FreeList<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.next == NONE || self.remaining == 0 {
            return None;
        }
        let idx = self.next as usize;
        self.next = self.meta.get(idx)?.next;
        self.remaining -= 1;
        Some(self.base + idx)
    }
}

#[cfg(test)]
mod tests;
