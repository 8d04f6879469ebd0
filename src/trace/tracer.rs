//! Tracers and the span builder: where spans are started.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::provider::ProviderInner;
use super::span::Recording;
use super::{
    clock, Context, InstrumentationScope, KeyValue, Link, Resource, SamplingDecision,
    SamplingParameters, Span, SpanContext, SpanId, SpanKind, TraceFlags, TraceState,
    TracerProvider,
};

/// Starts spans for one instrumentation scope. Cheap to clone; get one from
/// [`TracerProvider::tracer`] or, with a global provider,
/// [`tracelite::tracer`](crate::tracer()).
///
/// ```
/// use tracelite::{SpanKind, TracerProvider};
///
/// let tracer = TracerProvider::builder().build().tracer("my-api");
/// let span = tracer.span("GET /users").kind(SpanKind::Server).start();
/// let _active = span.enter();
/// let child = tracer.span("fetch_from_db").start(); // a child of `span`
/// assert_eq!(child.span_context().trace_id(), span.span_context().trace_id());
/// ```
///
/// A tracer is a handle on its provider: the provider shuts down (flushing
/// its processors) when the last `TracerProvider` and `Tracer` are dropped.
pub struct Tracer {
    origin: Arc<Origin>,
}

/// Where spans come from: the resource and scope every span of a tracer
/// shares, and, for live spans, the provider to report to. Spans and
/// finished records share it by reference count, so ending a span copies
/// nothing of it.
pub(crate) struct Origin {
    /// The same for a tracer's origin and every thread's copy of it (and
    /// unique otherwise): what exporters group records by.
    pub(crate) id: u64,
    pub(crate) provider: Option<Arc<ProviderInner>>,
    pub(crate) resource: Resource,
    pub(crate) scope: InstrumentationScope,
}

/// Origins copied for the thread that makes spans, with the tracer's each
/// was copied from.
struct LocalOrigin {
    /// The tracer's origin, weakly: while held, its address is not reused,
    /// and once every tracer of that origin is gone the entry is dead.
    of: std::sync::Weak<Origin>,
    copy: Arc<Origin>,
}

/// Copies of tracers' origins a thread keeps at most.
const LOCAL_ORIGINS: usize = 8;

thread_local! {
    static LOCAL: std::cell::RefCell<Vec<LocalOrigin>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The origin for a span that `tracer` starts on this thread: this thread's
/// own copy of the tracer's (the same provider, resource and scope).
///
/// Every live span and finished record holds a reference to its origin. With
/// one shared `Arc` per tracer, its reference count — written at every span
/// start and end, on every thread — would be one cache line that all the
/// application's cores and the exporter pass around for each span. With a
/// copy per thread, only the thread and the exporter (a batch at a time)
/// write it. Entries whose tracers are all gone are dropped as the thread
/// looks up others; a thread keeps at most [`LOCAL_ORIGINS`].
#[inline]
pub(super) fn local_origin(tracer: &Tracer) -> Arc<Origin> {
    let shared = &tracer.origin;
    LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            if let Some(entry) = local
                .iter()
                .find(|e| std::ptr::eq(e.of.as_ptr(), Arc::as_ptr(shared)))
            {
                return Some(entry.copy.clone());
            }
            Some(add_local_origin(&mut local, shared))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| shared.clone())
}

#[cold]
fn add_local_origin(local: &mut Vec<LocalOrigin>, shared: &Arc<Origin>) -> Arc<Origin> {
    let before = local.len();
    local.retain(|e| e.of.strong_count() > 0);
    if local.len() >= LOCAL_ORIGINS {
        local.remove(0);
    }
    if local.len() < before {
        // Pooled span boxes keep their last origin for the next span of the
        // same tracer: those of copies let go here go too.
        Recording::forget_pooled_origins(|id| {
            id == shared.id || local.iter().any(|e| e.copy.id == id)
        });
    }
    let copy = Arc::new(Origin {
        id: shared.id,
        provider: shared.provider.clone(),
        resource: shared.resource.clone(),
        scope: shared.scope.clone(),
    });
    local.push(LocalOrigin {
        of: Arc::downgrade(shared),
        copy: copy.clone(),
    });
    copy
}

