//! Tasklets: dynamic, self-serialised bottom halves on top of the TASKLET
//! softirq.
//!
//! # What a tasklet promises
//!
//! A softirq handler may run on every CPU at once, so its code must lock
//! everything it shares. A tasklet trades that concurrency away: *"Tasklets =
//! dynamic softirqs − concurrency"* (`seeds/002`). The seed quotes Linux's
//! `include/linux/interrupt.h`, and LDD3 ch. 7 ("Tasklets") says the same:
//!
//! 1. *If `tasklet_schedule()` is called, the tasklet is guaranteed to be
//!    executed on some CPU at least once after this.*
//! 2. *If the tasklet is already scheduled but its execution has not started,
//!    it will be executed only once* — scheduled twice before it runs, it runs
//!    once.
//! 3. *If it is already running on another CPU (or schedule is called from the
//!    tasklet itself), it is rescheduled for later* — a schedule during a run
//!    causes exactly one more run.
//! 4. *A tasklet is strictly serialised with respect to itself*, but not with
//!    respect to other tasklets: it never runs on two CPUs at once.
//! 5. (LDD3) A disabled tasklet may still be scheduled, but it does not run
//!    until it has been enabled as many times as it was disabled.
//! 6. (LDD3) A tasklet runs on the CPU that scheduled it — the kernel's part:
//!    each CPU has its own [`TaskletQueue`].
//!
//! # How: two bits and a count
//!
//! [`TaskletState`] is Linux's `tasklet_struct.state` and `.count`:
//!
//! - **SCHED** (`TASKLET_STATE_SCHED`) means "on some CPU's queue, waiting to
//!   run". [`TaskletState::try_schedule`] sets it with one atomic
//!   test-and-set; only the caller that flips it 0 → 1 queues the tasklet.
//!   A second schedule finds it set and does nothing (*coalesced*): that is
//!   guarantee 2, and it is also why a tasklet id is on at most one queue at
//!   a time, so a queue with room for every tasklet can never overflow.
//! - **RUN** (`TASKLET_STATE_RUN`) is a try-lock held while the function runs.
//!   [`TaskletState::try_lock_run`] takes it with a test-and-set; a CPU that
//!   finds it held does not wait (it is in softirq context and must not spin
//!   on another CPU's tasklet) but puts the tasklet back: guarantee 4.
//! - **count** ([`TaskletState::disable`] / [`TaskletState::enable`]) is the
//!   disable depth: guarantee 5.
//!
//! # The run protocol
//!
//! The TASKLET softirq handler on each CPU does, for each id it pops from its
//! own queue ([`TaskletState::run`] is steps 2–6 in one call):
//!
//! 1. `pop` the id from this CPU's [`TaskletQueue`].
//! 2. `try_lock_run`. If another CPU is running it (RUN held): push it back and
//!    re-raise the TASKLET softirq — SCHED stays set, so it is still owed a
//!    run, and it gets it once the other CPU lets go.
//! 3. If disabled: `unlock_run`, push it back, re-raise. It stays scheduled.
//! 4. `clear_sched`.
//! 5. Run the function.
//! 6. `unlock_run`.
//!
//! **Why SCHED is cleared before the function runs, not after.** The function
//! reads whatever state the interrupt handler left for it. If an interrupt
//! arrives *during* the run and calls `tasklet_schedule`, the new data may
//! have been written after the function read its input. Clearing SCHED first
//! means that schedule finds SCHED clear, queues the tasklet again, and the
//! new data gets its own run (guarantee 3); the re-queued copy cannot start
//! early because RUN is still held (step 2 bounces it). Clearing SCHED after
//! the run would coalesce that schedule into the run already in progress and
//! the new work would be lost until some unrelated later schedule.
//!
//! **Why RUN is taken before the disable check.** Linux's `tasklet_disable`
//! is "raise the count, then wait until RUN is clear"; after it returns, no
//! run may start. A runner that checked the count first and took RUN second
//! could pass the check, lose the CPU to the disabler (which sees RUN clear
//! and returns), and then run a disabled tasklet. Taking RUN first closes
//! that window. Each side writes one word and then reads the other (a Dekker
//! pattern), so the state and count operations are `SeqCst`. [`disable`]
//! here is the non-waiting half (`tasklet_disable_nosync`); the kernel adds
//! the wait with [`is_running`], and must not call it from the tasklet
//! itself (it would wait for itself forever).
//!
//! The same read-modify-writes carry data (a `SeqCst` RMW is both a release
//! and an acquire): whatever the scheduling CPU wrote before `try_schedule`
//! is visible to the function, whether that schedule queued the tasklet or
//! was coalesced into a pending one — a coalesced schedule's RMW comes before
//! the runner's `clear_sched` on the same word, which reads it.
//!
//! A disabled, scheduled tasklet is bounced (step 3) each time the TASKLET
//! softirq runs, and the softirq is re-raised each time, as in Linux: the
//! softirq restart budget ([`crate::softirq::RestartPolicy`]) and
//! `ksoftirqd` absorb the spinning.
//!
//! [`disable`]: TaskletState::disable
//! [`is_running`]: TaskletState::is_running

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Names a tasklet: an index into the kernel's tasklet table.
pub type TaskletId = u16;

