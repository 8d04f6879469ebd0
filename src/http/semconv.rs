//! OpenTelemetry HTTP semantic conventions (stable): attribute names and the
//! values derived from requests and responses.

use std::sync::Arc;

use http::{HeaderMap, Method, Uri, Version};

use super::recent;

use crate::trace::{KeyValue, Span, Status, Value};

/// The method as the conventions want it: the nine standard methods as
/// they are, anything else `_OTHER` (with the original kept separately).
pub(crate) fn method(method: &Method) -> (&'static str, Option<String>) {
    let known = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => return ("_OTHER", Some(method.as_str().to_string())),
    };
    (known, None)
}

/// `network.protocol.version`.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// Host and port the request was sent to: the URI's authority, else the
/// `Host` header. The port is the explicit one, else the scheme's default.
///
/// The host is a shared string: the same text seen lately on this thread
/// is split once and its host shared by the spans that record it.
pub(crate) fn server_address(uri: &Uri, headers: &HeaderMap) -> Option<(Arc<str>, Option<u16>)> {
    server_address_or(uri, || headers.get(http::header::HOST))
}

/// [`server_address`] with the `Host` header from `host`, asked only when
/// the URI has no authority.
pub(crate) fn server_address_or<'a>(
    uri: &Uri,
    host: impl FnOnce() -> Option<&'a http::HeaderValue>,
) -> Option<(Arc<str>, Option<u16>)> {
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    if let Some(authority) = uri.authority() {
        // Already validated by the URI parser; only credentials to drop.
        let source = without_credentials(authority).as_bytes();
        let (host, port) = recent::address(source, split_host_port)?;
        return Some((host, port.or(default_port)));
    }
    recent::address(host()?.as_bytes(), split_host_port)
}

/// The bytes RFC 3986 allows in a host name or IPv4 address (unreserved,
/// percent-encoded, sub-delims).
static HOST_CHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

/// An authority's `host[:port]`, without `user:password@`.
fn without_credentials(authority: &http::uri::Authority) -> &str {
    let authority = authority.as_str();
    match authority.bytes().rposition(|b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    }
}

/// Splits `host[:port]` (a `Host` header, or a URI authority without
/// credentials) into the host — an IPv6 literal keeps its brackets — and
/// the port. `None` when it is not a valid host: a character RFC 3986 does
/// not allow in one, an empty host, or a port that is not a number up to
/// 65535. One pass over the bytes, no allocation.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let bytes = s.as_bytes();
    let host_end = if bytes.first() == Some(&b'[') {
        let close = bytes.iter().position(|&b| b == b']')?;
        let literal = &bytes[1..close];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        close + 1
    } else {
        // One pass to the port's colon, each byte checked by table.
        let end = bytes
            .iter()
            .position(|&b| !HOST_CHAR[usize::from(b)])
            .unwrap_or(bytes.len());
        if end == 0 || (end < bytes.len() && bytes[end] != b':') {
            return None;
        }
        end
    };
    let host = &s[..host_end];
    match &bytes[host_end..] {
        [] | [b':'] => Some((host, None)),
        [b':', digits @ ..] => {
            if digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let port = digits
                .iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
            Some((host, Some(u16::try_from(port).ok()?)))
        }
        _ => None,
    }
}

/// The request URL without credentials, for `url.full`.
pub(crate) fn full_url(uri: &Uri) -> String {
    match uri.authority() {
        Some(authority) => {
            let scheme = uri.scheme_str().unwrap_or("http");
            let host_port = without_credentials(authority);
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            format!("{scheme}://{host_port}{path}")
        }
        None => uri.to_string(),
    }
}

/// Records the allowed headers as `http.{request|response}.header.<name>`
/// string arrays.
pub(crate) fn record_headers(span: &Span, prefix: &str, allowed: &[String], headers: &HeaderMap) {
    for name in allowed {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if !values.is_empty() {
            span.set_attribute(format!("{prefix}.{name}"), Value::from(values));
        }
    }
}

/// Header names as recorded: lowercase.
pub(crate) fn lowercase<I, S>(names: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names
        .into_iter()
        .map(|n| n.as_ref().to_ascii_lowercase())
        .collect()
}

/// The response status: `http.response.status_code`, and when `failed`,
/// `error.type` (the code) and status Error.
pub(crate) fn record_status(span: &Span, status: http::StatusCode, failed: bool) {
    span.set_attribute("http.response.status_code", i64::from(status.as_u16()));
    if failed {
        span.set_attribute("error.type", status.as_str().to_string());
        span.set_status(Status::error(format!("HTTP {status}")));
    }
}

/// Ends `span` as failed: `error.type`, an `exception` event, status Error
/// with `description`.
pub(crate) fn end_failed(
    span: Span,
    error_type: &'static str,
    message: String,
    description: String,
) {
    span.set_attribute("error.type", error_type);
    span.add_event("exception", [KeyValue::new("exception.message", message)]);
    span.set_status(Status::error(description));
    span.end();
}

/// The attributes of a request common to servers and clients.
pub(crate) fn request_method_attributes(method_: &Method, out: &mut Vec<KeyValue>) {
    let (method, original) = method(method_);
    out.push(KeyValue::new("http.request.method", method));
    if let Some(original) = original {
        out.push(KeyValue::new("http.request.method_original", original));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_versions_addresses_urls() {
        assert_eq!(method(&Method::GET), ("GET", None));
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method(&custom), ("_OTHER", Some("PURGE".into())));
        assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));

        let mut h = HeaderMap::new();
        h.insert("host", "api.example.com:8443".parse().unwrap());
        let origin_form: Uri = "/users?id=1".parse().unwrap();
        assert_eq!(
            server_address(&origin_form, &h),
            Some(("api.example.com".into(), Some(8443)))
        );
        let absolute: Uri = "https://user:pw@example.com/a?b=c".parse().unwrap();
        assert_eq!(
            server_address(&absolute, &HeaderMap::new()),
            Some(("example.com".into(), Some(443)))
        );
        assert_eq!(full_url(&absolute), "https://example.com/a?b=c");
        let plain: Uri = "http://127.0.0.1:3000".parse().unwrap();
        assert_eq!(full_url(&plain), "http://127.0.0.1:3000/");
        h.insert("host", "bad host".parse().unwrap());
        assert_eq!(server_address(&origin_form, &h), None);
    }

    #[test]
    fn host_and_port_split_like_an_authority() {
        for (input, expected) in [
            ("example.com", Some(("example.com", None))),
            ("example.com:8080", Some(("example.com", Some(8080)))),
            ("example.com:", Some(("example.com", None))),
            ("127.0.0.1:65535", Some(("127.0.0.1", Some(65535)))),
            ("[::1]", Some(("[::1]", None))),
            ("[2001:db8::7]:443", Some(("[2001:db8::7]", Some(443)))),
            (
                "xn--bcher-kva.example",
                Some(("xn--bcher-kva.example", None)),
            ),
            ("", None),
            (":80", None),
            ("bad host", None),
            ("host:65536", None),
            ("host:80a", None),
            ("host:123456", None),
            ("a/b", None),
            ("[::1", None),
            ("[]:80", None),
            ("[::1]x", None),
            ("[zz]", None),
            ("h\u{e9}te", None),
        ] {
            assert_eq!(split_host_port(input), expected, "{input:?}");
            // The same answers as the http crate's authority parser, where
            // it accepts the input.
            if let (Some((host, port)), Ok(a)) = (expected, input.parse::<http::uri::Authority>()) {
                assert_eq!((a.host(), a.port_u16()), (host, port), "{input:?}");
            }
        }
    }
}
