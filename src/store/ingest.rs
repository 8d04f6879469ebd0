//! The writer: one connection, one transaction per batch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::checkpoint::Checkpointer;
use super::encode::{
    attribute_hash, attributes_json, canonical_text, operation_hash, push_attributes, service_hash,
    text_hash,
};
use super::model::{kind_code, ns_to_sql};
use super::schema::BUCKET_SHIFT;
use super::StoreError;
use crate::analysis::DurationSketch;
use crate::trace::clock::unix_nanos;
use crate::trace::{SpanData, Status, TraceId};

/// A RED rollup row's key: (minute, service, span name, kind).
type RedKey<'b> = (i64, Arc<str>, &'b str, i64);
/// What a batch adds to a rollup row: (count, errors, durations).
type RedAcc = (u64, u64, DurationSketch);

/// One minute in ns: the RED rollups' resolution.
pub(crate) const MINUTE_NS: i64 = 60_000_000_000;

/// What one call to [`Store::ingest`](super::Store::ingest) stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Spans written.
    pub stored: usize,
    /// Spans skipped because a span with the same trace and span id was
    /// already stored.
    pub duplicates: usize,
}

pub(crate) struct Writer {
    conn: Connection,
    /// Content hash → row id, of rows known to be committed.
    resource_ids: HashMap<i64, i64>,
    scope_ids: HashMap<i64, i64>,
    /// service → span name → bit set of kinds, committed.
    known_operations: HashMap<String, HashMap<String, u8>>,
    checkpointer: Checkpointer,
}

/// Ids of the rows describing where a span came from.
struct OriginRow {
    /// The origin id (shared by a tracer's per-thread copies).
    origin: u64,
    resource: i64,
    scope: i64,
    service: Arc<str>,
    /// The trace-set key of the service, computed once per origin.
    service_key: i64,
}

/// What a batch adds to one trace.
struct TraceUpdate {
    trace_id: TraceId,
    /// The row id, existing or reserved.
    id: i64,
    existing: Option<TraceRow>,
    spans: Vec<usize>,
    start: i64,
    end: i64,
    count: i64,
    errors: i64,
    root: Option<(i64, usize)>,
    earliest: Option<(i64, usize)>,
    services: Vec<Arc<str>>,
    /// Keys of the trace sets this batch puts the trace in.
    set_keys: HashSet<i64>,
}

struct TraceRow {
    start: i64,
    end: i64,
    root_span_id: Option<i64>,
    root_service: String,
    root_name: String,
    span_count: i64,
    error_count: i64,
    services: String,
}

impl Writer {
    pub(crate) fn new(conn: Connection, checkpointer: Checkpointer) -> Writer {
        Writer {
            conn,
            resource_ids: HashMap::new(),
            scope_ids: HashMap::new(),
            known_operations: HashMap::new(),
            checkpointer,
        }
    }

    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub(crate) fn set_max_size(&mut self, bytes: Option<u64>) -> Result<(), StoreError> {
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = match bytes {
            Some(b) => (b / page_size.max(512) as u64).max(1),
            None => 0xffff_fffe,
        };
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(())
    }

