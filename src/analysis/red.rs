//! RED metrics: rate, errors and duration per service and operation.

use std::collections::BTreeMap;

use super::{Percentiles, SpanInfo};
use crate::trace::SpanKind;

/// What to compute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedOptions {
    /// The window, ns since the Unix epoch: spans that started in
    /// `[from, to)`.
    pub from: u64,
    /// End of the window (exclusive).
    pub to: u64,
    /// Span kinds counted (default SERVER and CONSUMER: requests a service
    /// handled). Empty means all kinds.
    pub kinds: Vec<SpanKind>,
    /// Time-series bucket width in ns (0: no series).
    pub bucket: u64,
}

impl RedOptions {
    /// SERVER and CONSUMER spans in `[from, to)`, no series.
    pub fn new(from: u64, to: u64) -> RedOptions {
        RedOptions {
            from,
            to,
            kinds: vec![SpanKind::Server, SpanKind::Consumer],
            bucket: 0,
        }
    }

    /// Counts every span kind.
    pub fn all_kinds(mut self) -> Self {
        self.kinds.clear();
        self
    }

    /// Adds a time series with buckets of `ns`.
    pub fn buckets(mut self, ns: u64) -> Self {
        self.bucket = ns;
        self
    }
}

/// One point of a RED time series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedBucket {
    /// Bucket start, ns since the Unix epoch.
    pub start: u64,
    /// Spans that started in the bucket.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Duration percentiles in the bucket.
    pub durations: Percentiles,
}

/// RED for one service (`operation: None`) or one operation of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedRow {
    /// The service.
    pub service: String,
    /// The operation (span name), `None` for the service as a whole.
    pub operation: Option<String>,
    /// Spans counted.
    pub count: u64,
    /// Spans per second over the window.
    pub rate: f64,
    /// Failed spans.
    pub errors: u64,
    /// `errors / count` (0 when there are none).
    pub error_rate: f64,
    /// Duration percentiles (exact, nearest rank), in ns.
    pub durations: Percentiles,
    /// The time series, when asked for.
    pub series: Vec<RedBucket>,
}

/// RED metrics over a window: per service, and per service and operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedMetrics {
    /// One row per service, sorted by name.
    pub services: Vec<RedRow>,
    /// One row per (service, operation), sorted.
    pub operations: Vec<RedRow>,
}

/// Computes RED metrics from `spans` (any order; those outside the window
/// or of other kinds are ignored). Percentiles are exact.
///
/// ```
/// use tracelite::analysis::{red_metrics, RedOptions, SpanInfo};
/// use tracelite::{SpanId, SpanKind, TraceId};
///
/// let spans: Vec<SpanInfo> = (0..100u64)
///     .map(|i| {
///         SpanInfo::new(TraceId::from_u128(1 + i as u128), SpanId::from_u64(1), SpanId::INVALID,
///                       "api", "GET /users", SpanKind::Server, i * 10_000_000, i * 10_000_000 + (i + 1) * 1_000_000)
///             .with_error(i % 10 == 0)
///     })
///     .collect();
/// let red = red_metrics(&spans, &RedOptions::new(0, 1_000_000_000));
/// let api = &red.services[0];
/// assert_eq!((api.count, api.errors), (100, 10));
/// assert_eq!(api.rate, 100.0);                 // per second over a 1 s window
/// assert_eq!(api.durations.p50, 50_000_000);   // 50 ms
/// assert_eq!(api.durations.p99, 99_000_000);
/// ```
pub fn red_metrics(spans: &[SpanInfo], options: &RedOptions) -> RedMetrics {
    let window_secs = (options.to.saturating_sub(options.from) as f64 / 1e9).max(1e-9);
    // (service, Some(op) | None) → (durations, errors, per-bucket)
    type Acc = (Vec<u64>, u64, BTreeMap<u64, (Vec<u64>, u64)>);
    let mut groups: BTreeMap<(String, Option<String>), Acc> = BTreeMap::new();
    for s in spans {
        if s.start < options.from || s.start >= options.to {
            continue;
        }
        if !options.kinds.is_empty() && !options.kinds.contains(&s.kind) {
            continue;
        }
        for key in [
            (s.service.clone(), None),
            (s.service.clone(), Some(s.name.clone())),
        ] {
            let acc = groups.entry(key).or_default();
            acc.0.push(s.duration());
            acc.1 += u64::from(s.is_error);
            if let Some(n) = (s.start - options.from).checked_div(options.bucket) {
                let b = options.from + n * options.bucket;
                let bucket = acc.2.entry(b).or_default();
                bucket.0.push(s.duration());
                bucket.1 += u64::from(s.is_error);
            }
        }
    }
    let mut out = RedMetrics::default();
    for ((service, operation), (mut durations, errors, buckets)) in groups {
        let count = durations.len() as u64;
        let row = RedRow {
            service,
            operation: operation.clone(),
            count,
            rate: count as f64 / window_secs,
            errors,
            error_rate: if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            },
            durations: Percentiles::of(&mut durations),
            series: buckets
                .into_iter()
                .map(|(start, (mut d, errors))| RedBucket {
                    start,
                    count: d.len() as u64,
                    errors,
                    durations: Percentiles::of(&mut d),
                })
                .collect(),
        };
        if operation.is_some() {
            out.operations.push(row);
        } else {
            out.services.push(row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanId, TraceId};

    fn span(
        service: &str,
        name: &str,
        kind: SpanKind,
        start_ms: u64,
        ms: u64,
        err: bool,
    ) -> SpanInfo {
        SpanInfo::new(
            TraceId::from_u128(1),
            SpanId::from_u64(1),
            SpanId::INVALID,
            service,
            name,
            kind,
            start_ms * 1_000_000,
            (start_ms + ms) * 1_000_000,
        )
        .with_error(err)
    }

    #[test]
    fn groups_windows_kinds_and_series() {
        let spans = vec![
            span("a", "GET /x", SpanKind::Server, 0, 10, false),
            span("a", "GET /x", SpanKind::Server, 500, 30, true),
            span("a", "GET /y", SpanKind::Server, 1500, 20, false),
            span("a", "SELECT", SpanKind::Client, 100, 5, false),
            span("b", "consume", SpanKind::Consumer, 200, 7, false),
            span("a", "GET /x", SpanKind::Server, 2000, 99, false), // outside
        ];
        let red = red_metrics(
            &spans,
            &RedOptions::new(0, 2_000_000_000).buckets(1_000_000_000),
        );
        let a = &red.services[0];
        assert_eq!((a.service.as_str(), a.count, a.errors), ("a", 3, 1));
        assert_eq!(a.rate, 1.5);
        assert!((a.error_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.durations.max, 30_000_000);
        assert_eq!(a.series.len(), 2);
        assert_eq!(
            (a.series[0].start, a.series[0].count, a.series[0].errors),
            (0, 2, 1)
        );
        assert_eq!((a.series[1].start, a.series[1].count), (1_000_000_000, 1));
        assert_eq!(red.services[1].service, "b");
        let ops: Vec<_> = red
            .operations
            .iter()
            .map(|r| (r.service.as_str(), r.operation.as_deref().unwrap(), r.count))
            .collect();
        assert_eq!(
            ops,
            [("a", "GET /x", 2), ("a", "GET /y", 1), ("b", "consume", 1)]
        );

        let all = red_metrics(&spans, &RedOptions::new(0, 2_000_000_000).all_kinds());
        assert_eq!(all.services[0].count, 4);
        assert!(red_metrics(&[], &RedOptions::new(0, 1)).services.is_empty());
    }
}
