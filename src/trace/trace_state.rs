//! W3C `tracestate`: vendor-specific key/value pairs that travel with a trace.

use std::fmt;
use std::sync::Arc;

/// The most list members a `tracestate` may hold (W3C Trace Context).
pub const MAX_MEMBERS: usize = 32;

/// An ordered list of vendor key/value pairs carried with a trace, following
/// the rules of W3C Trace Context.
///
/// It is immutable and cheap to clone; [`insert`](TraceState::insert) and
/// [`delete`](TraceState::delete) return a new list. A key that is inserted
/// or updated moves to the front, as the Recommendation asks of a vendor
/// that changes its own entry. Keys and values are checked against the W3C
/// grammar, and the list never holds more than 32 members.
///
/// ```
/// use tracelite::TraceState;
///
/// let state = TraceState::default()
///     .insert("rojo", "00f067aa0ba902b7")?
///     .insert("congo", "t61rcWkgMzE")?;
/// assert_eq!(state.header(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
///
/// // Updating a key moves it to the front.
/// let state = state.insert("rojo", "b7ad6b7169203331")?;
/// assert_eq!(state.header(), "rojo=b7ad6b7169203331,congo=t61rcWkgMzE");
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
///
/// assert!(TraceState::default().insert("Upper", "x").is_err());
/// # Ok::<(), tracelite::TraceStateError>(())
/// ```
#[derive(Clone, Default)]
// The validated header itself (`k=v,k2=v2`) in one allocation, shared by
// every span of the trace in this process. Injecting into an
// `http::HeaderMap` reuses the header value a thread encoded last when it is
// this list's (see `TraceState::header_value`).
pub struct TraceState(Option<Arc<str>>);

impl PartialEq for TraceState {
    fn eq(&self, other: &TraceState) -> bool {
        self.as_header() == other.as_header()
    }
}

impl Eq for TraceState {}

impl std::hash::Hash for TraceState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_header().hash(state);
    }
}

/// Why a key, value or list is not acceptable in a `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceStateError {
    /// The key does not follow the W3C key grammar.
    InvalidKey(String),
    /// The value does not follow the W3C value grammar.
    InvalidValue(String),
    /// Adding the member would make more than 32 members.
    TooManyMembers,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceStateError::InvalidKey(k) => write!(
                f,
                "invalid tracestate key {k:?}: keys are lowercase, start with a letter \
                 (or `tenant@system`), and use only a-z 0-9 _ - * /"
            ),
            TraceStateError::InvalidValue(v) => write!(
                f,
                "invalid tracestate value {v:?}: 1 to 256 printable ASCII characters, \
                 no ',' or '=', not ending in a space"
            ),
            TraceStateError::TooManyMembers => {
                write!(f, "a tracestate holds at most {MAX_MEMBERS} members")
            }
        }
    }
}

impl std::error::Error for TraceStateError {}

fn is_key_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// Whether `key` is a valid W3C `tracestate` key: a simple key, or a
/// multi-tenant `tenant@system` key.
pub fn is_valid_key(key: &str) -> bool {
    is_valid_key_bytes(key.as_bytes())
}

/// [`is_valid_key`] on bytes.
pub(crate) fn is_valid_key_bytes(b: &[u8]) -> bool {
    match b.iter().position(|&c| c == b'@') {
        None => {
            !b.is_empty()
                && b.len() <= 256
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| is_key_char(c))
        }
        Some(at) => {
            let (tenant, system) = (&b[..at], &b[at + 1..]);
            !tenant.is_empty()
                && tenant.len() <= 241
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&c| is_key_char(c))
                && !system.is_empty()
                && system.len() <= 14
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&c| is_key_char(c))
        }
    }
}

/// Whether `value` is a valid W3C `tracestate` value: 1 to 256 printable
/// ASCII characters other than `,` and `=`, not ending in a space.
pub fn is_valid_value(value: &str) -> bool {
    is_valid_value_bytes(value.as_bytes())
}

