//! The commands that read or maintain a database.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tracelite::analysis::{critical_path, service_map, SpanInfo};
use tracelite::render::{
    format_duration, neutralize, render_red_table, render_service_map, render_waterfall,
    render_waterfall_with_path, WaterfallOptions, WaterfallSpan,
};
use tracelite::store::{RetentionPolicy, Store, StoredSpan, TraceQuery, TraceSummary};
use tracelite::TraceId;

use crate::units::format_utc;
use crate::Command;

/// Whether to colour output: a terminal, and no `NO_COLOR`.
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &usize| w >= 40)
        .unwrap_or(100)
}

/// Opens an existing database (reading commands never create one).
pub fn open_existing(db: &Path) -> Result<Store, String> {
    if !db.exists() {
        return Err(format!(
            "no database at {}; run `tracelite demo` to make one, or pass --db PATH",
            db.display()
        ));
    }
    Store::open(db).map_err(|e| e.to_string())
}

pub fn run(db: &Path, command: Command) -> Result<(), String> {
    let store = open_existing(db)?;
    match command {
        Command::Demo { .. } | Command::Dashboard { .. } | Command::Serve { .. } => {
            unreachable!("handled in main")
        }
        Command::Traces {
            service,
            operation,
            tags,
            min_duration,
            max_duration,
            since,
            errors,
            limit,
            json,
        } => {
            let mut q = TraceQuery::new().limit(limit);
            if let Some(s) = service {
                q = q.service(s);
            }
            if let Some(o) = operation {
                q = q.operation(o);
            }
            for tag in &tags {
                q = q.attribute_expr(tag).map_err(|e| e.to_string())?;
            }
            if let Some(d) = min_duration {
                q = q.min_duration(d);
            }
            if let Some(d) = max_duration {
                q = q.max_duration(d);
            }
            if let Some(since) = since {
                q = q.start_time(SystemTime::now() - since);
            }
            if errors {
                q = q.errors_only();
            }
            let traces = store.find_traces(&q).map_err(|e| e.to_string())?;
            if json {
                let list: Vec<_> = traces.iter().map(summary_json).collect();
                print_json(&json!({ "traces": list }));
            } else {
                print_traces(&traces);
            }
        }
        Command::Show {
            trace_id,
            critical_path: with_path,
            attributes,
            json,
        } => {
            let id = resolve(&store, &trace_id)?;
            let spans = store.trace(id).map_err(|e| e.to_string())?;
            if json {
                print_json(
                    &json!({ "trace_id": id.to_string(), "spans": spans.iter().map(span_json).collect::<Vec<_>>() }),
                );
            } else {
                show(&store, id, &spans, with_path, attributes)?;
            }
        }
        Command::Services { json } => {
            let services = store.services().map_err(|e| e.to_string())?;
            if json {
                print_json(&json!({ "services": services }));
            } else {
                for s in services {
                    println!("{}", neutralize(&s));
                }
            }
        }
        Command::Operations { service, json } => {
            let ops = store
                .operations(Some(&service))
                .map_err(|e| e.to_string())?;
            if ops.is_empty() {
                return Err(format!(
                    "no operations for service {service:?}; `tracelite services` lists the services"
                ));
            }
            if json {
                let list: Vec<_> = ops
                    .iter()
                    .map(|o| json!({ "name": o.name, "kind": o.kind.as_str() }))
                    .collect();
                print_json(&json!({ "service": service, "operations": list }));
            } else {
                for o in ops {
                    println!("{:<9} {}", o.kind.as_str(), neutralize(&o.name));
                }
            }
        }
        Command::Map { since, json } => {
            let spans = window(&store, since)?;
            let map = service_map(&spans);
            if json {
                let edges: Vec<_> = map
                    .edges
                    .iter()
                    .map(|e| json!({ "from": e.from, "to": e.to, "calls": e.calls, "error_rate": e.error_rate, "p50_ns": e.p50, "p99_ns": e.p99 }))
                    .collect();
                let nodes: Vec<_> = map
                    .nodes
                    .iter()
                    .map(|n| json!({ "service": n.service, "spans": n.span_count, "error_rate": n.error_rate }))
                    .collect();
                print_json(&json!({ "nodes": nodes, "edges": edges }));
            } else if map.nodes.is_empty() {
                println!(
                    "no traces in the last {}",
                    format_duration(since.as_nanos() as u64)
                );
            } else {
                print!("{}", render_service_map(&map, color()));
            }
        }
        Command::Metrics {
            service,
            since,
            all_kinds,
            json,
        } => {
            let now = SystemTime::now();
            let kinds: &[tracelite::SpanKind] = if all_kinds {
                &[]
            } else {
                &[tracelite::SpanKind::Server, tracelite::SpanKind::Consumer]
            };
            let mut red = store
                .red_metrics(now - since, now, kinds, None)
                .map_err(|e| e.to_string())?;
            if let Some(s) = &service {
                red.services.retain(|r| &r.service == s);
                red.operations.retain(|r| &r.service == s);
            }

            if json {
                let row = |r: &tracelite::analysis::RedRow| {
                    json!({ "service": r.service, "operation": r.operation, "count": r.count,
                        "rate": r.rate, "errors": r.errors, "error_rate": r.error_rate,
                        "p50_ns": r.durations.p50, "p90_ns": r.durations.p90,
                        "p95_ns": r.durations.p95, "p99_ns": r.durations.p99, "max_ns": r.durations.max })
                };
                print_json(&json!({
                    "services": red.services.iter().map(row).collect::<Vec<_>>(),
                    "operations": red.operations.iter().map(row).collect::<Vec<_>>(),
                }));
            } else if red.services.is_empty() {
                println!(
                    "no requests in the last {}",
                    format_duration(since.as_nanos() as u64)
                );
            } else {
                print!("{}", render_red_table(&red, color()));
            }
        }
        Command::Prune {
            older_than,
            max_size,
        } => {
            if older_than.is_none() && max_size.is_none() {
                return Err("say what to prune: --older-than 7d and/or --max-size 500MB".into());
            }
            let mut policy = RetentionPolicy::new();
            if let Some(age) = older_than {
                policy = policy.max_age(age);
            }
            if let Some(size) = max_size {
                policy = policy.max_size(size);
            }
            let report = store.apply_retention(&policy).map_err(|e| e.to_string())?;
            println!(
                "deleted {} traces ({} spans); {} freed",
                report.traces_deleted,
                report.spans_deleted,
                bytes(report.bytes_freed)
            );
        }
        Command::Compact => {
            let freed = store.compact().map_err(|e| e.to_string())?;
            println!("{} freed", bytes(freed));
        }
        Command::Stats { json } => {
            let stats = store.stats().map_err(|e| e.to_string())?;
            let range = store.time_range().map_err(|e| e.to_string())?;
            if json {
                print_json(&json!({
                    "traces": stats.traces, "spans": stats.spans,
                    "used_bytes": stats.used_bytes, "file_bytes": stats.file_bytes,
                    "wal_bytes": stats.wal_bytes,
                    "oldest_start_ns": range.map(|r| r.0), "newest_start_ns": range.map(|r| r.1),
                }));
            } else {
                println!("database  {}", store.path().display());
                println!("traces    {}", stats.traces);
                println!("spans     {}", stats.spans);
                println!(
                    "size      {} in use, {} file, {} log",
                    bytes(stats.used_bytes),
                    bytes(stats.file_bytes),
                    bytes(stats.wal_bytes)
                );
                if let Some((oldest, newest)) = range {
                    println!("oldest    {} UTC", format_utc(oldest));
                    println!("newest    {} UTC", format_utc(newest));
                }
            }
        }
    }
    Ok(())
}

