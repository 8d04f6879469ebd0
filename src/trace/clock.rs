//! Span timestamps from a process-wide clock: wall-clock times that every
//! thread derives the same way from the monotonic clock.
//!
//! A span needs a wall-clock start time (to line up with other services)
//! and must order correctly against every other span of the process, on any
//! thread, across `.await` points that move it between threads. Reading
//! `SystemTime` directly does not give that (it can step), and a
//! per-thread derivation lets threads disagree. So:
//!
//! - the monotonic source is `std::time::Instant` (the kernel's
//!   `CLOCK_MONOTONIC`), which is consistent across CPUs. The CPU
//!   time-stamp counter would be three times cheaper to read, but on this
//!   project's VMs a reading taken later on one vCPU was up to 6.5 µs
//!   *earlier* than one taken on another, which would break the ordering
//!   of spans that move between threads (see ARCHITECTURE.md);
//! - wall times are derived from it through one process-wide anchor (a
//!   monotonic reading, the wall time it stands for, and a rate correction),
//!   so all threads map the same instant to the same wall time;
//! - once a second the anchor is compared with the system clock; small
//!   differences (read jitter, frequency adjustments) are slewed away by
//!   adjusting the rate, as NTP does, so the derived clock stays continuous
//!   and never goes backwards; a large difference (the system clock was
//!   stepped) or a long idle gap re-anchors at once.
//!
//! The anchor is read lock-free (a sequence lock over atomics).

use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How often the anchor is compared with the system clock.
const PERIOD_NANOS: u64 = 1_000_000_000;
/// Past this gap since the last comparison, re-anchor outright.
const MAX_SLEW_GAP_NANOS: u64 = 10 * PERIOD_NANOS;
/// Past this difference from the system clock, re-anchor outright.
const MAX_SLEW_ERROR_NANOS: i64 = 1_000_000;
/// The largest rate correction, in parts per billion (500 ppm, NTP's).
const MAX_RATE_PPB: i64 = 500_000;

/// The monotonic origin: readings are nanoseconds since it.
static ORIGIN: OnceLock<Instant> = OnceLock::new();
static ANCHOR: Anchor = Anchor {
    seq: AtomicU64::new(0),
    raw: AtomicU64::new(0),
    wall: AtomicU64::new(0),
    rate_ppb: AtomicI64::new(0),
    drift_ppb: AtomicI64::new(0),
};

/// The process-wide mapping from monotonic readings to wall time.
struct Anchor {
    /// Sequence lock: odd while a writer updates the fields below.
    seq: AtomicU64,
    /// The monotonic reading the anchor was taken at.
    raw: AtomicU64,
    /// The wall time it stands for, nanoseconds since the epoch (0: unset).
    wall: AtomicU64,
    /// Rate correction applied after the anchor, parts per billion.
    rate_ppb: AtomicI64,
    /// The estimated drift against the system clock, parts per billion.
    drift_ppb: AtomicI64,
}

/// Nanoseconds on the monotonic clock since the process origin.
#[inline]
fn raw_now() -> u64 {
    let origin = *ORIGIN.get_or_init(Instant::now);
    let since = Instant::now().saturating_duration_since(origin);
    // In u64 rather than through `as_nanos`' u128: 2^64 ns is 584 years of
    // process uptime.
    since
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(since.subsec_nanos()))
}

/// Sets the anchor now rather than in the first span.
pub(crate) fn init() {
    let _ = now();
}

/// A monotonic reading, only meaningful relative to another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick(u64);

impl Tick {
    /// Time elapsed from this reading to now (zero if the counter appears to
    /// go backwards).
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        Duration::from_nanos(raw_now().saturating_sub(self.0))
    }
}

/// Signed nanoseconds from reading `from` to `to`.
#[inline]
fn signed_delta(from: u64, to: u64) -> i64 {
    (to as i64).wrapping_sub(from as i64)
}

