//! The batch processor: spans leave the request path at once and are
//! exported in batches by a worker thread.

mod lanes;

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use self::lanes::{Lanes, Pushed};
use super::SpanExporter;
use crate::diagnostics;
use crate::trace::{ExportError, SpanData, SpanProcessor};

/// The application side adds to the shared "unread" count in steps of this
/// many spans per thread, so threads do not contend on it for every span.
const UNREAD_STEP: usize = 64;

thread_local! {
    static UNREAD_LOCAL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// While spans keep arriving (a drain found at least half a batch), the
/// worker naps this long and looks again instead of parking: the
/// application threads then find it awake and need not wake it, which is a
/// system call (and, on a VM, an interrupt to another vCPU) on their path.
const BUSY_NAP: Duration = Duration::from_micros(200);

/// How often at most a "spans dropped" warning is printed.
const DROP_WARNING_EVERY: Duration = Duration::from_secs(10);
/// Attempts for a batch whose export fails with a transient error.
const MAX_ATTEMPTS: u32 = 4;
/// The first retry delay; doubled at each attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// Counts of what a [`BatchSpanProcessor`] did with the spans it received.
/// Cheap to clone (a shared handle), readable while the processor runs.
#[derive(Clone, Default)]
pub struct BatchStats(Arc<Counters>);

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    exported: AtomicU64,
    /// Counted by the application threads, when they are busiest: striped
    /// so that threads dropping at once do not fight over one cache line.
    dropped: Striped,
    failed: AtomicU64,
    last_drop_warning_ms: AtomicU64,
}

/// Stripes of a counter that many threads increment.
const STRIPES: usize = 8;

/// A counter split over cache lines; each thread adds to its own stripe and
/// reads sum them.
#[derive(Default)]
struct Striped([Padded; STRIPES]);

#[derive(Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

thread_local! {
    /// This thread's stripe.
    static STRIPE: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES
    };
    /// Spans this thread dropped, to look at the clock for the warning only
    /// on the first and then every [`WARNING_CHECK_EVERY`]th.
    static DROPPED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A thread checks whether a "spans dropped" warning is due on its first
/// dropped span and then once per this many.
const WARNING_CHECK_EVERY: u64 = 1024;

