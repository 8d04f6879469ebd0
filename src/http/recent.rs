//! Strings the HTTP layers record on span after span — a server's own host
//! name, the user agents of its few callers, the host a client calls, the
//! paths of a health check, a GraphQL or gRPC endpoint — kept per thread
//! as shared strings, so each span holds a reference to one copy instead
//! of a copy of its own.
//!
//! Copying them cost each request an allocation, a copy, a UTF-8 check and
//! (wherever the span is dropped) a free per string; a hit here costs a
//! comparison with what the thread saw last and a reference count. A miss
//! costs the comparisons and then what the copy cost before. Each thread
//! keeps a few entries of each kind, replaced in turn (paths apart, so a
//! stream of distinct paths — `/users/{id}` — does not push the hosts and
//! user agents out); strings longer than [`MAX_LEN`] are copied as before,
//! not kept.

use std::cell::RefCell;
use std::sync::Arc;

/// Entries of each kind a thread keeps.
const ENTRIES: usize = 4;
/// Longer strings are copied into each span, not kept.
const MAX_LEN: usize = 256;

/// A host and port, split from the text they came from.
#[derive(Clone)]
struct Address {
    /// The `host[:port]` text.
    source: Arc<str>,
    host: Arc<str>,
    port: Option<u16>,
}

/// The last few entries of one kind, replaced in turn.
struct Ring<T> {
    entries: [Option<T>; ENTRIES],
    next: usize,
}

impl<T> Ring<T> {
    const fn new() -> Ring<T> {
        Ring {
            entries: [None, None, None, None],
            next: 0,
        }
    }

    fn find(&self, matches: impl Fn(&T) -> bool) -> Option<&T> {
        self.entries.iter().flatten().find(|e| matches(e))
    }

    /// Keeps `entry` in place of the oldest; returns the one it replaces,
    /// for the caller to drop once the thread's cache is released.
    fn put(&mut self, entry: T) -> Option<T> {
        let old = self.entries[self.next].replace(entry);
        self.next = (self.next + 1) % ENTRIES;
        old
    }
}

struct Recent {
    addresses: Ring<Address>,
    user_agents: Ring<Arc<str>>,
    paths: Ring<Arc<str>>,
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent {
            addresses: Ring::new(),
            user_agents: Ring::new(),
            paths: Ring::new(),
        })
    };
}

/// A user agent as a shared string: the copy this thread keeps when it has
/// seen it lately, otherwise a new one, kept for next time. `None` when the
/// bytes are not UTF-8.
pub(crate) fn user_agent(text: &[u8]) -> Option<Arc<str>> {
    shared(text, |recent| &mut recent.user_agents)
}

/// A request path as a shared string, as [`user_agent`].
pub(crate) fn path(text: &str) -> Arc<str> {
    shared(text.as_bytes(), |recent| &mut recent.paths).unwrap_or_else(|| Arc::from(text))
}

/// `text` from `ring` of this thread's cache when there, otherwise a new
/// copy, kept there for next time; `None` when it is not UTF-8.
fn shared(text: &[u8], ring: fn(&mut Recent) -> &mut Ring<Arc<str>>) -> Option<Arc<str>> {
    if text.len() > MAX_LEN {
        return std::str::from_utf8(text).ok().map(Arc::from);
    }
    let found = RECENT
        .try_with(|recent| {
            let mut recent = recent.try_borrow_mut().ok()?;
            ring(&mut recent).find(|s| s.as_bytes() == text).cloned()
        })
        .ok()
        .flatten();
    if found.is_some() {
        return found;
    }
    let new: Arc<str> = Arc::from(std::str::from_utf8(text).ok()?);
    keep(|recent| ring(recent).put(new.clone()));
    Some(new)
}

/// `source` (`host[:port]`) split by `split` into a shared host string and
/// the port, from the copy this thread keeps when it has seen the same
/// text lately. `None` when the text is not UTF-8 or `split` finds no
/// valid host.
pub(crate) fn address(
    source: &[u8],
    split: impl FnOnce(&str) -> Option<(&str, Option<u16>)>,
) -> Option<(Arc<str>, Option<u16>)> {
    if source.len() > MAX_LEN {
        let (host, port) = split(std::str::from_utf8(source).ok()?)?;
        return Some((Arc::from(host), port));
    }
    let found = RECENT
        .try_with(|recent| {
            let recent = recent.try_borrow().ok()?;
            recent
                .addresses
                .find(|a| a.source.as_bytes() == source)
                .map(|a| (a.host.clone(), a.port))
        })
        .ok()
        .flatten();
    if found.is_some() {
        return found;
    }
    let source = std::str::from_utf8(source).ok()?;
    let (host, port) = split(source)?;
    let host: Arc<str> = Arc::from(host);
    // Without a port the text is the host: one string serves as both.
    let source = if host.len() == source.len() {
        host.clone()
    } else {
        Arc::from(source)
    };
    keep(|recent| {
        recent.addresses.put(Address {
            source,
            host: host.clone(),
            port,
        })
    });
    Some((host, port))
}

