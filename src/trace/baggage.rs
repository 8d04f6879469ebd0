//! Baggage: application-defined key/value pairs that travel with a request
//! across services (W3C Baggage), carried in the [`Context`](super::Context).

use std::fmt;
use std::sync::Arc;

/// The most entries a `baggage` header may carry (W3C Baggage).
pub const MAX_MEMBERS: usize = 180;
/// The most bytes the `baggage` header(s) may take in total (W3C Baggage).
pub const MAX_BYTES: usize = 8192;

/// One baggage entry: a value and optional metadata (the W3C `;property`
/// list, kept as written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaggageEntry {
    value: String,
    metadata: String,
}

impl BaggageEntry {
    /// The value (percent-decoded).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties after the value, as written (`""` when none), e.g.
    /// `prop1;prop2=x`.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }
}

/// Key/value pairs propagated with a request: a user id, a tenant, a
/// feature flag. Cheap to clone; changing a clone copies it first.
///
/// Keys are HTTP tokens (letters, digits and ``!#$%&'*+-.^_`|~``); values
/// are any text (percent-encoded on the wire). Read it from the current
/// context, change it, and attach a context carrying the new one:
///
/// ```
/// use tracelite::{Baggage, Context};
///
/// let mut baggage = Baggage::new();
/// baggage.insert("user.id", "u-1024").unwrap();
/// baggage.insert("tenant", "acme corp").unwrap();
/// let _guard = Context::current().with_baggage(baggage).attach();
///
/// assert_eq!(Context::current().baggage().get("tenant"), Some("acme corp"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Option<Arc<Vec<(String, BaggageEntry)>>>);

/// Why a baggage key or entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaggageError {
    /// The key is empty or has a character that is not an HTTP token char.
    InvalidKey(String),
    /// The metadata does not follow the W3C property grammar.
    InvalidMetadata(String),
    /// The baggage already holds 180 entries.
    TooManyEntries,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaggageError::InvalidKey(k) => write!(
                f,
                "invalid baggage key {k:?}: use letters, digits and !#$%&'*+-.^_`|~"
            ),
            BaggageError::InvalidMetadata(m) => {
                write!(f, "invalid baggage metadata {m:?}: expected `key` or `key=value` properties separated by ';'")
            }
            BaggageError::TooManyEntries => {
                write!(f, "baggage holds at most {MAX_MEMBERS} entries")
            }
        }
    }
}

impl std::error::Error for BaggageError {}

/// Whether `b` is an RFC 7230 `tchar`, the characters of a baggage key.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `key` is a valid baggage key (a non-empty token).
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(is_token_char)
}

/// Whether `metadata` is a valid W3C property list (`p1;p2=v`), or empty.
pub(crate) fn is_valid_metadata(metadata: &str) -> bool {
    metadata.is_empty()
        || metadata.split(';').all(|prop| {
            let prop = prop.trim_matches([' ', '\t']);
            match prop.split_once('=') {
                None => is_valid_key(prop),
                Some((k, v)) => {
                    is_valid_key(k.trim_matches([' ', '\t']))
                        && v.trim_matches([' ', '\t']).bytes().all(is_value_octet)
                }
            }
        })
}

/// W3C `baggage-octet`: printable ASCII except space, `"`, `,`, `;`, `\`.
pub(crate) fn is_value_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

impl Baggage {
    /// Empty baggage.
    pub const fn new() -> Baggage {
        Baggage(None)
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(BaggageEntry::value)
    }

    /// The entry (value and metadata) for `key`.
    pub fn entry(&self, key: &str) -> Option<&BaggageEntry> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, e)| e)
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), BaggageError> {
        self.insert_with_metadata(key, value, "")
    }

    /// Sets `key` to `value` with metadata (W3C properties, e.g. `ttl=30`).
    pub fn insert_with_metadata(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        metadata: impl Into<String>,
    ) -> Result<(), BaggageError> {
        let (key, value, metadata) = (key.into(), value.into(), metadata.into());
        if !is_valid_key(&key) {
            return Err(BaggageError::InvalidKey(key));
        }
        if !is_valid_metadata(&metadata) {
            return Err(BaggageError::InvalidMetadata(metadata));
        }
        let entry = BaggageEntry { value, metadata };
        let list = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        let full = list.len() >= MAX_MEMBERS;
        match list.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => *existing = entry,
            None if full => return Err(BaggageError::TooManyEntries),
            None => list.push((key, entry)),
        }
        Ok(())
    }

    /// Removes `key`; returns its entry if it was there.
    pub fn remove(&mut self, key: &str) -> Option<BaggageEntry> {
        let list = Arc::make_mut(self.0.as_mut()?);
        let index = list.iter().position(|(k, _)| k == key)?;
        let (_, entry) = list.remove(index);
        if list.is_empty() {
            self.0 = None;
        }
        Some(entry)
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &BaggageEntry)> + '_ {
        self.entries().iter().map(|(k, e)| (k.as_str(), e))
    }

    fn entries(&self) -> &[(String, BaggageEntry)] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries().iter().map(|(k, e)| (k, &e.value)))
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Baggage {
    /// Collects pairs, skipping invalid keys and entries past the limit.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Baggage {
        let mut baggage = Baggage::new();
        for (k, v) in iter {
            let _ = baggage.insert(k, v);
        }
        baggage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_copy_on_write() {
        let mut a = Baggage::new();
        a.insert("k", "1").unwrap();
        let b = a.clone();
        a.insert("k", "2").unwrap();
        a.insert_with_metadata("m", "v", "ttl=30;private").unwrap();
        assert_eq!(a.get("k"), Some("2"));
        assert_eq!(b.get("k"), Some("1"), "clones are independent");
        assert_eq!(a.entry("m").unwrap().metadata(), "ttl=30;private");
        assert_eq!(a.remove("k").unwrap().value(), "2");
        assert_eq!(a.len(), 1);
        assert!(a.remove("m").is_some());
        assert_eq!(a, Baggage::new());
    }

    #[test]
    fn keys_and_metadata_are_checked() {
        let mut b = Baggage::new();
        assert!(matches!(
            b.insert("", "x"),
            Err(BaggageError::InvalidKey(_))
        ));
        assert!(b.insert("has space", "x").is_err());
        assert!(b.insert("a,b", "x").is_err());
        assert!(b.insert("ok!#$%&'*+-.^_`|~", "any value, even ;,=").is_ok());
        assert!(b.insert_with_metadata("k", "v", "bad prop").is_err());
        assert!(b.insert_with_metadata("k", "v", "p1;p2=a").is_ok());
    }

    #[test]
    fn at_most_180_entries() {
        let mut b: Baggage = (0..200).map(|i| (format!("k{i}"), "v")).collect();
        assert_eq!(b.len(), MAX_MEMBERS);
        assert_eq!(b.insert("new", "v"), Err(BaggageError::TooManyEntries));
        assert!(
            b.insert("k0", "updated").is_ok(),
            "updates still work when full"
        );
    }
}
