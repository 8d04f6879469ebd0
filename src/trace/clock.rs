//! Span timestamps from a process-wide clock: wall-clock times that every
//! thread derives the same way from one monotonic counter.
//!
//! A span needs a wall-clock start time (to line up with other services)
//! and must order correctly against every other span of the process, on any
//! thread, across `.await` points that move it between threads. Reading
//! `SystemTime` directly does not give that (it can step), and a
//! per-thread derivation lets threads disagree. So:
//!
//! - the monotonic source is the CPU's time-stamp counter when the kernel
//!   itself keeps time with it (x86-64 Linux whose clocksource is `tsc`),
//!   else `std::time::Instant` (`TRACELITE_CLOCK=monotonic` forces it).
//!   Where the kernel's clocksource is the TSC, its `CLOCK_MONOTONIC` is
//!   that same counter of whichever CPU the call runs on, read the same
//!   way and scaled: reading the counter directly is exactly as consistent
//!   across CPUs as `Instant` is there, and costs a third less (the clock
//!   is the largest single item of a span's cost);
//! - wall times are derived from it through one process-wide anchor (a
//!   monotonic reading, the wall time it stands for, and a rate correction),
//!   so all threads map the same instant to the same wall time;
//! - once a second the anchor is compared with the system clock; small
//!   differences (read jitter, frequency adjustments, the counter's
//!   calibration error) are slewed away by adjusting the rate, as NTP does,
//!   so the derived clock stays continuous and never goes backwards; a large
//!   difference (the system clock was stepped) or a long idle gap
//!   re-anchors at once.
//!
//! The anchor is read lock-free (a sequence lock over atomics).

use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How often the anchor is compared with the system clock.
const PERIOD_NANOS: u64 = 1_000_000_000;
/// Past this gap since the last comparison, re-anchor outright.
const MAX_SLEW_GAP_NANOS: u64 = 10 * PERIOD_NANOS;
/// A reading this far before the anchor makes the thread compare with the
/// system clock at once (a thread that was descheduled between its reading
/// and the anchor's, or a counter that went back).
const MAX_BEHIND_NANOS: i64 = 1_000_000;
/// Past this difference from the system clock, re-anchor outright.
const MAX_SLEW_ERROR_NANOS: i64 = 1_000_000;
/// The largest rate correction, in parts per billion (500 ppm, NTP's).
const MAX_RATE_PPB: i64 = 500_000;

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

/// Nanoseconds on the monotonic clock since the process's first reading.
#[inline]
fn raw_now() -> u64 {
    SOURCE.get_or_init(Source::choose).now()
}

/// Where monotonic readings come from, chosen once per process.
static SOURCE: OnceLock<Source> = OnceLock::new();

/// The environment variable that chooses the monotonic source: `auto` (the
/// default) or `monotonic` (`Instant` always).
const CLOCK_VAR: &str = "TRACELITE_CLOCK";

/// The process's monotonic source.
#[derive(Debug)]
enum Source {
    /// The CPU's time-stamp counter, scaled: nanoseconds are
    /// `(counter − base) × mult / 2^32`. Chosen only where the kernel keeps
    /// time with the TSC: it has then checked that the CPUs' counters agree
    /// and run at a constant rate (it marks the TSC unstable, and switches
    /// away from it, otherwise), and its own `CLOCK_MONOTONIC` is the
    /// counter of whichever CPU a call runs on, read the same way.
    ///
    /// Should the counter ever read below `base` — it restarts from zero
    /// when a machine without TSC restore resumes from suspend — the
    /// process goes over to `Instant` for good (`origin` is its origin, from
    /// the same moment as `base`; the anchor re-anchors on the jump).
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    Tsc {
        base: u64,
        mult: u64,
        origin: Instant,
        gone: std::sync::atomic::AtomicBool,
    },
    /// `std::time::Instant` (the kernel's `CLOCK_MONOTONIC`), in nanoseconds
    /// since this origin.
    Monotonic(Instant),
}

