//! The logic of ioxide's block layer.
//!
//! # From `read(2)` to a disk request
//!
//! A block device moves data in fixed-size *sectors* (512 bytes here, as in
//! Linux's `SECTOR_SIZE`), in any order, through a request queue that is free
//! to reorder and combine the work it is given. The seeds put it in two
//! lines: *"Logical block drivers — RAMDISK, emulation without physical
//! device"* and *"Physical block drivers with I/O scheduler. Request queue
//! will be present between block layer and physical block driver"*
//! (`seeds/002`). Linux Device Drivers (LDD3) ch. 16, "Block Drivers", walks
//! the same path: the `gendisk`, the request queue, `struct bio` and its
//! `bio_vec` segments, the I/O schedulers ("elevators") and the `sbull` RAM
//! disk. Above it all sits the buffer cache, which turns most reads into
//! memory copies (*"I/O request from the application will be synchronous if
//! the data is found in buffer cache"*).
//!
//! ```text
//!  buffer cache ─▶ bio ─▶ request queue ─▶ scheduler ─▶ driver ─▶ completion
//!  (cache)         (bio)  (queue: validate,  (sched:     (kernel:   (queue::complete:
//!                          merge, depth)      noop,       virtio,    latency histogram,
//!                                             deadline)   nvme, ram) stats)
//! ```
//!
//! | module | mechanism | LDD3 / Linux |
//! |---|---|---|
//! | [`bio`] | one I/O: an operation, a start sector, scatter-gather segments | `struct bio`, `struct bio_vec` |
//! | [`request`] | adjacent bios merged into one device request, within the device's limits | `struct request`, back/front merge, `queue_limits` |
//! | [`sched`] | the I/O schedulers: `noop` (FIFO) and `deadline` (sorted batches with expiry) | elevators, `mq-deadline` |
//! | [`queue`] | the request queue: bios in, requests out, a depth bound, statistics | `request_queue`, `/sys/block/*/stat` |
//! | [`histogram`] | log2 latency buckets | `blktrace`/`biolatency` style |
//! | [`partition`] | MBR (with extended/logical chains) and GPT tables | `block/partitions/msdos.c`, `efi.c` |
//! | [`crc32`] | the CRC GPT protects its header and entries with | `lib/crc32.c` |
//! | [`cache`] | a write-back LRU buffer cache over any [`cache::BlockIo`] | the buffer cache, `bdflush` |
//! | [`ramdisk`] | the RAM disk's byte moving | `sbull`, `brd` |
//! | [`pattern`] | deterministic sector contents and FNV-1a digests | — (test support) |
//! | [`stress`] | the seeded random read/write workload and its reference model | — (test support) |
//!
//! # What this crate is, and is not
//!
//! Pure logic, generic over the page handle `P` a bio segment points at (the
//! kernel uses an `Arc`'d DMA page; tests use plain values). The kernel wraps
//! it: a lock around each [`queue::RequestQueue`], the driver threads and
//! interrupt handlers that [`dispatch`](queue::RequestQueue::dispatch) and
//! [`complete`](queue::RequestQueue::complete) requests, the real devices
//! behind [`cache::BlockIo`], and the shell commands that print the
//! statistics. Following DESIGN.md, bad input — a corrupt partition table,
//! a bio past the end of the disk, a misaligned segment — is an error value,
//! never a panic; every loop over on-disk data is bounded; every structure
//! counts itself.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod bio;
pub mod cache;
pub mod crc32;
pub mod histogram;
pub mod partition;
pub mod pattern;
pub mod queue;
pub mod ramdisk;
pub mod request;
pub mod sched;
pub mod stress;

/// The unit of block I/O: every offset and length on a block device is a
/// multiple of this (Linux's `SECTOR_SIZE`; `sector_t` counts these).
pub const SECTOR_SIZE: usize = 512;
