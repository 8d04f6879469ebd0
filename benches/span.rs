//! The span hot path: start, attributes, end; unsampled spans; nesting;
//! futures. Figures and how to read them: BENCHMARKS.md.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "common/shapes.rs"]
mod shapes;

fn span(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    let sampled = shapes::provider(true, false);
    let tracer = sampled.tracer("bench");
    g.bench_function("sampled_4_attrs_no_processor", |b| {
        b.iter(|| shapes::span_with_4_attributes(&tracer))
    });

    let with_noop = shapes::provider(true, true);
    let tracer = with_noop.tracer("bench");
    g.bench_function("sampled_4_attrs_noop_processor", |b| {
        b.iter(|| shapes::span_with_4_attributes(&tracer))
    });
    g.bench_function("parent_and_child_noop_processor", |b| {
        b.iter(|| shapes::parent_and_child(&tracer))
    });
    g.bench_function("future_in_span_noop_processor", |b| {
        b.iter(|| shapes::future_in_span(&tracer))
    });

    let unsampled = shapes::provider(false, true);
    let tracer = unsampled.tracer("bench");
    g.bench_function("unsampled_4_attrs", |b| {
        b.iter(|| shapes::span_with_4_attributes(&tracer))
    });
    g.finish();
}

/// The whole hot path with the batch processor attached, measured on the
/// calling thread while the worker exports to a no-op exporter.
fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let (provider, stats) = shapes::batch_provider();
    let tracer = provider.tracer("bench");
    g.bench_function("sampled_4_attrs_1_thread", |b| {
        b.iter(|| shapes::span_with_4_attributes(&tracer))
    });
    g.bench_function("sampled_4_attrs_2_threads", |b| {
        b.iter_custom(|iters| {
            shapes::on_threads(2, iters, || shapes::span_with_4_attributes(&tracer))
        })
    });
    g.finish();
    provider.force_flush().ok();
    eprintln!("batch bench: {stats:?}");
}

#[inline(never)]
fn plain_fn(a: u64, label: &str) -> u64 {
    a + label.len() as u64
}

#[tracelite::trace]
#[inline(never)]
fn traced_fn(a: u64, label: &str) -> u64 {
    a + label.len() as u64
}

/// `#[trace]` with no global provider (none is ever installed in this
/// benchmark): the price of the check.
fn trace_macro(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_macro_no_provider");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("plain_fn", |b| {
        b.iter(|| plain_fn(std::hint::black_box(7), std::hint::black_box("label")))
    });
    g.bench_function("traced_fn", |b| {
        b.iter(|| traced_fn(std::hint::black_box(7), std::hint::black_box("label")))
    });
    g.finish();
}

criterion_group!(benches, span, batch, trace_macro);
criterion_main!(benches);