impl Origin {
    /// A new origin id.
    fn next_id() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The origin of spans that no local tracer made (received over OTLP).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn detached(resource: Resource, scope: InstrumentationScope) -> Arc<Origin> {
        Arc::new(Origin {
            id: Origin::next_id(),
            provider: None,
            resource,
            scope,
        })
    }
}

impl Tracer {
    pub(crate) fn new(provider: Arc<ProviderInner>, scope: InstrumentationScope) -> Tracer {
        provider.acquire_handle();
        Tracer {
            origin: Arc::new(Origin {
                id: Origin::next_id(),
                resource: provider.resource.clone(),
                provider: Some(provider),
                scope,
            }),
        }
    }

    /// The id of the tracer's origin, shared by every thread's copy.
    #[inline]
    pub(super) fn origin_id(&self) -> u64 {
        self.origin.id
    }

    #[inline]
    pub(crate) fn provider_inner(&self) -> &ProviderInner {
        // A tracer is always made by a provider.
        self.origin
            .provider
            .as_deref()
            .expect("a tracer always has a provider")
    }

    /// Starts describing a span; call [`SpanBuilder::start`] to start it.
    #[inline]
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder {
            tracer: self,
            name: name.into(),
            kind: SpanKind::Internal,
            parent: Parent::Current,
            attributes: Vec::new(),
            links: Vec::new(),
            start_time: None,
        }
    }

    /// Starts an internal span, child of the current context.
    #[inline]
    pub fn start(&self, name: impl Into<Cow<'static, str>>) -> Span {
        self.start_current(name.into())
    }

    /// [`start`](Self::start) once the name is a `Cow`: one copy of the
    /// inlined start whatever name types callers pass. The builder is
    /// empty (no start attributes, links or start time), so their handling
    /// compiles away.
    fn start_current(&self, name: Cow<'static, str>) -> Span {
        start_span(self.span(name))
    }

    /// Runs `f` inside a new span: the span is current while `f` runs and
    /// ends when it returns.
    ///
    /// ```
    /// # let tracer = tracelite::TracerProvider::builder().build().tracer("t");
    /// let total = tracer.in_span("sum", |span| {
    ///     span.set_attribute("items", 3);
    ///     1 + 2
    /// });
    /// assert_eq!(total, 3);
    /// ```
    pub fn in_span<T>(&self, name: impl Into<Cow<'static, str>>, f: impl FnOnce(&Span) -> T) -> T {
        let span = self.span(name).start();
        let _active = span.enter();
        f(&span)
    }

    /// The instrumentation scope this tracer stamps on its spans.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.origin.scope
    }

    /// A handle to the provider this tracer belongs to.
    pub fn provider(&self) -> TracerProvider {
        TracerProvider::from_inner(
            self.origin
                .provider
                .clone()
                .expect("a tracer always has a provider"),
        )
    }
}

impl Clone for Tracer {
    fn clone(&self) -> Tracer {
        self.provider_inner().acquire_handle();
        Tracer {
            origin: self.origin.clone(),
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.provider_inner().release_handle();
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("scope", &self.origin.scope)
            .finish_non_exhaustive()
    }
}

enum Parent {
    Current,
    Explicit(Context),
    Root,
}

/// Describes a span before it starts: kind, parent, attributes the sampler
/// should see, links, start time. Made by [`Tracer::span`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tracelite::{Context, SpanKind, TracerProvider};
///
/// let tracer = TracerProvider::builder().build().tracer("worker");
/// let span = tracer
///     .span("process order")
///     .kind(SpanKind::Consumer)
///     .attribute("messaging.system", "kafka")
///     .start_time(SystemTime::now() - Duration::from_millis(5))
///     .root() // ignore the current context
///     .start();
/// assert!(span.is_recording());
/// ```
#[must_use = "a span builder does nothing until `.start()`"]
pub struct SpanBuilder<'t> {
    tracer: &'t Tracer,
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Parent,
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
    start_time: Option<SystemTime>,
}

