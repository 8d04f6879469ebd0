//! The in-memory exporter: keeps spans for assertions in tests.

use std::sync::{Arc, Mutex, MutexGuard};

use super::SpanExporter;
use crate::trace::{ExportError, SpanData};

/// Keeps every exported span in memory; clones share the same store.
///
/// The assertion tool for tests of instrumentation, TraceLite's own and
/// yours: give one clone to a [`SimpleSpanProcessor`](crate::SimpleSpanProcessor)
/// and read the spans from the other.
///
/// ```
/// use tracelite::{InMemoryExporter, SimpleSpanProcessor, TracerProvider};
///
/// let exporter = InMemoryExporter::default();
/// let provider = TracerProvider::builder()
///     .with_processor(SimpleSpanProcessor::new(exporter.clone()))
///     .build();
/// provider.tracer("test").in_span("parent", |_| {
///     provider.tracer("test").start("child").end();
/// });
/// let spans = exporter.finished_spans();
/// assert_eq!(spans.len(), 2);
/// assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
/// ```
#[derive(Clone, Default, Debug)]
pub struct InMemoryExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl InMemoryExporter {
    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The spans exported so far, in the order they ended.
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.lock().clone()
    }

    /// Removes and returns the spans exported so far.
    pub fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.lock())
    }

    /// Forgets every span.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

impl SpanExporter for InMemoryExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}
