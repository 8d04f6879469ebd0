//! Trace and span identifiers, and how new ones are made.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

/// A 128-bit trace identifier, shared by every span of one trace.
///
/// The all-zero id is [`TraceId::INVALID`] and is never generated. The text
/// form is 32 lowercase hexadecimal digits, as in W3C Trace Context.
///
/// ```
/// use tracelite::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(id.is_valid());
/// assert!("4BF92F3577B34DA6A3CE929D0E0E4736".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(u128);

/// A 64-bit span identifier, unique within its trace.
///
/// The all-zero id is [`SpanId::INVALID`] and is never generated. The text
/// form is 16 lowercase hexadecimal digits.
///
/// ```
/// use tracelite::SpanId;
///
/// let id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
/// assert_eq!(format!("{id}"), "00f067aa0ba902b7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(u64);

/// Why a string is not a valid trace or span id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdParseError {
    /// The string does not have exactly the expected number of characters.
    Length {
        /// How many hex digits the id needs (32 or 16).
        expected: usize,
        /// How many characters the string had.
        found: usize,
    },
    /// A character is not a lowercase hexadecimal digit (`0-9`, `a-f`).
    NotLowercaseHex,
    /// Every digit is zero, which W3C Trace Context reserves as invalid.
    AllZero,
}

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdParseError::Length { expected, found } => write!(
                f,
                "an id must be {expected} lowercase hex digits, found {found} characters"
            ),
            IdParseError::NotLowercaseHex => {
                f.write_str("an id may contain only lowercase hex digits (0-9, a-f)")
            }
            IdParseError::AllZero => f.write_str("an all-zero id is invalid"),
        }
    }
}

impl std::error::Error for IdParseError {}

/// Parses exactly `N` lowercase hex digits into an integer.
fn parse_lower_hex(s: &str, digits: usize) -> Result<u128, IdParseError> {
    let bytes = s.as_bytes();
    if bytes.len() != digits {
        return Err(IdParseError::Length {
            expected: digits,
            found: s.chars().count(),
        });
    }
    let mut value: u128 = 0;
    for &b in bytes {
        let nibble = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return Err(IdParseError::NotLowercaseHex),
        };
        value = (value << 4) | u128::from(nibble);
    }
    if value == 0 {
        return Err(IdParseError::AllZero);
    }
    Ok(value)
}

impl TraceId {
    /// The invalid, all-zero trace id.
    pub const INVALID: TraceId = TraceId(0);

    /// Builds a trace id from its 16 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> TraceId {
        TraceId(u128::from_be_bytes(bytes))
    }

    /// The 16 big-endian bytes of this id (the wire form of W3C and OTLP).
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Builds a trace id from an integer.
    pub const fn from_u128(value: u128) -> TraceId {
        TraceId(value)
    }

    /// This id as an integer.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// Parses 32 lowercase hex digits. The all-zero id is rejected.
    pub fn from_hex(s: &str) -> Result<TraceId, IdParseError> {
        parse_lower_hex(s, 32).map(TraceId)
    }

    /// Whether this id is not all zeros.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }
}

impl SpanId {
    /// The invalid, all-zero span id.
    pub const INVALID: SpanId = SpanId(0);

    /// Builds a span id from its 8 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> SpanId {
        SpanId(u64::from_be_bytes(bytes))
    }

    /// The 8 big-endian bytes of this id.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Builds a span id from an integer.
    pub const fn from_u64(value: u64) -> SpanId {
        SpanId(value)
    }

    /// This id as an integer.
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// Parses 16 lowercase hex digits. The all-zero id is rejected.
    pub fn from_hex(s: &str) -> Result<SpanId, IdParseError> {
        // 16 digits always fit in a u64.
        parse_lower_hex(s, 16).map(|v| SpanId(v as u64))
    }

    /// Whether this id is not all zeros.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

impl fmt::LowerHex for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

impl fmt::LowerHex for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl FromStr for TraceId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceId::from_hex(s)
    }
}

impl FromStr for SpanId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpanId::from_hex(s)
    }
}

/// Makes new trace and span ids.
///
/// The default, [`RandomIdGenerator`], draws from a fast thread-local
/// generator. Implement this trait to make ids another way (for example,
/// AWS X-Ray style time-prefixed trace ids).
pub trait IdGenerator: Send + Sync + fmt::Debug + 'static {
    /// A new trace id. Must not return [`TraceId::INVALID`].
    fn new_trace_id(&self) -> TraceId;
    /// A new span id. Must not return [`SpanId::INVALID`].
    fn new_span_id(&self) -> SpanId;
    /// Whether the rightmost 56 bits of the trace ids this makes are
    /// uniformly random, which W3C Trace Context Level 2 signals with the
    /// `random` trace flag. `false` unless the implementation knows better.
    fn trace_ids_are_random(&self) -> bool {
        false
    }
}

