//! The dashboard in a real browser: headless Chromium driven through
//! chromedriver (WebDriver), against a dashboard over a store the test
//! fills. Screenshots of each view go to `target/dashboard-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
//! them and sets `TRACELITE_REQUIRE_EXTERNAL_TOOLS=1`, which makes their
//! absence a failure). Elsewhere a machine without them skips the test with
//! a note; `TRACELITE_SKIP_BROWSER_TESTS=1` skips it always.
#![cfg(feature = "dashboard")]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tracelite::dashboard::Dashboard;
use tracelite::store::{SqliteExporter, Store};
use tracelite::{
    Context, KeyValue, Resource, SimpleSpanProcessor, SpanContext, SpanKind, Status, TraceFlags,
    TraceState, TracerProvider,
};

const EVIL_NAME: &str = "<img src=x onerror=alert(1)>";
const EVIL_VALUE: &str = "<script>alert(2)</script>";

/// Six traces: gateway → users, the slow ones through a database, one
/// with the hostile span.
fn fill(store: &Store) {
    let provider = |name: &'static str| {
        TracerProvider::builder()
            .with_resource(Resource::new([KeyValue::new("service.name", name)]))
            .with_processor(SimpleSpanProcessor::new(SqliteExporter::new(store.clone())))
            .build()
    };
    let (gw, users, db) = (provider("gateway"), provider("users"), provider("database"));
    let (gt, ut, dt) = (gw.tracer("t"), users.tracer("t"), db.tracer("t"));
    let now = std::time::SystemTime::now();
    for i in 0..6u64 {
        let t0 = now - Duration::from_secs(60) + Duration::from_secs(i);
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let slow = i % 2 == 1;
        let total = if slow { 300 } else { 40 };
        let root = gt
            .span("GET /users/{id}")
            .kind(SpanKind::Server)
            .start_time(ms(0))
            .start();
        let call = gt
            .span("GET")
            .kind(SpanKind::Client)
            .parent(root.context())
            .start_time(ms(2))
            .start();
        let remote = Context::from_span_context(SpanContext::new(
            call.span_context().trace_id(),
            call.span_context().span_id(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ));
        let name = if i == 5 { EVIL_NAME } else { "GET /users/{id}" };
        let server = ut
            .span(name)
            .kind(SpanKind::Server)
            .parent(remote)
            .start_time(ms(4))
            .attribute("note", EVIL_VALUE)
            .attribute("user.id", i as i64)
            .start();
        // In parallel with the query (when there is one): off the path.
        let cache = ut
            .span("cache.get")
            .parent(server.context())
            .start_time(ms(12))
            .start();
        cache.end_with_timestamp(ms(30));
        if slow {
            let q = dt
                .span("SELECT users")
                .kind(SpanKind::Server)
                .parent(server.context())
                .start_time(ms(10))
                .start();
            q.end_with_timestamp(ms(total - 20));
        }
        if i == 3 {
            server.set_status(Status::error("boom"));
        }
        if i == 5 {
            server.add_event_with_timestamp("retry", ms(20), [KeyValue::new("attempt", 1)]);
        }
        server.end_with_timestamp(ms(total - 10));
        call.end_with_timestamp(ms(total - 5));
        root.end_with_timestamp(ms(total));
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve(store: Store) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Dashboard::new(store).into_service();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Polls `script` (a JS expression) until it is true, for at most 10 s.
async fn wait_until(client: &Client, script: &str) {
    let began = Instant::now();
    loop {
        let ok = client
            .execute(&format!("return !!({script});"), vec![])
            .await
            .map(|v| v == json!(true))
            .unwrap_or(false);
        if ok {
            return;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {script}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clears the page's "view rendered" mark before a navigation that only
/// changes the fragment (the old view stays until the new one replaces it).
async fn unready(client: &Client) {
    client
        .execute(
            "document.getElementById('main').removeAttribute('data-ready');",
            vec![],
        )
        .await
        .unwrap();
}

async fn count(client: &Client, selector: &str) -> usize {
    client.find_all(Locator::Css(selector)).await.unwrap().len()
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_headless_chromium() {
    if std::env::var_os("TRACELITE_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("skipped: TRACELITE_SKIP_BROWSER_TESTS is set");
        return;
    }
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !std::path::Path::new(tool).exists() {
            let msg = format!(
                "{tool} is missing: install Debian's chromium and chromium-driver (as .ci/run does)"
            );
            assert!(
                std::env::var_os("TRACELITE_REQUIRE_EXTERNAL_TOOLS").is_none(),
                "{msg}"
            );
            eprintln!("skipped the browser test: {msg}");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("t.db")).unwrap();
    fill(&store);
    let addr = serve(store).await;

    let port = free_port();
    let _driver = Driver(
        Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900"],
        }),
    );
    let mut client = None;
    let began = Instant::now();
    while client.is_none() {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => client = Some(c),
            Err(e) => {
                assert!(
                    began.elapsed() < Duration::from_secs(20),
                    "chromedriver: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let c = client.unwrap();
    let base = format!("http://{addr}/");

    // Search: the seeded traces, then filters.
    c.goto(&base).await.unwrap();
    wait_until(
        &c,
        "document.querySelector('main[data-ready=traces] #traces')",
    )
    .await;
    assert_eq!(count(&c, "#traces tbody tr").await, 6);
    assert_eq!(count(&c, "#scatter .dot").await, 6, "one dot per trace");
    screenshot(&c, "search").await;
    // Sorting by duration puts the slow ones first.
    unready(&c).await;
    c.find(Locator::Css("th[data-sort=duration]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(&c, "location.hash.includes('sort=duration') && document.querySelector('main[data-ready=traces] #scatter')").await;
    wait_until(&c, "document.querySelector('#traces tbody tr td:last-child') && document.querySelector('#traces tbody tr td:last-child').textContent.includes('300ms')").await;
    // A dot opens its trace.
    c.find(Locator::Css("#scatter .dot"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        &c,
        "document.querySelector('main[data-ready=trace] #waterfall .wf-row')",
    )
    .await;
    // A time range that holds nothing (the traces started a minute ago).
    unready(&c).await;
    c.goto(&format!(
        "{base}#/traces?range=custom&from=2001-01-01%2000:00&to=2001-01-02%2000:00"
    ))
    .await
    .unwrap();
    wait_until(&c, "document.querySelector('#no-results')").await;
    c.goto(&format!("{base}#/traces?service=database"))
        .await
        .unwrap();
    wait_until(
        &c,
        "document.querySelectorAll('#traces tbody tr').length === 3",
    )
    .await;
    c.goto(&format!("{base}#/traces?minDuration=100ms"))
        .await
        .unwrap();
    wait_until(
        &c,
        "document.querySelectorAll('#traces tbody tr').length === 3",
    )
    .await;
    // Through the form, too.
    c.goto(&base).await.unwrap();
    wait_until(
        &c,
        "document.querySelectorAll('#traces tbody tr').length === 6",
    )
    .await;
    let min = c.find(Locator::Css("#f-min")).await.unwrap();
    min.send_keys("200ms").await.unwrap();
    c.find(Locator::Css("#f-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(&c, "location.hash.includes('minDuration=200ms') && document.querySelectorAll('#traces tbody tr').length === 3").await;

    // A slow trace: the waterfall in tree order, the critical path, details.
    c.goto(&base).await.unwrap();
    wait_until(
        &c,
        "document.querySelectorAll('#traces tbody tr').length === 6",
    )
    .await;
    let slow_link = c
        .find(Locator::XPath(
            "//table[@id='traces']//tr[td[4][text()='5']]//a",
        ))
        .await
        .unwrap();
    slow_link.click().await.unwrap();
    wait_until(
        &c,
        "document.querySelector('main[data-ready=trace] #waterfall .wf-row')",
    )
    .await;
    assert_eq!(count(&c, "#waterfall .wf-row").await, 5);
    let names: Vec<String> = {
        let mut out = Vec::new();
        for row in c
            .find_all(Locator::Css("#waterfall .wf-name"))
            .await
            .unwrap()
        {
            out.push(row.text().await.unwrap());
        }
        out
    };
    assert_eq!(names[0], "GET /users/{id}");
    assert_eq!(names[1], "GET");
    assert_eq!(
        names[3], "SELECT users",
        "children in start order under their parent"
    );
    assert_eq!(names[4], "cache.get");
    // The path runs through the database query, not the cache lookup.
    wait_until(
        &c,
        "document.querySelectorAll('#waterfall .wf-row.critical').length >= 4",
    )
    .await;
    let critical: Vec<String> = {
        let mut out = Vec::new();
        for row in c
            .find_all(Locator::Css("#waterfall .wf-row.critical .wf-name"))
            .await
            .unwrap()
        {
            out.push(row.text().await.unwrap());
        }
        out
    };
    assert!(critical.contains(&"SELECT users".to_string()));
    assert!(!critical.contains(&"cache.get".to_string()));
    screenshot(&c, "trace").await;
    c.find(Locator::XPath(
        "//div[contains(@class,'wf-row')][.//span[text()='SELECT users']]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_until(&c, "document.querySelector('#span-details')").await;
    let rows = c
        .find(Locator::Css("#span-attributes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        rows.is_empty() || !rows.contains("note"),
        "the query has no note attribute"
    );
    c.find(Locator::XPath(
        "//div[contains(@class,'wf-row')][.//span[text()='GET /users/{id}']][2]",
    ))
    .await
    .ok();
    screenshot(&c, "span-details").await;

    // The hostile trace: literal text, nothing runs.
    unready(&c).await;
    c.goto(&format!("{base}#/traces?tags=user.id%3D5"))
        .await
        .unwrap();
    wait_until(
        &c,
        "document.querySelectorAll('#traces tbody tr').length === 1",
    )
    .await;
    c.find(Locator::Css("#traces tbody tr a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        &c,
        "document.querySelector('main[data-ready=trace] #waterfall .wf-row')",
    )
    .await;
    let page_text: String = c
        .execute(
            "return document.getElementById('waterfall').textContent;",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(page_text.contains(EVIL_NAME), "the name is shown as text");
    c.find(Locator::XPath(&format!(
        "//div[contains(@class,'wf-row')][.//span[text()='{EVIL_NAME}']]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_until(&c, "document.querySelector('#span-attributes')").await;
    let attrs = c
        .find(Locator::Css("#span-attributes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(attrs.contains(EVIL_VALUE), "{attrs}");
    assert_eq!(
        count(&c, "#waterfall .wf-event").await,
        1,
        "the retry event on its bar"
    );
    assert_eq!(
        count(&c, "main img").await,
        0,
        "an <img> was created from span data"
    );
    assert_eq!(
        count(&c, "main script").await,
        0,
        "a <script> was created from span data"
    );
    assert!(c.get_alert_text().await.is_err(), "a dialog opened");
    screenshot(&c, "hostile").await;

    // The service map.
    unready(&c).await;
    c.goto(&format!("{base}#/map")).await.unwrap();
    wait_until(
        &c,
        "document.querySelector('main[data-ready=map] #service-map')",
    )
    .await;
    assert_eq!(count(&c, "#service-map .node").await, 3);
    let edges: Vec<(String, String)> = {
        let mut out = Vec::new();
        for e in c
            .find_all(Locator::Css("#service-map .edge-group"))
            .await
            .unwrap()
        {
            out.push((
                e.attr("data-from").await.unwrap().unwrap(),
                e.attr("data-to").await.unwrap().unwrap(),
            ));
        }
        out.sort();
        out
    };
    assert_eq!(
        edges,
        [
            ("gateway".to_string(), "users".to_string()),
            ("users".to_string(), "database".to_string())
        ]
    );
    screenshot(&c, "service-map").await;

    // Metrics.
    unready(&c).await;
    c.goto(&format!("{base}#/metrics")).await.unwrap();
    wait_until(
        &c,
        "document.querySelector('main[data-ready=metrics] #metrics tbody tr')",
    )
    .await;
    assert!(count(&c, "#metrics tbody tr").await >= 3);
    screenshot(&c, "metrics").await;

    // Nothing was fetched from outside the dashboard's origin.
    let origins = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)\
             .concat([location.origin]);",
            vec![],
        )
        .await
        .unwrap();
    let origins: Vec<&str> = origins
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str())
        .collect();
    let own = format!("http://{addr}");
    assert!(
        origins.iter().all(|o| *o == own),
        "requests outside the origin: {origins:?}"
    );
    c.close().await.unwrap();
}
