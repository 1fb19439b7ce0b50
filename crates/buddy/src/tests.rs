//! Host tests. Every test checks exact numbers, so a wrong split, a missed
//! merge, a leaked or double-counted frame fails it; `verify()` re-checks
//! every structural invariant after each interesting step.

use super::*;
use std::format;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

/// splitmix64: small, deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

fn meta(n: usize) -> Vec<PageMeta> {
    vec![PageMeta::RESERVED; n]
}

fn check(a: &BuddyAllocator) {
    if let Err(e) = a.verify() {
        panic!("{e}");
    }
}

/// Free blocks per order of the canonical decomposition of a set of free
/// frames: every naturally aligned, wholly free region of up to
/// 2^MAX_ORDER frames is one block. Computed top-down (split a region only
/// if it is not wholly free), independently of the allocator's bottom-up
/// greedy + coalesce. `free(pfn)` says whether an absolute pfn is free.
fn reference_blocks(lo: usize, hi: usize, free: &dyn Fn(usize) -> bool) -> [usize; NR_ORDERS] {
    fn rec(b: usize, o: usize, free: &dyn Fn(usize) -> bool, out: &mut [usize; NR_ORDERS]) {
        let n = (b..b + (1 << o)).filter(|&p| free(p)).count();
        if n == 0 {
            return;
        }
        if n == 1 << o {
            out[o] += 1;
            return;
        }
        rec(b, o - 1, free, out);
        rec(b + (1 << (o - 1)), o - 1, free, out);
    }
    let mut out = [0; NR_ORDERS];
    let mut b = lo & !((1 << MAX_ORDER) - 1);
    while b < hi {
        rec(b, MAX_ORDER, free, &mut out);
        b += 1 << MAX_ORDER;
    }
    out
}

fn one_max_block() -> [usize; NR_ORDERS] {
    let mut f = [0; NR_ORDERS];
    f[MAX_ORDER] = 1;
    f
}

// ---------------------------------------------------------------- basics

#[test]
fn meta_size_is_small_and_matches_the_type() {
    assert_eq!(BuddyAllocator::meta_size(), core::mem::size_of::<PageMeta>());
    assert!(BuddyAllocator::meta_size() <= 12, "{}", BuddyAllocator::meta_size());
}

#[test]
fn new_resets_every_frame_to_reserved() {
    let junk = PageMeta { next: 3, prev: 7, state: State::Free, order: 2 };
    let mut m = vec![junk; 64];
    let mut a = BuddyAllocator::new(&mut m, 0);
    assert_eq!(a.stats(), BuddyStats::default());
    assert_eq!(a.alloc(0), Err(AllocError::OutOfMemory { order: 0 }));
    assert!(!a.is_allocated(0));
    assert_eq!(a.block_containing(4), None);
    check(&a);
    assert!(m.iter().all(|&e| e == PageMeta::RESERVED));
}

#[test]
fn empty_allocator_hands_out_nothing() {
    let mut m = meta(0);
    let mut a = BuddyAllocator::new(&mut m, 0);
    assert_eq!(a.alloc(0), Err(AllocError::OutOfMemory { order: 0 }));
    assert_eq!(a.free(0, 0), Err(FreeError::OutOfRange { pfn: 0 }));
    assert_eq!(a.add_free_range(0, 0), Ok(()));
    check(&a);
}

#[test]
fn aligned_range_becomes_max_order_blocks() {
    let mut m = meta(4096);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 4096).unwrap();
    let s = a.stats();
    let mut want = [0; NR_ORDERS];
    want[MAX_ORDER] = 4;
    assert_eq!(s.free_blocks, want);
    assert_eq!((s.total_pages, s.free_pages), (4096, 4096));
    // Boot-time merges are not traffic.
    assert_eq!((s.splits, s.merges, s.alloc_calls, s.free_calls), (0, 0, 0, 0));
    let mut heads: Vec<usize> = a.free_list(MAX_ORDER).collect();
    heads.sort();
    assert_eq!(heads, [0, 1024, 2048, 3072]);
    check(&a);
}

#[test]
fn first_alloc_splits_down_leaving_one_buddy_per_order() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    assert_eq!(a.alloc(0), Ok(0));
    let s = a.stats();
    assert_eq!(s.splits, MAX_ORDER as u64);
    let mut want = [1; NR_ORDERS];
    want[MAX_ORDER] = 0;
    assert_eq!(s.free_blocks, want);
    assert_eq!(s.free_pages, 1023);
    // The buddy left at order k sits at 2^k.
    for k in 0..MAX_ORDER {
        assert_eq!(a.free_list(k).collect::<Vec<_>>(), [1 << k], "order {k}");
    }
    check(&a);
}

