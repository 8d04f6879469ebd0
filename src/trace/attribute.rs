//! Attribute keys and values: the typed data recorded on spans, events,
//! links and resources.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// An attribute name such as `http.request.method`.
///
/// `&'static str` keys are kept borrowed, so the common case allocates
/// nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Cow<'static, str>);

impl Key {
    /// A key from a static string, usable in `const` items.
    pub const fn from_static(name: &'static str) -> Key {
        Key(Cow::Borrowed(name))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for Key {
    fn from(s: &'static str) -> Key {
        Key(Cow::Borrowed(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key(Cow::Owned(s))
    }
}

impl From<Cow<'static, str>> for Key {
    fn from(s: Cow<'static, str>) -> Key {
        Key(s)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

/// A string attribute value: borrowed when static, owned or shared otherwise.
///
/// A shared value (from an `Arc<str>`) is cloned by reference count: a
/// string that many spans carry (a server's host name, a caller's user
/// agent) is then stored once, not copied into every span.
///
/// ```
/// use std::sync::Arc;
/// use tracelite::StringValue;
///
/// let host: Arc<str> = Arc::from("api.example.com");
/// let value = StringValue::from(host.clone());
/// assert_eq!(value.as_str(), "api.example.com");
/// assert_eq!(value, StringValue::from("api.example.com"));
/// ```
#[derive(Clone)]
pub struct StringValue(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Owned(String),
    Shared(Arc<str>),
}

impl StringValue {
    /// The value as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Owned(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// Whether dropping the value frees or releases memory.
    #[inline]
    fn owns_heap(&self) -> bool {
        !matches!(self.0, Repr::Static(_))
    }

    /// Cuts the value to at most `max_chars` characters (on a character
    /// boundary). Returns whether anything was cut.
    pub(crate) fn truncate_chars(&mut self, max_chars: usize) -> bool {
        match self.as_str().char_indices().nth(max_chars) {
            None => false,
            Some((byte, _)) => {
                match &mut self.0 {
                    Repr::Static(s) => *s = &s[..byte],
                    Repr::Owned(s) => s.truncate(byte),
                    // Others may share it: this value gets its own copy.
                    Repr::Shared(s) => {
                        let cut = Repr::Owned(s[..byte].to_owned());
                        self.0 = cut;
                    }
                }
                true
            }
        }
    }
}

impl PartialEq for StringValue {
    fn eq(&self, other: &StringValue) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for StringValue {}

impl std::hash::Hash for StringValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for StringValue {
    fn partial_cmp(&self, other: &StringValue) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StringValue {
    fn cmp(&self, other: &StringValue) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl From<&'static str> for StringValue {
    fn from(s: &'static str) -> Self {
        StringValue(Repr::Static(s))
    }
}

impl From<String> for StringValue {
    fn from(s: String) -> Self {
        StringValue(Repr::Owned(s))
    }
}

impl From<Cow<'static, str>> for StringValue {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => StringValue(Repr::Static(s)),
            Cow::Owned(s) => StringValue(Repr::Owned(s)),
        }
    }
}

impl From<Arc<str>> for StringValue {
    /// Shares the string: no copy.
    fn from(s: Arc<str>) -> Self {
        StringValue(Repr::Shared(s))
    }
}

impl AsRef<str> for StringValue {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for StringValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for StringValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A homogeneous array attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    /// Booleans.
    Bool(Vec<bool>),
    /// 64-bit signed integers.
    I64(Vec<i64>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// Strings.
    String(Vec<StringValue>),
}

/// An attribute value: a string, bool, 64-bit integer, 64-bit float, or a
/// homogeneous array of one of them (the OpenTelemetry attribute types).
///
/// Conversions exist from the Rust types you would expect:
///
/// ```
/// use tracelite::Value;
///
/// assert_eq!(Value::from(200u16), Value::I64(200));
/// assert_eq!(Value::from(true), Value::Bool(true));
/// assert_eq!(Value::from("GET").as_str(), Some("GET"));
/// assert_eq!(Value::from(vec![1i64, 2]).to_string(), "[1,2]");
/// // u64 and usize saturate at i64::MAX.
/// assert_eq!(Value::from(u64::MAX), Value::I64(i64::MAX));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A string.
    String(StringValue),
    /// A homogeneous array.
    Array(Array),
}

impl Value {
    /// The string, when this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The integer, when this is an integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::I64(i) => Some(*i),
            _ => None,
        }
    }

    /// The float, when this is a float value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    /// The boolean, when this is a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Cuts string values (and each string of a string array) to at most
    /// `max_chars` characters. Returns whether anything was cut.
    pub(crate) fn truncate_strings(&mut self, max_chars: usize) -> bool {
        match self {
            Value::String(s) => s.truncate_chars(max_chars),
            Value::Array(Array::String(items)) => items
                .iter_mut()
                .fold(false, |cut, s| s.truncate_chars(max_chars) | cut),
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// Strings as they are; arrays as `[a,b]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list<T>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            each: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
        ) -> fmt::Result {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                each(f, item)?;
            }
            f.write_str("]")
        }
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::String(s) => f.write_str(s.as_str()),
            Value::Array(Array::Bool(v)) => list(f, v, |f, b| write!(f, "{b}")),
            Value::Array(Array::I64(v)) => list(f, v, |f, i| write!(f, "{i}")),
            Value::Array(Array::F64(v)) => list(f, v, |f, x| write!(f, "{x}")),
            Value::Array(Array::String(v)) => list(f, v, |f, s| write!(f, "{s:?}")),
        }
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::I64(i64::from(v))
            }
        }
    )*};
}
value_from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    /// Saturates at `i64::MAX`.
    fn from(v: u64) -> Value {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Value {
    /// Saturates at `i64::MAX`.
    fn from(v: usize) -> Value {
        Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<isize> for Value {
    fn from(v: isize) -> Value {
        Value::I64(v as i64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::F64(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::F64(f64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<&'static str> for Value {
    fn from(v: &'static str) -> Value {
        Value::String(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v.into())
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(v: Cow<'static, str>) -> Value {
        Value::String(v.into())
    }
}

impl From<Arc<str>> for Value {
    /// A shared string: no copy.
    fn from(s: Arc<str>) -> Value {
        Value::String(s.into())
    }
}

impl From<StringValue> for Value {
    fn from(v: StringValue) -> Value {
        Value::String(v)
    }
}

impl From<Array> for Value {
    fn from(v: Array) -> Value {
        Value::Array(v)
    }
}

impl From<Vec<bool>> for Value {
    fn from(v: Vec<bool>) -> Value {
        Value::Array(Array::Bool(v))
    }
}

impl From<Vec<i64>> for Value {
    fn from(v: Vec<i64>) -> Value {
        Value::Array(Array::I64(v))
    }
}

impl From<Vec<f64>> for Value {
    fn from(v: Vec<f64>) -> Value {
        Value::Array(Array::F64(v))
    }
}

impl From<Vec<StringValue>> for Value {
    fn from(v: Vec<StringValue>) -> Value {
        Value::Array(Array::String(v))
    }
}

impl From<Vec<&'static str>> for Value {
    fn from(v: Vec<&'static str>) -> Value {
        Value::Array(Array::String(v.into_iter().map(Into::into).collect()))
    }
}

impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Value {
        Value::Array(Array::String(v.into_iter().map(Into::into).collect()))
    }
}

/// One attribute: a key and its value.
///
/// ```
/// use tracelite::KeyValue;
///
/// let kv = KeyValue::new("http.response.status_code", 200);
/// assert_eq!(kv.key.as_str(), "http.response.status_code");
/// assert_eq!(kv.value.as_i64(), Some(200));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The attribute name.
    pub key: Key,
    /// The attribute value.
    pub value: Value,
}

impl KeyValue {
    /// Whether dropping the pair frees memory: an owned key or string, or
    /// an array.
    #[inline]
    fn owns_heap(&self) -> bool {
        matches!(self.key.0, Cow::Owned(_))
            || match &self.value {
                Value::String(s) => s.owns_heap(),
                Value::Array(_) => true,
                Value::Bool(_) | Value::I64(_) | Value::F64(_) => false,
            }
    }

    /// Empties an attribute vector, keeping its room. The same as
    /// `clear`, faster for the common pairs that own nothing (static keys,
    /// numbers, static strings): those are let go of without running their
    /// drop code, which is a no-op for them but is an out-of-line call per
    /// pair; pairs that own memory are dropped as usual.
    #[inline]
    pub(crate) fn clear_list(list: &mut Vec<KeyValue>) {
        while let Some(kv) = list.pop() {
            if kv.owns_heap() {
                drop(kv);
            } else {
                std::mem::forget(kv);
            }
        }
    }

    /// A key/value pair from anything convertible into a key and a value.
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl<K: Into<Key>, V: Into<Value>> From<(K, V)> for KeyValue {
    fn from((k, v): (K, V)) -> KeyValue {
        KeyValue::new(k, v)
    }
}

/// Finds the value of `key` in a list of attributes.
pub(crate) fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut v = Value::from("héllo wörld".to_string());
        assert!(v.truncate_strings(4));
        assert_eq!(v.as_str(), Some("héll"));
        let mut v = Value::from("short");
        assert!(!v.truncate_strings(10));
        assert_eq!(v.as_str(), Some("short"));
        let mut v = Value::from(vec!["abcdef", "xy"]);
        assert!(v.truncate_strings(3));
        assert_eq!(v.to_string(), r#"["abc","xy"]"#);
        let mut v = Value::from(12345);
        assert!(!v.truncate_strings(1));
    }

    #[test]
    fn conversions() {
        assert_eq!(Value::from(-3i8), Value::I64(-3));
        assert_eq!(Value::from(1.5f32), Value::F64(1.5));
        assert_eq!(Value::from(usize::MAX), Value::I64(i64::MAX));
        assert_eq!(Value::from(7usize), Value::I64(7));
        assert_eq!(KeyValue::from(("k", "v")), KeyValue::new("k", "v"));
        assert_eq!(Key::from("a".to_string()), Key::from_static("a"));
    }
}
