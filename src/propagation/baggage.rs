//! W3C Baggage: the `baggage` header.

use std::fmt::Write;

use super::{trim_ows, Extractor, Injector, TextMapPropagator};
use crate::trace::baggage::{
    is_valid_key, is_valid_metadata, is_value_octet, MAX_BYTES, MAX_MEMBERS,
};
use crate::trace::{Baggage, Context};

use super::names::BAGGAGE;

static FIELDS: [&str; 1] = [BAGGAGE];

/// Propagates [`Baggage`] with the W3C `baggage` header.
///
/// Extraction combines every `baggage` header in order, percent-decodes the
/// values, keeps properties as metadata, and skips invalid members instead
/// of rejecting the header. It reads at most 180 members and 8192 bytes, and
/// never keeps part of a member. Injection percent-encodes values and writes
/// whole members only, within the same limits.
///
/// ```
/// use std::collections::HashMap;
/// use tracelite::propagation::{BaggagePropagator, TextMapPropagator};
///
/// let mut incoming = HashMap::new();
/// incoming.insert("baggage".into(), "user.id=u-1024, tenant=acme%20corp;ttl=30, bad key=x".into());
/// let cx = BaggagePropagator::new().extract(&incoming);
/// assert_eq!(cx.baggage().get("tenant"), Some("acme corp"));
/// assert_eq!(cx.baggage().entry("tenant").unwrap().metadata(), "ttl=30");
/// assert_eq!(cx.baggage().len(), 2); // the invalid member was skipped
///
/// let mut outgoing = HashMap::new();
/// BaggagePropagator::new().inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["baggage"], "user.id=u-1024,tenant=acme%20corp;ttl=30");
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct BaggagePropagator;