/// `TASKLET_STATE_SCHED`: queued on some CPU, owed a run.
const SCHED: u32 = 1 << 0;
/// `TASKLET_STATE_RUN`: the function is running on some CPU.
const RUN: u32 = 1 << 1;

/// The shared state of one tasklet: SCHED and RUN bits, the disable depth,
/// and counters. One per tasklet, shared by all CPUs (`&self` everywhere).
#[derive(Debug, Default)]
pub struct TaskletState {
    /// SCHED | RUN.
    state: AtomicU32,
    /// Disable depth; runnable only at 0.
    disable_depth: AtomicU32,
    scheduled: AtomicU64,
    coalesced: AtomicU64,
    runs: AtomicU64,
    deferred_busy: AtomicU64,
    deferred_disabled: AtomicU64,
    unbalanced_enables: AtomicU64,
}

/// A snapshot of a tasklet's counters (DESIGN.md rule 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskletStats {
    /// Schedules that queued the tasklet ([`TaskletState::try_schedule`] returned true).
    pub scheduled: u64,
    /// Schedules absorbed by a pending one (returned false).
    pub coalesced: u64,
    /// Runs started ([`TaskletState::clear_sched`] on a scheduled tasklet).
    pub runs: u64,
    /// Times a CPU found it running elsewhere ([`TaskletState::try_lock_run`] returned false).
    pub deferred_busy: u64,
    /// Times [`TaskletState::run`] found it disabled and put it back.
    pub deferred_disabled: u64,
    /// [`TaskletState::enable`] calls with the tasklet not disabled (a caller bug; ignored).
    pub unbalanced_enables: u64,
}

/// What [`TaskletState::run`] did with a popped tasklet, and what the caller
/// must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The function ran. Nothing more to do.
    Ran,
    /// Another CPU is running it: push it back and re-raise the softirq.
    Busy,
    /// It is disabled: push it back and re-raise the softirq.
    Disabled,
    /// It was not scheduled (it should not have been on a queue): dropped.
    NotScheduled,
}

impl TaskletState {
    /// An idle, enabled tasklet with zeroed counters.
    pub const fn new() -> Self {
        TaskletState {
            state: AtomicU32::new(0),
            disable_depth: AtomicU32::new(0),
            scheduled: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            deferred_busy: AtomicU64::new(0),
            deferred_disabled: AtomicU64::new(0),
            unbalanced_enables: AtomicU64::new(0),
        }
    }

    /// `tasklet_schedule`'s test-and-set of SCHED. Returns true only if the
    /// tasklet was not already scheduled: the caller must then push it on
    /// this CPU's queue and raise the TASKLET softirq. False means a run is
    /// already owed and will see this caller's writes (coalesced).
    pub fn try_schedule(&self) -> bool {
        let old = self.state.fetch_or(SCHED, Ordering::SeqCst);
        let queued = old & SCHED == 0;
        let counter = if queued { &self.scheduled } else { &self.coalesced };
        counter.fetch_add(1, Ordering::Relaxed);
        queued
    }

    /// `tasklet_trylock`: takes RUN. False if another CPU holds it (the
    /// tasklet is running there); the caller puts the tasklet back instead of
    /// waiting.
    pub fn try_lock_run(&self) -> bool {
        let old = self.state.fetch_or(RUN, Ordering::SeqCst);
        let locked = old & RUN == 0;
        if !locked {
            self.deferred_busy.fetch_add(1, Ordering::Relaxed);
        }
        locked
    }

    /// Clears SCHED, right before the function runs (see the module docs for
    /// why before). Returns whether it was set; in the run protocol it always
    /// is, and each such call counts one run.
    pub fn clear_sched(&self) -> bool {
        let was = self.state.fetch_and(!SCHED, Ordering::SeqCst) & SCHED != 0;
        if was {
            self.runs.fetch_add(1, Ordering::Relaxed);
        }
        was
    }

