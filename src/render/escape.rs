//! Neutralising untrusted text before it reaches a terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal as is: control characters (C0, DEL,
/// C1, which include ESC and CSI) and the invisible Unicode bidirectional
/// and direction marks that can make text read differently than it is.
fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Makes untrusted text (span names, attribute values, service names) safe
/// to print: each control character or bidirectional override is replaced
/// by a visible escape such as `\x1b` or `\u{202e}`. Text without such
/// characters is returned as is, without allocating.
///
/// ```
/// use tracelite::render::neutralize;
///
/// assert_eq!(neutralize("GET /users"), "GET /users");
/// assert_eq!(neutralize("evil\x1b[2Jname"), "evil\\x1b[2Jname");
/// assert_eq!(neutralize("line\nbreak"), "line\\nbreak");
/// ```
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !is_dangerous(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_control_and_bidi_character() {
        assert_eq!(neutralize("\x07\x00\x7f"), "\\x07\\x00\\x7f");
        assert_eq!(neutralize("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(neutralize("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(neutralize("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(neutralize("tab\there\r"), "tab\\there\\r");
        // Ordinary non-ASCII text is kept.
        assert_eq!(neutralize("café › 東京"), "café › 東京");
        assert!(matches!(neutralize("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn output_never_contains_escape_or_control_bytes() {
        let nasty: String = (0u32..0x250).filter_map(char::from_u32).collect();
        let out = neutralize(&nasty);
        assert!(!out.chars().any(is_dangerous), "{out}");
    }
}