    /// Stores a batch in one transaction: all of it, or (on error) none.
    pub(crate) fn ingest(&mut self, batch: &[SpanData]) -> Result<IngestReport, StoreError> {
        if batch.is_empty() {
            return Ok(IngestReport::default());
        }
        let Writer {
            conn,
            resource_ids,
            scope_ids,
            known_operations,
            checkpointer,
        } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut new_resources = Vec::new();
        let mut new_scopes = Vec::new();
        let mut new_operations = Vec::new();
        let mut report = IngestReport::default();
        let mut json = String::with_capacity(512);

        // Where each span came from (tracers share origins: few per batch).
        let mut origins: Vec<OriginRow> = Vec::new();
        let mut origin_of = Vec::with_capacity(batch.len());
        for span in batch {
            let id = span.origin.id;
            let index = match origins.iter().position(|o| o.origin == id) {
                Some(i) => i,
                None => {
                    let row = origin_row(
                        &tx,
                        span,
                        resource_ids,
                        scope_ids,
                        &mut new_resources,
                        &mut new_scopes,
                        &mut json,
                    )?;
                    origins.push(row);
                    origins.len() - 1
                }
            };
            origin_of.push(index);
        }

        // Group by trace, in order of first appearance.
        let mut updates: Vec<TraceUpdate> = Vec::new();
        let mut by_trace: HashMap<TraceId, usize> = HashMap::new();
        let mut next_id: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM traces", [], |r| {
                r.get(0)
            })?;
        {
            let mut find = tx.prepare_cached(
                "SELECT id, start_ns, end_ns, root_span_id, root_service, root_name, span_count, \
                 error_count, services FROM traces WHERE trace_id = ?1",
            )?;
            for (i, span) in batch.iter().enumerate() {
                let trace_id = span.span_context.trace_id();
                let u = match by_trace.get(&trace_id) {
                    Some(&u) => u,
                    None => {
                        let found = find
                            .query_row([&trace_id.to_bytes()[..]], |r| {
                                Ok((
                                    r.get::<_, i64>(0)?,
                                    TraceRow {
                                        start: r.get(1)?,
                                        end: r.get(2)?,
                                        root_span_id: r.get(3)?,
                                        root_service: r.get(4)?,
                                        root_name: r.get(5)?,
                                        span_count: r.get(6)?,
                                        error_count: r.get(7)?,
                                        services: r.get(8)?,
                                    },
                                ))
                            })
                            .optional()?;
                        let (id, existing) = match found {
                            Some((id, row)) => (id, Some(row)),
                            None => {
                                next_id += 1;
                                (next_id - 1, None)
                            }
                        };
                        updates.push(TraceUpdate {
                            trace_id,
                            id,
                            existing,
                            spans: Vec::new(),
                            start: i64::MAX,
                            end: i64::MIN,
                            count: 0,
                            errors: 0,
                            root: None,
                            earliest: None,
                            services: Vec::new(),
                            set_keys: HashSet::new(),
                        });
                        by_trace.insert(trace_id, updates.len() - 1);
                        updates.len() - 1
                    }
                };
                updates[u].spans.push(i);
            }
        }

        // (minute, service, name, kind) → (count, errors, durations).
        let mut red_minutes: HashMap<RedKey<'_>, RedAcc> = HashMap::new();
        // Spans, events and links; fold the new spans into their trace.
        {
            let mut insert_span = tx.prepare_cached(
                "INSERT OR IGNORE INTO spans (trace, span_id, parent_id, parent_remote, flags, \
                 trace_state, service, name, kind, start_ns, end_ns, duration_ns, status_code, \
                 status_message, attributes, dropped_attributes, dropped_events, dropped_links, \
                 resource, scope) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
                 ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )?;
            let mut insert_event = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (trace, span_id, seq, time_ns, name, attributes, \
                 dropped_attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut insert_link = tx.prepare_cached(
                "INSERT OR IGNORE INTO links (trace, span_id, seq, linked_trace_id, \
                 linked_span_id, flags, trace_state, attributes, dropped_attributes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut text = String::new();
            for update in &mut updates {
                for &i in &update.spans {
                    let span = &batch[i];
                    let origin = &origins[origin_of[i]];
                    let start = ns_to_sql(unix_nanos(span.start_time));
                    let end = ns_to_sql(unix_nanos(span.end_time)).max(start);
                    let (status_code, message): (i64, &str) = match &span.status {
                        Status::Unset => (0, ""),
                        Status::Ok => (1, ""),
                        Status::Error { description } => (2, description),
                    };
                    json.clear();
                    push_attributes(&mut json, &span.attributes);
                    let changed = insert_span.execute(params![
                        update.id,
                        span.span_context.span_id().to_u64() as i64,
                        span.parent_span_id.to_u64() as i64,
                        span.parent_is_remote,
                        span.span_context.trace_flags().bits(),
                        span.span_context.trace_state().as_header(),
                        &*origin.service,
                        &*span.name,
                        kind_code(span.kind),
                        start,
                        end,
                        end - start,
                        status_code,
                        message,
                        &json,
                        span.dropped_attributes_count,
                        span.dropped_events_count,
                        span.dropped_links_count,
                        origin.resource,
                        origin.scope,
                    ])?;
                    if changed == 0 {
                        report.duplicates += 1;
                        continue;
                    }
                    report.stored += 1;
                    let span_id = span.span_context.span_id().to_u64() as i64;
                    for (seq, event) in span.events.iter().enumerate() {
                        insert_event.execute(params![
                            update.id,
                            span_id,
                            seq as i64,
                            ns_to_sql(unix_nanos(event.timestamp)),
                            &*event.name,
                            attributes_json(&event.attributes),
                            event.dropped_attributes_count,
                        ])?;
                    }
                    for (seq, link) in span.links.iter().enumerate() {
                        let sc = &link.span_context;
                        insert_link.execute(params![
                            update.id,
                            span_id,
                            seq as i64,
                            &sc.trace_id().to_bytes()[..],
                            sc.span_id().to_u64() as i64,
                            sc.trace_flags().bits(),
                            sc.trace_state().as_header(),
                            attributes_json(&link.attributes),
                            link.dropped_attributes_count,
                        ])?;
                    }

                    update.start = update.start.min(start);
                    update.end = update.end.max(end);
                    update.count += 1;
                    update.errors += i64::from(status_code == 2);
                    if !span.parent_span_id.is_valid() && update.root.is_none() {
                        update.root = Some((span.span_context.span_id().to_u64() as i64, i));
                    }
                    if update.earliest.is_none_or(|(s, _)| start < s) {
                        update.earliest = Some((start, i));
                    }
                    if !update.services.iter().any(|s| **s == *origin.service) {
                        update.services.push(origin.service.clone());
                    }
                    let minute = start / MINUTE_NS;
                    let red = red_minutes
                        .entry((
                            minute,
                            origin.service.clone(),
                            &*span.name,
                            kind_code(span.kind),
                        ))
                        .or_default();
                    red.0 += 1;
                    red.1 += u64::from(status_code == 2);
                    red.2.add((end - start) as u64);
                    update.set_keys.insert(origin.service_key);
                    update
                        .set_keys
                        .insert(operation_hash(&origin.service, &span.name));
                    for kv in &span.attributes {
                        if canonical_text(&kv.value, &mut text) {
                            update
                                .set_keys
                                .insert(attribute_hash(kv.key.as_str(), &text));
                        }
                    }
                    let kind = kind_code(span.kind);
                    let known = known_operations
                        .get(&*origin.service)
                        .and_then(|names| names.get(&*span.name))
                        .is_some_and(|kinds| kinds & (1 << kind) != 0);
                    if !known
                        && !new_operations
                            .iter()
                            .any(|(s, n, k): &(String, String, i64)| {
                                *k == kind && *s == *origin.service && *n == *span.name
                            })
                    {
                        new_operations.push((
                            origin.service.to_string(),
                            span.name.to_string(),
                            kind,
                        ));
                    }
                }
            }
        }

        // Trace summaries and trace sets.
        {
            let mut insert_trace = tx.prepare_cached(
                "INSERT INTO traces (id, trace_id, start_ns, end_ns, duration_ns, root_span_id, \
                 root_service, root_name, span_count, error_count, services) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut update_trace = tx.prepare_cached(
                "UPDATE traces SET start_ns = ?2, end_ns = ?3, duration_ns = ?4, \
                 root_span_id = ?5, root_service = ?6, root_name = ?7, span_count = ?8, \
                 error_count = ?9, services = ?10 WHERE id = ?1",
            )?;
            let mut upsert_set = tx.prepare_cached(
                "INSERT INTO trace_sets (bucket, hash, b0, b1, b2, b3) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET \
                 b0 = b0 | excluded.b0, b1 = b1 | excluded.b1, \
                 b2 = b2 | excluded.b2, b3 = b3 | excluded.b3",
            )?;
            // (bucket, hash) → the bucket's traces having it, for the batch.
            let mut trace_sets: HashMap<(i64, i64), [u64; 4]> = HashMap::new();
            for update in &updates {
                if update.count == 0 {
                    continue;
                }
                let name_of =
                    |i: usize| -> (&str, &str) { (&origins[origin_of[i]].service, &batch[i].name) };
                let mut services: Vec<String> = match &update.existing {
                    Some(row) => serde_json::from_str(&row.services).unwrap_or_default(),
                    None => Vec::new(),
                };
                for s in &update.services {
                    if !services.iter().any(|x| **x == **s) {
                        services.push(s.to_string());
                    }
                }
                services.sort();
                let services = serde_json::to_string(&services).unwrap_or_else(|_| "[]".into());
                match &update.existing {
                    None => {
                        let (root_id, (service, name)) = match (update.root, update.earliest) {
                            (Some((id, i)), _) => (Some(id), name_of(i)),
                            (None, Some((_, i))) => (None, name_of(i)),
                            (None, None) => unreachable!("count > 0"),
                        };
                        insert_trace.execute(params![
                            update.id,
                            &update.trace_id.to_bytes()[..],
                            update.start,
                            update.end,
                            update.end - update.start,
                            root_id,
                            service,
                            name,
                            update.count,
                            update.errors,
                            services,
                        ])?;
                    }
                    Some(row) => {
                        let start = row.start.min(update.start);
                        let end = row.end.max(update.end);
                        let (root_id, service, name) = match (row.root_span_id, update.root) {
                            (Some(id), _) => (Some(id), &*row.root_service, &*row.root_name),
                            (None, Some((id, i))) => {
                                let (s, n) = name_of(i);
                                (Some(id), s, n)
                            }
                            (None, None) => match update.earliest {
                                Some((s, i)) if s < row.start => {
                                    let (s, n) = name_of(i);
                                    (None, s, n)
                                }
                                _ => (None, &*row.root_service, &*row.root_name),
                            },
                        };
                        update_trace.execute(params![
                            update.id,
                            start,
                            end,
                            end - start,
                            root_id,
                            service,
                            name,
                            row.span_count + update.count,
                            row.error_count + update.errors,
                            services,
                        ])?;
                    }
                }
                let bucket = update.id >> BUCKET_SHIFT;
                let slot = (update.id & ((1 << BUCKET_SHIFT) - 1)) as usize;
                for &hash in &update.set_keys {
                    trace_sets.entry((bucket, hash)).or_default()[slot / 64] |= 1 << (slot % 64);
                }
            }
            // In key order: neighbouring rows share pages.
            let mut trace_sets: Vec<_> = trace_sets.into_iter().collect();
            trace_sets.sort_unstable_by_key(|(key, _)| *key);
            for ((bucket, hash), words) in &trace_sets {
                upsert_set.execute(params![
                    bucket,
                    hash,
                    words[0] as i64,
                    words[1] as i64,
                    words[2] as i64,
                    words[3] as i64,
                ])?;
            }
            let new_traces = updates
                .iter()
                .filter(|u| u.existing.is_none() && u.count > 0)
                .count();
            tx.prepare_cached(
                "UPDATE totals SET traces = traces + ?1, spans = spans + ?2 WHERE id = 1",
            )?
            .execute(params![new_traces as i64, report.stored as i64])?;
            if !red_minutes.is_empty() {
                let mut read = tx.prepare_cached(
                    "SELECT count, errors, sketch FROM red_minutes \
                     WHERE minute = ?1 AND service = ?2 AND name = ?3 AND kind = ?4",
                )?;
                let mut write = tx.prepare_cached(
                    "INSERT OR REPLACE INTO red_minutes (minute, service, name, kind, count, \
                     errors, sketch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for ((minute, service, name, kind), (count, errors, mut sketch)) in red_minutes {
                    let before = read
                        .query_row(params![minute, &*service, name, kind], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, Vec<u8>>(2)?,
                            ))
                        })
                        .optional()?;
                    let (mut total, mut failed) = (count as i64, errors as i64);
                    if let Some((c, e, bytes)) = before {
                        total += c;
                        failed += e;
                        if let Some(old) = DurationSketch::from_bytes(&bytes) {
                            sketch.merge(&old);
                        }
                    }
                    write.execute(params![
                        minute,
                        &*service,
                        name,
                        kind,
                        total,
                        failed,
                        sketch.to_bytes()
                    ])?;
                }
            }
            if !new_operations.is_empty() {
                let mut insert_operation = tx.prepare_cached(
                    "INSERT OR IGNORE INTO operations (service, name, kind) VALUES (?1, ?2, ?3)",
                )?;
                for (service, name, kind) in &new_operations {
                    insert_operation.execute(params![service, name, kind])?;
                }
            }
        }
        tx.commit()?;
        checkpointer.nudge();

        // Only now are the new rows real: remember them.
        resource_ids.extend(new_resources);
        scope_ids.extend(new_scopes);
        for (service, name, kind) in new_operations {
            *known_operations
                .entry(service)
                .or_default()
                .entry(name)
                .or_default() |= 1 << kind;
        }
        Ok(report)
    }
}

