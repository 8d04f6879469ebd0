//! The `tracelite` binary, run for real: the demo fills a database, then
//! the commands read it; bad input gives one line and a non-zero exit.
#![cfg(feature = "cli")]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};

use tracelite::store::{Store, TraceQuery};

fn tracelite(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracelite"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("TRACELITE_DB")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tracelite")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_demo_fills_the_database_and_the_commands_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = tracelite(&db, &["demo", "--requests", "150", "--no-serve"]);
    assert!(out.status.success(), "demo failed: {}", stderr(&out));
    let report = stdout(&out);
    for part in [
        "critical path",
        "service map",
        "RED metrics",
        "gateway  ──→ user-svc",
        "Try next",
    ] {
        assert!(
            report.contains(part),
            "the report lacks {part:?}:\n{report}"
        );
    }

    // The database: three services, the expected edges, errors, and every
    // span's parent in its trace.
    let store = Store::open(&db).unwrap();
    assert_eq!(
        store.services().unwrap(),
        ["database", "gateway", "user-svc"]
    );
    let traces = store.find_traces(&TraceQuery::new().limit(10_000)).unwrap();
    assert_eq!(traces.len(), 150, "one trace per request");
    let mut edges = HashSet::new();
    let mut errors = 0;
    for t in &traces {
        let spans = store.trace(t.trace_id).unwrap();
        let by_id: HashMap<_, _> = spans.iter().map(|s| (s.span_id, s)).collect();
        for s in &spans {
            if s.parent_span_id.is_valid() {
                let parent = by_id.get(&s.parent_span_id).unwrap_or_else(|| {
                    panic!("span {} of trace {} has no parent", s.name, t.trace_id)
                });
                if parent.service != s.service {
                    edges.insert((parent.service.clone(), s.service.clone()));
                }
            }
            errors += usize::from(s.status.is_error());
        }
        assert_eq!(t.root_service, "gateway");
        assert!(t.root_span_id.is_some());
    }
    let expected: HashSet<_> = [("gateway", "user-svc"), ("user-svc", "database")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(edges, expected);
    assert!(errors > 0, "the demo should fail a few requests");

    // The commands.
    let out = tracelite(&db, &["traces", "--errors", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed = json["traces"].as_array().unwrap();
    assert!(!listed.is_empty());
    assert!(listed.iter().all(|t| t["errors"].as_u64().unwrap() > 0));

    let id = traces[0].trace_id.to_string();
    let out = tracelite(&db, &["show", &id[..10], "--critical-path"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with(&format!("trace {id}")), "{text}");
    assert!(text.contains("gateway › GET /users/{id}"));
    assert!(text.contains("time on it per span"));

    let out = tracelite(&db, &["operations", "database"]);
    assert!(stdout(&out).contains("POST /query/{id}"));
    let out = tracelite(&db, &["map"]);
    assert!(stdout(&out).contains("user-svc ──→ database"));
    let out = tracelite(&db, &["metrics", "--service", "gateway"]);
    let text = stdout(&out);
    assert!(
        text.contains("gateway") && !text.contains("database"),
        "{text}"
    );
    let out = tracelite(&db, &["stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(stats["traces"], 150);
    let out = tracelite(
        &db,
        &[
            "traces",
            "--service",
            "database",
            "--min-duration",
            "40ms",
            "--json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for t in json["traces"].as_array().unwrap() {
        assert!(t["duration_ns"].as_u64().unwrap() >= 40_000_000);
    }
    let out = tracelite(&db, &["prune", "--older-than", "1h"]);
    assert!(
        stdout(&out).contains("deleted 0 traces"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let out = tracelite(&missing, &["traces"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("tracelite: no database at"), "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(
        !missing.exists(),
        "reading commands must not create a database"
    );

    let db = dir.path().join("t.db");
    drop(Store::open(&db).unwrap());
    let out = tracelite(&db, &["show", "abcdef"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no trace \"abcdef\""));
    let out = tracelite(&db, &["show", "not-hex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a trace id"));
    let out = tracelite(&db, &["traces", "--min-duration", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a duration"));
    let out = tracelite(&db, &["prune"]);
    assert_eq!(out.status.code(), Some(1));
    let out = tracelite(&db, &["operations", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("panicked"));

    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 4096]).unwrap();
    let out = tracelite(&junk, &["stats"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a SQLite database"));
}
