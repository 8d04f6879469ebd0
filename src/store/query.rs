//! Reading the store: trace search, whole traces, services, operations.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::encode::{attribute_hash, operation_hash, parse_attributes, service_hash};
use super::model::{kind_from_code, ns_from_sql, ns_to_sql};
use super::schema::BUCKET_SHIFT;
use super::{Operation, Store, StoreError, StoreStats, StoredSpan, TraceSummary};
use crate::trace::clock::unix_nanos;
use crate::trace::trace_state::TraceState;
use crate::trace::{Event, KeyValue, Link, SpanContext, SpanId, Status, TraceFlags, TraceId};

/// Every fixed statement the readers run, in one place so that the query
/// plan test checks exactly these.
pub(crate) mod sql {
    pub(crate) const NEWEST_TRACE: &str = "SELECT coalesce(max(id), 0) FROM traces";
    pub(crate) const TRACE_SET: &str =
        "SELECT b0, b1, b2, b3 FROM trace_sets WHERE bucket = ?1 AND hash = ?2";
    pub(crate) const SUMMARY: &str = "SELECT id, trace_id, root_span_id, root_service, \
        root_name, start_ns, end_ns, span_count, error_count, services FROM traces t \
        WHERE trace_id = ?1";
    pub(crate) const SERVICES: &str = "SELECT DISTINCT service FROM operations ORDER BY service";
    pub(crate) const OPERATIONS: &str =
        "SELECT service, name, kind FROM operations ORDER BY service, name, kind";
    pub(crate) const OPERATIONS_OF: &str = "SELECT service, name, kind FROM operations \
        WHERE service = ?1 ORDER BY service, name, kind";
    pub(crate) const TOTALS: &str = "SELECT traces, spans FROM totals WHERE id = 1";
    pub(crate) const TRACE_ROW: &str = "SELECT id FROM traces WHERE trace_id = ?1";
    pub(crate) const SPANS: &str = "SELECT span_id, span_id, parent_id, parent_remote, flags, \
        trace_state, service, name, kind, start_ns, end_ns, status_code, status_message, \
        attributes, dropped_attributes, dropped_events, dropped_links, resource, scope \
        FROM spans WHERE trace = ?1";
    pub(crate) const EVENTS: &str = "SELECT span_id, time_ns, name, attributes, \
        dropped_attributes FROM events WHERE trace = ?1 ORDER BY span_id, seq";
    pub(crate) const LINKS: &str = "SELECT span_id, linked_trace_id, linked_span_id, flags, \
        trace_state, attributes, dropped_attributes FROM links WHERE trace = ?1 \
        ORDER BY span_id, seq";
    pub(crate) const WINDOW_SPANS: &str = "SELECT t.trace_id, s.span_id, s.parent_id, \
        s.service, s.name, s.kind, s.start_ns, s.end_ns, s.status_code FROM traces t \
        JOIN spans s ON s.trace = t.id WHERE t.start_ns >= ?1 AND t.start_ns < ?2";
    pub(crate) const TRACE_PREFIX: &str =
        "SELECT trace_id FROM traces WHERE trace_id BETWEEN ?1 AND ?2 LIMIT ?3";
    pub(crate) const TIME_RANGE: &str =
        "SELECT (SELECT min(start_ns) FROM traces), (SELECT max(start_ns) FROM traces)";
    pub(crate) const RED_MINUTES: &str = "SELECT minute, service, name, kind, count, errors, \
        sketch FROM red_minutes WHERE minute BETWEEN ?1 AND ?2";
    pub(crate) const RESOURCE: &str = "SELECT attributes FROM resources WHERE id = ?1";
    pub(crate) const SCOPE: &str = "SELECT name, version FROM scopes WHERE id = ?1";
    /// All of the above, for the plan test.
    #[cfg(test)]
    pub(crate) const ALL: &[&str] = &[
        NEWEST_TRACE,
        TRACE_SET,
        SUMMARY,
        SERVICES,
        OPERATIONS,
        OPERATIONS_OF,
        TOTALS,
        TRACE_ROW,
        SPANS,
        EVENTS,
        LINKS,
        RESOURCE,
        SCOPE,
        WINDOW_SPANS,
        TRACE_PREFIX,
        TIME_RANGE,
        RED_MINUTES,
    ];
}

