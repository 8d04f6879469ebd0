//! W3C Trace Context: the `traceparent` and `tracestate` headers.

use super::{trim_ows, Extractor, Injector, TextMapPropagator};
use crate::trace::trace_state::{is_valid_key_bytes, is_valid_value_bytes, MAX_MEMBERS};
use crate::trace::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::names::{TRACEPARENT, TRACESTATE};

static FIELDS: [&str; 2] = [TRACEPARENT, TRACESTATE];

/// The length of a version `00` traceparent.
const TRACEPARENT_LEN: usize = 55;
/// Bytes of `tracestate` looked at in total: 32 members of at most 513
/// characters, their commas, and generous room for whitespace. Past it the
/// whole tracestate is dropped.
const MAX_TRACESTATE_BYTES: usize = 32 * 1024;

/// Propagates the trace context with the W3C `traceparent` and `tracestate`
/// headers (Trace Context Level 1, and Level 2's `random` flag).
///
/// Extraction follows the Recommendation to the letter: header names are
/// case-insensitive; surrounding spaces and tabs are ignored; version `ff`,
/// uppercase hex, wrong lengths, all-zero ids, illegal characters and a
/// repeated `traceparent` are invalid, and then no parent is extracted (a new
/// trace starts) and `tracestate` is ignored; a future version is read by its
/// first four fields when what follows is a `-`; trace flags are carried as
/// received. `tracestate` headers are combined in order; an invalid member,
/// a duplicated key or more than 32 members drops the whole tracestate.
///
/// Injection always writes version `00` with the current span as the parent,
/// and `tracestate` when it is not empty.
///
/// ```
/// use std::collections::HashMap;
/// use tracelite::propagation::{TextMapPropagator, TraceContextPropagator};
///
/// let propagator = TraceContextPropagator::new();
/// let mut incoming = HashMap::new();
/// incoming.insert("TraceParent".into(), " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ".into());
/// incoming.insert("tracestate".into(), "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7".into());
/// let cx = propagator.extract(&incoming);
/// assert!(cx.span_context().is_sampled());
/// assert_eq!(cx.span_context().trace_state().get("rojo"), Some("00f067aa0ba902b7"));
///
/// let mut outgoing = HashMap::new();
/// propagator.inject_context(&cx, &mut outgoing);
/// assert_eq!(outgoing["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
/// assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct TraceContextPropagator;

impl TraceContextPropagator {
    /// The W3C Trace Context propagator.
    pub const fn new() -> Self {
        TraceContextPropagator
    }
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span_context();
        if !span.is_valid() {
            return;
        }
        injector.set_ascii(TRACEPARENT, &traceparent_bytes(span));
        if !span.trace_state().is_empty() {
            injector.set_trace_state(TRACESTATE, span.trace_state());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extract_span_context(extractor) {
            Some(span) => cx.clone().with_span_context(span),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> &[&'static str] {
        &FIELDS
    }

    fn extract_reads_only_fields(&self) -> bool {
        true
    }
}

/// The remote span context in the carrier, if its `traceparent` is valid.
fn extract_span_context(extractor: &dyn Extractor) -> Option<SpanContext> {
    let mut count = 0;
    let mut parsed = None;
    extractor.get_all(TRACEPARENT, &mut |value| {
        count += 1;
        if count == 1 {
            parsed = parse_traceparent(value);
        }
    });
    if count != 1 {
        // Missing, or repeated: a repeated traceparent is invalid.
        return None;
    }
    let (trace_id, span_id, flags) = parsed?;
    let trace_state = extract_trace_state(extractor);
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags,
        true,
        trace_state,
    ))
}

/// `00-{trace id}-{span id}-{flags}`, formatted without the formatting
/// machinery (this runs for every outgoing request) and without a heap
/// copy: carriers that can take bytes take these.
#[inline]
pub(crate) fn traceparent_bytes(span: &SpanContext) -> [u8; TRACEPARENT_LEN] {
    let mut out = [0u8; TRACEPARENT_LEN];
    out[..3].copy_from_slice(b"00-");
    let trace = span.trace_id().to_u128();
    out[3..19].copy_from_slice(&hex16((trace >> 64) as u64));
    out[19..35].copy_from_slice(&hex16(trace as u64));
    out[35] = b'-';
    out[36..52].copy_from_slice(&hex16(span.span_id().to_u64()));
    out[52] = b'-';
    // Version 00 defines sampled and random; the others are reserved and
    // "vendors MUST set those to zero" when they send a traceparent.
    let flags = span.trace_flags().bits() & 0x03;
    out[53] = b'0';
    out[54] = b'0' + flags;
    out
}

