//! The SQLite store on real files: round trips, trace summaries under any
//! arrival order, search, retention, compaction and concurrent use.
#![cfg(feature = "sqlite")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracelite::store::{RetentionPolicy, SqliteExporter, Store, StoreError, TraceQuery};
use tracelite::{
    Context, InMemoryExporter, KeyValue, Link, Resource, SimpleSpanProcessor, SpanContext,
    SpanData, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState, TracerProvider,
};

/// A provider for one service whose spans land in an in-memory exporter.
fn service(name: &'static str) -> (TracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([
            KeyValue::new("service.name", name),
            KeyValue::new("service.version", "1.2.3"),
        ]))
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    (provider, exporter)
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
}

/// gateway GET /users [t0, t0+100ms] → gateway client call → user-api
/// server span → user-api db query (error). Returns all four spans.
fn three_tier_trace(t0: u64) -> Vec<SpanData> {
    let (gateway, gw_spans) = service("gateway");
    let (users, user_spans) = service("user-api");
    let gw = gateway.tracer("gw");
    let root = gw
        .span("GET /users")
        .kind(SpanKind::Server)
        .start_time(at(t0))
        .attribute("http.request.method", "GET")
        .attribute("http.response.status_code", 200)
        .start();
    let client = gw
        .span("GET")
        .kind(SpanKind::Client)
        .parent(root.context())
        .start_time(at(t0 + 5))
        .start();
    let remote = SpanContext::new(
        client.span_context().trace_id(),
        client.span_context().span_id(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let ua = users.tracer("users");
    let server = ua
        .span("GET /users")
        .kind(SpanKind::Server)
        .parent(Context::from_span_context(remote))
        .start_time(at(t0 + 10))
        .attribute("user.count", 3)
        .start();
    let db = ua
        .span("SELECT users")
        .parent(server.context())
        .start_time(at(t0 + 20))
        .attribute("db.system", "postgresql")
        .start();
    db.add_event("retry", [KeyValue::new("attempt", 2)]);
    db.add_link(root.span_context().clone(), [KeyValue::new("why", "test")]);
    db.set_status(Status::error("connection reset"));
    db.end_with_timestamp(at(t0 + 80));
    server.end_with_timestamp(at(t0 + 90));
    client.end_with_timestamp(at(t0 + 92));
    root.end_with_timestamp(at(t0 + 100));
    let mut spans = gw_spans.take();
    spans.extend(user_spans.take());
    spans
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("traces.db")).expect("open store")
}

#[test]
fn a_trace_round_trips_with_everything_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let spans = three_tier_trace(0);
    let report = store.ingest(&spans).unwrap();
    assert_eq!(report.stored, 4);
    let trace_id = spans[0].span_context.trace_id();

    let stored = store.trace(trace_id).unwrap();
    assert_eq!(stored.len(), 4);
    // Ordered by start time.
    let names: Vec<_> = stored
        .iter()
        .map(|s| (s.service.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("gateway", "GET /users"),
            ("gateway", "GET"),
            ("user-api", "GET /users"),
            ("user-api", "SELECT users")
        ]
    );
    for original in &spans {
        let s = stored
            .iter()
            .find(|s| s.span_id == original.span_context.span_id())
            .expect("stored");
        assert_eq!(s.trace_id, trace_id);
        assert_eq!(s.parent_span_id, original.parent_span_id);
        assert_eq!(s.parent_is_remote, original.parent_is_remote);
        assert_eq!(s.kind, original.kind);
        assert_eq!(s.name, original.name);
        assert_eq!(s.attributes, original.attributes);
        assert_eq!(s.status, original.status);
        assert_eq!(s.start_time(), original.start_time);
        assert_eq!(s.duration(), original.duration());
        assert_eq!(s.trace_flags, original.span_context.trace_flags());
        assert_eq!(s.events, original.events);
        assert_eq!(s.links.len(), original.links.len());
        for (a, b) in s.links.iter().zip(&original.links) {
            assert_eq!(a.span_context.trace_id(), b.span_context.trace_id());
            assert_eq!(a.span_context.span_id(), b.span_context.span_id());
            assert_eq!(a.attributes, b.attributes);
        }
        assert_eq!(
            s.resource,
            original.resource().iter().cloned().collect::<Vec<_>>()
        );
        assert_eq!(s.scope_name, original.scope().name());
    }

    let summary = store.trace_summary(trace_id).unwrap().unwrap();
    assert_eq!(summary.root_service, "gateway");
    assert_eq!(summary.root_name, "GET /users");
    let root = spans.iter().find(|s| !s.parent_span_id.is_valid()).unwrap();
    assert_eq!(summary.root_span_id, Some(root.span_context.span_id()));
    assert_eq!(summary.span_count, 4);
    assert_eq!(summary.error_count, 1);
    assert_eq!(summary.duration(), Duration::from_millis(100));
    assert_eq!(summary.services, ["gateway", "user-api"]);

    assert!(store.trace(TraceId::from_u128(42)).unwrap().is_empty());
    assert!(store
        .trace_summary(TraceId::from_u128(42))
        .unwrap()
        .is_none());
}

