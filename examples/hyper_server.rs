//! A plain hyper 1.x server (no axum) traced with TraceLite's server layer,
//! through hyper-util's Tower adapter.
//!
//! ```sh
//! cargo run --example hyper_server -- --addr 127.0.0.1:3000
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
//!      http://127.0.0.1:3000/hello/world
//! ```
//!
//! Each request prints its waterfall in this terminal (console exporter):
//! the SERVER span from the layer, and the `render greeting` span the
//! handler opens inside it. `--addr` with port 0 picks a free port; the
//! server prints `listening on http://ADDR`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tracelite::http::{ClientAddress, TraceLayer};
use tracelite::{ConsoleExporter, Resource, SimpleSpanProcessor, Tracer, TracerProvider};

async fn hello(
    tracer: Tracer,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // A child of the request's SERVER span: the layer made it current.
    let span = tracer.start("render greeting");
    let name = req.uri().path().trim_start_matches("/hello/").to_string();
    span.set_attribute("greeting.name", name.clone());
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello, {name}\n"
    )))))
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = match std::env::args().skip_while(|a| a != "--addr").nth(1) {
        Some(a) => a.parse().unwrap_or_else(|e| {
            eprintln!("hyper_server: --addr {a:?} is not HOST:PORT: {e}");
            std::process::exit(2)
        }),
        None => "127.0.0.1:3000".parse().unwrap(),
    };
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "hello-hyper")]))
        .with_processor(SimpleSpanProcessor::new(ConsoleExporter::default()))
        .build();
    let tracer = provider.tracer("hello-hyper");

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("hyper_server: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    println!("listening on http://{}", listener.local_addr().unwrap());

    let layer = TraceLayer::server(tracer.clone()).with_route(|req| {
        req.uri
            .path()
            .starts_with("/hello/")
            .then(|| "/hello/{name}".into())
    });
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let tracer = tracer.clone();
        // Per connection: record the client's address, then trace.
        let service = ServiceBuilder::new()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ClientAddress(peer));
                req
            })
            .layer(layer.clone())
            .service_fn(move |req| hello(tracer.clone(), req));
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
        });
    }
}
