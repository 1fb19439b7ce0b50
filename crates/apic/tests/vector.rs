//! The per-CPU vector allocator.

use apic::vector::{priority_class, CAPACITY};
use apic::{Error, VectorAllocator};

/// `const` construction: one allocator per CPU can live in a static.
static _PER_CPU: [VectorAllocator; 2] = [VectorAllocator::new(), VectorAllocator::new()];

#[test]
fn a_fresh_allocator_offers_vectors_32_to_254() {
    let mut v = VectorAllocator::new();
    assert_eq!((v.allocated(), v.available(), CAPACITY), (0, 223, 223));
    assert_eq!(v.alloc(), Ok(32));
    assert_eq!(v.alloc(), Ok(33));
    assert_eq!((v.allocated(), v.available()), (2, 221));
}

#[test]
fn exhaustion_is_an_error_and_no_exception_or_spurious_vector_is_handed_out() {
    let mut v = VectorAllocator::new();
    let mut got: Vec<u8> = (0..CAPACITY).map(|_| v.alloc().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (32..=254).collect::<Vec<u8>>());
    assert_eq!(v.alloc(), Err(Error::NoFreeVectors { count: 1 }));
    assert_eq!(v.alloc_block(2, false), Err(Error::NoFreeVectors { count: 2 }));
    assert_eq!(v.failures(), 2);
    assert_eq!(v.available(), 0);
    assert!(!v.is_allocated(255) && !v.is_allocated(31));
}

#[test]
fn freed_vectors_are_reused_lowest_first() {
    let mut v = VectorAllocator::new();
    for _ in 0..20 {
        v.alloc().unwrap();
    }
    v.free(45).unwrap();
    v.free(40).unwrap();
    assert!(!v.is_allocated(40));
    assert_eq!(v.alloc(), Ok(40));
    assert_eq!(v.alloc(), Ok(45));
    assert_eq!(v.alloc(), Ok(52));
}

#[test]
fn a_double_free_is_an_error_and_changes_nothing() {
    let mut v = VectorAllocator::new();
    let a = v.alloc().unwrap();
    let b = v.alloc().unwrap();
    v.free(a).unwrap();
    assert_eq!(v.free(a), Err(Error::NotAllocated(a)));
    assert_eq!(v.free(100), Err(Error::NotAllocated(100)), "never allocated");
    assert_eq!(v.allocated(), 1);
    assert!(v.is_allocated(b));
}

#[test]
fn exception_and_spurious_vectors_cannot_be_freed_or_reserved() {
    let mut v = VectorAllocator::new();
    for vector in [0, 14, 31, 255] {
        assert_eq!(v.free(vector), Err(Error::InvalidVector(vector)));
        assert_eq!(v.reserve(vector), Err(Error::InvalidVector(vector)));
    }
    assert_eq!(v.allocated(), 0);
}

#[test]
fn reserved_vectors_are_skipped_and_cannot_be_reserved_twice() {
    let mut v = VectorAllocator::new();
    v.reserve(32).unwrap();
    v.reserve(0xf0).unwrap();
    assert_eq!(v.reserve(32), Err(Error::VectorInUse(32)));
    assert_eq!(v.alloc(), Ok(33));
    assert_eq!(v.allocated(), 3);
    v.free(0xf0).unwrap();
    assert!(!v.is_allocated(0xf0));
}

#[test]
fn aligned_blocks_start_at_a_multiple_of_their_size() {
    let mut v = VectorAllocator::new();
    assert_eq!(v.alloc(), Ok(32));
    assert_eq!(v.alloc_block(8, true), Ok(40), "32..40 holds 32");
    assert_eq!(v.alloc_block(4, true), Ok(36));
    assert_eq!(v.alloc_block(2, true), Ok(34));
    assert_eq!(v.alloc_block(16, true), Ok(48));
    assert_eq!(v.alloc_block(32, true), Ok(64));
    assert_eq!(v.alloc(), Ok(33), "the gap is still usable");
    for n in (32..96).filter(|&n| n != 33) {
        assert!(v.is_allocated(n), "{n}");
    }
}

#[test]
fn unaligned_blocks_take_the_first_run() {
    let mut v = VectorAllocator::new();
    v.alloc().unwrap();
    assert_eq!(v.alloc_block(4, false), Ok(33));
    assert_eq!(v.alloc_block(4, true), Ok(40));
}

#[test]
fn thirty_two_vector_blocks_run_out_before_the_spurious_vector() {
    let mut v = VectorAllocator::new();
    let blocks: Vec<u8> = std::iter::from_fn(|| v.alloc_block(32, true).ok()).collect();
    // 224..=255 would include 255.
    assert_eq!(blocks, [32, 64, 96, 128, 160, 192]);
    assert_eq!(v.alloc_block(32, true), Err(Error::NoFreeVectors { count: 32 }));
    assert_eq!(v.available(), 31, "224..=254 remain for smaller requests");
    assert_eq!(v.alloc_block(16, true), Ok(224));
}

#[test]
fn block_sizes_must_be_powers_of_two_up_to_32() {
    let mut v = VectorAllocator::new();
    for count in [0, 3, 12, 64] {
        assert_eq!(v.alloc_block(count, true), Err(Error::InvalidBlockSize(count)));
    }
    assert_eq!(v.allocated(), 0);
    assert_eq!(v.failures(), 0, "a bad request is not an exhaustion");
}

#[test]
fn free_block_is_all_or_nothing() {
    let mut v = VectorAllocator::new();
    assert_eq!(v.alloc_block(8, true), Ok(32));
    v.free(35).unwrap();
    assert_eq!(v.free_block(32, 8), Err(Error::NotAllocated(35)));
    assert_eq!(v.allocated(), 7, "nothing was freed");
    assert_eq!(v.free_block(248, 8), Err(Error::NotAllocated(248)));
    v.reserve(35).unwrap();
    v.free_block(32, 8).unwrap();
    assert_eq!(v.allocated(), 0);
}

#[test]
fn priority_class_is_the_high_nibble() {
    assert_eq!(priority_class(0x41), 4);
    assert_eq!(priority_class(0xef), 14);
    assert_eq!(priority_class(0x20), 2);
}
