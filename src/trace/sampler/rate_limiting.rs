//! Rate-limited sampling: at most N new traces per second.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Sampler, SamplingDecision, SamplingParameters, SamplingResult};
use crate::trace::clock::{self, Tick};
use crate::trace::ConfigError;

/// Keeps at most `traces_per_second` new traces each second, allowing short
/// bursts of up to `burst` traces; spans with a parent follow the parent's
/// decision, so a kept trace is kept whole.
///
/// It is a token bucket kept as one atomic number (the generic cell rate
/// algorithm): a decision is one clock read and one compare-and-swap, with no
/// lock, correct from any number of threads. Over any window of `t` seconds
/// it keeps at most `burst + t × traces_per_second` traces.
///
/// ```
/// use tracelite::RateLimiting;
///
/// let sampler = RateLimiting::new(100.0)?.with_burst(20);
/// assert_eq!(sampler.burst(), 20);
/// assert!(RateLimiting::new(-1.0).is_err());
/// # Ok::<(), tracelite::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct RateLimiting {
    per_second: f64,
    burst: u32,
    /// Nanoseconds between traces at the steady rate.
    interval: u64,
    /// How far the schedule may run ahead of now: `(burst - 1) × interval`.
    tolerance: u64,
    start: Tick,
    /// The theoretical arrival time of the next trace, in nanoseconds since
    /// `start`.
    next_at: AtomicU64,
}

impl RateLimiting {
    /// A sampler keeping at most `traces_per_second` new traces a second,
    /// with a burst of one second's worth (at least 1). A rate of 0 keeps no
    /// new trace.
    pub fn new(traces_per_second: f64) -> Result<RateLimiting, ConfigError> {
        if !traces_per_second.is_finite() || traces_per_second < 0.0 {
            return Err(ConfigError::InvalidRate(traces_per_second));
        }
        let burst = traces_per_second.ceil().clamp(1.0, u32::MAX as f64) as u32;
        Ok(Self::build(traces_per_second, burst))
    }

    /// Sets how many traces may be kept at once after a quiet period (at
    /// least 1).
    pub fn with_burst(self, burst: u32) -> RateLimiting {
        Self::build(self.per_second, burst.max(1))
    }

    fn build(per_second: f64, burst: u32) -> RateLimiting {
        let interval = if per_second > 0.0 {
            (1e9 / per_second).clamp(1.0, u64::MAX as f64) as u64
        } else {
            u64::MAX
        };
        clock::init();
        RateLimiting {
            per_second,
            burst,
            interval,
            tolerance: interval.saturating_mul(u64::from(burst) - 1),
            start: clock::now().0,
            next_at: AtomicU64::new(0),
        }
    }

    /// The steady rate, traces per second.
    pub fn traces_per_second(&self) -> f64 {
        self.per_second
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes one token if one is available.
    fn try_acquire(&self) -> bool {
        if self.per_second == 0.0 {
            return false;
        }
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut next_at = self.next_at.load(Ordering::Relaxed);
        loop {
            let base = next_at.max(now);
            if base - now > self.tolerance {
                return false;
            }
            match self.next_at.compare_exchange_weak(
                next_at,
                base.saturating_add(self.interval),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => next_at = current,
            }
        }
    }
}

impl Sampler for RateLimiting {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        let parent = params.parent.span_context();
        let keep = if parent.is_valid() {
            parent.is_sampled()
        } else {
            self.try_acquire()
        };
        SamplingResult::decision(if keep {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }

    fn description(&self) -> String {
        format!("RateLimitingSampler{{{}}}", self.per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn concurrent_load_stays_within_rate_plus_burst() {
        const RATE: f64 = 200.0;
        const BURST: u32 = 20;
        let sampler = Arc::new(RateLimiting::new(RATE).unwrap().with_burst(BURST));
        let kept = Arc::new(AtomicUsize::new(0));
        let offered = Arc::new(AtomicUsize::new(0));
        let began = Instant::now();
        let window = Duration::from_secs(2);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (sampler, kept, offered) = (sampler.clone(), kept.clone(), offered.clone());
                std::thread::spawn(move || {
                    // Bounded in count and in time.
                    for _ in 0..20_000_000u64 {
                        if began.elapsed() >= window {
                            break;
                        }
                        offered.fetch_add(1, Ordering::Relaxed);
                        if sampler.try_acquire() {
                            kept.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let elapsed = began.elapsed().as_secs_f64();
        let kept = kept.load(Ordering::Relaxed) as f64;
        let offered = offered.load(Ordering::Relaxed) as f64;
        let ceiling = f64::from(BURST) + RATE * elapsed + 1.0;
        assert!(offered > 10.0 * ceiling, "load too low to test: {offered}");
        assert!(kept <= ceiling, "kept {kept} > {ceiling}");
        // And it does keep at about the rate (the loop may stop a little
        // early on a loaded machine).
        assert!(
            kept >= RATE * elapsed * 0.8,
            "kept only {kept} in {elapsed}s"
        );
    }

    #[test]
    fn burst_then_steady() {
        let s = RateLimiting::new(10.0).unwrap().with_burst(5);
        let first: usize = (0..100).filter(|_| s.try_acquire()).count();
        assert_eq!(first, 5, "the burst, then nothing until time passes");
        std::thread::sleep(Duration::from_millis(250));
        let later: usize = (0..100).filter(|_| s.try_acquire()).count();
        assert!(
            (2..=4).contains(&later),
            "about 2.5 tokens refilled: {later}"
        );
    }

    #[test]
    fn zero_rate_keeps_nothing_and_bad_rates_are_errors() {
        let s = RateLimiting::new(0.0).unwrap();
        assert!(!(0..10).any(|_| s.try_acquire()));
        assert!(RateLimiting::new(f64::NAN).is_err());
        assert!(RateLimiting::new(f64::INFINITY).is_err());
    }
}
