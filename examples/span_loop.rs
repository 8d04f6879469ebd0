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

use std::hint::black_box;
use std::time::Instant;

use tracelite::{
    AlwaysOff, AlwaysOn, BatchSpanProcessor, ExportError, SimpleSpanProcessor, SpanData,
    SpanExporter, SpanLimits, SpanProcessor, Tracer, TracerProvider,
};

/// Drops every finished span, like the peers bench's no-op processor.
struct DropAll;

impl SpanProcessor for DropAll {
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

/// Accepts every batch and does nothing with it.
struct Discard;

impl SpanExporter for Discard {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

#[inline(never)]
fn shape(tracer: &Tracer) {
    let span = tracer.start("GET /users");
    span.set_attribute("http.request.method", "GET");
    span.set_attribute("http.response.status_code", 200);
    span.set_attribute("url.path", "/users");
    span.set_attribute("server.port", 8080);
    span.end();
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
    let builder = TracerProvider::builder().with_span_limits(SpanLimits::default());
    let provider = match mode.as_str() {
        "none" => builder.with_sampler(AlwaysOn).build(),
        "noop" => builder
            .with_sampler(AlwaysOn)
            .with_processor(DropAll)
            .build(),
        "simple" => builder
            .with_sampler(AlwaysOn)
            .with_processor(SimpleSpanProcessor::new(Discard))
            .build(),
        "off" => builder
            .with_sampler(AlwaysOff)
            .with_processor(DropAll)
            .build(),
        "batch" => builder
            .with_sampler(AlwaysOn)
            .with_processor(BatchSpanProcessor::builder(Discard).build())
            .build(),
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
}
