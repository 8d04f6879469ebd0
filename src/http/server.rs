//! The server layer: a SERVER span per request, child of the caller's
//! context, current while the handler runs, ended when the response body
//! ends.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};

use http::request::Parts;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::body::TracedBody;
use super::semconv;
use crate::propagation::TextMapPropagator;
use crate::trace::{KeyValue, Span, SpanKind, Tracer, Value};

type NameFn = dyn Fn(&Parts, Option<&str>) -> String + Send + Sync;
type FilterFn = dyn Fn(&Parts) -> bool + Send + Sync;
type RouteFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// The address of the client a request came from. Insert it into the
/// request's extensions (before the layer sees the request) to have
/// `client.address` and `client.port` recorded; with the `axum` feature,
/// axum's `ConnectInfo<SocketAddr>` is read too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub SocketAddr);

#[derive(Clone)]
struct ServerConfig {
    tracer: Tracer,
    propagator: Option<Arc<dyn TextMapPropagator>>,
    name: Option<Arc<NameFn>>,
    filter: Option<Arc<FilterFn>>,
    route: Option<Arc<RouteFn>>,
    request_headers: Vec<String>,
    response_headers: Vec<String>,
    record_query: bool,
    trace_response: bool,
    scheme: &'static str,
}

/// A Tower layer that traces every request a server handles.
///
/// For each request it extracts the caller's context (`traceparent`,
/// `tracestate`, `baggage`; an invalid header starts a new trace, never an
/// error response), starts a SERVER span named `{method} {route}` (or
/// `{method}` when no route template is known) with the stable HTTP server
/// attributes, makes it the current context while the inner service runs,
/// and ends it when the response body has been sent, dropped or failed.
/// 5xx responses and inner-service errors set status Error; 4xx leave it
/// Unset (the server did its job).
///
/// ```
/// use tower::{service_fn, Layer, ServiceExt};
/// use tracelite::http::TraceLayer;
/// use tracelite::{InMemoryExporter, SimpleSpanProcessor, TracerProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let spans = InMemoryExporter::default();
/// let provider = TracerProvider::builder()
///     .with_processor(SimpleSpanProcessor::new(spans.clone()))
///     .build();
///
/// let app = service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hi")))
/// });
/// let app = TraceLayer::server(provider.tracer("api"))
///     .with_route(|_| Some("/hello/{name}".into()))
///     .layer(app);
///
/// let request = http::Request::get("/hello/world").body(String::new()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// drop(response); // the span ends with the body
/// assert_eq!(spans.finished_spans()[0].name, "GET /hello/{name}");
/// # }
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    config: Arc<ServerConfig>,
}

/// Entry points: [`TraceLayer::server`] and [`TraceLayer::client`].
#[derive(Debug, Clone, Copy)]
pub struct TraceLayer;

impl TraceLayer {
    /// A layer for servers, recording with `tracer`.
    pub fn server(tracer: Tracer) -> ServerLayer {
        ServerLayer {
            config: Arc::new(ServerConfig {
                tracer,
                propagator: None,
                name: None,
                filter: None,
                route: None,
                request_headers: Vec::new(),
                response_headers: Vec::new(),
                record_query: false,
                trace_response: false,
                scheme: "http",
            }),
        }
    }

    /// A layer for HTTP clients, recording with `tracer`.
    pub fn client(tracer: Tracer) -> super::ClientLayer {
        super::ClientLayer::new(tracer)
    }
}

impl ServerLayer {
    fn config(&mut self) -> &mut ServerConfig {
        Arc::make_mut(&mut self.config)
    }

    /// Names spans with `f(request, route)` instead of `{method} {route}`.
    pub fn with_span_name(
        mut self,
        f: impl Fn(&Parts, Option<&str>) -> String + Send + Sync + 'static,
    ) -> Self {
        self.config().name = Some(Arc::new(f));
        self
    }

    /// Traces only the requests for which `f` returns true (skip health
    /// checks with `|req| req.uri.path() != "/health"`). Skipped requests
    /// still pass through, untouched.
    pub fn with_filter(mut self, f: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.config().filter = Some(Arc::new(f));
        self
    }

