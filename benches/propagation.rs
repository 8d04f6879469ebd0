//! Propagation and sampling on the request path: extracting and injecting
//! `traceparent` + a 3-member `tracestate`, and each sampler's decision.
//! Figures: BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use tracelite::propagation::{TextMapPropagator, TraceContextPropagator};
use tracelite::{
    AlwaysOn, Context, ParentBased, RateLimiting, Sampler, SamplingParameters, SpanKind,
    TraceIdRatioBased,
};

fn propagation(c: &mut Criterion) {
    let mut g = c.benchmark_group("propagation");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    let mut incoming = HeaderMap::new();
    incoming.insert(
        "traceparent",
        HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    incoming.insert(
        "tracestate",
        HeaderValue::from_static("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,vendor=abc123"),
    );
    let propagator = TraceContextPropagator::new();
    g.bench_function("extract_traceparent_tracestate3", |b| {
        b.iter(|| black_box(propagator.extract(black_box(&incoming))))
    });

    // The same two headers among a browser request's usual others.
    let mut typical = HeaderMap::new();
    for (name, value) in [
        ("host", "api.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
        ),
        ("accept", "application/json"),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("content-type", "application/json"),
        ("content-length", "42"),
        ("origin", "https://app.example.com"),
        ("connection", "keep-alive"),
        ("cookie", "session=5a1e3c9b7d2f4e6a"),
        (
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
        ),
        ("x-request-id", "7f3c2a1e-9b8d-4c6e-a5f2-1d0e3b4c5a69"),
    ] {
        typical.insert(name, HeaderValue::from_static(value));
    }
    typical.extend(incoming.clone());
    g.bench_function("extract_traceparent_tracestate3_among_14_headers", |b| {
        b.iter(|| black_box(propagator.extract(black_box(&typical))))
    });

    let cx = propagator.extract(&incoming);
    let mut outgoing = HeaderMap::with_capacity(4);
    g.bench_function("inject_traceparent_tracestate3", |b| {
        b.iter(|| {
            propagator.inject_context(black_box(&cx), &mut outgoing);
            black_box(&outgoing);
        })
    });

    // What the `http` crate alone takes for the same two headers: the
    // traceparent's bytes already formatted, made into a header value and
    // inserted, and the trace state's (already encoded) value inserted. No
    // injection into a `HeaderMap` can take less.
    let names = (
        http::HeaderName::from_static("traceparent"),
        http::HeaderName::from_static("tracestate"),
    );
    let traceparent = *b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let state = HeaderValue::from_static("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,vendor=abc123");
    let mut floor = HeaderMap::with_capacity(4);
    g.bench_function("inject_floor_http_crate_alone", |b| {
        b.iter(|| {
            let value = HeaderValue::from_bytes(black_box(&traceparent)).unwrap();
            floor.insert(names.0.clone(), value);
            floor.insert(names.1.clone(), black_box(&state).clone());
            black_box(&floor);
        })
    });
    g.finish();
}

fn samplers(c: &mut Criterion) {
    let mut g = c.benchmark_group("sampler");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    let root = Context::new();
    let trace_id = tracelite::TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c);
    let params = |cx| SamplingParameters::new(cx, trace_id, "GET /users", SpanKind::Server);
    let list: Vec<(&str, Box<dyn Sampler>)> = vec![
        ("always_on", Box::new(AlwaysOn)),
        (
            "traceidratio_0.25",
            Box::new(TraceIdRatioBased::new(0.25).unwrap()),
        ),
        (
            "parentbased_always_on_root",
            Box::new(ParentBased::new(AlwaysOn)),
        ),
        (
            "ratelimiting_1e9_per_s",
            Box::new(RateLimiting::new(1e9).unwrap()),
        ),
    ];
    for (name, sampler) in &list {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(sampler.should_sample(black_box(&params(&root)))))
        });
    }
    g.finish();
}

criterion_group!(benches, propagation, samplers);
criterion_main!(benches);
