//! Propagation end to end and under arbitrary input: no header can make
//! extraction panic, and every valid context survives inject → extract.

use std::collections::HashMap;

use proptest::prelude::*;
use tracelite::propagation::{
    BaggagePropagator, Extractor, TextMapCompositePropagator, TextMapPropagator,
    TraceContextPropagator,
};
use tracelite::{
    Baggage, Context, InMemoryExporter, SimpleSpanProcessor, SpanContext, SpanId, TraceFlags,
    TraceId, TraceState, TracerProvider,
};

/// Headers as raw bytes, repeats allowed.
struct RawHeaders(Vec<(String, Vec<u8>)>);

impl Extractor for RawHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
    fn get_all(&self, key: &str, each: &mut dyn FnMut(&[u8])) {
        for (k, v) in &self.0 {
            if k.eq_ignore_ascii_case(key) {
                each(v);
            }
        }
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("traceparent".to_string()),
        Just("tracestate".to_string()),
        Just("baggage".to_string()),
        Just("TraceParent".to_string()),
    ]
}

/// Byte strings biased towards the shapes the parsers look at.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[0-9a-fA-F\\-=,; \t%@.]{0,120}".prop_map(String::into_bytes),
        "(00|cc|ff)-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[a-z]{0,5})?"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_headers_extract_without_panicking(
        headers in proptest::collection::vec((header_name(), header_value()), 0..6)
    ) {
        let carrier = RawHeaders(headers);
        let cx = TextMapCompositePropagator::default().extract(&carrier);
        // Whatever came in, what goes out is well formed.
        let mut out = HashMap::new();
        TextMapCompositePropagator::default().inject_context(&cx, &mut out);
        if let Some(tp) = out.get("traceparent") {
            prop_assert_eq!(tp.len(), 55);
            prop_assert!(tp.starts_with("00-"));
        }
        prop_assert!(cx.span_context().trace_state().len() <= 32);
        prop_assert!(cx.baggage().len() <= 180);
    }

    #[test]
    fn valid_contexts_round_trip(
        trace in 1u128..,
        span in 1u64..,
        flags in any::<u8>(),
        state in proptest::collection::btree_map("[a-z][a-z0-9_*/-]{0,20}", "[!-+\\--<>-~]{1,20}", 0..32),
        baggage in proptest::collection::btree_map("[A-Za-z0-9_.-]{1,20}", ".{0,30}", 0..10),
    ) {
        let trace_state = TraceState::from_members(state.clone()).unwrap();
        let span_context = SpanContext::new(
            TraceId::from_u128(trace),
            SpanId::from_u64(span),
            TraceFlags::new(flags),
            false,
            trace_state.clone(),
        );
        let bag: Baggage = baggage.clone().into_iter().collect();
        let cx = Context::from_span_context(span_context).with_baggage(bag.clone());

        let propagator = TextMapCompositePropagator::default();
        let mut carrier: HashMap<String, String> = HashMap::new();
        propagator.inject_context(&cx, &mut carrier);
        let back = propagator.extract(&carrier);

        prop_assert_eq!(back.span_context().trace_id(), TraceId::from_u128(trace));
        prop_assert_eq!(back.span_context().span_id(), SpanId::from_u64(span));
        // Sampled and random travel; reserved bits are sent as zero.
        prop_assert_eq!(back.span_context().trace_flags().bits(), flags & 0x03);
        prop_assert!(back.span_context().is_remote());
        prop_assert_eq!(back.span_context().trace_state(), &trace_state);
        prop_assert_eq!(back.baggage(), &bag);
    }
}

fn provider() -> (TracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    (provider, exporter)
}

/// What one service sends to the next: a client span injected into headers,
/// a server span extracted from them.
#[test]
fn two_services_share_one_trace_through_headers() {
    let (a, a_spans) = provider();
    let (b, b_spans) = provider();
    let propagator = TextMapCompositePropagator::default();

    let mut headers = HashMap::new();
    {
        let client = a.tracer("a").start("GET /users");
        let mut bag = Baggage::new();
        bag.insert("tenant", "acme").unwrap();
        let cx = client.context().with_baggage(bag);
        propagator.inject_context(&cx, &mut headers);
    }

    let incoming = propagator.extract(&headers);
    let server = b
        .tracer("b")
        .span("handle")
        .parent(incoming.clone())
        .start();
    assert_eq!(server.context().baggage().get("tenant"), Some("acme"));
    drop(server);

    let client = &a_spans.finished_spans()[0];
    let server = &b_spans.finished_spans()[0];
    assert_eq!(
        server.span_context.trace_id(),
        client.span_context.trace_id()
    );
    assert_eq!(server.parent_span_id, client.span_context.span_id());
    assert!(server.parent_is_remote);
}

/// An unsampled caller: the default parent-based sampler follows it; the
/// span records nothing, but its context still propagates downstream.
#[test]
fn unsampled_parent_yields_unsampled_spans_that_propagate() {
    let (provider, exporter) = provider();
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_string(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_string(),
    );
    headers.insert("tracestate".to_string(), "congo=t61rcWkgMzE".to_string());
    let incoming = TraceContextPropagator::new().extract(&headers);
    let server = provider
        .tracer("svc")
        .span("handle")
        .parent(incoming)
        .start();
    assert!(!server.is_recording());
    let _active = server.enter();
    let child = provider.tracer("svc").start("child");
    assert!(!child.is_recording());

    let mut out = HashMap::new();
    TraceContextPropagator::new().inject_context(&child.context(), &mut out);
    let tp = &out["traceparent"];
    assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(tp.ends_with("-00"));
    assert!(
        !tp.contains("00f067aa0ba902b7"),
        "the child's own id is the parent now"
    );
    assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
    drop(child);
    drop(_active);
    drop(server);
    assert!(exporter.finished_spans().is_empty());
}

/// The service changes its own tracestate entry: it moves to the front.
#[test]
fn own_tracestate_entry_moves_to_the_front() {
    let mut headers = HashMap::new();
    headers.insert(
        "traceparent".to_string(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
    );
    headers.insert(
        "tracestate".to_string(),
        "congo=1,ours=old,rojo=2".to_string(),
    );
    let incoming = TraceContextPropagator::new().extract(&headers);
    let updated = incoming
        .span_context()
        .trace_state()
        .insert("ours", "new")
        .unwrap();
    let cx = incoming
        .clone()
        .with_span_context(incoming.span_context().clone().with_trace_state(updated));
    let mut out = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut out);
    assert_eq!(out["tracestate"], "ours=new,congo=1,rojo=2");
}

#[test]
fn baggage_alone_propagates_without_a_trace() {
    let mut headers = HashMap::new();
    headers.insert("baggage".to_string(), "k=v".to_string());
    let cx = BaggagePropagator::new().extract(&headers);
    assert!(!cx.has_active_span());
    assert_eq!(cx.baggage().get("k"), Some("v"));
}