#[test]
fn ingest_is_idempotent_and_order_free() {
    let spans = three_tier_trace(0);
    let trace_id = spans[0].span_context.trace_id();
    let root_index = spans
        .iter()
        .position(|s| !s.parent_span_id.is_valid())
        .unwrap();
    let root_id = spans[root_index].span_context.span_id();

    // All at once, as the reference.
    let dir = tempfile::tempdir().unwrap();
    let reference = open(&dir);
    reference.ingest(&spans).unwrap();
    let expected = reference.trace_summary(trace_id).unwrap().unwrap();

    // Every order, one span per batch, each batch sent twice.
    let orders: [[usize; 4]; 4] = [[3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2], [0, 1, 2, 3]];
    for order in orders {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut seen_provisional = false;
        for &i in &order {
            let batch = [spans[i].clone(), spans[i].clone()];
            let report = store.ingest(&batch).unwrap();
            assert_eq!((report.stored, report.duplicates), (1, 1));
            assert_eq!(store.ingest(&batch[..1]).unwrap().duplicates, 1);
            let summary = store.trace_summary(trace_id).unwrap().unwrap();
            if summary.root_span_id.is_none() {
                seen_provisional = true;
            }
        }
        let summary = store.trace_summary(trace_id).unwrap().unwrap();
        assert_eq!(summary, expected, "order {order:?}");
        assert_eq!(summary.root_span_id, Some(root_id));
        assert_eq!(store.stats().unwrap().spans, 4);
        assert_eq!(store.trace(trace_id).unwrap().len(), 4);
        assert_eq!(seen_provisional, order[0] != root_index);
    }
}

#[test]
fn a_trace_without_its_root_names_the_earliest_span() {
    let spans = three_tier_trace(0);
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let user_api: Vec<_> = spans
        .iter()
        .filter(|s| s.resource().service_name() == "user-api")
        .cloned()
        .collect();
    // The db span first, then its (earlier) parent.
    store.ingest(&user_api[..1]).unwrap();
    let s = store
        .trace_summary(user_api[0].span_context.trace_id())
        .unwrap()
        .unwrap();
    assert_eq!(s.root_name, user_api[0].name);
    store.ingest(&user_api[1..]).unwrap();
    let s = store
        .trace_summary(user_api[0].span_context.trace_id())
        .unwrap()
        .unwrap();
    assert_eq!(
        (s.root_service.as_str(), s.root_name.as_str()),
        ("user-api", "GET /users")
    );
    assert_eq!(s.root_span_id, None);
    assert_eq!(s.duration(), Duration::from_millis(80));
}

