//! The tracer provider: configuration shared by every tracer and span.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::{
    sampler::sampler_from_lookup, AlwaysOn, ExportError, IdGenerator, InstrumentationScope,
    ParentBased, RandomIdGenerator, Resource, Sampler, SpanData, SpanId, SpanLimits, SpanProcessor,
    TraceId, Tracer,
};

/// The entry point of the SDK: owns the resource, sampler, span limits and
/// span processors, and hands out [`Tracer`]s. Cheap to clone (a shared
/// handle).
///
/// The pipeline shuts down — flushing every processor — when
/// [`shutdown`](TracerProvider::shutdown) is called, or when the last handle
/// is dropped. Tracers count as handles, so a tracer obtained from a
/// temporary provider keeps working; spans still open at that moment are
/// not exported.
///
/// ```
/// use tracelite::{InMemoryExporter, Resource, SimpleSpanProcessor, TracerProvider};
///
/// let exporter = InMemoryExporter::default();
/// let provider = TracerProvider::builder()
///     .with_resource(Resource::new([("service.name", "my-api")]))
///     .with_processor(SimpleSpanProcessor::new(exporter.clone()))
///     .build();
/// let tracer = provider.tracer("my-api");
/// tracer.in_span("work", |span| span.set_attribute("items", 3));
///
/// let spans = exporter.finished_spans();
/// assert_eq!(spans[0].name, "work");
/// assert_eq!(spans[0].resource().service_name(), "my-api");
/// ```
pub struct TracerProvider {
    pub(crate) inner: Arc<ProviderInner>,
}

pub(crate) struct ProviderInner {
    pub(crate) resource: Resource,
    processors: Box<[Box<dyn SpanProcessor>]>,
    pub(crate) sampler: Box<dyn Sampler>,
    /// The sampler's [`fixed_decision`](Sampler::fixed_decision), asked once.
    pub(crate) fixed_decision: Option<super::SamplingDecision>,
    pub(crate) limits: SpanLimits,
    /// `None` is the built-in random generator, called without dispatch.
    id_generator: Option<Box<dyn IdGenerator>>,
    random_trace_ids: bool,
    /// A no-op provider makes non-recording spans that carry their parent's
    /// context (the global provider before one is set).
    pub(crate) noop: bool,
    is_shutdown: AtomicBool,
    /// Live `TracerProvider` and `Tracer` handles; the last one to go shuts
    /// the pipeline down. Records (`SpanData`) are not handles, so spans
    /// waiting in a queue never keep a provider up.
    handles: AtomicUsize,
}

impl ProviderInner {
    pub(crate) fn acquire_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn release_handle(&self) {
        if self.handles.fetch_sub(1, Ordering::AcqRel) == 1 && !self.is_shutdown() {
            if let Err(e) = self.shutdown() {
                crate::diagnostics::warn(&format!("shutting down the tracer provider: {e}"));
            }
        }
    }

    /// A new trace id and span id for a root span.
    #[inline]
    pub(crate) fn new_root_ids(&self) -> (TraceId, SpanId) {
        match &self.id_generator {
            None => super::id::random_ids(),
            Some(g) => (g.new_trace_id(), g.new_span_id()),
        }
    }

    #[inline]
    pub(crate) fn new_span_id(&self) -> SpanId {
        match &self.id_generator {
            None => super::id::random_span_id(),
            Some(g) => g.new_span_id(),
        }
    }

    pub(crate) fn random_trace_ids(&self) -> bool {
        self.random_trace_ids
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.is_shutdown.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn processors(&self) -> &[Box<dyn SpanProcessor>] {
        &self.processors
    }

    /// Hands a finished span (in `span`) to every processor: copies to all
    /// but the last, the span itself to the last, in its slot.
    #[inline]
    pub(crate) fn on_end_in(&self, span: &mut Option<SpanData>) {
        if let Some((last, rest)) = self.processors.split_last() {
            if let Some(data) = span.as_ref() {
                for p in rest {
                    p.on_end(data.clone());
                }
            }
            last.on_end_in(span);
        }
    }

    fn force_flush(&self) -> Result<(), ExportError> {
        let mut result = Ok(());
        for p in self.processors.iter() {
            if let Err(e) = p.force_flush() {
                result = result.and(Err(e));
            }
        }
        result
    }

    fn shutdown(&self) -> Result<(), ExportError> {
        if self.is_shutdown.swap(true, Ordering::AcqRel) {
            return Err(ExportError::AlreadyShutdown);
        }
        let mut result = Ok(());
        for p in self.processors.iter() {
            if let Err(e) = p.shutdown() {
                result = result.and(Err(e));
            }
        }
        result
    }
}

impl Drop for ProviderInner {
    fn drop(&mut self) {
        if !self.is_shutdown() {
            if let Err(e) = self.shutdown() {
                crate::diagnostics::warn(&format!("shutting down the tracer provider: {e}"));
            }
        }
    }
}

impl Clone for TracerProvider {
    fn clone(&self) -> TracerProvider {
        TracerProvider::from_inner(self.inner.clone())
    }
}

impl Drop for TracerProvider {
    fn drop(&mut self) {
        self.inner.release_handle();
    }
}

impl TracerProvider {
    pub(crate) fn from_inner(inner: Arc<ProviderInner>) -> TracerProvider {
        inner.acquire_handle();
        TracerProvider { inner }
    }

