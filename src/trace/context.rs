//! The current context: which span is the parent of the next one, kept in a
//! thread-local stack and carried across `.await` by [`FutureExt`].
//!
//! [`FutureExt`]: crate::FutureExt

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use super::{Baggage, SpanContext};

/// What flows from a span to its children and across services: the parent
/// span's context and the [`Baggage`]. Cheap to clone.
///
/// A thread has a *current* context: spans started without an explicit
/// parent become children of it. [`Span::enter`](crate::Span::enter) and
/// [`Context::attach`] change it until their guard is dropped.
///
/// ```
/// use tracelite::Context;
///
/// assert!(!Context::current().span_context().is_valid()); // nothing entered yet
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Context {
    span: SpanContext,
    baggage: Baggage,
}

impl Context {
    /// An empty context: no parent span.
    pub const fn new() -> Context {
        Context {
            span: SpanContext::empty(),
            baggage: Baggage::new(),
        }
    }

    /// The current context of this thread (an empty one when nothing is
    /// entered).
    #[inline]
    pub fn current() -> Context {
        if ATTACHED.get() == 0 {
            // Nothing attached (a root span, a thread outside any span): no
            // need to reach the stack.
            return Context::new();
        }
        Context::current_attached()
    }

    /// [`current`](Self::current) when something is attached: the top of
    /// the stack.
    fn current_attached() -> Context {
        STACK.with(|s| match s.borrow().entries.last() {
            Some(Some(cx)) => cx.clone(),
            _ => Context::new(),
        })
    }

    /// The span context and the baggage, moved out.
    #[inline]
    pub(crate) fn into_parts(self) -> (SpanContext, Baggage) {
        (self.span, self.baggage)
    }

    /// A context whose span is `span_context` (for example, one extracted
    /// from incoming headers).
    pub fn from_span_context(span_context: SpanContext) -> Context {
        Context {
            span: span_context,
            baggage: Baggage::new(),
        }
    }

    /// This context with another span context.
    #[must_use]
    pub fn with_span_context(mut self, span_context: SpanContext) -> Context {
        self.span = span_context;
        self
    }

    /// The span context: the parent for spans started in this context. It is
    /// invalid when there is none.
    pub fn span_context(&self) -> &SpanContext {
        &self.span
    }

    /// The baggage carried by this context.
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// This context with other baggage.
    #[must_use]
    pub fn with_baggage(mut self, baggage: Baggage) -> Context {
        self.baggage = baggage;
        self
    }

    /// Whether this context holds a valid span context.
    pub fn has_active_span(&self) -> bool {
        self.span.is_valid()
    }

    /// Makes this context current on this thread until the guard is dropped.
    ///
    /// Guards may be dropped in any order: dropping one removes exactly its
    /// own entry. Do not hold a guard across an `.await`; wrap the future
    /// with [`FutureExt::with_context`](crate::FutureExt::with_context)
    /// instead.
    pub fn attach(self) -> ContextGuard {
        let index = STACK.with(|s| {
            let mut s = s.borrow_mut();
            s.entries.push(Some(self));
            ATTACHED.set(s.entries.len());
            s.entries.len() - 1
        });
        ContextGuard {
            index,
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("span", &self.span)
            .field("baggage", &self.baggage)
            .finish()
    }
}

/// Keeps a context current until dropped; made by [`Context::attach`] and
/// [`Span::enter`](crate::Span::enter).
///
/// It is `!Send`: it belongs to the thread whose stack it changed.
#[must_use = "the context is current only while the guard is alive"]
pub struct ContextGuard {
    index: usize,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard")
            .field("depth", &self.index)
            .finish()
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        // `try_with`: during thread teardown the stack may already be gone.
        let _ = STACK.try_with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return;
            };
            let entries = &mut s.entries;
            if self.index + 1 == entries.len() {
                entries.pop();
                // Entries above which guards were dropped out of order.
                while matches!(entries.last(), Some(None)) {
                    entries.pop();
                }
            } else if let Some(slot) = entries.get_mut(self.index) {
                // Dropped out of order: leave a hole; the top stays current.
                *slot = None;
            }
            ATTACHED.set(entries.len());
        });
    }
}

/// The per-thread stack of attached contexts. The top entry is current;
/// `None` marks an entry whose guard was dropped out of order, and is never
/// left on top.
#[derive(Default)]
struct ContextStack {
    entries: Vec<Option<Context>>,
}

thread_local! {
    /// The stack's length, kept beside it: a plain thread-local with nothing
    /// to drop, so checking it for "nothing attached" is one load.
    static ATTACHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static STACK: RefCell<ContextStack> = const {
        RefCell::new(ContextStack {
            entries: Vec::new(),
        })
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanId, TraceFlags, TraceId, TraceState};

    fn cx(n: u64) -> Context {
        Context::from_span_context(SpanContext::new(
            TraceId::from_u128(1),
            SpanId::from_u64(n),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ))
    }

    fn current_id() -> u64 {
        Context::current().span_context().span_id().to_u64()
    }

    #[test]
    fn nested_guards_restore_in_order() {
        assert_eq!(current_id(), 0);
        let a = cx(1).attach();
        assert_eq!(current_id(), 1);
        {
            let _b = cx(2).attach();
            assert_eq!(current_id(), 2);
        }
        assert_eq!(current_id(), 1);
        drop(a);
        assert_eq!(current_id(), 0);
    }

    #[test]
    fn out_of_order_drop_keeps_the_right_context() {
        let a = cx(1).attach();
        let b = cx(2).attach();
        let c = cx(3).attach();
        drop(b); // out of order
        assert_eq!(current_id(), 3);
        drop(c);
        assert_eq!(current_id(), 1, "b's hole is skipped");
        drop(a);
        assert_eq!(current_id(), 0);
        STACK.with(|s| assert!(s.borrow().entries.is_empty()));
    }

    #[test]
    fn first_guard_dropped_first() {
        let a = cx(1).attach();
        let b = cx(2).attach();
        drop(a);
        assert_eq!(current_id(), 2);
        drop(b);
        assert_eq!(current_id(), 0);
        STACK.with(|s| assert!(s.borrow().entries.is_empty()));
    }
}
