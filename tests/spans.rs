//! Span behaviour seen through the in-memory exporter: parenting, end-once,
//! limits, status rules, events, links, processors and shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracelite::{
    AlwaysOff, Context, ExportError, InMemoryExporter, KeyValue, Link, Resource, Sampler,
    SamplingDecision, SamplingParameters, SamplingResult, SimpleSpanProcessor, Span, SpanData,
    SpanId, SpanKind, SpanLimits, SpanProcessor, Status, TraceState, TracerProvider, Value,
};

fn setup() -> (TracerProvider, InMemoryExporter) {
    setup_with(|b| b)
}

fn setup_with(
    f: impl FnOnce(tracelite::TracerProviderBuilder) -> tracelite::TracerProviderBuilder,
) -> (TracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let builder = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "test-svc")]))
        .with_span_limits(SpanLimits::default())
        .with_processor(SimpleSpanProcessor::new(exporter.clone()));
    (f(builder).build(), exporter)
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span named {name}"))
}

#[test]
fn children_follow_the_current_span() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("t");
    let root = tracer.span("root").kind(SpanKind::Server).start();
    {
        let _active = root.enter();
        let child = tracer.start("child");
        {
            let _c = child.enter();
            tracer.start("grandchild").end();
        }
        child.end();
        // Explicit root ignores the current context.
        tracer.span("other-trace").root().start().end();
    }
    tracer.start("after").end();
    root.end();

    let spans = exporter.finished_spans();
    let root = by_name(&spans, "root");
    let child = by_name(&spans, "child");
    let grandchild = by_name(&spans, "grandchild");
    let other = by_name(&spans, "other-trace");
    let after = by_name(&spans, "after");

    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_eq!(root.kind, SpanKind::Server);
    assert!(root.is_local_root());
    assert_eq!(child.parent_span_id, root.span_context.span_id());
    assert_eq!(grandchild.parent_span_id, child.span_context.span_id());
    let trace = root.span_context.trace_id();
    assert!(trace.is_valid());
    assert_eq!(child.span_context.trace_id(), trace);
    assert_eq!(grandchild.span_context.trace_id(), trace);
    assert_ne!(other.span_context.trace_id(), trace);
    assert_eq!(other.parent_span_id, SpanId::INVALID);
    // Once the guard is gone, new spans are roots again.
    assert_eq!(after.parent_span_id, SpanId::INVALID);
    assert_ne!(after.span_context.trace_id(), trace);

    assert!(root.span_context.is_sampled());
    assert!(root.span_context.trace_flags().is_random());
    assert_eq!(root.resource().service_name(), "test-svc");
    assert_eq!(root.scope().name(), "t");
}

#[test]
fn explicit_parent_and_remote_parent() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("t");
    let remote = tracelite::SpanContext::new(
        tracelite::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        tracelite::TraceFlags::new(0x01 | 0x80), // unknown bit 0x80 is carried
        true,
        TraceState::from_members([("congo", "t61rcWkgMzE")]).unwrap(),
    );
    let server = tracer
        .span("server")
        .parent(Context::from_span_context(remote.clone()))
        .start();
    let sibling = tracer.span("sibling").parent(&server).start();
    assert_eq!(
        sibling.span_context().trace_state().get("congo"),
        Some("t61rcWkgMzE")
    );
    drop(sibling);
    drop(server);

    let spans = exporter.finished_spans();
    let server = by_name(&spans, "server");
    assert_eq!(server.span_context.trace_id(), remote.trace_id());
    assert_eq!(server.parent_span_id, remote.span_id());
    assert!(server.parent_is_remote);
    assert!(server.is_local_root());
    assert!(!server.span_context.is_remote());
    assert_eq!(server.span_context.trace_flags().bits(), 0x81);
    // The random flag is not invented for a remote trace id.
    assert!(!server.span_context.trace_flags().is_random());
    let sibling = by_name(&spans, "sibling");
    assert_eq!(sibling.parent_span_id, server.span_context.span_id());
    assert!(!sibling.parent_is_remote);
}

#[test]
fn a_span_ends_exactly_once() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("t");
    let span = tracer.start("once");
    span.end();
    span.end();
    span.set_attribute("after.end", true); // ignored
    assert!(!span.is_recording());
    drop(span);
    let dropped = tracer.start("on-drop");
    drop(dropped);
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].name, "once");
    assert!(spans[0].attribute("after.end").is_none());
    assert_eq!(spans[1].name, "on-drop");
}