#[test]
fn split_leaves_the_buddy_at_the_right_order() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    assert_eq!(a.alloc(3), Ok(0));
    assert_eq!(a.block_containing(5), Some(Block { pfn: 0, order: 3, state: BlockState::Allocated }));
    for k in 3..MAX_ORDER {
        let buddy = 1 << k; // buddy of block 0 at order k: 0 ^ (1 << k)
        assert_eq!(
            a.block_containing(buddy),
            Some(Block { pfn: buddy, order: k, state: BlockState::Free }),
            "order {k}"
        );
        // ... and its last frame belongs to the same block.
        assert_eq!(a.block_containing(buddy + (1 << k) - 1).unwrap().pfn, buddy);
    }
    assert_eq!(a.stats().free_blocks[..3], [0, 0, 0]);
    assert_eq!(a.stats().splits, (MAX_ORDER - 3) as u64);
    // The next order-3 allocation is exactly the buddy, no further split.
    assert_eq!(a.alloc(3), Ok(8));
    assert_eq!(a.stats().splits, (MAX_ORDER - 3) as u64);
    check(&a);
}

#[test]
fn smallest_sufficient_order_is_used() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let p0 = a.alloc(0).unwrap(); // leaves one free block at each order 0..9
    let splits = a.stats().splits;
    // An order-0 request must take the free order-0 block, not split anything.
    assert_eq!(a.alloc(0), Ok(p0 ^ 1));
    assert_eq!(a.stats().splits, splits);
    // An order-2 request with orders 0,1 empty and order 2 free takes it.
    assert_eq!(a.alloc(2), Ok(4));
    assert_eq!(a.stats().splits, splits);
    check(&a);
}

#[test]
fn alloc_free_roundtrip_restores_everything() {
    let mut m = meta(2048);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 2048).unwrap();
    let before = a.stats();
    let snapshot = a.meta.to_vec();
    let orders = [0, 3, 1, 0, 10, 2, 5, 0, 7, 4];
    let blocks: Vec<(usize, usize)> = orders.iter().map(|&o| (a.alloc(o).unwrap(), o)).collect();
    let used: usize = orders.iter().map(|&o| 1 << o).sum();
    assert_eq!(a.stats().free_pages, 2048 - used);
    check(&a);
    for &(p, o) in blocks.iter().rev() {
        a.free(p, o).unwrap();
    }
    let after = a.stats();
    assert_eq!(after.free_blocks, before.free_blocks);
    assert_eq!(after.free_pages, before.free_pages);
    assert_eq!(after.splits, after.merges, "every split undone by a merge");
    // Freed in exact reverse order the metadata is bit-for-bit restored.
    assert_eq!(a.meta, &snapshot[..]);
    check(&a);
}

#[test]
fn freed_block_is_reused_first() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let x = a.alloc(0).unwrap();
    let y = a.alloc(0).unwrap();
    let _z = a.alloc(0).unwrap();
    a.free(y, 0).unwrap(); // y's buddy x is allocated: no merge
    assert_eq!(a.stats().merges, 0);
    assert_eq!(a.alloc(0), Ok(y));
    a.free(x, 0).unwrap();
    assert_eq!(a.alloc(0), Ok(x));
    check(&a);
}

#[test]
fn coalesces_back_to_max_order_after_random_order_frees() {
    for seed in 1..=5 {
        let mut rng = Rng(seed);
        let mut m = meta(4096);
        let mut a = BuddyAllocator::new(&mut m, 0);
        a.add_free_range(0, 4096).unwrap();
        let mut pages = Vec::new();
        while let Ok(p) = a.alloc(0) {
            pages.push(p);
        }
        assert_eq!(pages.len(), 4096);
        assert_eq!(a.stats().free_blocks, [0; NR_ORDERS]);
        assert_eq!(a.stats().splits, 4 * 1023);
        rng.shuffle(&mut pages);
        for (n, &p) in pages.iter().enumerate() {
            a.free(p, 0).unwrap();
            if n % 512 == 0 {
                check(&a);
            }
        }
        let s = a.stats();
        let mut want = [0; NR_ORDERS];
        want[MAX_ORDER] = 4;
        assert_eq!(s.free_blocks, want, "seed {seed}");
        assert_eq!(s.merges, 4 * 1023, "seed {seed}");
        assert_eq!(s.free_pages, 4096);
        check(&a);
    }
}

#[test]
fn coalesces_mixed_orders_in_random_order() {
    let mut rng = Rng(42);
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let mut blocks = Vec::new();
    loop {
        let o = rng.below(4);
        match a.alloc(o) {
            Ok(p) => blocks.push((p, o)),
            Err(AllocError::OutOfMemory { .. }) if o > 0 => continue,
            Err(_) => break,
        }
    }
    assert_eq!(a.stats().free_pages, 0);
    rng.shuffle(&mut blocks);
    for &(p, o) in &blocks {
        a.free(p, o).unwrap();
    }
    assert_eq!(a.stats().free_blocks, one_max_block());
    check(&a);
}

// ---------------------------------------------------------------- failures

#[test]
fn exhaustion_returns_out_of_memory_and_counts_failures() {
    let mut m = meta(64);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 64).unwrap();
    for i in 0..8 {
        assert_eq!(a.alloc(3), Ok(i * 8));
    }
    assert_eq!(a.alloc(3), Err(AllocError::OutOfMemory { order: 3 }));
    assert_eq!(a.alloc(0), Err(AllocError::OutOfMemory { order: 0 }));
    let s = a.stats();
    assert_eq!((s.alloc_calls, s.failed_allocs), (10, 2));
    assert_eq!(s.free_pages, 0);
    // A free makes exactly that much available again.
    a.free(16, 3).unwrap();
    assert_eq!(a.alloc(4), Err(AllocError::OutOfMemory { order: 4 }));
    assert_eq!(a.alloc(3), Ok(16));
    assert_eq!(a.stats().failed_allocs, 3);
    check(&a);
}

