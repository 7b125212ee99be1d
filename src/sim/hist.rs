//! A log-linear histogram of durations, for latency and staleness percentiles.
//!
//! Values below 128 ns have a bucket each; above, every power of two is split into 64 buckets,
//! so a bucket's width is under 1/64 (1.6%) of its values. Counts only, integers only: the same
//! values give the same buckets on every machine. The exact minimum, maximum and sum are kept
//! beside the buckets.

use serde::{Deserialize, Serialize};

const LINEAR: u64 = 128;
const SUB_BITS: u32 = 6;
const SUBS: u64 = 1 << SUB_BITS;

/// Bucket index of `v`.
fn bucket(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // 7 ..= 63
    let mantissa = (v >> (exp - SUB_BITS)) & (SUBS - 1);
    (LINEAR + u64::from(exp - 7) * SUBS + mantissa) as usize
}

/// The smallest value in bucket `i`.
fn lower_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let exp = (i - LINEAR) / SUBS + 7;
    let mantissa = (i - LINEAR) % SUBS;
    (1 << exp) | (mantissa << (exp - u64::from(SUB_BITS)))
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Counts per bucket, grown as needed (empty until the first value).
    counts: Vec<u64>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
}

/// A histogram's summary, in microseconds (three decimals: nanosecond precision).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        let b = bucket(v);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.count += 1;
        self.sum += u128::from(v);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the lower bound of the bucket holding the
    /// `ceil(q·count)`-th smallest value, clamped to the exact minimum and maximum (and the
    /// maximum itself for the largest rank).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return self.max;
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return lower_bound(i).clamp(self.min, self.max);
            }
        }
        self.max
    }

    pub fn percentiles(&self) -> Percentiles {
        let us = |ns: u64| ns as f64 / 1e3;
        Percentiles {
            count: self.count,
            min_us: us(if self.count == 0 { 0 } else { self.min }),
            p50_us: us(self.quantile(0.5)),
            p99_us: us(self.quantile(0.99)),
            max_us: us(self.max),
            mean_us: if self.count == 0 {
                0.0
            } else {
                (self.sum / u128::from(self.count)) as f64 / 1e3
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        let mut values: Vec<u64> = (0..200)
            .chain((7..64).flat_map(|e| {
                let p = 1u64 << e;
                [p, p + 1, p + p / 2, p + (p - 1)]
            }))
            .collect();
        values.sort_unstable();
        for v in values {
            let b = bucket(v);
            assert!(b >= last, "monotonic at {v}");
            last = b;
            let lo = lower_bound(b);
            assert!(lo <= v, "{v} sits at or above its bucket's bound {lo}");
            assert!(v - lo <= v / 64, "{v}: bucket width within 1/64");
        }
        assert_eq!(bucket(u64::MAX), bucket(u64::MAX - 1));
    }

    #[test]
    fn quantiles_follow_the_data() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let within = |got: u64, want: u64| got <= want && want - got <= want / 64;
        assert!(within(h.quantile(0.5), 500_000), "{}", h.quantile(0.5));
        assert!(within(h.quantile(0.99), 990_000), "{}", h.quantile(0.99));
        assert_eq!(h.quantile(1.0), 1_000_000);
        assert_eq!(h.quantile(0.0), 1000);
        let p = h.percentiles();
        assert_eq!((p.count, p.min_us, p.max_us), (1000, 1.0, 1000.0));
        assert_eq!(p.mean_us, 500.5);
    }
}
