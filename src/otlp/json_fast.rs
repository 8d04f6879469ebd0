//! The OTLP/JSON request decoder's fast path: typed structs that serde fills
//! straight from the bytes (no intermediate `serde_json::Value` tree), with
//! borrowed strings where the JSON has no escapes. When it fails, the
//! caller re-reads the body with the slower decoder in `json.rs` only to say
//! precisely what is wrong.

use std::borrow::Cow;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::proto;

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A 64-bit integer written as a number or a decimal string.
#[derive(Default)]
struct Int(i128);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Int, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i128::from(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(i128::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.parse().map(Int).map_err(|_| E::custom("not an integer"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Int, E> {
                Ok(Int(0))
            }
        }
        d.deserialize_any(V)
    }
}

impl Int {
    fn u64<E: de::Error>(&self) -> Result<u64, E> {
        u64::try_from(self.0).map_err(|_| E::custom("out of range"))
    }
    fn u32<E: de::Error>(&self) -> Result<u32, E> {
        u32::try_from(self.0).map_err(|_| E::custom("out of range"))
    }
    fn i32<E: de::Error>(&self) -> Result<i32, E> {
        i32::try_from(self.0).map_err(|_| E::custom("out of range"))
    }
    fn i64<E: de::Error>(&self) -> Result<i64, E> {
        i64::try_from(self.0).map_err(|_| E::custom("out of range"))
    }
}

fn hex<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s: Option<Cow<'de, str>> = Option::deserialize(d)?;
    super::json::hex_decode(&s.unwrap_or_default())
        .ok_or_else(|| de::Error::custom("an id must be hex"))
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s: Option<Cow<'de, str>> = Option::deserialize(d)?;
    Ok(s.map(Cow::into_owned).unwrap_or_default())
}

#[derive(Deserialize, Default)]
struct Request<'a> {
    #[serde(
        rename = "resourceSpans",
        alias = "resource_spans",
        default,
        borrow,
        deserialize_with = "null_as_default"
    )]
    resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Deserialize, Default)]
struct ResourceSpans<'a> {
    #[serde(default, borrow)]
    resource: Option<Attributed<'a>>,
    #[serde(
        rename = "scopeSpans",
        alias = "scope_spans",
        default,
        borrow,
        deserialize_with = "null_as_default"
    )]
    scope_spans: Vec<ScopeSpans<'a>>,
    #[serde(
        rename = "schemaUrl",
        alias = "schema_url",
        default,
        deserialize_with = "text"
    )]
    schema_url: String,
}

#[derive(Deserialize, Default)]
struct Attributed<'a> {
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    attributes: Vec<KeyValue<'a>>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        default
    )]
    dropped: Int,
}

#[derive(Deserialize, Default)]
struct ScopeSpans<'a> {
    #[serde(default, borrow)]
    scope: Option<Scope<'a>>,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    spans: Vec<Span<'a>>,
    #[serde(
        rename = "schemaUrl",
        alias = "schema_url",
        default,
        deserialize_with = "text"
    )]
    schema_url: String,
}

#[derive(Deserialize, Default)]
struct Scope<'a> {
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, deserialize_with = "text")]
    version: String,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    attributes: Vec<KeyValue<'a>>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        default
    )]
    dropped: Int,
}

#[derive(Deserialize, Default)]
struct Span<'a> {
    #[serde(
        rename = "traceId",
        alias = "trace_id",
        default,
        deserialize_with = "hex"
    )]
    trace_id: Vec<u8>,
    #[serde(
        rename = "spanId",
        alias = "span_id",
        default,
        deserialize_with = "hex"
    )]
    span_id: Vec<u8>,
    #[serde(
        rename = "traceState",
        alias = "trace_state",
        default,
        deserialize_with = "text"
    )]
    trace_state: String,
    #[serde(
        rename = "parentSpanId",
        alias = "parent_span_id",
        default,
        deserialize_with = "hex"
    )]
    parent_span_id: Vec<u8>,
    #[serde(default)]
    flags: Int,
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default)]
    kind: Int,
    #[serde(rename = "startTimeUnixNano", alias = "start_time_unix_nano", default)]
    start: Int,
    #[serde(rename = "endTimeUnixNano", alias = "end_time_unix_nano", default)]
    end: Int,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    attributes: Vec<KeyValue<'a>>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        default
    )]
    dropped_attributes: Int,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    events: Vec<Event<'a>>,
    #[serde(rename = "droppedEventsCount", alias = "dropped_events_count", default)]
    dropped_events: Int,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    links: Vec<Link<'a>>,
    #[serde(rename = "droppedLinksCount", alias = "dropped_links_count", default)]
    dropped_links: Int,
    #[serde(default, borrow)]
    status: Option<Status<'a>>,
}

