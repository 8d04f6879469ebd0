//! The SQLite store: ingest throughput (store alone, processor + store, and a
//! bare rusqlite loop as the ceiling), and queries over a million spans.
//!
//! `cargo bench --bench store` (the 1M-span database is built once into
//! `target/bench-store-1m.db` and reused).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tracelite::store::{SqliteExporter, Store, TraceQuery};
use tracelite::{
    BatchSpanProcessor, InMemoryExporter, KeyValue, Resource, SimpleSpanProcessor, SpanData,
    SpanKind, TraceId, TracerProvider,
};

const SERVICES: [&str; 5] = ["gateway", "user-api", "orders", "billing", "search"];
const ROUTES: [&str; 8] = [
    "/users",
    "/users/{id}",
    "/orders",
    "/orders/{id}",
    "/cart",
    "/search",
    "/pay",
    "/health",
];

const ROOTS: [&str; 4] = ["GET /users", "GET /users/{id}", "POST /orders", "GET /cart"];
const CHILDREN: [&str; 4] = ["SELECT users", "GET", "cache.get", "SELECT orders"];

/// Spans of `traces` traces with `per_trace` spans each, as one service
/// exports them (a batch comes from one process): a SERVER root and
/// children with four names, 8 attributes per span, traces starting one
/// millisecond apart from `base`. The service is picked by `seed`.
fn make_spans(traces: usize, per_trace: usize, base: SystemTime, seed: usize) -> Vec<SpanData> {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([
            KeyValue::new("service.name", SERVICES[seed % SERVICES.len()]),
            KeyValue::new("service.version", "1.0.0"),
        ]))
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let tracer = provider.tracer("bench");
    for t in 0..traces {
        let n = seed + t;
        let start = base + Duration::from_millis(t as u64);
        let route = ROUTES[n % ROUTES.len()];
        let root = tracer
            .span(format!("GET {route}"))
            .kind(SpanKind::Server)
            .start_time(start)
            .start();
        for i in 1..per_trace {
            let child = tracer
                .span(CHILDREN[i % CHILDREN.len()])
                .kind(if i % 2 == 0 {
                    SpanKind::Internal
                } else {
                    SpanKind::Client
                })
                .parent(root.context())
                .start_time(start + Duration::from_micros(i as u64 * 10))
                .start();
            attributes(&child, n, i);
            child.end_with_timestamp(start + Duration::from_micros(i as u64 * 10 + 50));
        }
        attributes(&root, n, 0);
        root.end_with_timestamp(start + Duration::from_micros(per_trace as u64 * 10 + 100));
    }
    drop(tracer);
    drop(provider);
    exporter.take()
}

