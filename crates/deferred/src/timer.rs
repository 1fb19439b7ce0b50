//! Kernel timers: run a function once, at or after a deadline, from the
//! TIMER softirq.
//!
//! # What a timer promises (LDD3 ch. 7, "Kernel Timers")
//!
//! The seeds list the *"timer bottom half — executes whenever assigned
//! timeout elapses"* next to tasklets and workqueues (`seeds/002`). Linux's
//! `struct timer_list` API and its guarantees:
//!
//! - `add_timer`: arm a timer with an absolute deadline (`expires`, in
//!   jiffies). It runs **at or after** the deadline, never before: on the
//!   first tick whose time is `>= expires`. Arming an already pending timer
//!   is a bug ([`TimerError::Duplicate`] here).
//! - It runs **once**. A periodic timer re-arms itself — that is the caller's
//!   job, not the queue's (below).
//! - `mod_timer`: change the deadline of a pending timer, or arm an idle one;
//!   returns whether it was pending. Re-arming a pending timer with the
//!   deadline it already has is a no-op (it keeps its place).
//! - `del_timer`: disarm; returns whether it was pending (false: it had
//!   already fired, or was never armed).
//! - The function runs in softirq context (it may not sleep), on the CPU that
//!   armed the timer — the kernel keeps one [`TimerQueue`] per CPU.
//!
//! # How: a deadline-ordered array
//!
//! [`TimerQueue`] keeps its pending timers in a fixed array sorted by
//! deadline, latest first, so the next timer to fire is the last element:
//! [`next_deadline`](TimerQueue::next_deadline) and each expiry are O(1);
//! arming, re-arming and deleting shift elements, O(N). A timer is inserted
//! *after* every pending timer with a later deadline and *before* (further
//! from the end than) every one with the same deadline, so timers with equal
//! deadlines fire in the order they were armed — stable, with no sequence
//! number needed. A re-armed timer counts as newly armed.
//!
//! Linux itself uses a hierarchical timer *wheel* (O(1) arming, coarse
//! expiry); a per-CPU queue of a few dozen device timeouts does not need one,
//! and the sorted array gives exact deadline order and an exact next
//! deadline, which is what programming a one-shot LAPIC timer needs.
//!
//! [`expire`](TimerQueue::expire) pops every timer with `deadline <= now` in
//! deadline order and hands each id to a callback. The TIMER softirq calls
//! it with the current tick; the kernel pops under its `SpinLockIrq` and runs
//! the timer functions, and `del_timer_sync` waits for a running function as
//! tasklets do with their RUN bit.
//!
//! Ticks are `u64`: at 1 GHz they wrap after 584 years, so there is none of
//! Linux's `time_after` wraparound arithmetic.
//!
//! # Periodic timers
//!
//! The queue forgets a timer when it fires. To make it periodic the caller
//! re-arms it with `add(id, deadline + period)` — from the *deadline*, not
//! from `now`, or the period drifts by the softirq's latency each time.
//! [`expire`](TimerQueue::expire) borrows the queue, so re-arm after it
//! returns, or drive [`pop_expired`](TimerQueue::pop_expired) in a loop and
//! re-arm in between; in that loop a re-armed deadline `<= now` fires again
//! at once (catching up), and a period of 0 would never end — use
//! [`next_periodic_deadline`] to skip missed periods instead.

/// Names a timer: an index into the kernel's timer table.
pub type TimerId = u16;

/// Why a timer could not be armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// The queue holds `N` timers already.
    Full,
    /// The id is already pending ([`TimerQueue::add`]; use
    /// [`TimerQueue::modify`] to re-arm).
    Duplicate,
}

/// A snapshot of a [`TimerQueue`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Timers armed (by `add`, or by `modify` of an idle timer).
    pub added: u64,
    /// Pending timers re-armed by `modify`.
    pub modified: u64,
    /// Pending timers disarmed by `remove`.
    pub removed: u64,
    /// Timers that fired (popped by `expire` / `pop_expired`).
    pub expired: u64,
    /// Arms refused with [`TimerError::Full`].
    pub full_errors: u64,
    /// Arms refused with [`TimerError::Duplicate`].
    pub duplicate_errors: u64,
    /// The most timers ever pending at once.
    pub high_water: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    deadline: u64,
    id: TimerId,
}