    /// `tasklet_unlock`: releases RUN after the function returned (or after
    /// finding the tasklet disabled).
    pub fn unlock_run(&self) {
        self.state.fetch_and(!RUN, Ordering::SeqCst);
    }

    /// `tasklet_disable_nosync`: one more level of disable. A scheduled
    /// tasklet stays scheduled but does not run until enabled as many times.
    /// Does not wait for a run in progress: Linux's `tasklet_disable` also
    /// spins while [`is_running`](Self::is_running), which the kernel does.
    pub fn disable(&self) {
        self.disable_depth.fetch_add(1, Ordering::SeqCst);
    }

    /// `tasklet_enable`: one level less of disable. An enable without a
    /// matching disable is counted and otherwise ignored, never underflows.
    pub fn enable(&self) {
        let r = self.disable_depth.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1));
        if r.is_err() {
            self.unbalanced_enables.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether SCHED is set (queued, owed a run).
    pub fn is_scheduled(&self) -> bool {
        self.state.load(Ordering::SeqCst) & SCHED != 0
    }

    /// Whether RUN is held (the function is running on some CPU).
    pub fn is_running(&self) -> bool {
        self.state.load(Ordering::SeqCst) & RUN != 0
    }

    /// Whether the disable depth is non-zero.
    pub fn is_disabled(&self) -> bool {
        self.disable_depth() != 0
    }

    /// The disable depth.
    pub fn disable_depth(&self) -> u32 {
        self.disable_depth.load(Ordering::SeqCst)
    }

    /// Steps 2–6 of the run protocol (module docs) for a tasklet just popped
    /// from this CPU's queue: try-lock RUN, check the disable depth, clear
    /// SCHED, call `f`, unlock RUN. On [`RunOutcome::Busy`] and
    /// [`RunOutcome::Disabled`] the caller pushes the id back and re-raises
    /// the TASKLET softirq.
    pub fn run(&self, f: impl FnOnce()) -> RunOutcome {
        if !self.try_lock_run() {
            return RunOutcome::Busy;
        }
        if self.is_disabled() {
            self.unlock_run();
            self.deferred_disabled.fetch_add(1, Ordering::Relaxed);
            return RunOutcome::Disabled;
        }
        if !self.clear_sched() {
            self.unlock_run();
            return RunOutcome::NotScheduled;
        }
        f();
        self.unlock_run();
        RunOutcome::Ran
    }

    /// The counters.
    pub fn stats(&self) -> TaskletStats {
        TaskletStats {
            scheduled: self.scheduled.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            runs: self.runs.load(Ordering::Relaxed),
            deferred_busy: self.deferred_busy.load(Ordering::Relaxed),
            deferred_disabled: self.deferred_disabled.load(Ordering::Relaxed),
            unbalanced_enables: self.unbalanced_enables.load(Ordering::Relaxed),
        }
    }
}

/// [`TaskletQueue::push`] found the queue full; carries the rejected id.
///
/// Cannot happen when the capacity is at least the number of tasklets: SCHED
/// keeps every id on at most one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull(pub TaskletId);

/// A snapshot of a [`TaskletQueue`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Successful pushes.
    pub pushes: u64,
    /// Successful pops.
    pub pops: u64,
    /// Pushes refused with [`QueueFull`].
    pub overflows: u64,
    /// The most ids ever queued at once.
    pub high_water: usize,
}

/// One CPU's list of scheduled tasklets (Linux's per-CPU `tasklet_vec`): a
/// fixed-capacity FIFO ring of ids, no heap.
///
/// Per-CPU and touched with local interrupts masked (the hard IRQ handler
/// pushes, the softirq pops), hence `&mut self` and no atomics. FIFO, so
/// tasklets run in the order they were scheduled on this CPU and a bounced
/// (busy or disabled) tasklet goes to the back, behind the others.
#[derive(Clone, Debug)]
pub struct TaskletQueue<const N: usize> {
    ids: [TaskletId; N],
    /// Index of the oldest id.
    head: usize,
    len: usize,
    stats: QueueStats,
}

