//! A latency histogram with power-of-two buckets.
//!
//! # Why log2 buckets
//!
//! Block I/O latencies span six orders of magnitude — a RAM disk answers in
//! a microsecond, a queued write behind a cache flush may take a second —
//! and what matters is the *shape*: where most requests land, and how long
//! the tail is. Buckets whose bounds double (1, 2, 4, … µs) cover that range
//! in 22 counters with a constant relative error, which is what Linux's
//! `biolatency` (bcc) prints and what `blk-stat` keeps. Recording is one
//! leading-zero count; nothing allocates, so the completion path (which may
//! run in interrupt context) can record.
//!
//! Bucket `i` (0 ≤ i ≤ 20) counts latencies `≤ 2^i` µs that did not fit
//! bucket `i-1`; the last bucket counts everything above 2^20 µs (~1 s).
//! Latencies are rounded *up* to whole microseconds, so a bucket's bound is
//! a true upper bound. [`Histogram::percentile`] answers with the upper
//! bound of the bucket holding that rank — an over-estimate by at most 2×.

use core::fmt;

/// Buckets with a power-of-two bound: `<= 2^0 .. <= 2^20` µs.
const BOUNDED: usize = 21;
/// Plus one overflow bucket.
const BUCKETS: usize = BOUNDED + 1;

/// Latency histogram (log2 buckets in microseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    count: u64,
    sum_ns: u64,
    max_ns: u64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    fn index(ns: u64) -> usize {
        let us = ns.div_ceil(1000);
        if us <= 1 {
            0
        } else {
            // Smallest i with 2^i >= us.
            let i = (64 - (us - 1).leading_zeros()) as usize;
            i.min(BOUNDED)
        }
    }

    fn bound_us(index: usize) -> u64 {
        if index < BOUNDED {
            1 << index
        } else {
            u64::MAX
        }
    }

    /// Records one latency, in nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// `(upper bound in µs, count)` for every bucket, smallest first; the
    /// overflow bucket's bound is `u64::MAX`.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts.iter().enumerate().map(|(i, c)| (Self::bound_us(i), *c))
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest latency recorded, in µs (rounded up).
    pub fn max_us(&self) -> u64 {
        self.max_ns.div_ceil(1000)
    }

    /// Mean latency in µs (0 when empty).
    pub fn mean_us(&self) -> u64 {
        self.sum_ns.checked_div(self.count).unwrap_or(0) / 1000
    }

    /// The `p`-th percentile (`p` in percent, 0–100, clamped) as the upper
    /// bound in µs of the bucket holding that rank; for the overflow
    /// bucket, the largest latency seen. 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
        // rank = ceil(p% of count), at least 1.
        let exact = p * self.count as f64 / 100.0;
        let mut rank = exact as u64;
        if (rank as f64) < exact {
            rank += 1;
        }
        let rank = rank.clamp(1, self.count);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return if i < BOUNDED { Self::bound_us(i) } else { self.max_us() };
            }
        }
        self.max_us()
    }

    /// Forgets everything recorded.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

impl fmt::Display for Histogram {
    /// `biolatency`-style: one line per non-empty bucket.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lo = 0;
        for (hi, c) in self.buckets() {
            if c != 0 {
                if hi == u64::MAX {
                    writeln!(f, "{:>8} -> {:<8} us : {}", lo + 1, "inf", c)?;
                } else {
                    writeln!(f, "{:>8} -> {:<8} us : {}", lo, hi, c)?;
                }
            }
            lo = hi;
        }
        write!(
            f,
            "count {} mean {} us p50 {} us p99 {} us max {} us",
            self.count,
            self.mean_us(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.max_us()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn bucket_of(ns: u64) -> u64 {
        let mut h = Histogram::new();
        h.record(ns);
        let b = h.buckets().find(|(_, c)| *c == 1).unwrap().0;
        b
    }

    #[test]
    fn bucket_bounds() {
        assert_eq!(bucket_of(0), 1);
        assert_eq!(bucket_of(1000), 1);
        assert_eq!(bucket_of(1001), 2);
        assert_eq!(bucket_of(2000), 2);
        assert_eq!(bucket_of(3000), 4);
        assert_eq!(bucket_of(1_048_576_000), 1 << 20);
        assert_eq!(bucket_of(1_048_577_000), u64::MAX);
        assert_eq!(bucket_of(u64::MAX), u64::MAX);
        let h = Histogram::new();
        let bounds: Vec<u64> = h.buckets().map(|b| b.0).collect();
        assert_eq!(bounds.len(), 22);
        assert_eq!(bounds[..3], [1, 2, 4]);
    }

    #[test]
    fn percentiles_and_mean() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(50.0), 0);
        for _ in 0..90 {
            h.record(3_000); // <= 4 us
        }
        for _ in 0..10 {
            h.record(100_000); // <= 128 us
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(50.0), 4);
        assert_eq!(h.percentile(90.0), 4);
        assert_eq!(h.percentile(91.0), 128);
        assert_eq!(h.percentile(100.0), 128);
        assert_eq!(h.percentile(0.0), 4);
        assert_eq!(h.percentile(f64::NAN), 4);
        assert_eq!(h.mean_us(), (90 * 3 + 10 * 100) / 100);
        h.record(5_000_000_000);
        assert_eq!(h.percentile(100.0), 5_000_000);
        assert!(h.to_string().contains("count 101"));
        h.reset();
        assert_eq!(h.count(), 0);
    }
}