    /// Finds the route template (`/users/{id}`) with `f`. With the `axum`
    /// feature, axum's `MatchedPath` is used when `f` is not set or returns
    /// `None`.
    pub fn with_route(
        mut self,
        f: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.config().route = Some(Arc::new(f));
        self
    }

    /// Records these request headers as `http.request.header.<name>`
    /// (none by default: headers often carry secrets).
    pub fn with_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config().request_headers = semconv::lowercase(names);
        self
    }

    /// Records these response headers as `http.response.header.<name>`.
    pub fn with_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.config().response_headers = semconv::lowercase(names);
        self
    }

    /// Records the query string as `url.query` (off by default: queries may
    /// carry tokens).
    pub fn with_query(mut self, record: bool) -> Self {
        self.config().record_query = record;
        self
    }

    /// Adds a `traceresponse` header (`00-{trace id}-{span id}-{flags}`)
    /// to responses, so clients can find the trace (off by default).
    pub fn with_trace_response_header(mut self, add: bool) -> Self {
        self.config().trace_response = add;
        self
    }

    /// The `url.scheme` to record (`http` by default; say `https` behind
    /// TLS).
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.config().scheme = scheme;
        self
    }

    /// Extracts with this propagator instead of the global one.
    pub fn with_propagator(mut self, propagator: impl TextMapPropagator) -> Self {
        self.config().propagator = Some(Arc::new(propagator));
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`ServerLayer`].
#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    config: Arc<ServerConfig>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TraceService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        // The callbacks take the request's `Parts`; without them the
        // request is read where it lies, not split and put back together.
        let (request, span) =
            if config.filter.is_some() || config.name.is_some() || config.route.is_some() {
                let (parts, body) = request.into_parts();
                if config.filter.as_ref().is_some_and(|f| !f(&parts)) {
                    return ResponseFuture {
                        inner: self.inner.call(Request::from_parts(parts, body)),
                        span: None,
                        config: None,
                    };
                }
                let span = start_span(config, &Head::from_parts(&parts), Some(&parts));
                (Request::from_parts(parts, body), span)
            } else {
                let span = start_span(config, &Head::from_request(&request), None);
                (request, span)
            };
        let inner = {
            let _active = span.enter();
            self.inner.call(request)
        };
        // The response needs the configuration only for these; without
        // them no shared reference count is touched per request.
        let config = (!config.response_headers.is_empty() || config.trace_response)
            .then(|| self.config.clone());
        ResponseFuture {
            inner,
            span: Some(span),
            config,
        }
    }
}

/// What the layer reads of a request, borrowed from the request itself or
/// from its parts.
struct Head<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    version: http::Version,
    headers: &'a http::HeaderMap,
    extensions: &'a http::Extensions,
}

