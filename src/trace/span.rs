//! The live span: owned by one task, changed without locks, ended once.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::time::SystemTime;

use std::sync::Arc;

use super::tracer::Origin;
use super::{
    clock, Baggage, Context, ContextGuard, Event, Key, KeyValue, Link, SpanContext, SpanData,
    SpanId, SpanKind, SpanLimits, Status, Value,
};

/// An operation being timed: started by a [`Tracer`](crate::Tracer), ended once by
/// [`end`](Span::end) or by being dropped.
///
/// A span belongs to one task at a time: it is `Send` but not `Sync`, and its
/// methods take `&self` and change it without locks. A span that is not
/// recording (dropped by the sampler, or from a no-op provider) is only a
/// [`SpanContext`]; every method on it does nothing, cheaply, and it still
/// propagates.
///
/// ```
/// use tracelite::{InMemoryExporter, SimpleSpanProcessor, Status, TracerProvider};
///
/// let exporter = InMemoryExporter::default();
/// let provider = TracerProvider::builder()
///     .with_processor(SimpleSpanProcessor::new(exporter.clone()))
///     .build();
/// let tracer = provider.tracer("shop");
///
/// let span = tracer.start("checkout");
/// span.set_attribute("cart.items", 3);
/// span.add_event("payment.authorized", [("amount", 42.5)]);
/// span.set_status(Status::Ok);
/// span.end();
///
/// let data = &exporter.finished_spans()[0];
/// assert_eq!(data.attribute("cart.items"), Some(&3.into()));
/// assert_eq!(data.events[0].name, "payment.authorized");
/// assert_eq!(data.status, Status::Ok);
/// ```
pub struct Span {
    context: SpanContext,
    /// The baggage of the context the span started in; part of the context
    /// it makes current.
    baggage: Baggage,
    /// Boxed so that a span (and an unsampled one above all) stays small and
    /// cheap to move; `None` once ended or when not recording.
    record: RefCell<Option<Box<Recording>>>,
}

/// The mutable state of a recording span; taken out exactly once at end.
///
/// The boxes are reused: at end the record's contents move out (into a
/// [`SpanData`], or are dropped) and the emptied box waits in a small
/// per-thread pool for the thread's next span, so a span allocates no box
/// in the steady state. A pooled box keeps an empty attribute vector with
/// room, and the origin of its last span: the thread's next span from the
/// same tracer takes the box with its origin, touching no reference count
/// (see [`Recording::boxed`]). Pooled origins of gone tracers are let go
/// when the thread prunes its origin copies
/// ([`Recording::forget_pooled_origins`]).
pub(crate) struct Recording {
    /// The origin of the span; in a pooled box, of its last span (`None`
    /// for a new box or once forgotten).
    origin: Option<Arc<Origin>>,
    /// `origin`'s id (0: none), kept here so that matching a pooled box to
    /// a tracer reads only this thread's memory, not the origin's count,
    /// which the exporter's thread writes as it drops records.
    origin_id: u64,
    /// The two limits every `set_attribute` reads, copied from the
    /// provider's so the hot path does not reach through the origin.
    max_attributes: u32,
    max_value_len: Option<u32>,
    name: Cow<'static, str>,
    kind: SpanKind,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    start_time: SystemTime,
    attributes: Vec<KeyValue>,
    dropped_attributes_count: u32,
    events: Vec<Event>,
    dropped_events_count: u32,
    links: Vec<Link>,
    dropped_links_count: u32,
    status: Status,
}

/// Emptied recording boxes a thread keeps at most.
const POOLED_RECORDS: usize = 16;
/// Event or link vectors with more room than this are freed, not pooled.
const POOLED_LIST_CAPACITY: usize = 4;

thread_local! {
    // The boxes themselves are what is reused (a span holds one), so the
    // pool holds boxes, not records.
    #[allow(clippy::vec_box)]
    static RECORDS: RefCell<Vec<Box<Recording>>> = const { RefCell::new(Vec::new()) };
}

