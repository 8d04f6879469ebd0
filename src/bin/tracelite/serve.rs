//! Serving the dashboard from the command line.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tracelite::dashboard::Dashboard;
use tracelite::otlp::{IngestQueue, OtlpReceiver};
use tracelite::store::{RetentionPolicy, Store};

/// Serves the dashboard for `store` on `addr` until Ctrl-C.
pub fn dashboard(store: Store, addr: SocketAddr, token: Option<String>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = bind(addr, Some("--addr")).await?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let mut dashboard = Dashboard::new(store);
        if let Some(token) = token {
            dashboard = dashboard.with_token(token);
        }
        let server = spawn_server(listener, dashboard.into_service());
        println!("dashboard on http://{local}/  (Ctrl-C to stop)");
        let _ = tokio::signal::ctrl_c().await;
        server.abort();
        Ok(())
    })
}

/// Accepts connections on `listener` and serves `service` on each, until
/// the returned task is aborted.
pub(crate) fn spawn_server<S, B>(
    listener: tokio::net::TcpListener,
    service: S,
) -> tokio::task::JoinHandle<()>
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: wait rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Binds `addr`; the error names the flag that chooses it, if any.
pub(crate) async fn bind(
    addr: SocketAddr,
    flag: Option<&str>,
) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| match flag {
            Some(flag) => format!("cannot listen on {addr}: {e} (pass another {flag})"),
            None => format!("cannot listen on {addr}: {e}"),
        })
}

/// `tracelite serve`: receiver, store and dashboard, until SIGINT/SIGTERM;
/// then stops accepting, writes everything accepted, and reports.
pub fn collector(
    db: &Path,
    otlp_addr: SocketAddr,
    addr: SocketAddr,
    retention: Option<Duration>,
    max_size: Option<u64>,
    token: Option<String>,
) -> Result<(), String> {
    let store = Store::open(db).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let queue = IngestQueue::new(store.clone(), 256);
    let _retention = (retention.is_some() || max_size.is_some()).then(|| {
        let mut policy = RetentionPolicy::new().interval(Duration::from_secs(60));
        if let Some(age) = retention {
            policy = policy.max_age(age);
        }
        if let Some(size) = max_size {
            policy = policy.max_size(size);
        }
        store.start_retention(policy)
    });
    runtime.block_on(async {
        let otlp_listener = bind(otlp_addr, Some("--otlp-addr")).await?;
        let ui_listener = bind(addr, Some("--addr")).await?;
        let otlp_local = otlp_listener.local_addr().map_err(|e| e.to_string())?;
        let ui_local = ui_listener.local_addr().map_err(|e| e.to_string())?;
        let mut dashboard = Dashboard::new(store.clone());
        if let Some(token) = token {
            dashboard = dashboard.with_token(token);
        }
        let receiver = spawn_server(otlp_listener, OtlpReceiver::new(queue.clone()));
        let ui = spawn_server(ui_listener, dashboard.into_service());
        println!("OTLP/HTTP receiver on http://{otlp_local}/v1/traces");
        println!(
            "dashboard on http://{ui_local}/  (database {})",
            db.display()
        );
        println!("Ctrl-C or SIGTERM to stop");
        wait_for_shutdown().await;
        receiver.abort();
        ui.abort();
        Ok::<_, String>(())
    })?;
    drop(runtime);
    queue.close();
    let c = queue.counters();
    println!(
        "stopped: {} spans written, {} failed, {} rejected (invalid ids), {} requests refused (queue full)",
        c.written.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
        c.rejected.load(Ordering::Relaxed),
        c.refused_requests.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
