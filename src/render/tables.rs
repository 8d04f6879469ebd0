//! The service map and the RED table as text.

use std::fmt::Write;

use super::{format_duration, neutralize};
use crate::analysis::{RedMetrics, RedRow, ServiceMap};

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    let mut out = s.to_string();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    out
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn red_if(text: &str, cond: bool, color: bool) -> String {
    if cond && color {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The service map, one line per edge:
///
/// ```text
/// gateway  ──→ user-svc   120 calls   2.5% errors   p50 12.0ms   p99 80.0ms
/// user-svc ──→ database   118 calls   0.0% errors   p50 4.10ms   p99 30.2ms
/// ```
///
/// Services without edges are listed after. Names are escaped.
///
/// ```
/// use tracelite::analysis::{ServiceEdge, ServiceMap, ServiceNode};
/// use tracelite::render::render_service_map;
///
/// let map = ServiceMap {
///     nodes: vec![],
///     edges: vec![ServiceEdge { from: "gateway".into(), to: "users".into(), calls: 12,
///         error_rate: 0.25, p50: 3_000_000, p99: 9_500_000 }],
/// };
/// assert_eq!(render_service_map(&map, false),
///     "gateway ──→ users   12 calls   25.0% errors   p50 3.00ms   p99 9.50ms\n");
/// ```
pub fn render_service_map(map: &ServiceMap, color: bool) -> String {
    let froms: Vec<String> = map
        .edges
        .iter()
        .map(|e| neutralize(&e.from).into_owned())
        .collect();
    let tos: Vec<String> = map
        .edges
        .iter()
        .map(|e| neutralize(&e.to).into_owned())
        .collect();
    let from_w = froms.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let to_w = tos.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let calls_w = map
        .edges
        .iter()
        .map(|e| e.calls.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for ((e, from), to) in map.edges.iter().zip(&froms).zip(&tos) {
        let errors = format!("{:>6} errors", percent(e.error_rate));
        let _ = writeln!(
            out,
            "{} ──→ {}   {:>calls_w$} calls   {}   p50 {}   p99 {}",
            pad(from, from_w),
            pad(to, to_w),
            e.calls,
            red_if(errors.trim_start(), e.error_rate > 0.0, color),
            format_duration(e.p50),
            format_duration(e.p99),
        );
    }
    for node in &map.nodes {
        let linked = map
            .edges
            .iter()
            .any(|e| e.from == node.service || e.to == node.service);
        if !linked {
            let _ = writeln!(
                out,
                "{} (no calls to or from other services; {} spans)",
                neutralize(&node.service),
                node.span_count
            );
        }
    }
    out
}

/// The RED table: one row per service, then its operations indented.
///
/// ```
/// use tracelite::analysis::{red_metrics, RedOptions, SpanInfo};
/// use tracelite::render::render_red_table;
/// use tracelite::{SpanId, SpanKind, TraceId};
///
/// let s = SpanInfo::new(TraceId::from_u128(1), SpanId::from_u64(1), SpanId::INVALID,
///     "api", "GET /", SpanKind::Server, 0, 2_000_000);
/// let table = render_red_table(&red_metrics(&[s], &RedOptions::new(0, 1_000_000_000)), false);
/// assert!(table.starts_with("SERVICE / OPERATION"));
/// assert!(table.contains("api"));
/// assert!(table.contains("  GET /"));
/// ```
pub fn render_red_table(red: &RedMetrics, color: bool) -> String {
    let mut rows: Vec<(String, &RedRow)> = Vec::new();
    for service in &red.services {
        rows.push((neutralize(&service.service).into_owned(), service));
        for op in red
            .operations
            .iter()
            .filter(|o| o.service == service.service)
        {
            let name = op.operation.as_deref().unwrap_or("");
            rows.push((format!("  {}", neutralize(name)), op));
        }
    }
    let name_w = rows
        .iter()
        .map(|(n, _)| n.chars().count())
        .chain(["SERVICE / OPERATION".len()])
        .max()
        .unwrap_or(0)
        .min(48);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {:>8}  {:>8}  {:>7}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
        pad("SERVICE / OPERATION", name_w),
        "REQUESTS",
        "RATE/s",
        "ERRORS",
        "P50",
        "P90",
        "P95",
        "P99",
        "MAX"
    );
    for (name, row) in rows {
        let name: String = if name.chars().count() > name_w {
            let mut cut: String = name.chars().take(name_w - 1).collect();
            cut.push('…');
            cut
        } else {
            name
        };
        let errors = format!("{:>7}", percent(row.error_rate));
        let d = &row.durations;
        let _ = writeln!(
            out,
            "{}  {:>8}  {:>8.2}  {}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
            pad(&name, name_w),
            row.count,
            row.rate,
            red_if(&errors, row.errors > 0, color),
            format_duration(d.p50),
            format_duration(d.p90),
            format_duration(d.p95),
            format_duration(d.p99),
            format_duration(d.max),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{ServiceEdge, ServiceNode};

    #[test]
    fn service_map_aligns_escapes_and_colours() {
        let map = ServiceMap {
            nodes: vec![
                ServiceNode {
                    service: "gateway".into(),
                    span_count: 3,
                    error_rate: 0.0,
                },
                ServiceNode {
                    service: "lonely".into(),
                    span_count: 1,
                    error_rate: 0.0,
                },
            ],
            edges: vec![
                ServiceEdge {
                    from: "gateway".into(),
                    to: "user-svc".into(),
                    calls: 120,
                    error_rate: 0.025,
                    p50: 12_000_000,
                    p99: 80_000_000,
                },
                ServiceEdge {
                    from: "user\u{1b}[2J".into(),
                    to: "db".into(),
                    calls: 7,
                    error_rate: 0.0,
                    p50: 4_100_000,
                    p99: 30_200_000,
                },
            ],
        };
        let text = render_service_map(&map, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("gateway     ──→ user-svc   120 calls   2.5% errors"));
        assert!(
            !text.contains('\u{1b}'),
            "escape sequences must be neutralised"
        );
        assert!(lines[2].starts_with("lonely (no calls"));
        let colored = render_service_map(&map, true);
        assert!(colored.contains("\x1b[31m2.5% errors\x1b[0m"));
    }

    #[test]
    fn red_table_fixed_data() {
        use crate::analysis::{Percentiles, RedRow};
        let row = |service: &str, op: Option<&str>, count, errors| RedRow {
            service: service.into(),
            operation: op.map(Into::into),
            count,
            rate: count as f64 / 60.0,
            errors,
            error_rate: errors as f64 / count as f64,
            durations: Percentiles {
                p50: 1_000_000,
                p90: 2_000_000,
                p95: 3_000_000,
                p99: 4_000_000,
                max: 5_000_000,
            },
            series: Vec::new(),
        };
        let red = RedMetrics {
            services: vec![row("api", None, 120, 6)],
            operations: vec![row("api", Some("GET /\u{202e}x"), 120, 6)],
        };
        let text = render_red_table(&red, false);
        let expected = "\
SERVICE / OPERATION  REQUESTS    RATE/s   ERRORS       P50       P90       P95       P99       MAX
api                       120      2.00     5.0%    1.00ms    2.00ms    3.00ms    4.00ms    5.00ms
  GET /\\u{202e}x          120      2.00     5.0%    1.00ms    2.00ms    3.00ms    4.00ms    5.00ms
";
        assert_eq!(text, expected);
        assert!(render_red_table(&red, true).contains("\x1b[31m   5.0%\x1b[0m"));
    }
}
