//! Samplers decide, as a span starts, whether it is recorded and exported.

use std::fmt;

use super::{Context, KeyValue, Link, SpanKind, TraceId, TraceState};

/// What a sampler decided for a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingDecision {
    /// Not recorded, not exported; the span still carries a valid context so
    /// the trace propagates.
    Drop,
    /// Recorded (processors see it) but not exported; the sampled flag is off.
    RecordOnly,
    /// Recorded and exported; the sampled flag is on.
    RecordAndSample,
}

/// A sampler's answer: the decision, attributes to add to the span, and the
/// trace state the span should carry (`None` keeps the parent's).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingResult {
    /// The decision.
    pub decision: SamplingDecision,
    /// Attributes to add to the span when it is recorded.
    pub attributes: Vec<KeyValue>,
    /// A replacement trace state, or `None` to keep the parent's.
    pub trace_state: Option<TraceState>,
}

impl SamplingResult {
    /// A result with only a decision.
    pub const fn decision(decision: SamplingDecision) -> SamplingResult {
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: None,
        }
    }
}

/// What a sampler sees of a span about to start.
#[derive(Debug)]
#[non_exhaustive]
pub struct SamplingParameters<'a> {
    /// The parent context (its span context is invalid for a root span).
    pub parent: &'a Context,
    /// The trace id the span will have.
    pub trace_id: TraceId,
    /// The span's name.
    pub name: &'a str,
    /// The span's kind.
    pub kind: SpanKind,
    /// Attributes given at start.
    pub attributes: &'a [KeyValue],
    /// Links given at start.
    pub links: &'a [Link],
}

/// Decides at span start whether a span is dropped, recorded, or recorded and
/// exported.
///
/// Samplers run on the hot path of every span: keep `should_sample` cheap and
/// free of locks.
pub trait Sampler: Send + Sync + 'static {
    /// The decision for one span.
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult;

    /// A short description, such as `AlwaysOnSampler` or
    /// `TraceIdRatioBased{0.25}`, shown in the provider's `Debug` output.
    fn description(&self) -> String;
}

impl fmt::Debug for dyn Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

/// Records and exports every span.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOn;

impl Sampler for AlwaysOn {
    #[inline]
    fn should_sample(&self, _: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::decision(SamplingDecision::RecordAndSample)
    }

    fn description(&self) -> String {
        "AlwaysOnSampler".into()
    }
}

/// Drops every span (contexts still propagate).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOff;

impl Sampler for AlwaysOff {
    #[inline]
    fn should_sample(&self, _: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::decision(SamplingDecision::Drop)
    }

    fn description(&self) -> String {
        "AlwaysOffSampler".into()
    }
}
