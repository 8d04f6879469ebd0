//! The database schema and its migrations, keyed on `PRAGMA user_version`.
//!
//! Each migration moves the file from version `n` to `n + 1` inside one
//! transaction; a file at version 0 is new. Never edit a released
//! migration: add the next one.

use rusqlite::Connection;

/// Migration `i` moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE resources (
        id          INTEGER PRIMARY KEY,
        hash        INTEGER NOT NULL UNIQUE,
        attributes  TEXT NOT NULL
    );
    CREATE TABLE scopes (
        id          INTEGER PRIMARY KEY,
        hash        INTEGER NOT NULL UNIQUE,
        name        TEXT NOT NULL,
        version     TEXT,
        attributes  TEXT NOT NULL
    );
    -- One row per trace, kept current at ingest so trace lists never read spans.
    CREATE TABLE traces (
        id            INTEGER PRIMARY KEY,
        trace_id      BLOB NOT NULL UNIQUE,
        start_ns      INTEGER NOT NULL,
        end_ns        INTEGER NOT NULL,
        duration_ns   INTEGER NOT NULL,
        root_span_id  INTEGER,            -- NULL until the root span arrives
        root_service  TEXT NOT NULL,
        root_name     TEXT NOT NULL,
        span_count    INTEGER NOT NULL,
        error_count   INTEGER NOT NULL,
        services      TEXT NOT NULL       -- JSON array, sorted
    );
    CREATE INDEX traces_by_start ON traces (start_ns);
    -- Clustered by trace: a whole trace is one range read, and new
    -- traces append.
    CREATE TABLE spans (
        trace               INTEGER NOT NULL,   -- traces.id
        span_id             INTEGER NOT NULL,
        parent_id           INTEGER NOT NULL,   -- 0 for a root
        parent_remote       INTEGER NOT NULL,
        flags               INTEGER NOT NULL,
        trace_state         TEXT NOT NULL,
        service             TEXT NOT NULL,
        name                TEXT NOT NULL,
        kind                INTEGER NOT NULL,   -- OTLP numbering: 1 internal .. 5 consumer
        start_ns            INTEGER NOT NULL,
        end_ns              INTEGER NOT NULL,
        duration_ns         INTEGER NOT NULL,
        status_code         INTEGER NOT NULL,   -- 0 unset, 1 ok, 2 error
        status_message      TEXT NOT NULL,
        attributes          TEXT NOT NULL,      -- JSON object
        dropped_attributes  INTEGER NOT NULL,
        dropped_events      INTEGER NOT NULL,
        dropped_links       INTEGER NOT NULL,
        resource            INTEGER NOT NULL,   -- resources.id
        scope               INTEGER NOT NULL,   -- scopes.id
        PRIMARY KEY (trace, span_id)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        trace               INTEGER NOT NULL,
        span_id             INTEGER NOT NULL,
        seq                 INTEGER NOT NULL,
        time_ns             INTEGER NOT NULL,
        name                TEXT NOT NULL,
        attributes          TEXT NOT NULL,
        dropped_attributes  INTEGER NOT NULL,
        PRIMARY KEY (trace, span_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE links (
        trace               INTEGER NOT NULL,
        span_id             INTEGER NOT NULL,
        seq                 INTEGER NOT NULL,
        linked_trace_id     BLOB NOT NULL,
        linked_span_id      INTEGER NOT NULL,
        flags               INTEGER NOT NULL,
        trace_state         TEXT NOT NULL,
        attributes          TEXT NOT NULL,
        dropped_attributes  INTEGER NOT NULL,
        PRIMARY KEY (trace, span_id, seq)
    ) WITHOUT ROWID;
    -- Trace search. Traces are grouped in buckets of 256 consecutive ids
    -- (bucket = traces.id >> 8, so in order of arrival). For each bucket and
    -- each key -- a service that took part, a (service, span name), or a
    -- key=value over scalar span attributes, hashed with a tag per kind --
    -- a 256-bit set of the bucket's traces that have it (b0 holds traces 0..63
    -- of the bucket, b1 64..127, ...). A batch updates one row per distinct
    -- key instead of one per trace and span, new rows land in the newest
    -- bucket's few pages, and a search ANDs the sets of its conditions bucket
    -- by bucket, newest first.
    CREATE TABLE trace_sets (
        bucket  INTEGER NOT NULL,
        hash    INTEGER NOT NULL,
        b0      INTEGER NOT NULL,
        b1      INTEGER NOT NULL,
        b2      INTEGER NOT NULL,
        b3      INTEGER NOT NULL,
        PRIMARY KEY (bucket, hash)
    ) WITHOUT ROWID;
    -- Running totals, so counting never scans.
    CREATE TABLE totals (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        traces  INTEGER NOT NULL,
        spans   INTEGER NOT NULL
    );
    INSERT INTO totals (id, traces, spans) VALUES (1, 0, 0);
    -- Every (service, span name, kind) ever seen.
    CREATE TABLE operations (
        service  TEXT NOT NULL,
        name     TEXT NOT NULL,
        kind     INTEGER NOT NULL,
        PRIMARY KEY (service, name, kind)
    ) WITHOUT ROWID;
    ",
    // 2: per-minute RED rollups, so metrics over a window read minutes, not spans.
    "
    CREATE TABLE red_minutes (
        minute   INTEGER NOT NULL,      -- start_ns / 60e9
        service  TEXT NOT NULL,
        name     TEXT NOT NULL,
        kind     INTEGER NOT NULL,
        count    INTEGER NOT NULL,
        errors   INTEGER NOT NULL,
        sketch   BLOB NOT NULL,         -- analysis::DurationSketch::to_bytes
        PRIMARY KEY (minute, service, name, kind)
    ) WITHOUT ROWID;
    ",
];

/// Traces per attribute bucket, as a shift: `bucket = trace id >> 8`.
pub(crate) const BUCKET_SHIFT: u32 = 8;

/// The schema version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// What [`migrate`] found.
pub(crate) enum Migrated {
    /// The file is at [`VERSION`] (perhaps after migrating).
    Current,
    /// The file is newer than this build.
    Newer(i64),
}

/// Brings the schema up to [`VERSION`].
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Ok(Migrated::Newer(found));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated in the meantime.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now > from as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", from + 1))?;
        tx.commit()?;
    }
    Ok(Migrated::Current)
}