/// [`is_valid_value`] on bytes.
pub(crate) fn is_valid_value_bytes(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 256
        && b[b.len() - 1] != b' '
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

impl TraceState {
    /// An empty list.
    pub const fn new() -> TraceState {
        TraceState(None)
    }

    /// Builds a list from members in order (the first is the most recent).
    /// Fails on an invalid key or value, a duplicated key, or more than 32
    /// members.
    pub fn from_members<K, V, I>(members: I) -> Result<TraceState, TraceStateError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut header = String::new();
        for (count, (k, v)) in members.into_iter().enumerate() {
            let (k, v) = (k.into(), v.into());
            if !is_valid_key(&k) || TraceState::find(&header, &k).is_some() {
                return Err(TraceStateError::InvalidKey(k));
            }
            if !is_valid_value(&v) {
                return Err(TraceStateError::InvalidValue(v));
            }
            if count == MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            push_member(&mut header, &k, &v);
        }
        Ok(TraceState::from_header_unchecked(&header))
    }

    /// A list from a header already validated member by member (no
    /// duplicates, at most 32 members, no empty members or whitespace).
    pub(crate) fn from_header_unchecked(header: &str) -> TraceState {
        if header.is_empty() {
            TraceState(None)
        } else {
            TraceState(Some(Arc::from(header)))
        }
    }

    /// The header as an `http` header value. Each thread remembers the
    /// list it encoded last and its value, so the outgoing requests of one
    /// incoming request share one encoding (a reference count, no copy and no
    /// validation per request) without every list carrying a cache it may
    /// never use: extraction makes one allocation, not two. The memory is
    /// known by a `Weak`, so it cannot be reused by another list while
    /// remembered. `None` when empty (or, never for a validated list, not
    /// encodable).
    #[cfg(feature = "http")]
    pub(crate) fn header_value(&self) -> Option<http::HeaderValue> {
        use std::cell::RefCell;
        use std::sync::Weak;
        thread_local! {
            static LAST: RefCell<Option<(Weak<str>, http::HeaderValue)>> =
                const { RefCell::new(None) };
        }
        let header = self.0.as_ref()?;
        let encode = || http::HeaderValue::from_str(header).ok();
        // Without the thread's slot (thread teardown), encode without
        // remembering.
        LAST.try_with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else {
                return encode();
            };
            if let Some((list, value)) = last.as_ref() {
                if std::ptr::addr_eq(list.as_ptr(), Arc::as_ptr(header)) {
                    return Some(value.clone());
                }
            }
            let value = encode()?;
            *last = Some((Arc::downgrade(header), value.clone()));
            Some(value)
        })
        .unwrap_or_else(|_| encode())
    }

    /// The value of `key` in a validated header.
    fn find<'h>(header: &'h str, key: &str) -> Option<&'h str> {
        split_members(header)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        TraceState::find(self.as_header(), key)
    }

    /// A new list with `key` set to `value`, moved to the front.
    ///
    /// When the list is full and `key` is new, the last (oldest) member is
    /// dropped to make room, as W3C asks of a vendor adding its own entry.
    pub fn insert(
        &self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<TraceState, TraceStateError> {
        let (key, value) = (key.into(), value.into());
        if !is_valid_key(&key) {
            return Err(TraceStateError::InvalidKey(key));
        }
        if !is_valid_value(&value) {
            return Err(TraceStateError::InvalidValue(value));
        }
        let mut header =
            String::with_capacity(key.len() + value.len() + 2 + self.as_header().len());
        push_member(&mut header, &key, &value);
        let others = self.iter().filter(|(k, _)| *k != key).take(MAX_MEMBERS - 1);
        for (k, v) in others {
            push_member(&mut header, k, v);
        }
        Ok(TraceState::from_header_unchecked(&header))
    }

    /// A new list without `key` (the same list when `key` is absent).
    pub fn delete(&self, key: &str) -> TraceState {
        if self.get(key).is_none() {
            return self.clone();
        }
        let mut header = String::with_capacity(self.as_header().len());
        for (k, v) in self.iter().filter(|(k, _)| *k != key) {
            push_member(&mut header, k, v);
        }
        TraceState::from_header_unchecked(&header)
    }

    /// The members in order, most recent first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        split_members(self.as_header())
    }

    /// How many members the list holds.
    pub fn len(&self) -> usize {
        match &self.0 {
            None => 0,
            Some(h) => h.bytes().filter(|&b| b == b',').count() + 1,
        }
    }

    /// Whether the list has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The `tracestate` header value: `key=value` members joined by `,`.
    pub fn header(&self) -> String {
        self.as_header().to_string()
    }

    /// The `tracestate` header value, borrowed.
    pub fn as_header(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }
}

