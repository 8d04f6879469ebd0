//! The tracer: ids, contexts, spans, providers, samplers and the processor
//! interface. This module depends on nothing else in the crate; everything
//! else builds on it.

pub(crate) mod attribute;
pub mod baggage;
pub mod clock;
mod config_error;
mod context;
mod future;
pub mod global;
pub(crate) mod id;
mod limits;
mod processor;
mod provider;
pub(crate) mod recycle;
pub(crate) mod resource;
mod sampler;
mod scope;
mod span;
mod span_context;
mod span_data;
pub(crate) mod trace_state;
pub(crate) mod tracer;

pub use attribute::{Array, Key, KeyValue, StringValue, Value};
pub use baggage::{Baggage, BaggageEntry, BaggageError};
pub use config_error::ConfigError;
pub use context::{Context, ContextGuard};
pub use future::{FutureExt, Instrumented};
pub use id::{IdGenerator, IdParseError, RandomIdGenerator, SpanId, TraceId};
pub use limits::SpanLimits;
pub use processor::{ExportError, SpanProcessor};
pub use provider::{TracerProvider, TracerProviderBuilder};
pub use resource::Resource;
pub use sampler::{
    sampler_from_env, AlwaysOff, AlwaysOn, ParentBased, RateLimiting, Sampler, SamplingDecision,
    SamplingParameters, SamplingResult, TraceIdRatioBased,
};
pub use scope::{InstrumentationScope, ScopeBuilder};
pub use span::Span;
pub use span_context::{SpanContext, TraceFlags};
pub use span_data::{Event, Link, SpanData, SpanKind, Status};
pub use trace_state::{TraceState, TraceStateError};
pub use tracer::{SpanBuilder, Tracer};
