//! Several propagators as one.

use super::{Extractor, Injector, TextMapPropagator};
use crate::trace::Context;

/// Runs several propagators in order: each injects its fields, and each
/// extracts on top of what the previous ones extracted. The default
/// ([`Default`]) is W3C Trace Context then W3C Baggage.
///
/// ```
/// use std::collections::HashMap;
/// use tracelite::propagation::{TextMapCompositePropagator, TextMapPropagator};
///
/// let propagator = TextMapCompositePropagator::default();
/// assert_eq!(propagator.fields(), ["traceparent", "tracestate", "baggage"]);
/// ```
pub struct TextMapCompositePropagator {
    propagators: Vec<Box<dyn TextMapPropagator>>,
    fields: Vec<&'static str>,
    /// Every propagator's [`TextMapPropagator::extract_reads_only_fields`].
    reads_only_fields: bool,
}

impl TextMapCompositePropagator {
    /// A composite of `propagators`, in order.
    pub fn new(propagators: Vec<Box<dyn TextMapPropagator>>) -> Self {
        let mut fields = Vec::new();
        for p in &propagators {
            for f in p.fields() {
                if !fields.contains(f) {
                    fields.push(*f);
                }
            }
        }
        let reads_only_fields = propagators.iter().all(|p| p.extract_reads_only_fields());
        TextMapCompositePropagator {
            propagators,
            fields,
            reads_only_fields,
        }
    }
}

impl Default for TextMapCompositePropagator {
    fn default() -> Self {
        TextMapCompositePropagator::new(vec![
            Box::new(super::TraceContextPropagator::new()),
            Box::new(super::BaggagePropagator::new()),
        ])
    }
}

impl TextMapPropagator for TextMapCompositePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        for p in &self.propagators {
            p.inject_context(cx, injector);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut out = cx.clone();
        for p in &self.propagators {
            out = p.extract_with_context(&out, extractor);
        }
        out
    }

    fn fields(&self) -> &[&'static str] {
        &self.fields
    }

    fn extract_reads_only_fields(&self) -> bool {
        self.reads_only_fields
    }
}

impl std::fmt::Debug for TextMapCompositePropagator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextMapCompositePropagator")
            .field("fields", &self.fields)
            .finish()
    }
}