/// One CPU's pending timers, ordered by deadline; fixed capacity `N`, no
/// heap. Per-CPU and used with local interrupts masked: `&mut self`.
#[derive(Clone, Debug)]
pub struct TimerQueue<const N: usize> {
    /// `entries[..len]`, sorted by deadline descending; among equal
    /// deadlines the earliest armed is nearest the end.
    entries: [Entry; N],
    len: usize,
    stats: TimerStats,
}

impl<const N: usize> Default for TimerQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TimerQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        TimerQueue {
            entries: [Entry { deadline: 0, id: 0 }; N],
            len: 0,
            stats: TimerStats {
                added: 0,
                modified: 0,
                removed: 0,
                expired: 0,
                full_errors: 0,
                duplicate_errors: 0,
                high_water: 0,
            },
        }
    }

    /// `add_timer`: arms `id` to fire at `deadline`.
    pub fn add(&mut self, id: TimerId, deadline: u64) -> Result<(), TimerError> {
        if self.position(id).is_some() {
            self.stats.duplicate_errors += 1;
            return Err(TimerError::Duplicate);
        }
        if self.len == N {
            self.stats.full_errors += 1;
            return Err(TimerError::Full);
        }
        self.insert(Entry { deadline, id });
        self.stats.added += 1;
        self.stats.high_water = self.stats.high_water.max(self.len);
        Ok(())
    }

    /// `mod_timer`: (re-)arms `id` to fire at `new_deadline`, earlier or
    /// later, whether or not it is pending. Returns whether it was pending.
    /// The same deadline as now leaves a pending timer where it is.
    pub fn modify(&mut self, id: TimerId, new_deadline: u64) -> Result<bool, TimerError> {
        let Some(i) = self.position(id) else {
            return self.add(id, new_deadline).map(|()| false);
        };
        self.stats.modified += 1;
        if self.entries[i].deadline != new_deadline {
            self.take_at(i);
            self.insert(Entry { deadline: new_deadline, id });
        }
        Ok(true)
    }

    /// `del_timer`: disarms `id`. Returns whether it was pending.
    pub fn remove(&mut self, id: TimerId) -> bool {
        match self.position(id) {
            Some(i) => {
                self.take_at(i);
                self.stats.removed += 1;
                true
            }
            None => false,
        }
    }

    /// The earliest pending deadline: when to program the next timer
    /// interrupt.
    pub fn next_deadline(&self) -> Option<u64> {
        self.len.checked_sub(1).map(|last| self.entries[last].deadline)
    }

    /// Pops the next timer if its deadline is `<= now`, with that deadline.
    pub fn pop_expired(&mut self, now: u64) -> Option<(TimerId, u64)> {
        let last = self.len.checked_sub(1)?;
        let e = self.entries[last];
        if e.deadline > now {
            return None;
        }
        self.len = last;
        self.stats.expired += 1;
        Some((e.id, e.deadline))
    }

    /// Pops every timer whose deadline is `<= now`, in deadline order (equal
    /// deadlines in arming order), calling `f` with each id. Timers with a
    /// later deadline stay. Returns how many fired.
    pub fn expire(&mut self, now: u64, mut f: impl FnMut(TimerId)) -> usize {
        let mut n = 0;
        while let Some((id, _)) = self.pop_expired(now) {
            f(id);
            n += 1;
        }
        n
    }

    /// Whether `id` is pending (`timer_pending`).
    pub fn is_pending(&self, id: TimerId) -> bool {
        self.position(id).is_some()
    }

    /// The deadline of pending timer `id`.
    pub fn deadline_of(&self, id: TimerId) -> Option<u64> {
        self.position(id).map(|i| self.entries[i].deadline)
    }

    /// How many timers are pending.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The counters.
    pub fn stats(&self) -> TimerStats {
        self.stats
    }

    fn position(&self, id: TimerId) -> Option<usize> {
        self.entries[..self.len].iter().position(|e| e.id == id)
    }

    /// Inserts in order; the caller checked there is room.
    fn insert(&mut self, e: Entry) {
        // After every later deadline, before every equal one (they were armed
        // earlier and must fire first, i.e. sit nearer the end).
        let at = self.entries[..self.len].partition_point(|x| x.deadline > e.deadline);
        self.entries.copy_within(at..self.len, at + 1);
        self.entries[at] = e;
        self.len += 1;
    }

    fn take_at(&mut self, i: usize) {
        self.entries.copy_within(i + 1..self.len, i);
        self.len -= 1;
    }
}

