//! Span timestamps: a wall-clock start time and a monotonic duration from
//! one cheap counter read each.
//!
//! Reading the OS clocks costs about 25 ns a read here; a span needs a wall
//! start time, and a monotonic duration, so naively three reads. Instead:
//!
//! - the monotonic clock is [`quanta`]'s: the CPU's invariant time-stamp
//!   counter (about 9 ns a read), calibrated once per process, falling back
//!   to the OS monotonic clock where the counter is not reliable;
//! - each thread keeps an anchor (a counter reading and the wall time read
//!   with it) and derives wall times from the counter, reading the wall
//!   clock again at most once a second so that adjustments show up quickly.
//!
//! So a span reads the counter once at start and once at end.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// How long an anchor is trusted before the wall clock is read again.
const REANCHOR_AFTER_NANOS: u64 = 1_000_000_000;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

thread_local! {
    static ANCHOR: Cell<Option<(u64, SystemTime)>> = const { Cell::new(None) };
}

#[inline]
fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the counter now (about half a millisecond, once per process)
/// rather than in the first span.
pub(crate) fn init() {
    clock();
}

/// A monotonic reading, only meaningful relative to another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick(u64);

impl Tick {
    /// Time elapsed from this reading to now (zero if the counter appears to
    /// go backwards).
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        let c = clock();
        Duration::from_nanos(c.delta_as_nanos(self.0, c.raw()))
    }
}

/// A monotonic reading and the wall time of "now", from one counter read in
/// the common case.
#[inline]
pub(crate) fn now() -> (Tick, SystemTime) {
    let c = clock();
    let raw = c.raw();
    let wall = ANCHOR.with(|anchor| match anchor.get() {
        Some((at, wall)) => {
            let since = c.delta_as_nanos(at, raw);
            if since < REANCHOR_AFTER_NANOS && raw >= at {
                wall + Duration::from_nanos(since)
            } else {
                reanchor(anchor, raw)
            }
        }
        None => reanchor(anchor, raw),
    });
    (Tick(raw), wall)
}

#[cold]
fn reanchor(anchor: &Cell<Option<(u64, SystemTime)>>, raw: u64) -> SystemTime {
    let wall = SystemTime::now();
    anchor.set(Some((raw, wall)));
    wall
}

/// Nanoseconds since the Unix epoch (0 for times before it, saturating far
/// in the future).
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
        for _ in 0..3 {
            let (_, derived) = now();
            let real = SystemTime::now();
            let diff = real
                .duration_since(derived)
                .unwrap_or_else(|e| e.duration());
            assert!(diff < Duration::from_millis(50), "{diff:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn wall_time_and_ticks_advance_together() {
        let (t1, w1) = now();
        std::thread::sleep(Duration::from_millis(5));
        let mono = t1.elapsed();
        let (_, w2) = now();
        let wall = w2.duration_since(w1).unwrap();
        assert!(mono >= Duration::from_millis(5), "{mono:?}");
        assert!(wall >= Duration::from_millis(5), "{wall:?}");
        assert!(wall.abs_diff(mono) < Duration::from_millis(20));
    }

    #[test]
    fn unix_nanos_of_epoch_and_before() {
        assert_eq!(unix_nanos(SystemTime::UNIX_EPOCH), 0);
        assert_eq!(
            unix_nanos(SystemTime::UNIX_EPOCH + Duration::from_nanos(42)),
            42
        );
        assert_eq!(
            unix_nanos(SystemTime::UNIX_EPOCH - Duration::from_secs(1)),
            0
        );
    }
}
