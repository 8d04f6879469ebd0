//! A mergeable duration sketch with a bounded relative error, for
//! percentiles over rolled-up data.

use std::collections::BTreeMap;

/// Relative accuracy of [`DurationSketch`] quantiles: a reported value is
/// within 1% of a value of the right rank.
pub const RELATIVE_ERROR: f64 = 0.01;

/// A histogram of durations in logarithmic buckets (the DDSketch idea):
/// bucket `i` holds values in `(γ^(i-1), γ^i]` with `γ = (1+α)/(1-α)`, and
/// a quantile is reported as the middle of its bucket, `2γ^i/(γ+1)`, which
/// is within `α` (1%) of every value in the bucket. Sketches merge by adding
/// counts, so per-minute sketches combine into any window.
///
/// ```
/// use tracelite::analysis::DurationSketch;
///
/// let mut s = DurationSketch::new();
/// for ms in 1..=1000u64 {
///     s.add(ms * 1_000_000);
/// }
/// let p99 = s.quantile(0.99) as f64;
/// assert!((p99 / 990e6 - 1.0).abs() <= 0.01);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurationSketch {
    buckets: BTreeMap<i32, u64>,
    zeros: u64,
    count: u64,
    max: u64,
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

impl DurationSketch {
    /// An empty sketch.
    pub fn new() -> DurationSketch {
        DurationSketch::default()
    }

    /// Adds one duration in ns.
    pub fn add(&mut self, ns: u64) {
        self.count += 1;
        self.max = self.max.max(ns);
        if ns == 0 {
            self.zeros += 1;
            return;
        }
        let index = ((ns as f64).ln() / gamma().ln()).ceil() as i32;
        *self.buckets.entry(index).or_default() += 1;
    }

    /// Adds everything in `other`.
    pub fn merge(&mut self, other: &DurationSketch) {
        for (&i, &n) in &other.buckets {
            *self.buckets.entry(i).or_default() += n;
        }
        self.zeros += other.zeros;
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// Durations added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest duration added (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The nearest-rank quantile `q` (0..=1), within 1%; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank <= self.zeros {
            return 0;
        }
        let mut seen = self.zeros;
        for (&i, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let g = gamma();
                let value = 2.0 * g.powi(i) / (g + 1.0);
                return (value.round() as u64).min(self.max);
            }
        }
        self.max
    }

    /// p50, p90, p95, p99 and the exact max.
    pub fn percentiles(&self) -> super::Percentiles {
        super::Percentiles {
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            max: self.max,
        }
    }

    /// A compact byte form: count of zeros, max, then (bucket delta, count)
    /// pairs, all LEB128 varints (zigzag for the deltas).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.buckets.len() * 3);
        put(&mut out, self.zeros);
        put(&mut out, self.max);
        let mut last = 0i64;
        for (&i, &n) in &self.buckets {
            let delta = i64::from(i) - last;
            last = i64::from(i);
            put(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
            put(&mut out, n);
        }
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes); `None` for bytes it did not make.
    pub fn from_bytes(bytes: &[u8]) -> Option<DurationSketch> {
        let mut at = 0;
        let mut s = DurationSketch {
            zeros: get(bytes, &mut at)?,
            max: get(bytes, &mut at)?,
            ..DurationSketch::default()
        };
        s.count = s.zeros;
        let mut last = 0i64;
        while at < bytes.len() {
            let z = get(bytes, &mut at)?;
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            last = last.checked_add(delta)?;
            let n = get(bytes, &mut at)?;
            s.buckets.insert(i32::try_from(last).ok()?, n);
            s.count = s.count.checked_add(n)?;
        }
        Some(s)
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::percentile;

    /// A deterministic spread of durations: a body around 5 ms and a tail.
    fn data(n: u64, seed: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let base = 1_000_000 + x % 9_000_000;
                if x % 20 == 0 {
                    base * 30
                } else {
                    base
                }
            })
            .collect()
    }

    #[test]
    fn quantiles_are_within_one_percent_of_exact() {
        for seed in [1, 7, 42, 1234] {
            let values = data(20_000, seed);
            let mut sketch = DurationSketch::new();
            values.iter().for_each(|&v| sketch.add(v));
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for q in [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let exact = percentile(&sorted, q) as f64;
                let approx = sketch.quantile(q) as f64;
                assert!(
                    (approx / exact - 1.0).abs() <= RELATIVE_ERROR + 1e-9,
                    "seed {seed} q {q}: {approx} vs {exact}"
                );
            }
            assert_eq!(sketch.max(), *sorted.last().unwrap());
        }
    }

    #[test]
    fn merging_equals_adding_everything() {
        let (a, b) = (data(5000, 3), data(7000, 9));
        let mut left = DurationSketch::new();
        a.iter().for_each(|&v| left.add(v));
        let mut right = DurationSketch::new();
        b.iter().for_each(|&v| right.add(v));
        let mut all = DurationSketch::new();
        a.iter().chain(&b).for_each(|&v| all.add(v));
        left.merge(&right);
        assert_eq!(left, all);
        assert_eq!(left.count(), 12_000);
    }

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        let mut s = DurationSketch::new();
        for v in [0, 0, 1, 5, 1_000, 1_000_000_000, u64::MAX / 2] {
            s.add(v);
        }
        assert_eq!(DurationSketch::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(
            DurationSketch::from_bytes(&DurationSketch::new().to_bytes()),
            Some(DurationSketch::new())
        );
        assert_eq!(DurationSketch::from_bytes(&[0xff; 3]), None);
        assert_eq!(DurationSketch::from_bytes(&[]), None);
        assert_eq!(DurationSketch::new().quantile(0.5), 0);
    }
}