/// Ten traces, one every second; odd ones fail, durations grow.
fn ten_traces(store: &Store) -> Vec<TraceId> {
    let (checkout, exp) = service("checkout");
    let tracer = checkout.tracer("t");
    let mut ids = Vec::new();
    for i in 0..10u64 {
        let root = tracer
            .span(if i % 2 == 0 {
                "GET /cart"
            } else {
                "POST /orders"
            })
            .kind(SpanKind::Server)
            .start_time(at(i * 1000))
            .attribute("tenant", if i < 5 { "acme" } else { "globex" })
            .attribute(
                "http.response.status_code",
                if i % 2 == 1 { 500 } else { 200 },
            )
            .start();
        let child = tracer
            .span("load")
            .parent(root.context())
            .start_time(at(i * 1000 + 1))
            .attribute("shard", i as i64 % 3)
            .start();
        if i % 2 == 1 {
            child.set_status(Status::error("boom"));
        }
        child.end_with_timestamp(at(i * 1000 + 2));
        root.end_with_timestamp(at(i * 1000 + 10 * (i + 1)));
        ids.push(root.span_context().trace_id());
    }
    store.ingest(&exp.take()).unwrap();
    ids
}

#[test]
fn find_traces_filters_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ids = ten_traces(&store);
    store.ingest(&three_tier_trace(20_000)).unwrap();
    let find = |q: TraceQuery| -> Vec<TraceId> {
        store
            .find_traces(&q)
            .unwrap()
            .into_iter()
            .map(|t| t.trace_id)
            .collect()
    };
    let rev = |v: &[usize]| -> Vec<TraceId> { v.iter().rev().map(|&i| ids[i]).collect() };

    // Everything, newest first (the three-tier trace is the newest).
    let all = find(TraceQuery::new());
    assert_eq!(all.len(), 11);
    assert_eq!(&all[1..], &rev(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])[..]);
    assert_eq!(find(TraceQuery::new().limit(3)).len(), 3);

    assert_eq!(
        find(TraceQuery::new().service("checkout")),
        rev(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    );
    assert_eq!(
        find(TraceQuery::new().service("checkout").limit(2)),
        rev(&[8, 9])
    );
    assert_eq!(
        find(
            TraceQuery::new()
                .service("checkout")
                .operation("POST /orders")
        ),
        rev(&[1, 3, 5, 7, 9])
    );
    assert_eq!(find(TraceQuery::new().service("user-api")).len(), 1);
    assert!(find(TraceQuery::new().service("nobody")).is_empty());

    assert_eq!(
        find(TraceQuery::new().attribute("tenant", "globex")),
        rev(&[5, 6, 7, 8, 9])
    );
    // Typed values compare as text.
    assert_eq!(
        find(TraceQuery::new().attribute("http.response.status_code", "500")),
        rev(&[1, 3, 5, 7, 9])
    );
    // Several conditions: all must hold, on any span of the trace.
    assert_eq!(
        find(
            TraceQuery::new()
                .attribute("tenant", "acme")
                .attribute("shard", "0")
        ),
        rev(&[0, 3])
    );
    assert_eq!(
        find(
            TraceQuery::new()
                .service("checkout")
                .attribute_expr("tenant=acme")
                .unwrap()
                .attribute("shard", "1")
        ),
        rev(&[1, 4])
    );

    assert_eq!(
        find(TraceQuery::new().service("checkout").errors_only()),
        rev(&[1, 3, 5, 7, 9])
    );
    // Trace durations are 10, 20, ... 100 ms.
    assert_eq!(
        find(
            TraceQuery::new()
                .service("checkout")
                .min_duration(Duration::from_millis(30))
                .max_duration(Duration::from_millis(50))
        ),
        rev(&[2, 3, 4])
    );
    // With an operation, duration bounds apply to that operation's spans.
    assert_eq!(
        find(
            TraceQuery::new()
                .service("checkout")
                .operation("load")
                .min_duration(Duration::from_millis(2))
        )
        .len(),
        0
    );
    assert_eq!(
        find(TraceQuery::new().start_time(at(2000)).end_time(at(4000))),
        rev(&[2, 3, 4])
    );
    assert_eq!(
        find(TraceQuery::new().service("checkout").start_time(at(7000))),
        rev(&[7, 8, 9])
    );
}

