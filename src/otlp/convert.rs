//! OTLP messages to and from TraceLite's `SpanData`: lossless for
//! everything both sides can express.
//!
//! What TraceLite cannot hold is converted, not dropped: a key-value list
//! becomes its JSON text, bytes their lowercase hex, an array of mixed
//! types an array of strings. Spans with invalid ids are rejected and
//! counted (partial success).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::json::hex;
use super::proto;
use crate::trace::clock::unix_nanos;
use crate::trace::trace_state::TraceState;
use crate::trace::tracer::Origin;
use crate::trace::{
    Array, Event, InstrumentationScope, KeyValue, Link, Resource, SpanContext, SpanData, SpanId,
    SpanKind, Status, StringValue, TraceFlags, TraceId, Value,
};

/// OTLP span flags: bit 8 says whether bit 9 (the parent is remote) is known.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;
/// Longest `tracestate` accepted from the network (the W3C limit is 32
/// members; 512 bytes is what the spec asks propagators to carry).
const MAX_TRACE_STATE: usize = 4096;

/// What the receiver made of a request.
pub struct Converted {
    /// Spans to store.
    pub spans: Vec<SpanData>,
    /// Spans refused (invalid ids).
    pub rejected: u64,
    /// Why the first refused span was refused.
    pub error: Option<String>,
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id = TraceId::from_bytes(bytes.try_into().ok()?);
    id.is_valid().then_some(id)
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id = SpanId::from_bytes(bytes.try_into().ok()?);
    id.is_valid().then_some(id)
}

fn trace_state(s: &str) -> TraceState {
    if s.is_empty() || s.len() > MAX_TRACE_STATE || !s.is_ascii() {
        TraceState::default()
    } else {
        TraceState::from_header_unchecked(s)
    }
}

/// An OTLP value as a TraceLite value (`None` for an empty `AnyValue`).
fn value(v: &proto::AnyValue) -> Option<Value> {
    use proto::any_value::Value as V;
    Some(match v.value.as_ref()? {
        V::StringValue(s) => Value::String(s.clone().into()),
        V::BoolValue(b) => Value::Bool(*b),
        V::IntValue(i) => Value::I64(*i),
        V::DoubleValue(d) => Value::F64(*d),
        V::BytesValue(b) => Value::String(hex(b).into()),
        V::KvlistValue(list) => Value::String(kvlist_json(list).to_string().into()),
        V::ArrayValue(array) => {
            let items: Vec<&V> = array
                .values
                .iter()
                .filter_map(|v| v.value.as_ref())
                .collect();
            let all = |f: fn(&V) -> bool| items.iter().all(|v| f(v));
            if all(|v| matches!(v, V::BoolValue(_))) && !items.is_empty() {
                Value::Array(Array::Bool(
                    items
                        .iter()
                        .filter_map(|v| match v {
                            V::BoolValue(b) => Some(*b),
                            _ => None,
                        })
                        .collect(),
                ))
            } else if all(|v| matches!(v, V::IntValue(_))) && !items.is_empty() {
                Value::Array(Array::I64(
                    items
                        .iter()
                        .filter_map(|v| match v {
                            V::IntValue(i) => Some(*i),
                            _ => None,
                        })
                        .collect(),
                ))
            } else if all(|v| matches!(v, V::DoubleValue(_))) && !items.is_empty() {
                Value::Array(Array::F64(
                    items
                        .iter()
                        .filter_map(|v| match v {
                            V::DoubleValue(d) => Some(*d),
                            _ => None,
                        })
                        .collect(),
                ))
            } else {
                Value::Array(Array::String(
                    array
                        .values
                        .iter()
                        .filter_map(value)
                        .map(|v| StringValue::from(v.to_string()))
                        .collect(),
                ))
            }
        }
    })
}

fn kvlist_json(list: &proto::KeyValueList) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for kv in &list.values {
        let v = kv
            .value
            .as_ref()
            .map_or(serde_json::Value::Null, anyvalue_json);
        map.insert(kv.key.clone(), v);
    }
    serde_json::Value::Object(map)
}

fn anyvalue_json(v: &proto::AnyValue) -> serde_json::Value {
    use proto::any_value::Value as V;
    match &v.value {
        None => serde_json::Value::Null,
        Some(V::StringValue(s)) => s.clone().into(),
        Some(V::BoolValue(b)) => (*b).into(),
        Some(V::IntValue(i)) => (*i).into(),
        Some(V::DoubleValue(d)) => (*d).into(),
        Some(V::BytesValue(b)) => hex(b).into(),
        Some(V::ArrayValue(a)) => a.values.iter().map(anyvalue_json).collect(),
        Some(V::KvlistValue(l)) => kvlist_json(l),
    }
}

