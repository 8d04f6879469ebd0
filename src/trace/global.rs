//! The global tracer provider, for code that cannot be handed one.

use std::borrow::Cow;
use std::sync::OnceLock;

use super::{ExportError, Tracer, TracerProvider};

static GLOBAL: OnceLock<TracerProvider> = OnceLock::new();
static NOOP: OnceLock<TracerProvider> = OnceLock::new();

/// Installs the global provider, once per process. Returns the provider
/// back if one was already installed.
///
/// The global provider lives until the process exits; call
/// [`shutdown_tracer_provider`] before exiting so that batched spans are
/// flushed.
///
/// ```
/// use tracelite::{global, TracerProvider};
///
/// let provider = TracerProvider::builder().build();
/// global::set_tracer_provider(provider).expect("set once");
/// let span = tracelite::tracer("my-crate").start("work");
/// assert!(span.is_recording());
/// # drop(span);
/// global::shutdown_tracer_provider();
/// ```
pub fn set_tracer_provider(provider: TracerProvider) -> Result<(), TracerProvider> {
    GLOBAL.set(provider)
}

/// Whether a global provider is installed (one atomic load).
#[inline]
pub fn is_set() -> bool {
    GLOBAL.get().is_some()
}

/// The global provider, or a no-op provider when none is installed.
pub fn tracer_provider() -> TracerProvider {
    match GLOBAL.get() {
        Some(p) => p.clone(),
        None => NOOP.get_or_init(TracerProvider::noop).clone(),
    }
}

/// A tracer from the global provider: records nothing until
/// [`set_tracer_provider`] is called, but still propagates contexts.
pub fn tracer(name: impl Into<Cow<'static, str>>) -> Tracer {
    tracer_provider().tracer(name)
}

/// Flushes and shuts down the global provider, if one is installed.
pub fn shutdown_tracer_provider() {
    if let Some(p) = GLOBAL.get() {
        if let Err(e) = p.shutdown() {
            if e != ExportError::AlreadyShutdown {
                crate::diagnostics::warn(&format!("shutting down the global provider: {e}"));
            }
        }
    }
}