fn window(store: &Store, since: Duration) -> Result<Vec<SpanInfo>, String> {
    let now = SystemTime::now();
    store
        .spans_between(now - since, now + Duration::from_secs(1))
        .map_err(|e| e.to_string())
}

/// The one trace `prefix` names.
pub fn resolve(store: &Store, prefix: &str) -> Result<TraceId, String> {
    let ids = store
        .trace_ids_with_prefix(prefix, 2)
        .map_err(|e| e.to_string())?;
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no trace {prefix:?} in the database; `tracelite traces` lists recent ones"
        )),
        _ => Err(format!(
            "{prefix:?} matches several traces; give more of the id"
        )),
    }
}

pub fn print_traces(traces: &[TraceSummary]) {
    if traces.is_empty() {
        println!("no traces found");
        return;
    }
    println!(
        "{:<32}  {:<23}  {:>8}  {:>5}  {:>6}  ROOT",
        "TRACE ID", "START (UTC)", "DURATION", "SPANS", "ERRORS"
    );
    for t in traces {
        println!(
            "{:<32}  {:<23}  {:>8}  {:>5}  {:>6}  {} › {}",
            t.trace_id.to_string(),
            format_utc(t.start_unix_nanos),
            format_duration(t.duration().as_nanos() as u64),
            t.span_count,
            t.error_count,
            neutralize(&t.root_service),
            neutralize(&t.root_name)
        );
    }
}