#[derive(Deserialize, Default)]
struct Event<'a> {
    #[serde(rename = "timeUnixNano", alias = "time_unix_nano", default)]
    time: Int,
    #[serde(default, deserialize_with = "text")]
    name: String,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    attributes: Vec<KeyValue<'a>>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        default
    )]
    dropped: Int,
}

#[derive(Deserialize, Default)]
struct Link<'a> {
    #[serde(
        rename = "traceId",
        alias = "trace_id",
        default,
        deserialize_with = "hex"
    )]
    trace_id: Vec<u8>,
    #[serde(
        rename = "spanId",
        alias = "span_id",
        default,
        deserialize_with = "hex"
    )]
    span_id: Vec<u8>,
    #[serde(
        rename = "traceState",
        alias = "trace_state",
        default,
        deserialize_with = "text"
    )]
    trace_state: String,
    #[serde(default, borrow, deserialize_with = "null_as_default")]
    attributes: Vec<KeyValue<'a>>,
    #[serde(
        rename = "droppedAttributesCount",
        alias = "dropped_attributes_count",
        default
    )]
    dropped: Int,
    #[serde(default)]
    flags: Int,
}

#[derive(Deserialize, Default)]
struct Status<'a> {
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Int,
}

#[derive(Deserialize, Default)]
struct KeyValue<'a> {
    #[serde(default, deserialize_with = "text")]
    key: String,
    #[serde(default, borrow)]
    value: Option<AnyValue<'a>>,
}

#[derive(Deserialize, Default)]
struct AnyValue<'a> {
    #[serde(rename = "stringValue", alias = "string_value", default, borrow)]
    string: Option<Cow<'a, str>>,
    #[serde(rename = "boolValue", alias = "bool_value", default)]
    boolean: Option<bool>,
    #[serde(rename = "intValue", alias = "int_value", default)]
    int: Option<Int>,
    #[serde(rename = "doubleValue", alias = "double_value", default)]
    double: Option<serde_json::Value>,
    #[serde(rename = "arrayValue", alias = "array_value", default, borrow)]
    array: Option<Values<AnyValue<'a>>>,
    #[serde(rename = "kvlistValue", alias = "kvlist_value", default, borrow)]
    kvlist: Option<Values<KeyValue<'a>>>,
    #[serde(rename = "bytesValue", alias = "bytes_value", default, borrow)]
    bytes: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Values<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

type E = serde_json::Error;

fn key_values(kvs: Vec<KeyValue<'_>>) -> Result<Vec<proto::KeyValue>, E> {
    kvs.into_iter()
        .map(|kv| {
            Ok(proto::KeyValue {
                key: kv.key,
                value: kv.value.map(any_value).transpose()?,
            })
        })
        .collect()
}

