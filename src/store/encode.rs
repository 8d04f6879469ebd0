//! How attributes are written to and read from the database.
//!
//! Attributes are stored as a JSON object (`{"http.route":"/users","n":3}`)
//! so the file stays readable with `sqlite3` and `json_extract`. Key order is
//! kept on the way back. Integers stay integers, floats keep a fraction or
//! exponent so they come back as floats; a float that JSON cannot express
//! (NaN, ±infinity) is stored as the string `"NaN"`, `"inf"` or `"-inf"`.
//!
//! Attribute search uses a 64-bit FNV-1a hash of `key`, a separator and the
//! value's canonical text ([`canonical_text`]), so `http.status_code=200`
//! finds the integer 200 and the string "200" alike.

use std::fmt::{self, Write as _};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::trace::{Array, KeyValue, StringValue, Value};

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f | 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "\"inf\"" } else { "\"-inf\"" });
    } else {
        // `{:?}` always writes a fraction or an exponent ("1.0", "1e300"),
        // so the value reads back as a float.
        let _ = write!(out, "{v:?}");
    }
}

fn push_value(out: &mut String, value: &Value) {
    fn list<T>(out: &mut String, items: &[T], each: impl Fn(&mut String, &T)) {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            each(out, item);
        }
        out.push(']');
    }
    match value {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F64(v) => push_f64(out, *v),
        Value::String(s) => push_json_str(out, s.as_str()),
        Value::Array(Array::Bool(v)) => {
            list(out, v, |o, b| o.push_str(if *b { "true" } else { "false" }))
        }
        Value::Array(Array::I64(v)) => list(out, v, |o, i| {
            let _ = write!(o, "{i}");
        }),
        Value::Array(Array::F64(v)) => list(out, v, |o, x| push_f64(o, *x)),
        Value::Array(Array::String(v)) => list(out, v, |o, s| push_json_str(o, s.as_str())),
    }
}

/// Appends attributes as a JSON object, in order.
pub(crate) fn push_attributes<'a>(
    out: &mut String,
    attributes: impl IntoIterator<Item = &'a KeyValue>,
) {
    out.push('{');
    for (i, kv) in attributes.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, kv.key.as_str());
        out.push(':');
        push_value(out, &kv.value);
    }
    out.push('}');
}

/// Attributes as a JSON object string.
pub(crate) fn attributes_json(attributes: &[KeyValue]) -> String {
    let mut out = String::with_capacity(16 + attributes.len() * 24);
    push_attributes(&mut out, attributes);
    out
}

/// Reads attributes written by [`push_attributes`] back, in order. Text that
/// is not a JSON object gives an empty list: a damaged row loses its
/// attributes, not the whole query.
pub(crate) fn parse_attributes(json: &str) -> Vec<KeyValue> {
    let mut de = serde_json::Deserializer::from_str(json);
    OrderedAttributes.deserialize(&mut de).unwrap_or_default()
}

struct OrderedAttributes;

impl<'de> DeserializeSeed<'de> for OrderedAttributes {
    type Value = Vec<KeyValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OrderedAttributes {
    type Value = Vec<KeyValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            if let Some(value) = from_json(value) {
                out.push(KeyValue::new(key, value));
            }
        }
        Ok(out)
    }
}

fn from_json(value: serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::I64(i),
            None => Value::F64(n.as_f64()?),
        },
        J::String(s) => Value::String(s.into()),
        J::Array(items) => {
            let array = match items.first() {
                None => Array::String(Vec::new()),
                Some(J::Bool(_)) => Array::Bool(items.iter().filter_map(J::as_bool).collect()),
                Some(J::Number(n)) if n.is_i64() => {
                    Array::I64(items.iter().filter_map(J::as_i64).collect())
                }
                Some(J::Number(_)) => Array::F64(items.iter().filter_map(J::as_f64).collect()),
                Some(_) => Array::String(
                    items
                        .into_iter()
                        .filter_map(|v| match v {
                            J::String(s) => Some(StringValue::from(s)),
                            _ => None,
                        })
                        .collect(),
                ),
            };
            Value::Array(array)
        }
        J::Null | J::Object(_) => return None,
    })
}

