//! Retention (deleting the oldest traces) and compaction (giving the freed
//! pages back to the file system).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use rusqlite::{params, TransactionBehavior};

use super::model::ns_to_sql;
use super::query::page_counts;
use super::schema::BUCKET_SHIFT;
use super::{Store, StoreError};
use crate::trace::clock::unix_nanos;

/// How much to keep. Whole traces are deleted, oldest first (by start), in
/// chunks of a few hundred traces, each its own short transaction, so ingest
/// waits at most one chunk.
///
/// ```
/// use std::time::Duration;
/// use tracelite::store::RetentionPolicy;
///
/// let policy = RetentionPolicy::new()
///     .max_age(Duration::from_secs(7 * 24 * 3600))
///     .max_size(512 * 1024 * 1024)
///     .interval(Duration::from_secs(60));
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    max_age: Option<Duration>,
    max_spans: Option<u64>,
    max_bytes: Option<u64>,
    interval: Duration,
    chunk: usize,
    compact: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy::new()
    }
}

impl RetentionPolicy {
    /// Keep everything; run every 60 s; compact after deleting.
    pub fn new() -> RetentionPolicy {
        RetentionPolicy {
            max_age: None,
            max_spans: None,
            max_bytes: None,
            interval: Duration::from_secs(60),
            chunk: 256,
            compact: true,
        }
    }

    /// Delete traces that started longer ago than `age`.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keep at most `spans` spans.
    pub fn max_spans(mut self, spans: u64) -> Self {
        self.max_spans = Some(spans);
        self
    }

    /// Keep the data under `bytes` (pages in use; the file shrinks to match
    /// after compaction).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// How often [`Store::start_retention`] runs (default 60 s).
    pub fn interval(mut self, every: Duration) -> Self {
        self.interval = every.max(Duration::from_millis(10));
        self
    }

    /// Traces deleted per transaction (default 256).
    pub fn chunk_size(mut self, traces: usize) -> Self {
        self.chunk = traces.clamp(1, 10_000);
        self
    }

    /// Whether to compact after deleting (default on).
    pub fn compact(mut self, compact: bool) -> Self {
        self.compact = compact;
        self
    }
}

/// What one retention run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Traces deleted.
    pub traces_deleted: u64,
    /// Spans deleted.
    pub spans_deleted: u64,
    /// Bytes given back to the file system by compaction.
    pub bytes_freed: u64,
}