/// The next deadline of a periodic timer that was due at `deadline`: the
/// first `deadline + k * period` (k ≥ 1) that is later than `now`, so a
/// timer that fell behind skips the periods it missed instead of firing
/// once per missed period. Saturates at `u64::MAX`; a `period` of 0 is
/// treated as 1.
pub const fn next_periodic_deadline(deadline: u64, period: u64, now: u64) -> u64 {
    let period = if period == 0 { 1 } else { period };
    if deadline > now {
        return deadline.saturating_add(period);
    }
    // k = floor((now - deadline) / period) + 1 periods gets strictly past now.
    let k = (now - deadline) / period + 1;
    deadline.saturating_add(k.saturating_mul(period))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn fire_all<const N: usize>(q: &mut TimerQueue<N>, now: u64) -> Vec<TimerId> {
        let mut v = Vec::new();
        q.expire(now, |id| v.push(id));
        v
    }

    /// xorshift64*: deterministic pseudo-random numbers without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn random_insert_order_expires_sorted() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..50 {
            let mut q = TimerQueue::<64>::new();
            let mut armed: Vec<(u64, TimerId)> = Vec::new();
            for id in 0..64u16 {
                let d = rng.next() % 1000;
                q.add(id, d).unwrap();
                armed.push((d, id));
            }
            // Stable sort by deadline = deadline order, ties in arming order.
            armed.sort_by_key(|&(d, _)| d);
            let mut got = Vec::new();
            q.expire(u64::MAX, |id| got.push((q_deadline(&armed, id), id)));
            assert_eq!(got, armed);
            assert!(q.is_empty());
        }
    }

    fn q_deadline(armed: &[(u64, TimerId)], id: TimerId) -> u64 {
        armed.iter().find(|&&(_, i)| i == id).unwrap().0
    }

    #[test]
    fn ties_fire_in_arming_order() {
        let mut q = TimerQueue::<8>::new();
        for id in [4, 2, 7, 1, 3] {
            q.add(id, 50).unwrap();
        }
        q.add(9, 10).unwrap();
        q.add(8, 90).unwrap();
        assert_eq!(fire_all(&mut q, 100), [9, 4, 2, 7, 1, 3, 8]);
    }

    #[test]
    fn pop_expired_reports_deadlines_in_order() {
        let mut q = TimerQueue::<4>::new();
        q.add(1, 30).unwrap();
        q.add(2, 10).unwrap();
        q.add(3, 20).unwrap();
        assert_eq!(q.pop_expired(25), Some((2, 10)));
        assert_eq!(q.pop_expired(25), Some((3, 20)));
        assert_eq!(q.pop_expired(25), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn expire_between_deadlines_leaves_later_ones() {
        let mut q = TimerQueue::<8>::new();
        for (id, d) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
            q.add(id, d).unwrap();
        }
        assert_eq!(fire_all(&mut q, 25), [1, 2]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.next_deadline(), Some(30));
        assert!(q.is_pending(3) && q.is_pending(4) && !q.is_pending(1));
        assert_eq!(fire_all(&mut q, 29), [] as [TimerId; 0]);
        assert_eq!(fire_all(&mut q, 30), [3], "deadline == now fires");
        assert_eq!(fire_all(&mut q, 1000), [4]);
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.stats().expired, 4);
    }

    #[test]
    fn nothing_fires_early() {
        let mut q = TimerQueue::<4>::new();
        q.add(1, 100).unwrap();
        assert_eq!(q.expire(99, |_| panic!("fired early")), 0);
        assert_eq!(q.expire(100, |_| {}), 1);
    }

    #[test]
    fn modify_earlier_and_later() {
        let mut q = TimerQueue::<8>::new();
        q.add(1, 10).unwrap();
        q.add(2, 20).unwrap();
        q.add(3, 30).unwrap();
        assert_eq!(q.modify(3, 5), Ok(true), "earlier");
        assert_eq!(q.next_deadline(), Some(5));
        assert_eq!(q.modify(1, 25), Ok(true), "later");
        assert_eq!(q.deadline_of(1), Some(25));
        assert_eq!(q.len(), 3);
        assert_eq!(fire_all(&mut q, 22), [3, 2]);
        assert_eq!(fire_all(&mut q, 100), [1]);
        assert_eq!(q.stats().modified, 2);
    }

    #[test]
    fn modify_idle_timer_arms_it_and_reports_not_pending() {
        let mut q = TimerQueue::<2>::new();
        assert_eq!(q.modify(4, 40), Ok(false));
        assert!(q.is_pending(4));
        assert_eq!(q.modify(4, 50), Ok(true));
        assert_eq!(fire_all(&mut q, 50), [4]);
        assert_eq!(q.modify(4, 60), Ok(false), "after firing it is idle again");
        let s = q.stats();
        assert_eq!((s.added, s.modified), (2, 1));
    }

    #[test]
    fn modify_to_a_tie_goes_behind_existing_ties() {
        let mut q = TimerQueue::<4>::new();
        q.add(1, 10).unwrap();
        q.add(2, 10).unwrap();
        q.add(3, 99).unwrap();
        assert_eq!(q.modify(3, 10), Ok(true));
        assert_eq!(fire_all(&mut q, 10), [1, 2, 3]);
    }

    #[test]
    fn modify_to_same_deadline_keeps_place() {
        let mut q = TimerQueue::<4>::new();
        q.add(1, 10).unwrap();
        q.add(2, 10).unwrap();
        assert_eq!(q.modify(1, 10), Ok(true));
        assert_eq!(fire_all(&mut q, 10), [1, 2]);
    }

    #[test]
    fn modify_in_a_full_queue() {
        let mut q = TimerQueue::<2>::new();
        q.add(1, 10).unwrap();
        q.add(2, 20).unwrap();
        assert_eq!(q.modify(2, 5), Ok(true), "re-arming a pending timer needs no room");
        assert_eq!(q.modify(3, 5), Err(TimerError::Full), "arming an idle one does");
        assert_eq!(fire_all(&mut q, 100), [2, 1]);
    }

    #[test]
    fn remove_pending_vs_not_pending() {
        let mut q = TimerQueue::<4>::new();
        q.add(1, 10).unwrap();
        q.add(2, 20).unwrap();
        q.add(3, 30).unwrap();
        assert!(q.remove(2));
        assert!(!q.remove(2), "already removed");
        assert!(!q.remove(9), "never armed");
        assert_eq!(fire_all(&mut q, 10), [1]);
        assert!(!q.remove(1), "already fired");
        assert_eq!(fire_all(&mut q, 100), [3]);
        assert_eq!(q.stats().removed, 1);
    }

    #[test]
    fn remove_keeps_order_of_the_rest() {
        let mut q = TimerQueue::<8>::new();
        for (id, d) in [(1, 40), (2, 10), (3, 30), (4, 20), (5, 20)] {
            q.add(id, d).unwrap();
        }
        assert!(q.remove(4));
        assert!(q.remove(1));
        assert_eq!(fire_all(&mut q, 100), [2, 5, 3]);
    }

    #[test]
    fn full_queue_is_an_error() {
        let mut q = TimerQueue::<3>::new();
        for id in 0..3 {
            q.add(id, 10).unwrap();
        }
        assert_eq!(q.add(3, 5), Err(TimerError::Full));
        assert_eq!(q.len(), 3);
        assert_eq!(q.next_deadline(), Some(10), "a refused timer leaves no trace");
        assert_eq!(fire_all(&mut q, 10), [0, 1, 2]);
        q.add(3, 5).unwrap();
        let s = q.stats();
        assert_eq!((s.full_errors, s.high_water, s.added), (1, 3, 4));
    }

    #[test]
    fn duplicate_id_is_an_error() {
        let mut q = TimerQueue::<4>::new();
        q.add(7, 10).unwrap();
        assert_eq!(q.add(7, 5), Err(TimerError::Duplicate));
        assert_eq!(q.deadline_of(7), Some(10), "the pending arming is untouched");
        assert_eq!(q.len(), 1);
        assert_eq!(fire_all(&mut q, 10), [7]);
        q.add(7, 20).unwrap();
        assert_eq!(q.stats().duplicate_errors, 1);
    }

    #[test]
    fn duplicate_reported_before_full() {
        let mut q = TimerQueue::<1>::new();
        q.add(1, 10).unwrap();
        assert_eq!(q.add(1, 10), Err(TimerError::Duplicate));
        assert_eq!(q.add(2, 10), Err(TimerError::Full));
    }

    #[test]
    fn zero_capacity() {
        let mut q = TimerQueue::<0>::new();
        assert_eq!(q.add(0, 0), Err(TimerError::Full));
        assert_eq!(q.modify(0, 0), Err(TimerError::Full));
        assert!(!q.remove(0));
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.expire(u64::MAX, |_| {}), 0);
    }

    #[test]
    fn extreme_deadlines() {
        let mut q = TimerQueue::<4>::new();
        q.add(1, u64::MAX).unwrap();
        q.add(2, 0).unwrap();
        assert_eq!(fire_all(&mut q, 0), [2]);
        assert_eq!(fire_all(&mut q, u64::MAX - 1), [] as [TimerId; 0]);
        assert_eq!(fire_all(&mut q, u64::MAX), [1]);
    }

    /// Random add/modify/remove/expire against a simple model: a list of
    /// (deadline, arming sequence, id) sorted on demand.
    #[test]
    fn matches_a_reference_model() {
        const N: usize = 16;
        let mut rng = Rng(42);
        let mut q = TimerQueue::<N>::new();
        let mut model: Vec<(u64, u64, TimerId)> = Vec::new();
        let mut seq = 0u64;
        let mut now = 0u64;
        for _ in 0..20_000 {
            let id = (rng.next() % 24) as TimerId;
            let d = now + rng.next() % 50;
            let pending = model.iter().position(|e| e.2 == id);
            match rng.next() % 4 {
                0 => {
                    let r = q.add(id, d);
                    if pending.is_some() {
                        assert_eq!(r, Err(TimerError::Duplicate));
                    } else if model.len() == N {
                        assert_eq!(r, Err(TimerError::Full));
                    } else {
                        assert_eq!(r, Ok(()));
                        model.push((d, seq, id));
                        seq += 1;
                    }
                }
                1 => {
                    let r = q.modify(id, d);
                    match pending {
                        Some(i) => {
                            assert_eq!(r, Ok(true));
                            if model[i].0 != d {
                                model[i] = (d, seq, id);
                                seq += 1;
                            }
                        }
                        None if model.len() == N => assert_eq!(r, Err(TimerError::Full)),
                        None => {
                            assert_eq!(r, Ok(false));
                            model.push((d, seq, id));
                            seq += 1;
                        }
                    }
                }
                2 => {
                    assert_eq!(q.remove(id), pending.is_some());
                    if let Some(i) = pending {
                        model.remove(i);
                    }
                }
                _ => {
                    now += rng.next() % 20;
                    model.sort();
                    let split = model.partition_point(|e| e.0 <= now);
                    let want: Vec<TimerId> = model.drain(..split).map(|e| e.2).collect();
                    assert_eq!(fire_all(&mut q, now), want);
                }
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.next_deadline(), model.iter().map(|e| e.0).min());
        }
    }

    #[test]
    fn periodic_rearm_from_deadline_does_not_drift() {
        let mut q = TimerQueue::<2>::new();
        q.add(1, 100).unwrap();
        let mut fired_at = Vec::new();
        // The softirq runs late each time (now = deadline + 7).
        for _ in 0..5 {
            let due = q.next_deadline().unwrap();
            let now = due + 7;
            while let Some((id, deadline)) = q.pop_expired(now) {
                fired_at.push(deadline);
                q.add(id, deadline + 100).unwrap();
            }
        }
        assert_eq!(fired_at, [100, 200, 300, 400, 500]);
    }

    #[test]
    fn next_periodic_deadline_skips_missed_periods() {
        assert_eq!(next_periodic_deadline(100, 10, 50), 110, "not yet due: one period on");
        assert_eq!(next_periodic_deadline(100, 10, 100), 110);
        assert_eq!(next_periodic_deadline(100, 10, 109), 110);
        assert_eq!(next_periodic_deadline(100, 10, 110), 120, "strictly after now");
        assert_eq!(next_periodic_deadline(100, 10, 155), 160);
        assert_eq!(next_periodic_deadline(5, 0, 9), 10, "period 0 acts as 1");
        assert_eq!(next_periodic_deadline(u64::MAX - 5, 10, u64::MAX - 1), u64::MAX, "saturates");
        assert_eq!(next_periodic_deadline(0, u64::MAX, u64::MAX), u64::MAX);
    }
}
