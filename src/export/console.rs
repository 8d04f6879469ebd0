//! The console exporter: a waterfall in the terminal for each finished trace.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, MutexGuard};

use super::SpanExporter;
use crate::render::{format_duration, render_waterfall, WaterfallOptions, WaterfallSpan};
use crate::trace::clock::unix_nanos;
use crate::trace::{ExportError, SpanData, TraceId};

/// Spans held while waiting for their local root; past this, the oldest
/// trace is printed as it is.
const MAX_PENDING_SPANS: usize = 10_000;

/// Prints each trace as a waterfall when its local root span ends:
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736 · 2 spans · 245ms
/// my-api › GET /users        245ms  ████████████████████████████
/// my-api ›   fetch_from_db   172ms      ████████████████████
/// ```
///
/// Spans are held until the root of their trace in this process ends (a span
/// with no parent, or a remote parent); spans that end after their root are
/// printed at the next flush. Colour is used when writing to a terminal and
/// `NO_COLOR` is unset; the width comes from `COLUMNS` (default 80). Span
/// names and services are escaped, so span data cannot drive the terminal.
///
/// ```
/// use tracelite::{ConsoleExporter, SimpleSpanProcessor, TracerProvider};
///
/// let provider = TracerProvider::builder()
///     .with_processor(SimpleSpanProcessor::new(ConsoleExporter::default()))
///     .build();
/// provider.tracer("demo").in_span("hello", |_| {});
/// ```
pub struct ConsoleExporter {
    state: Mutex<Pending>,
    writer: Mutex<Box<dyn Write + Send>>,
    options: WaterfallOptions,
}

#[derive(Default)]
struct Pending {
    traces: HashMap<TraceId, Vec<SpanData>>,
    /// Trace ids in the order their first span arrived.
    order: VecDeque<TraceId>,
    spans: usize,
}

impl Pending {
    fn push(&mut self, span: SpanData) {
        let id = span.span_context.trace_id();
        let list = self.traces.entry(id).or_default();
        if list.is_empty() {
            self.order.push_back(id);
        }
        list.push(span);
        self.spans += 1;
    }

    fn take(&mut self, id: TraceId) -> Vec<SpanData> {
        let spans = self.traces.remove(&id).unwrap_or_default();
        self.spans -= spans.len();
        self.order.retain(|t| *t != id);
        spans
    }

    fn take_oldest(&mut self) -> Option<Vec<SpanData>> {
        let id = *self.order.front()?;
        Some(self.take(id))
    }
}

impl Default for ConsoleExporter {
    /// Writes to stdout, with colour when stdout is a terminal and `NO_COLOR`
    /// is unset.
    fn default() -> Self {
        ConsoleExporter::builder().build()
    }
}

impl ConsoleExporter {
    /// Configures the writer, colour and width.
    pub fn builder() -> ConsoleExporterBuilder {
        ConsoleExporterBuilder {
            writer: None,
            color: None,
            width: None,
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn print(&self, spans: &[SpanData]) -> Result<(), ExportError> {
        let text = render_trace(spans, &self.options);
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(text.as_bytes())
            .and_then(|_| w.flush())
            .map_err(|e| ExportError::Failed(format!("writing the waterfall: {e}")))
    }

    fn flush_pending(&self) -> Result<(), ExportError> {
        loop {
            let Some(spans) = self.pending().take_oldest() else {
                return Ok(());
            };
            self.print(&spans)?;
        }
    }
}

/// The header line and the waterfall of one trace's spans.
fn render_trace(spans: &[SpanData], options: &WaterfallOptions) -> String {
    let rows: Vec<WaterfallSpan<'_>> = spans
        .iter()
        .map(|s| WaterfallSpan {
            span_id: s.span_context.span_id(),
            parent_span_id: s.parent_span_id,
            service: s.resource().service_name(),
            name: &s.name,
            start_unix_nanos: unix_nanos(s.start_time),
            end_unix_nanos: unix_nanos(s.end_time),
            is_error: s.status.is_error(),
        })
        .collect();
    let start = rows.iter().map(|r| r.start_unix_nanos).min().unwrap_or(0);
    let end = rows.iter().map(|r| r.end_unix_nanos).max().unwrap_or(0);
    let trace_id = spans
        .first()
        .map(|s| s.span_context.trace_id())
        .unwrap_or_default();
    let plural = if spans.len() == 1 { "" } else { "s" };
    let header = format!(
        "trace {trace_id} · {} span{plural} · {}",
        spans.len(),
        format_duration(end.saturating_sub(start))
    );
    let mut out = if options.color {
        format!("\x1b[2m{header}\x1b[0m\n")
    } else {
        format!("{header}\n")
    };
    out.push_str(&render_waterfall(&rows, options));
    out
}

impl SpanExporter for ConsoleExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        for span in batch {
            let ready = {
                let mut pending = self.pending();
                pending.push(span.clone());
                let mut ready = Vec::new();
                if span.is_local_root() {
                    ready.push(pending.take(span.span_context.trace_id()));
                }
                while pending.spans > MAX_PENDING_SPANS {
                    match pending.take_oldest() {
                        Some(spans) => ready.push(spans),
                        None => break,
                    }
                }
                ready
            };
            for spans in ready {
                self.print(&spans)?;
            }
        }
        Ok(())
    }

    fn force_flush(&self) -> Result<(), ExportError> {
        self.flush_pending()
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        self.flush_pending()
    }
}

impl fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Configures a [`ConsoleExporter`].
pub struct ConsoleExporterBuilder {
    writer: Option<Box<dyn Write + Send>>,
    color: Option<bool>,
    width: Option<usize>,
}

impl ConsoleExporterBuilder {
    /// Writes somewhere other than stdout (a file, a buffer in a test).
    /// Colour is then off unless [`with_color`](Self::with_color) says so.
    pub fn with_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.writer = Some(Box::new(writer));
        self
    }

    /// Forces colour on or off.
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = Some(color);
        self
    }

    /// Sets the line width in columns (at least 20).
    pub fn with_width(mut self, width: usize) -> Self {
        self.width = Some(width);
        self
    }

    /// Builds the exporter.
    pub fn build(self) -> ConsoleExporter {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let (writer, auto_color): (Box<dyn Write + Send>, bool) = match self.writer {
            Some(w) => (w, false),
            None => (
                Box::new(std::io::stdout()),
                std::io::stdout().is_terminal() && !no_color,
            ),
        };
        let width = self
            .width
            .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
            .unwrap_or(80)
            .max(20);
        ConsoleExporter {
            state: Mutex::new(Pending::default()),
            writer: Mutex::new(writer),
            options: WaterfallOptions {
                width,
                color: self.color.unwrap_or(auto_color),
            },
        }
    }
}