#[test]
fn timestamps_come_from_the_clock_or_the_caller() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("t");
    let before = SystemTime::now();
    let span = tracer.start("timed");
    std::thread::sleep(Duration::from_millis(20));
    span.end();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let fixed = tracer.span("fixed").start_time(t0).start();
    fixed.add_event_with_timestamp("mid", t0 + Duration::from_millis(5), Vec::<KeyValue>::new());
    fixed.end_with_timestamp(t0 + Duration::from_millis(10));
    // An end before the start is clamped to the start.
    let backwards = tracer.span("backwards").start_time(t0).start();
    backwards.end_with_timestamp(t0 - Duration::from_secs(1));

    let spans = exporter.finished_spans();
    let timed = by_name(&spans, "timed");
    assert!(timed.duration() >= Duration::from_millis(20));
    let skew = timed
        .start_time
        .duration_since(before)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_millis(50),
        "start {skew:?} away from now"
    );
    let fixed = by_name(&spans, "fixed");
    assert_eq!(fixed.start_time, t0);
    assert_eq!(fixed.duration(), Duration::from_millis(10));
    assert_eq!(fixed.events[0].timestamp, t0 + Duration::from_millis(5));
    assert_eq!(by_name(&spans, "backwards").duration(), Duration::ZERO);
}

#[test]
fn attributes_of_every_type_and_overwrites() {
    let (provider, exporter) = setup();
    let span = provider.tracer("t").start("attrs");
    span.set_attribute("s", "static");
    span.set_attribute("owned", String::from("owned"));
    span.set_attribute("b", true);
    span.set_attribute("i", -7);
    span.set_attribute("f", 2.5);
    span.set_attribute("arr", vec![1i64, 2, 3]);
    span.set_attribute("i", 8); // overwrite keeps one entry
    span.set_attributes([KeyValue::new("x", 1), KeyValue::new("y", "z")]);
    span.end();
    let data = &exporter.finished_spans()[0];
    assert_eq!(data.attributes.len(), 8);
    assert_eq!(data.attribute("i"), Some(&Value::I64(8)));
    assert_eq!(
        data.attribute("owned").and_then(Value::as_str),
        Some("owned")
    );
    assert_eq!(
        data.attribute("arr").map(|v| v.to_string()).as_deref(),
        Some("[1,2,3]")
    );
    assert_eq!(data.dropped_attributes_count, 0);
}

#[test]
fn limits_hold_and_count_what_they_drop() {
    let limits = SpanLimits {
        max_attributes: 3,
        max_events: 2,
        max_links: 1,
        max_attributes_per_event: 1,
        max_attributes_per_link: 2,
        max_attribute_value_length: Some(5),
    };
    let (provider, exporter) = setup_with(|b| b.with_span_limits(limits));
    let tracer = provider.tracer("t");
    let span = tracer
        .span("limited")
        .attributes((0..4).map(|i| KeyValue::new(format!("start{i}"), i)))
        .link(Link::new(
            tracelite::SpanContext::empty(),
            [("a", 1), ("b", 2), ("c", 3)],
        ))
        .link(Link::new(tracelite::SpanContext::empty(), [("a", 1)]))
        .start();
    span.set_attribute("start0", "overwrite is not a drop");
    span.set_attribute("new", 1);
    for i in 0..3 {
        span.add_event(format!("e{i}"), [("k1", 1), ("k2", 2)]);
    }
    span.add_link(tracelite::SpanContext::empty(), [("x", 1)]);
    span.end();

    let d = &exporter.finished_spans()[0];
    assert_eq!(d.attributes.len(), 3);
    // 4 given at start (1 over), then "new" is over too.
    assert_eq!(d.dropped_attributes_count, 2);
    assert_eq!(d.attribute("start0").and_then(Value::as_str), Some("overw"));
    assert_eq!(d.events.len(), 2);
    assert_eq!(d.dropped_events_count, 1);
    assert_eq!(d.events[0].attributes.len(), 1);
    assert_eq!(d.events[0].dropped_attributes_count, 1);
    assert_eq!(d.links.len(), 1);
    assert_eq!(d.dropped_links_count, 2);
    assert_eq!(d.links[0].attributes.len(), 2);
    assert_eq!(d.links[0].dropped_attributes_count, 1);
}

