//! The global propagator as the HTTP layers use it: replaced at run time,
//! the replacement is what every thread extracts and injects with from its
//! next call on, even threads that used the old one before.

use std::sync::{Arc, Barrier};

use http::{HeaderMap, HeaderValue};
use tracelite::propagation::{
    extract_from_headers, inject_into_headers, set_text_map_propagator, Extractor, Injector,
    TextMapPropagator, TraceContextPropagator,
};
use tracelite::Context;

fn incoming() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "traceparent",
        HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    h.insert("baggage", HeaderValue::from_static("user=42"));
    h
}

fn has_baggage() -> bool {
    let cx = extract_from_headers(&incoming());
    assert!(cx.has_active_span());
    cx.baggage().get("user").is_some()
}

/// Replaces the global propagator from inside its own `extract`, then
/// extracts again with the new one: nested use of the global.
struct ReplacesItself;

impl TextMapPropagator for ReplacesItself {
    fn inject_context(&self, _: &Context, _: &mut dyn Injector) {}

    fn extract_with_context(&self, _: &Context, extractor: &dyn Extractor) -> Context {
        set_text_map_propagator(TraceContextPropagator::new());
        tracelite::propagation::extract(extractor)
    }

    fn fields(&self) -> &[&'static str] {
        &[]
    }
}

#[test]
fn a_replaced_propagator_is_used_from_the_next_call_on_every_thread() {
    // The default: trace context and baggage.
    assert!(has_baggage());
    let before = Arc::new(Barrier::new(2));
    let after = Arc::new(Barrier::new(2));
    let other = {
        let (before, after) = (before.clone(), after.clone());
        std::thread::spawn(move || {
            assert!(has_baggage(), "the other thread, before");
            before.wait();
            after.wait();
            assert!(!has_baggage(), "the other thread, after");
            let mut out = HeaderMap::new();
            inject_into_headers(&mut out);
            assert!(out.is_empty(), "no span here: nothing injected");
        })
    };
    before.wait();
    set_text_map_propagator(TraceContextPropagator::new());
    after.wait();
    assert!(!has_baggage(), "this thread, after");
    other.join().unwrap();

    // Nested: the propagator replaces itself while it runs.
    set_text_map_propagator(ReplacesItself);
    let cx = extract_from_headers(&incoming());
    assert!(cx.has_active_span(), "extracted by the replacement");
    assert!(cx.baggage().get("user").is_none());
    // And the replacement is in place for the next call.
    assert!(!has_baggage());
}