/// The default id generator: random ids from a per-thread generator seeded
/// from the operating system.
///
/// Trace ids it makes are fully random, so root spans carry the W3C Level 2
/// `random` flag.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIdGenerator;

impl IdGenerator for RandomIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        random_trace_id()
    }
    fn new_span_id(&self) -> SpanId {
        random_span_id()
    }
    fn trace_ids_are_random(&self) -> bool {
        true
    }
}

thread_local! {
    /// wyrand state; 0 means "not seeded yet".
    static RNG_STATE: Cell<u64> = const { Cell::new(0) };
}

#[cold]
fn seed() -> u64 {
    // OS entropy through `rand`; never zero so the "unseeded" mark stays free.
    rand::random::<u64>() | 1
}

/// `N` steps of wyrand (a fast, statistically sound 64-bit generator) from
/// one access to the thread's state. Ids need uniqueness and uniformity,
/// not unpredictability.
#[inline]
fn draw<const N: usize>() -> [u64; N] {
    RNG_STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        let out = std::array::from_fn(|_| {
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
            ((t >> 64) as u64) ^ (t as u64)
        });
        state.set(s);
        out
    })
}

/// A random, valid trace id.
#[inline]
pub(crate) fn random_trace_id() -> TraceId {
    loop {
        let [high, low] = draw::<2>();
        let id = (u128::from(high) << 64) | u128::from(low);
        if id != 0 {
            return TraceId(id);
        }
    }
}

/// A random trace id and span id, both valid, from one access to the
/// thread's generator.
#[inline]
pub(crate) fn random_ids() -> (TraceId, SpanId) {
    let [high, low, span] = draw::<3>();
    let trace = (u128::from(high) << 64) | u128::from(low);
    if trace != 0 && span != 0 {
        return (TraceId(trace), SpanId(span));
    }
    // All-zero (a 2^-64 chance): draw again.
    (random_trace_id(), random_span_id())
}

/// A random, valid span id.
#[inline]
pub(crate) fn random_span_id() -> SpanId {
    loop {
        let [id] = draw::<1>();
        if id != 0 {
            return SpanId(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hex_round_trip() {
        let t = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(t.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(TraceId::from_bytes(t.to_bytes()), t);
        let s = SpanId::from_hex("b7ad6b7169203331").unwrap();
        assert_eq!(s.to_string(), "b7ad6b7169203331");
        assert_eq!(SpanId::from_bytes(s.to_bytes()), s);
        // Leading zeros are kept.
        assert_eq!(SpanId::from_u64(1).to_string(), "0000000000000001");
    }

    #[test]
    fn parse_rejects_bad_input() {
        assert_eq!(
            TraceId::from_hex("abc"),
            Err(IdParseError::Length {
                expected: 32,
                found: 3
            })
        );
        assert_eq!(
            SpanId::from_hex("B7AD6B7169203331"),
            Err(IdParseError::NotLowercaseHex)
        );
        assert_eq!(
            SpanId::from_hex("0000000000000000"),
            Err(IdParseError::AllZero)
        );
        assert_eq!(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319g"),
            Err(IdParseError::NotLowercaseHex)
        );
        // Multi-byte characters count as characters, and never panic.
        assert!(TraceId::from_hex("é".repeat(16).as_str()).is_err());
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let t = random_trace_id();
            assert!(t.is_valid());
            assert!(seen.insert(t), "duplicate trace id");
            assert!(random_span_id().is_valid());
        }
    }

    #[test]
    fn threads_get_different_streams() {
        let a = std::thread::spawn(random_trace_id).join().unwrap();
        let b = std::thread::spawn(random_trace_id).join().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn random_bits_are_balanced() {
        // Every bit of the trace id should be set about half the time.
        let n = 4000;
        let mut counts = [0u32; 128];
        for _ in 0..n {
            let id = random_trace_id().to_u128();
            for (bit, count) in counts.iter_mut().enumerate() {
                *count += ((id >> bit) & 1) as u32;
            }
        }
        for (bit, &count) in counts.iter().enumerate() {
            assert!(
                (1700..2300).contains(&count),
                "bit {bit} set {count} times of {n}"
            );
        }
    }
}