impl Recording {
    /// A recording for a span starting now, in a pooled box when the
    /// thread has one.
    ///
    /// A pooled box whose last span came from the same tracer keeps its
    /// origin (no reference count touched); otherwise it gets this thread's
    /// copy of the tracer's.
    #[inline]
    pub(crate) fn boxed(
        tracer: &super::Tracer,
        limits: &SpanLimits,
        name: Cow<'static, str>,
        kind: SpanKind,
        parent_span_id: SpanId,
        parent_is_remote: bool,
        start_time: SystemTime,
    ) -> Box<Recording> {
        let pooled = RECORDS
            .try_with(|pool| pool.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        match pooled {
            Some(mut record) => {
                // Everything but the vectors' room and the origin was reset
                // when pooled.
                if record.origin_id != tracer.origin_id() {
                    record.origin = Some(super::tracer::local_origin(tracer));
                    record.origin_id = tracer.origin_id();
                }
                record.max_attributes = limits.max_attributes;
                record.max_value_len = limits.max_attribute_value_length;
                record.name = name;
                record.kind = kind;
                record.parent_span_id = parent_span_id;
                record.parent_is_remote = parent_is_remote;
                record.start_time = start_time;
                if record.attributes.capacity() == 0 {
                    record.attributes = super::recycle::attributes();
                }
                record
            }
            None => Box::new(Recording {
                origin: Some(super::tracer::local_origin(tracer)),
                origin_id: tracer.origin_id(),
                max_attributes: limits.max_attributes,
                max_value_len: limits.max_attribute_value_length,
                name,
                kind,
                parent_span_id,
                parent_is_remote,
                start_time,
                attributes: super::recycle::attributes(),
                dropped_attributes_count: 0,
                events: Vec::new(),
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status: Status::Unset,
            }),
        }
    }

    /// Empties the record (dropping what is left in it, but for the origin,
    /// which the box keeps for the thread's next span of the same tracer)
    /// and keeps the box for this thread's next span.
    #[inline]
    fn recycle(mut self: Box<Recording>) {
        self.name = Cow::Borrowed("");
        self.status = Status::Unset;
        self.dropped_attributes_count = 0;
        self.dropped_events_count = 0;
        self.dropped_links_count = 0;
        if super::recycle::worth_keeping(&self.attributes) {
            KeyValue::clear_list(&mut self.attributes);
        } else {
            self.attributes = Vec::new();
        }
        if self.events.capacity() > POOLED_LIST_CAPACITY {
            self.events = Vec::new();
        } else {
            self.events.clear();
        }
        if self.links.capacity() > POOLED_LIST_CAPACITY {
            self.links = Vec::new();
        } else {
            self.links.clear();
        }
        let _ = RECORDS.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut() {
                if pool.len() < POOLED_RECORDS {
                    pool.push(self);
                }
            }
        });
    }

    /// Lets this thread's pooled boxes forget their origins unless `keep`
    /// says the id is still in use, so that a gone tracer's provider is not
    /// kept alive by boxes waiting for its next span.
    pub(crate) fn forget_pooled_origins(keep: impl Fn(u64) -> bool) {
        let forgotten: Vec<Arc<Origin>> = RECORDS
            .try_with(|pool| {
                let Ok(mut pool) = pool.try_borrow_mut() else {
                    return Vec::new();
                };
                pool.iter_mut()
                    .filter(|record| record.origin_id != 0 && !keep(record.origin_id))
                    .filter_map(|record| {
                        record.origin_id = 0;
                        record.origin.take()
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Dropped with no pool borrowed: the last reference may drop a
        // provider, and with it whatever its processors hold.
        drop(forgotten);
    }

    #[inline(always)]
    fn provider(&self) -> &super::provider::ProviderInner {
        self.origin
            .as_deref()
            .and_then(|origin| origin.provider.as_deref())
            .expect("a live span always has a provider")
    }

    #[inline(always)]
    fn limits(&self) -> &SpanLimits {
        &self.provider().limits
    }

    /// Takes the attributes and links given at start, applying the limits.
    /// Inlined so that, where the caller gives none (`Tracer::start`), it
    /// compiles to nothing.
    #[inline(always)]
    pub(crate) fn set_initial(
        &mut self,
        attributes: Vec<KeyValue>,
        from_sampler: Vec<KeyValue>,
        links: Vec<Link>,
    ) {
        if attributes.capacity() == 0 && from_sampler.capacity() == 0 && links.capacity() == 0 {
            // Nothing given and nothing allocated: there is nothing to drop
            // either (forgetting them skips three out-of-line drop calls).
            std::mem::forget((attributes, from_sampler, links));
            return;
        }
        self.set_initial_given(attributes, from_sampler, links);
    }

    fn set_initial_given(
        &mut self,
        attributes: Vec<KeyValue>,
        from_sampler: Vec<KeyValue>,
        links: Vec<Link>,
    ) {
        let max = self.max_attributes as usize;
        let needs_checks = self.max_value_len.is_some()
            || attributes.len() > 1
            || !from_sampler.is_empty()
            || attributes.len() > max;
        if needs_checks {
            self.attributes
                .reserve((attributes.len() + from_sampler.len()).min(max));
            for kv in attributes.into_iter().chain(from_sampler) {
                self.push_attribute(kv.key, kv.value);
            }
        } else if !attributes.is_empty() {
            let spare = std::mem::replace(&mut self.attributes, attributes);
            super::recycle::put_back(spare);
        }
        for link in links {
            self.push_link(link);
        }
    }

    #[inline(always)]
    fn push_attribute(&mut self, key: Key, value: Value) {
        let (max, max_len) = (self.max_attributes, self.max_value_len);
        push_limited(
            &mut self.attributes,
            &mut self.dropped_attributes_count,
            max,
            max_len,
            key,
            value,
        );
    }

    fn push_link(&mut self, mut link: Link) {
        let limits = *self.limits();
        if self.links.len() >= limits.max_links as usize {
            self.dropped_links_count = self.dropped_links_count.saturating_add(1);
            return;
        }
        let (attributes, dropped) = limit_list(
            std::mem::take(&mut link.attributes),
            limits.max_attributes_per_link,
            limits.max_attribute_value_length,
        );
        link.attributes = attributes;
        link.dropped_attributes_count = link.dropped_attributes_count.saturating_add(dropped);
        self.links.push(link);
    }

    fn push_event(&mut self, name: Cow<'static, str>, timestamp: SystemTime, attrs: Vec<KeyValue>) {
        let limits = *self.limits();
        if self.events.len() >= limits.max_events as usize {
            self.dropped_events_count = self.dropped_events_count.saturating_add(1);
            return;
        }
        let (attributes, dropped_attributes_count) = limit_list(
            attrs,
            limits.max_attributes_per_event,
            limits.max_attribute_value_length,
        );
        self.events.push(Event {
            name,
            timestamp,
            attributes,
            dropped_attributes_count,
        });
    }

    /// The wall time "now", on the same process-wide clock as every span's
    /// start, so a child never appears to end after its parent.
    fn now(&self) -> SystemTime {
        clock::now().1
    }

    /// Moves the contents out into a finished record, leaving the box to be
    /// recycled.
    #[inline]
    fn take_data(&mut self, context: SpanContext, end_time: SystemTime) -> Option<SpanData> {
        Some(SpanData {
            span_context: context,
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            name: std::mem::replace(&mut self.name, Cow::Borrowed("")),
            kind: self.kind,
            start_time: self.start_time,
            end_time: end_time.max(self.start_time),
            attributes: std::mem::take(&mut self.attributes),
            dropped_attributes_count: self.dropped_attributes_count,
            events: std::mem::take(&mut self.events),
            dropped_events_count: self.dropped_events_count,
            links: std::mem::take(&mut self.links),
            dropped_links_count: self.dropped_links_count,
            status: std::mem::take(&mut self.status),
            origin: self.origin.clone()?,
        })
    }
}

/// Adds an attribute to `list` under the limits: an existing key is
/// overwritten, a new key past `max` is dropped and counted, long strings
/// are cut. Inlined so the pair is built in place in the list.
#[inline(always)]
fn push_limited(
    list: &mut Vec<KeyValue>,
    dropped: &mut u32,
    max: u32,
    max_len: Option<u32>,
    key: Key,
    value: Value,
) {
    // Push first, then cut and look for an earlier entry with the same key:
    // the pair is written straight into its slot instead of being moved
    // through the stack (a store-forwarding stall per attribute). With room
    // known, the push has no call on its path, so the pair need not live in
    // a stack temporary across one; growing is out of line.
    if list.len() < list.capacity() {
        list.push(KeyValue { key, value });
    } else {
        push_growing(list, KeyValue { key, value });
    }
    let last = list.len() - 1;
    if let Some(n) = max_len {
        list[last].value.truncate_strings(n as usize);
    }
    let (earlier, pushed) = list.split_at_mut(last);
    if let Some(existing) = earlier.iter_mut().find(|e| e.key == pushed[0].key) {
        std::mem::swap(&mut existing.value, &mut pushed[0].value);
        list.pop();
    } else if last >= max as usize {
        list.pop();
        *dropped = dropped.saturating_add(1);
    }
}

/// Room a span's first attribute makes at once: HTTP and database spans
/// commonly carry five to eight, and growing 4 → 8 is a second allocation
/// and a copy per span wherever the vector is not recycled (a processor
/// that drops what it gets, a thread's first spans).
const FIRST_ATTRIBUTE_ROOM: usize = 8;

#[cold]
#[inline(never)]
fn push_growing(list: &mut Vec<KeyValue>, pair: KeyValue) {
    if list.capacity() == 0 {
        list.reserve_exact(FIRST_ATTRIBUTE_ROOM);
    }
    list.push(pair);
}

fn limit_list(attrs: Vec<KeyValue>, max: u32, max_len: Option<u32>) -> (Vec<KeyValue>, u32) {
    if attrs.len() <= max as usize && max_len.is_none() && attrs.len() <= 1 {
        return (attrs, 0);
    }
    let mut out = Vec::with_capacity(attrs.len().min(max as usize));
    let mut dropped = 0;
    for kv in attrs {
        push_limited(&mut out, &mut dropped, max, max_len, kv.key, kv.value);
    }
    (out, dropped)
}

impl Span {
    #[inline]
    pub(crate) fn recording(
        context: SpanContext,
        baggage: Baggage,
        record: Box<Recording>,
    ) -> Span {
        Span {
            context,
            baggage,
            record: RefCell::new(Some(record)),
        }
    }

    #[inline]
    pub(crate) fn non_recording(context: SpanContext, baggage: Baggage) -> Span {
        Span {
            context,
            baggage,
            record: RefCell::new(None),
        }
    }

    /// A span that records nothing and carries `context`, for example to
    /// stand for a remote parent.
    pub fn from_span_context(context: SpanContext) -> Span {
        Span::non_recording(context, Baggage::new())
    }

    /// The span's identity, valid whether or not it records.
    pub fn span_context(&self) -> &SpanContext {
        &self.context
    }

    /// A context whose parent is this span, with the baggage of the context
    /// the span started in: to pass to another task or to
    /// [`SpanBuilder::parent`](crate::SpanBuilder::parent).
    pub fn context(&self) -> Context {
        Context::from_span_context(self.context.clone()).with_baggage(self.baggage.clone())
    }

    /// Whether the span records data (it was sampled or recorded, and has
    /// not ended).
    pub fn is_recording(&self) -> bool {
        self.record.borrow().is_some()
    }

    /// Makes this span the current context until the guard is dropped, so
    /// spans started meanwhile become its children.
    ///
    /// Do not hold the guard across `.await`; use
    /// [`FutureExt::in_span`](crate::FutureExt::in_span) for futures.
    pub fn enter(&self) -> ContextGuard {
        self.context().attach()
    }

    /// Runs `f` on the recording state; does nothing (and converts nothing:
    /// callers convert arguments inside `f`) when the span does not record.
    #[inline(always)]
    fn with_record(&self, f: impl FnOnce(&mut Recording)) {
        // A span is used by one task; `try_borrow_mut` only fails if a
        // processor's `on_start` re-enters, and then the change is skipped.
        if let Ok(mut record) = self.record.try_borrow_mut() {
            if let Some(record) = record.as_mut() {
                f(record);
            }
        }
    }

    /// Sets an attribute; a key that is already set gets the new value.
    #[inline(always)]
    pub fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>) {
        // Written out rather than through `with_record`: the key and value
        // are then built straight into the attribute list (through a
        // closure they are built on the stack and reloaded, a
        // store-forwarding stall for each attribute).
        if let Ok(mut record) = self.record.try_borrow_mut() {
            if let Some(record) = record.as_mut() {
                record.push_attribute(key.into(), value.into());
            }
        }
    }

    /// Sets several attributes.
    pub fn set_attributes<I>(&self, attributes: I)
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        self.with_record(|r| {
            for kv in attributes {
                let kv = kv.into();
                r.push_attribute(kv.key, kv.value);
            }
        });
    }

    /// Sets attributes whose keys are known to be distinct and not yet set
    /// (instrumentation's own, fixed sets): on a span with no attributes
    /// yet, within the limits, the vector is taken as it is, with no
    /// duplicate checks; otherwise as [`set_attributes`](Self::set_attributes).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn set_distinct_attributes(&self, attributes: Vec<KeyValue>) {
        self.with_record(|r| {
            if r.attributes.is_empty()
                && r.max_value_len.is_none()
                && attributes.len() <= r.max_attributes as usize
            {
                debug_assert!(
                    attributes
                        .iter()
                        .enumerate()
                        .all(|(i, a)| attributes[..i].iter().all(|b| b.key != a.key)),
                    "set_distinct_attributes got a repeated key"
                );
                let spare = std::mem::replace(&mut r.attributes, attributes);
                super::recycle::put_back(spare);
            } else {
                r.attributes.reserve(attributes.len());
                for kv in attributes {
                    r.push_attribute(kv.key, kv.value);
                }
            }
        });
    }

    /// Records an event, now.
    pub fn add_event<I>(&self, name: impl Into<Cow<'static, str>>, attributes: I)
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        self.with_record(|r| {
            let now = r.now();
            let attrs = attributes.into_iter().map(Into::into).collect();
            r.push_event(name.into(), now, attrs);
        });
    }

    /// Records an event at a given time.
    pub fn add_event_with_timestamp<I>(
        &self,
        name: impl Into<Cow<'static, str>>,
        timestamp: SystemTime,
        attributes: I,
    ) where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        self.with_record(|r| {
            let attrs = attributes.into_iter().map(Into::into).collect();
            r.push_event(name.into(), timestamp, attrs);
        });
    }

    /// Adds a link to another span after start.
    pub fn add_link<I>(&self, span_context: SpanContext, attributes: I)
    where
        I: IntoIterator,
        I::Item: Into<KeyValue>,
    {
        self.with_record(|r| r.push_link(Link::new(span_context, attributes)));
    }

    /// Sets the status. `Ok` is final; `Unset` is ignored; `Error` replaces
    /// `Unset` or an earlier `Error`.
    ///
    /// ```
    /// # let tracer = tracelite::TracerProvider::builder().build().tracer("t");
    /// use tracelite::Status;
    /// let span = tracer.start("op");
    /// span.set_status(Status::error("timeout"));
    /// span.set_status(Status::Ok);
    /// span.set_status(Status::error("ignored: Ok is final"));
    /// ```
    pub fn set_status(&self, status: Status) {
        self.with_record(|r| match (&r.status, &status) {
            (Status::Ok, _) | (_, Status::Unset) => {}
            _ => r.status = status,
        });
    }

    /// Records an error: an `exception` event with `exception.type` and
    /// `exception.message`, and status `Error` with the message.
    ///
    /// ```
    /// # let tracer = tracelite::TracerProvider::builder().build().tracer("t");
    /// let span = tracer.start("parse");
    /// if let Err(e) = "x".parse::<i32>() {
    ///     span.record_error(&e);
    /// }
    /// ```
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        self.with_record(|r| {
            let message = error.to_string();
            let now = r.now();
            r.push_event(
                Cow::Borrowed("exception"),
                now,
                vec![
                    KeyValue::new("exception.type", std::any::type_name::<E>()),
                    KeyValue::new("exception.message", message.clone()),
                ],
            );
            if r.status != Status::Ok {
                r.status = Status::error(message);
            }
        });
    }

    /// Renames the span (for example, once the route is known).
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        self.with_record(|r| r.name = name.into());
    }

    /// Ends the span now. Later calls, and the drop, do nothing.
    #[inline]
    pub fn end(&self) {
        self.finish(None);
    }

    /// Ends the span at a given time (clamped to be no earlier than its
    /// start).
    pub fn end_with_timestamp(&self, time: SystemTime) {
        self.finish(Some(time));
    }

    #[inline]
    fn finish(&self, time: Option<SystemTime>) {
        let record = match self.record.try_borrow_mut() {
            Ok(mut r) => r.take(),
            Err(_) => None,
        };
        if let Some(mut record) = record {
            let provider = record.provider();
            // Nothing would see the record: skip building it.
            if provider.processors().is_empty() || provider.is_shutdown() {
                record.recycle();
                return;
            }
            let end = time.unwrap_or_else(|| record.now());
            // Built in place and handed on in its slot: no copies on the way
            // to a processor that stores it (see `SpanProcessor::on_end_in`).
            // The record gets its own reference to the origin; the box keeps
            // the span's for its next span.
            let mut data = record.take_data(self.context.clone(), end);
            if data.is_some() {
                record.provider().on_end_in(&mut data);
            }
            record.recycle();
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.record.get_mut().is_some() {
            self.finish(None);
        }
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Span");
        d.field("context", &self.context);
        if let Ok(record) = self.record.try_borrow() {
            if let Some(r) = record.as_ref() {
                d.field("name", &r.name)
                    .field("kind", &r.kind)
                    .field("attributes", &r.attributes.len());
            }
        }
        d.field("recording", &self.is_recording()).finish()
    }
}

impl From<&Span> for Context {
    fn from(span: &Span) -> Context {
        span.context()
    }
}

impl From<SpanContext> for Context {
    fn from(cx: SpanContext) -> Context {
        Context::from_span_context(cx)
    }
}

impl From<&Context> for Context {
    fn from(cx: &Context) -> Context {
        cx.clone()
    }
}