fn attributes(span: &tracelite::Span, n: usize, i: usize) {
    span.set_attribute("http.request.method", "GET");
    span.set_attribute("http.route", ROUTES[n % ROUTES.len()]);
    span.set_attribute(
        "http.response.status_code",
        if n % 50 == 0 { 500 } else { 200 },
    );
    span.set_attribute("server.address", "api.internal");
    span.set_attribute("server.port", 8080);
    span.set_attribute("user.id", (n % 1000) as i64);
    span.set_attribute("tenant", format!("tenant-{}", n % 20));
    span.set_attribute("step", i as i64);
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("bench.db")).unwrap();
    (dir, store)
}

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(512));
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(8));

    // Store alone: one 512-span batch (64 traces of 8 spans) per iteration.
    {
        let (_dir, store) = temp_store();
        let mut seed = 0;
        g.bench_function("store_512_spans", |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    make_spans(64, 8, SystemTime::now(), seed)
                },
                |batch| store.ingest(&batch).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }

    // Batch processor + SqliteExporter, sustained: spans are created on this
    // thread while the worker writes batches of 512 on its own; the time
    // runs until the last span is stored. The queue is large enough that
    // nothing is dropped (checked), so every span counted was stored.
    {
        let (_dir, store) = temp_store();
        let processor = BatchSpanProcessor::builder(SqliteExporter::new(store.clone()))
            .with_max_queue_size(1 << 21)
            .with_max_export_batch_size(512)
            .build();
        let stats = processor.stats();
        let provider = TracerProvider::builder()
            .with_resource(Resource::new([("service.name", "bench")]))
            .with_processor(processor)
            .build();
        let tracer = provider.tracer("bench");
        let mut n = 0usize;
        g.bench_function("processor_and_store_512_spans", |b| {
            b.iter_custom(|iters| {
                let began = Instant::now();
                for _ in 0..iters {
                    for _ in 0..64 {
                        n += 1;
                        let root = tracer
                            .span(ROOTS[n % ROOTS.len()])
                            .kind(SpanKind::Server)
                            .start();
                        attributes(&root, n, 0);
                        let _g = root.enter();
                        for i in 1..8 {
                            let child = tracer.start(CHILDREN[i % CHILDREN.len()]);
                            attributes(&child, n, i);
                        }
                    }
                }
                provider.force_flush().unwrap();
                began.elapsed()
            })
        });
        assert_eq!(stats.dropped(), 0, "the benchmark must not drop spans");
        assert_eq!(stats.failed(), 0);
        assert_eq!(store.stats().unwrap().spans, stats.exported());
    }

    // The ceiling: the same rows into a table without indexes.
    {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("bare.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             CREATE TABLE spans (trace BLOB, span_id INTEGER, parent_id INTEGER, service TEXT,
               name TEXT, kind INTEGER, start_ns INTEGER, end_ns INTEGER, duration_ns INTEGER,
               status_code INTEGER, attributes TEXT);",
        )
        .unwrap();
        let mut conn = conn;
        let mut seed = 0;
        g.bench_function("bare_rusqlite_512_rows", |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    make_spans(64, 8, SystemTime::now(), seed)
                },
                |batch| {
                    let tx = conn.transaction().unwrap();
                    {
                        let mut stmt = tx
                            .prepare_cached(
                                "INSERT INTO spans VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                            )
                            .unwrap();
                        let mut json = String::new();
                        for s in &batch {
                            json.clear();
                            json.push('{');
                            for (i, kv) in s.attributes.iter().enumerate() {
                                if i > 0 {
                                    json.push(',');
                                }
                                json.push_str(&format!(
                                    "{:?}:{:?}",
                                    kv.key.as_str(),
                                    kv.value.to_string()
                                ));
                            }
                            json.push('}');
                            let start = tracelite::trace::clock::unix_nanos(s.start_time) as i64;
                            let end = tracelite::trace::clock::unix_nanos(s.end_time) as i64;
                            stmt.execute(rusqlite::params![
                                &s.span_context.trace_id().to_bytes()[..],
                                s.span_context.span_id().to_u64() as i64,
                                s.parent_span_id.to_u64() as i64,
                                s.resource().service_name(),
                                &*s.name,
                                s.kind as i64,
                                start,
                                end,
                                end - start,
                                0,
                                &json,
                            ])
                            .unwrap();
                        }
                    }
                    tx.commit().unwrap();
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// A store with 1,000,000 spans (20,000 traces of 50 spans over the hour
/// before it was built), built once and reused.
fn million_span_store() -> (Store, Vec<TraceId>) {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-store-1m-v2.db");
    let ready = Store::open(&path)
        .ok()
        .and_then(|s| s.stats().ok())
        .is_some_and(|s| s.spans == 1_000_000);
    if !ready {
        let _ = std::fs::remove_file(&path);
        let store = Store::open(&path).unwrap();
        let base = SystemTime::now() - Duration::from_secs(3600);
        let began = Instant::now();
        for chunk in 0..200 {
            let spans = make_spans(
                100,
                50,
                base + Duration::from_millis(chunk * 18_000),
                chunk as usize,
            );
            for batch in spans.chunks(512) {
                store.ingest(batch).unwrap();
            }
        }
        eprintln!("built the 1M-span store in {:?}", began.elapsed());
    }
    let store = Store::open(&path).unwrap();
    let ids = store
        .find_traces(&TraceQuery::new().limit(1000))
        .unwrap()
        .into_iter()
        .map(|t| t.trace_id)
        .collect();
    (store, ids)
}

fn queries(c: &mut Criterion) {
    let (store, ids) = million_span_store();
    let mut g = c.benchmark_group("query_1m_spans");
    g.sample_size(50);
    g.bench_function("find_by_service_limit_20", |b| {
        b.iter(|| {
            let found = store
                .find_traces(&TraceQuery::new().service("orders").limit(20))
                .unwrap();
            assert_eq!(found.len(), 20);
            black_box(found)
        })
    });
    g.bench_function("find_by_service_and_operation", |b| {
        b.iter(|| {
            let found = store
                .find_traces(
                    &TraceQuery::new()
                        .service("orders")
                        .operation("GET /cart")
                        .limit(20),
                )
                .unwrap();
            black_box(found)
        })
    });
    let mut i = 0;
    g.bench_function("get_trace_50_spans", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            let spans = store.trace(ids[i]).unwrap();
            assert_eq!(spans.len(), 50);
            black_box(spans)
        })
    });
    g.bench_function("find_by_attribute", |b| {
        b.iter(|| {
            let found = store
                .find_traces(&TraceQuery::new().attribute("tenant", "tenant-7").limit(20))
                .unwrap();
            assert_eq!(found.len(), 20);
            black_box(found)
        })
    });
    g.bench_function("find_by_two_attributes_rare", |b| {
        b.iter(|| {
            let found = store
                .find_traces(
                    &TraceQuery::new()
                        .attribute("user.id", "417")
                        .attribute("http.response.status_code", "500")
                        .limit(20),
                )
                .unwrap();
            black_box(found)
        })
    });
    g.bench_function("find_by_attribute_no_match", |b| {
        b.iter(|| {
            let found = store
                .find_traces(&TraceQuery::new().attribute("tenant", "nobody").limit(20))
                .unwrap();
            assert!(found.is_empty());
            black_box(found)
        })
    });
    // All services' RED over a window holding all 1M spans (the last hour
    // when the file was built), from the per-minute rollups.
    let (oldest, newest) = store.time_range().unwrap().unwrap();
    let from = std::time::UNIX_EPOCH + Duration::from_nanos(oldest);
    let to = std::time::UNIX_EPOCH + Duration::from_nanos(newest) + Duration::from_secs(60);
    g.bench_function("red_all_services_1m_spans", |b| {
        b.iter(|| {
            let red = store.red_metrics(from, to, &[], None).unwrap();
            assert_eq!(red.services.iter().map(|r| r.count).sum::<u64>(), 1_000_000);
            black_box(red)
        })
    });
    g.bench_function("list_services_and_operations", |b| {
        b.iter(|| black_box((store.services().unwrap(), store.operations(None).unwrap())))
    });
    g.finish();
}

criterion_group!(benches, ingest, queries);
criterion_main!(benches);