impl Striped {
    #[inline]
    fn add(&self, n: u64) {
        let i = STRIPE.try_with(|s| *s).unwrap_or(0);
        self.0[i].0.fetch_add(n, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

impl BatchStats {
    /// Spans that went through the queue (counted as the worker takes them,
    /// so after a flush it is every span accepted).
    pub fn queued(&self) -> u64 {
        self.0.queued.load(Ordering::Relaxed)
    }

    /// Spans the exporter accepted.
    pub fn exported(&self) -> u64 {
        self.0.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped because the queue was full (the application never
    /// waits for the exporter).
    pub fn dropped(&self) -> u64 {
        self.0.dropped.sum()
    }

    /// Spans lost because the exporter failed (after retries, for transient
    /// errors), panicked, or the processor was shut down with them queued.
    pub fn failed(&self) -> u64 {
        self.0.failed.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for BatchStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchStats")
            .field("queued", &self.queued())
            .field("exported", &self.exported())
            .field("dropped", &self.dropped())
            .field("failed", &self.failed())
            .finish()
    }
}

/// Batch processor settings. Defaults suit a local store: a 2048-span queue,
/// batches of 512, a 1 s delay (shorter than the spec's 5 s, because people
/// watch a local dashboard), a 30 s export timeout; each is overridden by its
/// `OTEL_BSP_*` variable, and a builder value overrides both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Spans held at most (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub max_queue_size: usize,
    /// Spans per export at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub max_export_batch_size: usize,
    /// Longest wait before a partial batch is exported
    /// (`OTEL_BSP_SCHEDULE_DELAY`, milliseconds).
    pub scheduled_delay: Duration,
    /// How long flush and shutdown wait for an export
    /// (`OTEL_BSP_EXPORT_TIMEOUT`, milliseconds).
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_secs(1),
            export_timeout: Duration::from_secs(30),
        }
    }
}

impl BatchConfig {
    /// The defaults overridden by the `OTEL_BSP_*` variables that are set;
    /// a value that is not a positive whole number is reported and ignored.
    pub fn from_env() -> BatchConfig {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> BatchConfig {
        let read = |name: &str| -> Option<u64> {
            let raw = get(name)?;
            match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    diagnostics::warn(&format!(
                        "ignoring {name}={raw:?}: expected a positive whole number"
                    ));
                    None
                }
            }
        };
        let d = BatchConfig::default();
        let mut c = BatchConfig {
            max_queue_size: read("OTEL_BSP_MAX_QUEUE_SIZE")
                .map_or(d.max_queue_size, |n| n as usize),
            max_export_batch_size: read("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
                .map_or(d.max_export_batch_size, |n| n as usize),
            scheduled_delay: read("OTEL_BSP_SCHEDULE_DELAY")
                .map_or(d.scheduled_delay, Duration::from_millis),
            export_timeout: read("OTEL_BSP_EXPORT_TIMEOUT")
                .map_or(d.export_timeout, Duration::from_millis),
        };
        c.max_export_batch_size = c.max_export_batch_size.min(c.max_queue_size);
        c
    }
}

enum Control {
    Flush(SyncSender<Result<(), ExportError>>),
    Shutdown(SyncSender<Result<(), ExportError>>),
}

/// Queues finished spans without blocking and exports them in batches from
/// a worker thread of its own: on a schedule, when a batch fills, on
/// [`force_flush`](SpanProcessor::force_flush), and at shutdown (also when
/// the provider is dropped).
///
/// The application never waits for the exporter: when the queue is full a
/// span is dropped and counted, with a warning on stderr the first time and
/// at most every 10 seconds after. A failing exporter is retried with
/// backoff when its error is transient; a panicking exporter is contained;
/// a hanging one makes flush and shutdown return a timeout instead of
/// hanging the application. It works the same inside a tokio runtime and in
/// a program without one.
///
/// ```
/// use tracelite::{BatchSpanProcessor, InMemoryExporter, TracerProvider};
///
/// let exporter = InMemoryExporter::default();
/// let processor = BatchSpanProcessor::builder(exporter.clone()).build();
/// let stats = processor.stats();
/// let provider = TracerProvider::builder().with_processor(processor).build();
///
/// provider.tracer("app").start("work").end();
/// provider.force_flush().unwrap();
/// assert_eq!(exporter.finished_spans().len(), 1);
/// assert_eq!(stats.exported(), 1);
/// ```
pub struct BatchSpanProcessor {
    /// The queue: a lane per thread (see `lanes.rs`).
    lanes: Arc<Lanes>,
    /// Spans sent since the worker last started draining; the sender that
    /// makes it reach a batch wakes the worker (one wake-up a batch, not a
    /// span).
    unread: Arc<AtomicUsize>,
    /// The worker thread, to unpark.
    thread: Option<Thread>,
    control: Arc<Mutex<Vec<Control>>>,
    control_pending: Arc<AtomicBool>,
    stats: BatchStats,
    config: BatchConfig,
    worker: Mutex<Option<JoinHandle<()>>>,
    is_shutdown: AtomicBool,
}

/// Configures a [`BatchSpanProcessor`].
pub struct BatchSpanProcessorBuilder<E> {
    exporter: E,
    config: BatchConfig,
}

impl<E: SpanExporter> BatchSpanProcessorBuilder<E> {
    /// Spans held at most; past it new spans are dropped and counted.
    pub fn with_max_queue_size(mut self, n: usize) -> Self {
        self.config.max_queue_size = n.max(1);
        self
    }

    /// Spans per export at most.
    pub fn with_max_export_batch_size(mut self, n: usize) -> Self {
        self.config.max_export_batch_size = n.max(1);
        self
    }

    /// Longest wait before a partial batch is exported.
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.config.scheduled_delay = delay;
        self
    }

    /// How long flush and shutdown wait for exports.
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.config.export_timeout = timeout;
        self
    }

    /// Starts the worker thread and returns the processor.
    pub fn build(self) -> BatchSpanProcessor {
        let mut config = self.config;
        config.max_export_batch_size = config.max_export_batch_size.min(config.max_queue_size);
        let lanes = Arc::new(Lanes::new(config.max_queue_size));
        let control = Arc::new(Mutex::new(Vec::new()));
        let control_pending = Arc::new(AtomicBool::new(false));
        let unread = Arc::new(AtomicUsize::new(0));
        let stats = BatchStats::default();
        let worker = Worker {
            exporter: self.exporter,
            lanes: lanes.clone(),
            unread: unread.clone(),
            control: control.clone(),
            control_pending: control_pending.clone(),
            stats: stats.clone(),
            config,
        };
        let handle = std::thread::Builder::new()
            .name("tracelite-batch".into())
            .spawn(move || worker.run())
            .map_err(|e| diagnostics::warn(&format!("cannot start the batch export thread: {e}")))
            .ok();
        BatchSpanProcessor {
            lanes,
            unread,
            thread: handle.as_ref().map(|h| h.thread().clone()),
            control,
            control_pending,
            stats,
            config,
            worker: Mutex::new(handle),
            is_shutdown: AtomicBool::new(false),
        }
    }
}

impl BatchSpanProcessor {
    /// Starts configuring a processor for `exporter`, from the defaults and
    /// the `OTEL_BSP_*` variables.
    pub fn builder<E: SpanExporter>(exporter: E) -> BatchSpanProcessorBuilder<E> {
        BatchSpanProcessorBuilder {
            exporter,
            config: BatchConfig::from_env(),
        }
    }

