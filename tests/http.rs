//! The Tower layers with real hyper servers on 127.0.0.1:0 and real
//! clients; spans collected with the in-memory exporter.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::{Layer, Service, ServiceExt};
use tracelite::http::{TraceClient, TraceLayer};
use tracelite::{
    InMemoryExporter, KeyValue, Resource, SimpleSpanProcessor, SpanData, SpanId, SpanKind, Status,
    Tracer, TracerProvider,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One service's tracer, and the spans it finished.
fn service(name: &'static str) -> (TracerProvider, Tracer, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", name)]))
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let tracer = provider.tracer(name);
    (provider, tracer, exporter)
}

/// Serves `svc` on 127.0.0.1:0 until the runtime ends.
async fn serve<S, B>(svc: S) -> SocketAddr
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn plain_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn traced_client(tracer: Tracer) -> TraceClient<Client<HttpConnector, Full<Bytes>>> {
    TraceLayer::client(tracer).layer(plain_client())
}

/// Waits (at most 5 s) until `exporter` holds `n` spans.
async fn spans(exporter: &InMemoryExporter, n: usize) -> Vec<SpanData> {
    let began = Instant::now();
    while exporter.finished_spans().len() < n && began.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    exporter.finished_spans()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name:?} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(|v| v.to_string())
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = plain_client()
        .request(req.body(Full::default()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_make_one_trace() {
    // B: answers, with a span of its own inside the handler.
    let (_pb, tracer_b, spans_b) = service("user-api");
    let handler_tracer = tracer_b.clone();
    let b = tower::service_fn(move |_req: Request<Incoming>| {
        let tracer = handler_tracer.clone();
        async move {
            let _load = tracer.start("load user");
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("alice"))))
        }
    });
    let b_addr = serve(
        TraceLayer::server(tracer_b)
            .with_route(|parts| {
                parts
                    .uri
                    .path()
                    .starts_with("/users/")
                    .then(|| "/users/{id}".into())
            })
            .layer(b),
    )
    .await;

    // A: calls B through the client layer from inside its SERVER span.
    let (_pa, tracer_a, spans_a) = service("gateway");
    let client = traced_client(tracer_a.clone());
    let a = tower::service_fn(move |_req: Request<Incoming>| {
        let client = client.clone();
        async move {
            let req = Request::get(format!("http://{b_addr}/users/7"))
                .body(Full::default())
                .unwrap();
            let resp = client
                .oneshot(req)
                .await
                .map_err(|e| -> BoxError { e.into() })?;
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>(Response::new(Full::new(body)))
        }
    });
    let a_addr = serve(TraceLayer::server(tracer_a).layer(a)).await;

    let (status, body) = get(a_addr, "/profile", &[("user-agent", "test/1.0")]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"));

    let a_spans = spans(&spans_a, 2).await;
    let b_spans = spans(&spans_b, 2).await;
    let a_server = a_spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    let a_client = a_spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
    let b_server = named(&b_spans, "GET /users/{id}");
    let b_load = named(&b_spans, "load user");
    assert_eq!(a_server.kind, SpanKind::Server);

    let trace = a_server.span_context.trace_id();
    for s in [a_client, b_server, b_load] {
        assert_eq!(s.span_context.trace_id(), trace, "{}", s.name);
    }
    assert_eq!(a_server.parent_span_id, SpanId::INVALID);
    assert_eq!(a_client.parent_span_id, a_server.span_context.span_id());
    assert_eq!(b_server.parent_span_id, a_client.span_context.span_id());
    assert!(b_server.parent_is_remote);
    assert_eq!(b_load.parent_span_id, b_server.span_context.span_id());

    // Server attributes.
    assert_eq!(
        attr(a_server, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(attr(a_server, "url.path").as_deref(), Some("/profile"));
    assert_eq!(attr(a_server, "url.scheme").as_deref(), Some("http"));
    assert_eq!(
        attr(a_server, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attr(a_server, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(a_server, "server.port"),
        Some(a_addr.port().to_string())
    );
    assert_eq!(
        attr(a_server, "network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(
        attr(a_server, "user_agent.original").as_deref(),
        Some("test/1.0")
    );
    assert_eq!(attr(b_server, "http.route").as_deref(), Some("/users/{id}"));
    assert_eq!(a_server.status, Status::Unset);
    // Client attributes.
    assert_eq!(
        attr(a_client, "url.full"),
        Some(format!("http://{b_addr}/users/7"))
    );
    assert_eq!(
        attr(a_client, "server.port"),
        Some(b_addr.port().to_string())
    );
    assert_eq!(
        attr(a_client, "http.response.status_code").as_deref(),
        Some("200")
    );
    // Time: the callee lies within the call, the call within the request.
    assert!(a_client.start_time >= a_server.start_time && a_client.end_time <= a_server.end_time);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unsampled_parents() {
    let (_p, tracer, exported) = service("svc");
    // The handler reports the traceparent it would send downstream.
    let handler = tower::service_fn(|_req: Request<Incoming>| async {
        let mut headers = http::HeaderMap::new();
        tracelite::http::inject_current_context(&mut headers);
        let tp = headers
            .get("traceparent")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(tp))))
    });
    let addr = serve(TraceLayer::server(tracer).layer(handler)).await;

    // Malformed: a new trace, not an error.
    let bad = "00-ZZZ92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, sent) = get(addr, "/", &[("traceparent", bad)]).await;
    assert_eq!(status, StatusCode::OK);
    let s = spans(&exported, 1).await;
    assert_eq!(s.len(), 1);
    assert!(!s[0].parent_span_id.is_valid(), "malformed parent was used");
    assert!(sent.starts_with("00-") && !sent.contains("zzz"));
    assert!(sent.contains(&s[0].span_context.trace_id().to_string()));

    // Unsampled: nothing recorded, but the trace id and flags travel on.
    exported.reset();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let (_, sent) = get(addr, "/", &[("traceparent", parent)]).await;
    assert!(
        sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{sent}"
    );
    assert!(sent.ends_with("-00"), "{sent}");
    assert!(
        !sent.contains("00f067aa0ba902b7"),
        "the server span was skipped"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(exported.finished_spans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_response_span_covers_the_stream() {
    let (_p, tracer, exported) = service("svc");
    let handler = tower::service_fn(|_req: Request<Incoming>| async {
        let chunks = futures_stream(3, Duration::from_millis(60));
        Ok::<_, Infallible>(Response::new(StreamBody::new(chunks)))
    });
    let addr = serve(TraceLayer::server(tracer).layer(handler)).await;
    let began = Instant::now();
    let (_, body) = get(addr, "/stream", &[]).await;
    let client_saw = began.elapsed();
    assert_eq!(body, "012");
    assert!(client_saw >= Duration::from_millis(180));
    let s = spans(&exported, 1).await;
    assert!(
        s[0].duration() >= Duration::from_millis(170),
        "the span ended at the head: {:?}",
        s[0].duration()
    );
}

/// `n` chunks "0", "1", ... each after `every`.
fn futures_stream(
    n: usize,
    every: Duration,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::unfold(0, move |i| async move {
        if i == n {
            return None;
        }
        tokio::time::sleep(every).await;
        Some((Ok(Frame::data(Bytes::from(i.to_string()))), i + 1))
    })
}