/// The wall time (ns since the epoch) an anchor gives counter reading `raw`.
#[inline]
fn derive(anchor_raw: u64, anchor_wall: u64, rate_ppb: i64, raw: u64) -> i128 {
    derive_from_delta(signed_delta(anchor_raw, raw), anchor_wall, rate_ppb)
}

/// The wall time an anchor gives a reading `d` nanoseconds after it.
#[inline]
fn derive_from_delta(d: i64, anchor_wall: u64, rate_ppb: i64) -> i128 {
    // Within the slewing window |d × rate| < 2^63; i64 division by a
    // constant is a multiplication, i128 division a library call.
    let correction = match d.checked_mul(rate_ppb) {
        Some(product) => i128::from(product / 1_000_000_000),
        None => i128::from(d) * i128::from(rate_ppb) / 1_000_000_000,
    };
    i128::from(anchor_wall) + i128::from(d) + correction
}

/// [`derive_from_delta`] and [`to_system_time`] in 64-bit arithmetic for a
/// reading less than 2^40 ns (18 minutes) from the anchor — every reading
/// but one whose thread found another re-anchoring after a long idle gap:
/// then |d × rate| < 2^40 × 2^19, and (checked too) the anchor is below
/// 2^62 ns since the epoch (the year 2116), so nothing overflows.
#[inline]
fn wall_near_anchor(d: i64, anchor_wall: u64, rate_ppb: i64) -> SystemTime {
    if d.unsigned_abs() >= 1 << 40 || anchor_wall >= 1 << 62 {
        return wall_far_from_anchor(d, anchor_wall, rate_ppb);
    }
    let correction = d * rate_ppb / 1_000_000_000;
    let wall = anchor_wall as i64 + d + correction;
    SystemTime::UNIX_EPOCH + Duration::from_nanos(wall.max(0) as u64)
}

/// The rare case of [`wall_near_anchor`], in 128-bit arithmetic.
#[cold]
#[inline(never)]
fn wall_far_from_anchor(d: i64, anchor_wall: u64, rate_ppb: i64) -> SystemTime {
    to_system_time(derive_from_delta(d, anchor_wall, rate_ppb))
}