    /// A processor for `exporter` with the default settings.
    pub fn new<E: SpanExporter>(exporter: E) -> BatchSpanProcessor {
        Self::builder(exporter).build()
    }

    /// A handle to the counters; keep it before giving the processor to a
    /// provider.
    pub fn stats(&self) -> BatchStats {
        self.stats.clone()
    }

    /// The settings in force.
    pub fn config(&self) -> BatchConfig {
        self.config
    }

    fn wake(&self) {
        if let Some(thread) = &self.thread {
            thread.unpark();
        }
    }

    fn warn_dropped(&self) {
        let c = &self.stats.0;
        let now_ms = crate::trace::clock::unix_nanos(std::time::SystemTime::now()) / 1_000_000;
        let last = c.last_drop_warning_ms.load(Ordering::Relaxed);
        let due = last == 0 || now_ms.saturating_sub(last) >= DROP_WARNING_EVERY.as_millis() as u64;
        if due
            && c.last_drop_warning_ms
                .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            diagnostics::warn(&format!(
                "span queue full ({} spans): {} spans dropped so far; the exporter is slower \
                 than the application (raise OTEL_BSP_MAX_QUEUE_SIZE or sample less)",
                self.config.max_queue_size,
                c.dropped.sum()
            ));
        }
    }

    /// Sends a control message and waits for its answer within the timeout.
    fn control(
        &self,
        make: impl FnOnce(SyncSender<Result<(), ExportError>>) -> Control,
    ) -> Result<(), ExportError> {
        let worker_running = self
            .worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished());
        if !worker_running {
            return Err(ExportError::AlreadyShutdown);
        }
        let (ack, answer) = mpsc::sync_channel(1);
        self.control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(make(ack));
        self.control_pending.store(true, Ordering::Release);
        self.wake();
        match answer.recv_timeout(self.config.export_timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(ExportError::Timeout(self.config.export_timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(ExportError::AlreadyShutdown),
        }
    }
}

impl SpanProcessor for BatchSpanProcessor {
    #[inline]
    fn on_end(&self, span: SpanData) {
        self.on_end_in(&mut Some(span));
    }

    fn on_end_in(&self, span: &mut Option<SpanData>) {
        let Some(data) = span.as_ref() else {
            return;
        };
        if !data.span_context.is_sampled() || self.is_shutdown.load(Ordering::Relaxed) {
            return;
        }
        match self.lanes.push(span) {
            Pushed::Queued => {
                // Wake the worker about once a batch. The count is kept per
                // thread and published in steps (shared by every batch
                // processor of the thread: it is a hint; the schedule and
                // flushes do the rest).
                let local = UNREAD_LOCAL.with(|c| {
                    let n = c.get() + 1;
                    c.set(if n == UNREAD_STEP { 0 } else { n });
                    n
                });
                if local == UNREAD_STEP {
                    let before = self.unread.fetch_add(UNREAD_STEP, Ordering::Relaxed);
                    let threshold = self.config.max_export_batch_size;
                    if before < threshold && before + UNREAD_STEP >= threshold {
                        self.wake();
                    }
                }
            }
            Pushed::Full => {
                // An overloaded application drops many spans: each costs a
                // counter increment on the thread's own stripe, and the
                // clock is read for the warning only now and then.
                self.stats.0.dropped.add(1);
                let here = DROPPED_HERE
                    .try_with(|c| {
                        c.set(c.get() + 1);
                        c.get()
                    })
                    .unwrap_or(1);
                if here % WARNING_CHECK_EVERY == 1 {
                    self.warn_dropped();
                }
            }
            Pushed::Closed => {
                self.stats.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn force_flush(&self) -> Result<(), ExportError> {
        if self.is_shutdown.load(Ordering::Relaxed) {
            return Err(ExportError::AlreadyShutdown);
        }
        self.control(Control::Flush)
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        if self.is_shutdown.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.control(Control::Shutdown);
        let handle = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Ok(()), Some(handle)) = (&result, handle) {
            // The worker answered and is exiting.
            let _ = handle.join();
        }
        result
    }
}

impl Drop for BatchSpanProcessor {
    fn drop(&mut self) {
        if !self.is_shutdown.load(Ordering::Relaxed) {
            let _ = self.shutdown();
        }
    }
}

impl fmt::Debug for BatchSpanProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSpanProcessor")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish()
    }
}

struct Worker<E> {
    exporter: E,
    lanes: Arc<Lanes>,
    unread: Arc<AtomicUsize>,
    control: Arc<Mutex<Vec<Control>>>,
    control_pending: Arc<AtomicBool>,
    stats: BatchStats,
    config: BatchConfig,
}