/// The largest `limit` a trace search accepts.
pub const MAX_LIMIT: usize = 10_000;

/// What to look for in [`Store::find_traces`]. All conditions must hold.
///
/// ```
/// use std::time::Duration;
/// use tracelite::store::TraceQuery;
///
/// let query = TraceQuery::new()
///     .service("checkout")
///     .operation("POST /orders")
///     .attribute("http.response.status_code", "500")
///     .min_duration(Duration::from_millis(250))
///     .errors_only()
///     .limit(50);
/// # let _ = query;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TraceQuery {
    service: Option<String>,
    operation: Option<String>,
    attributes: Vec<(String, String)>,
    min_duration: Option<Duration>,
    max_duration: Option<Duration>,
    start: Option<SystemTime>,
    end: Option<SystemTime>,
    errors_only: bool,
    limit: usize,
}

impl Default for TraceQuery {
    fn default() -> Self {
        TraceQuery::new()
    }
}

impl TraceQuery {
    /// Every trace, newest first, at most 20.
    pub fn new() -> TraceQuery {
        TraceQuery {
            service: None,
            operation: None,
            attributes: Vec::new(),
            min_duration: None,
            max_duration: None,
            start: None,
            end: None,
            errors_only: false,
            limit: 20,
        }
    }

    /// Traces in which `service` took part.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Traces with a span of this name in the chosen service (requires
    /// [`service`](Self::service)). Duration bounds then apply to such a
    /// span rather than to the whole trace.
    pub fn operation(mut self, name: impl Into<String>) -> Self {
        self.operation = Some(name.into());
        self
    }

