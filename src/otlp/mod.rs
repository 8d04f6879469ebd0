//! OTLP, the OpenTelemetry protocol (feature `otlp`): the trace messages in
//! protobuf ([`proto`]) and JSON ([`json`]), lossless conversion to and from
//! [`SpanData`](crate::SpanData) ([`to_span_data`], [`from_span_data`]), and
//! the OTLP/HTTP receiver ([`OtlpReceiver`]) that `tracelite serve` runs.
//!
//! ```
//! use tracelite::otlp::{from_span_data, to_span_data};
//! use tracelite::{InMemoryExporter, SimpleSpanProcessor, TracerProvider};
//!
//! let spans = InMemoryExporter::default();
//! let provider = TracerProvider::builder()
//!     .with_processor(SimpleSpanProcessor::new(spans.clone()))
//!     .build();
//! provider.tracer("t").in_span("work", |s| s.set_attribute("n", 3));
//!
//! let request = from_span_data(&spans.finished_spans());
//! let back = to_span_data(request);
//! assert_eq!(back.spans[0].name, "work");
//! assert_eq!(back.spans[0].attributes, spans.finished_spans()[0].attributes);
//! ```

mod convert;
mod exporter;
pub mod json;
mod json_fast;
pub mod proto;
mod receiver;

pub use convert::{from_span_data, to_span_data, Converted};
pub use exporter::{OtlpExporter, OtlpExporterBuilder, OtlpExporterStats, Protocol};
pub use receiver::{IngestCounters, IngestQueue, OtlpReceiver, DEFAULT_MAX_BODY};
