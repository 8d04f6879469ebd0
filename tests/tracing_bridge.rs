//! `tracing` spans and events inside TraceLite traces: a `#[instrument]`
//! function called in a TraceLite server span (real hyper server) is its
//! child; events become span events; `error!` marks the span.
#![cfg(all(feature = "tracing", feature = "tower"))]

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::Layer;
use tracelite::bridge::TraceLiteLayer;
use tracelite::http::TraceLayer;
use tracelite::{InMemoryExporter, SimpleSpanProcessor, SpanKind, Status, TracerProvider};
use tracing_subscriber::layer::SubscriberExt;

#[tracing::instrument(fields(db.system = "postgresql"))]
async fn load_user(id: u64) -> Result<String, String> {
    tokio::task::yield_now().await;
    tracing::info!(rows = 1u64, "query done");
    if id == 0 {
        tracing::error!("no such user");
        return Err("missing".into());
    }
    let inner = tracing::info_span!("decode");
    let _g = inner.enter();
    Ok(format!("user {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_code_joins_the_server_span() {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let subscriber =
        tracing_subscriber::registry().with(TraceLiteLayer::new(provider.tracer("tracing")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let handler = tower::service_fn(|req: Request<hyper::body::Incoming>| async move {
        let id: u64 = req
            .uri()
            .path()
            .trim_start_matches('/')
            .parse()
            .unwrap_or(0);
        let body = load_user(id).await.unwrap_or_else(|e| e);
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    let app = TraceLayer::server(provider.tracer("http")).layer(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for path in ["/7", "/0"] {
        let resp = client
            .get(format!("http://{addr}{path}").parse().unwrap())
            .await
            .unwrap();
        resp.into_body().collect().await.unwrap();
    }
    let began = std::time::Instant::now();
    while exporter.finished_spans().len() < 5 && began.elapsed() < std::time::Duration::from_secs(5)
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 5, "2 server spans, 2 load_user, 1 decode");
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .collect();
    assert_eq!(servers.len(), 2);
    for server in servers {
        let load = spans
            .iter()
            .find(|s| {
                s.name == "load_user" && s.span_context.trace_id() == server.span_context.trace_id()
            })
            .expect("the tracing span joined the trace");
        assert_eq!(load.parent_span_id, server.span_context.span_id());
        assert_eq!(
            load.attribute("db.system")
                .map(|v| v.to_string())
                .as_deref(),
            Some("postgresql")
        );
        assert!(load.attribute("id").is_some());
        assert_eq!(load.events[0].name, "query done");
        let id = load.attribute("id").and_then(|v| v.as_i64()).unwrap();
        if id == 0 {
            assert_eq!(load.status, Status::error("no such user"));
        } else {
            let decode = spans
                .iter()
                .find(|s| {
                    s.name == "decode"
                        && s.span_context.trace_id() == server.span_context.trace_id()
                })
                .unwrap();
            assert_eq!(decode.parent_span_id, load.span_context.span_id());
            assert_eq!(load.status, Status::Unset);
        }
    }
}