    /// Traces with a span whose attribute `key` equals `value`, compared as
    /// text (`200` matches the integer 200 and the string "200"). Several
    /// attribute conditions must all hold (each on some span of the trace).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Adds an attribute condition written `key=value` (the first `=`
    /// splits; the value may contain more).
    ///
    /// ```
    /// use tracelite::store::TraceQuery;
    /// assert!(TraceQuery::new().attribute_expr("http.route=/users/{id}").is_ok());
    /// assert!(TraceQuery::new().attribute_expr("no-equals-sign").is_err());
    /// ```
    pub fn attribute_expr(self, expr: &str) -> Result<Self, StoreError> {
        match expr.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok(self.attribute(key.trim(), value.trim()))
            }
            _ => Err(StoreError::InvalidQuery(format!(
                "attribute filter {expr:?} must look like key=value"
            ))),
        }
    }

    /// Traces lasting at least this long.
    pub fn min_duration(mut self, d: Duration) -> Self {
        self.min_duration = Some(d);
        self
    }

    /// Traces lasting at most this long.
    pub fn max_duration(mut self, d: Duration) -> Self {
        self.max_duration = Some(d);
        self
    }

    /// Traces that started at or after `t`.
    pub fn start_time(mut self, t: SystemTime) -> Self {
        self.start = Some(t);
        self
    }

    /// Traces that started at or before `t`.
    pub fn end_time(mut self, t: SystemTime) -> Self {
        self.end = Some(t);
        self
    }

    /// Only traces with at least one span whose status is Error.
    pub fn errors_only(mut self) -> Self {
        self.errors_only = true;
        self
    }

    /// At most `n` traces (1..=10,000; default 20).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// How to run the search: the SQL, its parameters and how to step it.
    pub(crate) fn plan(&self) -> Result<Plan, StoreError> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(StoreError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {}",
                self.limit
            )));
        }
        if self.operation.is_some() && self.service.is_none() {
            return Err(StoreError::InvalidQuery(
                "an operation filter needs a service filter too".into(),
            ));
        }
        if let (Some(min), Some(max)) = (self.min_duration, self.max_duration) {
            if min > max {
                return Err(StoreError::InvalidQuery(format!(
                    "min duration {min:?} is greater than max duration {max:?}"
                )));
            }
        }
        let columns = "t.id, t.trace_id, t.root_span_id, t.root_service, t.root_name, \
                       t.start_ns, t.end_ns, t.span_count, t.error_count, t.services";
        let mut args: Vec<SqlValue> = Vec::new();
        let mut conditions: Vec<String> = Vec::new();
        // Service, operation and attributes are sets to intersect.
        let mut keys = Vec::new();
        if let Some(service) = &self.service {
            keys.push(match &self.operation {
                Some(op) => operation_hash(service, op),
                None => service_hash(service),
            });
        }
        keys.extend(self.attributes.iter().map(|(k, v)| attribute_hash(k, v)));
        let (from, order, step) = if keys.is_empty() {
            ("traces t", " ORDER BY t.start_ns DESC", Step::Limit)
        } else {
            // ?1: the candidates of one bucket, as a JSON list.
            args.push(SqlValue::Null);
            conditions.push("t.id IN (SELECT value FROM json_each(?1))".into());
            ("traces t", "", Step::Buckets(keys))
        };
        if let Some(start) = self.start {
            args.push(SqlValue::Integer(ns_to_sql(unix_nanos(start))));
            conditions.push(format!("t.start_ns >= ?{}", args.len()));
        }
        if let Some(end) = self.end {
            args.push(SqlValue::Integer(ns_to_sql(unix_nanos(end))));
            conditions.push(format!("t.start_ns <= ?{}", args.len()));
        }
        if self.errors_only {
            conditions.push("t.error_count > 0".into());
        }
        if self.min_duration.is_some() || self.max_duration.is_some() {
            let min = self.min_duration.map_or(0, duration_ns);
            let max = self.max_duration.map_or(i64::MAX, duration_ns);
            args.push(SqlValue::Integer(min));
            args.push(SqlValue::Integer(max));
            let (lo, hi) = (args.len() - 1, args.len());
            match (&self.service, &self.operation) {
                (Some(service), Some(op)) => {
                    // Some span of that operation lasted within the bounds:
                    // read the candidate's spans (one range of the key).
                    args.push(SqlValue::Text(service.clone()));
                    args.push(SqlValue::Text(op.clone()));
                    conditions.push(format!(
                        "EXISTS (SELECT 1 FROM spans s WHERE s.trace = t.id AND s.service = ?{} \
                         AND s.name = ?{} AND s.duration_ns BETWEEN ?{lo} AND ?{hi})",
                        args.len() - 1,
                        args.len()
                    ));
                }
                _ => conditions.push(format!("t.duration_ns BETWEEN ?{lo} AND ?{hi}")),
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let limit = match step {
            Step::Limit => format!(" LIMIT {}", self.limit),
            Step::Buckets(_) => String::new(),
        };
        Ok(Plan {
            sql: format!("SELECT {columns} FROM {from}{filter}{order}{limit}"),
            args,
            step,
        })
    }
}

/// A trace search ready to run.
pub(crate) struct Plan {
    pub(crate) sql: String,
    pub(crate) args: Vec<SqlValue>,
    step: Step,
}

