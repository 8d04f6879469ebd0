//! The current context across `.await`, `tokio::spawn` and threads, under a
//! multi-threaded runtime with many interleaved tasks.

use std::time::Duration;

use tracelite::{
    Context, FutureExt, InMemoryExporter, SimpleSpanProcessor, SpanData, SpanId, TracerProvider,
};

fn setup() -> (TracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::default();
    let provider = TracerProvider::builder()
        .with_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    (provider, exporter)
}

fn find<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).expect(name)
}

/// A small deterministic per-task delay so tasks interleave differently.
fn delay(task: u64, step: u64) -> Duration {
    Duration::from_micros((task * 7919 + step * 104_729) % 3000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_nest_across_await_with_interleaved_tasks() {
    const TASKS: u64 = 64;
    let (provider, exporter) = setup();
    let tracer = provider.tracer("ctx");

    let mut handles = Vec::new();
    for task in 0..TASKS {
        let tracer = tracer.clone();
        let root = tracer.span(format!("root-{task}")).root().start();
        let fut = async move {
            for step in 0..3 {
                // Each await may resume on another worker thread.
                tokio::time::sleep(delay(task, step)).await;
                tokio::task::yield_now().await;
                let child = tracer.start(format!("child-{task}-{step}"));
                let work = async {
                    tokio::time::sleep(delay(task, step + 10)).await;
                    tracer.start(format!("grandchild-{task}-{step}")).end();
                };
                work.in_span(child).await;
            }
        };
        handles.push(tokio::spawn(fut.in_span(root)));
    }
    // Meanwhile, tasks with no context must never see another task's span.
    let mut bystanders = Vec::new();
    for i in 0..32u64 {
        bystanders.push(tokio::spawn(async move {
            for step in 0..5 {
                assert!(
                    !Context::current().has_active_span(),
                    "a context leaked into an unrelated task"
                );
                tokio::time::sleep(delay(i, step)).await;
            }
        }));
    }
    for h in handles.into_iter().chain(bystanders) {
        h.await.unwrap();
    }

    let spans = exporter.finished_spans();
    assert_eq!(spans.len() as u64, TASKS * 7);
    for task in 0..TASKS {
        let root = find(&spans, &format!("root-{task}"));
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        for step in 0..3 {
            let child = find(&spans, &format!("child-{task}-{step}"));
            let grandchild = find(&spans, &format!("grandchild-{task}-{step}"));
            assert_eq!(
                child.parent_span_id,
                root.span_context.span_id(),
                "task {task}"
            );
            assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
            assert_eq!(
                grandchild.parent_span_id,
                child.span_context.span_id(),
                "task {task} step {step}"
            );
            // The child span covers the work it wrapped.
            assert!(child.end_time >= grandchild.end_time);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_carries_context_only_when_wrapped() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("ctx");
    let parent = tracer.start("parent");
    let parent_id = parent.span_context().span_id();

    let (wrapped, bare) = {
        let _active = parent.enter();
        let t1 = tracer.clone();
        let t2 = tracer.clone();
        let wrapped = tokio::spawn(
            async move {
                tokio::task::yield_now().await;
                t1.start("wrapped").end();
            }
            .in_current_context(),
        );
        let bare = tokio::spawn(async move {
            tokio::task::yield_now().await;
            t2.start("bare").end();
        });
        (wrapped, bare)
    };
    wrapped.await.unwrap();
    bare.await.unwrap();
    drop(parent);

    let spans = exporter.finished_spans();
    assert_eq!(find(&spans, "wrapped").parent_span_id, parent_id);
    assert_eq!(find(&spans, "bare").parent_span_id, SpanId::INVALID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_span_ends_the_span_when_the_future_completes_or_is_dropped() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("ctx");

    let value = async { 7 }.in_span(tracer.start("completes")).await;
    assert_eq!(value, 7);
    assert_eq!(exporter.finished_spans().len(), 1);

    // Cancelled by a timeout: the span still ends, once.
    let slow = tokio::time::sleep(Duration::from_secs(60)).in_span(tracer.start("cancelled"));
    assert!(tokio::time::timeout(Duration::from_millis(10), slow)
        .await
        .is_err());
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[1].name, "cancelled");
}

#[test]
fn threads_have_their_own_stacks() {
    let (provider, exporter) = setup();
    let tracer = provider.tracer("ctx");
    let parent = tracer.start("parent");
    let _active = parent.enter();
    let cx = Context::current();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(!Context::current().has_active_span());
            let _g = cx.clone().attach();
            tracer.start("on-thread").end();
        });
    });
    drop(_active);
    drop(parent);
    let spans = exporter.finished_spans();
    assert_eq!(
        find(&spans, "on-thread").parent_span_id,
        find(&spans, "parent").span_context.span_id()
    );
}
