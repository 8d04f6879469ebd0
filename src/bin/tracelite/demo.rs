//! `tracelite demo`: three real services on 127.0.0.1, traced with the
//! TraceLite layers and batching into the database; traffic; a report.
//!
//! gateway (`GET /users/{id}`: auth, then user-svc) → user-svc (cache, then
//! the database on a miss; a few percent of its requests fail) → database
//! (`POST /query`: a simulated query, usually a few ms, with a slow tail and
//! rare errors).

use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tracelite::analysis::{red_metrics, service_map, RedOptions};
use tracelite::http::{TraceClient, TraceLayer};
use tracelite::render::{render_red_table, render_service_map};
use tracelite::store::{SqliteExporter, Store, TraceQuery};
use tracelite::{BatchSpanProcessor, KeyValue, Resource, SpanKind, Status, Tracer, TracerProvider};

use crate::commands;

type HttpClient = TraceClient<Client<HttpConnector, Full<Bytes>>>;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
/// The traffic phase stops here whatever `--requests` says.
const TRAFFIC_LIMIT: Duration = Duration::from_secs(25);

/// A small deterministic generator: the demo's "randomness".
fn pseudo_random(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r
}

fn provider(store: &Store, service: &'static str) -> TracerProvider {
    TracerProvider::builder()
        .with_resource(Resource::new([
            KeyValue::new("service.name", service),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ]))
        .with_processor(
            BatchSpanProcessor::builder(SqliteExporter::new(store.clone()))
                .with_scheduled_delay(Duration::from_millis(200))
                .with_max_queue_size(16_384)
                .build(),
        )
        .build()
}

/// Serves `service` on a free port of 127.0.0.1.
async fn serve<S, B>(service: S) -> Result<SocketAddr, String>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = crate::serve::bind(([127, 0, 0, 1], 0).into(), None).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    crate::serve::spawn_server(listener, service);
    Ok(addr)
}

fn user_id(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn database(
    tracer: Tracer,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = user_id(req.uri().path());
    let r = pseudo_random(id ^ 0xdb);
    let query = tracer
        .span("SELECT users")
        .kind(SpanKind::Internal)
        .attributes([
            KeyValue::new("db.system", "postgresql"),
            KeyValue::new("db.operation.name", "SELECT"),
            KeyValue::new("db.collection.name", "users"),
        ])
        .start();
    // Usually 2-8 ms; one query in twenty takes 40-120 ms (a slow tail).
    let ms = if r % 20 == 0 { 40 + r % 80 } else { 2 + r % 7 };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if r % 40 == 7 {
        query.set_status(Status::error("deadlock detected"));
        return Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "deadlock detected"));
    }
    query.set_attribute("db.response.returned_rows", 1);
    Ok(text(
        StatusCode::OK,
        format!("{{\"id\":{id},\"name\":\"user-{id}\"}}"),
    ))
}

async fn user_svc(
    tracer: Tracer,
    db: HttpClient,
    db_addr: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = user_id(req.uri().path());
    let r = pseudo_random(id ^ 0x05e7);
    {
        let cache = tracer.start("cache.get");
        cache.set_attribute("cache.key", format!("user:{id}"));
        tokio::time::sleep(Duration::from_micros(300 + r % 500)).await;
        let hit = r % 3 == 0;
        cache.set_attribute("cache.hit", hit);
        if hit {
            return Ok(text(
                StatusCode::OK,
                format!("{{\"id\":{id},\"cached\":true}}"),
            ));
        }
    }
    if r % 25 == 3 {
        // A flaky dependency inside user-svc.
        let span = tracer.start("enrich profile");
        span.set_status(Status::error("profile service timed out"));
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "profile service timed out",
        ));
    }
    let query = Request::post(format!("http://{db_addr}/query/{id}"))
        .body(Full::new(Bytes::from_static(
            b"SELECT * FROM users WHERE id = $1",
        )))
        .expect("a valid request");
    match db.oneshot(query).await {
        Ok(resp) if resp.status().is_success() => {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Response::new(Full::new(body)))
        }
        Ok(_) => Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "database error")),
        Err(e) => Ok(text(
            StatusCode::BAD_GATEWAY,
            format!("database unreachable: {e}"),
        )),
    }
}

async fn gateway(
    tracer: Tracer,
    users: HttpClient,
    users_addr: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let id = user_id(req.uri().path());
    {
        let auth = tracer.start("auth.verify");
        auth.set_attribute("enduser.id", format!("user-{}", id % 50));
        tokio::time::sleep(Duration::from_micros(500 + pseudo_random(id) % 1500)).await;
    }
    let call = Request::get(format!("http://{users_addr}/users/{id}"))
        .body(Full::default())
        .expect("a valid request");
    match users.oneshot(call).await {
        Ok(resp) => {
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if status.is_success() {
                Ok(Response::new(Full::new(body)))
            } else {
                Ok(text(StatusCode::BAD_GATEWAY, "user-svc failed"))
            }
        }
        Err(e) => Ok(text(
            StatusCode::BAD_GATEWAY,
            format!("user-svc unreachable: {e}"),
        )),
    }
}

fn route(
    prefix: &'static str,
    template: &'static str,
) -> impl Fn(&http::request::Parts) -> Option<String> + Send + Sync + 'static {
    move |parts| {
        parts
            .uri
            .path()
            .starts_with(prefix)
            .then(|| template.to_string())
    }
}

