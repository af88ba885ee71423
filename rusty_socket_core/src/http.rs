//! Just enough HTTP/1.1 for the opening handshake (RFC 6455 section 4, HTTP
//! message syntax from RFC 9112): a push parser for request and response
//! heads.
//!
//! Like the frame parser, it is given the bytes received so far and answers
//! [`Decoded::Partial`] until the blank line that ends the head has arrived,
//! then `Complete(head, len)`: the bytes after `len` already belong to the
//! WebSocket frame stream and must be kept. It never reads a socket, so a
//! head that arrives one byte at a time parses the same as one that arrives
//! whole, and a head longer than [`Limits::max_head_size`] is refused before
//! it can grow further.

use crate::decoded::Decoded;
use crate::error::HandshakeError;

/// Bounds on what a peer may make the parser hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest head accepted, blank line included. Default: 8 KiB, what
    /// common HTTP servers accept; a browser's upgrade request is under 1 KiB.
    pub max_head_size: usize,
    /// The most header fields accepted. Default: 64.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 8 << 10,
            max_headers: 64,
        }
    }
}

/// One header field. Names compare case-insensitively (RFC 9110 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name as sent.
    pub name: String,
    /// The field value, without surrounding white space.
    pub value: String,
}

/// Header fields with case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The value of the first field called `name`, in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of every field called `name`, trimmed,
    /// empty ones skipped: `Connection: keep-alive, Upgrade` gives
    /// `keep-alive` and `Upgrade`.
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| h.value.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The value of every field line called `name`, in any case, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + Clone + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// How many field lines are called `name`, in any case. Fields that
    /// must appear at most once (`Host`, RFC 9112 section 3.2;
    /// `Sec-WebSocket-Key` and `Sec-WebSocket-Accept`, RFC 6455 section
    /// 11.3) are checked with this: [`Headers::get`] alone would quietly
    /// use the first of two.
    pub fn count(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    }

    /// Whether the comma list in `name` contains `token`, in any case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Iterates over the fields in the order received.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: `/chat?room=1`.
    pub target: String,
    /// The minor HTTP version: 1 for `HTTP/1.1`, 0 for `HTTP/1.0`.
    pub minor_version: u8,
    /// The header fields.
    pub headers: Headers,
}

impl Request {
    /// Parses a request head from the start of `input`.
    ///
    /// ```
    /// use rusty_socket_core::Decoded;
    /// use rusty_socket_core::http::{Limits, Request};
    /// let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\nextra";
    /// let Decoded::Complete(request, len) = Request::parse(bytes, Limits::default()).unwrap() else {
    ///     panic!("the head is complete");
    /// };
    /// assert_eq!((request.method.as_str(), request.target.as_str()), ("GET", "/chat"));
    /// assert_eq!(request.headers.get("host"), Some("example.com"));
    /// assert_eq!(&bytes[len..], b"extra");
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::HeadTooLarge`], [`HandshakeError::TooManyHeaders`] or
    /// [`HandshakeError::Malformed`].
    pub fn parse(input: &[u8], limits: Limits) -> Result<Decoded<Request>, HandshakeError> {
        let Some((lines, len)) = split_head(input, limits)? else {
            return Ok(Decoded::Partial);
        };
        let (start, fields) = lines;
        let mut parts = start.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HandshakeError::Malformed("request line"));
        };
        if !is_token(method) {
            return Err(HandshakeError::Malformed("method"));
        }
        if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(HandshakeError::Malformed("request target"));
        }
        let minor_version = parse_version(version)?;
        let headers = parse_fields(fields, limits)?;
        Ok(Decoded::Complete(
            Request {
                method: method.to_owned(),
                target: target.to_owned(),
                minor_version,
                headers,
            },
            len,
        ))
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, such as 101.
    pub status: u16,
    /// The reason phrase, such as `Switching Protocols`.
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
    /// The head as received (status line and fields), for error reports.
    pub head: String,
}

impl Response {
    /// Parses a response head from the start of `input`.
    ///
    /// # Errors
    /// As [`Request::parse`].
    pub fn parse(input: &[u8], limits: Limits) -> Result<Decoded<Response>, HandshakeError> {
        let Some(((start, fields), len)) = split_head(input, limits)? else {
            return Ok(Decoded::Partial);
        };
        let mut parts = start.splitn(3, ' ');
        let (Some(version), Some(status)) = (parts.next(), parts.next()) else {
            return Err(HandshakeError::Malformed("status line"));
        };
        parse_version(version)?;
        let status = match status.parse::<u16>() {
            Ok(code) if status.len() == 3 && (100..=999).contains(&code) => code,
            _ => return Err(HandshakeError::Malformed("status code")),
        };
        // RFC 9112 section 4: `reason-phrase = 1*( HTAB / SP / VCHAR /
        // obs-text )`. A control byte, a bare CR or a bare LF has no place
        // in it: a peer that sends one is not speaking HTTP.
        let reason = parts.next().unwrap_or_default();
        if !reason.bytes().all(is_text_byte) {
            return Err(HandshakeError::Malformed(
                "control character in the reason phrase",
            ));
        }
        let reason = reason.to_owned();
        let headers = parse_fields(fields, limits)?;
        let head = String::from_utf8_lossy(&input[..len - 4]).into_owned();
        Ok(Decoded::Complete(
            Response {
                status,
                reason,
                headers,
                head,
            },
            len,
        ))
    }
}

