//! The store when things go wrong: bad paths, foreign files, a full disk, a
//! process killed mid-ingest. Nothing already committed may be lost.
#![cfg(feature = "sqlite")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tracelite::store::{SqliteExporter, Store, StoreError, TraceQuery};
use tracelite::{
    BatchSpanProcessor, InMemoryExporter, Resource, SimpleSpanProcessor, SpanData, TracerProvider,
};

/// `n` finished spans of one service, each its own trace, tagged `batch`.
fn spans(n: usize, batch: i64, payload: usize) -> Vec<SpanData> {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "faulty")]))
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let tracer = provider.tracer("t");
    for i in 0..n {
        let span = tracer.start("work");
        span.set_attribute("batch", batch);
        span.set_attribute("i", i as i64);
        span.set_attribute("payload", "p".repeat(payload));
        span.end();
    }
    exporter.take()
}

fn open_err(path: &std::path::Path) -> StoreError {
    Store::open(path).expect_err("open should fail")
}

#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/traces.db");
    let err = open_err(&path);
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn a_read_only_directory_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permissions: then use a file system that refuses new
    // files to everyone.
    let probe = ro.join("probe");
    let path = if std::fs::write(&probe, b"x").is_ok() {
        std::path::PathBuf::from("/sys/tracelite-test.db")
    } else {
        ro.join("traces.db")
    };
    let err = open_err(&path);
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("writable") || msg.contains("read-only"),
        "{msg}"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = open_err(&path);
    let msg = err.to_string();
    assert!(msg.contains("not a SQLite database"), "{msg}");
    assert!(msg.contains("notes.txt"), "{msg}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file was modified"
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    let err = open_err(&path);
    assert!(
        matches!(err, StoreError::NewerSchema { found: 999, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer TraceLite"));
}

#[test]
fn a_full_disk_fails_exports_keeps_the_app_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let store = Store::builder(&path).max_size(256 * 1024).open().unwrap();

    // Directly: batches go in until the limit; the failing batch leaves no
    // trace; what was committed stays.
    let mut committed = 0;
    let mut full = None;
    for batch in 0..200 {
        match store.ingest(&spans(50, batch, 500)) {
            Ok(r) => committed += r.stored as u64,
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let err = full.expect("the size limit was never reached");
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert!(err.to_string().contains("full"));
    assert!(committed > 0);
    assert_eq!(store.stats().unwrap().spans, committed);

    // Through a batch processor: failures are counted, the caller never
    // sees them.
    let processor = BatchSpanProcessor::builder(SqliteExporter::new(store.clone()))
        .with_max_export_batch_size(50)
        .build();
    let stats = processor.stats();
    let provider = TracerProvider::builder()
        .with_resource(Resource::new([("service.name", "faulty")]))
        .with_processor(processor)
        .build();
    let tracer = provider.tracer("t");
    for _ in 0..100 {
        let span = tracer.start("while full");
        span.set_attribute("payload", "p".repeat(2000));
        span.end();
    }
    let _ = provider.force_flush();
    assert!(stats.failed() > 0, "no export failed while full");
    assert_eq!(store.stats().unwrap().spans, committed);

    // Space returns: ingest resumes.
    store.set_max_size(None).unwrap();
    for _ in 0..10 {
        tracer.start("after").end();
    }
    provider.force_flush().unwrap();
    assert_eq!(store.stats().unwrap().spans, committed + 10);
    let check: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

const CHILD_DB: &str = "TRACELITE_TEST_CHILD_DB";
const BATCH: usize = 200;

/// Not a test on its own: the child process of
/// `sigkill_mid_ingest_loses_no_committed_batch`, which runs this binary
/// with only this test selected and the database path in the environment.
#[test]
fn child_ingests_until_killed() {
    let Some(path) = std::env::var_os(CHILD_DB) else {
        return;
    };
    let store = Store::open(path).unwrap();
    let began = Instant::now();
    let mut out = std::io::stdout();
    for batch in 0..5_000 {
        if began.elapsed() > Duration::from_secs(30) {
            break;
        }
        store.ingest(&spans(BATCH, batch, 100)).unwrap();
        use std::io::Write;
        writeln!(out, "committed {batch}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_mid_ingest_loses_no_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_ingests_until_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = None;
    let began = Instant::now();
    // Kill it somewhere after the 30th commit, mid-batch as likely as not.
    while began.elapsed() < Duration::from_secs(60) {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(n) = line.strip_prefix("committed ") {
                    last = Some(n.trim().parse::<i64>().unwrap());
                    if last >= Some(30) {
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last.expect("the child never committed");
    assert!(last >= 30, "the child stopped early at {last}");

    let check: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let store = Store::open(&path).unwrap();
    let stored = store.stats().unwrap().spans;
    // Every reported batch, and at most the ones in flight after it.
    assert!(
        stored >= (last as u64 + 1) * BATCH as u64,
        "{stored} spans, last {last}"
    );
    assert_eq!(stored % BATCH as u64, 0, "a batch was stored in part");
    for batch in 0..=last {
        let found = store
            .find_traces(
                &TraceQuery::new()
                    .attribute("batch", batch.to_string())
                    .limit(BATCH),
            )
            .unwrap();
        assert_eq!(found.len(), BATCH, "batch {batch}");
    }
    // And the store takes new batches after the crash.
    store.ingest(&spans(BATCH, 99_999, 10)).unwrap();
}