fn any_value(v: AnyValue<'_>) -> Result<proto::AnyValue, E> {
    use proto::any_value::Value as V;
    let value = if let Some(s) = v.string {
        Some(V::StringValue(s.into_owned()))
    } else if let Some(b) = v.boolean {
        Some(V::BoolValue(b))
    } else if let Some(i) = v.int {
        Some(V::IntValue(i.i64()?))
    } else if let Some(d) = v.double {
        let n = match &d {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                s => s.parse().ok(),
            },
            _ => None,
        };
        Some(V::DoubleValue(
            n.ok_or_else(|| de::Error::custom("doubleValue"))?,
        ))
    } else if let Some(a) = v.array {
        Some(V::ArrayValue(proto::ArrayValue {
            values: a
                .values
                .into_iter()
                .map(any_value)
                .collect::<Result<_, E>>()?,
        }))
    } else if let Some(l) = v.kvlist {
        Some(V::KvlistValue(proto::KeyValueList {
            values: key_values(l.values)?,
        }))
    } else if let Some(b) = v.bytes {
        Some(V::BytesValue(
            super::json::base64_decode(&b).ok_or_else(|| de::Error::custom("bytesValue"))?,
        ))
    } else {
        None
    };
    Ok(proto::AnyValue { value })
}

/// Decodes a request; any error means "ask the careful decoder why".
pub(super) fn decode_request(body: &[u8]) -> Result<proto::ExportTraceServiceRequest, E> {
    // Serde's structs also read JSON arrays (fields by position): only an
    // object is a request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(de::Error::custom("the request must be a JSON object"));
    }
    let request: Request<'_> = serde_json::from_slice(body)?;
    let mut out = proto::ExportTraceServiceRequest::default();
    for rs in request.resource_spans {
        let resource = rs
            .resource
            .map(|r| -> Result<_, E> {
                Ok(proto::Resource {
                    attributes: key_values(r.attributes)?,
                    dropped_attributes_count: r.dropped.u32()?,
                })
            })
            .transpose()?;
        let mut scope_spans = Vec::with_capacity(rs.scope_spans.len());
        for ss in rs.scope_spans {
            let scope = ss
                .scope
                .map(|s| -> Result<_, E> {
                    Ok(proto::InstrumentationScope {
                        name: s.name,
                        version: s.version,
                        attributes: key_values(s.attributes)?,
                        dropped_attributes_count: s.dropped.u32()?,
                    })
                })
                .transpose()?;
            let mut spans = Vec::with_capacity(ss.spans.len());
            for s in ss.spans {
                spans.push(proto::Span {
                    trace_id: s.trace_id,
                    span_id: s.span_id,
                    trace_state: s.trace_state,
                    parent_span_id: s.parent_span_id,
                    flags: s.flags.u32()?,
                    name: s.name,
                    kind: s.kind.i32()?,
                    start_time_unix_nano: s.start.u64()?,
                    end_time_unix_nano: s.end.u64()?,
                    attributes: key_values(s.attributes)?,
                    dropped_attributes_count: s.dropped_attributes.u32()?,
                    events: s
                        .events
                        .into_iter()
                        .map(|e| -> Result<_, E> {
                            Ok(proto::Event {
                                time_unix_nano: e.time.u64()?,
                                name: e.name,
                                attributes: key_values(e.attributes)?,
                                dropped_attributes_count: e.dropped.u32()?,
                            })
                        })
                        .collect::<Result<_, E>>()?,
                    dropped_events_count: s.dropped_events.u32()?,
                    links: s
                        .links
                        .into_iter()
                        .map(|l| -> Result<_, E> {
                            Ok(proto::Link {
                                trace_id: l.trace_id,
                                span_id: l.span_id,
                                trace_state: l.trace_state,
                                attributes: key_values(l.attributes)?,
                                dropped_attributes_count: l.dropped.u32()?,
                                flags: l.flags.u32()?,
                            })
                        })
                        .collect::<Result<_, E>>()?,
                    dropped_links_count: s.dropped_links.u32()?,
                    status: s
                        .status
                        .map(|st| -> Result<_, E> {
                            Ok(proto::Status {
                                message: st.message.map(Cow::into_owned).unwrap_or_default(),
                                code: st.code.i32()?,
                            })
                        })
                        .transpose()?,
                });
            }
            scope_spans.push(proto::ScopeSpans {
                scope,
                spans,
                schema_url: ss.schema_url,
            });
        }
        out.resource_spans.push(proto::ResourceSpans {
            resource,
            scope_spans,
            schema_url: rs.schema_url,
        });
    }
    Ok(out)
}