/// Appends `key=value` to a header, with a comma when needed.
pub(crate) fn push_member(header: &mut String, key: &str, value: &str) {
    if !header.is_empty() {
        header.push(',');
    }
    header.push_str(key);
    header.push('=');
    header.push_str(value);
}

/// The members of a validated header. Keys and values hold neither `,` nor
/// `=`, so splitting is exact.
fn split_members(header: &str) -> impl Iterator<Item = (&str, &str)> + '_ {
    header
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| m.split_once('=').unwrap_or((m, "")))
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_grammar() {
        for ok in [
            "a",
            "rojo",
            "congo",
            "a0_-*/",
            "tenant@system",
            "0tenant@sys",
            &"a".repeat(256),
            &format!("{}@{}", "t".repeat(241), "s".repeat(14)),
        ] {
            assert!(is_valid_key(ok), "{ok} should be valid");
        }
        for bad in [
            "",
            "Rojo",
            "0abc",
            "a b",
            "a=b",
            "@sys",
            "tenant@",
            "tenant@0sys",
            "a@b@c",
            &"a".repeat(257),
            &format!("{}@{}", "t".repeat(242), "s"),
            &format!("t@{}", "s".repeat(15)),
            "é",
        ] {
            assert!(!is_valid_key(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn value_grammar() {
        for ok in ["x", "00f067aa0ba902b7", "a b", " lead", &"v".repeat(256)] {
            assert!(is_valid_value(ok), "{ok:?} should be valid");
        }
        for bad in ["", "trail ", "a,b", "a=b", "tab\t", "é", &"v".repeat(257)] {
            assert!(!is_valid_value(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn insert_moves_to_front_and_delete_removes() {
        let ts = TraceState::from_members([("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
        let ts2 = ts.insert("c", "9").unwrap();
        assert_eq!(ts2.header(), "c=9,a=1,b=2");
        // The original is unchanged.
        assert_eq!(ts.header(), "a=1,b=2,c=3");
        let ts3 = ts2.delete("a");
        assert_eq!(ts3.header(), "c=9,b=2");
        assert_eq!(ts3.delete("zzz"), ts3);
        assert!(ts3.delete("c").delete("b").is_empty());
    }

    #[test]
    fn at_most_32_members() {
        let members: Vec<(String, String)> =
            (0..32).map(|i| (format!("k{i}"), format!("{i}"))).collect();
        let full = TraceState::from_members(members.clone()).unwrap();
        assert_eq!(full.len(), 32);
        // A new key on a full list drops the oldest (last) member.
        let more = full.insert("new", "1").unwrap();
        assert_eq!(more.len(), 32);
        assert_eq!(more.iter().next(), Some(("new", "1")));
        assert_eq!(more.get("k31"), None);
        assert_eq!(more.get("k30"), Some("30"));
        // Updating an existing key keeps all 32.
        let upd = full.insert("k31", "x").unwrap();
        assert_eq!(upd.len(), 32);
        assert_eq!(upd.get("k0"), Some("0"));
        let mut too_many = members;
        too_many.push(("k32".into(), "32".into()));
        assert_eq!(
            TraceState::from_members(too_many),
            Err(TraceStateError::TooManyMembers)
        );
    }

    #[test]
    fn from_members_rejects_duplicates_and_bad_values() {
        assert!(TraceState::from_members([("a", "1"), ("a", "2")]).is_err());
        assert!(TraceState::from_members([("a", "1,2")]).is_err());
        assert!(TraceState::from_members(Vec::<(String, String)>::new())
            .unwrap()
            .is_empty());
    }
}