/// The background retention thread started by [`Store::start_retention`];
/// stops when dropped.
#[derive(Debug)]
pub struct RetentionTask {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Deletes what `policy` says is too much, now, and compacts if it
    /// deleted anything and the policy asks for it.
    pub fn apply_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        if let Some(age) = policy.max_age {
            let cutoff = SystemTime::now()
                .checked_sub(age)
                .map(unix_nanos)
                .unwrap_or(0);
            // Metrics rollups older than the cutoff go too.
            self.writer().connection().execute(
                "DELETE FROM red_minutes WHERE minute < ?1",
                [ns_to_sql(cutoff) / super::ingest::MINUTE_NS],
            )?;
            loop {
                let ids = self.oldest(policy.chunk, Some(ns_to_sql(cutoff)))?;
                if ids.is_empty() {
                    break;
                }
                self.delete_traces(&ids, &mut report)?;
            }
        }
        if let Some(max) = policy.max_spans {
            loop {
                let spans = self.stats()?.spans;
                if spans <= max {
                    break;
                }
                let mut excess = spans - max;
                let mut ids = Vec::new();
                for (id, count) in self.oldest_with_counts(policy.chunk)? {
                    ids.push(id);
                    excess = excess.saturating_sub(count);
                    if excess == 0 {
                        break;
                    }
                }
                if ids.is_empty() {
                    break;
                }
                self.delete_traces(&ids, &mut report)?;
            }
        }
        if let Some(max) = policy.max_bytes {
            loop {
                let stats = self.stats()?;
                if stats.used_bytes <= max || stats.traces == 0 {
                    break;
                }
                // Delete about as many traces as the excess holds, at most
                // a chunk, then measure again.
                let per_trace = (stats.used_bytes / stats.traces).max(1);
                let n = (stats.used_bytes - max).div_ceil(per_trace);
                let n = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .clamp(1, policy.chunk);
                let ids = self.oldest(n, None)?;
                if ids.is_empty() {
                    break;
                }
                self.delete_traces(&ids, &mut report)?;
            }
        }
        if policy.compact && report.traces_deleted > 0 {
            report.bytes_freed = self.compact()?;
        }
        Ok(report)
    }

    /// Gives free pages back to the file system (incremental vacuum, a
    /// thousand pages per step so ingest is not held up) and truncates the
    /// write-ahead log. Returns the bytes freed from the database file.
    pub fn compact(&self) -> Result<u64, StoreError> {
        let mut freed = 0;
        loop {
            let mut writer = self.writer();
            let conn = writer.connection();
            let (before, free, page_size) = page_counts(conn)?;
            if free == 0 {
                break;
            }
            conn.execute_batch("PRAGMA incremental_vacuum(1000)")?;
            let (after, _, _) = page_counts(conn)?;
            if after >= before {
                break;
            }
            freed += (before - after) * page_size;
        }
        let mut writer = self.writer();
        writer
            .connection()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(freed)
    }

    /// Runs [`apply_retention`](Store::apply_retention) every
    /// `policy.interval` on a background thread until the returned task is
    /// dropped. Failures are reported on stderr and retried next time.
    pub fn start_retention(&self, policy: RetentionPolicy) -> RetentionTask {
        let (stop, stopped) = mpsc::channel::<()>();
        let store = self.clone();
        let thread = std::thread::Builder::new()
            .name("tracelite-retention".into())
            .spawn(move || {
                // Runs until the task is dropped (the sender disconnects).
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(policy.interval) {
                    if let Err(e) = store.apply_retention(&policy) {
                        crate::diagnostics::warn(&format!("retention failed: {e}"));
                    }
                }
            })
            .ok();
        if thread.is_none() {
            crate::diagnostics::warn("could not start the retention thread");
        }
        RetentionTask {
            stop: Some(stop),
            thread,
        }
    }

    fn oldest(&self, n: usize, before: Option<i64>) -> Result<Vec<i64>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM traces WHERE ?1 IS NULL OR start_ns < ?1 ORDER BY start_ns LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![before, n as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
        })
    }

    fn oldest_with_counts(&self, n: usize) -> Result<Vec<(i64, u64)>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT id, span_count FROM traces ORDER BY start_ns LIMIT ?1")?;
            let rows = stmt.query_map([n as i64], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn delete_traces(&self, ids: &[i64], report: &mut RetentionReport) -> Result<(), StoreError> {
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let mut writer = self.writer();
        let tx = writer
            .connection()
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (traces, spans): (i64, i64) = tx.query_row(
            "SELECT count(*), coalesce(sum(span_count), 0) FROM traces \
             WHERE id IN (SELECT value FROM json_each(?1))",
            [&list],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        for sql in [
            "DELETE FROM events WHERE trace IN (SELECT value FROM json_each(?1))",
            "DELETE FROM links WHERE trace IN (SELECT value FROM json_each(?1))",
            "DELETE FROM spans WHERE trace IN (SELECT value FROM json_each(?1))",
            "DELETE FROM traces WHERE id IN (SELECT value FROM json_each(?1))",
        ] {
            tx.prepare_cached(sql)?.execute([&list])?;
        }
        tx.prepare_cached(
            "UPDATE totals SET traces = traces - ?1, spans = spans - ?2 WHERE id = 1",
        )?
        .execute(params![traces, spans])?;
        // Take the deleted traces out of the trace sets; drop the rows of
        // buckets left empty.
        let mut buckets: std::collections::BTreeMap<i64, [u64; 4]> = Default::default();
        for &id in ids {
            let slot = (id & ((1 << BUCKET_SHIFT) - 1)) as usize;
            buckets.entry(id >> BUCKET_SHIFT).or_default()[slot / 64] |= 1 << (slot % 64);
        }
        for (bucket, mask) in buckets {
            let left: i64 = tx
                .prepare_cached("SELECT count(*) FROM traces WHERE id >= ?1 AND id < ?2")?
                .query_row(
                    params![bucket << BUCKET_SHIFT, (bucket + 1) << BUCKET_SHIFT],
                    |r| r.get(0),
                )?;
            if left == 0 {
                tx.prepare_cached("DELETE FROM trace_sets WHERE bucket = ?1")?
                    .execute([bucket])?;
            } else {
                tx.prepare_cached(
                    "UPDATE trace_sets SET b0 = b0 & ~?2, b1 = b1 & ~?3, b2 = b2 & ~?4, \
                     b3 = b3 & ~?5 WHERE bucket = ?1",
                )?
                .execute(params![
                    bucket,
                    mask[0] as i64,
                    mask[1] as i64,
                    mask[2] as i64,
                    mask[3] as i64
                ])?;
                tx.prepare_cached(
                    "DELETE FROM trace_sets WHERE bucket = ?1 AND b0 = 0 AND b1 = 0 \
                     AND b2 = 0 AND b3 = 0",
                )?
                .execute([bucket])?;
            }
        }
        tx.commit()?;
        report.traces_deleted += traces.max(0) as u64;
        report.spans_deleted += spans.max(0) as u64;
        Ok(())
    }
}
