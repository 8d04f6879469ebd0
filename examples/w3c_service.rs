//! The W3C Trace Context validation service.
//!
//! ```sh
//! cargo run --example w3c_service -- --addr 127.0.0.1:5000
//! # in a checkout of w3c/trace-context, with aiohttp installed:
//! STRICT_LEVEL=2 python test/test.py http://127.0.0.1:5000/test
//! ```
//!
//! `POST /test` takes a JSON array of `{"url": ..., "arguments": [...]}`;
//! for each element, in order, the service POSTs `arguments` (as JSON) to
//! `url` through TraceLite's client layer, from inside the SERVER span the
//! server layer made for the `/test` request, then answers 200. So the
//! validation suite sees exactly what TraceLite's propagation sends: the
//! caller's trace continued (or a new one when the caller's `traceparent`
//! is invalid), `tracestate` passed on, and the sampled and random flags
//! kept. `--addr` with port 0 picks a free port; the service prints
//! `listening on http://ADDR` once it accepts connections.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::{Layer, ServiceExt};
use tracelite::http::{TraceClient, TraceLayer};
use tracelite::{Resource, Tracer, TracerProvider};

type HttpClient = TraceClient<Client<HttpConnector, Full<Bytes>>>;

/// Handles one request to the service.
async fn handle(client: HttpClient, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST || req.uri().path() != "/test" {
        return reply(StatusCode::NOT_FOUND, "POST /test only");
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return reply(StatusCode::BAD_REQUEST, &format!("cannot read body: {e}")),
    };
    let Ok(serde_json::Value::Array(steps)) = serde_json::from_slice(&body) else {
        return reply(StatusCode::BAD_REQUEST, "the body must be a JSON array");
    };
    for step in steps {
        let Some(url) = step.get("url").and_then(|u| u.as_str()) else {
            return reply(StatusCode::BAD_REQUEST, "each element needs a \"url\"");
        };
        let arguments = step
            .get("arguments")
            .cloned()
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        let request = Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(arguments.to_string())));
        let Ok(request) = request else {
            return reply(StatusCode::BAD_REQUEST, &format!("bad url {url:?}"));
        };
        // The current context is the SERVER span of this request: the
        // client layer makes a CLIENT span under it and injects it.
        match client.clone().oneshot(request).await {
            Ok(response) => {
                let _ = response.into_body().collect().await;
            }
            Err(e) => eprintln!("w3c_service: calling {url} failed: {e}"),
        }
    }
    reply(StatusCode::OK, "")
}

fn reply(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_string())));
    *response.status_mut() = status;
    response
}

/// Serves the validation service on `listener` with `tracer`.
async fn run(listener: tokio::net::TcpListener, tracer: Tracer) {
    let client: HttpClient = TraceLayer::client(tracer.clone())
        .layer(Client::builder(TokioExecutor::new()).build_http());
    let app = TraceLayer::server(tracer).layer(tower::service_fn(move |req| {
        let client = client.clone();
        async move { Ok::<_, Infallible>(handle(client, req).await) }
    }));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn parse_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                addr = args
                    .next()
                    .ok_or("--addr needs a value, e.g. 127.0.0.1:5000")?
            }
            "-h" | "--help" => {
                println!("usage: w3c_service [--addr HOST:PORT]   (default 127.0.0.1:0)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    addr.parse()
        .map_err(|e| format!("--addr {addr:?} is not HOST:PORT: {e}"))
}

#[tokio::main]
async fn main() {
    let addr = match parse_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("w3c_service: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("w3c_service: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "w3c_service")]))
        .build();
    println!("listening on http://{}", listener.local_addr().unwrap());
    run(listener, provider.tracer("w3c_service")).await;
}

