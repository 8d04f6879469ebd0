//! What the server layer costs a hyper service: a hello-world hyper 1.x
//! server on 127.0.0.1:0, without the layer and with it (no-op processor;
//! batch processor with a no-op exporter), driven in-process over loopback
//! by a bounded client loop (4 keep-alive connections, requests in flight
//! on each).
//!
//! `cargo bench --bench http`

#[path = "common/shapes.rs"]
#[allow(dead_code)]
mod shapes;

#[path = "common/layer_request.rs"]
mod layer_request;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::Layer;
use tracelite::http::TraceLayer;
use tracelite::{AlwaysOn, BatchSpanProcessor, TracerProvider};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

use shapes::{NoopExporter, NoopProcessor};

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello, world",
    ))))
}

/// The two traced configurations: a no-op processor, and a batch processor
/// (queue large enough not to drop) with a no-op exporter.
fn providers() -> (TracerProvider, TracerProvider) {
    let noop = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_processor(NoopProcessor)
        .build();
    let batch = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_processor(
            BatchSpanProcessor::builder(NoopExporter)
                .with_max_queue_size(65_536)
                .build(),
        )
        .build();
    (noop, batch)
}

/// Serves `service` on 127.0.0.1:0 (HTTP/1.1) on the current runtime.
async fn serve<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Sends `n` GETs over `connections` concurrent keep-alive connections and
/// returns the elapsed time.
async fn drive(client: &HttpClient, addr: SocketAddr, n: u64, connections: u64) -> Duration {
    let url: http::Uri = format!("http://{addr}/hello").parse().unwrap();
    let began = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = client.clone();
        let url = url.clone();
        let share = n / connections + u64::from(c < n % connections);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let resp = client.get(url.clone()).await.unwrap();
                let body = resp.into_body().collect().await.unwrap();
                std::hint::black_box(body);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    began.elapsed()
}

fn server_layer(c: &mut Criterion) {
    // The servers run on a single-threaded runtime of their own thread, the
    // client on another: each side gets one core, as in a real deployment
    // where the load comes from elsewhere, and runs are repeatable.
    let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
    let server = std::thread::Builder::new().name("bench-server".into());
    server
        .spawn(move || {
            // This thread's id, so the bench can read its CPU time.
            let tid: u64 = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                .unwrap_or(0);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (noop_provider, batch_provider) = providers();
                let plain = serve(tower::service_fn(hello)).await;
                let noop = serve(
                    TraceLayer::server(noop_provider.tracer("bench"))
                        .layer(tower::service_fn(hello)),
                )
                .await;
                let batch = serve(
                    TraceLayer::server(batch_provider.tracer("bench"))
                        .layer(tower::service_fn(hello)),
                )
                .await;
                addrs_tx.send((plain, noop, batch, tid)).unwrap();
                std::future::pending::<()>().await;
            });
        })
        .unwrap();
    let (plain, noop, batch, tid) = addrs_rx.recv().unwrap();
    // Nanoseconds the server thread has run (Linux schedstat).
    let server_cpu = move || -> Duration {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .map(Duration::from_nanos)
            .unwrap_or_default()
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // One client (and its keep-alive connections) for the whole run.
    let client: HttpClient = {
        let _rt = rt.enter();
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(8)
            .build_http()
    };
    // Warm the connections and the servers before measuring.
    for addr in [plain, noop, batch] {
        rt.block_on(drive(&client, addr, 20_000, 4));
    }
    let mut g = c.benchmark_group("hyper_hello_world");
    g.throughput(Throughput::Elements(1));
    g.sample_size(40);
    g.measurement_time(Duration::from_secs(8));
    for (name, addr) in [
        ("without_layer", plain),
        ("layer_noop_processor", noop),
        ("layer_batch_processor", batch),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| rt.block_on(drive(&client, addr, iters, 16)))
        });
    }
    g.finish();

    // The server's CPU time per request: what the layer costs the server,
    // free of the client's and the scheduler's noise.
    let mut g = c.benchmark_group("hyper_server_cpu_per_request");
    g.sample_size(40);
    g.measurement_time(Duration::from_secs(8));
    for (name, addr) in [
        ("without_layer", plain),
        ("layer_noop_processor", noop),
        ("layer_batch_processor", batch),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let before = server_cpu();
                rt.block_on(drive(&client, addr, iters, 16));
                server_cpu() - before
            })
        });
    }
    g.finish();
}

/// The layer alone, in process: a request with a browser's usual headers
/// and a `traceparent` through the traced service and its body to the end,
/// against the same service without the layer. No sockets, so the figure is
/// steady: the layer's own cost per request, in nanoseconds.
fn layer_in_process(c: &mut Criterion) {
    use layer_request::{ok, request, run, server_span_alone, untraced_request};

    let (noop_provider, batch_provider) = providers();
    let mut plain = tower::service_fn(ok);
    let mut noop = TraceLayer::server(noop_provider.tracer("bench")).layer(tower::service_fn(ok));
    let mut batch = TraceLayer::server(batch_provider.tracer("bench")).layer(tower::service_fn(ok));

    let mut g = c.benchmark_group("server_layer_in_process");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("without_layer", |b| b.iter(|| run(&mut plain, request())));
    g.bench_function("layer_noop_processor", |b| {
        b.iter(|| run(&mut noop, request()))
    });
    g.bench_function("layer_batch_processor", |b| {
        b.iter(|| run(&mut batch, request()))
    });
    // The bare GET of a client without tracing (as over loopback below).
    g.bench_function("untraced_request/without_layer", |b| {
        b.iter(|| run(&mut plain, untraced_request()))
    });
    g.bench_function("untraced_request/layer_noop_processor", |b| {
        b.iter(|| run(&mut noop, untraced_request()))
    });
    g.bench_function("untraced_request/layer_batch_processor", |b| {
        b.iter(|| run(&mut batch, untraced_request()))
    });
    // The same request's span made by hand, without the layer: the part of
    // the layer's cost that is the tracer's.
    let (noop_tracer, batch_tracer) = (
        noop_provider.tracer("bench"),
        batch_provider.tracer("bench"),
    );
    g.bench_function("untraced_request/span_alone_noop_processor", |b| {
        b.iter(|| server_span_alone(&noop_tracer))
    });
    g.bench_function("untraced_request/span_alone_batch_processor", |b| {
        b.iter(|| server_span_alone(&batch_tracer))
    });
    g.finish();
}

criterion_group!(benches, layer_in_process, server_layer);
criterion_main!(benches);
