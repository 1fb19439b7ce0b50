//! The receive path every NIC glue shares: frames are copied out of the
//! driver's ring into a preallocated batch while the NIC lock is held, and
//! fed to the stack after it is dropped — the stack transmits its replies
//! through the same NIC, so it must never run under that lock. Plus the
//! polling thread of `net mode <if> poll`.

use alloc::boxed::Box;

use super::device::RxMode;
use super::stack::Stack;
use crate::sync::SpinLockIrq;

/// Frames copied out per lock hold.
pub const BATCH: usize = 32;
/// Largest frame kept (Ethernet header + 1500 + FCS room).
pub const FRAME: usize = 1518;

struct Frames {
    data: Box<[[u8; FRAME]; BATCH]>,
    lens: [usize; BATCH],
}

/// A NIC's receive batch.
pub struct RxBatch(SpinLockIrq<Frames>);

impl Default for RxBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RxBatch {
    pub fn new() -> RxBatch {
        RxBatch(SpinLockIrq::new(Frames { data: Box::new([[0; FRAME]; BATCH]), lens: [0; BATCH] }))
    }

    /// Moves up to `budget` frames through `stack`. `poll(want, sink)`
    /// takes the NIC lock and hands at most `want` frames to `sink`,
    /// returning how many it handed over.
    pub fn receive(
        &self,
        stack: &Stack,
        budget: usize,
        mut poll: impl FnMut(usize, &mut dyn FnMut(&[u8])) -> usize,
    ) -> usize {
        let mut done = 0;
        while done < budget {
            let mut batch = self.0.lock();
            let Frames { data, lens } = &mut *batch;
            let want = (budget - done).min(BATCH);
            let mut n = 0;
            poll(want, &mut |frame: &[u8]| {
                if n < BATCH {
                    let len = frame.len().min(FRAME);
                    data[n][..len].copy_from_slice(&frame[..len]);
                    lens[n] = len;
                    n += 1;
                }
            });
            for i in 0..n {
                stack.ingest(&data[i][..lens[i]]);
            }
            drop(batch);
            done += n;
            if n < want {
                break;
            }
        }
        if done > 0 {
            stack.end_of_batch();
        }
        done
    }
}

/// The body of a `poll`-mode thread: receive until the mode changes,
/// yielding the CPU whenever the ring is empty.
pub fn poll_loop(mode: impl Fn() -> RxMode, mut receive: impl FnMut(usize) -> usize) {
    while mode() == RxMode::Poll {
        if receive(64) == 0 {
            crate::sched::yield_now();
        }
    }
}

/// `52:54:00:12:34:56`.
pub fn mac_text(m: [u8; 6]) -> alloc::string::String {
    alloc::format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}