#[test]
fn larger_order_than_any_free_block_fails_even_with_free_pages() {
    // 3..1000: lots of free pages, but no order-10 block fits.
    let mut m = meta(1000);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(3, 1000).unwrap();
    assert_eq!(a.alloc(10), Err(AllocError::OutOfMemory { order: 10 }));
    assert_eq!(a.stats().free_pages, 997);
    assert_eq!(a.alloc(9), Err(AllocError::OutOfMemory { order: 9 }));
    assert_eq!(a.alloc(8).map(|p| p % 256), Ok(0));
    check(&a);
}

#[test]
fn external_fragmentation_blocks_order_1_with_half_memory_free() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let pages: Vec<usize> = (0..1024).map(|_| a.alloc(0).unwrap()).collect();
    for &p in pages.iter().filter(|&&p| p % 2 == 0) {
        a.free(p, 0).unwrap();
    }
    let s = a.stats();
    assert_eq!(s.free_pages, 512);
    let mut want = [0; NR_ORDERS];
    want[0] = 512;
    assert_eq!(s.free_blocks, want);
    assert_eq!(a.alloc(1), Err(AllocError::OutOfMemory { order: 1 }));
    // Freeing one odd page repairs exactly one order-1 block.
    a.free(7, 0).unwrap();
    assert_eq!(a.stats().free_blocks[1], 1);
    assert_eq!(a.alloc(1), Ok(6));
    check(&a);
}

#[test]
fn invalid_order_is_rejected() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let snap = a.meta.to_vec();
    assert_eq!(a.alloc(MAX_ORDER + 1), Err(AllocError::InvalidOrder { order: MAX_ORDER + 1 }));
    assert_eq!(a.alloc(usize::MAX), Err(AllocError::InvalidOrder { order: usize::MAX }));
    assert_eq!(a.free(0, MAX_ORDER + 1), Err(FreeError::InvalidOrder { order: MAX_ORDER + 1 }));
    assert_eq!(a.free(0, 64), Err(FreeError::InvalidOrder { order: 64 }));
    assert_eq!(a.meta, &snap[..]);
    let s = a.stats();
    assert_eq!((s.failed_allocs, s.rejected_frees), (2, 2));
    assert_eq!(s.free_blocks, one_max_block());
    assert_eq!(a.free_list(MAX_ORDER + 1).count(), 0);
    // MAX_ORDER itself is valid.
    assert_eq!(a.alloc(MAX_ORDER), Ok(0));
    assert_eq!(a.free(0, MAX_ORDER), Ok(()));
    check(&a);
}

/// Run a rejected free and check that nothing but the two counters moved.
fn rejected(a: &mut BuddyAllocator, pfn: usize, order: usize) -> FreeError {
    let snap = a.meta.to_vec();
    let heads = a.free_heads;
    let before = a.stats();
    let err = a.free(pfn, order).unwrap_err();
    let after = a.stats();
    assert_eq!(a.meta, &snap[..], "metadata changed by rejected free({pfn}, {order})");
    assert_eq!(a.free_heads, heads);
    assert_eq!(after.free_calls, before.free_calls + 1);
    assert_eq!(after.rejected_frees, before.rejected_frees + 1);
    assert_eq!(BuddyStats { free_calls: before.free_calls, rejected_frees: before.rejected_frees, ..after }, before);
    check(a);
    err
}

#[test]
fn double_free_is_rejected_and_changes_nothing() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let p = a.alloc(2).unwrap();
    let _keep = a.alloc(2).unwrap(); // keeps p from merging all the way up
    a.free(p, 2).unwrap();
    assert_eq!(rejected(&mut a, p, 2), FreeError::NotAllocated { pfn: p });
    // A frame of a merged free block (now a tail) is not allocated either.
    let q = a.alloc(0).unwrap();
    a.free(q, 0).unwrap();
    assert_eq!(rejected(&mut a, q + 1, 0), FreeError::NotAllocated { pfn: q + 1 });
    assert_eq!(a.stats().free_calls, 4);
}

#[test]
fn misaligned_free_is_rejected() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let p = a.alloc(3).unwrap();
    assert_eq!(p % 8, 0);
    for off in 1..8 {
        assert_eq!(rejected(&mut a, p + off, 3), FreeError::Misaligned { pfn: p + off, order: 3 });
    }
    assert_eq!(a.free(p, 3), Ok(()));
}

#[test]
fn wrong_order_free_is_rejected() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let p = a.alloc(3).unwrap();
    assert_eq!(p, 0);
    for wrong in [0, 1, 2, 4, 5, MAX_ORDER] {
        assert_eq!(rejected(&mut a, p, wrong), FreeError::WrongOrder { pfn: p, allocated: 3, requested: wrong });
    }
    assert!(a.is_allocated(p));
    assert_eq!(a.free(p, 3), Ok(()));
    assert_eq!(a.stats().free_blocks, one_max_block());
}

