//! The quick start: a provider with the console exporter, a server span, a
//! tree of child spans that nest through the current context, and a
//! simulated error. When the root span ends, its waterfall is printed.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::thread::sleep;
use std::time::Duration;

use tracelite::{
    ConsoleExporter, Resource, SimpleSpanProcessor, SpanExporter, SpanKind, Status, Tracer,
    TracerProvider,
};

fn main() {
    run(ConsoleExporter::default());
}

/// Traces one simulated `GET /users` request into `exporter`.
fn run(exporter: impl SpanExporter) {
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "my-api")]))
        .with_processor(SimpleSpanProcessor::new(exporter))
        .build();
    let tracer = provider.tracer("my-api");

    let span = tracer.span("GET /users").kind(SpanKind::Server).start();
    let _active = span.enter(); // current until dropped
    span.set_attribute("http.request.method", "GET");
    span.set_attribute("url.path", "/users");

    authenticate(&tracer);
    {
        let db = tracer.span("fetch_from_db").kind(SpanKind::Client).start(); // child of the current span
        db.set_attribute("db.system", "postgresql");
        let _db_active = db.enter();
        tracer.in_span("SELECT users", |query| {
            query.set_attribute("db.query.text", "SELECT id, name FROM users LIMIT $1");
            sleep(Duration::from_millis(60));
        });
    } // ends on drop
    enrich_profiles(&tracer);
    tracer.in_span("render_json", |_| sleep(Duration::from_millis(8)));

    span.set_attribute("http.response.status_code", 200);
}

fn authenticate(tracer: &Tracer) {
    tracer.in_span("authenticate", |span| {
        span.set_attribute("enduser.id", "u-1024");
        tracer.in_span("cache.get session", |cache| {
            cache.add_event("cache.miss", [("cache.key", "session:u-1024")]);
            sleep(Duration::from_millis(3));
        });
        sleep(Duration::from_millis(12));
    });
}

/// A call to a downstream service that fails: the span records the error
/// and the waterfall marks it.
fn enrich_profiles(tracer: &Tracer) {
    tracer.in_span("enrich_profiles", |span| {
        sleep(Duration::from_millis(25));
        let err = std::io::Error::new(std::io::ErrorKind::TimedOut, "profile-svc timed out");
        span.record_error(&err);
        span.set_status(Status::error("profile-svc timed out"));
    });
}

#[cfg(test)]
mod tests {
    use tracelite::InMemoryExporter;

    #[test]
    fn quickstart_records_the_tree_and_the_error() {
        let exporter = InMemoryExporter::default();
        super::run(exporter.clone());
        let spans = exporter.finished_spans();
        let names: Vec<&str> = spans.iter().map(|s| &*s.name).collect();
        assert_eq!(
            names,
            [
                "cache.get session",
                "authenticate",
                "SELECT users",
                "fetch_from_db",
                "enrich_profiles",
                "render_json",
                "GET /users"
            ]
        );
        let root = spans.last().unwrap();
        let id_of = |name: &str| {
            spans
                .iter()
                .find(|s| s.name == name)
                .unwrap()
                .span_context
                .span_id()
        };
        for (child, parent) in [
            ("authenticate", "GET /users"),
            ("cache.get session", "authenticate"),
            ("fetch_from_db", "GET /users"),
            ("SELECT users", "fetch_from_db"),
            ("enrich_profiles", "GET /users"),
        ] {
            let c = spans.iter().find(|s| s.name == child).unwrap();
            assert_eq!(c.parent_span_id, id_of(parent), "{child} under {parent}");
            assert_eq!(c.span_context.trace_id(), root.span_context.trace_id());
        }
        let failed = spans.iter().find(|s| s.name == "enrich_profiles").unwrap();
        assert!(failed.status.is_error());
        assert_eq!(failed.events[0].name, "exception");
        assert_eq!(root.resource().service_name(), "my-api");
    }
}
