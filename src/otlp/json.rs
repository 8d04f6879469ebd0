//! The OTLP/JSON mapping: protobuf's JSON mapping with OTLP's exceptions —
//! lowerCamelCase keys (the proto names are accepted too), trace and span
//! ids as hex strings, enums as integers, 64-bit integers as strings (or
//! numbers, on input), absent fields meaning defaults.

use serde_json::{json, Map, Value as Json};

use super::proto;

/// Why a JSON body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

type R<T> = Result<T, JsonError>;

fn err<T>(msg: impl Into<String>) -> R<T> {
    Err(JsonError(msg.into()))
}

fn field<'a>(obj: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Json> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

fn object<'a>(v: &'a Json, what: &str) -> R<&'a Map<String, Json>> {
    v.as_object()
        .ok_or_else(|| JsonError(format!("{what} must be an object")))
}

fn array<'a>(obj: &'a Map<String, Json>, camel: &str, snake: &str) -> R<&'a [Json]> {
    match field(obj, camel, snake) {
        None => Ok(&[]),
        Some(Json::Array(a)) => Ok(a),
        Some(_) => err(format!("{camel} must be an array")),
    }
}

fn string(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<String> {
    match field(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(_) => err(format!("{camel} must be a string")),
    }
}

/// A 64-bit unsigned integer given as a number or a decimal string.
fn u64_field(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<u64> {
    match field(obj, camel, snake) {
        None => Ok(0),
        Some(Json::Number(n)) => n
            .as_u64()
            .ok_or_else(|| JsonError(format!("{camel} must be a whole number"))),
        Some(Json::String(s)) => s
            .parse()
            .map_err(|_| JsonError(format!("{camel} must be a whole number, not {s:?}"))),
        Some(_) => err(format!("{camel} must be a number")),
    }
}

fn u32_field(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<u32> {
    u32::try_from(u64_field(obj, camel, snake)?)
        .map_err(|_| JsonError(format!("{camel} is out of range")))
}

fn i32_field(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<i32> {
    match field(obj, camel, snake) {
        None => Ok(0),
        Some(Json::Number(n)) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| JsonError(format!("{camel} must be a small integer"))),
        Some(Json::String(s)) => s
            .parse()
            .map_err(|_| JsonError(format!("{camel} must be an integer, not {s:?}"))),
        Some(_) => err(format!("{camel} must be an integer")),
    }
}

/// A hex id (OTLP/JSON does not use base64 for ids); empty stays empty.
fn id(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<Vec<u8>> {
    let s = string(obj, camel, snake)?;
    hex_decode(&s).ok_or_else(|| JsonError(format!("{camel} must be hex, not {s:?}")))
}

/// Hex digits (either case) to bytes; `None` for an odd length or a
/// non-hex character.
pub(super) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
            .collect(),
    )
}

fn any_value(v: &Json) -> R<proto::AnyValue> {
    use proto::any_value::Value as V;
    let obj = object(v, "an AnyValue")?;
    let value = if let Some(s) = field(obj, "stringValue", "string_value") {
        Some(V::StringValue(
            s.as_str()
                .ok_or_else(|| JsonError("stringValue must be a string".into()))?
                .to_string(),
        ))
    } else if let Some(b) = field(obj, "boolValue", "bool_value") {
        Some(V::BoolValue(b.as_bool().ok_or_else(|| {
            JsonError("boolValue must be a boolean".into())
        })?))
    } else if let Some(i) = field(obj, "intValue", "int_value") {
        let n = match i {
            Json::Number(n) => n.as_i64(),
            Json::String(s) => s.parse().ok(),
            _ => None,
        };
        Some(V::IntValue(n.ok_or_else(|| {
            JsonError(format!("intValue must be a 64-bit integer, not {i}"))
        })?))
    } else if let Some(d) = field(obj, "doubleValue", "double_value") {
        let n = match d {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.parse().ok(),
            },
            _ => None,
        };
        Some(V::DoubleValue(n.ok_or_else(|| {
            JsonError(format!("doubleValue must be a number, not {d}"))
        })?))
    } else if let Some(a) = field(obj, "arrayValue", "array_value") {
        let a = object(a, "arrayValue")?;
        Some(V::ArrayValue(proto::ArrayValue {
            values: array(a, "values", "values")?
                .iter()
                .map(any_value)
                .collect::<R<_>>()?,
        }))
    } else if let Some(l) = field(obj, "kvlistValue", "kvlist_value") {
        let l = object(l, "kvlistValue")?;
        Some(V::KvlistValue(proto::KeyValueList {
            values: key_values(array(l, "values", "values")?)?,
        }))
    } else if let Some(b) = field(obj, "bytesValue", "bytes_value") {
        // Protobuf's JSON mapping: bytes are base64.
        let s = b
            .as_str()
            .ok_or_else(|| JsonError("bytesValue must be a base64 string".into()))?;
        Some(V::BytesValue(base64_decode(s).ok_or_else(|| {
            JsonError("bytesValue must be base64".into())
        })?))
    } else {
        None
    };
    Ok(proto::AnyValue { value })
}

pub(super) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'-' => 62,
            b'_' => 63,
            c => TABLE.iter().position(|&t| t == c)? as u32,
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn key_values(items: &[Json]) -> R<Vec<proto::KeyValue>> {
    items
        .iter()
        .map(|kv| {
            let kv = object(kv, "a KeyValue")?;
            Ok(proto::KeyValue {
                key: string(kv, "key", "key")?,
                value: field(kv, "value", "value").map(any_value).transpose()?,
            })
        })
        .collect()
}

fn span(v: &Json) -> R<proto::Span> {
    let s = object(v, "a span")?;
    Ok(proto::Span {
        trace_id: id(s, "traceId", "trace_id")?,
        span_id: id(s, "spanId", "span_id")?,
        trace_state: string(s, "traceState", "trace_state")?,
        parent_span_id: id(s, "parentSpanId", "parent_span_id")?,
        flags: u32_field(s, "flags", "flags")?,
        name: string(s, "name", "name")?,
        kind: i32_field(s, "kind", "kind")?,
        start_time_unix_nano: u64_field(s, "startTimeUnixNano", "start_time_unix_nano")?,
        end_time_unix_nano: u64_field(s, "endTimeUnixNano", "end_time_unix_nano")?,
        attributes: key_values(array(s, "attributes", "attributes")?)?,
        dropped_attributes_count: u32_field(
            s,
            "droppedAttributesCount",
            "dropped_attributes_count",
        )?,
        events: array(s, "events", "events")?
            .iter()
            .map(|e| {
                let e = object(e, "an event")?;
                Ok(proto::Event {
                    time_unix_nano: u64_field(e, "timeUnixNano", "time_unix_nano")?,
                    name: string(e, "name", "name")?,
                    attributes: key_values(array(e, "attributes", "attributes")?)?,
                    dropped_attributes_count: u32_field(
                        e,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                    )?,
                })
            })
            .collect::<R<_>>()?,
        dropped_events_count: u32_field(s, "droppedEventsCount", "dropped_events_count")?,
        links: array(s, "links", "links")?
            .iter()
            .map(|l| {
                let l = object(l, "a link")?;
                Ok(proto::Link {
                    trace_id: id(l, "traceId", "trace_id")?,
                    span_id: id(l, "spanId", "span_id")?,
                    trace_state: string(l, "traceState", "trace_state")?,
                    attributes: key_values(array(l, "attributes", "attributes")?)?,
                    dropped_attributes_count: u32_field(
                        l,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                    )?,
                    flags: u32_field(l, "flags", "flags")?,
                })
            })
            .collect::<R<_>>()?,
        dropped_links_count: u32_field(s, "droppedLinksCount", "dropped_links_count")?,
        status: field(s, "status", "status")
            .map(|st| {
                let st = object(st, "status")?;
                Ok(proto::Status {
                    message: string(st, "message", "message")?,
                    code: i32_field(st, "code", "code")?,
                })
            })
            .transpose()?,
    })
}

/// Reads an `ExportTraceServiceRequest` in OTLP/JSON. Typed and fast; a
/// body it cannot read is read again by the careful decoder, which says
/// what is wrong and where.
pub fn decode_request(body: &[u8]) -> R<proto::ExportTraceServiceRequest> {
    match super::json_fast::decode_request(body) {
        Ok(request) => Ok(request),
        Err(_) => decode_request_carefully(body),
    }
}

fn decode_request_carefully(body: &[u8]) -> R<proto::ExportTraceServiceRequest> {
    let root: Json =
        serde_json::from_slice(body).map_err(|e| JsonError(format!("not JSON: {e}")))?;
    let root = object(&root, "the request")?;
    let mut request = proto::ExportTraceServiceRequest::default();
    for rs in array(root, "resourceSpans", "resource_spans")? {
        let rs = object(rs, "resourceSpans[]")?;
        let resource = field(rs, "resource", "resource")
            .map(|r| {
                let r = object(r, "resource")?;
                Ok(proto::Resource {
                    attributes: key_values(array(r, "attributes", "attributes")?)?,
                    dropped_attributes_count: u32_field(
                        r,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                    )?,
                })
            })
            .transpose()?;
        let mut scope_spans = Vec::new();
        for ss in array(rs, "scopeSpans", "scope_spans")? {
            let ss = object(ss, "scopeSpans[]")?;
            let scope = field(ss, "scope", "scope")
                .map(|sc| {
                    let sc = object(sc, "scope")?;
                    Ok(proto::InstrumentationScope {
                        name: string(sc, "name", "name")?,
                        version: string(sc, "version", "version")?,
                        attributes: key_values(array(sc, "attributes", "attributes")?)?,
                        dropped_attributes_count: u32_field(
                            sc,
                            "droppedAttributesCount",
                            "dropped_attributes_count",
                        )?,
                    })
                })
                .transpose()?;
            scope_spans.push(proto::ScopeSpans {
                scope,
                spans: array(ss, "spans", "spans")?
                    .iter()
                    .map(span)
                    .collect::<R<_>>()?,
                schema_url: string(ss, "schemaUrl", "schema_url")?,
            });
        }
        request.resource_spans.push(proto::ResourceSpans {
            resource,
            scope_spans,
            schema_url: string(rs, "schemaUrl", "schema_url")?,
        });
    }
    Ok(request)
}

/// Bytes as lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn any_value_json(v: &proto::AnyValue) -> Json {
    use proto::any_value::Value as V;
    match &v.value {
        None => json!({}),
        Some(V::StringValue(s)) => json!({ "stringValue": s }),
        Some(V::BoolValue(b)) => json!({ "boolValue": b }),
        Some(V::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(V::DoubleValue(d)) if d.is_finite() => json!({ "doubleValue": d }),
        Some(V::DoubleValue(d)) => {
            json!({ "doubleValue": if d.is_nan() { "NaN" } else if *d > 0.0 { "Infinity" } else { "-Infinity" } })
        }
        Some(V::ArrayValue(a)) => {
            json!({ "arrayValue": { "values": a.values.iter().map(any_value_json).collect::<Vec<_>>() } })
        }
        Some(V::KvlistValue(l)) => {
            json!({ "kvlistValue": { "values": key_values_json(&l.values) } })
        }
        Some(V::BytesValue(b)) => json!({ "bytesValue": base64_encode(b) }),
    }
}

fn key_values_json(kvs: &[proto::KeyValue]) -> Vec<Json> {
    kvs.iter()
        .map(|kv| match &kv.value {
            Some(v) => json!({ "key": kv.key, "value": any_value_json(v) }),
            None => json!({ "key": kv.key }),
        })
        .collect()
}

/// Writes an `ExportTraceServiceRequest` in OTLP/JSON.
pub fn encode_request(request: &proto::ExportTraceServiceRequest) -> Vec<u8> {
    let resource_spans: Vec<Json> = request
        .resource_spans
        .iter()
        .map(|rs| {
            json!({
                "resource": rs.resource.as_ref().map(|r| json!({
                    "attributes": key_values_json(&r.attributes),
                    "droppedAttributesCount": r.dropped_attributes_count,
                })),
                "scopeSpans": rs.scope_spans.iter().map(|ss| json!({
                    "scope": ss.scope.as_ref().map(|s| json!({
                        "name": s.name, "version": s.version,
                        "attributes": key_values_json(&s.attributes),
                        "droppedAttributesCount": s.dropped_attributes_count,
                    })),
                    "spans": ss.spans.iter().map(|s| json!({
                        "traceId": hex(&s.trace_id),
                        "spanId": hex(&s.span_id),
                        "traceState": s.trace_state,
                        "parentSpanId": hex(&s.parent_span_id),
                        "flags": s.flags,
                        "name": s.name,
                        "kind": s.kind,
                        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                        "attributes": key_values_json(&s.attributes),
                        "droppedAttributesCount": s.dropped_attributes_count,
                        "events": s.events.iter().map(|e| json!({
                            "timeUnixNano": e.time_unix_nano.to_string(),
                            "name": e.name,
                            "attributes": key_values_json(&e.attributes),
                            "droppedAttributesCount": e.dropped_attributes_count,
                        })).collect::<Vec<_>>(),
                        "droppedEventsCount": s.dropped_events_count,
                        "links": s.links.iter().map(|l| json!({
                            "traceId": hex(&l.trace_id),
                            "spanId": hex(&l.span_id),
                            "traceState": l.trace_state,
                            "attributes": key_values_json(&l.attributes),
                            "droppedAttributesCount": l.dropped_attributes_count,
                            "flags": l.flags,
                        })).collect::<Vec<_>>(),
                        "droppedLinksCount": s.dropped_links_count,
                        "status": s.status.as_ref().map(|st| json!({ "message": st.message, "code": st.code })),
                    })).collect::<Vec<_>>(),
                    "schemaUrl": ss.schema_url,
                })).collect::<Vec<_>>(),
                "schemaUrl": rs.schema_url,
            })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
        .to_string()
        .into_bytes()
}

/// An `ExportTraceServiceResponse` in OTLP/JSON.
pub fn encode_response(response: &proto::ExportTraceServiceResponse) -> Vec<u8> {
    match &response.partial_success {
        None => b"{}".to_vec(),
        Some(p) => json!({ "partialSuccess": {
            "rejectedSpans": p.rejected_spans.to_string(),
            "errorMessage": p.error_message,
        }})
        .to_string()
        .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example request of the OTLP specification (trace), with types of
    /// every kind added.
    const EXAMPLE: &str = r#"{
      "resourceSpans": [{
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "my.service" } }] },
        "scopeSpans": [{
          "scope": { "name": "my.library", "version": "1.0.0",
                     "attributes": [{ "key": "my.scope.attribute", "value": { "stringValue": "some scope attribute" } }] },
          "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "parentSpanId": "eee19b7ec3c1b173",
            "name": "I'm a server span",
            "startTimeUnixNano": "1544712660000000000",
            "endTimeUnixNano": 1544712661000000000,
            "kind": 2,
            "attributes": [
              { "key": "my.span.attr", "value": { "stringValue": "some value" } },
              { "key": "count", "value": { "intValue": "42" } },
              { "key": "ratio", "value": { "doubleValue": 0.5 } },
              { "key": "ok", "value": { "boolValue": true } },
              { "key": "list", "value": { "arrayValue": { "values": [{ "intValue": 1 }, { "intValue": "2" }] } } },
              { "key": "map", "value": { "kvlistValue": { "values": [{ "key": "a", "value": { "stringValue": "b" } }] } } },
              { "key": "raw", "value": { "bytesValue": "AQID" } }
            ],
            "events": [{ "timeUnixNano": "1544712660500000000", "name": "retry",
                         "attributes": [{ "key": "attempt", "value": { "intValue": "2" } }] }],
            "status": { "code": 2, "message": "boom" }
          }]
        }]
      }]
    }"#;

    #[test]
    fn the_spec_example_reads_and_round_trips() {
        let request = decode_request(EXAMPLE.as_bytes()).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex(&span.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.kind, 2);
        assert_eq!(span.attributes.len(), 7);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        assert_eq!(
            span.attributes[6].value.as_ref().unwrap().value,
            Some(proto::any_value::Value::BytesValue(vec![1, 2, 3]))
        );
        let again = decode_request(&encode_request(&request)).unwrap();
        assert_eq!(again, request);
    }

    #[test]
    fn snake_case_and_defaults_are_accepted() {
        let body = br#"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"01000000000000000000000000000000","span_id":"0100000000000000"}]}]}]}"#;
        let r = decode_request(body).unwrap();
        assert_eq!(r.resource_spans[0].scope_spans[0].spans[0].trace_id[0], 1);
        assert_eq!(
            decode_request(b"{}").unwrap(),
            proto::ExportTraceServiceRequest::default()
        );
    }

    #[test]
    fn malformed_bodies_are_errors_that_say_where() {
        for (body, needle) in [
            (&b"not json"[..], "not JSON"),
            (b"[]", "must be an object"),
            (br#"{"resourceSpans": 5}"#, "resourceSpans must be an array"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#, "traceId must be hex"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#, "startTimeUnixNano"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"intValue":"1.5"}}]}]}]}]}"#, "intValue"),
        ] {
            let e = decode_request(body).unwrap_err();
            assert!(e.0.contains(needle), "{:?}: {}", String::from_utf8_lossy(body), e.0);
        }
    }

    #[test]
    fn the_fast_and_careful_decoders_agree() {
        let fast = super::super::json_fast::decode_request(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(fast, decode_request_carefully(EXAMPLE.as_bytes()).unwrap());
        let snake = br#"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"01000000000000000000000000000000","span_id":"0100000000000000","start_time_unix_nano":5}]}]}]}"#;
        assert_eq!(
            super::super::json_fast::decode_request(snake).unwrap(),
            decode_request_carefully(snake).unwrap()
        );
        let nulls = br#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"scope":null,"spans":[{"attributes":null,"status":null}]}]}]}"#;
        assert_eq!(
            super::super::json_fast::decode_request(nulls).unwrap(),
            decode_request_carefully(nulls).unwrap()
        );
        // What the fast path refuses, the careful one explains.
        assert!(super::super::json_fast::decode_request(br#"{"resourceSpans":5}"#).is_err());
    }

    #[test]
    fn base64_both_ways() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\x00\xff\x10"] {
            assert_eq!(base64_decode(&base64_encode(bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert!(base64_decode("!!").is_none());
    }
}
