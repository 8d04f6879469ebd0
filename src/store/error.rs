//! What can go wrong with the store, in words that say what to do.

use std::fmt;
use std::path::PathBuf;

/// An error from the SQLite store.
///
/// Open errors name the file and say what to do about it:
///
/// ```
/// use tracelite::store::{Store, StoreError};
///
/// let err = Store::open("/nonexistent-dir/traces.db").unwrap_err();
/// assert!(matches!(err, StoreError::Open { .. }));
/// assert!(err.to_string().contains("/nonexistent-dir/traces.db"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    Open {
        /// The file.
        path: PathBuf,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The file was written by a newer TraceLite whose schema this version
    /// does not know.
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
    /// The database or the disk is full (or the size limit set with
    /// [`StoreBuilder::max_size`](super::StoreBuilder::max_size) is reached).
    /// Nothing of the failed batch was written; earlier batches are intact.
    Full(String),
    /// The database stayed locked by another process past the busy timeout.
    Busy(String),
    /// A query parameter was out of range or malformed.
    InvalidQuery(String),
    /// Any other SQLite error.
    Sqlite(rusqlite::Error),
}

impl StoreError {
    /// Whether trying again later may succeed (a locked database).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, reason } => {
                write!(f, "cannot open {}: {reason}", path.display())
            }
            StoreError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "cannot open {}: it was written by a newer TraceLite (schema {found}, this \
                 version knows up to {supported}); upgrade tracelite or pass another --db path",
                path.display()
            ),
            StoreError::Full(msg) => write!(
                f,
                "the trace database is full ({msg}); free disk space, raise the size limit, or \
                 enable retention"
            ),
            StoreError::Busy(msg) => write!(
                f,
                "the trace database is locked by another process ({msg}); try again"
            ),
            StoreError::InvalidQuery(msg) => write!(f, "invalid query: {msg}"),
            StoreError::Sqlite(e) => write!(f, "trace database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy(e.to_string())
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<StoreError> for crate::ExportError {
    fn from(e: StoreError) -> crate::ExportError {
        if e.is_transient() {
            crate::ExportError::Transient(e.to_string())
        } else {
            crate::ExportError::Failed(e.to_string())
        }
    }
}
