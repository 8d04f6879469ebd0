//! Attribute vectors handed back from the export thread to the threads that
//! make spans.
//!
//! A span's attribute vector is allocated on the application thread and,
//! with a batch processor, dropped on the export thread. With glibc's
//! allocator such a free goes back to the allocating thread's arena under
//! that arena's lock, so the application thread and the exporter contend on
//! one mutex for every span (futex system calls on the request path), and
//! the application writes each new span into memory last touched by the
//! other core. Instead, the batch worker empties the vectors it is done with
//! and gives them back here, in bulk; span starts take one from a
//! thread-local stash, refilled in bulk from the shared pool. In the steady
//! state no attribute vector is allocated or freed at all.
//!
//! Everything is bounded: the pool keeps at most [`MAX_POOLED`] vectors, a
//! stash [`STASH_MAX`], and only vectors of modest capacity are kept.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{KeyValue, SpanData};

/// Vectors held by the shared pool at most.
const MAX_POOLED: usize = 8192;
/// Vectors a thread takes from the pool at once.
const REFILL: usize = 64;
/// Vectors a thread's stash holds at most.
const STASH_MAX: usize = 2 * REFILL;
/// Vectors with more room than this are freed, not kept.
const MAX_CAPACITY: usize = 32;

static POOL: Mutex<Vec<Vec<KeyValue>>> = Mutex::new(Vec::new());
/// The pool's length, read without the lock to skip an empty pool.
static POOLED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STASH: RefCell<Vec<Vec<KeyValue>>> = const { RefCell::new(Vec::new()) };
}

/// An empty attribute vector, with room when one was handed back.
#[inline]
pub(crate) fn attributes() -> Vec<KeyValue> {
    STASH
        .try_with(|stash| {
            let mut stash = stash.try_borrow_mut().ok()?;
            if let Some(v) = stash.pop() {
                return Some(v);
            }
            refill(&mut stash);
            stash.pop()
        })
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[cold]
fn refill(stash: &mut Vec<Vec<KeyValue>>) {
    if POOLED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let n = pool.len().min(REFILL);
    let from = pool.len() - n;
    stash.extend(pool.drain(from..));
    POOLED.store(pool.len(), Ordering::Relaxed);
}

/// Whether an attribute vector's room is worth keeping for another span:
/// it has some, and not so much that a few large spans would pin it.
#[inline]
pub(crate) fn worth_keeping(v: &Vec<KeyValue>) -> bool {
    v.capacity() != 0 && v.capacity() <= MAX_CAPACITY
}

/// Keeps an emptied vector for this thread's next span (a span that
/// replaced its vector with one given at start).
#[inline]
pub(crate) fn put_back(mut v: Vec<KeyValue>) {
    if !worth_keeping(&v) {
        return;
    }
    KeyValue::clear_list(&mut v);
    let _ = STASH.try_with(|stash| {
        if let Ok(mut stash) = stash.try_borrow_mut() {
            if stash.len() < STASH_MAX {
                stash.push(v);
            }
        }
    });
}

/// Drops a record on the thread that made it (the simple processor, after
/// export), keeping its attribute vector for this thread's next span.
pub(crate) fn recycle_record(mut span: SpanData) {
    put_back(std::mem::take(&mut span.attributes));
}

/// Takes the attribute vectors out of `spans` (emptied, for reuse by the
/// threads that make spans), in place: the caller then drops the records
/// where they lie, without moving each out first.
pub(crate) fn recycle_batch(spans: &mut [SpanData]) {
    let room = MAX_POOLED.saturating_sub(POOLED.load(Ordering::Relaxed));
    let mut kept: Vec<Vec<KeyValue>> = Vec::with_capacity(spans.len().min(room));
    for span in spans {
        if kept.len() >= room {
            break;
        }
        if worth_keeping(&span.attributes) {
            let mut v = std::mem::take(&mut span.attributes);
            KeyValue::clear_list(&mut v);
            kept.push(v);
        }
    }
    if kept.is_empty() {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let fit = MAX_POOLED.saturating_sub(pool.len()).min(kept.len());
    pool.extend(kept.drain(..fit));
    POOLED.store(pool.len(), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_empty_and_bounded() {
        let mut v = attributes();
        v.push(KeyValue::new("k", "v"));
        v.push(KeyValue::new("k2", 2));
        let cap = v.capacity();
        put_back(v);
        let again = attributes();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), cap, "the same room comes back");

        // Vectors with too much room are not kept.
        put_back(Vec::with_capacity(MAX_CAPACITY + 1));
        assert!(attributes().capacity() <= MAX_CAPACITY);
    }
}