impl<E: SpanExporter> Worker<E> {
    /// Sleeps until a batch is due (the schedule), a batch's worth of spans
    /// has arrived, or a flush or shutdown asks; then takes what the lanes
    /// hold and exports.
    fn run(mut self) {
        let mut pending: Vec<SpanData> = Vec::with_capacity(self.config.max_export_batch_size);
        let mut spare: Vec<SpanData> = Vec::new();
        let mut deadline = Instant::now() + self.config.scheduled_delay;
        loop {
            if self.control_pending.swap(false, Ordering::AcqRel) {
                let requests: Vec<Control> =
                    std::mem::take(&mut *self.control.lock().unwrap_or_else(|e| e.into_inner()));
                for request in requests {
                    let last = matches!(request, Control::Shutdown(_));
                    let (result, _) = self.drain(&mut pending, &mut spare, true, last);
                    match request {
                        Control::Flush(ack) => {
                            let result = result.and_then(|()| self.exporter.force_flush());
                            let _ = ack.send(result);
                        }
                        Control::Shutdown(ack) => {
                            let result = result.and(self.exporter.shutdown());
                            let _ = ack.send(result);
                            return;
                        }
                    }
                }
            }
            let due = Instant::now() >= deadline;
            let (_, taken) = self.drain(&mut pending, &mut spare, due, false);
            if due {
                deadline = Instant::now() + self.config.scheduled_delay;
            }
            if self.control_pending.load(Ordering::Acquire) {
                continue;
            }
            if taken > 0 && taken >= self.config.max_export_batch_size / 2 {
                // Busy: look again soon, awake (see BUSY_NAP). A flush or
                // shutdown request waits at most one nap.
                std::thread::sleep(BUSY_NAP.min(self.config.scheduled_delay));
            } else {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
            }
        }
    }

    /// Takes what the lanes hold now and exports full batches; a partial
    /// batch too when `export_partial`. With `close`, the lanes refuse
    /// spans from then on (shutdown) and everything is exported. Returns the
    /// export outcome and how many spans were taken from the lanes.
    fn drain(
        &mut self,
        pending: &mut Vec<SpanData>,
        spare: &mut Vec<SpanData>,
        export_partial: bool,
        close: bool,
    ) -> (Result<(), ExportError>, usize) {
        self.unread.store(0, Ordering::Relaxed);
        let taken = self.lanes.collect(pending, spare, close);
        self.stats
            .0
            .queued
            .fetch_add(taken as u64, Ordering::Relaxed);
        let max = self.config.max_export_batch_size;
        let mut result = Ok(());
        // Batches are exported from the front by position; the exported
        // records leave the vector once, at the end, so what is left is
        // moved once rather than after every batch.
        let mut done = 0;
        loop {
            let left = pending.len() - done;
            if !(left >= max || ((export_partial || close) && left > 0)) {
                break;
            }
            let n = left.min(max);
            if let Err(e) = self.export(&pending[done..done + n]) {
                result = Err(e);
            }
            done += n;
            // The room comes back to the queue as each batch leaves.
            self.lanes.release(n);
        }
        if done > 0 {
            // The attribute vectors go back to the threads that make spans.
            crate::trace::recycle::recycle_batch(&mut pending[..done]);
            pending.drain(..done);
        }
        (result, taken)
    }

    /// Exports `batch`, retrying transient failures with backoff and
    /// containing panics.
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let count = batch.len() as u64;
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        let result = loop {
            let outcome = catch_unwind(AssertUnwindSafe(|| self.exporter.export(batch)));
            let error = match outcome {
                Ok(Ok(())) => break Ok(()),
                Ok(Err(e)) => e,
                Err(_) => ExportError::Failed("the exporter panicked".into()),
            };
            let out_of_time = started.elapsed() + backoff > self.config.export_timeout;
            if !error.is_transient() || attempt >= MAX_ATTEMPTS || out_of_time {
                break Err(error);
            }
            std::thread::sleep(backoff);
            backoff *= 2;
            attempt += 1;
        };
        match &result {
            Ok(()) => {
                self.stats.0.exported.fetch_add(count, Ordering::Relaxed);
            }
            Err(e) => {
                let before = self.stats.0.failed.fetch_add(count, Ordering::Relaxed);
                if before == 0 {
                    diagnostics::warn(&format!(
                        "exporting {count} spans failed: {e} (later failures are counted in the \
                         processor's stats)"
                    ));
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn env_config_and_bad_values() {
        let env: HashMap<&str, &str> = [
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "zero"),
        ]
        .into_iter()
        .collect();
        let c = BatchConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(c.max_queue_size, 100);
        assert_eq!(c.max_export_batch_size, 100, "clamped to the queue size");
        assert_eq!(c.scheduled_delay, Duration::from_millis(250));
        assert_eq!(c.export_timeout, Duration::from_secs(30));
    }
}
