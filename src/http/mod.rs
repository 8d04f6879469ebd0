//! Tower layers for HTTP servers and clients (feature `tower`, default on):
//! every request across every service becomes one trace.
//!
//! - [`TraceLayer::server`] wraps any `Service<http::Request<B>>` — an axum
//!   `Router`, a hyper 1.x service through hyper-util's Tower adapter, any
//!   Tower stack — and gives each request a SERVER span, child of the
//!   caller's context, current while the handler runs.
//! - [`TraceLayer::client`] wraps an outbound client (hyper-util's client,
//!   any Tower HTTP client) and gives each request a CLIENT span whose
//!   context travels in the request's headers.
//! - [`inject_current_context`] does the same for clients that are not
//!   Tower services.
//!
//! Names and attributes follow the OpenTelemetry HTTP semantic conventions
//! (stable): spans are named `{method} {http.route}` (or `{method}`), and
//! carry `http.request.method`, `url.path`, `url.scheme`, `http.route`,
//! `http.response.status_code`, `server.address`, `server.port`,
//! `client.address`, `network.protocol.version`, `user_agent.original`,
//! `error.type` (servers) or `url.full` (clients).
//!
//! With axum, add the layer with `Router::layer` (so axum has matched the
//! route when the layer runs) and enable the `axum` feature to name spans
//! by the route template:
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn run() {
//! use axum::{routing::get, Router};
//! use tracelite::http::TraceLayer;
//!
//! let tracer = tracelite::tracer("users-api");
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(TraceLayer::server(tracer));            // spans: "GET /users/{id}"
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

mod body;
mod client;
mod recent;
mod semconv;
mod server;

pub use body::TracedBody;
pub use client::{ClientFuture, ClientLayer, TraceClient};
pub use server::{ClientAddress, ResponseFuture, ServerLayer, TraceLayer, TraceService};

/// Writes the current context (`traceparent`, `tracestate`, `baggage`, with
/// the global propagator) into `headers`: for HTTP clients that are not
/// Tower services. Start a CLIENT span and enter it first, so the callee's
/// parent is that span.
///
/// ```
/// use tracelite::{SpanKind, TracerProvider};
///
/// let tracer = TracerProvider::builder().build().tracer("api");
/// let call = tracer.span("GET").kind(SpanKind::Client).start();
/// let _active = call.enter();
/// let mut headers = http::HeaderMap::new();
/// tracelite::http::inject_current_context(&mut headers);
/// assert!(headers.contains_key("traceparent"));
/// ```
pub fn inject_current_context(headers: &mut http::HeaderMap) {
    crate::propagation::inject_into_headers(headers);
}