#[test]
fn free_inside_an_allocated_block_is_rejected() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let p = a.alloc(3).unwrap();
    for (pfn, order) in [(p + 1, 0), (p + 2, 1), (p + 4, 2), (p + 7, 0)] {
        assert_eq!(rejected(&mut a, pfn, order), FreeError::NotBlockHead { pfn, head: p, order: 3 });
    }
}

#[test]
fn out_of_range_free_is_rejected() {
    let base = 0x1000;
    let mut m = meta(512);
    let mut a = BuddyAllocator::new(&mut m, base);
    a.add_free_range(base, base + 512).unwrap();
    let _p = a.alloc(0).unwrap();
    for pfn in [0, base - 1, base + 512, base + 4096, usize::MAX] {
        assert_eq!(rejected(&mut a, pfn, 0), FreeError::OutOfRange { pfn });
    }
}

#[test]
fn free_of_reserved_or_never_allocated_frames_is_rejected() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 512).unwrap(); // 512..1024 stays reserved
    assert_eq!(rejected(&mut a, 600, 0), FreeError::NotAllocated { pfn: 600 });
    assert_eq!(rejected(&mut a, 512, 9), FreeError::NotAllocated { pfn: 512 });
    // A free frame that was never allocated.
    assert_eq!(rejected(&mut a, 0, 9), FreeError::NotAllocated { pfn: 0 });
    assert_eq!(rejected(&mut a, 100, 0), FreeError::NotAllocated { pfn: 100 });
}

// ---------------------------------------------------------------- ranges

#[test]
fn unaligned_range_is_fully_usable_and_nothing_outside_is_handed_out() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(3, 1000).unwrap();
    assert_eq!(a.stats().total_pages, 997);
    let mut seen = vec![false; 1024];
    while let Ok(p) = a.alloc(0) {
        assert!((3..1000).contains(&p), "handed out {p}");
        assert!(!seen[p], "handed out {p} twice");
        seen[p] = true;
    }
    assert_eq!(seen.iter().filter(|&&s| s).count(), 997);
    for p in [0, 1, 2, 1000, 1023] {
        assert!(!a.is_allocated(p));
        assert_eq!(a.block_containing(p), None);
    }
    check(&a);
    // And it all comes back as the same decomposition.
    for p in 3..1000 {
        a.free(p, 0).unwrap();
    }
    assert_eq!(a.stats().free_blocks, reference_blocks(0, 1024, &|p| (3..1000).contains(&p)));
    check(&a);
}

#[test]
fn unaligned_range_decomposes_into_largest_aligned_blocks() {
    for (lo, hi) in [(3, 1000), (1, 2), (5, 6), (1023, 1025), (7, 2049), (100, 3000), (0, 4095)] {
        let mut m = meta(4096);
        let mut a = BuddyAllocator::new(&mut m, 0);
        a.add_free_range(lo, hi).unwrap();
        let want = reference_blocks(0, 4096, &|p| (lo..hi).contains(&p));
        assert_eq!(a.stats().free_blocks, want, "{lo}..{hi}");
        check(&a);
    }
    // By hand, for one: 3..1000 = 3 | 4..8 | 8..16 | ... | 256..512 | 512..768
    // | 768..896 | 896..960 | 960..992 | 992..1000
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(3, 1000).unwrap();
    assert_eq!(a.stats().free_blocks, [1, 0, 1, 2, 1, 2, 2, 2, 2, 0, 0]);
}

#[test]
fn unaligned_range_large_blocks_stay_inside() {
    let mut m = meta(2048);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(37, 1901).unwrap();
    let mut got = 0;
    for order in (0..=MAX_ORDER).rev() {
        while let Ok(p) = a.alloc(order) {
            assert_eq!(p % (1 << order), 0);
            assert!(p >= 37 && p + (1 << order) <= 1901, "order {order} at {p}");
            got += 1 << order;
        }
    }
    assert_eq!(got, 1901 - 37);
    check(&a);
}

#[test]
fn two_adjacent_ranges_added_separately_coalesce() {
    for (first, second) in [((512, 1024), (0, 512)), ((0, 3), (3, 1024)), ((5, 1024), (0, 5))] {
        let mut m = meta(1024);
        let mut a = BuddyAllocator::new(&mut m, 0);
        a.add_free_range(first.0, first.1).unwrap();
        a.add_free_range(second.0, second.1).unwrap();
        assert_eq!(a.stats().free_blocks, one_max_block(), "{first:?} {second:?}");
        assert_eq!(a.stats().total_pages, 1024);
        assert_eq!(a.alloc(MAX_ORDER), Ok(0));
        check(&a);
    }
}

#[test]
fn many_pieces_in_random_order_coalesce() {
    let mut rng = Rng(7);
    let mut cuts: Vec<usize> = (0..60).map(|_| 1 + rng.below(4095)).collect();
    cuts.push(0);
    cuts.push(4096);
    cuts.sort();
    cuts.dedup();
    let mut pieces: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    rng.shuffle(&mut pieces);
    let mut m = meta(4096);
    let mut a = BuddyAllocator::new(&mut m, 0);
    for (i, &(lo, hi)) in pieces.iter().enumerate() {
        a.add_free_range(lo, hi).unwrap();
        check(&a);
        let added = &pieces[..=i];
        let want = reference_blocks(0, 4096, &|p| added.iter().any(|&(l, h)| (l..h).contains(&p)));
        assert_eq!(a.stats().free_blocks, want, "after {} pieces", i + 1);
    }
    let mut want = [0; NR_ORDERS];
    want[MAX_ORDER] = 4;
    assert_eq!(a.stats().free_blocks, want);
}

