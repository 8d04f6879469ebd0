//! The `opentelemetry_sdk` side of the shapes in `benches/common/shapes.rs`,
//! shared by the `peers` (criterion) and `ratios` (interleaved) benches.

use std::hint::black_box;
use std::time::Duration;

use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    Sampler, SdkTracer, SdkTracerProvider, Span, SpanData, SpanLimits, SpanProcessor,
};

#[derive(Debug)]
pub struct OtelNoopProcessor;

impl SpanProcessor for OtelNoopProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

pub fn otel_provider(sampled: bool, with_noop_processor: bool) -> SdkTracerProvider {
    let mut builder = SdkTracerProvider::builder()
        .with_span_limits(SpanLimits::default())
        .with_sampler(if sampled {
            Sampler::AlwaysOn
        } else {
            Sampler::AlwaysOff
        });
    if with_noop_processor {
        builder = builder.with_span_processor(OtelNoopProcessor);
    }
    builder.build()
}

#[inline]
pub fn otel_span_with_4_attributes(tracer: &SdkTracer) {
    let mut span = tracer.start("GET /users");
    span.set_attribute(KeyValue::new("http.request.method", "GET"));
    span.set_attribute(KeyValue::new("http.response.status_code", 200));
    span.set_attribute(KeyValue::new("url.path", "/users"));
    span.set_attribute(KeyValue::new("server.port", 8080));
    span.end();
}

#[derive(Debug)]
pub struct OtelNoopExporter;

impl opentelemetry_sdk::trace::SpanExporter for OtelNoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// A sampled provider with `opentelemetry_sdk`'s batch processor (its
/// defaults: queue 2048, batches of 512) and a no-op exporter.
#[allow(dead_code)]
pub fn otel_batch_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_limits(SpanLimits::default())
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(OtelNoopExporter).build(),
        )
        .build()
}