/// Prints a trace's waterfall (with its critical path when asked).
pub fn show(
    store: &Store,
    id: TraceId,
    spans: &[StoredSpan],
    with_path: bool,
    attributes: bool,
) -> Result<(), String> {
    if spans.is_empty() {
        return Err(format!("trace {id} has no spans"));
    }
    let summary = store.trace_summary(id).map_err(|e| e.to_string())?;
    if let Some(s) = &summary {
        println!(
            "trace {} · {} spans · {} · {} errors",
            id,
            s.span_count,
            format_duration(s.duration().as_nanos() as u64),
            s.error_count
        );
    }
    let ws: Vec<WaterfallSpan<'_>> = spans
        .iter()
        .map(|s| WaterfallSpan {
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            service: &s.service,
            name: &s.name,
            start_unix_nanos: s.start_unix_nanos,
            end_unix_nanos: s.end_unix_nanos,
            is_error: s.status.is_error(),
        })
        .collect();
    let options = WaterfallOptions {
        width: width(),
        color: color(),
    };
    if with_path {
        let infos: Vec<SpanInfo> = spans.iter().map(SpanInfo::from).collect();
        let path = critical_path(&infos).unwrap_or_default();
        print!("{}", render_waterfall_with_path(&ws, &options, &path));
        println!("\ncritical path (█), time on it per span:");
        for (span_id, ns) in path.self_times() {
            if let Some(s) = spans.iter().find(|s| s.span_id == span_id) {
                println!(
                    "  {:>8}  {} › {}",
                    format_duration(ns),
                    neutralize(&s.service),
                    neutralize(&s.name)
                );
            }
        }
        for note in &path.notes {
            println!("  note: {}", neutralize(note));
        }
    } else {
        print!("{}", render_waterfall(&ws, &options));
    }
    if attributes {
        println!();
        for s in spans {
            println!(
                "{} › {} ({})",
                neutralize(&s.service),
                neutralize(&s.name),
                s.span_id
            );
            for kv in &s.attributes {
                println!(
                    "    {} = {}",
                    neutralize(kv.key.as_str()),
                    neutralize(&kv.value.to_string())
                );
            }
            for e in &s.events {
                println!("    event {}", neutralize(&e.name));
            }
        }
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn summary_json(t: &TraceSummary) -> serde_json::Value {
    json!({
        "trace_id": t.trace_id.to_string(),
        "root_service": t.root_service,
        "root_name": t.root_name,
        "start_ns": t.start_unix_nanos,
        "duration_ns": t.duration().as_nanos() as u64,
        "spans": t.span_count,
        "errors": t.error_count,
        "services": t.services,
    })
}

fn span_json(s: &StoredSpan) -> serde_json::Value {
    let attributes: serde_json::Map<String, serde_json::Value> = s
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str().to_string(), json!(kv.value.to_string())))
        .collect();
    json!({
        "span_id": s.span_id.to_string(),
        "parent_span_id": if s.parent_span_id.is_valid() { Some(s.parent_span_id.to_string()) } else { None },
        "service": s.service,
        "name": s.name,
        "kind": s.kind.as_str(),
        "start_ns": s.start_unix_nanos,
        "duration_ns": s.duration().as_nanos() as u64,
        "error": s.status.is_error(),
        "attributes": attributes,
    })
}
