//! # TraceLite
//!
//! Distributed tracing for Rust services that runs on one laptop and grows
//! to a fleet: an OpenTelemetry-shaped tracer, context that follows
//! `.await`, and a waterfall in your terminal the moment a request ends.
//!
//! ## Quick start
//!
//! ```
//! use tracelite::{ConsoleExporter, Resource, SimpleSpanProcessor, SpanKind, TracerProvider};
//!
//! let provider = TracerProvider::builder()
//!     .with_resource(Resource::new([("service.name", "my-api")]))
//!     .with_processor(SimpleSpanProcessor::new(ConsoleExporter::default()))
//!     .build();
//! let tracer = provider.tracer("my-api");
//!
//! let span = tracer.span("GET /users").kind(SpanKind::Server).start();
//! let _active = span.enter();                          // current until dropped
//! span.set_attribute("http.method", "GET");
//! {
//!     let db = tracer.span("fetch_from_db").start();   // child of the current span
//!     db.set_attribute("db.system", "postgresql");
//! }                                                      // ends on drop
//! span.set_attribute("http.status_code", 200);
//! ```
//!
//! When the root span ends, the console exporter prints its trace:
//!
//! ```text
//! trace 4bf92f3577b34da6a3ce929d0e0e4736 · 2 spans · 245ms
//! my-api › GET /users        245ms  ████████████████████████████
//! my-api ›   fetch_from_db   172ms      ████████████████████
//! ```
//!
//! ## The pieces
//!
//! - [`TracerProvider`] holds the configuration ([`Resource`], [`Sampler`],
//!   [`SpanLimits`], [`SpanProcessor`]s) and makes [`Tracer`]s.
//! - A [`Tracer`] starts [`Span`]s through a [`SpanBuilder`]; a span records
//!   attributes, events, links and a [`Status`], and becomes a [`SpanData`]
//!   record when it ends.
//! - The current [`Context`] decides a new span's parent. [`Span::enter`]
//!   sets it for a scope; [`FutureExt`] carries it across `.await` and into
//!   `tokio::spawn`.
//! - Processors hand finished spans to exporters: [`SimpleSpanProcessor`]
//!   with [`ConsoleExporter`] or [`InMemoryExporter`].
//! - [`global`] holds a process-wide provider for code that cannot be
//!   handed one: [`tracelite::tracer`](tracer()).
//! - `#[tracelite::trace]` (feature `macros`) makes a span per call of a
//!   function; `bridge::TraceLiteLayer` (feature `tracing`) brings `tracing`
//!   spans and events in.
//! - [`http`] has the Tower layers for hyper and axum servers and clients;
//!   [`store`] the embedded SQLite store; [`analysis`] RED metrics, critical
//!   paths and service maps; [`dashboard`] the web UI as a Tower service;
//!   [`otlp`] OTLP/HTTP in and out.

#![warn(missing_docs)]
// One exception, allowed where it stands: the clock's `RDTSCP` read
// (`trace/clock.rs`, see ARCHITECTURE.md, Time).
#![deny(unsafe_code)]

pub mod analysis;
#[cfg(feature = "tracing")]
pub mod bridge;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod diagnostics;
pub mod export;
#[cfg(feature = "tower")]
pub mod http;
#[doc(hidden)]
pub mod macro_support;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod propagation;
pub mod render;
#[cfg(feature = "sqlite")]
pub mod store;
pub mod trace;

pub use export::{
    BatchConfig, BatchSpanProcessor, BatchSpanProcessorBuilder, BatchStats, ConsoleExporter,
    ConsoleExporterBuilder, InMemoryExporter, SimpleSpanProcessor, SpanExporter,
};
pub use trace::global::{self, tracer};
pub use trace::*;
/// Traces a function: see [the macro's documentation](tracelite_macros::trace).
#[cfg(feature = "macros")]
pub use tracelite_macros::trace;

/// README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
