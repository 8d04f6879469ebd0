//! Propagation: carrying the trace context and baggage across process
//! boundaries in text headers, exactly as W3C Trace Context and W3C Baggage
//! specify.
//!
//! A [`TextMapPropagator`] injects a [`Context`] into a carrier ([`Injector`])
//! and extracts one from a carrier ([`Extractor`]). Carriers exist for
//! `http::HeaderMap` (feature `http`, on by default) and for
//! `HashMap<String, String>`.
//!
//! ```
//! use std::collections::HashMap;
//! use tracelite::propagation::{TextMapPropagator, TraceContextPropagator};
//!
//! let mut headers = HashMap::new();
//! headers.insert(
//!     "traceparent".to_string(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
//! );
//! let cx = TraceContextPropagator::new().extract(&headers);
//! assert!(cx.span_context().is_remote());
//! assert_eq!(cx.span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! ```
//!
//! Extraction never panics and never allocates without bound, whatever the
//! headers hold: an invalid `traceparent` yields no parent (a new trace),
//! and invalid `tracestate` or `baggage` members are dropped as the
//! specifications say.

mod baggage;
mod composite;
mod global;
#[cfg(feature = "http")]
mod http;
mod trace_context;

use std::collections::HashMap;

use crate::trace::Context;

pub use baggage::BaggagePropagator;
pub use composite::TextMapCompositePropagator;
#[cfg(feature = "tower")]
pub(crate) use global::with_text_map_propagator;
pub use global::{set_text_map_propagator, text_map_propagator};
#[cfg(feature = "tower")]
pub(crate) use http::W3cHeaders;
#[cfg(feature = "http")]
pub use http::{extract_from_headers, inject_into_headers};
#[cfg(feature = "tower")]
pub(crate) use trace_context::traceparent_bytes;
pub use trace_context::TraceContextPropagator;

/// Writes propagation fields into a carrier (outgoing headers).
pub trait Injector {
    /// Sets `key` to `value`, replacing any earlier value.
    fn set(&mut self, key: &str, value: String);

    /// Sets `key` to a trace state's header (`tracestate`). The default
    /// calls [`set`](Self::set) with [`TraceState::header`](crate::TraceState::header); the
    /// `http::HeaderMap` carrier overrides it to share one encoded header
    /// value among the outgoing requests of a trace instead of copying it.
    fn set_trace_state(&mut self, key: &str, state: &crate::TraceState) {
        self.set(key, state.header());
    }

    /// Sets `key` to a value given as bytes, which the W3C propagators
    /// always write as visible ASCII (`traceparent`). The default makes a
    /// `String` of it for [`set`](Self::set) (skipping a value that is not
    /// UTF-8); the `http::HeaderMap` carrier overrides it to make the
    /// header value straight from the bytes, without the text check and
    /// copy a `String` takes.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use tracelite::propagation::Injector;
    ///
    /// let mut carrier: HashMap<String, String> = HashMap::new();
    /// carrier.set_ascii("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    /// assert_eq!(carrier["traceparent"].len(), 55);
    /// ```
    fn set_ascii(&mut self, key: &str, value: &[u8]) {
        if let Ok(value) = std::str::from_utf8(value) {
            self.set(key, value.to_owned());
        }
    }
}

/// Reads propagation fields from a carrier (incoming headers). Keys are
/// matched case-insensitively.
pub trait Extractor {
    /// The first value of `key`.
    fn get(&self, key: &str) -> Option<&str>;

    /// Calls `each` with every value of `key`, in order, as raw bytes (a
    /// header that repeats, or one that is not valid text, is seen as it
    /// is). The default passes the single value of [`get`](Self::get).
    fn get_all(&self, key: &str, each: &mut dyn FnMut(&[u8])) {
        if let Some(v) = self.get(key) {
            each(v.as_bytes());
        }
    }

    /// Every key present.
    fn keys(&self) -> Vec<&str>;
}

/// Injects a context into, and extracts it from, text carriers.
pub trait TextMapPropagator: Send + Sync + 'static {
    /// Writes `cx`'s fields into `injector`.
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector);

    /// Returns `cx` updated with what `extractor` carries. What is missing
    /// or invalid leaves the corresponding part of `cx` as it was.
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context;

    /// The header names this propagator reads and writes.
    fn fields(&self) -> &[&'static str];

    /// Whether [`extract_with_context`](Self::extract_with_context) reads
    /// nothing but the carrier's [`fields`](Self::fields), and returns `cx`
    /// unchanged when none of them is present. The server layer then skips
    /// extraction for a request that carries none of them (most requests
    /// from outside a traced system). TraceLite's propagators say so; the
    /// default, `false`, means the propagator is always asked.
    ///
    /// ```
    /// use tracelite::propagation::{TextMapPropagator, TraceContextPropagator};
    ///
    /// assert!(TraceContextPropagator::new().extract_reads_only_fields());
    /// ```
    fn extract_reads_only_fields(&self) -> bool {
        false
    }

    /// Writes the current context's fields into `injector`.
    fn inject(&self, injector: &mut dyn Injector) {
        self.inject_context(&Context::current(), injector);
    }

    /// The context `extractor` carries, on top of an empty context.
    fn extract(&self, extractor: &dyn Extractor) -> Context {
        self.extract_with_context(&Context::new(), extractor)
    }
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_ascii_lowercase(), value);
    }
}

impl Extractor for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        match HashMap::get(self, key) {
            Some(v) => Some(v.as_str()),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str()),
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.keys().map(String::as_str).collect()
    }
}

/// Injects the current context into `injector` with the global propagator.
pub fn inject(injector: &mut dyn Injector) {
    global::with_text_map_propagator(|p| p.inject(injector));
}

/// The context that `extractor` carries, read with the global propagator.
pub fn extract(extractor: &dyn Extractor) -> Context {
    global::with_text_map_propagator(|p| p.extract(extractor))
}

/// Trims HTTP optional whitespace (spaces and tabs) from both ends.
/// The W3C header names as statics: the propagators pass these very
/// strings to carriers, so a carrier can recognise them by address before
/// comparing bytes.
pub(crate) mod names {
    pub(crate) static TRACEPARENT: &str = "traceparent";
    pub(crate) static TRACESTATE: &str = "tracestate";
    pub(crate) static BAGGAGE: &str = "baggage";
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
