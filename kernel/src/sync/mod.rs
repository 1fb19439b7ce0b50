//! Locks and sleeping primitives, as Linux Device Drivers names them.
//!
//! | type | context | what it does while waiting |
//! |---|---|---|
//! | [`SpinLock`] | threads, softirqs | spins, preemption off |
//! | [`SpinLockIrq`] | shared with a hard-IRQ handler | spins, local interrupts and preemption off |
//! | [`Mutex`] | threads only | sleeps |
//! | [`Semaphore`] | threads only | sleeps |
//! | [`WaitQueue`] | threads wait, anyone wakes | sleeps until a condition holds |
//! | [`Completion`] | one side waits for another's "done" | sleeps |

mod completion;
mod mutex;
mod semaphore;
mod spinlock;
mod waitqueue;

pub use completion::Completion;
pub use mutex::Mutex;
pub use semaphore::Semaphore;
pub use spinlock::{SpinLock, SpinLockIrq};
pub use waitqueue::WaitQueue;
