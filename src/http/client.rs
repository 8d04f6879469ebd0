//! The client layer: a CLIENT span per outgoing request, its context
//! injected into the request's headers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::body::TracedBody;
use super::semconv;
use crate::propagation::TextMapPropagator;
use crate::trace::{Context, KeyValue, Span, SpanKind, Tracer};

#[derive(Clone)]
struct ClientConfig {
    tracer: Tracer,
    propagator: Option<Arc<dyn TextMapPropagator>>,
    request_headers: Vec<String>,
    response_headers: Vec<String>,
}

/// A Tower layer for HTTP clients (hyper-util's client, or any
/// `Service<http::Request<B>>`): each request gets a CLIENT span, child of
/// the current context, whose context is injected into the outgoing
/// headers (`traceparent`, `tracestate`, `baggage`). Records
/// `http.request.method`, `url.full` (without credentials),
/// `server.address`, `server.port`, `http.response.status_code` and
/// `error.type`; 4xx, 5xx and transport errors set status Error. The span
/// ends when the response body ends.
///
/// For clients that are not Tower services (reqwest, ...), start a span and
/// call [`inject_current_context`](super::inject_current_context) on the
/// request's headers.
///
/// ```
/// use tower::{service_fn, Layer, ServiceExt};
/// use tracelite::http::TraceLayer;
/// use tracelite::TracerProvider;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tracer = TracerProvider::builder().build().tracer("api");
/// // Stands in for a real HTTP client: echoes the traceparent it was sent.
/// let transport = service_fn(|req: http::Request<String>| async move {
///     let sent = req.headers()["traceparent"].to_str().unwrap().to_string();
///     Ok::<_, std::convert::Infallible>(http::Response::new(sent))
/// });
/// let client = TraceLayer::client(tracer.clone()).layer(transport);
///
/// let parent = tracer.start("handler");
/// let _active = parent.enter();
/// let request = http::Request::get("http://users.internal/users").body(String::new()).unwrap();
/// let response = client.oneshot(request).await.unwrap();
/// let traceparent = response.into_body().into_inner();
/// assert!(traceparent.contains(&parent.span_context().trace_id().to_string()));
/// # }
/// ```
#[derive(Clone)]
pub struct ClientLayer {
    config: Arc<ClientConfig>,
}

impl ClientLayer {
    pub(crate) fn new(tracer: Tracer) -> ClientLayer {
        ClientLayer {
            config: Arc::new(ClientConfig {
                tracer,
                propagator: None,
                request_headers: Vec::new(),
                response_headers: Vec::new(),
            }),
        }
    }

    /// Injects with this propagator instead of the global one.
    pub fn with_propagator(mut self, propagator: impl TextMapPropagator) -> Self {
        Arc::make_mut(&mut self.config).propagator = Some(Arc::new(propagator));
        self
    }

    /// Records these request headers as `http.request.header.<name>`.
    pub fn with_request_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Arc::make_mut(&mut self.config).request_headers = semconv::lowercase(names);
        self
    }

    /// Records these response headers as `http.response.header.<name>`.
    pub fn with_response_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Arc::make_mut(&mut self.config).response_headers = semconv::lowercase(names);
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = TraceClient<S>;

    fn layer(&self, inner: S) -> TraceClient<S> {
        TraceClient {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`ClientLayer`].
#[derive(Clone)]
pub struct TraceClient<S> {
    inner: S,
    config: Arc<ClientConfig>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TraceClient<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        let (method, _) = semconv::method(request.method());
        let span = config
            .tracer
            .span(method)
            .kind(SpanKind::Client)
            .parent(Context::current())
            .start();
        if span.is_recording() {
            let mut attrs = Vec::with_capacity(9);
            semconv::request_method_attributes(request.method(), &mut attrs);
            attrs.push(KeyValue::new("url.full", semconv::full_url(request.uri())));
            if let Some((host, port)) = semconv::server_address(request.uri(), request.headers()) {
                attrs.push(KeyValue::new("server.address", host));
                if let Some(port) = port {
                    attrs.push(KeyValue::new("server.port", i64::from(port)));
                }
            }
            span.set_distinct_attributes(attrs);
            semconv::record_headers(
                &span,
                "http.request.header",
                &config.request_headers,
                request.headers(),
            );
        }
        let context = span.context();
        match &config.propagator {
            Some(p) => p.inject_context(&context, request.headers_mut()),
            None => crate::propagation::with_text_map_propagator(|p| {
                p.inject_context(&context, request.headers_mut())
            }),
        }
        let inner = {
            let _active = span.enter();
            self.inner.call(request)
        };
        ClientFuture {
            inner,
            span: Some(span),
            config: self.config.clone(),
        }
    }
}

pin_project! {
    /// The future of a [`TraceClient`] call.
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        config: Arc<ClientConfig>,
    }
}

impl<F, ResBody, E> Future for ClientFuture<F>
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
            Ok(response) => {
                if let Some(span) = &span {
                    let status = response.status();
                    let failed = status.is_client_error() || status.is_server_error();
                    semconv::record_status(span, status, failed);
                    semconv::record_headers(
                        span,
                        "http.response.header",
                        &this.config.response_headers,
                        response.headers(),
                    );
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
