//! The server layer's in-process request, shared by `benches/http.rs`
//! (`server_layer_in_process`) and `examples/layer_loop.rs` (callgrind): a
//! browser-like GET with a `traceparent`, through a `service_fn` hello world
//! and its body to the end, with no sockets; and the bare GET a plain HTTP
//! client sends (what the loopback bench's client sends: a `host` header and
//! no trace context).

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::Service;

/// The hello world.
pub async fn ok(_req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello, world",
    ))))
}

/// A request with a browser's usual headers and a `traceparent`.
pub fn request() -> Request<Full<Bytes>> {
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

/// The GET of a client that knows nothing of tracing.
pub fn untraced_request() -> Request<Full<Bytes>> {
    let mut req = Request::get("/hello")
        .header("host", "127.0.0.1:8080")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    *req.version_mut() = http::Version::HTTP_11;
    req
}

/// Calls the service with `req` ([`request`] or [`untraced_request`]),
/// polls the response and its body to the end; out of line so a profile
/// attributes the request in one place.
#[inline(never)]
pub fn run<S, B>(service: &mut S, req: Request<Full<Bytes>>)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let fut = pin!(service.call(req));
    let Poll::Ready(Ok(response)) = fut.poll(&mut cx) else {
        panic!("the service is ready at once");
    };
    let mut body = pin!(response.into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        std::hint::black_box(frame.ok());
    }
}

/// The span the layer makes for [`untraced_request`], made directly with
/// the tracer's public API and nothing else: a root SERVER span named `GET`
/// with the same seven attributes (static strings, the cheapest kind),
/// ended at once. What the tracer core alone costs for the span the layer
/// must record; the layer's own work (the header scan, the context entered
/// while the service is polled, the response future and body) is the rest.
#[inline(never)]
pub fn server_span_alone(tracer: &tracelite::Tracer) {
    let span = tracer.span("GET").kind(tracelite::SpanKind::Server).start();
    span.set_attribute("http.request.method", "GET");
    span.set_attribute("url.path", "/hello");
    span.set_attribute("url.scheme", "http");
    span.set_attribute("server.address", "127.0.0.1");
    span.set_attribute("server.port", 8080);
    span.set_attribute("network.protocol.version", "1.1");
    span.set_attribute("http.response.status_code", 200);
    span.end();
}
