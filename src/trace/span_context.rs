//! The part of a span that crosses process boundaries.

use std::fmt;

use super::{SpanId, TraceId, TraceState};

/// The W3C trace flags: an 8-bit field whose known bits are `sampled` (0x01)
/// and, from Trace Context Level 2, `random` (0x02).
///
/// Unknown bits received from a caller are carried along unchanged, never
/// invented.
///
/// ```
/// use tracelite::TraceFlags;
///
/// let flags = TraceFlags::SAMPLED.with_random(true);
/// assert!(flags.is_sampled() && flags.is_random());
/// assert_eq!(format!("{flags}"), "03");
/// assert!(!flags.with_sampled(false).is_sampled());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set.
    pub const NONE: TraceFlags = TraceFlags(0);
    /// The caller may have recorded this trace.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// The rightmost 56 bits of the trace id are random (W3C Level 2).
    pub const RANDOM: TraceFlags = TraceFlags(0x02);

    /// Flags from their wire byte, unknown bits included.
    pub const fn new(bits: u8) -> TraceFlags {
        TraceFlags(bits)
    }

    /// The wire byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// Whether the `random` bit is set.
    pub const fn is_random(self) -> bool {
        self.0 & 0x02 != 0
    }

    /// These flags with the `sampled` bit set or cleared.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> TraceFlags {
        if sampled {
            TraceFlags(self.0 | 0x01)
        } else {
            TraceFlags(self.0 & !0x01)
        }
    }

    /// These flags with the `random` bit set or cleared.
    #[must_use]
    pub const fn with_random(self, random: bool) -> TraceFlags {
        if random {
            TraceFlags(self.0 | 0x02)
        } else {
            TraceFlags(self.0 & !0x02)
        }
    }
}

impl fmt::Display for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// The identity of a span as other spans and other processes see it: trace
/// id, span id, trace flags, trace state, and whether it came from another
/// process.
///
/// ```
/// use tracelite::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
///
/// let cx = SpanContext::new(
///     TraceId::from_u128(1),
///     SpanId::from_u64(2),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::default(),
/// );
/// assert!(cx.is_valid() && cx.is_sampled() && cx.is_remote());
/// assert!(!SpanContext::empty().is_valid());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    trace_flags: TraceFlags,
    is_remote: bool,
    trace_state: TraceState,
}

impl SpanContext {
    /// A span context from its parts.
    pub const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: TraceFlags,
        is_remote: bool,
        trace_state: TraceState,
    ) -> SpanContext {
        SpanContext {
            trace_id,
            span_id,
            trace_flags,
            is_remote,
            trace_state,
        }
    }

    /// The invalid context: no trace, no span.
    pub const fn empty() -> SpanContext {
        SpanContext {
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            trace_flags: TraceFlags::NONE,
            is_remote: false,
            trace_state: TraceState::new(),
        }
    }

    /// The trace id.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    pub const fn trace_flags(&self) -> TraceFlags {
        self.trace_flags
    }

    /// The vendor trace state.
    pub const fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// Whether both ids are valid (non-zero).
    pub const fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// Whether the `sampled` flag is set.
    pub const fn is_sampled(&self) -> bool {
        self.trace_flags.is_sampled()
    }

    /// Whether this context was received from another process.
    pub const fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The trace state, moved out.
    #[inline]
    pub(crate) fn into_trace_state(self) -> TraceState {
        self.trace_state
    }

    /// This context with another trace state.
    #[must_use]
    pub fn with_trace_state(mut self, trace_state: TraceState) -> SpanContext {
        self.trace_state = trace_state;
        self
    }
}

impl fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanContext")
            .field("trace_id", &format_args!("{}", self.trace_id))
            .field("span_id", &format_args!("{}", self.span_id))
            .field("trace_flags", &self.trace_flags)
            .field("is_remote", &self.is_remote)
            .field("trace_state", &self.trace_state)
            .finish()
    }
}
