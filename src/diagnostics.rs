//! TraceLite's own warnings, written to stderr: a tracing library must never
//! fail its host, so problems inside it are reported here and counted where
//! they happen, never raised as panics.

use std::io::Write;

/// Writes one warning line to stderr, prefixed with `tracelite:`.
pub(crate) fn warn(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "tracelite: {message}");
}
