//! The global provider: a no-op that still propagates until one is set.
//! (Its own test binary, because the global is set once per process.)

use tracelite::{global, Context, InMemoryExporter, SimpleSpanProcessor, TracerProvider};

#[test]
fn noop_until_set_then_records() {
    // Before: nothing recorded, but a parent's context passes through.
    let remote = tracelite::SpanContext::new(
        tracelite::TraceId::from_u128(42),
        tracelite::SpanId::from_u64(7),
        tracelite::TraceFlags::SAMPLED,
        true,
        tracelite::TraceState::default(),
    );
    let _guard = Context::from_span_context(remote.clone()).attach();
    let span = tracelite::tracer("lib").start("before");
    assert!(!span.is_recording());
    assert_eq!(span.span_context(), &remote);
    drop(span);
    drop(_guard);

    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    global::set_tracer_provider(provider).unwrap();
    let again = TracerProvider::builder().build();
    assert!(global::set_tracer_provider(again).is_err(), "set once");

    tracelite::tracer("lib").in_span("after", |span| assert!(span.is_recording()));
    assert_eq!(exporter.finished_spans().len(), 1);
    global::shutdown_tracer_provider();
    assert!(global::tracer_provider().is_shutdown());
    assert!(!tracelite::tracer("lib").start("late").is_recording());
}
