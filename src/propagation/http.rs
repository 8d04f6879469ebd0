//! `http::HeaderMap` as a propagation carrier.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Extractor, Injector, TextMapPropagator};
use crate::trace::Context;

impl Injector for HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        // The W3C names are known constants; others are parsed. Values are
        // taken without a copy. Our propagators write valid names and
        // visible-ASCII values; anything else (from a custom propagator) is
        // skipped, not a panic.
        let Some(name) = header_name(key) else {
            return;
        };
        if let Ok(value) = HeaderValue::try_from(value) {
            self.insert(name, value);
        }
    }

    fn set_ascii(&mut self, key: &str, value: &[u8]) {
        let Some(name) = header_name(key) else {
            return;
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            self.insert(name, value);
        }
    }

    fn set_trace_state(&mut self, key: &str, state: &crate::TraceState) {
        let Some(name) = header_name(key) else {
            return;
        };
        if let Some(value) = state.header_value() {
            self.insert(name, value);
        }
    }
}

/// Up to this many header values, the W3C headers are found by a scan
/// instead of a hashed lookup.
const LINEAR_SCAN_MAX: usize = 24;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The header name for a propagation field: the W3C names without parsing,
/// others parsed (`None` for a name that is not a valid header name).
fn header_name(key: &str) -> Option<HeaderName> {
    known_name(key).or_else(|| HeaderName::from_bytes(key.as_bytes()).ok())
}

/// The W3C header names, prebuilt so lookups skip parsing the name.
#[inline]
fn known_name(key: &str) -> Option<HeaderName> {
    Some(match w3c_slot(key)? {
        0 => TRACEPARENT,
        1 => TRACESTATE,
        _ => BAGGAGE,
    })
}

/// Which W3C field `key` names: 0 traceparent, 1 tracestate, 2 baggage. Our
/// propagators pass the very statics of `names`, recognised by address
/// without comparing bytes.
#[inline]
fn w3c_slot(key: &str) -> Option<usize> {
    use super::names;
    if std::ptr::eq(key, names::TRACEPARENT) {
        return Some(0);
    }
    if std::ptr::eq(key, names::TRACESTATE) {
        return Some(1);
    }
    if std::ptr::eq(key, names::BAGGAGE) {
        return Some(2);
    }
    match key {
        "traceparent" => Some(0),
        "tracestate" => Some(1),
        "baggage" => Some(2),
        _ => None,
    }
}

impl Extractor for HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
    }

    fn get_all(&self, key: &str, each: &mut dyn FnMut(&[u8])) {
        let Some(name) = known_name(key) else {
            for value in HeaderMap::get_all(self, key) {
                each(value.as_bytes());
            }
            return;
        };
        if self.len() <= LINEAR_SCAN_MAX {
            // A request's usual dozen headers: comparing names (lengths
            // first) is cheaper than hashing the name for the lookup. The
            // map yields each name's values in order, as `get_all` does.
            for (n, value) in self.iter() {
                if n.as_str().len() == name.as_str().len() && *n == name {
                    each(value.as_bytes());
                }
            }
        } else {
            for value in HeaderMap::get_all(self, name) {
                each(value.as_bytes());
            }
        }
    }

    fn keys(&self) -> Vec<&str> {
        HeaderMap::keys(self).map(HeaderName::as_str).collect()
    }
}

/// Writes the current context into outgoing `headers` with the global
/// propagator: the way to propagate through an HTTP client that is not a
/// Tower service (reqwest, ureq, ...).
///
/// ```
/// use http::HeaderMap;
/// use tracelite::TracerProvider;
///
/// let tracer = TracerProvider::builder().build().tracer("client");
/// let span = tracer.start("GET /users");
/// let _active = span.enter();
/// let mut headers = HeaderMap::new();
/// tracelite::propagation::inject_into_headers(&mut headers);
/// assert!(headers["traceparent"].to_str().unwrap().starts_with("00-"));
/// ```
pub fn inject_into_headers(headers: &mut HeaderMap) {
    super::inject(headers);
}

/// The context carried by incoming `headers`, read with the global
/// propagator (an empty context when they carry none).
pub fn extract_from_headers(headers: &HeaderMap) -> Context {
    let headers = W3cHeaders::new(headers);
    super::global::with_text_map_propagator(|p| headers.extract_with(p))
}