impl SpanBuilder<'_> {
    /// Sets the span kind (default [`SpanKind::Internal`]).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Makes the span a child of `parent` instead of the current context:
    /// a [`Context`], a [`SpanContext`], or a `&Span`.
    pub fn parent(mut self, parent: impl Into<Context>) -> Self {
        self.parent = Parent::Explicit(parent.into());
        self
    }

    /// Makes the span the root of a new trace, whatever the current context.
    pub fn root(mut self) -> Self {
        self.parent = Parent::Root;
        self
    }

    /// Adds an attribute known at start (the sampler sees it).
    pub fn attribute(mut self, key: impl Into<super::Key>, value: impl Into<super::Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Adds attributes known at start.
    pub fn attributes<I>(mut self, attributes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        self.attributes
            .extend(attributes.into_iter().map(Into::into));
        self
    }

    /// Adds a link to another span.
    pub fn link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    /// Sets the start time (default: now).
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start_time = Some(time);
        self
    }

    /// Starts the span. It ends when [`Span::end`] is called or when it is
    /// dropped.
    pub fn start(self) -> Span {
        start_span(self)
    }
}

/// Starts a span: the one implementation behind [`SpanBuilder::start`] and
/// [`Tracer::start`], inlined into each so that what the caller did not give
/// (start attributes, links, a start time) costs nothing.
#[inline(always)]
fn start_span(builder: SpanBuilder<'_>) -> Span {
    let SpanBuilder {
        tracer,
        name,
        kind,
        parent,
        attributes,
        links,
        start_time,
    } = builder;
    let provider = tracer.provider_inner();
    let parent_cx = match parent {
        Parent::Current => Context::current(),
        Parent::Explicit(cx) => cx,
        Parent::Root => Context::new(),
    };

    if provider.noop || provider.is_shutdown() {
        // Carry the parent's context so propagation passes through.
        let (span_context, baggage) = parent_cx.into_parts();
        return Span::non_recording(span_context, baggage);
    }

    let parent = parent_cx.span_context();
    let (trace_id, span_id, parent_span_id, flags) = if parent.is_valid() {
        let span_id = provider.new_span_id();
        (
            parent.trace_id(),
            span_id,
            parent.span_id(),
            parent.trace_flags(),
        )
    } else {
        let (trace_id, span_id) = provider.new_root_ids();
        let flags = TraceFlags::NONE.with_random(provider.random_trace_ids());
        (trace_id, span_id, SpanId::INVALID, flags)
    };

    // A dropped span is only a context: the parent's state and baggage move
    // into it, uncopied.
    let dropped = |parent_cx: Context, trace_state: Option<TraceState>| {
        let (parent, baggage) = parent_cx.into_parts();
        let trace_state = trace_state.unwrap_or_else(|| parent.into_trace_state());
        let flags = flags.with_sampled(false);
        Span::non_recording(
            SpanContext::new(trace_id, span_id, flags, false, trace_state),
            baggage,
        )
    };
    let (sampled, sampler_attributes, sampler_state) = match provider.fixed_decision {
        Some(SamplingDecision::Drop) => return dropped(parent_cx, None),
        Some(decision) => (
            decision == SamplingDecision::RecordAndSample,
            Vec::new(),
            None,
        ),
        None => {
            let result = provider.sampler.should_sample(&SamplingParameters {
                parent: &parent_cx,
                trace_id,
                name: &name,
                kind,
                attributes: &attributes,
                links: &links,
            });
            match result.decision {
                SamplingDecision::Drop => return dropped(parent_cx, result.trace_state),
                decision => (
                    decision == SamplingDecision::RecordAndSample,
                    result.attributes,
                    result.trace_state,
                ),
            }
        }
    };
    let flags = flags.with_sampled(sampled);

    let trace_state = match sampler_state {
        Some(ts) => ts,
        None => parent.trace_state().clone(),
    };
    let parent_is_remote = parent.is_remote();
    let context = SpanContext::new(trace_id, span_id, flags, false, trace_state);
    let start_time = match start_time {
        Some(t) => t,
        None => clock::now().1,
    };
    let mut record = Recording::boxed(
        tracer,
        &provider.limits,
        name,
        kind,
        parent_span_id,
        parent_is_remote,
        start_time,
    );
    record.set_initial(attributes, sampler_attributes, links);
    let processors = provider.processors();
    if processors.is_empty() {
        let (_, baggage) = parent_cx.into_parts();
        return Span::recording(context, baggage, record);
    }
    let span = Span::recording(context, parent_cx.baggage().clone(), record);
    for processor in processors {
        processor.on_start(&span, &parent_cx);
    }
    span
}