fn to_system_time(nanos: i128) -> SystemTime {
    let nanos = u64::try_from(nanos.max(0)).unwrap_or(u64::MAX);
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// A monotonic reading and the wall time of "now", from one counter read in
/// the common case.
#[inline]
pub(crate) fn now() -> (Tick, SystemTime) {
    let raw = raw_now();
    loop {
        let seq = ANCHOR.seq.load(Ordering::Acquire);
        if seq & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let anchor_raw = ANCHOR.raw.load(Ordering::Relaxed);
        let anchor_wall = ANCHOR.wall.load(Ordering::Relaxed);
        let rate = ANCHOR.rate_ppb.load(Ordering::Relaxed);
        let drift = ANCHOR.drift_ppb.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if ANCHOR.seq.load(Ordering::Relaxed) != seq {
            continue;
        }
        let d = signed_delta(anchor_raw, raw);
        if anchor_wall == 0 || d >= PERIOD_NANOS as i64 {
            if let Some(wall) = reanchor(seq, raw, anchor_raw, anchor_wall, rate, drift) {
                return (Tick(raw), wall);
            }
            // Another thread is re-anchoring; the current anchor is still
            // good for this reading.
            if anchor_wall == 0 {
                continue;
            }
        }
        return (Tick(raw), wall_near_anchor(d, anchor_wall, rate));
    }
}

/// Compares the anchor with the system clock and moves it forward. Returns
/// `None` when another thread holds the lock.
#[cold]
fn reanchor(
    seq: u64,
    raw: u64,
    anchor_raw: u64,
    anchor_wall: u64,
    rate: i64,
    drift: i64,
) -> Option<SystemTime> {
    ANCHOR
        .seq
        .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    // The field stores below must not be seen before the odd sequence.
    fence(Ordering::Release);
    let new_raw = raw_now();
    let system = unix_nanos(SystemTime::now());
    let gap = new_raw.saturating_sub(anchor_raw);
    let (wall, rate, drift) = if anchor_wall == 0 || gap > MAX_SLEW_GAP_NANOS {
        (system, drift, drift)
    } else {
        let derived = derive(anchor_raw, anchor_wall, rate, new_raw);
        let error = i128::from(system) - derived;
        if error.abs() > i128::from(MAX_SLEW_ERROR_NANOS) {
            // The system clock was stepped: follow it.
            (system, drift, drift)
        } else {
            // Keep the derived clock continuous. Learn half of the error as
            // drift, and slew the whole error away over the next period
            // (1 ns of error per second is 1 ppb).
            let error = error as i64;
            let drift = (drift + error / 2).clamp(-MAX_RATE_PPB, MAX_RATE_PPB);
            let rate = (drift + error).clamp(-MAX_RATE_PPB, MAX_RATE_PPB);
            let derived = u64::try_from(derived.max(0)).unwrap_or(u64::MAX);
            (derived, rate, drift)
        }
    };
    ANCHOR.raw.store(new_raw, Ordering::Relaxed);
    ANCHOR.wall.store(wall, Ordering::Relaxed);
    ANCHOR.rate_ppb.store(rate, Ordering::Relaxed);
    ANCHOR.drift_ppb.store(drift, Ordering::Relaxed);
    ANCHOR.seq.store(seq + 2, Ordering::Release);
    Some(to_system_time(derive(new_raw, wall, rate, raw)))
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
            assert!(diff < Duration::from_millis(5), "{diff:?}");
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
        assert!(wall.abs_diff(mono) < Duration::from_millis(2));
    }

    /// Across re-anchoring (every second) and across threads, derived wall
    /// times never go backwards: one thread's later reading is never
    /// earlier than another's earlier one.
    #[test]
    fn derived_time_is_monotonic_across_threads_and_reanchors() {
        use std::sync::atomic::AtomicU64;
        use std::sync::Arc;
        let latest = Arc::new(AtomicU64::new(0));
        let began = std::time::Instant::now();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let latest = latest.clone();
                std::thread::spawn(move || {
                    let mut previous = 0;
                    for _ in 0..20_000_000u32 {
                        if began.elapsed() > Duration::from_millis(2500) {
                            break;
                        }
                        // Publish, then read: a reading taken after another
                        // thread's published one must not be earlier.
                        let seen = latest.load(Ordering::SeqCst);
                        let t = unix_nanos(now().1);
                        assert!(t >= previous, "went backwards by {} ns", previous - t);
                        assert!(
                            t + 1_000 >= seen,
                            "{} ns earlier than another thread's earlier reading",
                            seen - t
                        );
                        latest.fetch_max(t, Ordering::SeqCst);
                        previous = t;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn the_64_bit_path_agrees_with_the_128_bit_one() {
        let anchors = [
            1_764_000_000_000_000_000u64,
            1,
            (1 << 62) - 1,
            1 << 62,
            u64::MAX,
        ];
        let deltas = [
            0i64,
            1,
            -1,
            999_999_999,
            -999_999_999,
            (1 << 40) - 1,
            -(1 << 40) + 1,
            1 << 40,
            i64::MAX / 4,
            i64::MIN / 4,
        ];
        let rates = [0i64, 1, -1, MAX_RATE_PPB, -MAX_RATE_PPB, 123_457];
        for &anchor in &anchors {
            for &d in &deltas {
                for &rate in &rates {
                    assert_eq!(
                        wall_near_anchor(d, anchor, rate),
                        to_system_time(derive_from_delta(d, anchor, rate)),
                        "anchor {anchor}, d {d}, rate {rate}"
                    );
                }
            }
        }
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
