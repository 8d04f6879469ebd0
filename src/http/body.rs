//! A response body that ends its span when the body ends.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::trace::Span;

pin_project! {
    /// The body of a traced response: passes every frame through and ends
    /// the request's span after the last one, on an error, or when the body
    /// is dropped unfinished. A streaming response's span therefore covers
    /// the whole stream.
    pub struct TracedBody<B> {
        #[pin]
        inner: B,
        span: Option<Span>,
    }
}

impl<B> TracedBody<B> {
    pub(crate) fn new(inner: B, span: Option<Span>) -> TracedBody<B> {
        TracedBody { inner, span }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for TracedBody<B>
where
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(span) = this.span.take() {
                    span.end();
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(span) = this.span.take() {
                    let description = format!("response body failed: {e}");
                    super::semconv::end_failed(span, "body", e.to_string(), description);
                }
            }
            Poll::Ready(Some(Ok(_))) => {
                if this.inner.is_end_stream() {
                    if let Some(span) = this.span.take() {
                        span.end();
                    }
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Default> Default for TracedBody<B> {
    fn default() -> Self {
        TracedBody::new(B::default(), None)
    }
}

impl<B> std::fmt::Debug for TracedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedBody")
            .field("open", &self.span.is_some())
            .finish_non_exhaustive()
    }
}