pub fn run(db: &Path, requests: u32, no_serve: bool) -> Result<(), String> {
    let store = Store::open(db).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let began_at = SystemTime::now();
    let providers = [
        provider(&store, "gateway"),
        provider(&store, "user-svc"),
        provider(&store, "database"),
    ];
    let (sent, failed) = runtime.block_on(async {
        let client = || Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let db_tracer = providers[2].tracer("demo");
        let db_addr = serve(
            TraceLayer::server(db_tracer.clone())
                .with_route(route("/query/", "/query/{id}"))
                .layer(tower::service_fn(move |req| {
                    database(db_tracer.clone(), req)
                })),
        )
        .await?;
        let users_tracer = providers[1].tracer("demo");
        let to_db = TraceLayer::client(users_tracer.clone()).layer(client());
        let users_addr = serve(
            TraceLayer::server(users_tracer.clone())
                .with_route(route("/users/", "/users/{id}"))
                .layer(tower::service_fn(move |req| {
                    user_svc(users_tracer.clone(), to_db.clone(), db_addr, req)
                })),
        )
        .await?;
        let gw_tracer = providers[0].tracer("demo");
        let to_users = TraceLayer::client(gw_tracer.clone()).layer(client());
        let gateway_addr = serve(
            TraceLayer::server(gw_tracer.clone())
                .with_route(route("/users/", "/users/{id}"))
                .layer(tower::service_fn(move |req| {
                    gateway(gw_tracer.clone(), to_users.clone(), users_addr, req)
                })),
        )
        .await?;
        eprintln!(
            "demo: gateway on http://{gateway_addr}, user-svc on http://{users_addr}, \
             database on http://{db_addr}; traces go to {}",
            db.display()
        );
        Ok::<_, String>(traffic(gateway_addr, requests).await)
    })?;
    for p in &providers {
        let _ = p.force_flush();
    }
    drop(runtime);
    eprintln!();
    report(&store, db, began_at, sent, failed)?;
    if no_serve {
        return Ok(());
    }
    println!();
    let addr: SocketAddr = "127.0.0.1:7318".parse().expect("a valid address");
    let addr = if std::net::TcpListener::bind(addr).is_ok() {
        addr
    } else {
        "127.0.0.1:0".parse().expect("a valid address")
    };
    crate::serve::dashboard(store, addr, None)
}

/// Sends `requests` GETs to the gateway, `CONCURRENCY` at a time, with a
/// progress bar; returns (sent, failed).
async fn traffic(gateway: SocketAddr, requests: u32) -> (u64, u64) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let total = u64::from(requests);
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, next, done, failed) =
            (client.clone(), next.clone(), done.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || started.elapsed() > TRAFFIC_LIMIT {
                    break;
                }
                let uri = format!("http://{gateway}/users/{}", pseudo_random(i) % 1000);
                let ok = match client.get(uri.parse().expect("a valid uri")).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        ok
                    }
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let tty = std::io::stderr().is_terminal();
    loop {
        let n = done.load(Ordering::Relaxed);
        if tty {
            let width = 30;
            let filled = (n * width / total.max(1)) as usize;
            eprint!(
                "\rsending requests [{}{}] {n}/{total}",
                "#".repeat(filled),
                ".".repeat(width as usize - filled)
            );
            let _ = std::io::stderr().flush();
        }
        if workers.iter().all(|w| w.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in workers {
        let _ = w.await;
    }
    let n = done.load(Ordering::Relaxed);
    let f = failed.load(Ordering::Relaxed);
    eprint!(
        "{}sent {n} requests in {:.1}s, {f} failed",
        if tty { "\r\n" } else { "" },
        started.elapsed().as_secs_f64()
    );
    (n, f)
}

fn report(
    store: &Store,
    db: &Path,
    since: SystemTime,
    sent: u64,
    failed: u64,
) -> Result<(), String> {
    let to = SystemTime::now();
    let spans = store
        .spans_between(since, to + Duration::from_secs(1))
        .map_err(|e| e.to_string())?;
    println!(
        "\nTraceLite recorded {} spans from {sent} requests ({failed} failed) in {}.",
        spans.len(),
        db.display()
    );

    // The slowest trace of the run, with its critical path.
    let traces = store
        .find_traces(
            &TraceQuery::new()
                .service("gateway")
                .start_time(since)
                .limit(10_000),
        )
        .map_err(|e| e.to_string())?;
    if let Some(slowest) = traces.iter().max_by_key(|t| t.duration()) {
        println!("\n── the slowest request, its critical path drawn solid ──\n");
        let stored = store.trace(slowest.trace_id).map_err(|e| e.to_string())?;
        commands::show(store, slowest.trace_id, &stored, true, false)?;
    }

    println!("\n── service map ──\n");
    print!(
        "{}",
        render_service_map(&service_map(&spans), commands::color())
    );

    println!("\n── RED metrics (requests handled, per service and operation) ──\n");
    // Exact, over the run itself (`tracelite metrics` reads the per-minute
    // rollups, so its rates are per minute of the window).
    let window = RedOptions::new(
        tracelite::trace::clock::unix_nanos(since),
        tracelite::trace::clock::unix_nanos(to) + 1,
    );
    print!(
        "{}",
        render_red_table(&red_metrics(&spans, &window), commands::color())
    );

    let db_arg = if db == Path::new("tracelite.db") {
        String::new()
    } else {
        format!(" --db {}", db.display())
    };
    let example = traces
        .iter()
        .find(|t| t.error_count > 0)
        .or(traces.first())
        .map(|t| t.trace_id.to_string()[..12].to_string())
        .unwrap_or_default();
    println!("\nTry next:");
    println!("  tracelite traces{db_arg} --errors                 # failed requests");
    println!("  tracelite traces{db_arg} --service database --min-duration 40ms");
    println!("  tracelite show{db_arg} {example} --critical-path");
    println!("  tracelite metrics{db_arg} --since 1h");
    println!("  tracelite map{db_arg}");
    println!("  tracelite stats{db_arg}");
    Ok(())
}
