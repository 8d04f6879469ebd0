//! Samplers decide, as a span starts, whether it is recorded and exported.
//!
//! Five ship with TraceLite: [`AlwaysOn`], [`AlwaysOff`],
//! [`TraceIdRatioBased`], [`RateLimiting`] and [`ParentBased`] (the default,
//! over `AlwaysOn`). [`sampler_from_env`] reads `OTEL_TRACES_SAMPLER`.

use std::fmt;

use super::{Context, KeyValue, Link, SpanKind, TraceId, TraceState};

mod env;
mod parent_based;
mod rate_limiting;
mod ratio;

pub use env::sampler_from_env;
pub(crate) use env::sampler_from_lookup;
pub use parent_based::ParentBased;
pub use rate_limiting::RateLimiting;
pub use ratio::TraceIdRatioBased;

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
#[derive(Debug, Clone, Copy)]
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

impl<'a> SamplingParameters<'a> {
    /// Parameters with no start attributes and no links (for samplers that
    /// delegate, and for testing your own sampler).
    pub fn new(parent: &'a Context, trace_id: TraceId, name: &'a str, kind: SpanKind) -> Self {
        SamplingParameters {
            parent,
            trace_id,
            name,
            kind,
            attributes: &[],
            links: &[],
        }
    }
}

/// Decides at span start whether a span is dropped, recorded, or recorded and
/// exported.
///
/// Samplers run on the hot path of every span: keep `should_sample` cheap and
/// free of locks.
pub trait Sampler: Send + Sync + 'static {
    /// The decision for one span.
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult;

    /// The decision this sampler makes for every span, if it is always the
    /// same one with no attributes added and the trace state kept (as for
    /// [`AlwaysOn`] and [`AlwaysOff`]). The provider asks once, when it is
    /// built; a `Some` lets the tracer skip the call for each span. The
    /// default, `None`, means "ask me every time".
    ///
    /// ```
    /// use tracelite::{AlwaysOff, ParentBased, Sampler, SamplingDecision};
    ///
    /// assert_eq!(AlwaysOff.fixed_decision(), Some(SamplingDecision::Drop));
    /// assert_eq!(ParentBased::new(AlwaysOff).fixed_decision(), None);
    /// ```
    fn fixed_decision(&self) -> Option<SamplingDecision> {
        None
    }

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

    fn fixed_decision(&self) -> Option<SamplingDecision> {
        Some(SamplingDecision::RecordAndSample)
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

    fn fixed_decision(&self) -> Option<SamplingDecision> {
        Some(SamplingDecision::Drop)
    }

    fn description(&self) -> String {
        "AlwaysOffSampler".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanContext, SpanId, TraceFlags};

    /// Answers with a fixed decision and names itself, to see which delegate
    /// ParentBased asked.
    struct Marker(&'static str, SamplingDecision);

    impl Sampler for Marker {
        fn should_sample(&self, _: &SamplingParameters<'_>) -> SamplingResult {
            SamplingResult {
                decision: self.1,
                attributes: vec![KeyValue::new("delegate", self.0)],
                trace_state: None,
            }
        }
        fn description(&self) -> String {
            self.0.to_string()
        }
    }

    fn decide(sampler: &dyn Sampler, parent: Option<(bool, bool)>) -> SamplingResult {
        let cx = match parent {
            None => Context::new(),
            Some((remote, sampled)) => Context::from_span_context(SpanContext::new(
                TraceId::from_u128(7),
                SpanId::from_u64(9),
                TraceFlags::NONE.with_sampled(sampled),
                remote,
                TraceState::default(),
            )),
        };
        sampler.should_sample(&SamplingParameters {
            parent: &cx,
            trace_id: TraceId::from_u128(7),
            name: "op",
            kind: SpanKind::Internal,
            attributes: &[],
            links: &[],
        })
    }

    fn delegate(result: &SamplingResult) -> String {
        result.attributes[0].value.to_string()
    }

    #[test]
    fn parent_based_full_delegate_matrix() {
        use SamplingDecision::*;
        let sampler = ParentBased::new(Marker("root", RecordOnly))
            .with_remote_parent_sampled(Marker("remote_sampled", RecordAndSample))
            .with_remote_parent_not_sampled(Marker("remote_not_sampled", Drop))
            .with_local_parent_sampled(Marker("local_sampled", RecordAndSample))
            .with_local_parent_not_sampled(Marker("local_not_sampled", RecordOnly));
        for (parent, expected, decision) in [
            (None, "root", RecordOnly),
            (Some((true, true)), "remote_sampled", RecordAndSample),
            (Some((true, false)), "remote_not_sampled", Drop),
            (Some((false, true)), "local_sampled", RecordAndSample),
            (Some((false, false)), "local_not_sampled", RecordOnly),
        ] {
            let r = decide(&sampler, parent);
            assert_eq!(delegate(&r), expected, "{parent:?}");
            assert_eq!(r.decision, decision);
        }
    }

    #[test]
    fn parent_based_defaults_follow_the_parent() {
        use SamplingDecision::*;
        let sampler = ParentBased::new(AlwaysOff);
        assert_eq!(decide(&sampler, None).decision, Drop);
        assert_eq!(
            decide(&sampler, Some((true, true))).decision,
            RecordAndSample
        );
        assert_eq!(decide(&sampler, Some((true, false))).decision, Drop);
        assert_eq!(
            decide(&sampler, Some((false, true))).decision,
            RecordAndSample
        );
        assert_eq!(decide(&sampler, Some((false, false))).decision, Drop);
        assert_eq!(
            sampler.description(),
            "ParentBased{root:AlwaysOffSampler,remoteParentSampled:AlwaysOnSampler,\
             remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,\
             localParentNotSampled:AlwaysOffSampler}"
        );
    }

    #[test]
    fn rate_limiting_follows_parents_and_limits_roots() {
        use SamplingDecision::*;
        let sampler = RateLimiting::new(1.0).unwrap();
        assert_eq!(decide(&sampler, None).decision, RecordAndSample);
        assert_eq!(decide(&sampler, None).decision, Drop, "bucket empty");
        assert_eq!(
            decide(&sampler, Some((true, true))).decision,
            RecordAndSample
        );
        assert_eq!(decide(&sampler, Some((false, false))).decision, Drop);
    }
}
