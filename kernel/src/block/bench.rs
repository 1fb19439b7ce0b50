//! `blk bench`: keeps `qd` transfers of `bs` bytes in flight on a disk for
//! a while and reports operations and bytes per second. Completions
//! (interrupt context) only queue the finished slot and wake the bench
//! thread, which submits the next transfer for it — the same shape as an
//! application doing asynchronous I/O.
//!
//! Random reads pick `bs`-aligned offsets over the whole disk; sequential
//! reads and writes walk the second half of a disk (writes there do not
//! disturb data the tests put at the start).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use ::block::bio::{Flags, Op};
use ::block::SECTOR_SIZE;

use super::io::Buffer;
use super::{Disk, IoError};
use crate::sync::{Completion, SpinLockIrq};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    RandRead,
    SeqRead,
    SeqWrite,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "randread" => Some(Kind::RandRead),
            "seqread" => Some(Kind::SeqRead),
            "seqwrite" => Some(Kind::SeqWrite),
            _ => None,
        }
    }
}

pub struct Outcome {
    pub ops: u64,
    pub bytes: u64,
    pub elapsed_ns: u64,
}

struct Shared {
    finished: SpinLockIrq<Vec<(usize, bool)>>,
    wake: Arc<Completion>,
}

/// Runs the benchmark; `bs` is a multiple of 512.
pub fn run(disk: &Arc<Disk>, kind: Kind, qd: usize, bs: usize, ms: u64) -> Result<Outcome, String> {
    let sectors_per_op = (bs / SECTOR_SIZE) as u64;
    let slots_on_disk = disk.sectors() / sectors_per_op;
    if slots_on_disk < 4 {
        return Err(alloc::format!("{} is too small for {bs}-byte transfers", disk.name));
    }
    let (first, span) = match kind {
        Kind::RandRead => (0, slots_on_disk),
        _ => (slots_on_disk / 2, slots_on_disk - slots_on_disk / 2),
    };
    let mut buffers = Vec::new();
    for i in 0..qd {
        let buf = Buffer::new(bs).map_err(|e| alloc::format!("{e}"))?;
        if kind == Kind::SeqWrite {
            let mut data = alloc::vec![0u8; bs];
            ::block::pattern::fill(i as u64 + 1, 0, &mut data);
            buf.fill(&data);
        }
        buffers.push(buf);
    }
    let shared = Arc::new(Shared { finished: SpinLockIrq::new(Vec::new()), wake: Arc::new(Completion::new()) });
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ crate::time::uptime_ns();
    let mut next_seq = 0u64;
    let mut pick = || match kind {
        Kind::RandRead => {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (first + rng % span) * sectors_per_op
        }
        _ => {
            let s = (first + next_seq % span) * sectors_per_op;
            next_seq += 1;
            s
        }
    };
    let op = if kind == Kind::SeqWrite { Op::Write } else { Op::Read };
    let submit = |slot: usize, sector: u64| {
        let bios = buffers[slot].bios(disk, op, sector, Flags::default());
        let left = Arc::new(AtomicUsize::new(bios.len()));
        let failed = Arc::new(AtomicUsize::new(0));
        for bio in bios {
            let (shared, left, failed) = (shared.clone(), left.clone(), failed.clone());
            disk.submit(
                bio,
                alloc::boxed::Box::new(move |result: Result<(), IoError>| {
                    if result.is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        shared.finished.lock().push((slot, failed.load(Ordering::Relaxed) == 0));
                        shared.wake.complete();
                    }
                }),
            );
        }
    };
    let start = crate::time::uptime_ns();
    let end = start + ms * 1_000_000;
    let plug = disk.plug();
    for slot in 0..qd {
        submit(slot, pick());
    }
    drop(plug);
    let (mut ops, mut outstanding, mut errors) = (0u64, qd, 0u64);
    while outstanding > 0 {
        if !shared.wake.wait_timeout(10 * crate::time::HZ) {
            return Err(alloc::format!("{}: no completion for 10 s ({outstanding} in flight)", disk.name));
        }
        let done: Vec<(usize, bool)> = core::mem::take(&mut *shared.finished.lock());
        let now = crate::time::uptime_ns();
        // Resubmit the whole batch under one plug: adjacent transfers
        // (sequential runs) merge before they reach the driver.
        let plug = disk.plug();
        for (slot, ok) in done {
            outstanding -= 1;
            if ok {
                ops += 1;
            } else {
                errors += 1;
            }
            if now < end && errors == 0 {
                submit(slot, pick());
                outstanding += 1;
            }
        }
        drop(plug);
    }
    let elapsed_ns = crate::time::uptime_ns() - start;
    if errors > 0 {
        return Err(alloc::format!("{}: {errors} transfer(s) failed", disk.name));
    }
    Ok(Outcome { ops, bytes: ops * bs as u64, elapsed_ns })
}