impl Source {
    #[cold]
    fn choose() -> Source {
        let forced = clock_var();
        if let Some(value) = forced.as_deref().filter(|v| !clock_var_known(v)) {
            crate::diagnostics::warn(&format!(
                "ignoring {CLOCK_VAR}={value:?}: expected `monotonic` (span times from \
                 std::time::Instant) or `auto` (the default)"
            ));
        }
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if host_allows_tsc(forced.as_deref()) {
            if let Some(source) = tsc::calibrate() {
                return source;
            }
        }
        Source::Monotonic(Instant::now())
    }

    #[inline]
    fn now(&self) -> u64 {
        match self {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Source::Tsc {
                base,
                mult,
                origin,
                gone,
            } => {
                let ticks = tsc::read();
                if ticks >= *base && !gone.load(Ordering::Relaxed) {
                    tsc::scale(ticks - base, *mult)
                } else {
                    tsc_gone(gone, *origin)
                }
            }
            Source::Monotonic(origin) => nanos_since(*origin),
        }
    }
}

/// The counter went back (see [`Source::Tsc`]): `Instant` from now on.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[cold]
#[inline(never)]
fn tsc_gone(gone: &std::sync::atomic::AtomicBool, origin: Instant) -> u64 {
    gone.store(true, Ordering::Relaxed);
    nanos_since(origin)
}

/// Nanoseconds on `Instant` since `origin`.
#[inline]
fn nanos_since(origin: Instant) -> u64 {
    let since = Instant::now().saturating_duration_since(origin);
    // In u64 rather than through `as_nanos`' u128: 2^64 ns is 584 years of
    // process uptime.
    since
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(since.subsec_nanos()))
}

/// [`tsc_allowed`] for this machine, with `TRACELITE_CLOCK` set to `forced`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn host_allows_tsc(forced: Option<&str>) -> bool {
    use std::io::BufRead;
    let clocksource =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .ok();
    // The first CPU's flags line (all CPUs of a machine list the same).
    let flags = std::fs::File::open("/proc/cpuinfo").ok().and_then(|f| {
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with("flags"))
    });
    tsc_allowed(forced, clocksource.as_deref(), flags.as_deref())
}

/// `TRACELITE_CLOCK`'s value, if set.
fn clock_var() -> Option<String> {
    std::env::var_os(CLOCK_VAR).map(|v| v.to_string_lossy().into_owned())
}

/// Whether `TRACELITE_CLOCK`'s value is one it takes (any case, blanks
/// around ignored; empty is the default).
fn clock_var_known(value: &str) -> bool {
    let value = value.trim();
    value.is_empty()
        || value.eq_ignore_ascii_case("monotonic")
        || value.eq_ignore_ascii_case("auto")
}

/// Whether the TSC may be the source: not forced off by `TRACELITE_CLOCK`
/// (`monotonic`), the kernel's current clocksource is `tsc`, and the CPU
/// has `RDTSCP` (the ordered read, see `tsc::read`).
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code)
)]
fn tsc_allowed(forced: Option<&str>, clocksource: Option<&str>, cpu_flags: Option<&str>) -> bool {
    if forced.is_some_and(|v| v.trim().eq_ignore_ascii_case("monotonic")) {
        return false;
    }
    clocksource.is_some_and(|c| c.trim() == "tsc")
        && cpu_flags.is_some_and(|f| f.split_whitespace().any(|flag| flag == "rdtscp"))
}