/// The 16 lowercase hex digits of `x`, most significant first, computed a
/// word at a time: each nibble spread into its own byte, then turned into
/// `0`-`9` or `a`-`f` with arithmetic instead of a lookup per digit.
#[inline]
fn hex16(x: u64) -> [u8; 16] {
    let spread = |x: u32| -> u64 {
        let x = u64::from(x);
        let x = ((x & 0xffff_0000) << 16) | (x & 0xffff);
        let x = ((x & 0x0000_ff00_0000_ff00) << 8) | (x & 0x0000_00ff_0000_00ff);
        let x = ((x & 0x00f0_00f0_00f0_00f0) << 4) | (x & 0x000f_000f_000f_000f);
        // 1 in each byte whose nibble is 10 or more.
        let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        x + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&spread((x >> 32) as u32).to_be_bytes());
    out[8..].copy_from_slice(&spread(x as u32).to_be_bytes());
    out
}

/// Eight lowercase hex digits (the first in the top byte of `word`, read
/// big-endian) as a 32-bit value, or `None` if any byte is not `0-9a-f`.
/// A word at a time: the range checks and the digit values are computed on
/// all eight bytes at once instead of one lookup per digit.
#[inline]
fn hex8(word: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `at_least(c)` is set where that byte is
    // >= c. Exact for bytes below 0x80 (no carry crosses into the next
    // byte); bytes at or above 0x80 are rejected first.
    let at_least = |c: u8| (word | HIGH) - ONES * u64::from(c);
    let ascii = word & HIGH == 0;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if !ascii || (digit | letter) & HIGH != HIGH {
        return None;
    }
    // '0'-'9' → 0-9 from the low nibble; 'a'-'f' (0x61-0x66) → 1-6, plus 9.
    let nibbles = (word & 0x0f0f_0f0f_0f0f_0f0f) + ((letter >> 7) & ONES) * 9;
    // Pack: byte pairs into bytes, byte pairs into u16s, u16 pairs into u32.
    let x = ((nibbles >> 4) & 0x00f0_00f0_00f0_00f0) | (nibbles & 0x000f_000f_000f_000f);
    let x = ((x >> 8) & 0x0000_ff00_0000_ff00) | (x & 0x0000_00ff_0000_00ff);
    let x = ((x >> 16) & 0x0000_0000_ffff_0000) | (x & 0x0000_0000_0000_ffff);
    Some(x as u32)
}

/// Sixteen lowercase hex digits.
#[inline]
fn hex16_value(digits: &[u8; 16]) -> Option<u64> {
    let (high, low) = digits.split_at(8);
    let high = hex8(u64::from_be_bytes(high.try_into().ok()?))?;
    let low = hex8(u64::from_be_bytes(low.try_into().ok()?))?;
    Some((u64::from(high) << 32) | u64::from(low))
}

/// Two lowercase hex digits.
#[inline]
fn hex2(digits: [u8; 2]) -> Option<u8> {
    // Padded with '0's in front: the same checks as eight digits.
    let word = 0x3030_3030_3030_0000 | u64::from(u16::from_be_bytes(digits));
    hex8(word).map(|v| v as u8)
}

/// Parses one `traceparent` value per W3C Trace Context.
pub(crate) fn parse_traceparent(raw: &[u8]) -> Option<(TraceId, SpanId, TraceFlags)> {
    let s = trim_ows(raw);
    if s.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex2([s[0], s[1]])?;
    if version == 0xff || s[2] != b'-' || s[35] != b'-' || s[52] != b'-' {
        return None;
    }
    if version == 0 {
        if s.len() != TRACEPARENT_LEN {
            return None;
        }
    } else if s.len() > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != b'-' {
        // A future version may add fields, introduced by a dash.
        return None;
    }
    let trace_high = hex16_value(s[3..19].try_into().ok()?)?;
    let trace_low = hex16_value(s[19..35].try_into().ok()?)?;
    let trace_id = TraceId::from_u128((u128::from(trace_high) << 64) | u128::from(trace_low));
    let span_id = SpanId::from_u64(hex16_value(s[36..52].try_into().ok()?)?);
    let flags = hex2([s[53], s[54]])?;
    if !trace_id.is_valid() || !span_id.is_valid() {
        return None;
    }
    // Version 00 flags are carried whole; of a future version's flags only
    // the bits we know the meaning of.
    let flags = if version == 0 { flags } else { flags & 0x03 };
    Some((trace_id, span_id, TraceFlags::new(flags)))
}

