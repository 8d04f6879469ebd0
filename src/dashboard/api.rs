//! The JSON API: routing, parameters, answers.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{header, HeaderValue, Response, StatusCode, Uri};
use serde_json::{json, Value as Json};

use super::jaeger;
use crate::analysis::{critical_path, service_map, SpanInfo};
use crate::store::{Store, StoreError, TraceQuery};
use crate::trace::{SpanKind, TraceId};

/// A parameter problem: which parameter and why.
struct BadParam {
    name: &'static str,
    why: String,
}

type Answer = Result<Json, Failure>;

enum Failure {
    BadParam(BadParam),
    NotFound(String),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::InvalidQuery(why) => Failure::BadParam(BadParam { name: "query", why }),
            e => Failure::Store(e),
        }
    }
}

fn bad(name: &'static str, why: impl Into<String>) -> Failure {
    Failure::BadParam(BadParam {
        name,
        why: why.into(),
    })
}

pub(super) fn error(status: StatusCode, msg: &str) -> Response<String> {
    json_response(
        status,
        &json!({ "data": null, "total": 0, "limit": 0, "offset": 0,
                 "errors": [{ "code": status.as_u16(), "msg": msg }] }),
    )
}

fn json_response(status: StatusCode, body: &Json) -> Response<String> {
    let mut response = Response::new(body.to_string());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Jaeger's envelope around `data`.
fn envelope(data: Json) -> Json {
    let total = data.as_array().map_or(0, Vec::len);
    json!({ "data": data, "total": total, "limit": 0, "offset": 0, "errors": null })
}

/// Answers one GET.
pub(super) fn route(dashboard: &super::Dashboard, uri: &Uri) -> Response<String> {
    let store = &dashboard.store;
    let path = uri.path();
    let Some(at) = path.find("/api/") else {
        return super::asset(path);
    };
    let params = match parse_query(uri.query().unwrap_or("")) {
        Ok(p) => p,
        Err(f) => return failure(f),
    };
    let segments: Vec<String> = path[at + 5..]
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| crate::trace::resource::percent_decode(s).unwrap_or_else(|| s.to_string()))
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let answer = match segments.as_slice() {
        ["services"] => services(store),
        ["services", service, "operations"] => service_operations(store, service),
        ["operations"] => operations(store, &params),
        ["traces"] => traces(store, &params),
        ["traces", id] => one_trace(store, id),
        ["traces", id, "critical-path"] => trace_critical_path(store, id),
        ["dependencies"] => dependencies(store, &params),
        ["service-map"] => service_map_json(store, &params),
        ["metrics"] => metrics(store, &params),
        ["stats"] => stats(store, &dashboard.batch_stats),
        _ => Err(Failure::NotFound(format!(
            "no endpoint api/{}",
            segments.join("/")
        ))),
    };
    match answer {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(f) => failure(f),
    }
}