/// Stores an entry in this thread's cache (nothing when the cache is out
/// of reach: during thread teardown); what it replaces is dropped after
/// the cache is released.
fn keep<T>(put: impl FnOnce(&mut Recent) -> Option<T>) {
    let replaced = RECENT
        .try_with(|recent| recent.try_borrow_mut().ok().and_then(|mut r| put(&mut r)))
        .ok()
        .flatten();
    drop(replaced);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_shared_and_other_text_is_not() {
        let a = user_agent(b"curl/8.5.0").unwrap();
        let b = user_agent(b"curl/8.5.0").unwrap();
        assert_eq!(&*a, "curl/8.5.0");
        assert!(Arc::ptr_eq(&a, &b), "seen lately: shared");
        let c = user_agent(b"curl/8.6.0").unwrap();
        assert_eq!(&*c, "curl/8.6.0");
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(user_agent(&[b'a', 0xff]).is_none(), "not UTF-8");

        // More texts than entries: the oldest goes, answers stay right.
        for i in 0..3 * ENTRIES {
            let text = format!("agent/{i}");
            assert_eq!(&*user_agent(text.as_bytes()).unwrap(), text);
        }
        let d = user_agent(b"curl/8.5.0").unwrap();
        assert_eq!(&*d, "curl/8.5.0");
        assert!(!Arc::ptr_eq(&a, &d), "replaced since: a new copy");

        // Long texts are copied each time.
        let long = "x".repeat(MAX_LEN + 1);
        let e = user_agent(long.as_bytes()).unwrap();
        let f = user_agent(long.as_bytes()).unwrap();
        assert_eq!(&*e, long);
        assert!(!Arc::ptr_eq(&e, &f));

        // Another thread has its own entries.
        let here = user_agent(b"curl/8.5.0").unwrap();
        let there = std::thread::spawn(|| user_agent(b"curl/8.5.0").unwrap())
            .join()
            .unwrap();
        assert_eq!(here, there);
        assert!(!Arc::ptr_eq(&here, &there));
    }

    #[test]
    fn paths_have_entries_of_their_own() {
        let agent = user_agent(b"grpc-go/1.60").unwrap();
        let health = path("/health");
        assert!(Arc::ptr_eq(&health, &path("/health")));
        // Many distinct paths: the user agent stays.
        for id in 0..10 * ENTRIES {
            let p = format!("/users/{id}");
            assert_eq!(&*path(&p), p);
        }
        assert!(Arc::ptr_eq(&agent, &user_agent(b"grpc-go/1.60").unwrap()));
        assert!(!Arc::ptr_eq(&health, &path("/health")), "pushed out");
    }

    #[test]
    fn addresses_are_split_once_and_remembered_by_their_text() {
        fn split(s: &str) -> Option<(&str, Option<u16>)> {
            match s.split_once(':') {
                Some((h, p)) => Some((h, Some(p.parse().ok()?))),
                None => (!s.is_empty()).then_some((s, None)),
            }
        }
        let (host, port) = address(b"api.example.com:8443", split).unwrap();
        assert_eq!((&*host, port), ("api.example.com", Some(8443)));
        // Remembered: the splitter is not asked again.
        let (again, port) = address(b"api.example.com:8443", |_| panic!("split twice")).unwrap();
        assert!(Arc::ptr_eq(&host, &again));
        assert_eq!(port, Some(8443));
        // The same host with another port, or none: other texts.
        let (h, p) = address(b"api.example.com", split).unwrap();
        assert_eq!((&*h, p), ("api.example.com", None));
        let (h, p) = address(b"api.example.com:80", split).unwrap();
        assert_eq!((&*h, p), ("api.example.com", Some(80)));
        // Invalid: nothing kept, asked again next time.
        assert!(address(b"", split).is_none());
        assert!(address(b"h:x", split).is_none());
        assert!(address(b"h:x", split).is_none());
        assert!(address(&[0xff], split).is_none(), "not UTF-8");
    }
}
