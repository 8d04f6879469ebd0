//! The dashboard routed inside a plain hyper 1.x server: requests under
//! `/tracelite/` go to the dashboard service, the rest to the app (traced).
//!
//! ```sh
//! cargo run --example dashboard_hyper -- --addr 127.0.0.1:3000
//! curl http://127.0.0.1:3000/hello
//! open http://127.0.0.1:3000/tracelite/
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{Layer, ServiceExt};
use tracelite::dashboard::Dashboard;
use tracelite::http::TraceLayer;
use tracelite::store::{SqliteExporter, Store};
use tracelite::{BatchSpanProcessor, Resource, TracerProvider};

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .skip_while(|a| a != "--addr")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("dashboard_hyper: --addr: {e}");
            std::process::exit(2)
        });
    let store = Store::open("tracelite.db").unwrap_or_else(|e| {
        eprintln!("dashboard_hyper: {e}");
        std::process::exit(1)
    });
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "hello-hyper")]))
        .with_processor(BatchSpanProcessor::new(SqliteExporter::new(store.clone())))
        .build();
    let app = TraceLayer::server(provider.tracer("hello-hyper")).layer(tower::service_fn(
        |_req: Request<Incoming>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
        },
    ));
    let dashboard = Dashboard::new(store).into_service();

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("dashboard_hyper: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    let local = listener.local_addr().unwrap();
    println!("listening on http://{local}; dashboard on http://{local}/tracelite/");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (app, dashboard) = (app.clone(), dashboard.clone());
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (app, dashboard) = (app.clone(), dashboard.clone());
            async move {
                let response: Response<Body> = if req.uri().path().starts_with("/tracelite") {
                    let r = dashboard.oneshot(req).await?;
                    r.map(|b| Full::new(Bytes::from(b)).boxed_unsync())
                } else {
                    let r = app.oneshot(req).await?;
                    r.map(|b| b.boxed_unsync())
                };
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
