//! Span limits: how much one span may hold, so a hostile or buggy caller
//! cannot grow a span without bound.

use crate::diagnostics;

/// How much a span may record. What goes over a limit is dropped and counted
/// on the finished span ([`SpanData::dropped_attributes_count`] and friends).
///
/// The defaults are OpenTelemetry's: 128 attributes, 128 events, 128 links,
/// 128 attributes per event and per link, no limit on value length.
/// [`SpanLimits::from_env`] reads the standard `OTEL_*_LIMIT` variables.
///
/// ```
/// use tracelite::SpanLimits;
///
/// let limits = SpanLimits {
///     max_attribute_value_length: Some(1024),
///     ..SpanLimits::default()
/// };
/// assert_eq!(limits.max_attributes, 128);
/// ```
///
/// [`SpanData::dropped_attributes_count`]: crate::SpanData::dropped_attributes_count
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`).
    pub max_attributes: u32,
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`).
    pub max_events: u32,
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`).
    pub max_links: u32,
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`).
    pub max_attributes_per_event: u32,
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`).
    pub max_attributes_per_link: u32,
    /// Characters kept of each string value, `None` for no limit
    /// (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    pub max_attribute_value_length: Option<u32>,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            max_attributes: 128,
            max_events: 128,
            max_links: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
            max_attribute_value_length: None,
        }
    }
}

impl SpanLimits {
    /// The defaults, overridden by the `OTEL_*_LIMIT` environment variables
    /// that are set. A variable that is not a whole number is reported on
    /// stderr and ignored.
    pub fn from_env() -> SpanLimits {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> SpanLimits {
        let read = |name: &str| -> Option<u32> {
            let raw = get(name)?;
            match raw.trim().parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    diagnostics::warn(&format!("ignoring {name}={raw:?}: expected a whole number"));
                    None
                }
            }
        };
        let d = SpanLimits::default();
        SpanLimits {
            max_attributes: read("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT").unwrap_or(d.max_attributes),
            max_events: read("OTEL_SPAN_EVENT_COUNT_LIMIT").unwrap_or(d.max_events),
            max_links: read("OTEL_SPAN_LINK_COUNT_LIMIT").unwrap_or(d.max_links),
            max_attributes_per_event: read("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT")
                .unwrap_or(d.max_attributes_per_event),
            max_attributes_per_link: read("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT")
                .unwrap_or(d.max_attributes_per_link),
            max_attribute_value_length: read("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
                .or_else(|| read("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn env_overrides_and_bad_values_are_ignored() {
        let env: HashMap<&str, &str> = [
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "10"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "not-a-number"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", " 64 "),
        ]
        .into_iter()
        .collect();
        let limits = SpanLimits::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert_eq!(limits.max_attributes, 10);
        assert_eq!(limits.max_events, 128);
        assert_eq!(limits.max_links, 128);
        assert_eq!(limits.max_attribute_value_length, Some(64));
    }
}