fn attributes(kvs: &[proto::KeyValue]) -> Vec<KeyValue> {
    kvs.iter()
        .filter_map(|kv| Some(KeyValue::new(kv.key.clone(), value(kv.value.as_ref()?)?)))
        .collect()
}

fn time(ns: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

fn kind(k: i32) -> SpanKind {
    match k {
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Internal,
    }
}

/// Converts a request into spans; invalid spans are counted, not stored.
pub fn to_span_data(request: proto::ExportTraceServiceRequest) -> Converted {
    let mut out = Converted {
        spans: Vec::new(),
        rejected: 0,
        error: None,
    };
    for rs in request.resource_spans {
        let resource = Resource::new(
            rs.resource
                .as_ref()
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default(),
        );
        for ss in rs.scope_spans {
            let scope = match &ss.scope {
                Some(s) => {
                    let mut b = InstrumentationScope::builder(s.name.clone())
                        .with_attributes(attributes(&s.attributes));
                    if !s.version.is_empty() {
                        b = b.with_version(s.version.clone());
                    }
                    b.build()
                }
                None => InstrumentationScope::new(""),
            };
            let origin = Origin::detached(resource.clone(), scope);
            for span in ss.spans {
                match span_data(span, &origin) {
                    Ok(s) => out.spans.push(s),
                    Err(why) => {
                        out.rejected += 1;
                        out.error.get_or_insert(why);
                    }
                }
            }
        }
    }
    out
}

fn span_data(span: proto::Span, origin: &Arc<Origin>) -> Result<SpanData, String> {
    let tid = trace_id(&span.trace_id).ok_or_else(|| {
        format!(
            "span {:?}: the trace id must be 16 bytes, not all zero",
            span.name
        )
    })?;
    let sid = span_id(&span.span_id).ok_or_else(|| {
        format!(
            "span {:?}: the span id must be 8 bytes, not all zero",
            span.name
        )
    })?;
    let parent = if span.parent_span_id.is_empty() {
        SpanId::INVALID
    } else {
        span_id(&span.parent_span_id).ok_or_else(|| {
            format!(
                "span {:?}: the parent span id must be 8 bytes, not all zero, or empty",
                span.name
            )
        })?
    };
    let status = match &span.status {
        Some(s) if s.code == 2 => Status::Error {
            description: s.message.clone().into(),
        },
        Some(s) if s.code == 1 => Status::Ok,
        _ => Status::Unset,
    };
    let events = span
        .events
        .iter()
        .map(|e| Event {
            name: e.name.clone().into(),
            timestamp: time(e.time_unix_nano),
            attributes: attributes(&e.attributes),
            dropped_attributes_count: e.dropped_attributes_count,
        })
        .collect();
    let links = span
        .links
        .iter()
        .filter_map(|l| {
            Some(Link {
                span_context: SpanContext::new(
                    trace_id(&l.trace_id)?,
                    span_id(&l.span_id)?,
                    TraceFlags::new((l.flags & 0xff) as u8),
                    l.flags & HAS_IS_REMOTE == 0 || l.flags & IS_REMOTE != 0,
                    trace_state(&l.trace_state),
                ),
                attributes: attributes(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
            })
        })
        .collect();
    // Spans from the network are sampled by definition (someone sent them).
    let flags = TraceFlags::new((span.flags & 0xff) as u8).with_sampled(true);
    Ok(SpanData {
        span_context: SpanContext::new(tid, sid, flags, false, trace_state(&span.trace_state)),
        parent_span_id: parent,
        parent_is_remote: span.flags & HAS_IS_REMOTE != 0 && span.flags & IS_REMOTE != 0,
        name: span.name.into(),
        kind: kind(span.kind),
        start_time: time(span.start_time_unix_nano),
        end_time: time(span.end_time_unix_nano.max(span.start_time_unix_nano)),
        attributes: attributes(&span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events,
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
        status,
        origin: origin.clone(),
    })
}

fn any_value(v: &Value) -> proto::AnyValue {
    use proto::any_value::Value as V;
    let inner = match v {
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(i) => V::IntValue(*i),
        Value::F64(f) => V::DoubleValue(*f),
        Value::String(s) => V::StringValue(s.as_str().to_string()),
        Value::Array(a) => {
            let values = match a {
                Array::Bool(v) => v.iter().map(|b| wrap(V::BoolValue(*b))).collect(),
                Array::I64(v) => v.iter().map(|i| wrap(V::IntValue(*i))).collect(),
                Array::F64(v) => v.iter().map(|f| wrap(V::DoubleValue(*f))).collect(),
                Array::String(v) => v
                    .iter()
                    .map(|s| wrap(V::StringValue(s.as_str().to_string())))
                    .collect(),
            };
            V::ArrayValue(proto::ArrayValue { values })
        }
    };
    wrap(inner)
}

fn wrap(v: proto::any_value::Value) -> proto::AnyValue {
    proto::AnyValue { value: Some(v) }
}

fn key_values(kvs: &[KeyValue]) -> Vec<proto::KeyValue> {
    kvs.iter()
        .map(|kv| proto::KeyValue {
            key: kv.key.as_str().to_string(),
            value: Some(any_value(&kv.value)),
        })
        .collect()
}

fn kind_code(k: SpanKind) -> i32 {
    match k {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Converts finished spans into one request, grouped by resource and scope.
pub fn from_span_data(batch: &[SpanData]) -> proto::ExportTraceServiceRequest {
    // (resource, scope) groups, in order of first appearance.
    // Keyed by origin id: a tracer's records share it whichever thread
    // made them (each thread holds its own copy of the origin).
    let mut groups: Vec<(u64, &SpanData, Vec<proto::Span>)> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for span in batch {
        let key = span.origin.id;
        let i = *index.entry(key).or_insert_with(|| {
            groups.push((key, span, Vec::new()));
            groups.len() - 1
        });
        let sc = &span.span_context;
        let remote_bits = HAS_IS_REMOTE | if span.parent_is_remote { IS_REMOTE } else { 0 };
        groups[i].2.push(proto::Span {
            trace_id: sc.trace_id().to_bytes().to_vec(),
            span_id: sc.span_id().to_bytes().to_vec(),
            trace_state: sc.trace_state().as_header().to_string(),
            parent_span_id: if span.parent_span_id.is_valid() {
                span.parent_span_id.to_bytes().to_vec()
            } else {
                Vec::new()
            },
            flags: u32::from(sc.trace_flags().bits()) | remote_bits,
            name: span.name.to_string(),
            kind: kind_code(span.kind),
            start_time_unix_nano: unix_nanos(span.start_time),
            end_time_unix_nano: unix_nanos(span.end_time),
            attributes: key_values(&span.attributes),
            dropped_attributes_count: span.dropped_attributes_count,
            events: span
                .events
                .iter()
                .map(|e| proto::Event {
                    time_unix_nano: unix_nanos(e.timestamp),
                    name: e.name.to_string(),
                    attributes: key_values(&e.attributes),
                    dropped_attributes_count: e.dropped_attributes_count,
                })
                .collect(),
            dropped_events_count: span.dropped_events_count,
            links: span
                .links
                .iter()
                .map(|l| proto::Link {
                    trace_id: l.span_context.trace_id().to_bytes().to_vec(),
                    span_id: l.span_context.span_id().to_bytes().to_vec(),
                    trace_state: l.span_context.trace_state().as_header().to_string(),
                    attributes: key_values(&l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: u32::from(l.span_context.trace_flags().bits())
                        | HAS_IS_REMOTE
                        | if l.span_context.is_remote() {
                            IS_REMOTE
                        } else {
                            0
                        },
                })
                .collect(),
            dropped_links_count: span.dropped_links_count,
            status: match &span.status {
                Status::Unset => None,
                Status::Ok => Some(proto::Status {
                    message: String::new(),
                    code: 1,
                }),
                Status::Error { description } => Some(proto::Status {
                    message: description.to_string(),
                    code: 2,
                }),
            },
        });
    }
    // Resources shared by several scopes are repeated per scope: simple and
    // valid OTLP.
    let resource_spans = groups
        .into_iter()
        .map(|(_, first, spans)| {
            let scope = first.scope();
            proto::ResourceSpans {
                resource: Some(proto::Resource {
                    attributes: key_values(&first.resource().iter().cloned().collect::<Vec<_>>()),
                    dropped_attributes_count: 0,
                }),
                scope_spans: vec![proto::ScopeSpans {
                    scope: Some(proto::InstrumentationScope {
                        name: scope.name().to_string(),
                        version: scope.version().unwrap_or("").to_string(),
                        attributes: key_values(scope.attributes()),
                        dropped_attributes_count: 0,
                    }),
                    spans,
                    schema_url: scope.schema_url().unwrap_or("").to_string(),
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    proto::ExportTraceServiceRequest { resource_spans }
}
