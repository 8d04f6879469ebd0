//! Span timestamps: wall-clock start times from one monotonic read.
//!
//! Reading the wall clock and the monotonic clock for every span start costs
//! two clock reads. Instead each thread keeps an anchor (a wall time and the
//! monotonic instant it was read at) and derives wall times from the
//! monotonic clock, re-reading the wall clock at most once a second so that
//! clock adjustments show up quickly. Durations are always monotonic.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

/// How long an anchor is trusted before the wall clock is read again.
const REANCHOR_AFTER: Duration = Duration::from_secs(1);

thread_local! {
    static ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// The monotonic instant and the wall time of "now", from one clock read in
/// the common case.
#[inline]
pub(crate) fn now() -> (Instant, SystemTime) {
    let mono = Instant::now();
    let wall = ANCHOR.with(|anchor| match anchor.get() {
        Some((at, wall)) if mono.saturating_duration_since(at) < REANCHOR_AFTER => {
            wall + (mono - at)
        }
        _ => reanchor(anchor, mono),
    });
    (mono, wall)
}

#[cold]
fn reanchor(anchor: &Cell<Option<(Instant, SystemTime)>>, mono: Instant) -> SystemTime {
    let wall = SystemTime::now();
    anchor.set(Some((mono, wall)));
    wall
}

/// Nanoseconds since the Unix epoch (0 for times before it).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_wall_time_tracks_the_system_clock() {
        let (_, derived) = now();
        let real = SystemTime::now();
        let diff = real
            .duration_since(derived)
            .unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_millis(50), "{diff:?}");
    }

    #[test]
    fn wall_time_advances_with_monotonic_time() {
        let (m1, w1) = now();
        std::thread::sleep(Duration::from_millis(5));
        let (m2, w2) = now();
        let wall = w2.duration_since(w1).unwrap();
        let mono = m2 - m1;
        assert!(wall >= Duration::from_millis(5));
        // Within one anchor the two agree exactly; across a re-anchor closely.
        assert!(wall.abs_diff(mono) < Duration::from_millis(20));
    }

    #[test]
    fn unix_nanos_of_epoch_and_before() {
        assert_eq!(unix_nanos(SystemTime::UNIX_EPOCH), 0);
        assert_eq!(
            unix_nanos(SystemTime::UNIX_EPOCH + Duration::from_nanos(42)),
            42
        );
        assert_eq!(unix_nanos(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