/// How a plan's rows are read.
#[derive(Clone, PartialEq, Eq)]
enum Step {
    /// Rows are distinct traces in order, limited in SQL.
    Limit,
    /// Bucket by bucket, newest first: intersect the trace sets of these
    /// keys, run the SQL on the candidates (?1, a JSON list), until enough
    /// traces are found; then order them by start.
    Buckets(Vec<i64>),
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, TraceSummary)> {
    let id: i64 = row.get(0)?;
    let trace_id: Vec<u8> = row.get(1)?;
    let services: String = row.get(9)?;
    Ok((
        id,
        TraceSummary {
            trace_id: trace_id_from_blob(&trace_id),
            root_span_id: row
                .get::<_, Option<i64>>(2)?
                .map(|s| SpanId::from_u64(s as u64)),
            root_service: row.get(3)?,
            root_name: row.get(4)?,
            start_unix_nanos: ns_from_sql(row.get(5)?),
            end_unix_nanos: ns_from_sql(row.get(6)?),
            span_count: row.get::<_, i64>(7)?.max(0) as u64,
            error_count: row.get::<_, i64>(8)?.max(0) as u64,
            services: serde_json::from_str(&services).unwrap_or_default(),
        },
    ))
}

fn trace_id_from_blob(blob: &[u8]) -> TraceId {
    <[u8; 16]>::try_from(blob)
        .map(TraceId::from_bytes)
        .unwrap_or(TraceId::INVALID)
}