/// Combines every `tracestate` header in order and parses the list. Any
/// invalid member, duplicated key, or more than 32 members drops it all.
///
/// The common case, one header already in normal form, is validated in one
/// pass and kept as received; anything else is normalised member by member.
fn extract_trace_state(extractor: &dyn Extractor) -> TraceState {
    /// The member-by-member path's state, made only when it is needed.
    struct General {
        header: Vec<u8>,
        keys: [(u16, u16); MAX_MEMBERS],
        members: usize,
    }
    impl General {
        fn add(&mut self, value: &[u8]) -> bool {
            parse_tracestate_into(value, &mut self.header, &mut self.keys, &mut self.members)
        }
    }
    let mut single: Option<TraceState> = None;
    let mut general: Option<General> = None;
    let mut valid = true;
    let mut seen_bytes = 0usize;
    let mut headers = 0usize;
    extractor.get_all(TRACESTATE, &mut |value| {
        headers += 1;
        seen_bytes += value.len();
        if !valid || seen_bytes > MAX_TRACESTATE_BYTES {
            valid = false;
            return;
        }
        if headers == 1 {
            if let Some(normal) = normal_tracestate(value) {
                single = Some(TraceState::from_header_unchecked(normal));
                return;
            }
        }
        let general = general.get_or_insert_with(|| General {
            header: Vec::new(),
            keys: [(0, 0); MAX_MEMBERS],
            members: 0,
        });
        if let Some(first) = single.take() {
            // A second header: the first joins the general path.
            valid = general.add(first.as_header().as_bytes());
        }
        valid = valid && general.add(value);
    });
    if !valid {
        return TraceState::default();
    }
    if let Some(state) = single {
        return state;
    }
    match general.map(|g| String::from_utf8(g.header)) {
        Some(Ok(header)) => TraceState::from_header_unchecked(&header),
        _ => TraceState::default(),
    }
}

/// Byte classes for [`normal_tracestate`].
const KEY: u8 = 1;
const VALUE: u8 = 2;
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0x20;
    while c <= 0x7e {
        if c != b',' as usize && c != b'=' as usize {
            table[c] = VALUE;
        }
        c += 1;
    }
    let mut c = b'a' as usize;
    while c <= b'z' as usize {
        table[c] |= KEY;
        c += 1;
    }
    let mut c = b'0' as usize;
    while c <= b'9' as usize {
        table[c] |= KEY;
        c += 1;
    }
    table[b'_' as usize] |= KEY;
    table[b'-' as usize] |= KEY;
    table[b'*' as usize] |= KEY;
    table[b'/' as usize] |= KEY;
    table
};

/// The header as a `str` when it is a valid tracestate already in normal
/// form (`k=v` members joined by single commas, no whitespace around them,
/// none empty, no duplicate keys, at most 32): one pass, no copy. `None`
/// means "not both", and the general path decides.
fn normal_tracestate(header: &[u8]) -> Option<&str> {
    let n = header.len();
    // Key ranges; a header this function sees is at most
    // MAX_TRACESTATE_BYTES long, so they fit in u16.
    let mut keys = [(0u16, 0u16); MAX_MEMBERS];
    let mut members = 0;
    let mut i = 0;
    loop {
        if members == MAX_MEMBERS {
            return None;
        }
        let key_start = i;
        let mut at = None;
        while i < n {
            let c = header[i];
            if CLASS[usize::from(c)] & KEY != 0 {
                i += 1;
            } else if c == b'@' && at.is_none() {
                at = Some(i);
                i += 1;
            } else {
                break;
            }
        }
        if i == n || header[i] != b'=' || !is_valid_key_shape(&header[key_start..i], at, key_start)
        {
            return None;
        }
        let key = &header[key_start..i];
        if keys[..members]
            .iter()
            .any(|&(s, e)| &header[usize::from(s)..usize::from(e)] == key)
        {
            return None;
        }
        keys[members] = (u16::try_from(key_start).ok()?, u16::try_from(i).ok()?);
        members += 1;
        i += 1;
        let value_start = i;
        while i < n && CLASS[usize::from(header[i])] & VALUE != 0 {
            i += 1;
        }
        let value = &header[value_start..i];
        if value.is_empty() || value.len() > 256 || value[value.len() - 1] == b' ' {
            return None;
        }
        if i == n {
            // Only ASCII was accepted.
            return std::str::from_utf8(header).ok();
        }
        // The next byte is not a value byte: only a comma followed by the
        // next key keeps the header normal.
        if header[i] != b',' || i + 1 == n {
            return None;
        }
        i += 1;
    }
}

