//! Span processors and exporters: where finished spans go.
//!
//! A [`SpanProcessor`](crate::SpanProcessor) receives every finished span;
//! [`SimpleSpanProcessor`] hands each one at once to a [`SpanExporter`],
//! [`BatchSpanProcessor`] queues them and exports batches from a worker.
//! Exporters: [`InMemoryExporter`] (tests), [`ConsoleExporter`] (a waterfall
//! in the terminal).

mod batch;
mod console;
mod memory;
mod simple;

pub use batch::{BatchConfig, BatchSpanProcessor, BatchSpanProcessorBuilder, BatchStats};
pub use console::{ConsoleExporter, ConsoleExporterBuilder};
pub use memory::InMemoryExporter;
pub use simple::SimpleSpanProcessor;

use crate::trace::{ExportError, SpanData};

/// Sends finished spans somewhere: a terminal, a database, a collector.
///
/// Exporters are called from one processor at a time per batch, but must be
/// `Sync`: keep any state behind your own synchronisation. `export` may
/// block (processors call it off the application's hot path, or inline for
/// [`SimpleSpanProcessor`]).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use tracelite::{ExportError, SimpleSpanProcessor, SpanData, SpanExporter, TracerProvider};
///
/// #[derive(Default)]
/// struct CountingExporter(AtomicUsize);
///
/// impl SpanExporter for CountingExporter {
///     fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
///         self.0.fetch_add(batch.len(), Ordering::Relaxed);
///         Ok(())
///     }
/// }
///
/// let provider = TracerProvider::builder()
///     .with_processor(SimpleSpanProcessor::new(CountingExporter::default()))
///     .build();
/// provider.tracer("t").start("one").end();
/// ```
pub trait SpanExporter: Send + Sync + 'static {
    /// Exports a batch of sampled spans. A [`ExportError::Transient`] error
    /// tells a batching processor that retrying may help.
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError>;

    /// Writes out anything the exporter buffers.
    fn force_flush(&self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flushes and releases resources; later exports may fail.
    fn shutdown(&self) -> Result<(), ExportError> {
        Ok(())
    }
}