impl BaggagePropagator {
    /// The W3C Baggage propagator.
    pub const fn new() -> Self {
        BaggagePropagator
    }
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(header) = format_baggage(cx.baggage()) {
            injector.set(BAGGAGE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut baggage = Baggage::new();
        let mut budget = MAX_BYTES;
        let mut found = false;
        extractor.get_all(BAGGAGE, &mut |value| {
            found = true;
            parse_baggage_into(value, &mut baggage, &mut budget);
        });
        if found {
            cx.clone().with_baggage(baggage)
        } else {
            cx.clone()
        }
    }

    fn fields(&self) -> &[&'static str] {
        &FIELDS
    }

    fn extract_reads_only_fields(&self) -> bool {
        true
    }
}

/// Parses the members of one header value into `baggage`, spending `budget`
/// bytes; stops when the budget or the member limit is reached.
fn parse_baggage_into(value: &[u8], baggage: &mut Baggage, budget: &mut usize) {
    for member in value.split(|&b| b == b',') {
        // Every member read, valid or not, spends its bytes (and a comma):
        // the work done is bounded by the byte limit.
        let cost = member.len() + 1;
        if cost > *budget || baggage.len() >= MAX_MEMBERS {
            *budget = 0;
            return;
        }
        *budget -= cost;
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        if let Some((key, value, metadata)) = parse_member(member) {
            let _ = baggage.insert_with_metadata(key, value, metadata);
        }
    }
}

/// `key OWS "=" OWS value *(OWS ";" OWS property)`; `None` when invalid.
fn parse_member(member: &[u8]) -> Option<(String, String, String)> {
    let member = std::str::from_utf8(member).ok()?;
    let (pair, metadata) = match member.split_once(';') {
        Some((pair, props)) => (pair, props.trim_matches([' ', '\t'])),
        None => (member, ""),
    };
    let (key, value) = pair.split_once('=')?;
    let (key, value) = (
        key.trim_matches([' ', '\t']),
        value.trim_matches([' ', '\t']),
    );
    if !is_valid_key(key) || !value.bytes().all(is_value_octet) || !is_valid_metadata(metadata) {
        return None;
    }
    let value = crate::trace::resource::percent_decode(value)?;
    Some((key.to_string(), value, metadata.to_string()))
}

/// Serialises baggage for the `baggage` header: whole members only, at most
/// 180 of them and 8192 bytes. `None` when there is nothing to send.
fn format_baggage(baggage: &Baggage) -> Option<String> {
    let mut out = String::new();
    let mut members = 0;
    for (key, entry) in baggage.iter() {
        let mut member = String::with_capacity(key.len() + entry.value().len() + 1);
        member.push_str(key);
        member.push('=');
        for b in entry.value().bytes() {
            if is_value_octet(b) && b != b'%' {
                member.push(char::from(b));
            } else {
                let _ = write!(member, "%{b:02X}");
            }
        }
        if !entry.metadata().is_empty() {
            member.push(';');
            member.push_str(entry.metadata());
        }
        let separator = usize::from(!out.is_empty());
        if members == MAX_MEMBERS || out.len() + separator + member.len() > MAX_BYTES {
            continue;
        }
        if separator == 1 {
            out.push(',');
        }
        out.push_str(&member);
        members += 1;
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn extract(header: &str) -> Baggage {
        let mut h = HashMap::new();
        h.insert("baggage".to_string(), header.to_string());
        BaggagePropagator.extract(&h).baggage().clone()
    }

    #[test]
    fn parses_members_properties_and_percent_encoding() {
        let b = extract("key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue");
        assert_eq!(b.get("key1"), Some("value1"));
        assert_eq!(b.entry("key1").unwrap().metadata(), "property1;property2");
        assert_eq!(b.get("key2"), Some("value2"));
        assert_eq!(
            b.entry("key3").unwrap().metadata(),
            "propertyKey=propertyValue"
        );
        let b = extract("name=%E6%9D%B1%E4%BA%AC%20%25,x=a%2Cb");
        assert_eq!(b.get("name"), Some("東京 %"));
        assert_eq!(b.get("x"), Some("a,b"));
    }

    #[test]
    fn invalid_members_are_skipped_not_fatal() {
        let b =
            extract("good=1,no-equals,bad key=2,=3,k=\"quoted\",k2=%zz,k3=%FF,ok=2,p=1;bad prop");
        let keys: Vec<&str> = b.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["good", "ok"]);
    }

    #[test]
    fn limits_hold_and_members_are_never_partial() {
        let many: Vec<String> = (0..300).map(|i| format!("k{i}=v")).collect();
        assert_eq!(extract(&many.join(",")).len(), MAX_MEMBERS);
        // 8192 bytes: 100 members of ~100 bytes; what fits is whole.
        let long: Vec<String> = (0..100)
            .map(|i| format!("k{i:03}={}", "v".repeat(95)))
            .collect();
        let b = extract(&long.join(","));
        assert!(b.len() < 100 && b.len() >= 80, "{}", b.len());
        assert!(b.iter().all(|(_, e)| e.value().len() == 95));
        // A huge header costs bounded work and never panics.
        let huge = "x".repeat(1_000_000);
        assert!(extract(&huge).is_empty());
    }

    #[test]
    fn round_trip_and_inject_limits() {
        let mut b = Baggage::new();
        b.insert("user", "Zoë ; 100%,=").unwrap();
        b.insert_with_metadata("t", "1", "ttl=30").unwrap();
        let header = format_baggage(&b).unwrap();
        assert_eq!(
            header,
            "user=Zo%C3%AB%20%3B%20100%25%2C=;t=1;ttl=30".replace(";t=", ",t=")
        );
        assert_eq!(extract(&header), b);

        let big: Baggage = (0..100)
            .map(|i| (format!("k{i:03}"), "v".repeat(200)))
            .collect();
        let header = format_baggage(&big).unwrap();
        assert!(header.len() <= MAX_BYTES);
        assert!(header.split(',').all(|m| m.len() == 205));
        assert_eq!(format_baggage(&Baggage::new()), None);
    }

    #[test]
    fn several_headers_combine() {
        struct Two;
        impl Extractor for Two {
            fn get(&self, _: &str) -> Option<&str> {
                Some("a=1")
            }
            fn get_all(&self, key: &str, each: &mut dyn FnMut(&[u8])) {
                if key == "baggage" {
                    each(b"a=1,b=2");
                    each(b"c=3");
                }
            }
            fn keys(&self) -> Vec<&str> {
                vec!["baggage"]
            }
        }
        let b = BaggagePropagator.extract(&Two).baggage().clone();
        assert_eq!(b.len(), 3);
        assert_eq!(b.get("c"), Some("3"));
    }
}