#[test]
fn thousands_of_attributes_and_huge_values_stay_bounded() {
    let limits = SpanLimits {
        max_attribute_value_length: Some(1024),
        ..SpanLimits::default()
    };
    let (provider, exporter) = setup_with(|b| b.with_span_limits(limits));
    let span = provider.tracer("t").start("hostile");
    for i in 0..5000 {
        span.set_attribute(format!("k{i}"), "v".repeat(10_000));
    }
    span.end();
    let d = &exporter.finished_spans()[0];
    assert_eq!(d.attributes.len(), 128);
    assert_eq!(d.dropped_attributes_count, 5000 - 128);
    assert!(d
        .attributes
        .iter()
        .all(|kv| kv.value.as_str().map(str::len) == Some(1024)));
}

#[test]
fn status_rules() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("t");
    let a = tracer.start("error-then-ok");
    a.set_status(Status::error("first"));
    a.set_status(Status::error("second"));
    a.set_status(Status::Unset); // ignored
    a.set_status(Status::Ok);
    a.set_status(Status::error("ignored"));
    a.end();
    let b = tracer.start("error");
    b.set_status(Status::error("boom"));
    b.set_status(Status::Unset);
    b.end();
    let spans = exporter.finished_spans();
    assert_eq!(by_name(&spans, "error-then-ok").status, Status::Ok);
    assert_eq!(by_name(&spans, "error").status, Status::error("boom"));
}

#[test]
fn record_error_adds_an_exception_event() {
    let (provider, exporter) = setup();
    let span = provider.tracer("t").start("parse");
    let err = "x".parse::<u8>().unwrap_err();
    span.record_error(&err);
    span.update_name("parse config");
    span.end();
    let d = &exporter.finished_spans()[0];
    assert_eq!(d.name, "parse config");
    assert_eq!(d.events.len(), 1);
    let ev = &d.events[0];
    assert_eq!(ev.name, "exception");
    let ty = tracelite_attr(&ev.attributes, "exception.type");
    assert!(ty.contains("ParseIntError"), "{ty}");
    assert_eq!(
        tracelite_attr(&ev.attributes, "exception.message"),
        err.to_string()
    );
    assert_eq!(d.status, Status::error(err.to_string()));
}

fn tracelite_attr(attrs: &[KeyValue], key: &str) -> String {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
        .unwrap_or_default()
}

#[test]
fn unsampled_spans_carry_a_context_and_record_nothing() {
    let (provider, exporter) = setup_with(|b| b.with_sampler(AlwaysOff));
    let tracer = provider.tracer("t");
    let root = tracer.start("dropped");
    assert!(!root.is_recording());
    assert!(root.span_context().is_valid());
    assert!(!root.span_context().is_sampled());
    let _active = root.enter();
    let child = tracer.start("child");
    assert_eq!(
        child.span_context().trace_id(),
        root.span_context().trace_id()
    );
    assert_ne!(
        child.span_context().span_id(),
        root.span_context().span_id()
    );
    child.set_attribute("ignored", 1);
    drop(child);
    drop(_active);
    drop(root);
    assert!(exporter.finished_spans().is_empty());
}

/// Records everything, samples nothing: processors see the span, exporters
/// behind the simple processor do not.
struct RecordOnly;

impl Sampler for RecordOnly {
    fn should_sample(&self, p: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult {
            decision: SamplingDecision::RecordOnly,
            attributes: vec![KeyValue::new("sampler.name", p.name.to_string())],
            trace_state: Some(TraceState::from_members([("ours", "1")]).unwrap()),
        }
    }
    fn description(&self) -> String {
        "RecordOnly".into()
    }
}

#[derive(Default, Clone)]
struct Recorder {
    started: Arc<AtomicUsize>,
    ended: Arc<std::sync::Mutex<Vec<SpanData>>>,
    flushed: Arc<AtomicUsize>,
    shutdowns: Arc<AtomicUsize>,
}

