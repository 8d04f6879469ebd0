//! The batch processor under normal load, a full queue, failing, panicking
//! and hanging exporters, shutdown, and from inside a tokio runtime.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tracelite::{
    BatchSpanProcessor, ExportError, InMemoryExporter, SpanData, SpanExporter, TracerProvider,
};

fn provider_with(processor: BatchSpanProcessor) -> TracerProvider {
    TracerProvider::builder().with_processor(processor).build()
}

/// Polls `done` for at most `limit`.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let began = Instant::now();
    while began.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

#[test]
fn flush_exports_everything_queued() {
    let exporter = InMemoryExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_max_export_batch_size(7)
        .with_scheduled_delay(Duration::from_secs(60))
        .build();
    let stats = processor.stats();
    let provider = provider_with(processor);
    let tracer = provider.tracer("t");
    for i in 0..100 {
        tracer.start(format!("s{i}")).end();
    }
    provider.force_flush().unwrap();
    assert_eq!(exporter.finished_spans().len(), 100);
    assert_eq!(stats.queued(), 100);
    assert_eq!(stats.exported(), 100);
    assert_eq!(stats.dropped() + stats.failed(), 0);
}

#[test]
fn the_schedule_exports_without_a_flush() {
    let exporter = InMemoryExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_scheduled_delay(Duration::from_millis(50))
        .build();
    let provider = provider_with(processor);
    provider.tracer("t").start("alone").end();
    assert!(wait_for(Duration::from_secs(5), || exporter
        .finished_spans()
        .len()
        == 1));
    drop(provider);
}

#[test]
fn dropping_the_provider_flushes() {
    let exporter = InMemoryExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_scheduled_delay(Duration::from_secs(60))
        .build();
    let provider = provider_with(processor);
    let tracer = provider.tracer("t");
    for _ in 0..10 {
        tracer.start("s").end();
    }
    drop(tracer);
    drop(provider);
    assert_eq!(exporter.finished_spans().len(), 10);
}

/// Blocks every export until released.
#[derive(Clone, Default)]
struct GatedExporter {
    open: Arc<(Mutex<bool>, Condvar)>,
    inner: InMemoryExporter,
}

impl GatedExporter {
    fn release(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
}

impl SpanExporter for GatedExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        let (lock, cvar) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cvar.wait(open).unwrap();
        }
        self.inner.export(batch)
    }
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let exporter = GatedExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_max_queue_size(16)
        .with_max_export_batch_size(4)
        .with_scheduled_delay(Duration::from_millis(1))
        .with_export_timeout(Duration::from_secs(5))
        .build();
    let stats = processor.stats();
    let provider = provider_with(processor);
    let tracer = provider.tracer("t");
    // The exporter is blocked: these cannot all fit, and none may wait.
    for _ in 0..1000 {
        tracer.start("s").end();
    }
    assert!(
        stats.dropped() >= 1000 - 16 - 4,
        "dropped {}",
        stats.dropped()
    );
    exporter.release();
    provider.force_flush().unwrap();
    assert_eq!(stats.queued() + stats.dropped(), 1000);
    assert_eq!(
        stats.exported(),
        stats.queued(),
        "everything accepted is exported"
    );
    assert_eq!(exporter.inner.finished_spans().len() as u64, stats.queued());
}

/// Fails with a chosen error for the first `failures` calls.
#[derive(Clone)]
struct FlakyExporter {
    calls: Arc<AtomicUsize>,
    failures: usize,
    error: ExportError,
    inner: InMemoryExporter,
}

impl SpanExporter for FlakyExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            return Err(self.error.clone());
        }
        self.inner.export(batch)
    }
}

fn flaky(failures: usize, error: ExportError) -> FlakyExporter {
    FlakyExporter {
        calls: Arc::default(),
        failures,
        error,
        inner: InMemoryExporter::default(),
    }
}

#[test]
fn transient_errors_are_retried() {
    let exporter = flaky(2, ExportError::Transient("database is locked".into()));
    let processor = BatchSpanProcessor::builder(exporter.clone()).build();
    let stats = processor.stats();
    let provider = provider_with(processor);
    provider.tracer("t").start("s").end();
    provider.force_flush().unwrap();
    assert_eq!(exporter.calls.load(Ordering::SeqCst), 3);
    assert_eq!(exporter.inner.finished_spans().len(), 1);
    assert_eq!((stats.exported(), stats.failed()), (1, 0));
}

#[test]
fn permanent_errors_are_counted_not_retried() {
    let exporter = flaky(1, ExportError::Failed("rejected".into()));
    let processor = BatchSpanProcessor::builder(exporter.clone()).build();
    let stats = processor.stats();
    let provider = provider_with(processor);
    let tracer = provider.tracer("t");
    tracer.start("lost").end();
    assert_eq!(
        provider.force_flush(),
        Err(ExportError::Failed("rejected".into()))
    );
    tracer.start("kept").end();
    provider.force_flush().unwrap();
    assert_eq!(exporter.calls.load(Ordering::SeqCst), 2);
    assert_eq!((stats.exported(), stats.failed()), (1, 1));
}

struct PanickingExporter(Arc<AtomicUsize>, InMemoryExporter);

impl SpanExporter for PanickingExporter {
    fn export(&self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("exporter bug");
        }
        self.1.export(batch)
    }
}

