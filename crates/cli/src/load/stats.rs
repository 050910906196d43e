//! Numbers a load run collects: a latency histogram with bounded memory, order statistics of
//! small samples (frame rates per viewer), and errors counted by kind.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two. 64 keeps every reported value within 1.6% of the truth,
/// far finer than the millisecond figures the summaries print.
const SUB_BUCKETS: u64 = 64;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();
/// Values from 2^32 µs (71 minutes) up share the last bucket; no frame is that late.
const MAX_EXPONENT: u32 = 32;
const BUCKETS: usize = ((MAX_EXPONENT - SUB_BITS + 1) as usize) * SUB_BUCKETS as usize;

/// Latencies in microseconds, bucketed log-linearly.
///
/// A run of hundreds of viewers at 30 fps for an hour produces more samples than is
/// reasonable to keep, so each viewer counts into one of these instead: 14 KiB, whatever the
/// number of samples. Values below 64 µs are exact; above, each bucket is 1/64 of its power
/// of two wide. The minimum and maximum are kept exactly.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

/// The bucket a value falls in.
fn bucket_of(micros: u64) -> usize {
    if micros < SUB_BUCKETS {
        return micros as usize;
    }
    let exponent = (63 - micros.leading_zeros()).min(MAX_EXPONENT);
    if exponent == MAX_EXPONENT {
        return BUCKETS - 1;
    }
    let sub = (micros >> (exponent - SUB_BITS)) & (SUB_BUCKETS - 1);
    ((exponent - SUB_BITS + 1) as usize) * SUB_BUCKETS as usize + sub as usize
}

/// The middle of a bucket's range, the value reported for samples in it.
fn bucket_value(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let exponent = bucket / SUB_BUCKETS - 1 + u64::from(SUB_BITS);
    let sub = bucket % SUB_BUCKETS;
    let width = 1u64 << (exponent - u64::from(SUB_BITS));
    (1u64 << exponent) + sub * width + width / 2
}

impl LatencyHistogram {
    /// Counts one sample.
    pub fn record(&mut self, micros: u64) {
        self.counts[bucket_of(micros)] += 1;
        self.total += 1;
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest sample, exactly, or `None` without samples.
    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// The value below which a fraction `q` (0–1) of the samples lie, or `None` without
    /// samples. Clamped to the exact minimum and maximum, so `quantile(1.0)` is the maximum.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // The rank of the sample wanted, 1-based: the smallest rank with at least q of the
        // samples at or below it.
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(bucket_value(bucket).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// Minimum, median and maximum of a small sample, such as the frame rate of each viewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values`, or `None` if there are none (or only NaNs).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            min: sorted[0],
            median,
            max: sorted[n - 1],
        })
    }
}

/// Errors counted by kind, each with the first message seen, shared by every task of a run.
///
/// Kinds are short fixed names (`device_send`, `viewer_http_503`), so a summary can say
/// "3 × viewer_connect" instead of printing three near-identical lines.
#[derive(Debug, Default)]
pub struct ErrorTally {
    total: AtomicU64,
    kinds: Mutex<BTreeMap<String, ErrorKind>>,
}

/// One kind of error in an [`ErrorTally`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorKind {
    pub count: u64,
    /// The message of the first error of this kind, as an example.
    pub first: String,
}

impl ErrorTally {
    /// Counts an error of `kind`.
    pub fn record(&self, kind: impl Into<String>, detail: impl fmt::Display) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut kinds = self
            .kinds
            .lock()
            // Counting is plain arithmetic; a panic elsewhere leaves it usable.
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kinds
            .entry(kind.into())
            .and_modify(|k| k.count += 1)
            .or_insert_with(|| ErrorKind {
                count: 1,
                first: detail.to_string(),
            });
    }

    /// How many errors were counted, of all kinds.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The kinds seen so far, sorted by name.
    pub fn snapshot(&self) -> BTreeMap<String, ErrorKind> {
        self.kinds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_contain_their_values() {
        let mut last = 0;
        for v in (0..5000).chain([65_535, 1 << 20, (1 << 32) - 1]) {
            let b = bucket_of(v);
            assert!(b >= last, "{v}");
            last = b;
            let reported = bucket_value(b);
            let error = reported.abs_diff(v) as f64 / (v.max(1)) as f64;
            assert!(error <= 1.0 / 64.0, "{v} reported as {reported}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_uniform_sample() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=10_000 {
            h.record(v);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((4900..=5100).contains(&p50), "{p50}");
        assert!((9800..=10_000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), Some(10_000));
        assert_eq!(h.quantile(0.0), Some(1));
        assert_eq!(h.max(), Some(10_000));
    }

    #[test]
    fn merging_adds_samples() {
        let mut a = LatencyHistogram::default();
        let mut b = LatencyHistogram::default();
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(0.5), Some(10));
        assert_eq!(a.max(), Some(1_000_000));
    }

    #[test]
    fn spread_of_values() {
        assert_eq!(Spread::of([]), None);
        let s = Spread::of([3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 10.0));
        assert_eq!(Spread::of([5.0]).map(|s| s.median), Some(5.0));
    }

    #[test]
    fn errors_are_counted_by_kind_with_the_first_message() {
        let t = ErrorTally::default();
        t.record("viewer_connect", "refused");
        t.record("viewer_connect", "reset");
        t.record("device_send", "broken pipe");
        assert_eq!(t.total(), 3);
        let kinds = t.snapshot();
        assert_eq!(kinds["viewer_connect"].count, 2);
        assert_eq!(kinds["viewer_connect"].first, "refused");
        assert_eq!(kinds.keys().next().map(String::as_str), Some("device_send"));
    }
}
