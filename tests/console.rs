//! The console exporter end to end: spans with fixed timestamps through a
//! provider, printed as a waterfall when the local root ends.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tracelite::{
    ConsoleExporter, Resource, SimpleSpanProcessor, SpanId, SpanKind, Status, TraceFlags, TraceId,
    TraceState, TracerProvider,
};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn setup(service: &'static str, width: usize) -> (TracerProvider, Buffer) {
    let buffer = Buffer::default();
    let exporter = ConsoleExporter::builder()
        .with_writer(buffer.clone())
        .with_width(width)
        .build();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", service)]))
        .with_processor(SimpleSpanProcessor::new(exporter))
        .build();
    (provider, buffer)
}

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000) + Duration::from_millis(ms)
}

#[test]
fn prints_the_waterfall_when_the_root_ends() {
    let (provider, buffer) = setup("my-api", 72);
    let tracer = provider.tracer("my-api");
    let root = tracer
        .span("GET /users")
        .kind(SpanKind::Server)
        .start_time(at(0))
        .start();
    let trace_id = root.span_context().trace_id();
    {
        let _active = root.enter();
        let db = tracer.span("fetch_from_db").start_time(at(40)).start();
        let query = tracer
            .span("SELECT users")
            .parent(&db)
            .start_time(at(45))
            .start();
        query.end_with_timestamp(at(200));
        db.set_status(Status::error("connection reset"));
        db.end_with_timestamp(at(212));
    }
    // Nothing is printed before the root ends.
    assert_eq!(buffer.text(), "");
    root.end_with_timestamp(at(245));

    let expected = format!(
        "trace {} · 3 spans · 245ms\n\
my-api › GET /users           245ms  {}\n\
my-api ›   fetch_from_db  ✗   172ms       {}\n\
my-api ›     SELECT users     155ms        {}\n",
        trace_id,
        "█".repeat(35),
        "█".repeat(26),
        "█".repeat(23)
    );
    assert_eq!(buffer.text(), expected);
    assert!(
        !buffer.text().contains('\x1b'),
        "no colour when not a terminal"
    );
}

#[test]
fn a_remote_parent_makes_a_local_root_and_late_spans_print_on_flush() {
    let (provider, buffer) = setup("svc", 60);
    let tracer = provider.tracer("svc");
    let remote = tracelite::SpanContext::new(
        TraceId::from_u128(0xabc),
        SpanId::from_u64(0xdef),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let server = tracer
        .span("handle")
        .parent(remote)
        .start_time(at(0))
        .start();
    let background = tracer
        .span("background")
        .parent(&server)
        .start_time(at(1))
        .start();
    server.end_with_timestamp(at(10));
    let printed = buffer.text();
    assert!(printed.starts_with(&format!(
        "trace {} · 1 span · 10.0ms\n",
        TraceId::from_u128(0xabc)
    )));
    assert!(printed.contains("svc › handle"));

    // Outlives its root: held until the next flush.
    background.end_with_timestamp(at(30));
    assert_eq!(buffer.text(), printed);
    provider.force_flush().unwrap();
    let after = buffer.text();
    assert!(
        after[printed.len()..].contains("svc › background"),
        "{after}"
    );
}

#[test]
fn hostile_names_cannot_reach_the_terminal() {
    let (provider, buffer) = setup("svc\x1b]0;owned\x07", 100);
    let tracer = provider.tracer("t");
    tracer
        .span("\x1b[2J\x1b[31mred\u{202e}gnp.exe")
        .start()
        .end();
    let text = buffer.text();
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(!text.contains('\x07'));
    assert!(!text.contains('\u{202e}'));
    assert!(text.contains("\\x1b[2J"));
}