#[test]
fn bad_queries_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for q in [
        TraceQuery::new().limit(0),
        TraceQuery::new().limit(1_000_000),
        TraceQuery::new().operation("x"),
        TraceQuery::new()
            .min_duration(Duration::from_secs(2))
            .max_duration(Duration::from_secs(1)),
    ] {
        let err = store.find_traces(&q).unwrap_err();
        assert!(matches!(err, StoreError::InvalidQuery(_)), "{err}");
    }
    assert!(TraceQuery::new().attribute_expr("=x").is_err());
}

#[test]
fn services_operations_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert!(store.services().unwrap().is_empty());
    ten_traces(&store);
    store.ingest(&three_tier_trace(20_000)).unwrap();
    assert_eq!(
        store.services().unwrap(),
        ["checkout", "gateway", "user-api"]
    );
    let ops: Vec<_> = store
        .operations(Some("gateway"))
        .unwrap()
        .into_iter()
        .map(|o| (o.name, o.kind))
        .collect();
    assert_eq!(
        ops,
        [
            ("GET".to_string(), SpanKind::Client),
            ("GET /users".to_string(), SpanKind::Server)
        ]
    );
    assert_eq!(store.operations(None).unwrap().len(), 3 + 2 + 2);
    let stats = store.stats().unwrap();
    assert_eq!((stats.traces, stats.spans), (11, 24));
    assert!(stats.used_bytes > 0 && stats.file_bytes >= stats.used_bytes);
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        ten_traces(&store);
    }
    let store = open(&dir);
    assert_eq!(store.stats().unwrap().spans, 20);
    // The writer's caches start empty: new spans from known resources and
    // operations still go in.
    ten_traces(&store);
    assert_eq!(store.stats().unwrap().spans, 40);
    assert_eq!(store.services().unwrap(), ["checkout"]);
}

#[test]
fn retention_by_age_count_and_size_then_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (svc, exp) = service("svc");
    let tracer = svc.tracer("t");
    let now = SystemTime::now();
    // 300 traces: 100 from two days ago, 200 recent; 3 spans each.
    for i in 0..300u64 {
        let start = if i < 100 {
            now - Duration::from_secs(2 * 86_400) + Duration::from_millis(i)
        } else {
            now - Duration::from_secs(600) + Duration::from_millis(i)
        };
        let root = tracer
            .span("root")
            .start_time(start)
            .attribute("i", i as i64)
            .start();
        for _ in 0..2 {
            tracer
                .span("child")
                .parent(root.context())
                .start_time(start)
                .attribute("payload", "x".repeat(2000))
                .start()
                .end_with_timestamp(start + Duration::from_millis(1));
        }
        root.end_with_timestamp(start + Duration::from_millis(2));
    }
    store.ingest(&exp.take()).unwrap();
    assert_eq!(store.stats().unwrap().spans, 900);

    let report = store
        .apply_retention(
            &RetentionPolicy::new()
                .max_age(Duration::from_secs(86_400))
                .chunk_size(7)
                .compact(false),
        )
        .unwrap();
    assert_eq!((report.traces_deleted, report.spans_deleted), (100, 300));
    let stats = store.stats().unwrap();
    assert_eq!((stats.traces, stats.spans), (200, 600));
    // The oldest left is trace 100.
    let oldest = store
        .find_traces(&TraceQuery::new().limit(10_000))
        .unwrap()
        .pop()
        .unwrap();
    let spans = store.trace(oldest.trace_id).unwrap();
    assert!(spans
        .iter()
        .any(|s| s.attribute("i").and_then(|v| v.as_i64()) == Some(100)));
    // No rows of deleted traces are left behind in any table.
    assert!(store
        .find_traces(&TraceQuery::new().attribute("i", "5"))
        .unwrap()
        .is_empty());

    let report = store
        .apply_retention(&RetentionPolicy::new().max_spans(301).compact(false))
        .unwrap();
    assert_eq!(report.traces_deleted, 100);
    assert_eq!(store.stats().unwrap().spans, 300);

    let before = store.stats().unwrap();
    let freed = store.compact().unwrap();
    let after = store.stats().unwrap();
    assert!(freed > 0, "compaction freed nothing");
    assert_eq!(after.file_bytes, before.file_bytes - freed);
    assert_eq!(
        std::fs::metadata(store.path()).unwrap().len(),
        after.file_bytes
    );

    let target = after.used_bytes / 2;
    let report = store
        .apply_retention(&RetentionPolicy::new().max_size(target))
        .unwrap();
    assert!(report.traces_deleted > 0 && report.bytes_freed > 0);
    let stats = store.stats().unwrap();
    assert!(
        stats.used_bytes <= target,
        "{} > {target}",
        stats.used_bytes
    );
    assert!(stats.traces > 0, "size retention deleted everything");
}