/// The start line of a head and an iterator over its header field lines.
type Lines<'a> = (&'a str, std::str::Split<'a, &'static str>);

/// Finds the end of the head and splits it into the start line and the
/// header field lines. `Ok(None)` means the blank line has not arrived yet.
fn split_head(input: &[u8], limits: Limits) -> Result<Option<(Lines<'_>, usize)>, HandshakeError> {
    let window = &input[..input.len().min(limits.max_head_size)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        if input.len() >= limits.max_head_size {
            return Err(HandshakeError::HeadTooLarge);
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&input[..end])
        .map_err(|_| HandshakeError::Malformed("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default();
    Ok(Some(((start, lines), end + 4)))
}

fn parse_version(version: &str) -> Result<u8, HandshakeError> {
    match version.as_bytes() {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Ok(minor - b'0')
        }
        [b'H', b'T', b'T', b'P', b'/', major, ..] if major.is_ascii_digit() => {
            Err(HandshakeError::HttpVersion)
        }
        _ => Err(HandshakeError::Malformed("HTTP version")),
    }
}

fn parse_fields<'a>(
    lines: impl Iterator<Item = &'a str>,
    limits: Limits,
) -> Result<Headers, HandshakeError> {
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == limits.max_headers {
            return Err(HandshakeError::TooManyHeaders);
        }
        // RFC 9112 5.1: no white space between name and colon; obsolete line
        // folding (a line starting with white space) is refused.
        let Some((name, value)) = line.split_once(':') else {
            return Err(HandshakeError::Malformed("header field without a colon"));
        };
        if !is_token(name) {
            return Err(HandshakeError::Malformed("header field name"));
        }
        // RFC 9110 section 5.5: a field value holds `field-vchar` (VCHAR,
        // obs-text), SP and HTAB, nothing else: no CR or LF of its own.
        if !value.bytes().all(is_text_byte) {
            return Err(HandshakeError::Malformed(
                "control character in a header value",
            ));
        }
        headers.push(Header {
            name: name.to_owned(),
            value: value.trim_matches([' ', '\t']).to_owned(),
        });
    }
    Ok(Headers(headers))
}

