//! The process-wide propagator, used by the HTTP layers and by
//! [`inject`](super::inject) / [`extract`](super::extract).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use super::{
    BaggagePropagator, TextMapCompositePropagator, TextMapPropagator, TraceContextPropagator,
};
use crate::diagnostics;

static GLOBAL: OnceLock<RwLock<Arc<dyn TextMapPropagator>>> = OnceLock::new();
/// Bumped each time the global propagator is replaced: a thread's copy of
/// the reference is current while the count it was taken at is.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's reference to the global propagator, and the
    /// generation it was taken at.
    static LOCAL: RefCell<Option<(u64, Arc<dyn TextMapPropagator>)>> =
        const { RefCell::new(None) };
}

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
    GENERATION.fetch_add(1, Ordering::Release);
}

/// The global propagator: W3C Trace Context and Baggage unless
/// `OTEL_PROPAGATORS` or [`set_text_map_propagator`] says otherwise.
pub fn text_map_propagator() -> Arc<dyn TextMapPropagator> {
    global().read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Runs `f` with the global propagator, as the HTTP layers and
/// [`inject`](super::inject) / [`extract`](super::extract) do for every
/// request: through this thread's reference to it, so a request costs one
/// load of a shared counter instead of taking the lock and a reference
/// count that every core's requests would otherwise pass between them. A
/// replaced propagator is seen from the next call on.
pub(crate) fn with_text_map_propagator<R>(f: impl FnOnce(&dyn TextMapPropagator) -> R) -> R {
    let generation = GENERATION.load(Ordering::Acquire);
    let mut f = Some(f);
    let done = LOCAL
        .try_with(|local| {
            // Shared while `f` runs: `f` may use the global propagator again.
            let current = local.try_borrow().ok()?;
            if let Some((g, propagator)) = current.as_ref() {
                if *g == generation {
                    return Some((f.take()?)(&**propagator));
                }
            }
            drop(current);
            let fresh = text_map_propagator();
            // The reference replaced is dropped after the borrow ends.
            let _old = local
                .try_borrow_mut()
                .ok()?
                .replace((generation, fresh.clone()));
            Some((f.take()?)(&*fresh))
        })
        .ok()
        .flatten();
    match (done, f) {
        (Some(result), _) => result,
        // Out of reach (thread teardown, or a propagator replacing itself
        // from inside `f`'s call): through the lock.
        (None, Some(f)) => f(&*text_map_propagator()),
        (None, None) => unreachable!("`f` runs once and then returns Some"),
    }
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
