//! An axum app traced end to end: the server layer on the router, and a
//! handler that calls another service through the client layer, so both
//! requests are one trace.
//!
//! ```sh
//! cargo run --example axum_app --features axum -- --addr 127.0.0.1:3000
//! curl http://127.0.0.1:3000/users/7
//! ```
//!
//! The app serves two routes: `GET /users/{id}` (the "gateway") calls
//! `GET /internal/profiles/{id}` (the "profile service", here on the same
//! server for brevity) through hyper-util's client wrapped in
//! `TraceLayer::client`. The console shows the trace when it ends:
//! `GET /users/{id}` → `GET` (client) → `GET /internal/profiles/{id}` →
//! `load profile`. With the `axum` feature the layer names spans by axum's
//! matched route and records `client.address` from `ConnectInfo`.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tracelite::http::{TraceClient, TraceLayer};
use tracelite::{ConsoleExporter, Resource, SimpleSpanProcessor, Tracer, TracerProvider};

#[derive(Clone)]
struct App {
    tracer: Tracer,
    client: TraceClient<Client<HttpConnector, Full<Bytes>>>,
    addr: SocketAddr,
}

/// The gateway route: asks the profile service, answers with its reply.
async fn user(State(app): State<App>, Path(id): Path<u32>) -> Result<String, String> {
    let request = http::Request::get(format!("http://{}/internal/profiles/{id}", app.addr))
        .body(Full::default())
        .map_err(|e| e.to_string())?;
    let response = app
        .client
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "user {id}: {}\n",
        String::from_utf8_lossy(&body.to_bytes())
    ))
}

/// The profile service's route, with a span of its own.
async fn profile(State(app): State<App>, Path(id): Path<u32>) -> String {
    let span = app.tracer.start("load profile");
    span.set_attribute("profile.id", id);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    format!("profile #{id}")
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr = match std::env::args().skip_while(|a| a != "--addr").nth(1) {
        Some(a) => a.parse().unwrap_or_else(|e| {
            eprintln!("axum_app: --addr {a:?} is not HOST:PORT: {e}");
            std::process::exit(2)
        }),
        None => "127.0.0.1:3000".parse().unwrap(),
    };
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "axum-app")]))
        .with_processor(SimpleSpanProcessor::new(ConsoleExporter::default()))
        .build();
    let tracer = provider.tracer("axum-app");

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("axum_app: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    let addr = listener.local_addr().unwrap();
    let client = TraceLayer::client(tracer.clone())
        .layer(Client::builder(TokioExecutor::new()).build_http());
    let state = App {
        tracer: tracer.clone(),
        client,
        addr,
    };
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/internal/profiles/{id}", get(profile))
        .layer(TraceLayer::server(tracer))
        .with_state(state);

    println!("listening on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .unwrap();
}