#[test]
fn holes_between_ranges_are_never_handed_out_nor_merged_across() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 100).unwrap();
    a.add_free_range(200, 1024).unwrap();
    let mut n = 0;
    while let Ok(p) = a.alloc(0) {
        assert!(!(100..200).contains(&p), "hole frame {p} handed out");
        n += 1;
    }
    assert_eq!(n, 924);
    // Free 96..100 and 200..208: their would-be buddies are in the hole.
    for p in (96..100).chain(200..208) {
        a.free(p, 0).unwrap();
    }
    let mut want = [0; NR_ORDERS];
    want[2] = 1; // 96..100
    want[3] = 1; // 200..208
    assert_eq!(a.stats().free_blocks, want);
    check(&a);
}

#[test]
fn add_free_range_rejects_bad_ranges_and_changes_nothing() {
    let base = 1000;
    let mut m = meta(1000);
    let mut a = BuddyAllocator::new(&mut m, base);
    a.add_free_range(1200, 1300).unwrap();
    let p = a.alloc(0).unwrap();
    let snap = a.meta.to_vec();
    let stats = a.stats();
    let oor = |start, end| RangeError::OutOfRange { start, end, managed_start: 1000, managed_end: 2000 };
    let cases = [
        ((1500, 1400), RangeError::Inverted { start: 1500, end: 1400 }),
        ((999, 1100), oor(999, 1100)),
        ((0, 10), oor(0, 10)),
        ((1900, 2001), oor(1900, 2001)),
        ((1500, usize::MAX), oor(1500, usize::MAX)),
        ((1100, 1201), RangeError::Overlap { pfn: 1200 }), // free frame
        ((1299, 1400), RangeError::Overlap { pfn: 1299 }), // free frame at the end
        ((1250, 1260), RangeError::Overlap { pfn: 1250 }), // inside
        ((p, p + 1), RangeError::Overlap { pfn: p }),      // allocated frame
        ((1000, 2000), RangeError::Overlap { pfn: 1200 }),
    ];
    for ((s, e), want) in cases {
        assert_eq!(a.add_free_range(s, e), Err(want), "{s}..{e}");
        assert_eq!(a.meta, &snap[..], "{s}..{e} changed metadata");
        assert_eq!(a.stats(), stats);
    }
    // The touching neighbours are fine.
    a.add_free_range(1000, 1200).unwrap();
    a.add_free_range(1300, 2000).unwrap();
    assert_eq!(a.stats().total_pages, 1000);
    check(&a);
}

#[test]
fn empty_range_is_a_no_op() {
    let mut m = meta(64);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(10, 20).unwrap();
    let snap = a.meta.to_vec();
    assert_eq!(a.add_free_range(15, 15), Ok(())); // even inside a free range
    assert_eq!(a.add_free_range(64, 64), Ok(()));
    assert_eq!(a.meta, &snap[..]);
    assert_eq!(a.stats().total_pages, 10);
}

// ---------------------------------------------------------------- base, alignment

#[test]
fn nonzero_unaligned_base_aligns_blocks_by_absolute_pfn() {
    let base = 0x1_0003; // not aligned to anything above order 0
    let len = 3000;
    let mut m = meta(len);
    let mut a = BuddyAllocator::new(&mut m, base);
    assert_eq!((a.base_pfn(), a.end_pfn()), (base, base + len));
    a.add_free_range(base, base + len).unwrap();
    assert_eq!(a.stats().free_blocks, reference_blocks(base, base + len, &|p| (base..base + len).contains(&p)));
    // 0x10400 is the first order-10 boundary inside: that is where the max block is.
    assert_eq!(a.alloc(MAX_ORDER), Ok(0x1_0400));
    assert_eq!(a.alloc(MAX_ORDER), Err(AllocError::OutOfMemory { order: MAX_ORDER }));
    let mut total = 1024;
    for order in (0..MAX_ORDER).rev() {
        while let Ok(p) = a.alloc(order) {
            assert_eq!(p % (1 << order), 0, "order {order} at {p:#x}");
            assert!(p >= base && p + (1 << order) <= base + len);
            total += 1 << order;
        }
    }
    assert_eq!(total, len);
    check(&a);
}

#[test]
fn nonzero_base_roundtrip_and_coalesce() {
    let base = 0x4_0000; // 1 GiB
    let mut m = meta(2048);
    let mut a = BuddyAllocator::new(&mut m, base);
    a.add_free_range(base + 1024, base + 2048).unwrap();
    a.add_free_range(base, base + 1024).unwrap();
    let mut want = [0; NR_ORDERS];
    want[MAX_ORDER] = 2;
    assert_eq!(a.stats().free_blocks, want);
    let mut rng = Rng(99);
    let mut pages: Vec<usize> = (0..2048).map(|_| a.alloc(0).unwrap()).collect();
    assert!(pages.iter().all(|&p| (base..base + 2048).contains(&p)));
    rng.shuffle(&mut pages);
    for p in pages {
        a.free(p, 0).unwrap();
    }
    assert_eq!(a.stats().free_blocks, want);
    assert_eq!(a.free(base - 1, 0), Err(FreeError::OutOfRange { pfn: base - 1 }));
    check(&a);
}