/// The text an attribute filter compares with: strings as they are,
/// numbers and booleans as Rust prints them. Arrays have none (they are not
/// indexed).
pub(crate) fn canonical_text(value: &Value, out: &mut String) -> bool {
    out.clear();
    match value {
        Value::String(s) => out.push_str(s.as_str()),
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::F64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Array(_) => return false,
    }
    true
}

fn fnv1a(parts: &[&[u8]]) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h as i64
}

/// The trace-set key of the attribute `key=value`: 64-bit FNV-1a, stable
/// across versions and platforms (it is stored on disk). Each kind of key
/// has its own tag byte, so an attribute never collides with a service or
/// operation by construction.
pub(crate) fn attribute_hash(key: &str, value_text: &str) -> i64 {
    fnv1a(&[b"a", key.as_bytes(), &[0xff], value_text.as_bytes()])
}

/// The trace-set key of "the service took part".
pub(crate) fn service_hash(service: &str) -> i64 {
    fnv1a(&[b"s", service.as_bytes()])
}

/// The trace-set key of "a span of this name in this service".
pub(crate) fn operation_hash(service: &str, name: &str) -> i64 {
    fnv1a(&[b"o", service.as_bytes(), &[0xff], name.as_bytes()])
}

/// A 64-bit FNV-1a hash of some text (used to deduplicate resources and
/// scopes).
pub(crate) fn text_hash(text: &str) -> i64 {
    fnv1a(&[text.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_in_order_with_types() {
        let attrs = vec![
            KeyValue::new("z.first", "GET"),
            KeyValue::new("a.second", 200),
            KeyValue::new("ratio", 1.0),
            KeyValue::new("small", 1e-300),
            KeyValue::new("ok", true),
            KeyValue::new("ints", vec![1i64, -2]),
            KeyValue::new("floats", vec![0.5f64, 2.0]),
            KeyValue::new("bools", vec![true, false]),
            KeyValue::new("strs", vec!["a", "b\"c"]),
            KeyValue::new("esc", "line\nbreak\t\u{1}\u{7f}\\ \"q\" ünï"),
            KeyValue::new("max", i64::MAX),
            KeyValue::new("min", i64::MIN),
        ];
        let json = attributes_json(&attrs);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(parsed["a.second"], 200);
        assert_eq!(parse_attributes(&json), attrs);
    }

    #[test]
    fn non_finite_floats_become_strings() {
        let attrs = vec![
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("inf", f64::INFINITY),
            KeyValue::new("ninf", f64::NEG_INFINITY),
        ];
        let back = parse_attributes(&attributes_json(&attrs));
        let texts: Vec<_> = back.iter().map(|kv| kv.value.to_string()).collect();
        assert_eq!(texts, ["NaN", "inf", "-inf"]);
    }

    #[test]
    fn damaged_json_gives_no_attributes() {
        assert!(parse_attributes("not json").is_empty());
        assert!(parse_attributes("[1,2]").is_empty());
        assert!(parse_attributes("").is_empty());
        assert_eq!(
            parse_attributes(r#"{"a":null,"b":{"c":1},"d":1}"#),
            vec![KeyValue::new("d", 1)]
        );
    }

    #[test]
    fn canonical_text_and_hash_match_across_types() {
        let mut s = String::new();
        assert!(canonical_text(&Value::I64(200), &mut s));
        let int_hash = attribute_hash("code", &s);
        assert!(canonical_text(&Value::from("200"), &mut s));
        assert_eq!(attribute_hash("code", &s), int_hash);
        assert_ne!(attribute_hash("code", "201"), int_hash);
        assert_ne!(attribute_hash("cod", "e200"), attribute_hash("code", "200"));
        assert!(!canonical_text(&Value::from(vec![1i64]), &mut s));
        // Stored on disk: the value must never change.
        assert_eq!(attribute_hash("k", "v"), 0xc099_8c83_cca7_8828_u64 as i64);
        assert_ne!(service_hash("k"), text_hash("k"));
        assert_ne!(operation_hash("svc", "op"), attribute_hash("svc", "op"));
    }
}
