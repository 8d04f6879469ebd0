//! The span shapes measured by `benches/span.rs` and, beside
//! `opentelemetry_sdk`, by `benches/peers`. One definition, so both measure
//! exactly the same work.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use tracelite::{
    AlwaysOff, AlwaysOn, ExportError, FutureExt, SpanData, SpanLimits, SpanProcessor, Tracer,
    TracerProvider,
};

/// A processor that drops every span: the cost of the pipeline itself.
pub struct NoopProcessor;

impl SpanProcessor for NoopProcessor {
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> Result<(), ExportError> {
        Ok(())
    }
    fn shutdown(&self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// A provider with fixed limits (the environment cannot change the run).
pub fn provider(sampled: bool, with_noop_processor: bool) -> TracerProvider {
    let mut builder = TracerProvider::builder().with_span_limits(SpanLimits::default());
    builder = if sampled {
        builder.with_sampler(AlwaysOn)
    } else {
        builder.with_sampler(AlwaysOff)
    };
    if with_noop_processor {
        builder = builder.with_processor(NoopProcessor);
    }
    builder.build()
}

/// Start, four attributes of the HTTP kind, end.
#[inline]
pub fn span_with_4_attributes(tracer: &Tracer) {
    let span = tracer.start("GET /users");
    span.set_attribute("http.request.method", "GET");
    span.set_attribute("http.response.status_code", 200);
    span.set_attribute("url.path", "/users");
    span.set_attribute("server.port", 8080);
    span.end();
}

/// A parent entered as the current context, and one child.
#[inline]
pub fn parent_and_child(tracer: &Tracer) {
    let parent = tracer.start("parent");
    let _active = parent.enter();
    tracer.start("child").end();
}

/// A ready future run inside a new span, polled once.
#[inline]
pub fn future_in_span(tracer: &Tracer) {
    let fut = pin!(async { black_box(1) }.in_span(tracer.start("future")));
    let mut cx = TaskContext::from_waker(Waker::noop());
    assert!(matches!(fut.poll(&mut cx), Poll::Ready(1)));
}
