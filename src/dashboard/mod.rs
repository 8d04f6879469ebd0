//! The dashboard as a Tower service (feature `dashboard`): a JSON API shaped
//! like Jaeger's query API, plus TraceLite's own endpoints, over a
//! [`Store`]. Mount it anywhere:
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn run() {
//! use tracelite::dashboard::Dashboard;
//! use tracelite::store::Store;
//!
//! let store = Store::open("tracelite.db").unwrap();
//! let app = axum::Router::new()
//!     .nest_service("/tracelite", Dashboard::new(store).into_service());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7318").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```
//!
//! Paths are matched from the `/api/` segment on, so the service works
//! under any prefix, whether the router strips it (axum's `nest_service`)
//! or not. Every response carries `X-Content-Type-Options: nosniff`, a
//! `Content-Security-Policy` without inline scripts, and `Cache-Control:
//! no-store` for the API. With [`Dashboard::with_token`], every request
//! must carry `Authorization: Bearer <token>`.
//!
//! # Endpoints
//!
//! Jaeger's envelope `{"data", "total", "limit", "offset", "errors"}`:
//!
//! - `GET /api/services`, `GET /api/services/{service}/operations`
//! - `GET /api/operations?service=S&spanKind=server`
//! - `GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&start=&end=&limit=`
//!   (`tags` as Jaeger's JSON object `{"k":"v"}` or `k=v` pairs joined by
//!   spaces; durations like `250ms`, `1.5s`; `start`/`end` in microseconds
//!   since the epoch)
//! - `GET /api/traces/{traceID}`
//! - `GET /api/dependencies?endTs=&lookback=` (milliseconds)
//!
//! TraceLite's own: `GET /api/metrics?service=&lookback=&step=` (RED, with a
//! time series), `GET /api/traces/{id}/critical-path`,
//! `GET /api/service-map?lookback=`, `GET /api/stats`.
//!
//! A malformed parameter gets `400` with
//! `{"errors": [{"code": 400, "msg": "parameter minDuration: ..."}]}`.

mod api;
mod jaeger;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{header, HeaderValue, Request, Response, StatusCode};

use crate::store::Store;

/// The content security policy of every response: nothing from elsewhere,
/// no inline scripts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// The dashboard over a store.
#[derive(Clone, Debug)]
pub struct Dashboard {
    store: Store,
    token: Option<Arc<str>>,
    batch_stats: Vec<(String, crate::BatchStats)>,
}

impl Dashboard {
    /// A dashboard over `store`, open to whoever can reach it (bind it to
    /// 127.0.0.1, the default everywhere in TraceLite).
    pub fn new(store: Store) -> Dashboard {
        Dashboard {
            store,
            token: None,
            batch_stats: Vec::new(),
        }
    }

    /// Requires `Authorization: Bearer <token>` on every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Dashboard {
        let token: String = token.into();
        self.token = (!token.is_empty()).then(|| Arc::from(token));
        self
    }

    /// Reports a batch processor's counters (queued, exported, dropped,
    /// failed) under `name` in `api/stats`.
    pub fn with_batch_stats(
        mut self,
        name: impl Into<String>,
        stats: crate::BatchStats,
    ) -> Dashboard {
        self.batch_stats.push((name.into(), stats));
        self
    }

    /// The Tower service.
    pub fn into_service(self) -> DashboardService {
        DashboardService {
            inner: Arc::new(self),
        }
    }
}

/// The dashboard's Tower service: `Service<http::Request<B>>` for any body,
/// answering `http::Response<String>`. Clone it per connection.
#[derive(Clone, Debug)]
pub struct DashboardService {
    inner: Arc<Dashboard>,
}

impl<B> tower::Service<Request<B>> for DashboardService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let dashboard = self.inner.clone();
        let method = request.method().clone();
        let uri = request.uri().clone();
        let authorized = match &dashboard.token {
            None => true,
            Some(token) => request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
        };
        Box::pin(async move {
            let mut response = if !authorized {
                api::error(StatusCode::UNAUTHORIZED, "a bearer token is required")
            } else if method != http::Method::GET && method != http::Method::HEAD {
                api::error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served")
            } else {
                // SQLite calls block: run them off the async workers.
                let inner = dashboard.clone();
                match tokio::task::spawn_blocking(move || api::route(&inner, &uri)).await {
                    Ok(response) => response,
                    Err(_) => api::error(StatusCode::INTERNAL_SERVER_ERROR, "the query failed"),
                }
            };
            let headers = response.headers_mut();
            headers.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            Ok(response)
        })
    }
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The page and its two assets, compiled in: nothing is fetched from
/// elsewhere. Any path that is not an asset gets the page (its links and
/// API calls are relative, and its routes live in the URL's fragment).
fn asset(path: &str) -> Response<String> {
    let (body, content_type) = match path.rsplit('/').next().unwrap_or("") {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => (INDEX_HTML, "text/html; charset=utf-8"),
    };
    let mut response = Response::new(body.to_string());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
