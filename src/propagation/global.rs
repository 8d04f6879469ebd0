//! The process-wide propagator, used by the HTTP layers and by
//! [`inject`](super::inject) / [`extract`](super::extract).

use std::sync::{Arc, OnceLock, RwLock};

use super::{
    BaggagePropagator, TextMapCompositePropagator, TextMapPropagator, TraceContextPropagator,
};
use crate::diagnostics;

static GLOBAL: OnceLock<RwLock<Arc<dyn TextMapPropagator>>> = OnceLock::new();

fn global() -> &'static RwLock<Arc<dyn TextMapPropagator>> {
    GLOBAL.get_or_init(|| RwLock::new(from_env(std::env::var("OTEL_PROPAGATORS").ok())))
}

/// The propagator named by `OTEL_PROPAGATORS` (comma-separated:
/// `tracecontext`, `baggage`, `none`), by default both W3C propagators.
/// Names TraceLite does not implement are reported on stderr and skipped.
fn from_env(value: Option<String>) -> Arc<dyn TextMapPropagator> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Arc::new(TextMapCompositePropagator::default());
    };
    let mut list: Vec<Box<dyn TextMapPropagator>> = Vec::new();
    for name in value.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        match name.as_str() {
            "tracecontext" => list.push(Box::new(TraceContextPropagator::new())),
            "baggage" => list.push(Box::new(BaggagePropagator::new())),
            "none" => list.clear(),
            "" => {}
            other => diagnostics::warn(&format!(
                "OTEL_PROPAGATORS: {other:?} is not supported (use tracecontext, baggage or none); skipped"
            )),
        }
        if name == "none" {
            break;
        }
    }
    Arc::new(TextMapCompositePropagator::new(list))
}

/// Replaces the global propagator.
///
/// ```
/// use tracelite::propagation::{set_text_map_propagator, TraceContextPropagator};
///
/// set_text_map_propagator(TraceContextPropagator::new()); // no baggage
/// ```
pub fn set_text_map_propagator(propagator: impl TextMapPropagator) {
    let mut slot = global().write().unwrap_or_else(|e| e.into_inner());
    *slot = Arc::new(propagator);
}

/// The global propagator: W3C Trace Context and Baggage unless
/// `OTEL_PROPAGATORS` or [`set_text_map_propagator`] says otherwise.
pub fn text_map_propagator() -> Arc<dyn TextMapPropagator> {
    global().read().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_select_propagators() {
        let fields = |v: Option<&str>| from_env(v.map(str::to_string)).fields().to_vec();
        assert_eq!(fields(None), ["traceparent", "tracestate", "baggage"]);
        assert_eq!(fields(Some("baggage")), ["baggage"]);
        assert_eq!(
            fields(Some("tracecontext, b3")),
            ["traceparent", "tracestate"]
        );
        assert!(fields(Some("none")).is_empty());
    }
}