/// The length and first-character rules of a key whose characters are
/// already known to be key characters (with at most one `@`, at `at`).
fn is_valid_key_shape(key: &[u8], at: Option<usize>, offset: usize) -> bool {
    match at {
        None => !key.is_empty() && key.len() <= 256 && key[0].is_ascii_lowercase(),
        Some(at) => {
            let (tenant, system) = (&key[..at - offset], &key[at - offset + 1..]);
            !tenant.is_empty()
                && tenant.len() <= 241
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && !system.is_empty()
                && system.len() <= 14
                && system[0].is_ascii_lowercase()
        }
    }
}

/// Appends the members of one header value to a normalised header (no
/// whitespace, no empty members); false when the value is invalid.
/// `keys` holds the byte ranges of the keys already in `header`.
fn parse_tracestate_into(
    value: &[u8],
    header: &mut Vec<u8>,
    keys: &mut [(u16, u16); MAX_MEMBERS],
    members: &mut usize,
) -> bool {
    header.reserve(value.len());
    for member in value.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        let Some(eq) = member.iter().position(|&b| b == b'=') else {
            return false;
        };
        let (key, val) = (&member[..eq], &member[eq + 1..]);
        if *members == MAX_MEMBERS || !is_valid_key_bytes(key) || !is_valid_value_bytes(val) {
            return false;
        }
        let seen = &keys[..*members];
        if seen
            .iter()
            .any(|&(s, e)| &header[usize::from(s)..usize::from(e)] == key)
        {
            return false;
        }
        if !header.is_empty() {
            header.push(b',');
        }
        // Header length stays under MAX_TRACESTATE_BYTES, so it fits in u16.
        let start = header.len() as u16;
        header.extend_from_slice(key);
        keys[*members] = (start, header.len() as u16);
        header.push(b'=');
        header.extend_from_slice(val);
        *members += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One digit at a time: what the word-at-a-time decoder must agree with.
    fn naive_hex8(bytes: [u8; 8]) -> Option<u32> {
        bytes.iter().try_fold(0u32, |acc, &b| {
            let v = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            Some((acc << 4) | u32::from(v))
        })
    }

    #[test]
    fn word_hex_decoding_agrees_with_digit_by_digit() {
        // Every byte value in every position, among valid digits.
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = *b"0a1b2c3f";
                bytes[pos] = b;
                assert_eq!(
                    hex8(u64::from_be_bytes(bytes)),
                    naive_hex8(bytes),
                    "{bytes:?}"
                );
            }
        }
        // And pseudo-random words (a fixed xorshift sequence), biased
        // towards hex digits so both outcomes are common.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bytes = x.to_be_bytes();
            for (i, b) in bytes.iter_mut().enumerate() {
                if (x >> (56 + i)) & 1 == 1 {
                    *b = b"0123456789abcdef"[usize::from(*b & 15)];
                }
            }
            assert_eq!(hex8(u64::from_be_bytes(bytes)), naive_hex8(bytes));
        }
        assert_eq!(hex2(*b"ff"), Some(0xff));
        assert_eq!(hex2(*b"0F"), None);
        assert_eq!(
            hex16_value(b"0123456789abcdef"),
            Some(0x0123_4567_89ab_cdef)
        );
    }

    /// A carrier holding headers as a list, so repeats and order are exact.
    struct Headers(Vec<(&'static str, String)>);

    impl Extractor for Headers {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        }
        fn get_all(&self, key: &str, each: &mut dyn FnMut(&[u8])) {
            for (k, v) in &self.0 {
                if k.eq_ignore_ascii_case(key) {
                    each(v.as_bytes());
                }
            }
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| *k).collect()
        }
    }

    const TRACE: &str = "12345678901234567890123456789012";
    const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

    fn extract(headers: &[(&'static str, &str)]) -> Option<SpanContext> {
        let h = Headers(headers.iter().map(|(k, v)| (*k, v.to_string())).collect());
        let cx = TraceContextPropagator.extract(&h);
        cx.has_active_span().then(|| cx.span_context().clone())
    }

    fn trace_id_of(traceparent: &str) -> Option<String> {
        extract(&[("traceparent", traceparent)]).map(|s| s.trace_id().to_string())
    }

    #[test]
    fn traceparent_table() {
        let accepted: &[&str] = &[
            VALID,
            " 00-12345678901234567890123456789012-1234567890123456-01",
            "\t00-12345678901234567890123456789012-1234567890123456-01",
            "00-12345678901234567890123456789012-1234567890123456-01 ",
            "00-12345678901234567890123456789012-1234567890123456-01\t",
            "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
            "cc-12345678901234567890123456789012-1234567890123456-01",
            "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            "00-12345678901234567890123456789012-1234567890123456-00",
            "00-12345678901234567890123456789012-1234567890123456-ff",
        ];
        for tp in accepted {
            assert_eq!(
                trace_id_of(tp).as_deref(),
                Some(TRACE),
                "should accept {tp:?}"
            );
        }
        let rejected: &[&str] = &[
            "",
            "00-12345678901234567890123456789012-1234567890123456-01.",
            "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
            "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
            "ff-12345678901234567890123456789012-1234567890123456-01",
            ".0-12345678901234567890123456789012-1234567890123456-01",
            "0.-12345678901234567890123456789012-1234567890123456-01",
            "000-12345678901234567890123456789012-1234567890123456-01",
            "0000-12345678901234567890123456789012-1234567890123456-01",
            "0-12345678901234567890123456789012-1234567890123456-01",
            "00-00000000000000000000000000000000-1234567890123456-01",
            "00-.2345678901234567890123456789012-1234567890123456-01",
            "00-1234567890123456789012345678901.-1234567890123456-01",
            "00-123456789012345678901234567890123-1234567890123456-01",
            "00-1234567890123456789012345678901-1234567890123456-01",
            "00-12345678901234567890123456789012-0000000000000000-01",
            "00-12345678901234567890123456789012-.234567890123456-01",
            "00-12345678901234567890123456789012-123456789012345.-01",
            "00-12345678901234567890123456789012-12345678901234567-01",
            "00-12345678901234567890123456789012-123456789012345-01",
            "00-12345678901234567890123456789012-1234567890123456-.0",
            "00-12345678901234567890123456789012-1234567890123456-0.",
            "00-12345678901234567890123456789012-1234567890123456-001",
            "00-12345678901234567890123456789012-1234567890123456-1",
            "00-1234567890123456789012345678901A-1234567890123456-01",
            "00-12345678901234567890123456789012-123456789012345A-01",
            "0A-12345678901234567890123456789012-1234567890123456-01",
            "00-12345678901234567890123456789012-1234567890123456-0A",
            "00_12345678901234567890123456789012-1234567890123456-01",
            "00-12345678901234567890123456789012_1234567890123456-01",
            "00-12345678901234567890123456789012-1234567890123456_01",
            " 00 -12345678901234567890123456789012-1234567890123456-01",
        ];
        for tp in rejected {
            assert_eq!(trace_id_of(tp), None, "should reject {tp:?}");
        }
    }

    #[test]
    fn header_names_are_case_insensitive_and_exact() {
        for name in ["TraceParent", "TRACEPARENT", "TrAcEpArEnT"] {
            assert!(extract(&[(name, VALID)]).is_some(), "{name}");
        }
        for name in ["trace-parent", "trace.parent"] {
            assert!(extract(&[(name, VALID)]).is_none(), "{name}");
        }
    }

    #[test]
    fn repeated_traceparent_is_invalid() {
        let other = "00-12345678901234567890123456789011-1234567890123456-01";
        assert!(extract(&[("traceparent", VALID), ("traceparent", other)]).is_none());
        assert!(extract(&[("traceparent", VALID), ("TraceParent", VALID)]).is_none());
    }

    #[test]
    fn flags_are_carried_never_invented() {
        let f = |tp: &str| {
            extract(&[("traceparent", tp)])
                .unwrap()
                .trace_flags()
                .bits()
        };
        assert_eq!(f(VALID), 0x01);
        assert_eq!(f(&VALID.replace("-01", "-00")), 0x00);
        assert_eq!(f(&VALID.replace("-01", "-03")), 0x03, "sampled + random");
        assert_eq!(f(&VALID.replace("-01", "-82")), 0x82, "unknown bit carried");
        // A future version: only the bits whose meaning we know.
        assert_eq!(
            f(&VALID.replacen("00", "cc", 1).replace("-01", "-ff")),
            0x03
        );
        let span = extract(&[("traceparent", VALID)]).unwrap();
        assert!(span.is_remote() && span.is_sampled());
        assert_eq!(span.span_id().to_string(), "1234567890123456");
    }

    fn state(headers: &[&str]) -> TraceState {
        let mut all = vec![("traceparent", VALID)];
        all.extend(headers.iter().map(|h| ("tracestate", *h)));
        extract(&all).unwrap().trace_state().clone()
    }

    #[test]
    fn tracestate_table() {
        assert_eq!(state(&["foo=1,bar=2"]).header(), "foo=1,bar=2");
        assert_eq!(
            state(&["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]).header(),
            "foo=1,bar=2,rojo=1,congo=2,baz=3",
            "combined in order"
        );
        assert_eq!(
            state(&["foo=1 \t , \t bar=2, \t baz=3"]).header(),
            "foo=1,bar=2,baz=3"
        );
        assert_eq!(
            state(&["foo=1\t \t,\t \tbar=2,\t \tbaz=3"]).header(),
            "foo=1,bar=2,baz=3"
        );
        assert_eq!(state(&["\t foo=1 \t"]).header(), "foo=1");
        assert_eq!(state(&[""]).header(), "");
        assert_eq!(state(&["foo=1", ""]).header(), "foo=1");
        assert_eq!(state(&["", "foo=1"]).header(), "foo=1");
        assert_eq!(
            state(&["foo=1,,bar=2"]).header(),
            "foo=1,bar=2",
            "empty members skipped"
        );
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let value: String = (0x20u8..=0x7e)
            .filter(|&b| b != b',' && b != b'=')
            .map(char::from)
            .collect();
        let all = format!("{key}={value}");
        assert_eq!(state(&[&all]).get(key), Some(value.as_str()));
        let tenant = format!("{key}@a-z0-9_-*/={value}");
        assert_eq!(state(&[&tenant]).len(), 1);

        // Each of these drops the whole tracestate.
        for bad in [
            &["foo=1,foo=1"][..],
            &["foo=1,foo=2"],
            &["foo=1", "foo=1"],
            &["foo=1", "foo=2"],
            &["foo =1"],
            &["FOO=1"],
            &["foo.bar=1"],
            &["foo@=1,bar=2"],
            &["@foo=1,bar=2"],
            &["foo@@bar=1,bar=2"],
            &["foo@bar@baz=1,bar=2"],
            &["foo=bar=baz"],
            &["foo=,bar=3"],
            &["foo"],
            &["foo=1", "é=1"],
        ] {
            assert!(state(bad).is_empty(), "should drop {bad:?}");
        }
    }

    #[test]
    fn tracestate_limits() {
        let members: Vec<String> = (1..=32).map(|i| format!("bar{i:02}={i:02}")).collect();
        let ok = state(&[&members[..10].join(","), &members[10..].join(",")]);
        assert_eq!(ok.len(), 32);
        assert_eq!(ok.get("bar01"), Some("01"));
        let mut over = members.clone();
        over.push("bar33=33".into());
        assert!(state(&[&over.join(",")]).is_empty(), "33 members drop all");

        let z256 = format!("{}=1", "z".repeat(256));
        assert_eq!(state(&["foo=1", &z256]).get("foo"), Some("1"));
        let z257 = format!("{}=1", "z".repeat(257));
        assert!(state(&["foo=1", &z257]).is_empty());
        let t241 = format!("{}@{}=1", "t".repeat(241), "v".repeat(14));
        assert_eq!(state(&["foo=1", &t241]).len(), 2);
        let t242 = format!("{}@v=1", "t".repeat(242));
        assert!(state(&["foo=1", &t242]).is_empty());
        let v15 = format!("t@{}=1", "v".repeat(15));
        assert!(state(&["foo=1", &v15]).is_empty());
        // A huge header is dropped without being parsed whole.
        let huge = "a=1,".repeat(100_000);
        assert!(state(&[&huge]).is_empty());
    }

    #[test]
    fn tracestate_is_ignored_when_traceparent_is_invalid() {
        let h = Headers(vec![
            ("traceparent", "ff-bad".to_string()),
            ("tracestate", "foo=1".to_string()),
        ]);
        let cx = TraceContextPropagator.extract(&h);
        assert!(!cx.has_active_span());
        assert!(cx.span_context().trace_state().is_empty());
    }

    #[test]
    fn inject_writes_version_00_and_the_state() {
        let span = SpanContext::new(
            TraceId::from_u128(0xabc),
            SpanId::from_u64(0xdef),
            TraceFlags::new(0x83),
            false,
            TraceState::from_members([("rojo", "1"), ("congo", "2")]).unwrap(),
        );
        let mut out = std::collections::HashMap::new();
        TraceContextPropagator.inject_context(&Context::from_span_context(span), &mut out);
        assert_eq!(
            out["traceparent"], "00-00000000000000000000000000000abc-0000000000000def-03",
            "reserved flags are sent as zero"
        );
        assert_eq!(out["tracestate"], "rojo=1,congo=2");
        // Nothing to inject for an invalid context.
        let mut none = std::collections::HashMap::new();
        TraceContextPropagator.inject_context(&Context::new(), &mut none);
        assert!(none.is_empty());
    }

    /// The general path alone: what the fast path must agree with.
    fn general(value: &[u8]) -> Option<String> {
        let mut header = Vec::new();
        let mut keys = [(0u16, 0u16); MAX_MEMBERS];
        let mut members = 0;
        parse_tracestate_into(value, &mut header, &mut keys, &mut members)
            .then(|| String::from_utf8(header).unwrap())
    }

    #[test]
    fn normal_form_fast_path_cases() {
        for ok in ["a=1", "foo=1,bar=2", "t@s=v v", "k= v", "0t@s=1"] {
            assert_eq!(normal_tracestate(ok.as_bytes()), Some(ok), "{ok}");
        }
        // Valid but not in normal form, or invalid: the general path decides.
        for other in [
            "", " a=1", "a=1 ", "a=1,", ",a=1", "a=1,,b=2", "a=1, b=2", "a=1,a=2", "A=1", "a=",
            "a=1 ", "a@b@c=1", "@a=1", "a@=1", "a=b=c", "a",
        ] {
            assert_eq!(normal_tracestate(other.as_bytes()), None, "{other:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(normal_tracestate(many.join(",").as_bytes()), None);
        assert!(normal_tracestate(many[..32].join(",").as_bytes()).is_some());
    }

    #[test]
    fn hex16_matches_the_formatter() {
        for x in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xabcdef,
            u64::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            assert_eq!(&hex16(x)[..], format!("{x:016x}").as_bytes(), "{x:#x}");
        }
    }

    proptest::proptest! {
        #[test]
        fn hex16_matches_the_formatter_everywhere(x: u64) {
            let want = format!("{x:016x}");
            proptest::prop_assert_eq!(&hex16(x)[..], want.as_bytes());
        }

        /// Whatever the header, the one-pass path accepts only what the
        /// general path accepts, unchanged.
        #[test]
        fn normal_form_fast_path_agrees(value in "[a-c0-2@=, \\t*/_A.-]{0,40}") {
            if let Some(fast) = normal_tracestate(value.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast.to_string()), general(value.as_bytes()));
                proptest::prop_assert_eq!(fast, value.as_str());
            }
        }

        /// The same on headers built from members, most of them valid.
        #[test]
        fn fast_path_agrees_on_member_lists(
            members in proptest::collection::vec("(a|b|c1|0a@b|a@bb|A|a b)=(1| 2|x y|3 |=|)", 0..6),
            sep in "(,|, |,,| ,)",
        ) {
            let value = members.join(&sep);
            let want = general(value.as_bytes());
            if let Some(fast) = normal_tracestate(value.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast.to_string()), want.clone());
            }
            proptest::prop_assert_eq!(state(&[&value]).header(), want.unwrap_or_default());
        }

        /// Extraction of one header gives what the general path gives.
        #[test]
        fn extraction_matches_the_general_path(value in "[a-c0-2@=, \\t*/_A.-]{0,40}") {
            let got = state(&[&value]);
            let want = general(value.as_bytes()).unwrap_or_default();
            proptest::prop_assert_eq!(got.header(), want);
        }
    }
}