impl SpanProcessor for Recorder {
    fn on_start(&self, span: &Span, _parent: &Context) {
        self.started.fetch_add(1, Ordering::SeqCst);
        span.set_attribute("added.on_start", true);
    }
    fn on_end(&self, span: SpanData) {
        self.ended.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> Result<(), ExportError> {
        self.flushed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn shutdown(&self) -> Result<(), ExportError> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn record_only_reaches_processors_but_not_exporters() {
    let recorder = Recorder::default();
    let (provider, exporter) =
        setup_with(|b| b.with_sampler(RecordOnly).with_processor(recorder.clone()));
    let span = provider.tracer("t").start("recorded");
    assert!(span.is_recording());
    assert!(!span.span_context().is_sampled());
    assert_eq!(span.span_context().trace_state().get("ours"), Some("1"));
    span.end();
    assert!(exporter.finished_spans().is_empty());
    let ended = recorder.ended.lock().unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(
        ended[0].attribute("sampler.name").and_then(Value::as_str),
        Some("recorded")
    );
    assert_eq!(
        ended[0].attribute("added.on_start"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn every_processor_sees_every_span() {
    let first = Recorder::default();
    let second = Recorder::default();
    let provider = TracerProvider::builder()
        .with_processor(first.clone())
        .with_processor(second.clone())
        .build();
    let tracer = provider.tracer("t");
    for i in 0..5 {
        tracer.start(format!("s{i}")).end();
    }
    assert_eq!(first.ended.lock().unwrap().len(), 5);
    assert_eq!(second.ended.lock().unwrap().len(), 5);
    assert_eq!(first.started.load(Ordering::SeqCst), 5);
    provider.force_flush().unwrap();
    assert_eq!(second.flushed.load(Ordering::SeqCst), 1);
}

#[test]
fn shutdown_is_idempotent_and_stops_recording() {
    let recorder = Recorder::default();
    let provider = TracerProvider::builder()
        .with_processor(recorder.clone())
        .build();
    let tracer = provider.tracer("t");
    let open = tracer.start("open-at-shutdown");
    provider.shutdown().unwrap();
    assert_eq!(provider.shutdown(), Err(ExportError::AlreadyShutdown));
    assert_eq!(recorder.shutdowns.load(Ordering::SeqCst), 1);
    assert!(provider.is_shutdown());
    let late = tracer.start("late");
    assert!(!late.is_recording());
    drop(late);
    drop(open);
    assert!(recorder.ended.lock().unwrap().is_empty());
}

#[test]
fn dropping_the_last_handle_shuts_down() {
    let recorder = Recorder::default();
    let provider = TracerProvider::builder()
        .with_processor(recorder.clone())
        .build();
    let tracer = provider.tracer("t");
    drop(provider);
    // The tracer still holds the pipeline open.
    tracer.start("still works").end();
    assert_eq!(recorder.shutdowns.load(Ordering::SeqCst), 0);
    let clone = tracer.clone();
    drop(tracer);
    assert_eq!(
        recorder.shutdowns.load(Ordering::SeqCst),
        0,
        "a clone is a handle"
    );
    let span = clone.start("open span");
    drop(clone);
    // The last handle is gone: the pipeline shut down and flushed. A span
    // still open then is not exported (records never keep a provider up).
    assert_eq!(recorder.shutdowns.load(Ordering::SeqCst), 1);
    drop(span);
    assert_eq!(recorder.ended.lock().unwrap().len(), 1);
}

#[test]
fn queued_records_do_not_keep_the_provider_up() {
    let recorder = Recorder::default();
    let provider = TracerProvider::builder()
        .with_processor(recorder.clone())
        .build();
    provider.tracer("t").start("kept").end();
    // The recorder holds a SpanData; dropping the provider still shuts down.
    drop(provider);
    assert_eq!(recorder.shutdowns.load(Ordering::SeqCst), 1);
    let ended = recorder.ended.lock().unwrap();
    let sdk = ended[0].resource().get("telemetry.sdk.name");
    assert_eq!(sdk.and_then(|v| v.as_str()), Some("tracelite"));
    assert_eq!(ended[0].scope().name(), "t");
}

#[test]
fn in_span_returns_the_closure_value_and_nests() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("t");
    let out = tracer.in_span("outer", |outer| {
        outer.set_attribute("level", 1);
        tracer.in_span("inner", |_| 41) + 1
    });
    assert_eq!(out, 42);
    let spans = exporter.finished_spans();
    assert_eq!(spans[0].name, "inner");
    assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
    assert!(!Context::current().has_active_span());
}

#[test]
fn debug_output_shows_the_sampler() {
    let provider = TracerProvider::builder().with_sampler(RecordOnly).build();
    let text = format!("{provider:?}");
    assert!(text.contains("RecordOnly"), "{text}");
}

/// Recording state is reused between spans of a thread: nothing of one span
/// may show in the next, whichever provider (and limits) each comes from.
#[test]
fn nothing_of_a_finished_span_leaks_into_the_next() {
    let (strict, strict_out) = setup_with(|b| {
        b.with_span_limits(SpanLimits {
            max_attributes: 2,
            max_events: 1,
            max_links: 1,
            ..SpanLimits::default()
        })
    });
    let (plain, plain_out) = setup();
    let link = Link::new(
        tracelite::SpanContext::new(
            tracelite::TraceId::from_u128(7),
            SpanId::from_u64(7),
            tracelite::TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ),
        [("l", 1)],
    );
    for round in 0..3 {
        let busy = strict
            .tracer("busy")
            .span(format!("busy-{round}"))
            .kind(SpanKind::Client)
            .link(link.clone())
            .start();
        for i in 0..5 {
            busy.set_attribute(format!("k{i}"), i);
        }
        busy.add_event("e1", [("a", 1)]);
        busy.add_event("e2", [("a", 2)]);
        busy.add_link(link.span_context.clone(), [("x", 1)]);
        busy.set_status(Status::error("boom"));
        drop(busy);

        // Off-provider span in between: ended with no processor at all.
        TracerProvider::builder()
            .build()
            .tracer("none")
            .start("idle")
            .set_attribute("idle", true);

        let quiet = plain.tracer("quiet").start(format!("quiet-{round}"));
        for i in 0..5 {
            quiet.set_attribute(format!("q{i}"), i);
        }
        drop(quiet);
    }
    let busy = strict_out.finished_spans();
    let quiet = plain_out.finished_spans();
    assert_eq!((busy.len(), quiet.len()), (3, 3));
    for (round, (b, q)) in busy.iter().zip(&quiet).enumerate() {
        assert_eq!(b.name, format!("busy-{round}"));
        assert_eq!(b.attributes.len(), 2);
        assert_eq!(b.dropped_attributes_count, 3);
        assert_eq!((b.events.len(), b.dropped_events_count), (1, 1));
        assert_eq!((b.links.len(), b.dropped_links_count), (1, 1));
        assert!(b.status.is_error());
        assert_eq!(b.kind, SpanKind::Client);
        assert_eq!(b.scope().name(), "busy");

        assert_eq!(q.name, format!("quiet-{round}"));
        let keys: Vec<&str> = q.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            ["q0", "q1", "q2", "q3", "q4"],
            "the plain provider's own limits"
        );
        assert_eq!(q.dropped_attributes_count, 0);
        assert!(q.events.is_empty() && q.links.is_empty());
        assert_eq!((q.dropped_events_count, q.dropped_links_count), (0, 0));
        assert_eq!(q.status, Status::Unset);
        assert_eq!(q.kind, SpanKind::Internal);
        assert_eq!(q.scope().name(), "quiet");
        assert!(q.end_time >= q.start_time);
    }
}

/// Each thread starts spans with its own copy of a tracer's origin: the
/// records still carry the tracer's resource and scope, whichever thread
/// made them, and a copy does not outlive its provider for long: the next
/// lookup on the thread lets copies of gone tracers go.
#[test]
fn spans_from_any_thread_carry_their_tracers_origin() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("multi");
    std::thread::scope(|s| {
        for t in 0..3 {
            let tracer = tracer.clone();
            s.spawn(move || {
                for i in 0..5 {
                    tracer.start(format!("t{t}-{i}")).end();
                }
            });
        }
    });
    let other = provider.tracer("other");
    other.start("other").end();
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 16);
    for span in &spans {
        let expected = if span.name == "other" {
            "other"
        } else {
            "multi"
        };
        assert_eq!(span.scope().name(), expected, "{}", span.name);
        assert_eq!(span.resource().service_name(), "test-svc");
    }

    // A processor that notes when it is dropped (with its provider).
    struct Noted(Arc<AtomicUsize>);
    impl SpanProcessor for Noted {
        fn on_end(&self, _: SpanData) {}
        fn force_flush(&self) -> Result<(), ExportError> {
            Ok(())
        }
        fn shutdown(&self) -> Result<(), ExportError> {
            Ok(())
        }
    }
    impl Drop for Noted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let on_thread = dropped.clone();
    std::thread::spawn(move || {
        let gone = TracerProvider::builder()
            .with_processor(Noted(on_thread.clone()))
            .build();
        {
            // Three spans open at once: three recording boxes go back to the
            // thread's pool, each keeping the gone tracer's origin.
            let tracer = gone.tracer("gone");
            let a = tracer.start("a");
            let _a = a.enter();
            let b = tracer.start("b");
            let _b = b.enter();
            tracer.start("c").end();
        }
        drop(gone);
        assert_eq!(on_thread.load(Ordering::SeqCst), 0, "still held here");
        // Another tracer's first span on this thread lets the copies go,
        // the pooled boxes' included.
        let (next, _) = setup();
        next.tracer("next").start("b").end();
        assert_eq!(
            on_thread.load(Ordering::SeqCst),
            1,
            "the gone provider was dropped"
        );
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