/// Whether `b` is a `tchar` (RFC 9110 section 5.6.2): a letter, a digit or
/// one of ``!#$%&'*+-.^_`|~``. Methods, field names and the subprotocol
/// names of `Sec-WebSocket-Protocol` are made of these; separators such as
/// space, `,`, `:` and `"` are not.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a `token` (RFC 9110 section 5.6.2: `token = 1*tchar`):
/// not empty, and every byte an [`is_token_byte`].
///
/// ```
/// use rusty_socket_core::http::is_token;
/// assert!(is_token("chat.v2"));
/// assert!(!is_token("two words"));
/// assert!(!is_token(""));
/// ```
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Whether `b` may appear in a reason phrase (RFC 9112 section 4) or a
/// field value (RFC 9110 section 5.5): HTAB, SP, VCHAR (0x21-0x7E) or
/// obs-text (0x80-0xFF). Every other control byte, DEL included, is refused.
fn is_text_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn parse(input: &[u8]) -> Result<Decoded<Request>, HandshakeError> {
        Request::parse(input, Limits::default())
    }

    #[test]
    fn every_prefix_is_partial() {
        for cut in 0..REQUEST.len() {
            assert_eq!(parse(&REQUEST[..cut]), Ok(Decoded::Partial), "prefix {cut}");
        }
        let Ok(Decoded::Complete(request, len)) = parse(REQUEST) else {
            panic!("complete request expected");
        };
        assert_eq!(len, REQUEST.len());
        assert_eq!(request.path(), "/chat");
        assert_eq!(request.minor_version, 1);
        assert_eq!(request.headers.get("UPGRADE"), Some("websocket"));
        assert!(request.headers.has_token("connection", "upgrade"));
    }

    #[test]
    fn bytes_after_the_head_are_not_consumed() {
        let mut input = REQUEST.to_vec();
        input.extend_from_slice(&[0x81, 0x80]);
        let Ok(Decoded::Complete(_, len)) = parse(&input) else {
            panic!("complete request expected");
        };
        assert_eq!(&input[len..], &[0x81, 0x80]);
    }

    #[test]
    fn limits_are_enforced() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(9000, b'a');
        assert_eq!(parse(&big), Err(HandshakeError::HeadTooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..65 {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Err(HandshakeError::TooManyHeaders));
    }

    #[test]
    fn malformed_heads_table() {
        let cases: &[(&[u8], HandshakeError)] = &[
            (b"GET /\r\n\r\n", HandshakeError::Malformed("request line")),
            (
                b"GET / HTTP/1.1 extra\r\n\r\n",
                HandshakeError::Malformed("request line"),
            ),
            (
                b"G(T / HTTP/1.1\r\n\r\n",
                HandshakeError::Malformed("method"),
            ),
            (b"GET / HTTP/2.0\r\n\r\n", HandshakeError::HttpVersion),
            (
                b"GET / HTTQ/1.1\r\n\r\n",
                HandshakeError::Malformed("HTTP version"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost\r\n\r\n",
                HandshakeError::Malformed("header field without a colon"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                HandshakeError::Malformed("header field name"),
            ),
            (
                b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
                HandshakeError::Malformed("header field name"),
            ),
            (
                b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
                HandshakeError::Malformed("head is not UTF-8"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse(input).as_ref().err(),
                Some(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn seeded_random_heads_never_panic_and_never_overrun() {
        // Mutations of a valid request: bytes flipped, cut, or replaced by
        // separators, so that parsing goes deep before it fails.
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"\r\n: ,/HTTP1.GETx\t\x00\xff";
        for _ in 0..20_000 {
            let mut input = REQUEST.to_vec();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % input.len();
                input[at] = alphabet[(next() as usize) % alphabet.len()];
            }
            input.truncate((next() as usize) % (input.len() + 1));
            if let Ok(Decoded::Complete(_, used)) = parse(&input) {
                assert!(used <= input.len());
            }
            if let Ok(Decoded::Complete(_, used)) = Response::parse(&input, Limits::default()) {
                assert!(used <= input.len());
            }
        }
    }

    #[test]
    fn responses_parse_with_status_and_head() {
        let input = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\nbody";
        let Ok(Decoded::Complete(response, len)) = Response::parse(input, Limits::default()) else {
            panic!("complete response expected");
        };
        assert_eq!(
            (response.status, response.reason.as_str()),
            (503, "Service Unavailable")
        );
        assert_eq!(response.headers.get("retry-after"), Some("5"));
        assert_eq!(&input[len..], b"body");
        assert!(response.head.starts_with("HTTP/1.1 503"));
        assert_eq!(
            Response::parse(b"HTTP/1.1 20x OK\r\n\r\n", Limits::default()),
            Err(HandshakeError::Malformed("status code"))
        );
    }

    #[test]
    fn a_control_byte_in_the_reason_phrase_is_malformed() {
        // RFC 9112 section 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
        let refused: &[&[u8]] = &[
            b"HTTP/1.1 101 \x01\r\n\r\n",
            b"HTTP/1.1 101 Switching\nProtocols\r\n\r\n",
            b"HTTP/1.1 101 Switching\rProtocols\r\n\r\n",
            b"HTTP/1.1 101 OK\x7f\r\n\r\n",
            b"HTTP/1.1 101 \x00\r\nUpgrade: websocket\r\n\r\n",
        ];
        for input in refused {
            assert_eq!(
                Response::parse(input, Limits::default()),
                Err(HandshakeError::Malformed(
                    "control character in the reason phrase"
                )),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // HTAB, SP, VCHAR and obs-text (here the UTF-8 of "é") are allowed.
        let input = "HTTP/1.1 101 Switching\tProtocols, d\u{e9}j\u{e0}!\r\n\r\n";
        let Ok(Decoded::Complete(response, _)) =
            Response::parse(input.as_bytes(), Limits::default())
        else {
            panic!("a valid reason phrase must parse");
        };
        assert_eq!(response.reason, "Switching\tProtocols, d\u{e9}j\u{e0}!");
    }

    #[test]
    fn a_control_byte_in_a_field_value_is_malformed() {
        // RFC 9110 section 5.5: field-value holds VCHAR, obs-text, SP, HTAB.
        for value in ["a\x01b", "a\nInjected: yes", "a\rb", "a\x7fb", "\x00"] {
            let input = format!("GET / HTTP/1.1\r\nX: {value}\r\n\r\n");
            assert_eq!(
                parse(input.as_bytes()),
                Err(HandshakeError::Malformed(
                    "control character in a header value"
                )),
                "{value:?}"
            );
        }
        let input = "GET / HTTP/1.1\r\nX: a\tb c\u{e9}\r\n\r\n";
        let Ok(Decoded::Complete(request, _)) = parse(input.as_bytes()) else {
            panic!("a valid field value must parse");
        };
        assert_eq!(request.headers.get("x"), Some("a\tb c\u{e9}"));
    }

    #[test]
    fn count_counts_field_lines_in_any_case() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\nX: c\r\n\r\n";
        let Ok(Decoded::Complete(request, _)) = parse(input) else {
            panic!("complete request expected");
        };
        assert_eq!(request.headers.count("HOST"), 2);
        assert_eq!(request.headers.count("x"), 1);
        assert_eq!(request.headers.count("y"), 0);
    }

    #[test]
    fn tokens_are_non_empty_runs_of_tchar() {
        for good in ["GET", "chat.v2", "X-Token", "!#$%&'*+-.^_`|~09az"] {
            assert!(is_token(good), "{good:?}");
        }
        for bad in [
            "",
            "two words",
            "a,b",
            "a:b",
            "\"q\"",
            "a\tb",
            "\u{e9}",
            "(x)",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