/// The time-stamp counter: reading it and calibrating its rate.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    use std::time::{Duration, Instant};

    use super::Source;

    /// How long the rate is measured over, once per process (the thread
    /// sleeps meanwhile). Each end is bracketed to within ~50 ns, so the
    /// rate is right to ~50 ppm; the anchor's slewing takes out the rest.
    const CALIBRATION: Duration = Duration::from_millis(2);

    /// The counter, read in order: `RDTSCP` waits until every earlier
    /// instruction has executed and every earlier load is globally visible,
    /// as the kernel's own `clock_gettime` reads it where the CPU has it.
    /// A plain `RDTSC` is taken while an earlier load may still wait for
    /// another core's cache line — on this project's VM up to 3.8 µs
    /// before a value that another thread published, and that this one then
    /// loaded, was read (the cross-thread test below catches it). The only
    /// `unsafe` in the crate.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(super) fn read() -> u64 {
        let mut cpu = 0u32;
        // SAFETY: RDTSCP writes the processor id to `cpu`, a live local, and
        // has no other memory operand; the source is only chosen where the
        // CPU lists `rdtscp` (else the instruction would fault). (A process
        // that asked the kernel to trap it, `prctl(PR_SET_TSC,
        // PR_TSC_SIGSEGV)`, sets TRACELITE_CLOCK=monotonic.)
        unsafe { core::arch::x86_64::__rdtscp(&mut cpu) }
    }

    /// Nanoseconds for `ticks` at `mult` (nanoseconds per tick × 2^32).
    #[inline]
    pub(super) fn scale(ticks: u64, mult: u64) -> u64 {
        u64::try_from((u128::from(ticks) * u128::from(mult)) >> 32).unwrap_or(u64::MAX)
    }

    /// A counter reading and an `Instant` taken together: the pair with the
    /// tightest bracket of a few tries, the counter at the bracket's middle.
    fn pair() -> (u64, Instant) {
        let bracket = || {
            let before = read();
            let instant = Instant::now();
            let width = read().wrapping_sub(before);
            (width, before.wrapping_add(width / 2), instant)
        };
        let mut best = bracket();
        for _ in 0..7 {
            let next = bracket();
            if next.0 < best.0 {
                best = next;
            }
        }
        (best.1, best.2)
    }

    /// `mult` for a counter that advanced `ticks` in `nanos`, if that is a
    /// plausible rate (50 MHz to 20 GHz).
    pub(super) fn mult_for(ticks: u64, nanos: u64) -> Option<u64> {
        if ticks == 0 || nanos == 0 {
            return None;
        }
        let hz = u128::from(ticks) * 1_000_000_000 / u128::from(nanos);
        if !(50_000_000..=20_000_000_000).contains(&hz) {
            return None;
        }
        u64::try_from((u128::from(nanos) << 32) / u128::from(ticks)).ok()
    }

    /// Measures the counter's rate against `Instant`.
    #[cold]
    pub(super) fn calibrate() -> Option<Source> {
        let (t0, i0) = pair();
        std::thread::sleep(CALIBRATION);
        let (t1, i1) = pair();
        let nanos = u64::try_from(i1.saturating_duration_since(i0).as_nanos()).ok()?;
        let mult = mult_for(t1.checked_sub(t0)?, nanos)?;
        // Readings count from the first pair, so the process starts near 0
        // as with `Instant`.
        Some(Source::Tsc {
            base: t0,
            mult,
            origin: i0,
            gone: std::sync::atomic::AtomicBool::new(false),
        })
    }
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
        if reanchor_due(anchor_wall, d) {
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

/// Whether a reading `d` ns after the anchor is due a comparison with the
/// system clock: no anchor yet, a period has passed, or the reading is well
/// before the anchor.
#[inline]
fn reanchor_due(anchor_wall: u64, d: i64) -> bool {
    anchor_wall == 0 || d >= PERIOD_NANOS as i64 || d < -MAX_BEHIND_NANOS
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
    fn the_tsc_is_used_only_where_the_kernel_keeps_time_with_it() {
        let flags = Some("flags\t\t: fpu vme tsc msr rdtscp lm constant_tsc");
        assert!(tsc_allowed(None, Some("tsc\n"), flags));
        assert!(tsc_allowed(Some(""), Some("tsc"), flags));
        assert!(!tsc_allowed(None, Some("kvm-clock\n"), flags));
        assert!(!tsc_allowed(None, Some("hpet"), flags));
        assert!(!tsc_allowed(None, None, flags), "no sysfs: Instant");
        assert!(!tsc_allowed(Some("monotonic"), Some("tsc"), flags));
        assert!(!tsc_allowed(Some(" Monotonic\n"), Some("tsc"), flags));
        assert!(tsc_allowed(Some("auto"), Some("tsc"), flags));
        for known in ["", " ", "monotonic", "MONOTONIC\n", "auto", "Auto"] {
            assert!(clock_var_known(known), "{known:?}");
        }
        for unknown in ["instant", "tsc", "monotonic,auto", "0"] {
            assert!(!clock_var_known(unknown), "{unknown:?}");
        }
        let without = Some("flags\t\t: fpu vme tsc msr lm constant_tsc rdtscpx");
        assert!(!tsc_allowed(None, Some("tsc"), without), "no RDTSCP");
        assert!(!tsc_allowed(None, Some("tsc"), None), "no cpuinfo");
        // This process chose by the same rule.
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        let here = host_allows_tsc(clock_var().as_deref());
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        let here = false;
        let source = SOURCE.get_or_init(Source::choose);
        if here {
            assert!(!matches!(source, Source::Monotonic(_)), "{source:?}");
        } else {
            assert!(matches!(source, Source::Monotonic(_)), "{source:?}");
        }
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn counter_rates_scale_to_nanoseconds() {
        // 3 GHz: a third of a nanosecond a tick.
        let mult = tsc::mult_for(3_000_000, 1_000_000).unwrap();
        assert!(tsc::scale(3_000_000_000, mult).abs_diff(1_000_000_000) <= 1);
        assert_eq!(tsc::scale(0, mult), 0);
        // 100 MHz: 10 ns a tick.
        let mult = tsc::mult_for(1_000, 10_000).unwrap();
        assert_eq!(tsc::scale(7, mult), 70);
        // Implausible rates, or nothing measured: no TSC.
        assert_eq!(tsc::mult_for(10, 1_000_000_000), None, "10 Hz");
        assert_eq!(tsc::mult_for(u64::MAX, 1), None);
        assert_eq!(tsc::mult_for(0, 1_000), None);
        assert_eq!(tsc::mult_for(1_000, 0), None);
        // Centuries of ticks saturate instead of wrapping.
        assert_eq!(tsc::scale(u64::MAX, u64::MAX), u64::MAX);
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn a_counter_that_goes_back_hands_over_to_instant() {
        use std::sync::atomic::AtomicBool;
        let mult = tsc::mult_for(3_000_000, 1_000_000).unwrap();
        let source = |base| Source::Tsc {
            base,
            mult,
            origin: Instant::now(),
            gone: AtomicBool::new(false),
        };
        // A counter read since its base: scaled ticks, and it advances.
        let running = source(tsc::read());
        let (a, b) = (running.now(), running.now());
        assert!(b >= a);
        let Source::Tsc { gone, .. } = &running else {
            unreachable!()
        };
        assert!(!gone.load(Ordering::Relaxed));
        // A counter below its base (restarted after a suspend): Instant
        // since the origin, from then on.
        let restarted = source(u64::MAX);
        std::thread::sleep(Duration::from_millis(3));
        let first = restarted.now();
        assert!(
            (3_000_000..1_000_000_000).contains(&first),
            "Instant since the origin: {first}"
        );
        let Source::Tsc { gone, .. } = &restarted else {
            unreachable!()
        };
        assert!(gone.load(Ordering::Relaxed));
        assert!(restarted.now() >= first);
    }

    #[test]
    fn readings_well_before_the_anchor_compare_with_the_system_clock() {
        assert!(reanchor_due(0, 0), "no anchor yet");
        assert!(!reanchor_due(1, 0));
        assert!(!reanchor_due(1, PERIOD_NANOS as i64 - 1));
        assert!(reanchor_due(1, PERIOD_NANOS as i64));
        assert!(!reanchor_due(1, -1_000), "another thread's anchor is newer");
        assert!(!reanchor_due(1, -MAX_BEHIND_NANOS));
        assert!(
            reanchor_due(1, -MAX_BEHIND_NANOS - 1),
            "the counter went back"
        );
        assert!(reanchor_due(1, i64::MIN));
    }

    /// Whichever the source, readings advance at `Instant`'s rate.
    #[test]
    fn readings_advance_with_instant() {
        let (raw0, i0) = (raw_now(), Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        let (raw1, i1) = (raw_now(), Instant::now());
        let raw = raw1 - raw0;
        let real = u64::try_from(i1.duration_since(i0).as_nanos()).unwrap();
        // 0.5% and 200 µs of slack for a thread descheduled between reads.
        assert!(
            raw.abs_diff(real) <= real / 200 + 200_000,
            "counter {raw} ns, Instant {real} ns"
        );
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
