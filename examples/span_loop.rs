//! A bare loop over the benchmarks' span shape (start, four attributes, end),
//! for counting instructions per span with callgrind — deterministic where
//! wall-clock figures on a shared VM are not (see BENCHMARKS.md).
//!
//! ```sh
//! cargo build --release --example span_loop
//! valgrind --tool=callgrind target/release/examples/span_loop none 20000
//! # modes: none | noop | simple | off | batch ; THREADS=2 runs two threads
//! ```
//!
//! It prints nanoseconds per span too, but those are only a rough check:
//! use `cargo bench` for timings.

use std::time::Instant;

use tracelite::{AlwaysOn, SimpleSpanProcessor, SpanLimits, Tracer, TracerProvider};

// The benchmarks' own shapes and no-op processor/exporter, one definition.
#[allow(dead_code)]
#[path = "../benches/common/shapes.rs"]
mod shapes;

/// The shape, out of line so callgrind attributes its cost in one place.
#[inline(never)]
fn shape(tracer: &Tracer) {
    shapes::span_with_4_attributes(tracer);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "none".into());
    let count: u64 = match args.next().map(|n| n.parse()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("span_loop: the count must be a whole number ({e})");
            std::process::exit(2);
        }
    };
    let mut stats = None;
    let provider = match mode.as_str() {
        "none" => shapes::provider(true, false),
        "noop" => shapes::provider(true, true),
        "off" => shapes::provider(false, true),
        "simple" => TracerProvider::builder()
            .with_span_limits(SpanLimits::default())
            .with_sampler(AlwaysOn)
            .with_processor(SimpleSpanProcessor::new(shapes::NoopExporter))
            .build(),
        "batch" => {
            let (provider, batch_stats) = shapes::batch_provider();
            stats = Some(batch_stats);
            provider
        }
        other => {
            eprintln!("span_loop: unknown mode {other:?} (none, noop, simple, off, batch)");
            std::process::exit(2);
        }
    };
    let tracer = provider.tracer("bench");
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1)
        .max(1);
    for _ in 0..1000 {
        shape(&tracer);
    }
    let began = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tracer = tracer.clone();
            s.spawn(move || {
                for _ in 0..count {
                    shape(&tracer);
                }
            });
        }
    });
    let per_span = began.elapsed().as_nanos() as f64 / count as f64;
    eprintln!("{mode} ×{threads} threads: {per_span:.1} ns a span (wall time per thread)");
    if let Some(stats) = stats {
        // Spans refused by a full queue cost the caller less than queued
        // ones: a figure with many of them is not the queued path's.
        eprintln!(
            "batch: {} queued, {} dropped (queue full)",
            stats.queued(),
            stats.dropped()
        );
    }
}
