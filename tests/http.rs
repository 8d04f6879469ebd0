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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_and_error_types() {
    let (_p, tracer, exported) = service("svc");
    let handler = tower::service_fn(|req: Request<Incoming>| async move {
        match req.uri().path() {
            "/fail" => Ok(Response::builder()
                .status(503)
                .body(Full::new(Bytes::from("down")))
                .unwrap()),
            "/missing" => Ok(Response::builder()
                .status(404)
                .body(Full::default())
                .unwrap()),
            "/error" => Err(std::io::Error::other("handler blew up")),
            _ => Ok(Response::new(Full::<Bytes>::default())),
        }
    });
    let addr = serve(TraceLayer::server(tracer.clone()).layer(handler)).await;

    let (status, _) = get(addr, "/fail", &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let s = spans(&exported, 1).await.remove(0);
    assert!(s.status.is_error());
    assert_eq!(attr(&s, "error.type").as_deref(), Some("503"));
    assert_eq!(
        attr(&s, "http.response.status_code").as_deref(),
        Some("503")
    );

    exported.reset();
    let (status, _) = get(addr, "/missing", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let s = spans(&exported, 1).await.remove(0);
    assert_eq!(s.status, Status::Unset, "4xx is the client's problem");
    assert_eq!(attr(&s, "error.type"), None);

    // The inner service fails: hyper drops the connection, the span says why.
    exported.reset();
    let req = Request::get(format!("http://{addr}/error"))
        .body(Full::default())
        .unwrap();
    assert!(plain_client().request(req).await.is_err());
    let s = spans(&exported, 1).await.remove(0);
    assert!(s.status.is_error());
    assert_eq!(
        attr(&s, "error.type").as_deref(),
        Some("std::io::error::Error")
    );
    assert!(s.events.iter().any(|e| e.name == "exception"));

    // Client side: 4xx and 5xx are errors for the caller; so is a refused
    // connection.
    exported.reset();
    let client = traced_client(tracer.clone());
    for (path, code) in [("/missing", "404"), ("/fail", "503")] {
        let req = Request::get(format!("http://{addr}{path}"))
            .body(Full::default())
            .unwrap();
        let resp = client.clone().oneshot(req).await.unwrap();
        resp.into_body().collect().await.unwrap();
        let all = spans(&exported, 2).await;
        let c = all.iter().find(|s| s.kind == SpanKind::Client).unwrap();
        assert!(c.status.is_error(), "{path}");
        assert_eq!(attr(c, "error.type").as_deref(), Some(code));
        exported.reset();
    }
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let req = Request::get(format!("http://{closed}/"))
        .body(Full::default())
        .unwrap();
    assert!(client.oneshot(req).await.is_err());
    let c = spans(&exported, 1).await.remove(0);
    assert_eq!(c.kind, SpanKind::Client);
    assert!(c.status.is_error());
    assert!(attr(&c, "error.type").unwrap().contains("Error"));
    assert_eq!(attr(&c, "http.response.status_code"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_share_context() {
    let (_p, tracer, exported) = service("svc");
    let handler_tracer = tracer.clone();
    let handler = tower::service_fn(move |_req: Request<Incoming>| {
        let tracer = handler_tracer.clone();
        async move {
            // Yield and sleep so requests interleave on the worker threads.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            let work = tracer.start("work");
            tokio::task::yield_now().await;
            drop(work);
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }
    });
    let addr = serve(TraceLayer::server(tracer).layer(handler)).await;

    const N: u128 = 200;
    let mut tasks = Vec::new();
    for i in 1..=N {
        tasks.push(tokio::spawn(async move {
            let tp = format!("00-{i:032x}-{:016x}-01", 0xabc0_0000 + i as u64);
            let (status, _) = get(addr, "/", &[("traceparent", &tp)]).await;
            assert_eq!(status, StatusCode::OK);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = spans(&exported, 2 * N as usize).await;
    assert_eq!(all.len(), 2 * N as usize);
    for server in all.iter().filter(|s| s.kind == SpanKind::Server) {
        let trace = server.span_context.trace_id().to_u128();
        assert!((1..=N).contains(&trace));
        assert_eq!(server.parent_span_id.to_u64(), 0xabc0_0000 + trace as u64);
        let works: Vec<_> = all
            .iter()
            .filter(|s| {
                s.name == "work" && s.span_context.trace_id() == server.span_context.trace_id()
            })
            .collect();
        assert_eq!(works.len(), 1, "trace {trace:x}");
        assert_eq!(works[0].parent_span_id, server.span_context.span_id());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_headers_query_and_trace_response() {
    let (_p, tracer, exported) = service("svc");
    let handler = tower::service_fn(|_req: Request<Incoming>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("x-cache", "hit")
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
    });
    let layer = TraceLayer::server(tracer)
        .with_filter(|req| req.uri.path() != "/health")
        .with_request_headers(["X-Request-Id"])
        .with_response_headers(["x-cache"])
        .with_query(true)
        .with_trace_response_header(true)
        .with_span_name(|req, _| format!("custom {}", req.uri.path()));
    let addr = serve(layer.layer(handler)).await;

    let (status, _) = get(addr, "/health", &[]).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        exported.finished_spans().is_empty(),
        "health checks are skipped"
    );

    let req = Request::get(format!("http://{addr}/items?page=2"))
        .header("x-request-id", "r-1")
        .header("authorization", "Bearer secret")
        .body(Full::default())
        .unwrap();
    let resp = plain_client().request(req).await.unwrap();
    let traceresponse = resp.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_string();
    resp.into_body().collect().await.unwrap();
    let s = spans(&exported, 1).await.remove(0);
    assert_eq!(s.name, "custom /items");
    assert_eq!(attr(&s, "url.query").as_deref(), Some("page=2"));
    assert_eq!(
        attr(&s, "http.request.header.x-request-id").as_deref(),
        Some(r#"["r-1"]"#)
    );
    assert_eq!(
        attr(&s, "http.response.header.x-cache").as_deref(),
        Some(r#"["hit"]"#)
    );
    assert!(s
        .attributes
        .iter()
        .all(|kv| !kv.key.as_str().contains("authorization")));
    assert_eq!(
        traceresponse,
        format!(
            "00-{}-{}-{:02x}",
            s.span_context.trace_id(),
            s.span_context.span_id(),
            s.span_context.trace_flags().bits()
        )
    );
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_name_spans() {
    use axum::routing::get as route_get;
    let (_p, tracer, exported) = service("axum");
    let handler_tracer = tracer.clone();
    let app = axum::Router::new()
        .route(
            "/users/{id}",
            route_get(move || {
                let tracer = handler_tracer.clone();
                async move {
                    let _child = tracer.start("query");
                    "user"
                }
            }),
        )
        .layer(TraceLayer::server(tracer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (status, body) = get(addr, "/users/42", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "user"));
    let all = spans(&exported, 2).await;
    let server = named(&all, "GET /users/{id}");
    assert_eq!(attr(server, "http.route").as_deref(), Some("/users/{id}"));
    assert_eq!(attr(server, "client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        named(&all, "query").parent_span_id,
        server.span_context.span_id()
    );
    let (status, _) = get(addr, "/nope", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
