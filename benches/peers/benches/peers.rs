//! TraceLite beside `opentelemetry_sdk`, the same span shapes in one run, so
//! BENCHMARKS.md can report ratios measured on the same machine at the same
//! time. Run with `cargo bench -p tracelite-peers-bench`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{
    FutureExt as _, Span as _, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider, SpanLimits};

#[path = "../../common/shapes.rs"]
mod shapes;

#[path = "common/otel_shapes.rs"]
mod otel_shapes;
use otel_shapes::{otel_provider, otel_span_with_4_attributes, OtelNoopExporter};

#[inline]
fn otel_parent_and_child(tracer: &SdkTracer) {
    let parent = tracer.start("parent");
    let cx = Context::current_with_span(parent);
    let _active = cx.clone().attach();
    let mut child = tracer.start("child");
    child.end();
}

#[inline]
fn otel_future_in_span(tracer: &SdkTracer) {
    let cx = Context::current_with_span(tracer.start("future"));
    let fut = pin!(async { black_box(1) }.with_context(cx));
    let mut task = TaskContext::from_waker(Waker::noop());
    assert!(matches!(fut.poll(&mut task), Poll::Ready(1)));
}

fn compare(c: &mut Criterion) {
    let shapes_list: [(&str, bool, bool); 5] = [
        ("sampled_4_attrs_no_processor", true, false),
        ("sampled_4_attrs_noop_processor", true, true),
        ("unsampled_4_attrs", false, true),
        ("parent_and_child_noop_processor", true, true),
        ("future_in_span_noop_processor", true, true),
    ];
    for (name, sampled, processor) in shapes_list {
        let mut g = c.benchmark_group(name);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));

        let tl = shapes::provider(sampled, processor);
        let tl_tracer = tl.tracer("bench");
        let ot = otel_provider(sampled, processor);
        let ot_tracer = ot.tracer("bench");
        match name {
            n if n.starts_with("parent_and_child") => {
                g.bench_function("tracelite", |b| {
                    b.iter(|| shapes::parent_and_child(&tl_tracer))
                });
                g.bench_function("opentelemetry", |b| {
                    b.iter(|| otel_parent_and_child(&ot_tracer))
                });
            }
            n if n.starts_with("future_in_span") => {
                g.bench_function("tracelite", |b| {
                    b.iter(|| shapes::future_in_span(&tl_tracer))
                });
                g.bench_function("opentelemetry", |b| {
                    b.iter(|| otel_future_in_span(&ot_tracer))
                });
            }
            _ => {
                g.bench_function("tracelite", |b| {
                    b.iter(|| shapes::span_with_4_attributes(&tl_tracer))
                });
                g.bench_function("opentelemetry", |b| {
                    b.iter(|| otel_span_with_4_attributes(&ot_tracer))
                });
            }
        }
        g.finish();
    }
}

/// W3C extract and inject of a traceparent and a 3-member tracestate, both
/// libraries on the same carrier type (`HashMap<String, String>`).
fn propagation(c: &mut Criterion) {
    use opentelemetry::propagation::TextMapPropagator as _;
    use std::collections::HashMap;
    use tracelite::propagation::TextMapPropagator as _;

    let mut incoming: HashMap<String, String> = HashMap::new();
    incoming.insert(
        "traceparent".into(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
    );
    incoming.insert(
        "tracestate".into(),
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,vendor=abc123".into(),
    );
    let tl = tracelite::propagation::TraceContextPropagator::new();
    let ot = opentelemetry_sdk::propagation::TraceContextPropagator::new();

    let mut g = c.benchmark_group("extract_traceparent_tracestate3");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("tracelite", |b| {
        b.iter(|| black_box(tl.extract(black_box(&incoming))))
    });
    g.bench_function("opentelemetry", |b| {
        b.iter(|| black_box(ot.extract(black_box(&incoming))))
    });
    g.finish();

    let tl_cx = tl.extract(&incoming);
    let ot_cx = ot.extract(&incoming);
    let mut out: HashMap<String, String> = HashMap::new();
    let mut g = c.benchmark_group("inject_traceparent_tracestate3");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("tracelite", |b| {
        b.iter(|| {
            tl.inject_context(black_box(&tl_cx), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("opentelemetry", |b| {
        b.iter(|| {
            ot.inject_context(black_box(&ot_cx), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

/// Start, 4 attributes, end and enqueue into each library's batch processor
/// (queue 2048, batches of 512, no-op exporter), from 1 and 2 threads.
fn batch(c: &mut Criterion) {
    use opentelemetry_sdk::trace::BatchSpanProcessor;
    let (tl, tl_stats) = shapes::batch_provider();
    let tl_tracer = tl.tracer("bench");
    let ot = SdkTracerProvider::builder()
        .with_span_limits(SpanLimits::default())
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(BatchSpanProcessor::builder(OtelNoopExporter).build())
        .build();
    let ot_tracer = ot.tracer("bench");
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("batch_sampled_4_attrs_{threads}_thread"));
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("tracelite", |b| {
            b.iter_custom(|iters| {
                shapes::on_threads(threads, iters, || {
                    shapes::span_with_4_attributes(&tl_tracer)
                })
            })
        });
        g.bench_function("opentelemetry", |b| {
            b.iter_custom(|iters| {
                shapes::on_threads(threads, iters, || otel_span_with_4_attributes(&ot_tracer))
            })
        });
        g.finish();
    }
    tl.force_flush().ok();
    eprintln!("tracelite batch: {tl_stats:?}");
}

criterion_group!(benches, compare, propagation, batch);
criterion_main!(benches);