fn failure(f: Failure) -> Response<String> {
    match f {
        Failure::BadParam(p) => error(
            StatusCode::BAD_REQUEST,
            &format!("parameter {}: {}", p.name, p.why),
        ),
        Failure::NotFound(msg) => error(StatusCode::NOT_FOUND, &msg),
        Failure::Store(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn parse_query(query: &str) -> Result<HashMap<String, String>, Failure> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            crate::trace::resource::percent_decode(&s.replace('+', " "))
                .ok_or_else(|| bad("query", format!("{s:?} is not valid percent-encoding")))
        };
        out.insert(decode(k)?, decode(v)?);
    }
    Ok(out)
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn duration_param(
    params: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<Duration>, Failure> {
    let Some(raw) = param(params, name) else {
        return Ok(None);
    };
    parse_duration(raw).map(Some).ok_or_else(|| {
        bad(
            name,
            format!("{raw:?} is not a duration like 250ms, 1.5s or 2m"),
        )
    })
}

/// `250ms`, `1.5s`, `2m`, `1h`, `100us`, `10ns`, `3d`.
fn parse_duration(raw: &str) -> Option<Duration> {
    let t = raw.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let value: f64 = t[..split].parse().ok()?;
    let scale = match &t[split..] {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    let secs = value * scale;
    (0.0..=1e10)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

fn int_param(params: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, Failure> {
    let Some(raw) = param(params, name) else {
        return Ok(None);
    };
    raw.trim()
        .parse::<u64>()
        .map(Some)
        .map_err(|_| bad(name, format!("{raw:?} is not a whole number")))
}

fn trace_id(raw: &str) -> Result<TraceId, Failure> {
    // Jaeger ids may come without leading zeros.
    let padded = format!("{:0>32}", raw.to_ascii_lowercase());
    TraceId::from_hex(&padded)
        .ok()
        .filter(|id| raw.len() <= 32 && id.is_valid())
        .ok_or_else(|| {
            bad(
                "traceID",
                format!("{raw:?} is not a trace id (32 hex digits)"),
            )
        })
}

fn services(store: &Store) -> Answer {
    Ok(envelope(json!(store.services()?)))
}

fn service_operations(store: &Store, service: &str) -> Answer {
    let mut names: Vec<String> = store
        .operations(Some(service))?
        .into_iter()
        .map(|o| o.name)
        .collect();
    names.dedup();
    Ok(envelope(json!(names)))
}

fn kind_param(raw: &str) -> Result<SpanKind, Failure> {
    Ok(match raw.to_ascii_lowercase().as_str() {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => {
            return Err(bad(
                "spanKind",
                format!("{raw:?} is not one of server, client, producer, consumer, internal"),
            ))
        }
    })
}

fn operations(store: &Store, params: &HashMap<String, String>) -> Answer {
    let service = param(params, "service").ok_or_else(|| bad("service", "required"))?;
    let kind = param(params, "spanKind").map(kind_param).transpose()?;
    let ops: Vec<Json> = store
        .operations(Some(service))?
        .into_iter()
        .filter(|o| kind.is_none_or(|k| o.kind == k))
        .map(|o| json!({ "name": o.name, "spanKind": o.kind.as_str() }))
        .collect();
    Ok(envelope(json!(ops)))
}

fn traces(store: &Store, params: &HashMap<String, String>) -> Answer {
    let limit = int_param(params, "limit")?.unwrap_or(20);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit", format!("{limit} is not between 1 and 1000")));
    }
    let mut q = TraceQuery::new().limit(limit as usize);
    if let Some(s) = param(params, "service") {
        q = q.service(s);
    }
    if let Some(o) = param(params, "operation") {
        if param(params, "service").is_none() {
            return Err(bad("operation", "needs a service"));
        }
        q = q.operation(o);
    }
    if let Some(raw) = param(params, "tags") {
        for (k, v) in parse_tags(raw)? {
            q = q.attribute(k, v);
        }
    }
    if let Some(d) = duration_param(params, "minDuration")? {
        q = q.min_duration(d);
    }
    if let Some(d) = duration_param(params, "maxDuration")? {
        q = q.max_duration(d);
    }
    let micros = |name: &'static str| -> Result<Option<SystemTime>, Failure> {
        Ok(int_param(params, name)?.map(|us| UNIX_EPOCH + Duration::from_micros(us)))
    };
    if let Some(t) = micros("start")? {
        q = q.start_time(t);
    }
    if let Some(t) = micros("end")? {
        q = q.end_time(t);
    }
    if param(params, "errors").is_some_and(|v| v == "true") {
        q = q.errors_only();
    }
    let found = store.find_traces(&q)?;
    let mut data = Vec::with_capacity(found.len());
    for summary in found {
        let spans = store.trace(summary.trace_id)?;
        data.push(jaeger::trace(summary.trace_id, &spans));
    }
    Ok(envelope(json!(data)))
}

/// Jaeger's `{"k":"v",...}` JSON, or `k=v` pairs separated by spaces.
fn parse_tags(raw: &str) -> Result<Vec<(String, String)>, Failure> {
    if raw.trim_start().starts_with('{') {
        let map: serde_json::Map<String, Json> = serde_json::from_str(raw)
            .map_err(|e| bad("tags", format!("not a JSON object of strings: {e}")))?;
        return Ok(map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect());
    }
    raw.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad("tags", format!("{pair:?} is not key=value"))),
        })
        .collect()
}

fn one_trace(store: &Store, raw: &str) -> Answer {
    let id = trace_id(raw)?;
    let spans = store.trace(id)?;
    if spans.is_empty() {
        return Err(Failure::NotFound(format!("trace {id} not found")));
    }
    Ok(envelope(json!([jaeger::trace(id, &spans)])))
}

fn trace_critical_path(store: &Store, raw: &str) -> Answer {
    let id = trace_id(raw)?;
    let spans = store.trace(id)?;
    let infos: Vec<SpanInfo> = spans.iter().map(SpanInfo::from).collect();
    let Some(path) = critical_path(&infos) else {
        return Err(Failure::NotFound(format!("trace {id} not found")));
    };
    let segments: Vec<Json> = path
        .segments
        .iter()
        .map(|s| {
            json!({ "spanID": s.span_id.to_string(), "service": s.service, "name": s.name,
                         "start": s.start, "end": s.end, "selfTime": s.duration() })
        })
        .collect();
    Ok(json!({
        "traceID": id.to_string(),
        "root": path.root.map(|r| r.to_string()),
        "segments": segments,
        "notes": path.notes,
    }))
}

