//! `meminfo`: every memory-management counter.

use alloc::string::String;
use core::sync::atomic::Ordering;

use super::commands::no_args;
use crate::mm::{self, frame, heap, mempool, paging, slab};
use crate::println;

pub fn meminfo(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    if let Some(s) = frame::stats() {
        println!("buddy page allocator:");
        println!("  total pages: {}", s.total_pages);
        println!("  free pages: {}", s.free_pages);
        println!(
            "  allocs {} frees {} failed {} splits {} merges {}",
            s.alloc_calls, s.free_calls, s.failed_allocs, s.splits, s.merges
        );
        crate::print!("  free blocks by order:");
        for (order, n) in s.free_blocks.iter().enumerate() {
            crate::print!(" {order}:{n}");
        }
        println!();
    }
    let d = &crate::dma::STATS;
    println!(
        "DMA: mapper {}, {} live buffers ({} bytes), allocs {} frees {} zone fallbacks {} failures {}; \
         {} streaming mappings ({} bytes)",
        crate::dma::mapper().name(),
        d.live_mappings.load(Ordering::Relaxed),
        d.live_bytes.load(Ordering::Relaxed),
        d.allocs.load(Ordering::Relaxed),
        d.frees.load(Ordering::Relaxed),
        d.zone_fallbacks.load(Ordering::Relaxed),
        d.failures.load(Ordering::Relaxed),
        crate::dma::STREAMING_LIVE.load(Ordering::Relaxed),
        crate::dma::STREAMING_BYTES.load(Ordering::Relaxed)
    );
    if let Some(z) = crate::mm::dma_zone::stats() {
        println!("ZONE_DMA: {} pages, {} free", z.total_pages, z.free_pages);
    }
    let p = paging::stats();
    println!("page tables: {} table pages, {} maps, {} unmaps", p.table_pages, p.maps, p.unmaps);
    println!(
        "ioremap: {} live mappings, {} bytes",
        mm::ioremap::LIVE_MAPPINGS.load(Ordering::Relaxed),
        mm::ioremap::LIVE_BYTES.load(Ordering::Relaxed)
    );
    println!("memblock (boot): {} bytes", mm::memblock::allocated_bytes());
    println!("heap (kmalloc): {} bytes in use", heap::bytes_in_use());
    println!(
        "  large: allocs {} frees {} pages in use {} failed {}",
        heap::LARGE.allocs.load(Ordering::Relaxed),
        heap::LARGE.frees.load(Ordering::Relaxed),
        heap::LARGE.pages_inuse.load(Ordering::Relaxed),
        heap::LARGE.failures.load(Ordering::Relaxed)
    );
    println!("slab caches:");
    println!(
        "  {:<16} {:>6} {:>6} {:>5} {:>5} {:>6} {:>8} {:>8} {:>8} {:>5}",
        "name", "objsz", "inuse", "slabs", "order", "perslb", "allocs", "frees", "failed", "bad"
    );
    slab::for_each(|s| {
        println!(
            "  {:<16} {:>6} {:>6} {:>5} {:>5} {:>6} {:>8} {:>8} {:>8} {:>5}",
            s.name,
            s.object_size,
            s.objects_inuse,
            s.slabs,
            s.slab_order,
            s.objects_per_slab,
            s.allocs,
            s.frees,
            s.failures,
            s.bad_frees
        );
    });
    println!("mempools:");
    let mut pools = 0;
    mempool::for_each(|m| {
        pools += 1;
        println!(
            "  {:<16} reserve {}/{} from-cache {} from-reserve {} exhausted {} frees {}",
            m.name, m.reserve, m.min_nr, m.from_cache, m.from_reserve, m.exhausted, m.frees
        );
    });
    if pools == 0 {
        println!("  (none registered)");
    }
    Ok(())
}
