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

/// An exporter that drops every batch: the cost of batching itself.
pub struct NoopExporter;

impl tracelite::SpanExporter for NoopExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

/// A sampled provider whose spans go through a batch processor to a no-op
/// exporter, with the default queue (2048) and batch size (512).
pub fn batch_provider() -> (TracerProvider, tracelite::BatchStats) {
    let processor = tracelite::BatchSpanProcessor::builder(NoopExporter)
        .with_max_queue_size(2048)
        .with_max_export_batch_size(512)
        .build();
    let stats = processor.stats();
    let provider = TracerProvider::builder()
        .with_span_limits(SpanLimits::default())
        .with_sampler(AlwaysOn)
        .with_processor(processor)
        .build();
    (provider, stats)
}

/// Runs `per_thread` iterations of `f` on each of `threads` threads at once
/// and returns the longest thread's time: the per-span cost seen by a
/// calling thread while the others run too.
pub fn on_threads(threads: usize, per_thread: u64, f: impl Fn() + Sync) -> std::time::Duration {
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let began = std::time::Instant::now();
                    for _ in 0..per_thread {
                        f();
                    }
                    began.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}