impl<'a> Head<'a> {
    fn from_parts(parts: &'a Parts) -> Head<'a> {
        Head {
            method: &parts.method,
            uri: &parts.uri,
            version: parts.version,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    fn from_request<B>(request: &'a Request<B>) -> Head<'a> {
        Head {
            method: request.method(),
            uri: request.uri(),
            version: request.version(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// Starts the request's SERVER span; `parts` is there for the
/// configuration's callbacks (when it has any).
fn start_span(config: &ServerConfig, head: &Head<'_>, parts: Option<&Parts>) -> Span {
    // One pass over the headers finds what extraction and the attributes
    // read.
    let scan = crate::propagation::W3cHeaders::new(head.headers);
    let parent = match &config.propagator {
        Some(p) => scan.extract_with(&**p),
        None => crate::propagation::with_text_map_propagator(|p| scan.extract_with(p)),
    };
    let route = match (&config.route, parts) {
        (Some(f), Some(parts)) => f(parts),
        _ => None,
    }
    .or_else(|| framework_route(head.extensions));
    let (method, _) = semconv::method(head.method);
    let name: std::borrow::Cow<'static, str> = match (&config.name, parts, &route) {
        (Some(f), Some(parts), _) => f(parts, route.as_deref()).into(),
        (_, _, Some(route)) => format!("{method} {route}").into(),
        _ => method.into(),
    };
    let span = config
        .tracer
        .span(name)
        .kind(SpanKind::Server)
        .parent(parent)
        .start();
    if span.is_recording() {
        span.set_distinct_attributes(request_attributes(config, head, &scan, route));
        semconv::record_headers(
            &span,
            "http.request.header",
            &config.request_headers,
            head.headers,
        );
    }
    span
}

fn request_attributes(
    config: &ServerConfig,
    head: &Head<'_>,
    scan: &crate::propagation::W3cHeaders<'_>,
    route: Option<String>,
) -> Vec<KeyValue> {
    // Room for the response attributes added later (status, error.type),
    // in a vector handed back by an earlier span when there is one.
    let mut attrs = crate::trace::recycle::attributes();
    attrs.reserve(15);
    semconv::request_method_attributes(head.method, &mut attrs);
    attrs.push(KeyValue::new(
        "url.path",
        super::recent::path(head.uri.path()),
    ));
    attrs.push(KeyValue::new(
        "url.scheme",
        head.uri.scheme_str().map_or(
            config.scheme,
            |s| {
                if s == "https" {
                    "https"
                } else {
                    "http"
                }
            },
        ),
    ));
    if config.record_query {
        if let Some(q) = head.uri.query() {
            attrs.push(KeyValue::new("url.query", q.to_string()));
        }
    }
    if let Some(route) = route {
        attrs.push(KeyValue::new("http.route", route));
    }
    if let Some((host, port)) = semconv::server_address_or(head.uri, || scan.host) {
        attrs.push(KeyValue::new("server.address", host));
        if let Some(port) = port {
            attrs.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
    if let Some(peer) = client_address(head.extensions) {
        attrs.push(KeyValue::new("client.address", peer.ip().to_string()));
        attrs.push(KeyValue::new("client.port", i64::from(peer.port())));
    }
    if let Some(v) = semconv::protocol_version(head.version) {
        attrs.push(KeyValue::new("network.protocol.version", v));
    }
    if let Some(ua) = scan.user_agent {
        let ua: Value = match super::recent::user_agent(ua.as_bytes()) {
            Some(shared) => shared.into(),
            None => String::from_utf8_lossy(ua.as_bytes()).into_owned().into(),
        };
        attrs.push(KeyValue::new("user_agent.original", ua));
    }
    attrs
}

fn client_address(extensions: &http::Extensions) -> Option<SocketAddr> {
    if let Some(ClientAddress(addr)) = extensions.get::<ClientAddress>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    None
}

#[cfg(feature = "axum")]
fn framework_route(extensions: &http::Extensions) -> Option<String> {
    extensions
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
}

#[cfg(not(feature = "axum"))]
fn framework_route(_extensions: &http::Extensions) -> Option<String> {
    None
}

pin_project! {
    /// The future of a [`TraceService`] call: the span is current on every
    /// poll; when the response head is ready, the status is recorded and
    /// the span moves into the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        // Only when response headers are recorded or `traceresponse` added.
        config: Option<Arc<ServerConfig>>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response<TracedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _active = this.span.as_ref().map(Span::enter);
            ready!(this.inner.poll(cx))
        };
        let span = this.span.take();
        match result {
            Ok(mut response) => {
                if let Some(span) = &span {
                    let status = response.status();
                    semconv::record_status(span, status, status.is_server_error());
                }
                if let (Some(span), Some(config)) = (&span, this.config.as_ref()) {
                    semconv::record_headers(
                        span,
                        "http.response.header",
                        &config.response_headers,
                        response.headers(),
                    );
                    if config.trace_response {
                        // The traceparent format: version 00, known flags.
                        let value = crate::propagation::traceparent_bytes(span.span_context());
                        if let Ok(value) = HeaderValue::from_bytes(&value) {
                            response.headers_mut().insert("traceresponse", value);
                        }
                    }
                }
                Poll::Ready(Ok(response.map(|body| TracedBody::new(body, span))))
            }
            Err(error) => {
                if let Some(span) = span {
                    let message = error.to_string();
                    semconv::end_failed(span, std::any::type_name::<E>(), message.clone(), message);
                }
                Poll::Ready(Err(error))
            }
        }
    }
}
