//! The dashboard's JSON API: every endpoint over a store the test fills,
//! bad parameters, the token, the security headers, and a real server under
//! a path prefix.
#![cfg(feature = "dashboard")]

use std::time::Duration;

use http::{Request, StatusCode};
use serde_json::Value as Json;
use tower::ServiceExt;
use tracelite::dashboard::{Dashboard, DashboardService, CONTENT_SECURITY_POLICY};
use tracelite::store::{SqliteExporter, Store};
use tracelite::{
    Context, KeyValue, Resource, SimpleSpanProcessor, SpanContext, SpanKind, Status, TraceFlags,
    TraceState, TracerProvider,
};

/// gateway → users (CLIENT → SERVER across services) → an error in users,
/// and a span whose name and attribute try to inject HTML.
fn fill(store: &Store) -> String {
    let provider = |name: &'static str| {
        TracerProvider::builder()
            .with_resource(Resource::new([KeyValue::new("service.name", name)]))
            .with_processor(SimpleSpanProcessor::new(SqliteExporter::new(store.clone())))
            .build()
    };
    let (gw, users) = (provider("gateway"), provider("users"));
    let (gt, ut) = (gw.tracer("t"), users.tracer("t"));
    let root = gt.span("GET /users/{id}").kind(SpanKind::Server).start();
    let trace_id = root.span_context().trace_id().to_string();
    let call = gt
        .span("GET")
        .kind(SpanKind::Client)
        .parent(root.context())
        .start();
    let remote = Context::from_span_context(SpanContext::new(
        call.span_context().trace_id(),
        call.span_context().span_id(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    let server = ut
        .span("<img src=x onerror=alert(1)>")
        .kind(SpanKind::Server)
        .parent(remote)
        .attribute("note", "<script>alert(2)</script>")
        .attribute("http.response.status_code", 500)
        .start();
    server.add_event("retry", [KeyValue::new("attempt", 1)]);
    server.set_status(Status::error("boom"));
    std::thread::sleep(Duration::from_millis(2));
    server.end();
    call.end();
    root.end();
    trace_id
}

fn app() -> (tempfile::TempDir, Store, DashboardService, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db")).unwrap();
    let id = fill(&store);
    let service = Dashboard::new(store.clone()).into_service();
    (dir, store, service, id)
}

async fn get(svc: &DashboardService, uri: &str) -> (StatusCode, http::HeaderMap, Json) {
    let response = svc
        .clone()
        .oneshot(Request::get(uri).body(()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body();
    let json = serde_json::from_str(&body).unwrap_or(Json::Null);
    (status, headers, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers() {
    let (_dir, _store, svc, id) = app();
    let _store = &_store;

    let (status, headers, body) = get(&svc, "/api/services").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], serde_json::json!(["gateway", "users"]));
    assert_eq!(body["total"], 2);
    assert!(body["errors"].is_null());
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));

    let (_, _, body) = get(&svc, "/api/services/gateway/operations").await;
    assert_eq!(body["data"], serde_json::json!(["GET", "GET /users/{id}"]));
    let (_, _, body) = get(&svc, "/api/operations?service=gateway&spanKind=client").await;
    assert_eq!(
        body["data"],
        serde_json::json!([{"name": "GET", "spanKind": "client"}])
    );

    // Search: the Jaeger trace model.
    let (status, _, body) = get(&svc, "/api/traces?service=users&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], id);
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3);
    let evil = spans
        .iter()
        .find(|s| s["operationName"] == "<img src=x onerror=alert(1)>")
        .expect("the name comes back as data, unchanged");
    assert_eq!(evil["references"][0]["refType"], "CHILD_OF");
    assert!(evil["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "error" && t["value"] == true));
    assert_eq!(evil["logs"][0]["fields"][0]["value"], "retry");
    let process = evil["processID"].as_str().unwrap();
    assert_eq!(trace["processes"][process]["serviceName"], "users");

    let (_, _, body) = get(
        &svc,
        "/api/traces?tags=%7B%22http.response.status_code%22%3A%22500%22%7D",
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let (_, _, body) = get(&svc, "/api/traces?tags=note%3Dnothing").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    let (_, _, body) = get(&svc, "/api/traces?minDuration=1h").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0);
    let (_, _, body) = get(
        &svc,
        "/api/traces?service=gateway&operation=GET&minDuration=1ms",
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);

    let (status, _, body) = get(&svc, &format!("/api/traces/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 3);
    // Jaeger ids may lose their leading zeros.
    let (status, _, _) = get(&svc, &format!("/api/traces/{}", id.trim_start_matches('0'))).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = get(&svc, &format!("/api/traces/{id}/critical-path")).await;
    assert_eq!(status, StatusCode::OK);
    let total: u64 = body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["selfTime"].as_u64().unwrap())
        .sum();
    assert!(total > 1_000_000, "the path covers the root ({total} ns)");

    let (_, _, body) = get(&svc, "/api/dependencies").await;
    assert_eq!(
        body["data"],
        serde_json::json!([{"parent": "gateway", "child": "users", "callCount": 1}])
    );
    let (_, _, body) = get(&svc, "/api/service-map?lookback=1h").await;
    assert_eq!(body["edges"][0]["from"], "gateway");
    assert_eq!(body["nodes"].as_array().unwrap().len(), 2);

    let (status, _, body) = get(&svc, "/api/metrics?lookback=3600000&step=1m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let services = body["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    let users = services.iter().find(|s| s["service"] == "users").unwrap();
    assert_eq!(
        (users["count"].as_u64(), users["errors"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(!users["series"].as_array().unwrap().is_empty());
    let (_, _, body) = get(&svc, "/api/metrics?service=gateway").await;
    assert_eq!(body["services"].as_array().unwrap().len(), 1);

    let (_, _, body) = get(&svc, "/api/stats").await;
    assert_eq!(
        (body["traces"].as_u64(), body["spans"].as_u64()),
        (Some(1), Some(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_say_which_and_why() {
    let (_dir, _store, svc, _) = app();
    for (uri, name) in [
        ("/api/traces?minDuration=soon", "minDuration"),
        ("/api/traces?maxDuration=5parsecs", "maxDuration"),
        ("/api/traces?limit=0", "limit"),
        ("/api/traces?limit=many", "limit"),
        ("/api/traces?start=yesterday", "start"),
        ("/api/traces?tags=%7Bbroken", "tags"),
        ("/api/traces?tags=novalue", "tags"),
        ("/api/traces?operation=GET", "operation"),
        ("/api/traces?minDuration=2s&maxDuration=1s", "query"),
        ("/api/traces/not-hex", "traceID"),
        ("/api/traces/not-hex/critical-path", "traceID"),
        ("/api/operations", "service"),
        ("/api/operations?service=a&spanKind=sideways", "spanKind"),
        ("/api/dependencies?endTs=-5", "endTs"),
        ("/api/dependencies?lookback=forever", "lookback"),
        ("/api/metrics?step=5s", "step"),
        ("/api/traces?service=%ZZ", "query"),
    ] {
        let (status, _, body) = get(&svc, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let msg = body["errors"][0]["msg"].as_str().unwrap();
        assert!(
            msg.starts_with(&format!("parameter {name}:")),
            "{uri}: {msg}"
        );
        assert_eq!(body["errors"][0]["code"], 400);
    }
    let (status, _, _) = get(&svc, "/api/traces/0000000000000000000000000000abcd").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&svc, "/api/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = svc
        .clone()
        .oneshot(Request::post("/api/services").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_when_set() {
    let (_dir, store, _, _) = app();
    let svc = Dashboard::new(store).with_token("s3cret").into_service();
    let (status, headers, _) = get(&svc, "/api/services").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    for auth in ["Bearer wrong", "s3cret", "Bearer s3cre", "Basic s3cret"] {
        let response = svc
            .clone()
            .oneshot(
                Request::get("/api/services")
                    .header("authorization", auth)
                    .body(())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth}");
    }
    let response = svc
        .oneshot(
            Request::get("/api/services")
                .header("authorization", "Bearer s3cret")
                .body(())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_under_a_prefix_in_a_real_server() {
    let (_dir, store, _, _) = app();
    let router =
        axum::Router::new().nest_service("/tracelite", Dashboard::new(store).into_service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let response = client
        .get(
            format!("http://{addr}/tracelite/api/services")
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    use http_body_util::BodyExt;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["data"][0], "gateway");
}
