//! A bare loop over the request of the `server_layer_in_process` bench (a
//! browser-like GET with a `traceparent`, through a `service_fn` hello world
//! and its body to the end), for counting the server layer's instructions
//! per request with callgrind — deterministic where wall-clock figures on a
//! shared VM are not (see BENCHMARKS.md).
//!
//! ```sh
//! cargo build --release --example layer_loop
//! valgrind --tool=callgrind target/release/examples/layer_loop noop 20000
//! # modes: plain (no layer) | noop (layer, no-op processor) | batch
//! # the layer's cost: (noop N) - (noop 0), less the same for plain, over N
//! ```
//!
//! It prints nanoseconds per request too, but those are only a rough check:
//! use `cargo bench --bench http -- server_layer_in_process` for timings.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};
use tracelite::http::TraceLayer;
use tracelite::{AlwaysOn, BatchSpanProcessor, TracerProvider};

// The benchmarks' own no-op processor and exporter, one definition.
#[allow(dead_code)]
#[path = "../benches/common/shapes.rs"]
mod shapes;

async fn ok(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello, world",
    ))))
}

/// The bench's request.
fn request() -> Request<Full<Bytes>> {
    let mut req = Request::get("http://api.example.com/users/42?page=2")
        .header("host", "api.example.com")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
        )
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, deflate, br")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    *req.version_mut() = http::Version::HTTP_11;
    req
}

/// Calls the service and polls the response and its body to the end; out
/// of line so callgrind attributes the request's cost in one place.
#[inline(never)]
fn run<S, B>(service: &mut S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let fut = pin!(service.call(request()));
    let Poll::Ready(Ok(response)) = fut.poll(&mut cx) else {
        panic!("the service is ready at once");
    };
    let mut body = pin!(response.into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        std::hint::black_box(frame.ok());
    }
}

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
    let began = Instant::now();
    for _ in 0..n {
        match mode.as_str() {
            "plain" => run(&mut plain),
            "noop" => run(&mut with_noop),
            "batch" => run(&mut with_batch),
            other => {
                eprintln!("unknown mode {other:?}: plain | noop | batch");
                std::process::exit(2);
            }
        }
    }
    let per = began.elapsed().as_nanos() as f64 / n.max(1) as f64;
    println!("{mode}: {per:.0} ns a request");
}
