//! Carrying a context across `.await`: futures that set it on every poll.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use super::{Context, Span};

/// Makes a context follow a future: on every poll it is current, and after
/// every poll the previous one is restored, so spans nest correctly across
/// `.await` and `tokio::spawn` and never leak into other tasks that share
/// the thread.
///
/// ```
/// use tracelite::{FutureExt, TracerProvider};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tracer = TracerProvider::builder().build().tracer("app");
/// let request = tracer.start("handle request");
/// let trace_id = request.span_context().trace_id();
///
/// let work = async {
///     tokio::task::yield_now().await;
///     // Still inside `handle request` after the await:
///     let child = tracelite::Context::current();
///     child.span_context().trace_id()
/// };
/// assert_eq!(work.in_span(request).await, trace_id);
///
/// // Across spawn: wrap the spawned future.
/// let parent = tracer.start("parent");
/// let _active = parent.enter();
/// let handle = tokio::spawn(async { tracelite::Context::current() }.in_current_context());
/// # drop(_active);
/// assert_eq!(handle.await.unwrap().span_context(), parent.span_context());
/// # }
/// ```
pub trait FutureExt: Future + Sized {
    /// Runs the future inside `span`, which ends when the future completes
    /// (or is dropped unfinished).
    fn in_span(self, span: Span) -> Instrumented<Self> {
        Instrumented {
            inner: self,
            context: span.context(),
            span: Some(span),
        }
    }

    /// Runs the future inside the context that is current now — the way to
    /// carry it into `tokio::spawn`.
    fn in_current_context(self) -> Instrumented<Self> {
        self.with_context(Context::current())
    }

    /// Runs the future inside `context`.
    fn with_context(self, context: Context) -> Instrumented<Self> {
        Instrumented {
            inner: self,
            context,
            span: None,
        }
    }
}

impl<F: Future> FutureExt for F {}

pin_project! {
    /// A future that makes a context current while it is polled; made by
    /// [`FutureExt`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        context: Context,
        span: Option<Span>,
    }
}

impl<F> Instrumented<F> {
    /// The context this future runs in.
    pub fn context(&self) -> &Context {
        &self.context
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let guard = this.context.clone().attach();
        let poll = this.inner.poll(cx);
        drop(guard);
        if poll.is_ready() {
            if let Some(span) = this.span.take() {
                span.end();
            }
        }
        poll
    }
}
