//! Exact percentiles (nearest rank) over durations.

/// Duration percentiles in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// Exact percentiles of `values` (sorted in place); all zero when empty.
    pub fn of(values: &mut [u64]) -> Percentiles {
        values.sort_unstable();
        Percentiles {
            p50: percentile(values, 0.50),
            p90: percentile(values, 0.90),
            p95: percentile(values, 0.95),
            p99: percentile(values, 0.99),
            max: values.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank percentile `q` (0..=1) of sorted `values`: the smallest
/// value with at least `q` of the values at or below it. 0 when empty.
///
/// ```
/// use tracelite::analysis::percentile;
/// let v: Vec<u64> = (1..=100).collect();
/// assert_eq!(percentile(&v, 0.5), 50);
/// assert_eq!(percentile(&v, 0.99), 99);
/// assert_eq!(percentile(&v, 1.0), 100);
/// ```
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[1, 2], 0.5), 1);
        assert_eq!(percentile(&[1, 2], 0.51), 2);
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(
            (p.p50, p.p90, p.p95, p.p99, p.max),
            (500, 900, 950, 990, 1000)
        );
    }
}