impl Store {
    /// Traces matching `query`, newest first.
    ///
    /// Errors with [`StoreError::InvalidQuery`] for a limit outside
    /// 1..=10,000, an operation without a service, or a minimum duration
    /// above the maximum.
    pub fn find_traces(&self, query: &TraceQuery) -> Result<Vec<TraceSummary>, StoreError> {
        let Plan {
            sql,
            mut args,
            step,
        } = query.plan()?;
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut out = Vec::new();
            match &step {
                Step::Limit => {
                    let mut rows = stmt.query(params_from_iter(args.iter()))?;
                    while let Some(row) = rows.next()? {
                        out.push(summary_from_row(row)?.1);
                    }
                }
                Step::Buckets(hashes) => {
                    let newest: i64 = conn
                        .prepare_cached(sql::NEWEST_TRACE)?
                        .query_row([], |r| r.get(0))?;
                    let mut set = conn.prepare_cached(sql::TRACE_SET)?;
                    let mut ids = String::new();
                    for bucket in (0..=newest >> BUCKET_SHIFT).rev() {
                        let mut words = [u64::MAX; 4];
                        for &hash in hashes {
                            let found = set
                                .query_row(params![bucket, hash], |r| {
                                    Ok([
                                        r.get::<_, i64>(0)? as u64,
                                        r.get::<_, i64>(1)? as u64,
                                        r.get::<_, i64>(2)? as u64,
                                        r.get::<_, i64>(3)? as u64,
                                    ])
                                })
                                .optional()?
                                .unwrap_or_default();
                            for (w, f) in words.iter_mut().zip(found) {
                                *w &= f;
                            }
                            if words == [0; 4] {
                                break;
                            }
                        }
                        if words == [0; 4] {
                            continue;
                        }
                        ids.clear();
                        ids.push('[');
                        for (w, word) in words.iter().enumerate() {
                            let mut bits = *word;
                            while bits != 0 {
                                let bit = bits.trailing_zeros() as i64;
                                bits &= bits - 1;
                                if ids.len() > 1 {
                                    ids.push(',');
                                }
                                let id = (bucket << BUCKET_SHIFT) + w as i64 * 64 + bit;
                                ids.push_str(&id.to_string());
                            }
                        }
                        ids.push(']');
                        args[0] = SqlValue::Text(ids.clone());
                        let mut rows = stmt.query(params_from_iter(args.iter()))?;
                        while let Some(row) = rows.next()? {
                            out.push(summary_from_row(row)?.1);
                        }
                        // A bucket is read whole, then ordered by start.
                        if out.len() >= query.limit {
                            break;
                        }
                    }
                }
            }
            if step != Step::Limit {
                out.sort_by_key(|t| std::cmp::Reverse(t.start_unix_nanos));
                out.truncate(query.limit);
            }
            Ok(out)
        })
    }

    /// The summary of one trace, if stored.
    pub fn trace_summary(&self, trace_id: TraceId) -> Result<Option<TraceSummary>, StoreError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached(sql::SUMMARY)?
                .query_row([&trace_id.to_bytes()[..]], summary_from_row)
                .optional()?
                .map(|(_, s)| s))
        })
    }

    /// Every stored span of a trace, by start time; empty when the trace is
    /// not stored.
    pub fn trace(&self, trace_id: TraceId) -> Result<Vec<StoredSpan>, StoreError> {
        self.with_reader(|conn| read_trace(conn, trace_id))
    }

    /// The services seen, sorted.
    pub fn services(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql::SERVICES)?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    /// The span names seen with their kinds, for one service or all, sorted.
    pub fn operations(&self, service: Option<&str>) -> Result<Vec<Operation>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = match service {
                Some(_) => conn.prepare_cached(sql::OPERATIONS_OF)?,
                None => conn.prepare_cached(sql::OPERATIONS)?,
            };
            let args = service.into_iter().collect::<Vec<_>>();
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok(Operation {
                    service: r.get(0)?,
                    name: r.get(1)?,
                    kind: kind_from_code(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The spans of the traces that started in `[from, to)`, as analysis
    /// needs them (no attributes or events), for RED metrics and the service
    /// map.
    #[cfg(feature = "sqlite")]
    pub fn spans_between(
        &self,
        from: SystemTime,
        to: SystemTime,
    ) -> Result<Vec<crate::analysis::SpanInfo>, StoreError> {
        let (from, to) = (ns_to_sql(unix_nanos(from)), ns_to_sql(unix_nanos(to)));
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql::WINDOW_SPANS)?;
            let rows = stmt.query_map([from, to], |r| {
                let trace: Vec<u8> = r.get(0)?;
                Ok(crate::analysis::SpanInfo {
                    trace_id: trace_id_from_blob(&trace),
                    span_id: SpanId::from_u64(r.get::<_, i64>(1)? as u64),
                    parent_span_id: SpanId::from_u64(r.get::<_, i64>(2)? as u64),
                    service: r.get(3)?,
                    name: r.get(4)?,
                    kind: kind_from_code(r.get(5)?),
                    start: ns_from_sql(r.get(6)?),
                    end: ns_from_sql(r.get(7)?),
                    is_error: r.get::<_, i64>(8)? == 2,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The stored traces whose id starts with `hex_prefix` (lowercase or
    /// uppercase hex, 1 to 32 digits), at most `limit`.
    pub fn trace_ids_with_prefix(
        &self,
        hex_prefix: &str,
        limit: usize,
    ) -> Result<Vec<TraceId>, StoreError> {
        let prefix = hex_prefix.trim().to_ascii_lowercase();
        if prefix.is_empty() || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(StoreError::InvalidQuery(format!(
                "{hex_prefix:?} is not a trace id or a prefix of one (1 to 32 hex digits)"
            )));
        }
        let bound = |fill: char| -> Vec<u8> {
            let mut full = prefix.clone();
            full.extend(std::iter::repeat_n(fill, 32 - prefix.len()));
            TraceId::from_hex(&full)
                .map(|t| t.to_bytes().to_vec())
                .unwrap_or_default()
        };
        let (low, high) = (bound('0'), bound('f'));
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql::TRACE_PREFIX)?;
            let rows =
                stmt.query_map(params![low, high, limit as i64], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(trace_id_from_blob(&row?));
            }
            Ok(out)
        })
    }

    /// The earliest and latest trace start stored, ns since the Unix epoch.
    pub fn time_range(&self) -> Result<Option<(u64, u64)>, StoreError> {
        self.with_reader(|conn| {
            let (min, max): (Option<i64>, Option<i64>) = conn
                .prepare_cached(sql::TIME_RANGE)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(min.zip(max).map(|(a, b)| (ns_from_sql(a), ns_from_sql(b))))
        })
    }

    /// How many traces and spans are stored and how big the file is.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let wal_bytes = {
            let mut wal = self.path().as_os_str().to_owned();
            wal.push("-wal");
            std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
        };
        self.with_reader(|conn| {
            let (traces, spans): (i64, i64) = conn
                .prepare_cached(sql::TOTALS)?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (pages, free, page_size) = page_counts(conn)?;
            Ok(StoreStats {
                traces: traces.max(0) as u64,
                spans: spans.max(0) as u64,
                used_bytes: pages.saturating_sub(free) * page_size,
                file_bytes: pages * page_size,
                wal_bytes,
            })
        })
    }
}

/// (page count, free pages, page size).
pub(crate) fn page_counts(conn: &Connection) -> rusqlite::Result<(u64, u64, u64)> {
    let get = |pragma: &str| -> rusqlite::Result<u64> {
        conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, i64>(0))
            .map(|v| v.max(0) as u64)
    };
    Ok((
        get("page_count")?,
        get("freelist_count")?,
        get("page_size")?,
    ))
}