impl<const N: usize> Default for TaskletQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TaskletQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        TaskletQueue {
            ids: [0; N],
            head: 0,
            len: 0,
            stats: QueueStats { pushes: 0, pops: 0, overflows: 0, high_water: 0 },
        }
    }

    /// Appends `id` at the back.
    pub fn push(&mut self, id: TaskletId) -> Result<(), QueueFull> {
        if self.len == N {
            self.stats.overflows += 1;
            return Err(QueueFull(id));
        }
        // len < N, so N > 0 and the modulo is defined.
        let tail = (self.head + self.len) % N;
        self.ids[tail] = id;
        self.len += 1;
        self.stats.pushes += 1;
        self.stats.high_water = self.stats.high_water.max(self.len);
        Ok(())
    }

    /// Removes and returns the oldest id.
    pub fn pop(&mut self) -> Option<TaskletId> {
        if self.len == 0 {
            return None;
        }
        let id = self.ids[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        self.stats.pops += 1;
        Some(id)
    }

    /// How many ids are queued.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is queued.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The counters.
    pub fn stats(&self) -> QueueStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The kernel's softirq loop over one queue, for single-threaded tests:
    /// pops everything queued now, runs it by the protocol, requeues bounces.
    fn drain<const N: usize>(q: &mut TaskletQueue<N>, t: &TaskletState, mut f: impl FnMut()) -> Vec<RunOutcome> {
        let mut out = Vec::new();
        for _ in 0..q.len() {
            let id = q.pop().unwrap();
            let o = t.run(&mut f);
            if matches!(o, RunOutcome::Busy | RunOutcome::Disabled) {
                q.push(id).unwrap();
            }
            out.push(o);
        }
        out
    }

    #[test]
    fn schedule_twice_before_run_runs_once() {
        let t = TaskletState::new();
        let mut q = TaskletQueue::<4>::new();
        assert!(t.try_schedule());
        q.push(7).unwrap();
        assert!(!t.try_schedule(), "second schedule must coalesce");
        assert!(!t.try_schedule());
        assert_eq!(q.len(), 1);
        let mut runs = 0;
        assert_eq!(drain(&mut q, &t, || runs += 1), [RunOutcome::Ran]);
        assert_eq!(runs, 1);
        assert!(q.is_empty());
        assert!(!t.is_scheduled());
        let s = t.stats();
        assert_eq!((s.scheduled, s.coalesced, s.runs), (1, 2, 1));
    }

    #[test]
    fn schedule_after_run_runs_again() {
        let t = TaskletState::new();
        for round in 1..=3u64 {
            assert!(t.try_schedule());
            assert_eq!(t.run(|| {}), RunOutcome::Ran);
            assert_eq!(t.stats().runs, round);
        }
    }

    #[test]
    fn schedule_during_run_causes_exactly_one_more_run() {
        let t = TaskletState::new();
        let mut q = TaskletQueue::<4>::new();
        assert!(t.try_schedule());
        q.push(1).unwrap();
        let id = q.pop().unwrap();
        let mut requeued = Vec::new();
        let o = t.run(|| {
            // An interrupt during the run schedules it (twice).
            assert!(t.is_running());
            assert!(!t.is_scheduled(), "SCHED must be clear while the function runs");
            assert!(t.try_schedule(), "a schedule during the run must queue another run");
            requeued.push(id);
            assert!(!t.try_schedule(), "the second schedule during the run coalesces");
        });
        assert_eq!(o, RunOutcome::Ran);
        for id in requeued {
            q.push(id).unwrap();
        }
        let mut runs = 0;
        assert_eq!(drain(&mut q, &t, || runs += 1), [RunOutcome::Ran]);
        assert_eq!(runs, 1);
        assert!(q.is_empty() && !t.is_scheduled());
        assert_eq!(t.stats().runs, 2);
    }

    #[test]
    fn busy_tasklet_is_bounced_and_keeps_sched() {
        let t = TaskletState::new();
        assert!(t.try_schedule());
        // CPU A is inside the function; meanwhile CPU B schedules it again
        // and pops it from its own queue.
        assert!(t.try_lock_run());
        assert!(t.clear_sched());
        assert!(t.try_schedule());
        let mut ran = false;
        assert_eq!(t.run(|| ran = true), RunOutcome::Busy);
        assert!(!ran);
        assert!(t.is_scheduled(), "a bounced tasklet is still owed its run");
        t.unlock_run(); // CPU A finishes
        assert_eq!(t.run(|| ran = true), RunOutcome::Ran);
        assert!(ran);
        assert_eq!(t.stats().deferred_busy, 1);
    }

    #[test]
    fn try_lock_run_excludes() {
        let t = TaskletState::new();
        assert!(t.try_lock_run());
        assert!(!t.try_lock_run());
        assert!(t.is_running());
        t.unlock_run();
        assert!(!t.is_running());
        assert!(t.try_lock_run());
        t.unlock_run();
        assert_eq!(t.stats().deferred_busy, 1);
    }

    #[test]
    fn run_and_lock_do_not_disturb_each_others_bits() {
        let t = TaskletState::new();
        assert!(t.try_lock_run());
        assert!(t.try_schedule());
        t.unlock_run();
        assert!(t.is_scheduled() && !t.is_running());
        assert!(t.try_lock_run());
        assert!(t.clear_sched());
        assert!(t.is_running() && !t.is_scheduled());
        t.unlock_run();
    }

    #[test]
    fn disabled_tasklet_stays_scheduled_and_runs_after_enable() {
        let t = TaskletState::new();
        let mut q = TaskletQueue::<2>::new();
        t.disable();
        t.disable();
        assert!(t.try_schedule());
        q.push(3).unwrap();
        let mut runs = 0;
        for _ in 0..5 {
            assert_eq!(drain(&mut q, &t, || runs += 1), [RunOutcome::Disabled]);
        }
        assert_eq!(runs, 0);
        assert!(t.is_scheduled());
        assert!(!t.is_running(), "a disabled bounce must release RUN");
        assert!(!t.try_schedule(), "still scheduled: coalesces");
        t.enable();
        assert!(t.is_disabled(), "one enable for two disables is not enough");
        assert_eq!(drain(&mut q, &t, || runs += 1), [RunOutcome::Disabled]);
        t.enable();
        assert_eq!(drain(&mut q, &t, || runs += 1), [RunOutcome::Ran]);
        assert_eq!(runs, 1);
        assert!(q.is_empty());
        assert_eq!(t.stats().deferred_disabled, 6);
    }

    #[test]
    fn disable_takes_effect_on_a_queued_tasklet() {
        let t = TaskletState::new();
        assert!(t.try_schedule());
        t.disable();
        assert_eq!(t.run(|| panic!("disabled tasklet ran")), RunOutcome::Disabled);
        t.enable();
        assert_eq!(t.run(|| {}), RunOutcome::Ran);
    }

    #[test]
    fn unbalanced_enable_is_counted_not_underflowed() {
        let t = TaskletState::new();
        t.enable();
        assert_eq!(t.disable_depth(), 0);
        assert_eq!(t.stats().unbalanced_enables, 1);
        t.disable();
        assert!(t.is_disabled());
        t.enable();
        assert!(!t.is_disabled());
        assert_eq!(t.stats().unbalanced_enables, 1);
    }

    #[test]
    fn run_without_sched_does_not_call_function() {
        let t = TaskletState::new();
        assert_eq!(t.run(|| panic!("ran unscheduled")), RunOutcome::NotScheduled);
        assert!(!t.is_running());
        assert_eq!(t.stats().runs, 0);
    }

    #[test]
    fn queue_is_fifo() {
        let mut q = TaskletQueue::<8>::new();
        for id in [5, 1, 9, 3] {
            q.push(id).unwrap();
        }
        assert_eq!(q.pop(), Some(5));
        assert_eq!(q.pop(), Some(1));
        q.push(2).unwrap();
        assert_eq!(q.pop(), Some(9));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn queue_fifo_across_wraparound() {
        let mut q = TaskletQueue::<3>::new();
        let mut next_in = 0u16;
        let mut next_out = 0u16;
        for _ in 0..50 {
            while q.len() < 3 {
                q.push(next_in).unwrap();
                next_in += 1;
            }
            for _ in 0..2 {
                assert_eq!(q.pop(), Some(next_out));
                next_out += 1;
            }
        }
    }

    #[test]
    fn queue_overflow_is_an_error_and_leaves_contents() {
        let mut q = TaskletQueue::<2>::new();
        q.push(1).unwrap();
        q.push(2).unwrap();
        assert_eq!(q.push(3), Err(QueueFull(3)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(1));
        q.push(4).unwrap();
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(4));
        let s = q.stats();
        assert_eq!((s.pushes, s.pops, s.overflows, s.high_water), (3, 3, 1, 2));
    }

    #[test]
    fn zero_capacity_queue_rejects_everything() {
        let mut q = TaskletQueue::<0>::new();
        assert_eq!(q.push(0), Err(QueueFull(0)));
        assert_eq!(q.pop(), None);
        assert_eq!(q.capacity(), 0);
    }

    #[test]
    fn statics_are_const_constructible() {
        static T: TaskletState = TaskletState::new();
        assert!(T.try_schedule());
        assert_eq!(T.run(|| {}), RunOutcome::Ran);
    }
}
