//! Trace-id ratio sampling: keep a fixed fraction of traces, the same ones
//! in every service.

use super::{Sampler, SamplingDecision, SamplingParameters, SamplingResult};
use crate::trace::{ConfigError, TraceId};

/// The randomness used: the rightmost 56 bits of the trace id, which W3C
/// Trace Context Level 2 requires to be random when the `random` flag is set
/// (and which random generators, ours included, fill).
const RANDOM_BITS: u32 = 56;
const RANDOM_MASK: u64 = (1 << RANDOM_BITS) - 1;

/// Keeps a fraction of traces, decided from the trace id alone, as
/// OpenTelemetry's `TraceIdRatioBased`: every service sampling at the same
/// ratio keeps the same traces, and a trace kept at one ratio is kept at
/// every higher ratio. Ratios 0 and 1 are exact.
///
/// ```
/// use tracelite::TraceIdRatioBased;
///
/// let sampler = TraceIdRatioBased::new(0.25)?;
/// assert_eq!(sampler.ratio(), 0.25);
/// assert!(TraceIdRatioBased::new(1.5).is_err());
/// # Ok::<(), tracelite::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TraceIdRatioBased {
    ratio: f64,
    /// Keep when the trace id's random bits are below this.
    threshold: u64,
}

impl TraceIdRatioBased {
    /// A sampler keeping `ratio` of traces; `ratio` must be in `0.0..=1.0`.
    pub fn new(ratio: f64) -> Result<TraceIdRatioBased, ConfigError> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(ConfigError::InvalidRatio(ratio));
        }
        let threshold = if ratio >= 1.0 {
            1 << RANDOM_BITS
        } else {
            (ratio * (1u64 << RANDOM_BITS) as f64) as u64
        };
        Ok(TraceIdRatioBased { ratio, threshold })
    }

    /// The ratio.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Whether the trace with this id is kept.
    #[inline]
    pub fn keeps(&self, trace_id: TraceId) -> bool {
        (trace_id.to_u128() as u64 & RANDOM_MASK) < self.threshold
    }
}

impl Sampler for TraceIdRatioBased {
    #[inline]
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::decision(if self.keeps(params.trace_id) {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }

    fn description(&self) -> String {
        format!("TraceIdRatioBased{{{}}}", self.ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::id::random_trace_id;

    #[test]
    fn kept_fraction_is_close_to_the_ratio() {
        // 100,000 random ids; binomial standard deviation at p=0.5 is about
        // 0.0016, so a tolerance of 0.01 is over six sigma.
        const N: usize = 100_000;
        let ids: Vec<TraceId> = (0..N).map(|_| random_trace_id()).collect();
        for ratio in [0.01, 0.1, 0.25, 0.5, 0.9] {
            let s = TraceIdRatioBased::new(ratio).unwrap();
            let kept = ids.iter().filter(|id| s.keeps(**id)).count();
            let fraction = kept as f64 / N as f64;
            assert!(
                (fraction - ratio).abs() < 0.01,
                "ratio {ratio}: kept {fraction}"
            );
        }
    }

    #[test]
    fn decisions_are_deterministic_and_nested() {
        let low = TraceIdRatioBased::new(0.2).unwrap();
        let high = TraceIdRatioBased::new(0.6).unwrap();
        for _ in 0..10_000 {
            let id = random_trace_id();
            let first = low.keeps(id);
            assert_eq!(first, low.keeps(id), "same id, same decision");
            if first {
                assert!(high.keeps(id), "kept at 0.2 implies kept at 0.6");
            }
        }
    }

    #[test]
    fn zero_and_one_are_exact() {
        let none = TraceIdRatioBased::new(0.0).unwrap();
        let all = TraceIdRatioBased::new(1.0).unwrap();
        for id in [
            TraceId::from_u128(1),
            TraceId::from_u128(u128::MAX),
            TraceId::from_u128(RANDOM_MASK as u128),
        ] {
            assert!(!none.keeps(id));
            assert!(all.keeps(id));
        }
        for _ in 0..1000 {
            let id = random_trace_id();
            assert!(!none.keeps(id) && all.keeps(id));
        }
    }

    #[test]
    fn invalid_ratios_are_errors() {
        for bad in [-0.1, 1.0001, f64::NAN, f64::INFINITY] {
            assert!(TraceIdRatioBased::new(bad).is_err(), "{bad}");
        }
        let msg = TraceIdRatioBased::new(2.0).unwrap_err().to_string();
        assert!(msg.contains("0.0") && msg.contains("1.0"), "{msg}");
    }
}
