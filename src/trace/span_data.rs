//! The finished span record that processors and exporters receive, and the
//! small types it is made of.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::tracer::Origin;
use super::{InstrumentationScope, KeyValue, Resource, SpanContext, SpanId, Value};

/// What role a span plays in a request: the OpenTelemetry span kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// An operation inside one process (the default).
    #[default]
    Internal,
    /// Handling of a synchronous request from a remote client.
    Server,
    /// A synchronous request to a remote server.
    Client,
    /// Sending a message that a consumer handles later.
    Producer,
    /// Handling a message sent by a producer.
    Consumer,
}

impl SpanKind {
    /// The lowercase name (`internal`, `server`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a span's operation.
///
/// `Ok` is final: once set, later calls to `set_status` are ignored. Setting
/// `Unset` is always ignored. See
/// [`Span::set_status`](crate::Span::set_status).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// Nothing was said (the default; backends read it as success).
    #[default]
    Unset,
    /// The application or operator marked the operation as successful.
    Ok,
    /// The operation failed.
    Error {
        /// A human-readable description of the failure.
        description: Cow<'static, str>,
    },
}

impl Status {
    /// An error status with a description.
    pub fn error(description: impl Into<Cow<'static, str>>) -> Status {
        Status::Error {
            description: description.into(),
        }
    }

    /// Whether this is an error status.
    pub fn is_error(&self) -> bool {
        matches!(self, Status::Error { .. })
    }
}

/// Something that happened at a point in time during a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened, e.g. `exception` or `cache.miss`.
    pub name: Cow<'static, str>,
    /// When it happened.
    pub timestamp: SystemTime,
    /// Details.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the per-event limit.
    pub dropped_attributes_count: u32,
}

/// A reference from a span to another span, in this trace or another one.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The linked span.
    pub span_context: SpanContext,
    /// Details about the link.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the per-link limit.
    pub dropped_attributes_count: u32,
}

impl Link {
    /// A link to `span_context` with attributes.
    pub fn new<I>(span_context: SpanContext, attributes: I) -> Link
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        Link {
            span_context,
            attributes: attributes.into_iter().map(Into::into).collect(),
            dropped_attributes_count: 0,
        }
    }
}

/// A finished span: an immutable record handed to processors and exporters.
///
/// Everything a backend needs is here, including the resource and the
/// instrumentation scope of the tracer that made the span
/// ([`resource`](SpanData::resource), [`scope`](SpanData::scope)), shared
/// with the tracer rather than copied.
#[derive(Clone)]
#[non_exhaustive]
pub struct SpanData {
    /// The span's own context (ids, flags, trace state).
    pub span_context: SpanContext,
    /// The parent's span id, [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// The span's name.
    pub name: Cow<'static, str>,
    /// The span's kind.
    pub kind: SpanKind,
    /// When the span started (wall clock).
    pub start_time: SystemTime,
    /// When the span ended.
    pub end_time: SystemTime,
    /// Attributes, in the order they were first set.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the span limit (values cut to the length limit
    /// are kept and not counted).
    pub dropped_attributes_count: u32,
    /// Events, in the order they were added.
    pub events: Vec<Event>,
    /// Events dropped by the span limit.
    pub dropped_events_count: u32,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// Links dropped by the span limit.
    pub dropped_links_count: u32,
    /// The outcome.
    pub status: Status,
    pub(crate) origin: Arc<Origin>,
}

impl SpanData {
    /// The entity that produced the span (`service.name` and friends).
    pub fn resource(&self) -> &Resource {
        &self.origin.resource
    }

    /// The library or module that produced the span.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.origin.scope
    }

    /// How long the span took (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        self.end_time
            .duration_since(self.start_time)
            .unwrap_or_default()
    }

    /// The value of one attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        super::attribute::find(&self.attributes, key)
    }

    /// Whether this span is the root of its trace within this process: it
    /// has no parent, or its parent is in another process.
    pub fn is_local_root(&self) -> bool {
        !self.parent_span_id.is_valid() || self.parent_is_remote
    }
}

impl fmt::Debug for SpanData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanData")
            .field("span_context", &self.span_context)
            .field("parent_span_id", &self.parent_span_id)
            .field("parent_is_remote", &self.parent_is_remote)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("start_time", &self.start_time)
            .field("end_time", &self.end_time)
            .field("attributes", &self.attributes)
            .field("dropped_attributes_count", &self.dropped_attributes_count)
            .field("events", &self.events)
            .field("links", &self.links)
            .field("status", &self.status)
            .field("resource", self.resource())
            .field("scope", self.scope())
            .finish()
    }
}