fn read_trace(conn: &Connection, trace_id: TraceId) -> Result<Vec<StoredSpan>, StoreError> {
    let Some(trace): Option<i64> = conn
        .prepare_cached(sql::TRACE_ROW)?
        .query_row([&trace_id.to_bytes()[..]], |r| r.get(0))
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(sql::SPANS)?;
    let mut rows = stmt.query([trace])?;
    let mut spans = Vec::new();
    let mut row_ids: HashMap<i64, usize> = HashMap::new();
    let mut refs: Vec<(i64, i64)> = Vec::new();
    while let Some(r) = rows.next()? {
        let status = match r.get::<_, i64>(11)? {
            1 => Status::Ok,
            2 => Status::error(r.get::<_, String>(12)?),
            _ => Status::Unset,
        };
        let attributes: String = r.get(13)?;
        row_ids.insert(r.get(0)?, spans.len());
        refs.push((r.get(17)?, r.get(18)?));
        spans.push(StoredSpan {
            trace_id,
            span_id: SpanId::from_u64(r.get::<_, i64>(1)? as u64),
            parent_span_id: SpanId::from_u64(r.get::<_, i64>(2)? as u64),
            parent_is_remote: r.get(3)?,
            trace_flags: TraceFlags::new(r.get::<_, i64>(4)? as u8),
            trace_state: r.get(5)?,
            service: r.get(6)?,
            name: r.get(7)?,
            kind: kind_from_code(r.get(8)?),
            start_unix_nanos: ns_from_sql(r.get(9)?),
            end_unix_nanos: ns_from_sql(r.get(10)?),
            status,
            attributes: parse_attributes(&attributes),
            dropped_attributes_count: r.get(14)?,
            dropped_events_count: r.get(15)?,
            dropped_links_count: r.get(16)?,
            events: Vec::new(),
            links: Vec::new(),
            resource: Vec::new(),
            scope_name: String::new(),
            scope_version: None,
        });
    }
    drop(rows);

    let mut events = conn.prepare_cached(sql::EVENTS)?;
    let mut rows = events.query([trace])?;
    while let Some(r) = rows.next()? {
        let Some(&i) = row_ids.get(&r.get::<_, i64>(0)?) else {
            continue;
        };
        let attributes: String = r.get(3)?;
        spans[i].events.push(Event {
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_nanos(ns_from_sql(r.get(1)?)),
            name: r.get::<_, String>(2)?.into(),
            attributes: parse_attributes(&attributes),
            dropped_attributes_count: r.get(4)?,
        });
    }
    drop(rows);

    let mut links = conn.prepare_cached(sql::LINKS)?;
    let mut rows = links.query([trace])?;
    while let Some(r) = rows.next()? {
        let Some(&i) = row_ids.get(&r.get::<_, i64>(0)?) else {
            continue;
        };
        let linked: Vec<u8> = r.get(1)?;
        let state: String = r.get(4)?;
        let attributes: String = r.get(5)?;
        spans[i].links.push(Link {
            span_context: SpanContext::new(
                trace_id_from_blob(&linked),
                SpanId::from_u64(r.get::<_, i64>(2)? as u64),
                TraceFlags::new(r.get::<_, i64>(3)? as u8),
                true,
                TraceState::from_header_unchecked(&state),
            ),
            attributes: parse_attributes(&attributes),
            dropped_attributes_count: r.get(6)?,
        });
    }
    drop(rows);

    // Resources and scopes: a handful per trace.
    let mut resources: HashMap<i64, Vec<KeyValue>> = HashMap::new();
    let mut scopes: HashMap<i64, (String, Option<String>)> = HashMap::new();
    for (i, (resource, scope)) in refs.into_iter().enumerate() {
        let attributes = match resources.entry(resource) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(slot) => {
                let json: Option<String> = conn
                    .prepare_cached(sql::RESOURCE)?
                    .query_row(params![resource], |r| r.get(0))
                    .optional()?;
                slot.insert(json.map(|j| parse_attributes(&j)).unwrap_or_default())
            }
        };
        spans[i].resource = attributes.clone();
        let (name, version) = match scopes.entry(scope) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(slot) => {
                let row = conn
                    .prepare_cached(sql::SCOPE)?
                    .query_row(params![scope], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                slot.insert(row.unwrap_or_default())
            }
        };
        spans[i].scope_name = name.clone();
        spans[i].scope_version = version.clone();
    }
    // Ordered here rather than in SQL: the key's range needs no sort step.
    spans.sort_by_key(|s| (s.start_unix_nanos, s.span_id.to_u64()));
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str, args: &[SqlValue]) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let n = stmt.parameter_count();
        let args: Vec<SqlValue> = (0..n)
            .map(|i| args.get(i).cloned().unwrap_or(SqlValue::Integer(1)))
            .collect();
        stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    /// A step that reads a whole table or index rather than seeking.
    fn full_scan(sql: &str, step: &str) -> bool {
        if !step.starts_with("SCAN") {
            return false;
        }
        // `json_each` is the parameter list and a constant row no table.
        let parameters = step.contains("json_each") || step.contains("CONSTANT ROW");
        // Reading the newest traces in index order, stopped by LIMIT.
        let newest = step.contains("USING INDEX traces_by_start");
        // Listing all operations or services: the operations table is that
        // list (one row per name).
        let listing = step.starts_with("SCAN operations") && !sql.contains("WHERE");
        !(parameters || newest || listing)
    }

    #[test]
    fn every_query_seeks_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("plans.db")).unwrap();
        let now = SystemTime::now();
        let queries = [
            TraceQuery::new(),
            TraceQuery::new()
                .start_time(now)
                .end_time(now)
                .errors_only()
                .min_duration(Duration::from_millis(1)),
            TraceQuery::new().service("a"),
            TraceQuery::new()
                .service("a")
                .operation("b")
                .min_duration(Duration::from_millis(1))
                .max_duration(Duration::from_millis(5)),
            TraceQuery::new().attribute("k", "v").attribute("k2", "v2"),
        ];
        store
            .with_reader(|conn| {
                let mut checked = Vec::new();
                for q in &queries {
                    let p = q.plan().unwrap();
                    let mut args = p.args.clone();
                    if !args.is_empty() && args[0] == SqlValue::Null {
                        args[0] = SqlValue::Text("[1,2,3]".into());
                    }
                    checked.push((p.sql.clone(), plan(conn, &p.sql, &args)));
                }
                for s in sql::ALL {
                    checked.push((s.to_string(), plan(conn, s, &[])));
                }
                for (sql, steps) in checked {
                    assert!(!steps.is_empty(), "{sql}");
                    for step in &steps {
                        assert!(
                            !full_scan(&sql, step),
                            "{sql}\n  scans: {step}\n  plan: {steps:?}"
                        );
                        assert!(!step.contains("TEMP B-TREE"), "{sql}\n  sorts: {steps:?}");
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}
