//! Durations in human units.

/// Formats nanoseconds in the largest fitting unit with about three
/// significant digits: `850ns`, `12.3µs`, `2.50ms`, `245ms`, `1.52s`,
/// `2m03s`, `1h05m`.
///
/// ```
/// use tracelite::render::format_duration;
///
/// assert_eq!(format_duration(245_000_000), "245ms");
/// assert_eq!(format_duration(1_520_000_000), "1.52s");
/// assert_eq!(format_duration(850), "850ns");
/// ```
pub fn format_duration(nanos: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    fn three_digits(value: f64, unit: &str) -> String {
        if value < 10.0 {
            format!("{value:.2}{unit}")
        } else if value < 100.0 {
            format!("{value:.1}{unit}")
        } else {
            format!("{value:.0}{unit}")
        }
    }
    // Round first so that 999.96ms prints as 1.00s, not 1000ms.
    let n = nanos as f64;
    if nanos < US {
        format!("{nanos}ns")
    } else if n < 999.5 * US as f64 {
        three_digits(n / US as f64, "µs")
    } else if n < 999.5 * MS as f64 {
        three_digits(n / MS as f64, "ms")
    } else if nanos < 60 * S - S / 200 {
        three_digits(n / S as f64, "s")
    } else if nanos < 3600 * S {
        let secs = (nanos + S / 2) / S;
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        let mins = nanos.saturating_add(30 * S) / (60 * S);
        format!("{}h{:02}m", mins / 60, mins % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration as f;

    #[test]
    fn units_and_rounding() {
        assert_eq!(f(0), "0ns");
        assert_eq!(f(999), "999ns");
        assert_eq!(f(1_000), "1.00µs");
        assert_eq!(f(12_345), "12.3µs");
        assert_eq!(f(999_400), "999µs");
        assert_eq!(f(999_600), "1.00ms");
        assert_eq!(f(2_500_000), "2.50ms");
        assert_eq!(f(172_000_000), "172ms");
        assert_eq!(f(999_960_000), "1.00s");
        assert_eq!(f(59_000_000_000), "59.0s");
        assert_eq!(f(123_000_000_000), "2m03s");
        assert_eq!(f(3_900_000_000_000), "1h05m");
        assert_eq!(f(u64::MAX), "5124095h34m");
    }
}