fn origin_row(
    tx: &rusqlite::Transaction<'_>,
    span: &SpanData,
    resource_ids: &HashMap<i64, i64>,
    scope_ids: &HashMap<i64, i64>,
    new_resources: &mut Vec<(i64, i64)>,
    new_scopes: &mut Vec<(i64, i64)>,
    json: &mut String,
) -> Result<OriginRow, StoreError> {
    let resource = span.resource();
    json.clear();
    push_attributes(json, resource.iter());
    let hash = text_hash(json);
    let resource_id = match resource_ids.get(&hash).or_else(|| {
        new_resources
            .iter()
            .find(|(h, _)| *h == hash)
            .map(|(_, id)| id)
    }) {
        Some(&id) => id,
        None => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO resources (hash, attributes) VALUES (?1, ?2)",
            )?
            .execute(params![hash, &*json])?;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM resources WHERE hash = ?1")?
                .query_row([hash], |r| r.get(0))?;
            new_resources.push((hash, id));
            id
        }
    };

    let scope = span.scope();
    json.clear();
    push_attributes(json, scope.attributes());
    let scope_attributes = json.clone();
    json.push('\u{0}');
    json.push_str(scope.name());
    json.push('\u{0}');
    json.push_str(scope.version().unwrap_or(""));
    let hash = text_hash(json);
    let scope_id = match scope_ids.get(&hash).or_else(|| {
        new_scopes
            .iter()
            .find(|(h, _)| *h == hash)
            .map(|(_, id)| id)
    }) {
        Some(&id) => id,
        None => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO scopes (hash, name, version, attributes) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![hash, scope.name(), scope.version(), scope_attributes])?;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM scopes WHERE hash = ?1")?
                .query_row([hash], |r| r.get(0))?;
            new_scopes.push((hash, id));
            id
        }
    };

    Ok(OriginRow {
        origin: span.origin.id,
        resource: resource_id,
        scope: scope_id,
        service: Arc::from(resource.service_name()),
        service_key: service_hash(resource.service_name()),
    })
}