#[test]
fn buddy_beyond_the_metadata_is_never_touched() {
    // 1000 frames: the block at 992 (order 3) has its buddy at 1000, past
    // the array; a merge attempt must stop there, not index out of bounds.
    let mut m = meta(1000);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1000).unwrap();
    let mut all = Vec::new();
    while let Ok(p) = a.alloc(0) {
        all.push(p);
    }
    for p in all.into_iter().rev() {
        a.free(p, 0).unwrap();
    }
    assert_eq!(a.stats().free_blocks, reference_blocks(0, 1000, &|p| p < 1000));
    // And below a non-zero base: the block at base's buddy is below it.
    let mut m2 = meta(8);
    let mut b = BuddyAllocator::new(&mut m2, 8);
    b.add_free_range(8, 16).unwrap();
    assert_eq!(b.alloc(3), Ok(8));
    assert_eq!(b.free(8, 3), Ok(()));
    assert_eq!(b.stats().free_blocks[3], 1);
    check(&a);
    check(&b);
}

#[test]
fn metadata_reaching_the_top_of_the_address_space_is_clamped() {
    // 10 entries from usize::MAX - 4: only 4 frames exist below usize::MAX.
    let base = usize::MAX - 4;
    let mut m = meta(10);
    let mut a = BuddyAllocator::new(&mut m, base);
    assert_eq!(a.end_pfn(), usize::MAX);
    a.add_free_range(base, usize::MAX).unwrap();
    assert_eq!(a.stats().free_blocks[..2], [2, 1]);
    let mut got: Vec<(usize, usize)> = Vec::new();
    for order in [1, 0, 0] {
        got.push((a.alloc(order).unwrap(), order));
    }
    assert_eq!(got, [(usize::MAX - 3, 1), (usize::MAX - 1, 0), (usize::MAX - 4, 0)]);
    for (p, o) in got {
        a.free(p, o).unwrap();
    }
    assert_eq!(a.stats().free_blocks[..2], [2, 1]);
    assert_eq!(a.free(usize::MAX, 0), Err(FreeError::OutOfRange { pfn: usize::MAX }));
    check(&a);
}

