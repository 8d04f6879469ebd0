//! Who calls whom: the service dependency map.

use std::collections::{BTreeMap, HashMap};

use super::{Percentiles, SpanInfo};
use crate::trace::{SpanId, TraceId};

/// A service in the map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceNode {
    /// The service.
    pub service: String,
    /// Its spans in the data.
    pub span_count: u64,
    /// Share of them that failed.
    pub error_rate: f64,
}

/// Calls from one service to another.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceEdge {
    /// The caller.
    pub from: String,
    /// The callee.
    pub to: String,
    /// Calls seen (child spans of the callee under a span of the caller).
    pub calls: u64,
    /// Share of those calls that failed (the callee's span is an error).
    pub error_rate: f64,
    /// Median duration of the callee's spans, ns.
    pub p50: u64,
    /// 99th percentile, ns.
    pub p99: u64,
}

/// The services and the calls between them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceMap {
    /// Services, sorted by name.
    pub nodes: Vec<ServiceNode>,
    /// Edges, sorted by caller then callee.
    pub edges: Vec<ServiceEdge>,
}

/// Builds the map from spans of any number of traces: an edge A → B for
/// every span of service B whose parent (in the same trace) belongs to
/// service A — a CLIENT span over the callee's SERVER span, a PRODUCER
/// over a CONSUMER, or any parent of one service directly over a child of
/// another.
///
/// ```
/// use tracelite::analysis::{service_map, SpanInfo};
/// use tracelite::{SpanId, SpanKind, TraceId};
///
/// let t = TraceId::from_u128(7);
/// let id = SpanId::from_u64;
/// let spans = [
///     SpanInfo::new(t, id(1), SpanId::INVALID, "gateway", "GET /", SpanKind::Server, 0, 100),
///     SpanInfo::new(t, id(2), id(1), "gateway", "GET", SpanKind::Client, 10, 90),
///     SpanInfo::new(t, id(3), id(2), "user-api", "GET /users", SpanKind::Server, 20, 80),
/// ];
/// let map = service_map(&spans);
/// assert_eq!(map.edges.len(), 1);
/// assert_eq!((map.edges[0].from.as_str(), map.edges[0].to.as_str()), ("gateway", "user-api"));
/// ```
pub fn service_map(spans: &[SpanInfo]) -> ServiceMap {
    let by_id: HashMap<(TraceId, SpanId), &SpanInfo> =
        spans.iter().map(|s| ((s.trace_id, s.span_id), s)).collect();
    let mut nodes: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut edges: BTreeMap<(&str, &str), (Vec<u64>, u64)> = BTreeMap::new();
    for s in spans {
        let node = nodes.entry(&s.service).or_default();
        node.0 += 1;
        node.1 += u64::from(s.is_error);
        if !s.parent_span_id.is_valid() {
            continue;
        }
        if let Some(parent) = by_id.get(&(s.trace_id, s.parent_span_id)) {
            if parent.service != s.service {
                let edge = edges.entry((&parent.service, &s.service)).or_default();
                edge.0.push(s.duration());
                edge.1 += u64::from(s.is_error);
            }
        }
    }
    ServiceMap {
        nodes: nodes
            .into_iter()
            .map(|(service, (count, errors))| ServiceNode {
                service: service.to_string(),
                span_count: count,
                error_rate: ratio(errors, count),
            })
            .collect(),
        edges: edges
            .into_iter()
            .map(|((from, to), (mut durations, errors))| {
                let calls = durations.len() as u64;
                let p = Percentiles::of(&mut durations);
                ServiceEdge {
                    from: from.to_string(),
                    to: to.to_string(),
                    calls,
                    error_rate: ratio(errors, calls),
                    p50: p.p50,
                    p99: p.p99,
                }
            })
            .collect(),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::SpanKind;

    #[test]
    fn edges_counts_errors_and_latency() {
        let id = SpanId::from_u64;
        let mut spans = Vec::new();
        for t in 1..=10u128 {
            let tid = TraceId::from_u128(t);
            let ms = |x: u64| x * 1_000_000;
            spans.push(SpanInfo::new(
                tid,
                id(1),
                SpanId::INVALID,
                "gateway",
                "GET /",
                SpanKind::Server,
                0,
                ms(100),
            ));
            spans.push(SpanInfo::new(
                tid,
                id(2),
                id(1),
                "gateway",
                "GET",
                SpanKind::Client,
                0,
                ms(90),
            ));
            spans.push(
                SpanInfo::new(
                    tid,
                    id(3),
                    id(2),
                    "users",
                    "GET /u",
                    SpanKind::Server,
                    0,
                    ms(t as u64 * 8),
                )
                .with_error(t == 10),
            );
            // Same service below: no edge.
            spans.push(SpanInfo::new(
                tid,
                id(4),
                id(3),
                "users",
                "cache",
                SpanKind::Internal,
                0,
                ms(1),
            ));
            // Directly under another service's span (no client span).
            spans.push(SpanInfo::new(
                tid,
                id(5),
                id(3),
                "db",
                "query",
                SpanKind::Server,
                0,
                ms(2),
            ));
        }
        // An orphan: its parent is in no trace here.
        spans.push(SpanInfo::new(
            TraceId::from_u128(99),
            id(1),
            id(42),
            "lonely",
            "x",
            SpanKind::Server,
            0,
            1,
        ));
        let map = service_map(&spans);
        let edges: Vec<_> = map
            .edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.calls))
            .collect();
        assert_eq!(edges, [("gateway", "users", 10), ("users", "db", 10)]);
        let e = &map.edges[0];
        assert!((e.error_rate - 0.1).abs() < 1e-12);
        assert_eq!((e.p50, e.p99), (40_000_000, 80_000_000));
        let nodes: Vec<_> = map
            .nodes
            .iter()
            .map(|n| (n.service.as_str(), n.span_count))
            .collect();
        assert_eq!(
            nodes,
            [("db", 10), ("gateway", 20), ("lonely", 1), ("users", 20)]
        );
    }
}
