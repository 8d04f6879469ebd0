//! What the spans say: RED metrics with percentiles, the critical path of a
//! trace, and the service dependency map.
//!
//! The functions work on [`SpanInfo`], the few fields analysis needs, which
//! converts from a stored span; the store's `red_metrics`, `service_map`
//! and `critical_path` helpers read the spans of a time window or a trace
//! and call these.
//!
//! ```
//! use tracelite::analysis::{critical_path, SpanInfo};
//! use tracelite::{SpanId, SpanKind, TraceId};
//!
//! let t = TraceId::from_u128(1);
//! let span = |id: u64, parent: u64, start: u64, end: u64| {
//!     SpanInfo::new(t, SpanId::from_u64(id), SpanId::from_u64(parent), "svc", "op", SpanKind::Internal, start, end)
//! };
//! // A root of 100 ns with two children in sequence.
//! let spans = [span(1, 0, 0, 100), span(2, 1, 10, 40), span(3, 1, 50, 90)];
//! let path = critical_path(&spans).unwrap();
//! let total: u64 = path.segments.iter().map(|s| s.duration()).sum();
//! assert_eq!(total, 100);
//! ```

mod critical_path;
mod percentiles;
mod red;
mod service_map;
mod sketch;

pub use critical_path::{critical_path, CriticalPath, Segment};
pub use percentiles::{percentile, Percentiles};
pub use red::{red_metrics, RedBucket, RedMetrics, RedOptions, RedRow};
pub use service_map::{service_map, ServiceEdge, ServiceMap, ServiceNode};
pub use sketch::{DurationSketch, RELATIVE_ERROR};

use crate::trace::{SpanId, SpanKind, TraceId};

/// The fields of a finished span that analysis uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanInfo {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// Its parent ([`SpanId::INVALID`] for a root).
    pub parent_span_id: SpanId,
    /// The service that recorded it.
    pub service: String,
    /// The span name (the operation).
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
    /// Start, ns since the Unix epoch.
    pub start: u64,
    /// End, ns since the Unix epoch.
    pub end: u64,
    /// Whether its status is Error.
    pub is_error: bool,
}

impl SpanInfo {
    /// A span with status not Error.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        trace_id: TraceId,
        span_id: SpanId,
        parent_span_id: SpanId,
        service: impl Into<String>,
        name: impl Into<String>,
        kind: SpanKind,
        start: u64,
        end: u64,
    ) -> SpanInfo {
        SpanInfo {
            trace_id,
            span_id,
            parent_span_id,
            service: service.into(),
            name: name.into(),
            kind,
            start,
            end: end.max(start),
            is_error: false,
        }
    }

    /// Marks the span as failed.
    pub fn with_error(mut self, is_error: bool) -> SpanInfo {
        self.is_error = is_error;
        self
    }

    /// `end - start` in ns.
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

#[cfg(feature = "sqlite")]
impl From<&crate::store::StoredSpan> for SpanInfo {
    fn from(s: &crate::store::StoredSpan) -> SpanInfo {
        SpanInfo {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            service: s.service.clone(),
            name: s.name.clone(),
            kind: s.kind,
            start: s.start_unix_nanos,
            end: s.end_unix_nanos.max(s.start_unix_nanos),
            is_error: s.status.is_error(),
        }
    }
}