#[test]
fn a_panicking_exporter_does_not_take_the_app_down() {
    let out = InMemoryExporter::default();
    let processor = BatchSpanProcessor::new(PanickingExporter(Arc::default(), out.clone()));
    let stats = processor.stats();
    let provider = provider_with(processor);
    let tracer = provider.tracer("t");
    tracer.start("first").end();
    assert!(provider.force_flush().is_err());
    tracer.start("second").end();
    provider.force_flush().unwrap();
    assert_eq!(out.finished_spans()[0].name, "second");
    assert_eq!((stats.exported(), stats.failed()), (1, 1));
}

#[test]
fn a_hanging_exporter_makes_flush_time_out() {
    let exporter = GatedExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_export_timeout(Duration::from_millis(200))
        .build();
    let provider = provider_with(processor);
    provider.tracer("t").start("s").end();
    let began = Instant::now();
    assert_eq!(
        provider.force_flush(),
        Err(ExportError::Timeout(Duration::from_millis(200)))
    );
    assert!(began.elapsed() < Duration::from_secs(5));
    // The application goes on; once the exporter recovers, spans flow.
    exporter.release();
    provider.force_flush().unwrap();
    assert_eq!(exporter.inner.finished_spans().len(), 1);
}

#[test]
fn shutdown_is_idempotent_and_flush_after_it_fails_cleanly() {
    let exporter = InMemoryExporter::default();
    let processor = BatchSpanProcessor::new(exporter.clone());
    let provider = provider_with(processor);
    provider.tracer("t").start("s").end();
    provider.shutdown().unwrap();
    assert_eq!(exporter.finished_spans().len(), 1);
    assert_eq!(provider.shutdown(), Err(ExportError::AlreadyShutdown));
    assert!(provider.force_flush().is_err());
}

#[test]
fn many_threads_lose_nothing_that_was_accepted() {
    let exporter = InMemoryExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_max_queue_size(100_000)
        .build();
    let stats = processor.stats();
    let provider = provider_with(processor);
    std::thread::scope(|s| {
        for t in 0..4 {
            let tracer = provider.tracer("t");
            s.spawn(move || {
                for i in 0..5_000 {
                    tracer.start(format!("t{t}-{i}")).end();
                }
            });
        }
    });
    provider.force_flush().unwrap();
    assert_eq!(stats.queued() + stats.dropped(), 20_000);
    assert_eq!(exporter.finished_spans().len() as u64, stats.queued());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_tokio_runtime() {
    let exporter = InMemoryExporter::default();
    let processor = BatchSpanProcessor::builder(exporter.clone())
        .with_scheduled_delay(Duration::from_millis(20))
        .build();
    let provider = provider_with(processor);
    let tracer = provider.tracer("t");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let tracer = tracer.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                tracer.start(format!("task-{i}")).end();
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let flushed = tokio::task::spawn_blocking(move || provider.force_flush())
        .await
        .unwrap();
    flushed.unwrap();
    assert_eq!(exporter.finished_spans().len(), 8);
}

/// Every processor of a provider gets the span whole, whichever way it is
/// handed over: a copy to the first ones, the span itself (in its slot) to
/// the last, and a processor with only `on_end` through the default.
#[test]
fn every_processor_gets_every_span_whole() {
    struct Collect(std::sync::Mutex<Vec<SpanData>>);
    impl tracelite::SpanProcessor for Collect {
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> Result<(), ExportError> {
            Ok(())
        }
        fn shutdown(&self) -> Result<(), ExportError> {
            Ok(())
        }
    }
    let collected = std::sync::Arc::new(Collect(std::sync::Mutex::new(Vec::new())));
    struct Shared(std::sync::Arc<Collect>);
    impl tracelite::SpanProcessor for Shared {
        fn on_end(&self, span: SpanData) {
            self.0.on_end(span);
        }
        fn force_flush(&self) -> Result<(), ExportError> {
            Ok(())
        }
        fn shutdown(&self) -> Result<(), ExportError> {
            Ok(())
        }
    }
    for batch_last in [true, false] {
        collected.0.lock().unwrap().clear();
        let exporter = InMemoryExporter::default();
        let batch = BatchSpanProcessor::builder(exporter.clone()).build();
        let builder = TracerProvider::builder();
        let provider = if batch_last {
            builder
                .with_processor(Shared(collected.clone()))
                .with_processor(batch)
        } else {
            builder
                .with_processor(batch)
                .with_processor(Shared(collected.clone()))
        }
        .build();
        let tracer = provider.tracer("t");
        for i in 0..100 {
            let span = tracer.start(format!("span {i}"));
            span.set_attribute("i", i);
            span.end();
        }
        provider.force_flush().unwrap();
        let exported = exporter.finished_spans();
        let seen = collected.0.lock().unwrap().clone();
        for spans in [&exported, &seen] {
            assert_eq!(spans.len(), 100, "batch last: {batch_last}");
            for (i, s) in spans.iter().enumerate() {
                assert_eq!(s.name, format!("span {i}"));
                assert_eq!(s.attributes.len(), 1);
                assert_eq!(s.attributes[0].value, tracelite::Value::I64(i as i64));
                assert_eq!(s.resource(), seen[0].resource());
            }
        }
        for (a, b) in exported.iter().zip(&seen) {
            assert_eq!(a.span_context, b.span_context);
        }
        provider.shutdown().unwrap();
    }
}
