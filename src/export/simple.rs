//! The simple processor: export each sampled span as it ends.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::SpanExporter;
use crate::diagnostics;
use crate::trace::{ExportError, SpanData, SpanProcessor};

/// Exports every sampled span inline, on the thread that ends it.
///
/// Right for tests, examples and the console exporter; for production use a
/// batching processor, which keeps export work off the request path.
/// Export failures are counted ([`failed_spans`](Self::failed_spans)) and
/// reported on stderr the first time; they never reach the application.
pub struct SimpleSpanProcessor<E> {
    exporter: E,
    failed: AtomicU64,
    warned: AtomicBool,
    shut_down: AtomicBool,
}

impl<E: SpanExporter> SimpleSpanProcessor<E> {
    /// A processor exporting to `exporter`.
    pub fn new(exporter: E) -> Self {
        SimpleSpanProcessor {
            exporter,
            failed: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
        }
    }

    /// How many spans failed to export.
    pub fn failed_spans(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl<E: SpanExporter> SpanProcessor for SimpleSpanProcessor<E> {
    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() || self.shut_down.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = self.exporter.export(std::slice::from_ref(&span)) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if !self.warned.swap(true, Ordering::Relaxed) {
                diagnostics::warn(&format!(
                    "span export failed: {e} (further failures are counted, not printed)"
                ));
            }
        }
        // Done with it: its attribute vector serves this thread's next span.
        crate::trace::recycle::recycle_record(span);
    }

    fn force_flush(&self) -> Result<(), ExportError> {
        self.exporter.force_flush()
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.exporter.shutdown()
    }
}

impl<E> fmt::Debug for SimpleSpanProcessor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleSpanProcessor")
            .field("failed", &self.failed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