/// Incoming headers with the W3C propagation headers found in one pass:
/// the propagators ask for `traceparent`, `tracestate` and `baggage` one
/// after the other, and a request with none of them (or one of each) is
/// then scanned once instead of three times.
///
/// The same pass notes the first `host` and `user-agent`, which the server
/// layer records.
pub(crate) struct W3cHeaders<'a> {
    map: &'a HeaderMap,
    /// Per W3C name (traceparent, tracestate, baggage): how many values,
    /// and the first.
    found: [(usize, Option<&'a HeaderValue>); 3],
    /// The first `host` value.
    pub(crate) host: Option<&'a HeaderValue>,
    /// The first `user-agent` value.
    pub(crate) user_agent: Option<&'a HeaderValue>,
}

impl<'a> W3cHeaders<'a> {
    pub(crate) fn new(map: &'a HeaderMap) -> W3cHeaders<'a> {
        let mut found = [(0, None); 3];
        let (mut host, mut user_agent) = (None, None);
        for (name, value) in map.iter() {
            let slot = match name.as_str().len() {
                11 if *name == TRACEPARENT => 0,
                // Standard names compare as a tag, custom ones as bytes.
                10 if *name == http::header::USER_AGENT => {
                    user_agent.get_or_insert(value);
                    continue;
                }
                10 if *name == TRACESTATE => 1,
                7 if *name == BAGGAGE => 2,
                4 if *name == http::header::HOST => {
                    host.get_or_insert(value);
                    continue;
                }
                _ => continue,
            };
            let (count, first) = &mut found[slot];
            *count += 1;
            first.get_or_insert(value);
        }
        W3cHeaders {
            map,
            found,
            host,
            user_agent,
        }
    }

    /// `propagator.extract(self)`, or at once an empty context when the
    /// headers carry none of the W3C fields and the propagator reads
    /// nothing else (see [`TextMapPropagator::extract_reads_only_fields`]).
    #[inline]
    pub(crate) fn extract_with(&self, propagator: &dyn TextMapPropagator) -> Context {
        let none = self.found.iter().all(|(count, _)| *count == 0);
        if none
            && propagator.extract_reads_only_fields()
            && propagator.fields().iter().all(|f| w3c_slot(f).is_some())
        {
            return Context::new();
        }
        propagator.extract(self)
    }
}

impl Extractor for W3cHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match w3c_slot(key) {
            Some(slot) => self.found[slot].1.and_then(|v| v.to_str().ok()),
            None => Extractor::get(self.map, key),
        }
    }

    fn get_all(&self, key: &str, each: &mut dyn FnMut(&[u8])) {
        match w3c_slot(key).map(|slot| self.found[slot]) {
            Some((0, _)) => {}
            Some((1, Some(value))) => each(value.as_bytes()),
            // Repeated (rare): in order, from the map.
            _ => Extractor::get_all(self.map, key, each),
        }
    }

    fn keys(&self) -> Vec<&str> {
        Extractor::keys(self.map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagation::{TextMapPropagator, TraceContextPropagator};

    #[test]
    fn values_given_as_bytes_are_checked_like_strings() {
        use crate::propagation::Injector;
        use std::collections::HashMap;
        let tp = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut h = HeaderMap::new();
        h.set_ascii("traceparent", tp);
        assert_eq!(h["traceparent"].as_bytes(), tp);
        // Replaced, not appended.
        h.set_ascii("TraceParent", b"00-1");
        assert_eq!(h.get_all("traceparent").iter().count(), 1);
        assert_eq!(h["traceparent"], "00-1");
        // Not a valid header value or name: skipped, no panic.
        h.set_ascii("x-bad", b"a\nb");
        h.set_ascii("bad name", b"v");
        assert_eq!(h.len(), 1);

        let mut m: HashMap<String, String> = HashMap::new();
        m.set_ascii("traceparent", tp);
        assert_eq!(m["traceparent"].as_bytes(), tp);
        m.set_ascii("x", &[0xff, 0xfe]);
        assert!(!m.contains_key("x"), "not UTF-8: skipped");
    }

    #[test]
    fn repeated_and_non_text_headers() {
        let mut h = HeaderMap::new();
        let tp = "00-12345678901234567890123456789012-1234567890123456-01";
        h.append("traceparent", HeaderValue::from_static(tp));
        assert!(TraceContextPropagator.extract(&h).has_active_span());
        h.append("traceparent", HeaderValue::from_static(tp));
        assert!(
            !TraceContextPropagator.extract(&h).has_active_span(),
            "repeated"
        );

        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            HeaderValue::from_bytes(b"00-\xff\xfe").unwrap(),
        );
        h.insert("tracestate", HeaderValue::from_bytes(b"a=\xff").unwrap());
        h.insert("baggage", HeaderValue::from_bytes(b"k=\xff,ok=1").unwrap());
        let cx = crate::propagation::TextMapCompositePropagator::default().extract(&h);
        assert!(!cx.has_active_span());
        assert_eq!(cx.baggage().get("ok"), Some("1"));
        assert_eq!(cx.baggage().len(), 1);
    }

    #[test]
    fn trace_state_is_encoded_once_and_shared() {
        let state = crate::TraceState::from_members([("rojo", "00f067aa0ba902b7"), ("congo", "t")])
            .unwrap();
        let mut a = HeaderMap::new();
        let mut b = HeaderMap::new();
        a.set_trace_state("tracestate", &state);
        // A name given in another case, or not one of the W3C constants.
        b.set_trace_state("TraceState", &state.clone());
        b.set_trace_state("x-vendor-state", &state);
        for value in [&a["tracestate"], &b["tracestate"], &b["x-vendor-state"]] {
            assert_eq!(value, "rojo=00f067aa0ba902b7,congo=t");
        }
        // An empty state writes nothing; a bad name is skipped, not a panic.
        let mut c = HeaderMap::new();
        c.set_trace_state("tracestate", &crate::TraceState::default());
        c.set_trace_state("bad name", &state);
        assert!(c.is_empty());
        // The HashMap carrier takes the default path: the same text.
        let mut m = std::collections::HashMap::new();
        m.set_trace_state("tracestate", &state);
        assert_eq!(m["tracestate"], "rojo=00f067aa0ba902b7,congo=t");
    }

    #[test]
    fn each_list_gets_its_own_encoding_whatever_the_thread_remembers() {
        let list = |v: &str| crate::TraceState::default().insert("k", v).unwrap();
        let (a, b) = (list("a"), list("b"));
        let mut h = HeaderMap::new();
        for (state, want) in [(&a, "k=a"), (&a, "k=a"), (&b, "k=b"), (&a, "k=a")] {
            h.set_trace_state("tracestate", state);
            assert_eq!(h["tracestate"], want);
        }
        // The remembered value is shared, not re-encoded: same bytes in memory.
        h.set_trace_state("tracestate", &a);
        let mut g = HeaderMap::new();
        g.set_trace_state("tracestate", &a.clone());
        assert_eq!(
            h["tracestate"].as_bytes().as_ptr(),
            g["tracestate"].as_bytes().as_ptr()
        );
        // A list dropped while remembered, then new lists: never its value.
        drop(a);
        for i in 0..100 {
            let c = list(&format!("c{i}"));
            h.set_trace_state("tracestate", &c);
            assert_eq!(h["tracestate"], format!("k=c{i}"));
        }
        // Another thread encodes on its own.
        std::thread::spawn(move || {
            let mut h = HeaderMap::new();
            h.set_trace_state("tracestate", &b);
            assert_eq!(h["tracestate"], "k=b");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn one_pass_index_reads_like_the_map() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("host", "a"),
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01",
            ),
            ("tracestate", "a=1"),
            ("tracestate", "b=2"),
            ("baggage", "k=v"),
            ("x-other", "o"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        let indexed = W3cHeaders::new(&h);
        for key in [
            "traceparent",
            "tracestate",
            "baggage",
            "x-other",
            "missing",
            "HOST",
        ] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            Extractor::get_all(&h, key, &mut |v| a.push(v.to_vec()));
            indexed.get_all(key, &mut |v| b.push(v.to_vec()));
            assert_eq!(a, b, "{key}");
            assert_eq!(Extractor::get(&h, key), indexed.get(key), "{key}");
        }
        let composite = crate::propagation::TextMapCompositePropagator::default();
        assert_eq!(composite.extract(&h), composite.extract(&indexed));
        assert_eq!(indexed.keys().len(), Extractor::keys(&h).len());
    }

    /// Small maps are scanned, large ones looked up: the same values in the
    /// same order either way.
    #[test]
    fn scanned_and_looked_up_maps_agree() {
        for others in [0usize, 5, 40] {
            let mut h = HeaderMap::new();
            for i in 0..others {
                h.insert(
                    HeaderName::from_bytes(format!("x-other-{i}").as_bytes()).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            h.append("tracestate", HeaderValue::from_static("a=1"));
            h.insert(
                "traceparent",
                HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            );
            h.append("tracestate", HeaderValue::from_static("b=2,c=3"));
            h.append("TraceState", HeaderValue::from_static("d=4"));
            let cx = TraceContextPropagator.extract(&h);
            assert!(cx.has_active_span(), "{others} other headers");
            assert_eq!(
                cx.span_context().trace_state().header(),
                "a=1,b=2,c=3,d=4",
                "{others} other headers"
            );
            let mut seen = Vec::new();
            Extractor::get_all(&h, "tracestate", &mut |v| seen.push(v.to_vec()));
            assert_eq!(seen.len(), 3);
        }
    }

    #[test]
    fn the_pass_notes_host_and_user_agent_as_the_map_reads_them() {
        let mut h = HeaderMap::new();
        assert!(W3cHeaders::new(&h).host.is_none());
        assert!(W3cHeaders::new(&h).user_agent.is_none());
        // Names of the same lengths that are neither.
        h.insert("x-ab", HeaderValue::from_static("not the host"));
        h.insert("x-abcdefgh", HeaderValue::from_static("not the agent"));
        h.insert("tracestate", HeaderValue::from_static("a=1"));
        assert!(W3cHeaders::new(&h).host.is_none());
        assert!(W3cHeaders::new(&h).user_agent.is_none());
        h.append("host", HeaderValue::from_static("first.example"));
        h.append("host", HeaderValue::from_static("second.example"));
        h.insert("user-agent", HeaderValue::from_static("curl/8.5"));
        let scan = W3cHeaders::new(&h);
        assert_eq!(scan.host, h.get("host"));
        assert_eq!(scan.host.unwrap(), "first.example");
        assert_eq!(scan.user_agent, h.get("user-agent"));
        assert_eq!(scan.found[1].0, 1, "tracestate still counted");
    }

    /// Reads an `x-trace: <span id in hex>` header of its own (under a
    /// trace id of 1), declaring `fields` and whether it reads only them.
    struct OwnHeader {
        fields: &'static [&'static str],
        reads_only: bool,
    }

    impl TextMapPropagator for OwnHeader {
        fn inject_context(&self, _: &Context, _: &mut dyn Injector) {}

        fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
            use crate::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
            let Some(id) = extractor
                .get("x-trace")
                .and_then(|v| u64::from_str_radix(v, 16).ok())
            else {
                return cx.clone();
            };
            cx.clone().with_span_context(SpanContext::new(
                TraceId::from_u128(1),
                SpanId::from_u64(id),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ))
        }

        fn fields(&self) -> &[&'static str] {
            self.fields
        }

        fn extract_reads_only_fields(&self) -> bool {
            self.reads_only
        }
    }

    #[test]
    fn requests_without_w3c_headers_skip_only_propagators_that_read_nothing_else() {
        use crate::propagation::{BaggagePropagator, TextMapCompositePropagator};
        let mut plain = HeaderMap::new();
        plain.insert("host", HeaderValue::from_static("example.com"));
        plain.insert("x-trace", HeaderValue::from_static("b7ad6b7169203331"));
        let mut traced = plain.clone();
        traced.insert(
            "traceparent",
            HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        );
        let span_id = |p: &dyn TextMapPropagator, h: &HeaderMap| {
            let via_scan = W3cHeaders::new(h).extract_with(p);
            // The same answer as asking the propagator.
            assert_eq!(
                via_scan.span_context(),
                p.extract(h).span_context(),
                "{:?}",
                p.fields()
            );
            via_scan.span_context().span_id().to_u64()
        };

        let w3c = TextMapCompositePropagator::default();
        assert!(w3c.extract_reads_only_fields());
        assert!(BaggagePropagator::new().extract_reads_only_fields());
        assert_eq!(span_id(&w3c, &plain), 0, "nothing to extract");
        assert_eq!(span_id(&w3c, &traced), 0xb7ad6b7169203331);

        // A propagator that may read more than its fields is always asked.
        let unsure = OwnHeader {
            fields: &["traceparent"],
            reads_only: false,
        };
        assert_eq!(span_id(&unsure, &plain), 0xb7ad6b7169203331);
        // So is one whose fields are not the W3C ones.
        let own = OwnHeader {
            fields: &["x-trace"],
            reads_only: true,
        };
        assert_eq!(span_id(&own, &plain), 0xb7ad6b7169203331);
        // A composite is sure only when each of its propagators is.
        let mixed = TextMapCompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(OwnHeader {
                fields: &["tracestate"],
                reads_only: false,
            }),
        ]);
        assert!(!mixed.extract_reads_only_fields());
        assert_eq!(span_id(&mixed, &plain), 0xb7ad6b7169203331);
    }
}
