//! Traces in Jaeger's JSON model (what Jaeger's query API returns), so tools
//! that speak it can read TraceLite.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::store::StoredSpan;
use crate::trace::{KeyValue, SpanKind, Status, TraceId, Value};

fn tag(kv: &KeyValue) -> Json {
    let (ty, value) = match &kv.value {
        Value::Bool(b) => ("bool", json!(b)),
        Value::I64(i) => ("int64", json!(i)),
        Value::F64(f) => ("float64", json!(f)),
        Value::String(s) => ("string", json!(s.as_str())),
        Value::Array(_) => ("string", json!(kv.value.to_string())),
    };
    json!({ "key": kv.key.as_str(), "type": ty, "value": value })
}

fn micros(ns: u64) -> u64 {
    ns / 1000
}

/// One trace as Jaeger's `{traceID, spans, processes, warnings}`.
pub(super) fn trace(trace_id: TraceId, spans: &[StoredSpan]) -> Json {
    // One process per distinct (service, resource).
    let mut processes: BTreeMap<String, Json> = BTreeMap::new();
    let mut process_of: Vec<String> = Vec::with_capacity(spans.len());
    let mut keys: Vec<(String, Vec<KeyValue>)> = Vec::new();
    for s in spans {
        let key = (s.service.clone(), s.resource.clone());
        let index = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        let id = format!("p{}", index + 1);
        processes.entry(id.clone()).or_insert_with(|| {
            json!({
                "serviceName": s.service,
                "tags": s.resource.iter().filter(|kv| kv.key.as_str() != "service.name").map(tag).collect::<Vec<_>>(),
            })
        });
        process_of.push(id);
    }
    let spans: Vec<Json> = spans
        .iter()
        .zip(process_of)
        .map(|(s, process)| span(s, &process))
        .collect();
    json!({
        "traceID": trace_id.to_string(),
        "spans": spans,
        "processes": processes,
        "warnings": Json::Null,
    })
}

fn span(s: &StoredSpan, process: &str) -> Json {
    let mut references = Vec::new();
    if s.parent_span_id.is_valid() {
        references.push(json!({
            "refType": "CHILD_OF",
            "traceID": s.trace_id.to_string(),
            "spanID": s.parent_span_id.to_string(),
        }));
    }
    for link in &s.links {
        references.push(json!({
            "refType": "FOLLOWS_FROM",
            "traceID": link.span_context.trace_id().to_string(),
            "spanID": link.span_context.span_id().to_string(),
        }));
    }
    let mut tags: Vec<Json> = s.attributes.iter().map(tag).collect();
    let kind = match s.kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    };
    tags.push(json!({ "key": "span.kind", "type": "string", "value": kind }));
    match &s.status {
        Status::Error { description } => {
            tags.push(json!({ "key": "error", "type": "bool", "value": true }));
            tags.push(json!({ "key": "otel.status_code", "type": "string", "value": "ERROR" }));
            if !description.is_empty() {
                tags.push(json!({ "key": "otel.status_description", "type": "string", "value": description }));
            }
        }
        Status::Ok => {
            tags.push(json!({ "key": "otel.status_code", "type": "string", "value": "OK" }))
        }
        Status::Unset => {}
    }
    if !s.scope_name.is_empty() {
        tags.push(json!({ "key": "otel.scope.name", "type": "string", "value": s.scope_name }));
    }
    let logs: Vec<Json> = s
        .events
        .iter()
        .map(|e| {
            let mut fields = vec![json!({ "key": "event", "type": "string", "value": e.name })];
            fields.extend(e.attributes.iter().map(tag));
            json!({
                "timestamp": micros(crate::trace::clock::unix_nanos(e.timestamp)),
                "fields": fields,
            })
        })
        .collect();
    json!({
        "traceID": s.trace_id.to_string(),
        "spanID": s.span_id.to_string(),
        "operationName": s.name,
        "references": references,
        "startTime": micros(s.start_unix_nanos),
        "duration": micros(s.duration().as_nanos() as u64),
        "tags": tags,
        "logs": logs,
        "processID": process,
        "warnings": Json::Null,
        "flags": s.trace_flags.bits(),
    })
}
