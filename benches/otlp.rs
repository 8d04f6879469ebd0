//! The OTLP/HTTP receiver's throughput into the store: batches of 512 spans
//! (8 attributes each), protobuf and JSON, through the receiver service and
//! its ingest queue until the spans are written.
//!
//! `cargo bench --bench otlp` — compare with `ingest/store_512_spans` of
//! `cargo bench --bench store` (the store's own rate).

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::Request;
use http_body_util::Full;
use prost::Message;
use tower::ServiceExt;
use tracelite::otlp::{from_span_data, json, proto, IngestQueue, OtlpReceiver};
use tracelite::store::Store;
use tracelite::{
    InMemoryExporter, KeyValue, Resource, SimpleSpanProcessor, SpanKind, TracerProvider,
};

/// 64 traces of 8 spans, 8 attributes each, as one request.
fn template() -> proto::ExportTraceServiceRequest {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "sender")]))
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let tracer = provider.tracer("bench");
    for t in 0..64i64 {
        let root = tracer
            .span("GET /users/{id}")
            .kind(SpanKind::Server)
            .start();
        let _g = root.enter();
        for i in 0..8i64 {
            let span = if i == 0 {
                None
            } else {
                Some(tracer.start(["SELECT", "GET", "cache.get"][i as usize % 3]))
            };
            let s = span.as_ref().unwrap_or(&root);
            s.set_attribute("http.request.method", "GET");
            s.set_attribute("http.route", "/users/{id}");
            s.set_attribute("http.response.status_code", 200);
            s.set_attribute("server.address", "api.internal");
            s.set_attribute("server.port", 8080);
            s.set_attribute("user.id", t % 1000);
            s.set_attribute("tenant", format!("tenant-{}", t % 20));
            s.set_attribute("step", i);
        }
    }
    drop(tracer);
    drop(provider);
    from_span_data(&exporter.take())
}

/// Gives every trace of the request new ids (so the store takes them as new).
fn refresh(request: &mut proto::ExportTraceServiceRequest, round: u64) {
    for rs in &mut request.resource_spans {
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                span.trace_id[..8].copy_from_slice(&round.to_be_bytes());
            }
        }
    }
}

fn receiver(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("otlp_receiver_into_store");
    g.throughput(Throughput::Elements(512));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(8));
    let mut round = 1u64;
    for (name, json_body) in [("protobuf_512_spans", false), ("json_512_spans", true)] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("bench.db")).unwrap();
        let queue = IngestQueue::new(store.clone(), 64);
        let service = OtlpReceiver::new(queue.clone());
        let mut request = template();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let target = store.stats().unwrap().spans + iters * 512;
                for _ in 0..iters {
                    round += 1;
                    refresh(&mut request, round);
                    let (body, ct) = if json_body {
                        (json::encode_request(&request), "application/json")
                    } else {
                        (request.encode_to_vec(), "application/x-protobuf")
                    };
                    let req = Request::post("/v1/traces")
                        .header("content-type", ct)
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    let began = Instant::now();
                    loop {
                        let response = rt.block_on(service.clone().oneshot(req.clone())).unwrap();
                        if response.status() == 503 {
                            // The queue is full: the store is the limit; wait.
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        assert_eq!(response.status(), 200);
                        break;
                    }
                    timed += began.elapsed();
                }
                // Until the last span is in the store.
                let began = Instant::now();
                while store.stats().unwrap().spans < target {
                    std::thread::sleep(Duration::from_micros(200));
                }
                timed + began.elapsed()
            })
        });
        queue.close();
    }
    g.finish();
}

criterion_group!(benches, receiver);
criterion_main!(benches);
