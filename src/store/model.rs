//! What queries return: spans, trace summaries and operations as stored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::trace::{Event, KeyValue, Link, SpanId, SpanKind, Status, TraceFlags, TraceId};

/// A span read back from the store.
///
/// Times are nanoseconds since the Unix epoch, as stored; the resource and
/// scope are resolved to their attributes and names.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredSpan {
    /// The trace.
    pub trace_id: TraceId,
    /// The span.
    pub span_id: SpanId,
    /// The parent, [`SpanId::INVALID`] for a root.
    pub parent_span_id: SpanId,
    /// Whether the parent was in another process.
    pub parent_is_remote: bool,
    /// The W3C trace flags.
    pub trace_flags: TraceFlags,
    /// The W3C `tracestate` header value (empty when none).
    pub trace_state: String,
    /// The service (`service.name` of the resource).
    pub service: String,
    /// The span name.
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
    /// Start, in ns since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in ns since the Unix epoch.
    pub end_unix_nanos: u64,
    /// The outcome.
    pub status: Status,
    /// The span's attributes, in order.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by span limits.
    pub dropped_attributes_count: u32,
    /// Events, in order.
    pub events: Vec<Event>,
    /// Events dropped by span limits.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links dropped by span limits.
    pub dropped_links_count: u32,
    /// The resource's attributes.
    pub resource: Vec<KeyValue>,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The instrumentation scope's version.
    pub scope_version: Option<String>,
}

impl StoredSpan {
    /// How long the span took.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nanos.saturating_sub(self.start_unix_nanos))
    }

    /// The start as a wall-clock time.
    pub fn start_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.start_unix_nanos)
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&crate::Value> {
        crate::trace::attribute::find(&self.attributes, key)
    }
}

/// One row of a trace list: what is known about a trace without reading its
/// spans. Kept current as spans arrive, in any order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// The root span's id; `None` while the root has not arrived (then
    /// `root_service` and `root_name` are those of the earliest span seen).
    pub root_span_id: Option<SpanId>,
    /// The root span's service.
    pub root_service: String,
    /// The root span's name.
    pub root_name: String,
    /// The earliest span start, in ns since the Unix epoch.
    pub start_unix_nanos: u64,
    /// The latest span end, in ns since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Spans stored for the trace.
    pub span_count: u64,
    /// Spans whose status is Error.
    pub error_count: u64,
    /// The services that took part, sorted.
    pub services: Vec<String>,
}

impl TraceSummary {
    /// From the earliest start to the latest end.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nanos.saturating_sub(self.start_unix_nanos))
    }
}

/// A span name seen for a service, with its kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The service.
    pub service: String,
    /// The span name.
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
}

/// Sizes and counts of a store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Traces stored.
    pub traces: u64,
    /// Spans stored.
    pub spans: u64,
    /// Bytes of the database file in use (excluding free pages).
    pub used_bytes: u64,
    /// Bytes of the database file, free pages included (what compaction can
    /// give back is `file_bytes - used_bytes`).
    pub file_bytes: u64,
    /// Bytes of the write-ahead log.
    pub wal_bytes: u64,
}

pub(crate) fn kind_code(kind: SpanKind) -> i64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

pub(crate) fn kind_from_code(code: i64) -> SpanKind {
    match code {
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

/// Nanoseconds since the epoch as SQLite's signed integer (saturating).
pub(crate) fn ns_to_sql(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

pub(crate) fn ns_from_sql(ns: i64) -> u64 {
    u64::try_from(ns).unwrap_or(0)
}
