//! The span processor interface: what happens to spans as they start and end.

use std::fmt;
use std::time::Duration;

use super::{Context, Span, SpanData};

/// Hooks called as spans start and end; processors pass finished spans to an
/// exporter, inline or in batches.
///
/// A provider calls every processor it has, in the order they were added.
/// Processors must be cheap in `on_start` and `on_end`: both run on the
/// application's thread, inside the traced code.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tracelite::{ExportError, SpanData, SpanProcessor, TracerProvider};
///
/// #[derive(Default)]
/// struct Counter(AtomicUsize);
///
/// impl SpanProcessor for Counter {
///     fn on_end(&self, _span: SpanData) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn force_flush(&self) -> Result<(), ExportError> { Ok(()) }
///     fn shutdown(&self) -> Result<(), ExportError> { Ok(()) }
/// }
///
/// let provider = TracerProvider::builder().with_processor(Counter::default()).build();
/// provider.tracer("demo").span("work").start().end();
/// ```
pub trait SpanProcessor: Send + Sync + 'static {
    /// Called when a recorded span starts, with its parent context. The span
    /// can be changed here (for example, to add attributes).
    fn on_start(&self, span: &Span, parent: &Context) {
        let _ = (span, parent);
    }

    /// Called once when a recorded span ends. Sampled and unsampled recorded
    /// spans both arrive; exporting processors skip the unsampled ones
    /// (`span.span_context.is_sampled()`).
    fn on_end(&self, span: SpanData);

    /// [`on_end`](Self::on_end) with the finished span in a slot, which a
    /// processor that stores spans can move it out of straight into its
    /// storage: a span is a few hundred bytes, and each move on the way
    /// from the span to a queue is a copy on the application's thread. The
    /// default takes it and calls `on_end`. The slot holds a span when
    /// called; what is left in it afterwards is dropped.
    #[doc(hidden)]
    fn on_end_in(&self, span: &mut Option<SpanData>) {
        if let Some(span) = span.take() {
            self.on_end(span);
        }
    }

    /// Exports everything received so far before returning.
    fn force_flush(&self) -> Result<(), ExportError>;

    /// Flushes, then releases resources. Called once by the provider; later
    /// calls must be harmless.
    fn shutdown(&self) -> Result<(), ExportError>;
}

/// Why spans could not be processed or exported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The processor or exporter was already shut down.
    AlreadyShutdown,
    /// The operation did not finish within its time limit.
    Timeout(Duration),
    /// A failure that may succeed when tried again (a busy backend, a
    /// network blip, a locked database).
    Transient(String),
    /// A failure that retrying will not fix (bad configuration, a rejected
    /// payload).
    Failed(String),
}

impl ExportError {
    /// Whether retrying might succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ExportError::Transient(_) | ExportError::Timeout(_))
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::AlreadyShutdown => f.write_str("the span pipeline was already shut down"),
            ExportError::Timeout(d) => write!(f, "timed out after {d:?}"),
            ExportError::Transient(msg) => write!(f, "temporary export failure: {msg}"),
            ExportError::Failed(msg) => write!(f, "export failed: {msg}"),
        }
    }
}

impl std::error::Error for ExportError {}
