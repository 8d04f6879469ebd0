//! The resource: the entity (service, host, process) that produces spans.

use std::fmt;
use std::sync::Arc;

use super::{KeyValue, Value};
use crate::diagnostics;

/// Attributes describing what produces telemetry, above all `service.name`.
/// Cheap to clone; shared by every span of a provider.
///
/// [`TracerProvider::builder`](crate::TracerProvider::builder) starts from
/// [`Resource::default`], which reads the environment, and merges the
/// resource you pass to `with_resource` on top, so your code wins over the
/// defaults.
///
/// ```
/// use tracelite::Resource;
///
/// let r = Resource::new([("service.name", "checkout"), ("deployment.environment", "dev")]);
/// assert_eq!(r.service_name(), "checkout");
/// let merged = r.merge(&Resource::new([("deployment.environment", "prod")]));
/// assert_eq!(merged.get("deployment.environment").and_then(|v| v.as_str()), Some("prod"));
/// ```
#[derive(Clone, PartialEq)]
pub struct Resource(Arc<Vec<KeyValue>>);

const SERVICE_NAME: &str = "service.name";

impl Resource {
    /// A resource with exactly these attributes (a later duplicate key wins).
    pub fn new<I>(attributes: I) -> Resource
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        let mut list: Vec<KeyValue> = Vec::new();
        for kv in attributes.into_iter().map(Into::into) {
            upsert(&mut list, kv);
        }
        Resource(Arc::new(list))
    }

    /// A resource with no attributes.
    pub fn empty() -> Resource {
        Resource(Arc::new(Vec::new()))
    }

    /// A new resource with `other`'s attributes over this one's: where both
    /// have a key, `other`'s value wins.
    #[must_use]
    pub fn merge(&self, other: &Resource) -> Resource {
        let mut list = (*self.0).clone();
        for kv in other.iter() {
            upsert(&mut list, kv.clone());
        }
        Resource(Arc::new(list))
    }

    /// The value of one attribute.
    pub fn get(&self, key: &str) -> Option<&Value> {
        super::attribute::find(&self.0, key)
    }

    /// The `service.name` attribute, or `unknown_service` when it is absent
    /// or not a string.
    pub fn service_name(&self) -> &str {
        self.get(SERVICE_NAME)
            .and_then(Value::as_str)
            .unwrap_or("unknown_service")
    }

    /// The attributes, in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, KeyValue> {
        self.0.iter()
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The resource read from the environment and the SDK: `telemetry.sdk.*`,
    /// `OTEL_RESOURCE_ATTRIBUTES`, then `OTEL_SERVICE_NAME`, with
    /// `service.name` defaulting to `unknown_service:<executable name>`.
    pub(crate) fn detect(get: impl Fn(&str) -> Option<String>) -> Resource {
        let mut list = vec![
            KeyValue::new("telemetry.sdk.name", "tracelite"),
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
        ];
        if let Some(raw) = get("OTEL_RESOURCE_ATTRIBUTES") {
            match parse_resource_attributes(&raw) {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        upsert(&mut list, KeyValue::new(k, v));
                    }
                }
                Err(why) => diagnostics::warn(&format!(
                    "ignoring OTEL_RESOURCE_ATTRIBUTES: {why} (expected key1=value1,key2=value2 \
                     with values percent-encoded)"
                )),
            }
        }
        match get("OTEL_SERVICE_NAME").filter(|s| !s.trim().is_empty()) {
            Some(name) => upsert(
                &mut list,
                KeyValue::new(SERVICE_NAME, name.trim().to_string()),
            ),
            None if super::attribute::find(&list, SERVICE_NAME).is_none() => {
                let exe = std::env::current_exe()
                    .ok()
                    .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .unwrap_or_default();
                let name = if exe.is_empty() {
                    "unknown_service".to_string()
                } else {
                    format!("unknown_service:{exe}")
                };
                upsert(&mut list, KeyValue::new(SERVICE_NAME, name));
            }
            None => {}
        }
        Resource(Arc::new(list))
    }
}

impl Default for Resource {
    /// The SDK attributes and what the environment says
    /// (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`).
    fn default() -> Resource {
        Resource::detect(|name| std::env::var(name).ok())
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|kv| (kv.key.as_str(), &kv.value)))
            .finish()
    }
}

fn upsert(list: &mut Vec<KeyValue>, kv: KeyValue) {
    match list.iter_mut().find(|existing| existing.key == kv.key) {
        Some(existing) => existing.value = kv.value,
        None => list.push(kv),
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas,
/// values percent-decoded. Any malformed pair rejects the whole value, as the
/// OpenTelemetry specification asks.
fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for member in raw.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let (k, v) = member
            .split_once('=')
            .ok_or_else(|| format!("{member:?} has no '='"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{member:?} has an empty key"));
        }
        let v = percent_decode(v.trim())
            .ok_or_else(|| format!("{member:?} is not valid percent-encoding"))?;
        out.push((k.to_string(), v));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result
/// is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn detect(env: &[(&str, &str)]) -> Resource {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Resource::detect(|k| env.get(k).cloned())
    }

    fn s<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
        r.get(key).and_then(Value::as_str)
    }

    #[test]
    fn default_service_name_names_the_executable() {
        let r = detect(&[]);
        assert!(r.service_name().starts_with("unknown_service:"), "{r:?}");
        assert_eq!(s(&r, "telemetry.sdk.name"), Some("tracelite"));
        assert_eq!(s(&r, "telemetry.sdk.language"), Some("rust"));
    }

    #[test]
    fn service_name_env_wins_over_resource_attributes() {
        let r = detect(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,team=core%20infra",
            ),
            ("OTEL_SERVICE_NAME", "from-name"),
        ]);
        assert_eq!(r.service_name(), "from-name");
        assert_eq!(s(&r, "team"), Some("core infra"));

        let r = detect(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")]);
        assert_eq!(r.service_name(), "from-attrs");
    }

    #[test]
    fn malformed_resource_attributes_are_discarded_whole() {
        let r = detect(&[("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad,other=2")]);
        assert_eq!(r.get("good"), None);
        let r = detect(&[("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad=%zz")]);
        assert_eq!(r.get("good"), None);
        assert!(r.service_name().starts_with("unknown_service"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Cb%3d").as_deref(), Some("a,b="));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None); // not UTF-8
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
    }

    #[test]
    fn new_and_merge() {
        let a = Resource::new([("k", "1"), ("k", "2"), ("j", "x")]);
        assert_eq!(a.len(), 2);
        assert_eq!(s(&a, "k"), Some("2"));
        let b = a.merge(&Resource::new([("j", "y"), ("z", "w")]));
        assert_eq!(s(&b, "j"), Some("y"));
        assert_eq!(s(&b, "z"), Some("w"));
        assert_eq!(Resource::empty().service_name(), "unknown_service");
    }
}