#[test]
fn blocks_are_naturally_aligned() {
    let mut rng = Rng(3);
    let mut m = meta(8192);
    let mut a = BuddyAllocator::new(&mut m, 0x123);
    a.add_free_range(0x123, 0x123 + 8192).unwrap();
    for _ in 0..2000 {
        let order = rng.below(NR_ORDERS);
        match a.alloc(order) {
            Ok(p) => assert_eq!(p & ((1 << order) - 1), 0, "order {order} at {p:#x}"),
            Err(AllocError::OutOfMemory { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    check(&a);
}

// ---------------------------------------------------------------- queries

#[test]
fn is_allocated_covers_every_frame_of_a_block() {
    let mut m = meta(64);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 64).unwrap();
    let p = a.alloc(4).unwrap();
    let q = a.alloc(0).unwrap();
    for f in 0..64 {
        let want = (p..p + 16).contains(&f) || f == q;
        assert_eq!(a.is_allocated(f), want, "frame {f}");
    }
    assert!(!a.is_allocated(64));
    assert!(!a.is_allocated(usize::MAX));
    a.free(p, 4).unwrap();
    assert!((p..p + 16).all(|f| !a.is_allocated(f)));
    assert_eq!(a.block_containing(p + 3), Some(Block { pfn: p, order: 4, state: BlockState::Free }));
}

#[test]
fn free_list_walks_most_recent_first() {
    let mut m = meta(64);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 64).unwrap();
    let pages: Vec<usize> = (0..64).map(|_| a.alloc(0).unwrap()).collect();
    for &p in [10, 20, 30, 40].iter() {
        a.free(pages[p], 0).unwrap();
    }
    assert_eq!(a.free_list(0).collect::<Vec<_>>(), [40, 30, 20, 10]);
    // Removing from the middle (a merge with 21) keeps the links right.
    a.free(21, 0).unwrap();
    assert_eq!(a.free_list(0).collect::<Vec<_>>(), [40, 30, 10]);
    assert_eq!(a.free_list(1).collect::<Vec<_>>(), [20]);
    check(&a);
}

#[test]
fn counters_count_exactly() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    let x = a.alloc(0).unwrap(); // 10 splits
    let y = a.alloc(0).unwrap(); // 0 splits
    let _ = a.alloc(11);
    a.free(x, 0).unwrap(); // buddy y allocated: 0 merges
    let _ = a.free(x, 0); // rejected
    a.free(y, 0).unwrap(); // 10 merges
    let s = a.stats();
    assert_eq!(s.alloc_calls, 3);
    assert_eq!(s.failed_allocs, 1);
    assert_eq!(s.free_calls, 3);
    assert_eq!(s.rejected_frees, 1);
    assert_eq!(s.splits, 10);
    assert_eq!(s.merges, 10);
}

#[test]
fn order_for_pages_is_ceil_log2() {
    assert_eq!(order_for_pages(0), Some(0));
    assert_eq!(order_for_pages(1), Some(0));
    assert_eq!(order_for_pages(2), Some(1));
    assert_eq!(order_for_pages(3), Some(2));
    assert_eq!(order_for_pages(4), Some(2));
    assert_eq!(order_for_pages(5), Some(3));
    assert_eq!(order_for_pages(1024), Some(10));
    assert_eq!(order_for_pages(1025), None);
    assert_eq!(order_for_pages(usize::MAX), None);
}

#[test]
fn errors_display_their_numbers() {
    let s = FreeError::WrongOrder { pfn: 0x40, allocated: 3, requested: 1 }.to_string();
    assert!(s.contains("0x40") && s.contains('3') && s.contains('1'), "{s}");
    assert!(FreeError::Misaligned { pfn: 0x41, order: 2 }.to_string().contains("0x41"));
    assert!(FreeError::NotAllocated { pfn: 0x42 }.to_string().contains("0x42"));
    assert!(FreeError::OutOfRange { pfn: 0x43 }.to_string().contains("0x43"));
    assert!(FreeError::InvalidOrder { order: 12 }.to_string().contains("12"));
    assert!(FreeError::NotBlockHead { pfn: 0x45, head: 0x44, order: 2 }.to_string().contains("0x44"));
    assert!(AllocError::OutOfMemory { order: 7 }.to_string().contains('7'));
    assert!(AllocError::InvalidOrder { order: 11 }.to_string().contains("11"));
    assert!(RangeError::Overlap { pfn: 0x99 }.to_string().contains("0x99"));
    assert!(RangeError::Inverted { start: 5, end: 4 }.to_string().contains("inverted"));
    let oor = RangeError::OutOfRange { start: 1, end: 2, managed_start: 0x10, managed_end: 0x20 };
    assert!(oor.to_string().contains("0x20"));
    let c = Corruption { pfn: 0x77, what: "x" };
    assert!(c.to_string().contains("0x77"));
}

#[test]
fn stats_display_is_a_buddyinfo_table() {
    let mut m = meta(1024);
    let mut a = BuddyAllocator::new(&mut m, 0);
    a.add_free_range(0, 1024).unwrap();
    a.alloc(0).unwrap();
    let text = format!("{}", a.stats());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "pages: total 1024, free 1023, allocated 1");
    let free: Vec<usize> = lines[2].split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    assert_eq!(free, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    assert!(lines[3].contains("splits 10"), "{text}");
}

// ---------------------------------------------------------------- verify

#[test]
fn verify_catches_corruption() {
    // Free: 1 (o0), 4 (o2), 8 (o3), 16 (o4), 32 (o5); allocated: 0 (o0), 2 (o1).
    fn setup(m: &mut [PageMeta]) -> ([u32; NR_ORDERS], BuddyStats) {
        let mut a = BuddyAllocator::new(m, 0);
        a.add_free_range(0, 64).unwrap();
        assert_eq!(a.alloc(0), Ok(0));
        assert_eq!(a.alloc(1), Ok(2));
        a.verify().unwrap();
        (a.free_heads, a.stats)
    }
    fn corrupt(edit: &dyn Fn(&mut [PageMeta])) -> Corruption {
        let mut m = meta(64);
        let (free_heads, stats) = setup(&mut m);
        edit(&mut m);
        let a = BuddyAllocator { meta: &mut m, base: 0, free_heads, stats };
        a.verify().unwrap_err()
    }
    let c = corrupt(&|m| m[5].state = State::Allocated);
    assert_eq!((c.pfn, c.what), (5, "frame inside a block is not a tail"));
    let c = corrupt(&|m| m[0].order = 2);
    assert_eq!((c.pfn, c.what), (1, "frame inside a block is not a tail"));
    let c = corrupt(&|m| m[4].state = State::Tail);
    assert_eq!((c.pfn, c.what), (4, "tail frame outside any block"));
    let c = corrupt(&|m| m[8].prev = 1);
    assert_eq!((c.pfn, c.what), (8, "free-list prev link broken"));
    let c = corrupt(&|m| m[1].order = 1);
    assert_eq!((c.pfn, c.what), (1, "block not naturally aligned"));
    let c = corrupt(&|m| m[0].state = State::Free);
    assert_eq!((c.pfn, c.what), (0, "free buddies of the same order not coalesced"));
    let c = corrupt(&|m| m[32].order = 11);
    assert_eq!(c.what, "order above MAX_ORDER");
    let c = corrupt(&|m| m[16].next = 8);
    assert_eq!((c.pfn, c.what), (8, "free-list entry is not a free head of this order"));
    // A cycle: the walk must terminate and report it.
    let c = corrupt(&|m| m[16].next = 16);
    assert_eq!((c.pfn, c.what), (16, "free-list prev link broken"));
    // Counters are checked too.
    let mut m = meta(64);
    let (free_heads, mut stats) = setup(&mut m);
    stats.free_pages += 1;
    let a = BuddyAllocator { meta: &mut m, base: 0, free_heads, stats };
    assert_eq!(a.verify().unwrap_err().what, "free_pages disagrees with the free blocks");
}

// ---------------------------------------------------------------- stress

/// Random allocs and frees (and bad frees) against a model: the set of
/// allocated (pfn, order). After every operation: no overlap, everything
/// inside the managed ranges, pages conserved. Periodically: the allocator's
/// free blocks equal the canonical decomposition of the model's free set,
/// `is_allocated` agrees with the model frame by frame, and `verify` passes.
fn stress(seed: u64, ops: usize) {
    let mut rng = Rng(seed);
    let base = 0x2_0007;
    let len = 5000;
    let ranges = [(5, 1200), (1300, 3000), (3000, 4990)];
    let mut m = meta(len);
    let mut a = BuddyAllocator::new(&mut m, base);
    let mut order_added = ranges;
    rng.shuffle(&mut order_added);
    for (lo, hi) in order_added {
        a.add_free_range(base + lo, base + hi).unwrap();
    }
    let managed: Vec<bool> = (0..len).map(|i| ranges.iter().any(|&(l, h)| (l..h).contains(&i))).collect();
    let total = managed.iter().filter(|&&b| b).count();
    assert_eq!(a.stats().total_pages, total);

    let mut owned = vec![false; len]; // model: frame index -> allocated
    let mut live: Vec<(usize, usize)> = Vec::new();
    let mut freed: Vec<(usize, usize)> = Vec::new(); // for double-free attempts
    let mut allocated_pages = 0;

    for op in 0..ops {
        let r = rng.below(100);
        if r < 55 || live.is_empty() {
            // Mostly small orders, sometimes big ones.
            let order = if rng.below(8) == 0 { rng.below(NR_ORDERS) } else { rng.below(3) };
            match a.alloc(order) {
                Ok(p) => {
                    assert_eq!(p % (1 << order), 0, "misaligned order {order} at {p:#x}");
                    assert!(p >= base && p + (1 << order) <= base + len);
                    for i in p - base..p - base + (1 << order) {
                        assert!(managed[i], "frame {:#x} outside the ranges", base + i);
                        assert!(!owned[i], "frame {:#x} handed out twice", base + i);
                        owned[i] = true;
                    }
                    live.push((p, order));
                    allocated_pages += 1 << order;
                }
                Err(AllocError::OutOfMemory { order: o }) => {
                    assert_eq!(o, order);
                    let free = |p: usize| managed[p - base] && !owned[p - base];
                    let want = reference_blocks(base, base + len, &|p| p >= base && p < base + len && free(p));
                    assert!(want[order..].iter().all(|&n| n == 0), "OOM at order {order} but a block exists: {want:?}");
                }
                Err(e) => panic!("{e}"),
            }
        } else if r < 95 {
            let (p, order) = live.swap_remove(rng.below(live.len()));
            a.free(p, order).unwrap();
            owned[p - base..p - base + (1 << order)].fill(false);
            allocated_pages -= 1 << order;
            freed.push((p, order));
        } else {
            // A bad free: must be rejected (unless that frame was handed out
            // again, in which case free it with a wrong order instead).
            let before = a.stats();
            let stale = freed.get(rng.below(freed.len().max(1))).copied();
            match stale {
                // Double free of a block whose first frame is still free.
                Some((p, order)) if !owned[p - base] => {
                    assert_eq!(a.free(p, order), Err(FreeError::NotAllocated { pfn: p }));
                }
                // Otherwise a live block freed with the wrong order.
                _ => {
                    let (p, order) = live[rng.below(live.len())];
                    if order > 0 {
                        let err = a.free(p, order - 1).unwrap_err();
                        assert!(matches!(err, FreeError::WrongOrder { allocated, .. } if allocated == order), "{err}");
                    } else {
                        let err = a.free(p, 1).unwrap_err();
                        assert!(matches!(err, FreeError::WrongOrder { .. } | FreeError::Misaligned { .. }), "{err}");
                    }
                }
            }
            let after = a.stats();
            assert_eq!(after.free_blocks, before.free_blocks);
            assert_eq!(after.free_pages, before.free_pages);
        }
        assert_eq!(a.stats().free_pages + allocated_pages, total, "op {op}");

        if op % 97 == 0 {
            check(&a);
            for (i, &own) in owned.iter().enumerate() {
                assert_eq!(a.is_allocated(base + i), own, "frame {:#x}", base + i);
            }
            let want = reference_blocks(base, base + len, &|p| {
                p >= base && p < base + len && managed[p - base] && !owned[p - base]
            });
            assert_eq!(a.stats().free_blocks, want, "op {op}");
        }
    }

    // Free the rest in random order: everything coalesces back to the boot
    // decomposition.
    rng.shuffle(&mut live);
    for (p, order) in live {
        a.free(p, order).unwrap();
    }
    let s = a.stats();
    assert_eq!(s.free_pages, total);
    assert_eq!(
        s.free_blocks,
        reference_blocks(base, base + len, &|p| p >= base && p < base + len && managed[p - base])
    );
    assert_eq!(s.splits, s.merges, "every split undone");
    check(&a);
}

#[test]
fn stress_against_model_seed_1() {
    stress(1, 20_000);
}

#[test]
fn stress_against_model_seed_2() {
    stress(0xdead_beef, 20_000);
}

#[test]
fn stress_against_model_many_short_runs() {
    for seed in 100..120 {
        stress(seed, 1_500);
    }
}