    /// Starts configuring a provider.
    pub fn builder() -> TracerProviderBuilder {
        TracerProviderBuilder::default()
    }

    /// A provider that records nothing; spans carry their parent's context
    /// so traces still propagate through code that uses it.
    pub fn noop() -> TracerProvider {
        let mut builder = TracerProvider::builder();
        builder.resource = Some(Resource::empty());
        builder.limits = Some(SpanLimits::default());
        builder.noop = true;
        builder.build()
    }

    /// A tracer whose spans name `name` as their instrumentation scope
    /// (usually the crate or module that makes them).
    pub fn tracer(&self, name: impl Into<Cow<'static, str>>) -> Tracer {
        self.tracer_with_scope(InstrumentationScope::new(name))
    }

    /// A tracer with a full instrumentation scope (name, version, ...).
    pub fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        Tracer::new(self.inner.clone(), scope)
    }

    /// The resource every span of this provider carries.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The span limits.
    pub fn span_limits(&self) -> SpanLimits {
        self.inner.limits
    }

    /// Asks every processor to export what it holds, and waits for them.
    pub fn force_flush(&self) -> Result<(), ExportError> {
        self.inner.force_flush()
    }

    /// Flushes and shuts down every processor. Spans started afterwards are
    /// not recorded. A second call returns [`ExportError::AlreadyShutdown`].
    pub fn shutdown(&self) -> Result<(), ExportError> {
        self.inner.shutdown()
    }

    /// Whether [`shutdown`](TracerProvider::shutdown) has run.
    pub fn is_shutdown(&self) -> bool {
        self.inner.is_shutdown()
    }
}

impl fmt::Debug for TracerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerProvider")
            .field("resource", &self.inner.resource)
            .field(
                "sampler",
                &format_args!("{}", self.inner.sampler.description()),
            )
            .field("processors", &self.inner.processors.len())
            .field("limits", &self.inner.limits)
            .field("noop", &self.inner.noop)
            .field("is_shutdown", &self.inner.is_shutdown())
            .finish()
    }
}

/// Configures a [`TracerProvider`].
///
/// Defaults: the resource from the environment ([`Resource::default`]), the
/// sampler from `OTEL_TRACES_SAMPLER` (see
/// [`sampler_from_env`](crate::sampler_from_env)) or else
/// `ParentBased(AlwaysOn)`, span limits from the environment
/// ([`SpanLimits::from_env`]), random ids, and no processors.
#[derive(Default)]
pub struct TracerProviderBuilder {
    resource: Option<Resource>,
    processors: Vec<Box<dyn SpanProcessor>>,
    sampler: Option<Box<dyn Sampler>>,
    limits: Option<SpanLimits>,
    id_generator: Option<Box<dyn IdGenerator>>,
    noop: bool,
}

impl TracerProviderBuilder {
    /// Merges `resource` over the detected default, so what you set wins and
    /// `telemetry.sdk.*` is kept. Called again, the resources merge.
    pub fn with_resource(mut self, resource: Resource) -> Self {
        let base = self.resource.take().unwrap_or_default();
        self.resource = Some(base.merge(&resource));
        self
    }

    /// Adds a span processor; several may be added and all are called, in
    /// order.
    pub fn with_processor(mut self, processor: impl SpanProcessor) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Sets the sampler.
    pub fn with_sampler(mut self, sampler: impl Sampler) -> Self {
        self.sampler = Some(Box::new(sampler));
        self
    }

    /// Sets the span limits.
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Sets how trace and span ids are made.
    pub fn with_id_generator(mut self, generator: impl IdGenerator) -> Self {
        self.id_generator = Some(Box::new(generator));
        self
    }

    /// Builds the provider.
    pub fn build(self) -> TracerProvider {
        super::clock::init();
        let random_trace_ids = self
            .id_generator
            .as_ref()
            .map_or(RandomIdGenerator.trace_ids_are_random(), |g| {
                g.trace_ids_are_random()
            });
        let sampler = self.sampler.unwrap_or_else(default_sampler);
        TracerProvider::from_inner(Arc::new(ProviderInner {
            resource: self.resource.unwrap_or_default(),
            processors: self.processors.into_boxed_slice(),
            fixed_decision: sampler.fixed_decision(),
            sampler,
            limits: self.limits.unwrap_or_else(SpanLimits::from_env),
            id_generator: self.id_generator,
            random_trace_ids,
            noop: self.noop,
            is_shutdown: AtomicBool::new(false),
            handles: AtomicUsize::new(0),
        }))
    }
}

/// The sampler from the environment, or OpenTelemetry's default
/// `ParentBased(AlwaysOn)`; a bad setting is reported and the default used.
fn default_sampler() -> Box<dyn Sampler> {
    match sampler_from_lookup(|name| std::env::var(name).ok()) {
        Ok(Some(sampler)) => sampler,
        Ok(None) => Box::new(ParentBased::new(AlwaysOn)),
        Err(e) => {
            crate::diagnostics::warn(&format!("{e}; using parentbased_always_on"));
            Box::new(ParentBased::new(AlwaysOn))
        }
    }
}
