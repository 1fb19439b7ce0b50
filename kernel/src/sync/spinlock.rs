//! Spinlocks.
//!
//! [`SpinLock`] disables preemption while held: a thread preempted while
//! holding it would make every other thread on its CPU spin until the next
//! tick. [`SpinLockIrq`] also disables interrupts on this CPU: it is the lock
//! to share with a hard-IRQ handler. Without that, a handler that interrupts
//! the holder on the same CPU would spin forever on a lock whose owner cannot
//! run (LDD3 ch. 5, "spinlocks and interrupt context"). Interrupts are
//! restored to their previous state, not blindly enabled, so the locks nest.

use core::ops::{Deref, DerefMut};

use crate::arch::cpu;
use crate::percpu::{preempt_disable, preempt_enable};

pub struct SpinLock<T> {
    inner: spin::Mutex<T>,
}

pub struct SpinLockGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock { inner: spin::Mutex::new(value) }
    }

    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        preempt_disable();
        SpinLockGuard { guard: Some(self.inner.lock()) }
    }
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is present until drop")
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is present until drop")
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        preempt_enable();
    }
}

pub struct SpinLockIrq<T> {
    inner: spin::Mutex<T>,
}

pub struct SpinLockIrqGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    irqs_were_enabled: bool,
}

impl<T> SpinLockIrq<T> {
    pub const fn new(value: T) -> Self {
        SpinLockIrq { inner: spin::Mutex::new(value) }
    }

    pub fn lock(&self) -> SpinLockIrqGuard<'_, T> {
        let irqs_were_enabled = cpu::save_and_disable_interrupts();
        preempt_disable();
        SpinLockIrqGuard { guard: Some(self.inner.lock()), irqs_were_enabled }
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Takes the lock only if it is free (for paths that must not wait, like
    /// the panic printer).
    pub fn try_lock(&self) -> Option<SpinLockIrqGuard<'_, T>> {
        let irqs_were_enabled = cpu::save_and_disable_interrupts();
        preempt_disable();
        match self.inner.try_lock() {
            Some(guard) => Some(SpinLockIrqGuard { guard: Some(guard), irqs_were_enabled }),
            None => {
                preempt_enable_no_resched();
                cpu::restore_interrupts(irqs_were_enabled);
                None
            }
        }
    }
}

fn preempt_enable_no_resched() {
    crate::percpu::this_cpu().preempt_count.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
}

impl<T> Deref for SpinLockIrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is present until drop")
    }
}

impl<T> DerefMut for SpinLockIrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is present until drop")
    }
}

impl<T> Drop for SpinLockIrqGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Interrupts first: a pending reschedule is acted on in
        // preempt_enable only once they are back on.
        preempt_enable_no_resched();
        cpu::restore_interrupts(self.irqs_were_enabled);
        if self.irqs_were_enabled {
            crate::sched::resched_if_needed();
        }
    }
}
