//! The dashboard mounted in an axum app with `nest_service`, beside the
//! app's own routes, with the app's spans batched into the same store.
//!
//! ```sh
//! cargo run --example dashboard_axum --features axum -- --addr 127.0.0.1:3000
//! curl http://127.0.0.1:3000/hello          # make a trace
//! open http://127.0.0.1:3000/tracelite/     # the dashboard (mind the trailing slash)
//! ```

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use tracelite::dashboard::Dashboard;
use tracelite::http::TraceLayer;
use tracelite::store::{SqliteExporter, Store};
use tracelite::{BatchSpanProcessor, Resource, TracerProvider};

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::args()
        .skip_while(|a| a != "--addr")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("dashboard_axum: --addr: {e}");
            std::process::exit(2)
        });
    let store = Store::open("tracelite.db").unwrap_or_else(|e| {
        eprintln!("dashboard_axum: {e}");
        std::process::exit(1)
    });
    let processor = BatchSpanProcessor::new(SqliteExporter::new(store.clone()));
    let stats = processor.stats();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "hello-axum")]))
        .with_processor(processor)
        .build();

    let app = Router::new()
        .route("/hello", get(|| async { "hello\n" }))
        .layer(TraceLayer::server(provider.tracer("hello-axum")))
        // Mounted after the layer: the dashboard's own requests are not traced.
        .nest_service(
            "/tracelite",
            Dashboard::new(store)
                .with_batch_stats("app", stats)
                .into_service(),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| {
            eprintln!("dashboard_axum: cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
    println!(
        "listening on http://{0}; dashboard on http://{0}/tracelite/",
        listener.local_addr().unwrap()
    );
    axum::serve(listener, app).await.unwrap();
}
