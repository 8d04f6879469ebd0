//! Serving the dashboard from the command line.

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tracelite::dashboard::Dashboard;
use tracelite::store::Store;

/// Serves the dashboard for `store` on `addr` until Ctrl-C.
pub fn dashboard(store: Store, addr: SocketAddr, token: Option<String>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("cannot listen on {addr}: {e} (pass another --addr, e.g. 127.0.0.1:0)")
        })?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let mut dashboard = Dashboard::new(store);
        if let Some(token) = token {
            dashboard = dashboard.with_token(token);
        }
        let service = dashboard.into_service();
        println!("dashboard on http://{local}/  (Ctrl-C to stop)");
        let accept = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        tokio::select! {
            _ = accept => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