#[test]
fn background_retention_runs_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    ten_traces(&store);
    let task = store.start_retention(
        RetentionPolicy::new()
            .max_spans(4)
            .interval(Duration::from_millis(20)),
    );
    let began = std::time::Instant::now();
    while store.stats().unwrap().spans > 4 && began.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(task);
    assert_eq!(store.stats().unwrap().spans, 4);
}

#[test]
fn through_a_batch_processor_from_threads_while_readers_query() {
    use tracelite::BatchSpanProcessor;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let processor = BatchSpanProcessor::builder(SqliteExporter::new(store.clone()))
        .with_max_queue_size(100_000)
        .with_max_export_batch_size(64)
        .with_scheduled_delay(Duration::from_millis(5))
        .build();
    let stats = processor.stats();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "busy")]))
        .with_processor(processor)
        .build();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let mut writers = Vec::new();
        for w in 0..2 {
            let tracer = provider.tracer("w");
            writers.push(s.spawn(move || {
                for i in 0..1000 {
                    let root = tracer.start(format!("op{}", i % 5));
                    root.set_attribute("writer", w);
                    let _g = root.enter();
                    tracer.start("child").end();
                }
            }));
        }
        for _ in 0..3 {
            let store = store.clone();
            let stop = &stop;
            s.spawn(move || {
                let mut queries = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && queries < 100_000 {
                    let traces = store
                        .find_traces(&TraceQuery::new().service("busy").limit(5))
                        .expect("query during ingest");
                    if let Some(t) = traces.first() {
                        store.trace(t.trace_id).expect("trace during ingest");
                    }
                    store.stats().expect("stats during ingest");
                    queries += 1;
                }
            });
        }
        for w in writers {
            w.join().unwrap();
        }
        provider.force_flush().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(stats.failed(), 0);
    assert_eq!(stats.dropped(), 0);
    assert_eq!(store.stats().unwrap().spans, 4000);
    assert_eq!(store.stats().unwrap().traces, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_from_tokio_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    ten_traces(&store);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            if i % 2 == 0 {
                ten_traces(&store);
            }
            store
                .find_traces(&TraceQuery::new().service("checkout"))
                .map(|t| t.len())
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap() > 0);
    }
    assert_eq!(store.stats().unwrap().spans, 20 * 5);
}

