//! RED metrics from the per-minute rollups kept at ingest.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::ingest::MINUTE_NS;
use super::model::{kind_code, ns_to_sql};
use super::query::sql;
use super::{Store, StoreError};
use crate::analysis::{DurationSketch, RedBucket, RedMetrics, RedRow};
use crate::trace::clock::unix_nanos;
use crate::trace::SpanKind;

impl Store {
    /// RED metrics — rate, errors, duration p50/p90/p95/p99 and max — per
    /// service and per operation, over the spans that started in
    /// `[from, to)`, in whole minutes (the rollups' resolution; a partial
    /// minute at either end counts whole). `kinds` selects span kinds
    /// (empty: all; the usual choice is SERVER and CONSUMER, the requests a
    /// service handled). With `bucket`, each row also gets a time series in
    /// buckets of that many whole minutes.
    ///
    /// Percentiles come from mergeable sketches, within 1% of exact
    /// ([`RELATIVE_ERROR`](crate::analysis::RELATIVE_ERROR)); counts, error
    /// counts and the maximum are exact. The reading touches one row per
    /// minute and operation, never the spans, so a window over millions of
    /// spans costs milliseconds.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tracelite::store::{SqliteExporter, Store};
    /// use tracelite::{Resource, SimpleSpanProcessor, SpanKind, TracerProvider};
    ///
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open(dir.path().join("t.db"))?;
    /// let provider = TracerProvider::builder()
    ///     .with_resource(Resource::new([("service.name", "api")]))
    ///     .with_processor(SimpleSpanProcessor::new(SqliteExporter::new(store.clone())))
    ///     .build();
    /// provider.tracer("t").span("GET /").kind(SpanKind::Server).start().end();
    ///
    /// let now = SystemTime::now();
    /// let red = store.red_metrics(now - Duration::from_secs(3600), now, &[SpanKind::Server], None)?;
    /// assert_eq!(red.services[0].service, "api");
    /// assert_eq!(red.services[0].count, 1);
    /// # Ok::<(), tracelite::store::StoreError>(())
    /// ```
    pub fn red_metrics(
        &self,
        from: SystemTime,
        to: SystemTime,
        kinds: &[SpanKind],
        bucket: Option<Duration>,
    ) -> Result<RedMetrics, StoreError> {
        let first = ns_to_sql(unix_nanos(from)) / MINUTE_NS;
        let last = ns_to_sql(unix_nanos(to)).saturating_sub(1) / MINUTE_NS;
        if last < first {
            return Err(StoreError::InvalidQuery(
                "the window ends before it starts".into(),
            ));
        }
        let minutes = (last - first + 1) as f64;
        let per_bucket = bucket.map(|b| ((b.as_nanos() as i64) / MINUTE_NS).max(1));
        let kinds: Vec<i64> = kinds.iter().map(|&k| kind_code(k)).collect();
        type Acc = (
            u64,
            u64,
            DurationSketch,
            BTreeMap<i64, (u64, u64, DurationSketch)>,
        );
        let mut groups: BTreeMap<(String, Option<String>), Acc> = BTreeMap::new();
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(sql::RED_MINUTES)?;
            let mut rows = stmt.query([first, last])?;
            while let Some(r) = rows.next()? {
                let kind: i64 = r.get(3)?;
                if !kinds.is_empty() && !kinds.contains(&kind) {
                    continue;
                }
                let minute: i64 = r.get(0)?;
                let service: String = r.get(1)?;
                let name: String = r.get(2)?;
                let count = r.get::<_, i64>(4)?.max(0) as u64;
                let errors = r.get::<_, i64>(5)?.max(0) as u64;
                let bytes: Vec<u8> = r.get(6)?;
                // A damaged sketch loses its percentiles, not the counts.
                let sketch = DurationSketch::from_bytes(&bytes).unwrap_or_default();
                for key in [
                    (service.clone(), None),
                    (service.clone(), Some(name.clone())),
                ] {
                    let acc = groups.entry(key).or_default();
                    acc.0 += count;
                    acc.1 += errors;
                    acc.2.merge(&sketch);
                    if let Some(per) = per_bucket {
                        let b = first + (minute - first) / per * per;
                        let point = acc.3.entry(b).or_default();
                        point.0 += count;
                        point.1 += errors;
                        point.2.merge(&sketch);
                    }
                }
            }
            Ok(())
        })?;
        let mut out = RedMetrics::default();
        for ((service, operation), (count, errors, sketch, series)) in groups {
            let row = RedRow {
                service,
                operation: operation.clone(),
                count,
                rate: count as f64 / (minutes * 60.0),
                errors,
                error_rate: if count == 0 {
                    0.0
                } else {
                    errors as f64 / count as f64
                },
                durations: sketch.percentiles(),
                series: series
                    .into_iter()
                    .map(|(minute, (count, errors, sketch))| RedBucket {
                        start: (minute * MINUTE_NS) as u64,
                        count,
                        errors,
                        durations: sketch.percentiles(),
                    })
                    .collect(),
            };
            if operation.is_some() {
                out.operations.push(row);
            } else {
                out.services.push(row);
            }
        }
        Ok(out)
    }
}
