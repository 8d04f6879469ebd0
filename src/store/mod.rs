//! The embedded trace store: one SQLite file, written in batches, queried
//! while it is written.
//!
//! ```
//! use tracelite::store::{SqliteExporter, Store, TraceQuery};
//! use tracelite::{Resource, SimpleSpanProcessor, TracerProvider};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("traces.db");
//! let store = Store::open(&path)?;
//! let provider = TracerProvider::builder()
//!     .with_resource(Resource::new([("service.name", "checkout")]))
//!     .with_processor(SimpleSpanProcessor::new(SqliteExporter::new(store.clone())))
//!     .build();
//!
//! let tracer = provider.tracer("example");
//! tracer.span("GET /cart").start().end();
//!
//! let traces = store.find_traces(&TraceQuery::new().service("checkout"))?;
//! assert_eq!(traces.len(), 1);
//! assert_eq!(traces[0].root_name, "GET /cart");
//! let spans = store.trace(traces[0].trace_id)?;
//! assert_eq!(spans.len(), 1);
//! # Ok::<(), tracelite::store::StoreError>(())
//! ```
//!
//! # How it is laid out
//!
//! - WAL journal, `synchronous=NORMAL`: a committed batch survives a crash
//!   of the process; a power loss may lose the last batches, never corrupt
//!   the file.
//! - One writer connection, one transaction per batch, cached statements.
//!   Queries run on separate reader connections and never wait for ingest.
//! - A summary row per trace (root service and name, start, duration, span
//!   and error counts, services) kept current as spans arrive in any order,
//!   so listing traces never reads spans. Ingest is idempotent: a span
//!   stored twice is one row.
//! - Retention by age, span count or size, in bounded chunks so ingest is
//!   never held up for long ([`RetentionPolicy`]); compaction with
//!   incremental vacuum ([`Store::compact`]).
//!
//! The file is plain SQLite: `sqlite3 traces.db 'select name, duration_ns
//! from spans order by start_ns desc limit 10'` works, and attributes are
//! JSON (`json_extract(attributes, '$."http.route"')`).

mod checkpoint;
mod encode;
mod error;
mod exporter;
mod ingest;
mod metrics;
mod model;
mod query;
mod retention;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use error::StoreError;
pub use exporter::SqliteExporter;
pub use ingest::IngestReport;
pub use model::{Operation, StoreStats, StoredSpan, TraceSummary};
pub use query::TraceQuery;
pub use retention::{RetentionPolicy, RetentionReport, RetentionTask};

use ingest::Writer;

/// Readers kept open between queries; more are opened under load and
/// closed after use.
const IDLE_READERS: usize = 4;

/// A trace store over one SQLite file. Cheap to clone: clones share the
/// connections.
///
/// See the [module docs](self) for an example.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    busy_timeout: Duration,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
}

/// Options for opening a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreBuilder {
    path: PathBuf,
    busy_timeout: Duration,
    max_size: Option<u64>,
}

impl StoreBuilder {
    /// How long a statement waits for a lock held by another process before
    /// failing with [`StoreError::Busy`] (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// A hard limit on the database file's size in bytes: past it, ingest
    /// fails with [`StoreError::Full`] until retention frees space or the
    /// limit is raised. Prefer a [`RetentionPolicy`] to stay under a size;
    /// this is the backstop. Default: none.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Opens (creating if needed) the database and brings its schema up to
    /// date.
    pub fn open(self) -> Result<Store, StoreError> {
        let path = self.path;
        let mut conn = open_connection(&path, self.busy_timeout, false)?;
        // Takes effect only on a new, empty file (before the WAL switch writes
        // its header); lets `Store::compact` give pages back incrementally.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
            .map_err(|e| open_error(&path, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| open_error(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open {
                path,
                reason: format!(
                    "the file system does not support SQLite's write-ahead log (journal mode \
                     stayed {mode}); put the database on a local disk"
                ),
            });
        }
        match schema::migrate(&mut conn).map_err(|e| open_error(&path, e))? {
            schema::Migrated::Current => {}
            schema::Migrated::Newer(found) => {
                return Err(StoreError::NewerSchema {
                    path,
                    found,
                    supported: schema::VERSION,
                })
            }
        }
        conn.set_prepared_statement_cache_capacity(64);
        let checkpointer = checkpoint::Checkpointer::start(&path, self.busy_timeout);
        if checkpointer.is_running() {
            // A backstop only: the checkpoint thread keeps the log short.
            conn.execute_batch("PRAGMA wal_autocheckpoint = 65536")
                .map_err(|e| open_error(&path, e))?;
        }
        let writer = Writer::new(conn, checkpointer);
        let store = Store {
            inner: Arc::new(Inner {
                path,
                busy_timeout: self.busy_timeout,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        };
        if let Some(bytes) = self.max_size {
            store.set_max_size(Some(bytes))?;
        }
        Ok(store)
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` with default options.
    ///
    /// Errors name the path and say what to do: a missing or read-only
    /// directory, a file that is not a SQLite database, a database written
    /// by a newer TraceLite.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::builder(path).open()
    }

    /// Options for opening the store at `path`.
    pub fn builder(path: impl AsRef<Path>) -> StoreBuilder {
        StoreBuilder {
            path: path.as_ref().to_path_buf(),
            busy_timeout: Duration::from_secs(5),
            max_size: None,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Stores a batch of finished spans in one transaction: all of them, or
    /// on error none. Spans already stored (same trace and span id) are
    /// skipped, so retrying a batch is safe.
    pub fn ingest(&self, spans: &[crate::SpanData]) -> Result<IngestReport, StoreError> {
        self.writer().ingest(spans)
    }

    /// Sets or removes the hard size limit (see [`StoreBuilder::max_size`]).
    pub fn set_max_size(&self, bytes: Option<u64>) -> Result<(), StoreError> {
        self.writer().set_max_size(bytes)
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, Writer> {
        // A panic while writing rolled its transaction back: the connection
        // is still good.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on a reader connection (from the pool, or a new one).
    pub(crate) fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = open_connection(&self.inner.path, self.inner.busy_timeout, true)?;
                conn.set_prepared_statement_cache_capacity(32);
                conn
            }
        };
        let result = f(&conn);
        let mut readers = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if readers.len() < IDLE_READERS {
            readers.push(conn);
        }
        result
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

pub(crate) fn open_connection(
    path: &Path,
    busy: Duration,
    reader: bool,
) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                reason: format!(
                    "the directory {} does not exist; create it or choose another path (--db)",
                    dir.display()
                ),
            });
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(busy).map_err(|e| open_error(path, e))?;
    let pragmas = if reader {
        "PRAGMA query_only = ON;"
    } else {
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;"
    };
    conn.execute_batch(pragmas)
        .map_err(|e| open_error(path, e))?;
    // Reading the schema is the first thing that touches the file: a file
    // that is not a database fails here, with a clear message.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| open_error(path, e))?;
    Ok(conn)
}

fn open_error(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let reason = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "the file is not a SQLite database (or is damaged); move it aside or choose \
             another path (--db)"
                .to_string()
        }
        Some(ErrorCode::ReadOnly) => {
            "the file or its directory is read-only; make it writable or choose another \
             path (--db)"
                .to_string()
        }
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            "the file cannot be created or opened (is the directory writable?); choose a \
             writable path (--db)"
                .to_string()
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            return StoreError::Busy(format!("{}: {e}", path.display()))
        }
        Some(ErrorCode::DiskFull) => return StoreError::Full(format!("{}: {e}", path.display())),
        _ => format!("{e}"),
    };
    StoreError::Open {
        path: path.to_path_buf(),
        reason,
    }
}
