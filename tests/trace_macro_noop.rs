//! `#[tracelite::trace]` with no global provider: the function runs as
//! written, and the instrumentation allocates nothing.
#![cfg(feature = "macros")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts this thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug)]
struct Big([u8; 64]);

#[tracelite::trace(fields(extra = 40 + 2), ret)]
fn work(a: u64, label: &str, big: &Big) -> u64 {
    a + label.len() as u64 + u64::from(big.0[0])
}

#[tracelite::trace]
async fn work_async(a: u64) -> Result<u64, std::fmt::Error> {
    Ok(a * 2)
}

#[test]
fn no_provider_no_span_no_allocation() {
    assert!(!tracelite::global::is_set());
    let big = Big([1; 64]);
    // Warm up thread-locals and lazies.
    assert_eq!(work(1, "ab", &big), 4);
    let before = ALLOCATIONS.with(Cell::get);
    for i in 0..1000 {
        std::hint::black_box(work(i, "ab", &big));
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(after - before, 0, "the disabled path allocated");
    // Still no current span: callees see the caller's context.
    assert!(!tracelite::Context::current().has_active_span());

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(work_async(21)).unwrap(), 42);
}