/// The validation suite's checks, with an in-process harness: the service
/// on 127.0.0.1:0, and a harness server that records what the service sends
/// it.
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    type Seen = Arc<Mutex<Vec<(Vec<String>, Vec<String>)>>>;

    /// Starts the service and a harness; returns their addresses and what
    /// the harness receives (traceparent values, tracestate values).
    async fn start() -> (SocketAddr, SocketAddr, Seen) {
        let provider = TracerProvider::builder().build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let service = listener.local_addr().unwrap();
        tokio::spawn(run(listener, provider.tracer("w3c")));

        let seen: Seen = Arc::default();
        let harness_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let harness = harness_listener.local_addr().unwrap();
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = harness_listener.accept().await.unwrap();
                let record = record.clone();
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let values = |name: &str| -> Vec<String> {
                        req.headers()
                            .get_all(name)
                            .iter()
                            .map(|v| v.to_str().unwrap().to_string())
                            .collect()
                    };
                    record
                        .lock()
                        .unwrap()
                        .push((values("traceparent"), values("tracestate")));
                    async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (service, harness, seen)
    }

    /// Sends `/test` with `headers`, asking for `calls` callbacks; returns
    /// what the harness received.
    async fn test(headers: &[(&str, &str)], calls: usize) -> Vec<(Vec<String>, Vec<String>)> {
        let (service, harness, seen) = start().await;
        let steps: Vec<_> = (0..calls)
            .map(|_| serde_json::json!({"url": format!("http://{harness}/callback"), "arguments": []}))
            .collect();
        let mut req = Request::post(format!("http://{service}/test"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(
                serde_json::Value::Array(steps).to_string(),
            )))
            .unwrap();
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let response = client.request(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let got = seen.lock().unwrap().clone();
        assert_eq!(got.len(), calls);
        got
    }

    fn parts(tp: &str) -> Vec<&str> {
        tp.split('-').collect()
    }

    const TRACE: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn continues_a_valid_trace_and_passes_tracestate() {
        let tp = format!("00-{TRACE}-{PARENT}-01");
        let got = test(&[("traceparent", &tp), ("tracestate", "foo=1,bar=2")], 1).await;
        let (tps, tss) = &got[0];
        assert_eq!(tps.len(), 1, "exactly one traceparent");
        let p = parts(&tps[0]);
        assert_eq!((p[0], p[1], p[3]), ("00", TRACE, "01"));
        assert_ne!(p[2], PARENT, "the parent id is the service's own span");
        assert_eq!(tss, &["foo=1,bar=2"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn header_names_are_case_insensitive_and_tracestates_combine() {
        let tp = format!("00-{TRACE}-{PARENT}-01");
        let got = test(
            &[
                ("TraceParent", &tp),
                ("TraceState", "foo=1"),
                ("tracestate", "bar=2"),
            ],
            1,
        )
        .await;
        assert_eq!(parts(&got[0].0[0])[1], TRACE);
        assert_eq!(got[0].1, ["foo=1,bar=2"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invalid_traceparent_restarts_and_drops_tracestate() {
        for bad in [
            format!("00-{}-{PARENT}-01", TRACE.to_uppercase().replace('1', "A")),
            format!("00-{}-{PARENT}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("ff-{TRACE}-{PARENT}-01"),
            format!("00-{TRACE}-{PARENT}-0x"),
            format!("00-{TRACE}-{PARENT}-01-extra"),
            format!("00-{TRACE}-{PARENT}"),
        ] {
            let got = test(&[("traceparent", &bad), ("tracestate", "foo=1")], 1).await;
            let p = parts(&got[0].0[0]);
            assert_eq!(p[0], "00");
            assert_ne!(p[1], TRACE, "{bad} was accepted");
            assert!(
                got[0].1.is_empty(),
                "{bad}: tracestate kept: {:?}",
                got[0].1
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicated_traceparent_is_invalid() {
        let a = format!("00-{TRACE}-{PARENT}-01");
        let b = format!("00-{}-{PARENT}-01", "abcdef".repeat(5) + "ab");
        let got = test(&[("traceparent", &a), ("traceparent", &b)], 1).await;
        let p = parts(&got[0].0[0]);
        assert_ne!(p[1], TRACE);
        assert_ne!(p[1], "abcdef".repeat(5) + "ab");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_higher_version_is_read_by_its_first_four_fields() {
        let tp = format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like");
        let got = test(&[("traceparent", &tp)], 1).await;
        let p = parts(&got[0].0[0]);
        assert_eq!((p[0], p[1]), ("00", TRACE));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flags_sampled_and_random_are_kept_never_invented() {
        for (incoming, expected) in [
            ("00", "00"),
            ("01", "01"),
            ("02", "02"),
            ("03", "03"),
            ("09", "01"),
            ("ff", "03"),
        ] {
            let tp = format!("00-{TRACE}-{PARENT}-{incoming}");
            let got = test(&[("traceparent", &tp)], 1).await;
            let p = parts(&got[0].0[0]);
            assert_eq!(p[1], TRACE);
            assert_eq!(p[3], expected, "incoming flags {incoming}");
        }
        // A new trace: sampled, and random because the id is random.
        let got = test(&[], 1).await;
        assert_eq!(parts(&got[0].0[0])[3], "03");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_calls_share_the_trace() {
        let got = test(&[], 3).await;
        let traces: std::collections::HashSet<_> = got
            .iter()
            .map(|(tp, _)| parts(&tp[0])[1].to_string())
            .collect();
        assert_eq!(traces.len(), 1, "one trace for one incoming request");
        let parents: std::collections::HashSet<_> = got
            .iter()
            .map(|(tp, _)| parts(&tp[0])[2].to_string())
            .collect();
        assert_eq!(parents.len(), 3, "each call is its own CLIENT span");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_requests_are_answered_not_crashed() {
        let (service, _, _) = start().await;
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        for body in [
            "{}",
            "not json",
            r#"[{"arguments": []}]"#,
            r#"[{"url": "::bad::"}]"#,
        ] {
            let req = Request::post(format!("http://{service}/test"))
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let status = client.request(req).await.unwrap().status();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
        let req = Request::get(format!("http://{service}/other"))
            .body(Full::default())
            .unwrap();
        assert_eq!(
            client.request(req).await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
}
