//! A bare loop over the request of the `server_layer_in_process` bench (a
//! browser-like GET with a `traceparent`, through a `service_fn` hello world
//! and its body to the end), for counting the server layer's instructions
//! per request with callgrind — deterministic where wall-clock figures on a
//! shared VM are not (see BENCHMARKS.md).
//!
//! ```sh
//! cargo build --release --example layer_loop
//! valgrind --tool=callgrind target/release/examples/layer_loop noop 20000
//! # modes: plain (no layer) | noop (layer, no-op processor) | batch;
//! # span-noop | span-batch: the untraced request's span made by hand
//! # with the tracer alone (no layer, no request), the tracer's share;
//! # REQUEST=untraced: the bare GET of a client without tracing instead
//! # the layer's cost: (noop N) - (noop 0), less the same for plain, over N
//! ```
//!
//! It prints nanoseconds per request too, but those are only a rough check:
//! use `cargo bench --bench http -- server_layer_in_process` for timings.

use std::time::Instant;

use tower::Layer;
use tracelite::http::TraceLayer;
use tracelite::{AlwaysOn, BatchSpanProcessor, TracerProvider};

// The benchmarks' own no-op processor and exporter, and the bench's
// request, one definition each.
#[allow(dead_code)]
#[path = "../benches/common/shapes.rs"]
mod shapes;

#[path = "../benches/common/layer_request.rs"]
mod layer_request;

use layer_request::{ok, request, run, server_span_alone, untraced_request};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "noop".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let noop = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_processor(shapes::NoopProcessor)
        .build();
    let batch = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_processor(
            BatchSpanProcessor::builder(shapes::NoopExporter)
                .with_max_queue_size(65_536)
                .build(),
        )
        .build();
    let mut plain = tower::service_fn(ok);
    let mut with_noop = TraceLayer::server(noop.tracer("bench")).layer(tower::service_fn(ok));
    let mut with_batch = TraceLayer::server(batch.tracer("bench")).layer(tower::service_fn(ok));
    let untraced = match std::env::var("REQUEST").as_deref() {
        Err(_) | Ok("traced") => false,
        Ok("untraced") => true,
        Ok(other) => {
            eprintln!("unknown REQUEST {other:?}: traced | untraced");
            std::process::exit(2);
        }
    };
    if !matches!(
        mode.as_str(),
        "plain" | "noop" | "batch" | "span-noop" | "span-batch"
    ) {
        eprintln!("unknown mode {mode:?}: plain | noop | batch | span-noop | span-batch");
        std::process::exit(2);
    }
    let began = Instant::now();
    let make = if untraced { untraced_request } else { request };
    let (noop_tracer, batch_tracer) = (noop.tracer("bench"), batch.tracer("bench"));
    for _ in 0..n {
        match mode.as_str() {
            "plain" => run(&mut plain, make()),
            "noop" => run(&mut with_noop, make()),
            "batch" => run(&mut with_batch, make()),
            "span-noop" => server_span_alone(&noop_tracer),
            _ => server_span_alone(&batch_tracer),
        }
    }
    let per = began.elapsed().as_nanos() as f64 / n.max(1) as f64;
    println!("{mode}: {per:.0} ns a request");
}
