//! The store as a span exporter.

use super::Store;
use crate::export::SpanExporter;
use crate::trace::{ExportError, SpanData};

/// Writes finished spans to a [`Store`]: plug it into a
/// [`BatchSpanProcessor`](crate::BatchSpanProcessor) (one transaction per
/// batch) or, for tests and tools, a
/// [`SimpleSpanProcessor`](crate::SimpleSpanProcessor).
///
/// A locked database is reported as a transient error (the batch processor
/// retries); a full disk or any other failure as a permanent one (counted
/// as failed; the application carries on and later batches are written
/// once there is room again).
///
/// ```
/// use tracelite::store::{SqliteExporter, Store};
/// use tracelite::{BatchSpanProcessor, TracerProvider};
///
/// # let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path().join("traces.db"))?;
/// let provider = TracerProvider::builder()
///     .with_processor(BatchSpanProcessor::new(SqliteExporter::new(store.clone())))
///     .build();
/// provider.tracer("app").start("work").end();
/// provider.force_flush()?;
/// assert_eq!(store.stats()?.spans, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SqliteExporter {
    store: Store,
}

impl SqliteExporter {
    /// An exporter writing to `store`.
    pub fn new(store: Store) -> SqliteExporter {
        SqliteExporter { store }
    }

    /// The store written to.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl SpanExporter for SqliteExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.store.ingest(batch).map(|_| ()).map_err(Into::into)
    }
}
