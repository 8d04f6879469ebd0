//! What `#[tracelite::trace]` expands to calls. Not a public API: the names
//! and shapes here change with the macro.

use std::borrow::Cow;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context as TaskContext, Poll};

use crate::trace::{Context, KeyValue, Span, SpanKind, Status, Tracer, Value};

/// One instrumented function: its tracer, made on first use after the
/// global provider is installed.
pub struct Site {
    tracer: OnceLock<Tracer>,
    scope: &'static str,
}

impl Site {
    /// A call site whose spans carry `scope` (the crate name).
    pub const fn new(scope: &'static str) -> Site {
        Site {
            tracer: OnceLock::new(),
            scope,
        }
    }
}

/// Starts the function's span, or returns `None` — one check, no
/// allocation — when no global provider is installed.
#[inline]
pub fn start(site: &'static Site, name: &'static str, kind: SpanKind) -> Option<Span> {
    if !crate::trace::global::is_set() {
        return None;
    }
    let tracer = site
        .tracer
        .get_or_init(|| crate::trace::global::tracer(site.scope));
    Some(tracer.span(name).kind(kind).start())
}

/// Sets an attribute if the span records.
#[inline]
pub fn record(span: &Span, key: &'static str, value: Value) {
    span.set_attribute(key, value);
}

/// Records an `Err` as status Error with an `exception` event.
pub fn record_error<E: std::fmt::Display + Debug + ?Sized>(span: &Span, error: &E) {
    span.add_event(
        "exception",
        [
            KeyValue::new("exception.message", error.to_string()),
            KeyValue::new("exception.type", std::any::type_name::<E>()),
        ],
    );
    span.set_status(Status::error(error.to_string()));
}

/// `Result`s report their errors; other values nothing.
pub trait MaybeError {
    /// Records the error, if this is an `Err`.
    fn record_on(&self, span: &Span);
}

impl<T, E: std::fmt::Display + Debug> MaybeError for Result<T, E> {
    fn record_on(&self, span: &Span) {
        if let Err(e) = self {
            record_error(span, e);
        }
    }
}

/// Wraps a value for attribute conversion: typed values for numbers,
/// booleans and strings, `Debug` for other types that have it, the type's
/// name for the rest (autoref specialization: `(&&Wrap(&x)).tl_value()`
/// finds the impl on `&Wrap` first, then `&&Wrap`, then `Wrap`).
pub struct Wrap<T>(pub T);

/// The last resort: the type's name (the value has no `Debug`).
pub trait ViaType {
    /// The attribute value.
    fn tl_value(&self) -> Value;
}

impl<T: ?Sized> ViaType for Wrap<&T> {
    fn tl_value(&self) -> Value {
        Value::from(format!("<{}>", std::any::type_name::<T>()))
    }
}

/// The typed conversions.
pub trait ViaValue {
    /// The attribute value.
    fn tl_value(&self) -> Value;
}

/// The fallback conversion, through `Debug`.
pub trait ViaDebug {
    /// The attribute value.
    fn tl_value(&self) -> Value;
}

macro_rules! via_value {
    ($($t:ty),*) => {$(
        impl ViaValue for &Wrap<&$t> {
            #[inline]
            fn tl_value(&self) -> Value {
                Value::from(*self.0)
            }
        }
        impl ViaValue for &Wrap<&&$t> {
            #[inline]
            fn tl_value(&self) -> Value {
                Value::from(**self.0)
            }
        }
        impl ViaValue for &Wrap<&&mut $t> {
            #[inline]
            fn tl_value(&self) -> Value {
                Value::from(**self.0)
            }
        }
    )*};
}
via_value!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool);

impl ViaValue for &Wrap<&&str> {
    fn tl_value(&self) -> Value {
        Value::from(self.0.to_string())
    }
}

impl ViaValue for &Wrap<&String> {
    fn tl_value(&self) -> Value {
        Value::from(self.0.clone())
    }
}

impl ViaValue for &Wrap<&&String> {
    fn tl_value(&self) -> Value {
        Value::from((*self.0).clone())
    }
}

impl ViaValue for &Wrap<&Cow<'_, str>> {
    fn tl_value(&self) -> Value {
        Value::from(self.0.to_string())
    }
}

impl<T: Debug + ?Sized> ViaDebug for &&Wrap<&T> {
    fn tl_value(&self) -> Value {
        Value::from(format!("{:?}", self.0))
    }
}

pin_project_lite::pin_project! {
    /// A future with the function's context attached on every poll, or
    /// nothing attached when there is no span.
    pub struct Traced<F> {
        #[pin]
        inner: F,
        cx: Option<Context>,
    }
}

/// Attaches `cx` while `inner` is polled, when there is one.
#[inline]
pub fn traced<F: Future>(inner: F, cx: Option<Context>) -> Traced<F> {
    Traced { inner, cx }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.cx.as_ref().map(|c| c.clone().attach());
        this.inner.poll(cx)
    }
}

/// Error recording when the output type is not known at expansion time
/// (`#[async_trait]` methods): `Result`s record their `Err`, anything else
/// nothing (`(&&Wrap(&value)).tl_record_err(span)`).
pub trait ViaResult {
    /// Records the error, if any.
    fn tl_record_err(&self, span: &Span);
}

impl<T, E: std::fmt::Display + Debug> ViaResult for &Wrap<&Result<T, E>> {
    fn tl_record_err(&self, span: &Span) {
        self.0.record_on(span);
    }
}

/// The no-op side of [`ViaResult`].
pub trait NotResult {
    /// Does nothing.
    fn tl_record_err(&self, span: &Span);
}

impl<T: ?Sized> NotResult for Wrap<&T> {
    fn tl_record_err(&self, _span: &Span) {}
}
