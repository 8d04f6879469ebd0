//! From the `tracing` crate to TraceLite (feature `tracing`): a
//! `tracing_subscriber::Layer` that turns `tracing` spans into TraceLite
//! spans and `tracing` events into span events, so `tower-http`, `hyper`,
//! `sqlx` and `#[instrument]` code join TraceLite's traces unchanged.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracelite::bridge::TraceLiteLayer;
//! use tracelite::{InMemoryExporter, SimpleSpanProcessor, TracerProvider};
//!
//! let spans = InMemoryExporter::default();
//! let provider = TracerProvider::builder()
//!     .with_processor(SimpleSpanProcessor::new(spans.clone()))
//!     .build();
//! let subscriber = tracing_subscriber::registry().with(TraceLiteLayer::new(provider.tracer("tracing")));
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let _s = tracing::info_span!("load_user", user.id = 7).entered();
//!     tracing::info!(cache = "miss", "looked up");
//! });
//! let span = &spans.finished_spans()[0];
//! assert_eq!(span.name, "load_user");
//! assert_eq!(span.attribute("user.id").and_then(|v| v.as_i64()), Some(7));
//! assert_eq!(span.events[0].name, "looked up");
//! ```

use std::cell::RefCell;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::trace::{Context, ContextGuard, KeyValue, Span, Status, Tracer};

/// The layer: add it to a `tracing_subscriber::registry()`.
///
/// A `tracing` span becomes a TraceLite span named after it, with its
/// fields as attributes (and `code.namespace`, `code.filepath`,
/// `code.lineno`), child of its `tracing` parent or — when it has none —
/// of the current TraceLite context (so spans of TraceLite's HTTP layers are
/// their parents). Entering the `tracing` span makes the TraceLite span
/// current. Events inside a span become span events (the `message` field
/// names them); an `ERROR` event marks the span's status as Error.
pub struct TraceLiteLayer {
    tracer: Tracer,
}

impl TraceLiteLayer {
    /// A layer recording with `tracer`.
    pub fn new(tracer: Tracer) -> TraceLiteLayer {
        TraceLiteLayer { tracer }
    }
}

/// Stored in each `tracing` span's extensions.
struct State {
    span: Mutex<Span>,
    context: Context,
}

thread_local! {
    /// Contexts attached by `on_enter`, released by `on_exit`.
    static ENTERED: RefCell<Vec<(u64, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

struct Fields<'a> {
    out: &'a mut Vec<KeyValue>,
    message: Option<String>,
}

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.out.push(KeyValue::new(field.name(), value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.out.push(KeyValue::new(field.name(), value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.out.push(KeyValue::new(field.name(), value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.out.push(KeyValue::new(field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.out
                .push(KeyValue::new(field.name(), value.to_string()));
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.out
            .push(KeyValue::new(field.name(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        } else {
            self.out
                .push(KeyValue::new(field.name(), format!("{value:?}")));
        }
    }
}

fn collect(record: impl FnOnce(&mut Fields<'_>)) -> (Vec<KeyValue>, Option<String>) {
    let mut out = Vec::new();
    let mut fields = Fields {
        out: &mut out,
        message: None,
    };
    record(&mut fields);
    let message = fields.message.take();
    (out, message)
}

impl<S> Layer<S> for TraceLiteLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let parent = span_ref
            .parent()
            .and_then(|p| {
                let extensions = p.extensions();
                extensions.get::<State>().map(|s| s.context.clone())
            })
            .unwrap_or_else(Context::current);
        let meta = attrs.metadata();
        let (mut fields, _) = collect(|f| attrs.record(f));
        if let Some(module) = meta.module_path() {
            fields.push(KeyValue::new("code.namespace", module));
        }
        if let Some(file) = meta.file() {
            fields.push(KeyValue::new("code.filepath", file));
        }
        if let Some(line) = meta.line() {
            fields.push(KeyValue::new("code.lineno", i64::from(line)));
        }
        let span = self
            .tracer
            .span(meta.name())
            .parent(parent)
            .attributes(fields)
            .start();
        let context = span.context();
        span_ref.extensions_mut().insert(State {
            span: Mutex::new(span),
            context,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let (fields, _) = collect(|f| values.record(f));
        let extensions = span_ref.extensions();
        if let Some(state) = extensions.get::<State>() {
            let span = state.span.lock().unwrap_or_else(|e| e.into_inner());
            span.set_attributes(fields);
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let (Some(span_ref), Some(other)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let linked = {
            let other_extensions = other.extensions();
            other_extensions
                .get::<State>()
                .map(|s| s.context.span_context().clone())
        };
        let extensions = span_ref.extensions();
        if let (Some(linked), Some(state)) = (linked, extensions.get::<State>()) {
            let span = state.span.lock().unwrap_or_else(|e| e.into_inner());
            span.add_link(linked, Vec::<KeyValue>::new());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.event_span(event) else {
            return;
        };
        let meta = event.metadata();
        let (mut fields, message) = collect(|f| event.record(f));
        fields.push(KeyValue::new("level", meta.level().as_str()));
        let name = message.clone().unwrap_or_else(|| meta.name().to_string());
        let extensions = span_ref.extensions();
        if let Some(state) = extensions.get::<State>() {
            let span = state.span.lock().unwrap_or_else(|e| e.into_inner());
            if *meta.level() == Level::ERROR {
                span.set_status(Status::error(name.clone()));
            }
            span.add_event(name, fields);
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(id) else {
            return;
        };
        let context = {
            let extensions = span_ref.extensions();
            extensions.get::<State>().map(|s| s.context.clone())
        };
        if let Some(context) = context {
            let guard = context.attach();
            ENTERED.with(|e| e.borrow_mut().push((id.into_u64(), guard)));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let raw = id.into_u64();
        let guard = ENTERED.with(|e| {
            let mut e = e.borrow_mut();
            e.iter()
                .rposition(|(i, _)| *i == raw)
                .map(|at| e.remove(at))
        });
        drop(guard);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else {
            return;
        };
        let state = span_ref.extensions_mut().remove::<State>();
        if let Some(state) = state {
            let span = state.span.into_inner().unwrap_or_else(|e| e.into_inner());
            span.end();
        }
    }
}

impl std::fmt::Debug for TraceLiteLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLiteLayer").finish_non_exhaustive()
    }
}