#[test]
fn huge_attributes_and_many_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_span_limits(tracelite::SpanLimits {
            max_attributes: 5000,
            ..Default::default()
        })
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let span = provider.tracer("t").start("big");
    for i in 0..6000 {
        span.set_attribute(format!("k{i}"), i);
    }
    span.set_attribute("k0", "x".repeat(4 << 20));
    span.add_event("e", [KeyValue::new("v", "\u{202e}\u{0}\"\\")]);
    span.end();
    let spans = exporter.take();
    assert_eq!(spans[0].attributes.len(), 5000);
    assert_eq!(spans[0].dropped_attributes_count, 1000);
    store.ingest(&spans).unwrap();
    let back = store.trace(spans[0].span_context.trace_id()).unwrap();
    assert_eq!(back[0].attributes, spans[0].attributes);
    assert_eq!(back[0].dropped_attributes_count, 1000);
    assert_eq!(back[0].events, spans[0].events);
    assert_eq!(
        store
            .find_traces(&TraceQuery::new().attribute("k4999", "4999"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn links_keep_their_context() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (p, exp) = service("l");
    let linked = SpanContext::new(
        TraceId::from_u128(0xabc),
        SpanId::from_u64(0xdef),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_members([("vendor", "v1")]).unwrap(),
    );
    p.tracer("t")
        .span("with-link")
        .link(Link::new(linked.clone(), [KeyValue::new("k", "v")]))
        .start()
        .end();
    let spans = exp.take();
    store.ingest(&spans).unwrap();
    let back = store.trace(spans[0].span_context.trace_id()).unwrap();
    let link = &back[0].links[0];
    assert_eq!(link.span_context.trace_id(), linked.trace_id());
    assert_eq!(link.span_context.span_id(), linked.span_id());
    assert_eq!(link.span_context.trace_flags(), linked.trace_flags());
    assert_eq!(link.span_context.trace_state().get("vendor"), Some("v1"));
}

#[test]
fn search_spans_many_buckets_and_batches() {
    // 700 traces (three buckets of 256), each arriving over two batches:
    // the root first, then its child, so sets and summaries are updated
    // across batches.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (svc, exp) = service("many");
    let tracer = svc.tracer("t");
    let mut roots = Vec::new();
    let mut children = Vec::new();
    for i in 0..700u64 {
        let root = tracer
            .span(if i % 7 == 0 {
                "GET /rare"
            } else {
                "GET /common"
            })
            .start_time(at(i))
            .attribute("n", i as i64)
            .attribute("mod10", (i % 10) as i64)
            .start();
        let child = tracer
            .span("db")
            .parent(root.context())
            .start_time(at(i))
            .attribute("mod3", (i % 3) as i64)
            .start();
        child.end_with_timestamp(at(i) + Duration::from_millis(i % 50));
        root.end_with_timestamp(at(i) + Duration::from_millis(60));
        let mut spans = exp.take();
        children.push(spans.remove(0));
        roots.push(spans.remove(0));
    }
    for chunk in roots.chunks(100) {
        store.ingest(chunk).unwrap();
    }
    for chunk in children.chunks(100) {
        store.ingest(chunk).unwrap();
    }
    let n_of = |q: TraceQuery| -> Vec<i64> {
        store
            .find_traces(&q)
            .unwrap()
            .iter()
            .map(|t| {
                let spans = store.trace(t.trace_id).unwrap();
                assert_eq!(spans.len(), 2, "both batches counted");
                assert_eq!(t.span_count, 2);
                spans
                    .iter()
                    .find_map(|s| s.attribute("n").and_then(|v| v.as_i64()))
                    .unwrap()
            })
            .collect()
    };
    // Conditions from both batches (mod10 on the root, mod3 on the child).
    let expected: Vec<i64> = (0..700)
        .rev()
        .filter(|i| i % 10 == 4 && i % 3 == 1)
        .collect();
    assert_eq!(
        n_of(
            TraceQuery::new()
                .attribute("mod10", "4")
                .attribute("mod3", "1")
                .limit(1000)
        ),
        expected
    );
    // A limit met in the newest bucket, newest first.
    assert_eq!(
        n_of(TraceQuery::new().attribute("mod10", "4").limit(3)),
        [694, 684, 674]
    );
    // Rare operation across all buckets, with the operation's own duration.
    let expected: Vec<i64> = (0..700).rev().filter(|i| i % 7 == 0).take(500).collect();
    assert_eq!(
        n_of(
            TraceQuery::new()
                .service("many")
                .operation("GET /rare")
                .limit(500)
        ),
        expected
    );
    let expected: Vec<i64> = (0..700).rev().filter(|i| i % 50 >= 45).take(5).collect();
    assert_eq!(
        n_of(
            TraceQuery::new()
                .service("many")
                .operation("db")
                .min_duration(Duration::from_millis(45))
                .limit(5)
        ),
        expected
    );
    // One trace by a unique attribute, in the oldest bucket.
    assert_eq!(n_of(TraceQuery::new().attribute("n", "3")), [3]);
    assert!(n_of(TraceQuery::new().attribute("n", "700")).is_empty());

    // Retention of the oldest 300 traces leaves the sets exact.
    store
        .apply_retention(&RetentionPolicy::new().max_spans(800).compact(false))
        .unwrap();
    assert_eq!(store.stats().unwrap().traces, 400);
    assert!(n_of(TraceQuery::new().attribute("n", "3")).is_empty());
    assert_eq!(n_of(TraceQuery::new().attribute("n", "300")), [300]);
    let expected: Vec<i64> = (300..700).rev().filter(|i| i % 10 == 4).collect();
    assert_eq!(
        n_of(TraceQuery::new().attribute("mod10", "4").limit(1000)),
        expected
    );
}

#[test]
fn red_rollups_match_exact_metrics() {
    use tracelite::analysis::{red_metrics, RedOptions, RELATIVE_ERROR};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (svc, exp) = service("api");
    let tracer = svc.tracer("t");
    let base = SystemTime::now() - Duration::from_secs(600);
    let mut x: u64 = 88172645463325252;
    for i in 0..3000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let start = base + Duration::from_millis(i * 100);
        let ms = 1 + x % 50 + if x % 25 == 0 { 400 } else { 0 };
        let span = tracer
            .span(if i % 3 == 0 { "GET /a" } else { "GET /b" })
            .kind(SpanKind::Server)
            .start_time(start)
            .start();
        if x % 17 == 0 {
            span.set_status(Status::error("x"));
        }
        span.end_with_timestamp(start + Duration::from_millis(ms));
    }
    let spans = exp.take();
    // In several batches, one of them twice: rollups count each span once.
    for chunk in spans.chunks(700) {
        store.ingest(chunk).unwrap();
    }
    store.ingest(&spans[..700]).unwrap();

    let (from, to) = (
        base - Duration::from_secs(60),
        SystemTime::now() + Duration::from_secs(60),
    );
    let rolled = store
        .red_metrics(
            from,
            to,
            &[SpanKind::Server],
            Some(Duration::from_secs(120)),
        )
        .unwrap();
    let infos: Vec<_> = spans
        .iter()
        .map(|s| {
            tracelite::analysis::SpanInfo::new(
                s.span_context.trace_id(),
                s.span_context.span_id(),
                s.parent_span_id,
                "api",
                s.name.to_string(),
                s.kind,
                tracelite::trace::clock::unix_nanos(s.start_time),
                tracelite::trace::clock::unix_nanos(s.end_time),
            )
            .with_error(s.status.is_error())
        })
        .collect();
    let exact = red_metrics(&infos, &RedOptions::new(0, u64::MAX));
    for (r, e) in rolled
        .services
        .iter()
        .chain(&rolled.operations)
        .zip(exact.services.iter().chain(&exact.operations))
    {
        assert_eq!((&r.service, &r.operation), (&e.service, &e.operation));
        assert_eq!((r.count, r.errors), (e.count, e.errors));
        assert_eq!(r.durations.max, e.durations.max);
        for (a, b) in [
            (r.durations.p50, e.durations.p50),
            (r.durations.p90, e.durations.p90),
            (r.durations.p95, e.durations.p95),
            (r.durations.p99, e.durations.p99),
        ] {
            assert!(
                (a as f64 / b as f64 - 1.0).abs() <= RELATIVE_ERROR + 1e-9,
                "{a} vs {b}"
            );
        }
    }
    let series = &rolled.services[0].series;
    assert!(series.len() >= 3);
    assert_eq!(series.iter().map(|b| b.count).sum::<u64>(), 3000);
    // Other kinds are not counted unless asked.
    assert!(store
        .red_metrics(from, to, &[SpanKind::Client], None)
        .unwrap()
        .services
        .is_empty());
    assert!(store.red_metrics(to, from, &[], None).is_err());
}

#[test]
fn a_version_1_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    {
        let store = open(&dir);
        ten_traces(&store);
    }
    // Make it look like a file from before the rollups.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE red_minutes; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let store = open(&dir);
    assert_eq!(store.stats().unwrap().spans, 20, "nothing lost");
    ten_traces(&store);
    let now = SystemTime::now();
    let red = store
        .red_metrics(UNIX_EPOCH, now + Duration::from_secs(60), &[], None)
        .unwrap();
    assert_eq!(red.services[0].count, 20, "new spans are rolled up");
}