/// The window `[end - lookback, end)`; `end` defaults to now.
fn window(
    params: &HashMap<String, String>,
    end_name: &'static str,
    default_lookback: Duration,
) -> Result<(SystemTime, SystemTime), Failure> {
    let end = match int_param(params, end_name)? {
        Some(ms) => UNIX_EPOCH + Duration::from_millis(ms),
        None => SystemTime::now(),
    };
    let lookback = match param(params, "lookback") {
        None => default_lookback,
        Some(raw) => match raw.parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => parse_duration(raw).ok_or_else(|| {
                bad(
                    "lookback",
                    format!("{raw:?} is not milliseconds or a duration like 1h"),
                )
            })?,
        },
    };
    let start = end.checked_sub(lookback).unwrap_or(UNIX_EPOCH);
    Ok((start, end + Duration::from_millis(1)))
}

fn dependencies(store: &Store, params: &HashMap<String, String>) -> Answer {
    let (from, to) = window(params, "endTs", Duration::from_secs(3600))?;
    let map = service_map(&store.spans_between(from, to)?);
    let data: Vec<Json> = map
        .edges
        .iter()
        .map(|e| json!({ "parent": e.from, "child": e.to, "callCount": e.calls }))
        .collect();
    Ok(envelope(json!(data)))
}

fn service_map_json(store: &Store, params: &HashMap<String, String>) -> Answer {
    let (from, to) = window(params, "endTs", Duration::from_secs(3600))?;
    let map = service_map(&store.spans_between(from, to)?);
    Ok(json!({
        "nodes": map.nodes.iter().map(|n| json!({ "service": n.service, "spanCount": n.span_count, "errorRate": n.error_rate })).collect::<Vec<_>>(),
        "edges": map.edges.iter().map(|e| json!({ "from": e.from, "to": e.to, "calls": e.calls, "errorRate": e.error_rate, "p50": e.p50, "p99": e.p99 })).collect::<Vec<_>>(),
    }))
}

fn metrics(store: &Store, params: &HashMap<String, String>) -> Answer {
    let (from, to) = window(params, "endTs", Duration::from_secs(3600))?;
    let step = duration_param(params, "step")?;
    if step.is_some_and(|s| s < Duration::from_secs(60)) {
        return Err(bad("step", "the smallest step is 1m"));
    }
    let kinds = match param(params, "spanKind") {
        Some("all") => Vec::new(),
        Some(raw) => vec![kind_param(raw)?],
        None => vec![SpanKind::Server, SpanKind::Consumer],
    };
    let red = store.red_metrics(from, to, &kinds, step)?;
    let service = param(params, "service");
    let row = |r: &crate::analysis::RedRow| {
        json!({
            "service": r.service, "operation": r.operation, "count": r.count, "rate": r.rate,
            "errors": r.errors, "errorRate": r.error_rate,
            "p50": r.durations.p50, "p90": r.durations.p90, "p95": r.durations.p95,
            "p99": r.durations.p99, "max": r.durations.max,
            "series": r.series.iter().map(|b| json!({ "start": b.start, "count": b.count,
                "errors": b.errors, "p50": b.durations.p50, "p95": b.durations.p95,
                "p99": b.durations.p99 })).collect::<Vec<_>>(),
        })
    };
    let keep = |r: &&crate::analysis::RedRow| service.is_none_or(|s| r.service == s);
    Ok(json!({
        "services": red.services.iter().filter(keep).map(row).collect::<Vec<_>>(),
        "operations": red.operations.iter().filter(keep).map(row).collect::<Vec<_>>(),
        "relativeError": crate::analysis::RELATIVE_ERROR,
    }))
}

fn stats(store: &Store, processors: &[(String, crate::BatchStats)]) -> Answer {
    let s = store.stats()?;
    let range = store.time_range()?;
    let processors: Vec<Json> = processors
        .iter()
        .map(|(name, p)| {
            json!({ "name": name, "queued": p.queued(), "exported": p.exported(),
                    "dropped": p.dropped(), "failed": p.failed() })
        })
        .collect();
    Ok(json!({
        "traces": s.traces, "spans": s.spans, "usedBytes": s.used_bytes,
        "fileBytes": s.file_bytes, "walBytes": s.wal_bytes,
        "oldestStart": range.map(|r| r.0), "newestStart": range.map(|r| r.1),
        "processors": processors,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_tags_and_ids() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("1e999s"), None);
        let tags = parse_tags(r#"{"http.status_code":"500","retry":3}"#)
            .ok()
            .unwrap();
        assert!(tags.contains(&("retry".into(), "3".into())));
        assert_eq!(
            parse_tags("a=1 b=x=y").ok().unwrap(),
            [
                ("a".to_string(), "1".to_string()),
                ("b".into(), "x=y".into())
            ]
        );
        assert!(parse_tags("novalue").is_err());
        assert!(parse_tags("{not json").is_err());
        assert!(trace_id("abc").is_ok());
        assert!(trace_id("zz").is_err());
        assert!(trace_id(&"a".repeat(33)).is_err());
        assert!(trace_id("0").is_err());
    }
}
