//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 `GET` with
//! `Upgrade: websocket`, answered by `101 Switching Protocols`.
//!
//! ```text
//! client                                    server
//!   GET /chat HTTP/1.1
//!   Host: server.example.com
//!   Upgrade: websocket
//!   Connection: Upgrade
//!   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==      (16 random bytes, base64)
//!   Sec-WebSocket-Version: 13
//!                         ------------------>
//!                                           HTTP/1.1 101 Switching Protocols
//!                                           Upgrade: websocket
//!                                           Connection: Upgrade
//!                                           Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//!                         <------------------
//! ```
//!
//! The accept value is `base64(SHA-1(key + GUID))` ([`accept_key`]): proof
//! that the server read this very request as WebSocket, not some cache or
//! HTTP server that echoes headers back.
//!
//! Everything here is bytes in and values out. Server side (section 4.2):
//! [`validate_request`] checks a parsed [`Request`], [`response_101`] and
//! [`error_response`] build the answers. Client side (4.1):
//! [`generate_key`], [`ClientRequest`] and [`validate_response`]. The same
//! steps over a blocking stream are [`crate::accept`] and
//! [`crate::connect`], beside the blocking connection.

use crate::base64;
use crate::deflate::{
    accept_offer, accept_response, ClientPolicy, DeflateParams, PerMessageDeflate,
};
use crate::entropy::fill_random;
use crate::error::HandshakeError;
use crate::http::{Headers, Request, Response};
use crate::sha1::Sha1;
use std::io;

/// The GUID that section 1.3 appends to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for `key` (section 4.2.2, step 5.4).
///
/// ```
/// use rusty_socket_core::handshake::accept_key;
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    base64::encode(&sha1.finalize())
}

/// What a valid upgrade request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade<'a> {
    /// The `Sec-WebSocket-Key` to answer.
    pub key: &'a str,
    /// The subprotocols the client offers, in its order of preference.
    pub protocols: Vec<&'a str>,
    /// The values of every `Sec-WebSocket-Extensions` field, in order
    /// (section 9.1; [`crate::deflate::accept_offer`] reads them).
    pub extensions: Vec<&'a str>,
}

impl Upgrade<'_> {
    /// The server's permessage-deflate answer under `deflate`: the agreed
    /// parameters and the `Sec-WebSocket-Extensions` value to send, or
    /// `None` when it is off or nothing acceptable was offered.
    pub fn accept_deflate(
        &self,
        deflate: Option<&PerMessageDeflate>,
    ) -> Option<(DeflateParams, String)> {
        accept_offer(self.extensions.iter().copied(), &deflate?.server)
    }
}

/// Whether `request` asks for a WebSocket upgrade at all. A server that also
/// serves plain HTTP uses this to route, and [`validate_request`] to judge.
pub fn is_upgrade_request(request: &Request) -> bool {
    request.headers.has_token("upgrade", "websocket")
}

/// Checks an opening handshake request against section 4.2.1.
///
/// # Errors
/// The first requirement not met, whose [`HandshakeError::status`] is the
/// HTTP status to answer with: 405 for a method other than GET, 505 for
/// HTTP/1.0, 426 for a `Sec-WebSocket-Version` other than 13, 400 otherwise
/// (a repeated `Host` or `Sec-WebSocket-Key` included:
/// [`HandshakeError::Malformed`]).
pub fn validate_request(request: &Request) -> Result<Upgrade<'_>, HandshakeError> {
    let headers = &request.headers;
    // 1. "An HTTP/1.1 or higher GET request".
    if request.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if request.minor_version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    // 2. "A |Host| header field". RFC 9112 section 3.2: "A server MUST
    //    respond with a 400 (Bad Request) status code to any HTTP/1.1
    //    request message that lacks a Host header field and to any request
    //    message that contains more than one Host header field line".
    //    Taking the first of two would let a proxy and we disagree on
    //    which host was asked for.
    if headers.count("host") > 1 {
        return Err(HandshakeError::Malformed("more than one Host header field"));
    }
    if headers.get("host").is_none_or(str::is_empty) {
        return Err(HandshakeError::MissingOrInvalidHeader("Host"));
    }
    // 3. "An |Upgrade| header field containing the value "websocket",
    //    treated as an ASCII case-insensitive value."
    if !headers.has_token("upgrade", "websocket") {
        return Err(HandshakeError::MissingOrInvalidHeader("Upgrade"));
    }
    // 4. "A |Connection| header field that includes the token "Upgrade"".
    if !headers.has_token("connection", "upgrade") {
        return Err(HandshakeError::MissingOrInvalidHeader("Connection"));
    }
    // 6. "A |Sec-WebSocket-Version| header field, with a value of 13."
    //    Section 4.4: otherwise answer with the versions we do support.
    if headers.get("sec-websocket-version") != Some("13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    // 5. "A |Sec-WebSocket-Key| header field with a base64-encoded value
    //    that, when decoded, is 16 bytes in length." Section 11.3.1: "The
    //    |Sec-WebSocket-Key| header field MUST NOT appear more than once in
    //    an HTTP request."
    if headers.count("sec-websocket-key") > 1 {
        return Err(HandshakeError::Malformed(
            "more than one Sec-WebSocket-Key header field",
        ));
    }
    let key = headers.get("sec-websocket-key").unwrap_or_default();
    match base64::decode(key.as_bytes()) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(HandshakeError::MissingOrInvalidHeader("Sec-WebSocket-Key")),
    }
    let protocols = headers.tokens("sec-websocket-protocol").collect();
    let extensions = headers.get_all("sec-websocket-extensions").collect();
    Ok(Upgrade {
        key,
        protocols,
        extensions,
    })
}

/// The `101 Switching Protocols` answer to a valid request, with the chosen
/// subprotocol and the accepted extensions (a `Sec-WebSocket-Extensions`
/// value, such as [`Upgrade::accept_deflate`]'s), if any.
pub fn response_101(key: &str, protocol: Option<&str>, extensions: Option<&str>) -> Vec<u8> {
    let mut out = String::with_capacity(160);
    out.push_str("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.push_str(&accept_key(key));
    out.push_str("\r\n");
    if let Some(protocol) = protocol {
        out.push_str("Sec-WebSocket-Protocol: ");
        out.push_str(protocol);
        out.push_str("\r\n");
    }
    if let Some(extensions) = extensions {
        out.push_str("Sec-WebSocket-Extensions: ");
        out.push_str(extensions);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The reason phrase of the statuses this crate answers with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A complete plain-text HTTP response that refuses a handshake: the status
/// of `error`, a short reason as the body, and `Connection: close`. A 426
/// names the version we speak (section 4.4), a 405 the method we allow.
pub fn error_response(error: &HandshakeError) -> Vec<u8> {
    let status = error.status();
    let body = format!("{error}\n");
    let mut extra = String::new();
    match status {
        426 => extra.push_str("Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"),
        405 => extra.push_str("Allow: GET\r\n"),
        _ => {}
    }
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        reason_phrase(status),
        body.len()
    )
    .into_bytes()
}

/// A fresh `Sec-WebSocket-Key`: 16 bytes from the OS, base64-encoded
/// (section 4.1: "randomly selected", "MUST be selected randomly for each
/// connection").
///
/// # Errors
/// If the OS random source cannot be read.
pub fn generate_key() -> io::Result<String> {
    let mut nonce = [0u8; 16];
    fill_random(&mut nonce)?;
    Ok(base64::encode(&nonce))
}

/// A client's upgrade request (section 4.1).
#[derive(Debug, Clone)]
pub struct ClientRequest<'a> {
    /// The `Host` header: host, and `:port` when not the default.
    pub host: &'a str,
    /// The request target: path and query, starting with `/`.
    pub target: &'a str,
    /// The `Sec-WebSocket-Key`, from [`generate_key`].
    pub key: &'a str,
    /// Subprotocols to offer, in order of preference.
    pub protocols: &'a [String],
    /// More header fields, such as `Origin` or `Authorization`.
    pub extra_headers: &'a [(String, String)],
    /// The extensions to offer: what `Sec-WebSocket-Extensions` says
    /// ([`crate::deflate::client_offer`]), or `None` for no such field.
    pub extensions: Option<&'a str>,
}

impl ClientRequest<'_> {
    /// The request head, ready to send.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
            self.target, self.host, self.key
        );
        if !self.protocols.is_empty() {
            out.push_str("Sec-WebSocket-Protocol: ");
            out.push_str(&self.protocols.join(", "));
            out.push_str("\r\n");
        }
        if let Some(extensions) = self.extensions {
            out.push_str("Sec-WebSocket-Extensions: ");
            out.push_str(extensions);
            out.push_str("\r\n");
        }
        for (name, value) in self.extra_headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// What the server agreed to in its 101 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    /// The subprotocol it chose, one of those offered.
    pub protocol: Option<String>,
    /// The permessage-deflate parameters, when it accepted the offer.
    pub deflate: Option<DeflateParams>,
}

/// Checks the server's answer against section 4.1 (the client's steps 1-6
/// after receiving the response), and its extension answer against what
/// was offered (`deflate_offered`: the policy the offer was made from, or
/// `None` when nothing was offered). Returns what was agreed.
///
/// # Errors
/// [`HandshakeError::Rejected`] for any status but 101 (with the whole
/// response head), [`HandshakeError::Malformed`] for a repeated
/// `Sec-WebSocket-Accept`, [`HandshakeError::MissingOrInvalidHeader`],
/// [`HandshakeError::InvalidAccept`],
/// [`HandshakeError::UnrequestedNegotiation`] (an extension when none was
/// offered, a subprotocol that was not) or
/// [`HandshakeError::InvalidExtension`].
pub fn validate_response(
    response: &Response,
    key: &str,
    requested_protocols: &[String],
    deflate_offered: Option<&ClientPolicy>,
) -> Result<Agreed, HandshakeError> {
    if response.status != 101 {
        return Err(HandshakeError::Rejected(Box::new(response.clone())));
    }
    let headers: &Headers = &response.headers;
    if !headers.has_token("upgrade", "websocket") {
        return Err(HandshakeError::MissingOrInvalidHeader("Upgrade"));
    }
    if !headers.has_token("connection", "upgrade") {
        return Err(HandshakeError::MissingOrInvalidHeader("Connection"));
    }
    // Section 11.3.3: "The |Sec-WebSocket-Accept| header MUST NOT appear
    // more than once in an HTTP response." Two of them, even if one is
    // right, is not an answer we can trust.
    if headers.count("sec-websocket-accept") > 1 {
        return Err(HandshakeError::Malformed(
            "more than one Sec-WebSocket-Accept header field",
        ));
    }
    if headers.get("sec-websocket-accept") != Some(accept_key(key).as_str()) {
        return Err(HandshakeError::InvalidAccept);
    }
    // RFC 7692 section 5: an answer that names what was not offered, or
    // breaks the extension's rules, fails the connection.
    let answered: Vec<&str> = headers.get_all("sec-websocket-extensions").collect();
    let deflate = match (answered.is_empty(), deflate_offered) {
        (true, _) => None,
        (false, None) => return Err(HandshakeError::UnrequestedNegotiation("extension")),
        (false, Some(offered)) => Some(
            accept_response(&answered.join(", "), offered)
                .map_err(|e| HandshakeError::InvalidExtension(Box::new(e)))?,
        ),
    };
    let protocol = match headers.get("sec-websocket-protocol") {
        None => None,
        Some(chosen) if requested_protocols.iter().any(|p| p == chosen) => Some(chosen.to_owned()),
        Some(_) => return Err(HandshakeError::UnrequestedNegotiation("subprotocol")),
    };
    Ok(Agreed { protocol, deflate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoded::Decoded;
    use crate::http::Limits;

    fn request(extra: &str) -> Request {
        let text = format!("GET /chat HTTP/1.1\r\nHost: server.example.com\r\n{extra}\r\n");
        match Request::parse(text.as_bytes(), Limits::default()) {
            Ok(Decoded::Complete(request, _)) => request,
            other => panic!("request did not parse: {other:?}"),
        }
    }

    const GOOD: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    #[test]
    fn the_rfc_example_is_accepted() {
        let request = request(GOOD);
        let upgrade = validate_request(&request).unwrap();
        assert_eq!(upgrade.key, "dGhlIHNhbXBsZSBub25jZQ==");
        let response = String::from_utf8(response_101(upgrade.key, None, None)).unwrap();
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive_lists() {
        let request = request(
            "upgrade: WebSocket\r\nCONNECTION: keep-alive, upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nSEC-WEBSOCKET-VERSION: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n",
        );
        let upgrade = validate_request(&request).unwrap();
        assert_eq!(upgrade.protocols, vec!["chat", "superchat"]);
    }

    #[test]
    fn bad_requests_get_the_right_status() {
        let cases: &[(&str, &str, u16)] = &[
            ("no upgrade", "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 400),
            ("no connection", "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 400),
            ("no key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),
            ("short key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n", 400),
            ("not base64", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!\r\nSec-WebSocket-Version: 13\r\n", 400),
            ("version 8", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", 426),
            ("no version", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", 426),
        ];
        for (name, headers, status) in cases {
            let err = validate_request(&request(headers)).expect_err(name);
            assert_eq!(err.status(), *status, "{name}");
            let response = String::from_utf8(error_response(&err)).unwrap();
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status} ")),
                "{name}: {response}"
            );
        }
        let mut post = request(GOOD);
        post.method = "POST".into();
        assert_eq!(validate_request(&post).unwrap_err().status(), 405);
        let mut old = request(GOOD);
        old.minor_version = 0;
        assert_eq!(validate_request(&old).unwrap_err().status(), 505);
        let no_host = match Request::parse(
            format!("GET / HTTP/1.1\r\n{GOOD}\r\n").as_bytes(),
            Limits::default(),
        ) {
            Ok(Decoded::Complete(r, _)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            validate_request(&no_host),
            Err(HandshakeError::MissingOrInvalidHeader("Host"))
        );
    }

    #[test]
    fn a_426_names_version_13() {
        let response =
            String::from_utf8(error_response(&HandshakeError::UnsupportedVersion)).unwrap();
        assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
    }

    fn response(text: &str) -> Response {
        match Response::parse(text.as_bytes(), Limits::default()) {
            Ok(Decoded::Complete(response, _)) => response,
            other => panic!("response did not parse: {other:?}"),
        }
    }

    #[test]
    fn client_validates_the_response() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let check = |extra: &str, protocols: &[String], deflate: Option<&ClientPolicy>| {
            validate_response(
                &response(&format!("{ok}{extra}\r\n")),
                key,
                protocols,
                deflate,
            )
        };
        let nothing = Agreed {
            protocol: None,
            deflate: None,
        };
        assert_eq!(check("", &[], None), Ok(nothing.clone()));
        let chat = ["chat".to_string()];
        assert_eq!(
            check("Sec-WebSocket-Protocol: chat\r\n", &chat, None),
            Ok(Agreed {
                protocol: Some("chat".into()),
                deflate: None
            })
        );
        assert_eq!(
            check("Sec-WebSocket-Protocol: chat\r\n", &[], None),
            Err(HandshakeError::UnrequestedNegotiation("subprotocol"))
        );
        let deflate = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        assert_eq!(
            check(deflate, &[], None),
            Err(HandshakeError::UnrequestedNegotiation("extension"))
        );
        // Offered: the answer is checked and the parameters returned.
        let offered = ClientPolicy::default();
        assert_eq!(
            check(deflate, &[], Some(&offered)),
            Ok(Agreed {
                protocol: None,
                deflate: Some(DeflateParams::default())
            })
        );
        // A server that declines just leaves the field out.
        assert_eq!(check("", &[], Some(&offered)), Ok(nothing));
        // RFC 7692 section 5: an invalid answer fails the connection.
        assert!(matches!(
            check(
                "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n",
                &[],
                Some(&offered)
            ),
            Err(HandshakeError::InvalidExtension(_))
        ));
        assert!(matches!(
            check(
                "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n",
                &[],
                Some(&offered)
            ),
            Err(HandshakeError::InvalidExtension(_))
        ));
        assert_eq!(
            validate_response(
                &response(&format!("{ok}\r\n")),
                "AAAAAAAAAAAAAAAAAAAAAA==",
                &[],
                None
            ),
            Err(HandshakeError::InvalidAccept)
        );
        let rejected = validate_response(
            &response("HTTP/1.1 403 Forbidden\r\nX-Why: no\r\n\r\n"),
            key,
            &[],
            None,
        );
        assert!(
            matches!(rejected, Err(HandshakeError::Rejected(ref r)) if r.status == 403 && r.headers.get("x-why") == Some("no"))
        );
    }

    #[test]
    fn the_server_answers_the_first_acceptable_deflate_offer() {
        let offers = request(&format!(
            "{GOOD}Sec-WebSocket-Extensions: permessage-deflate; bogus, x-other\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        ));
        let upgrade = validate_request(&offers).unwrap();
        assert_eq!(upgrade.extensions.len(), 2);
        let settings = PerMessageDeflate::default();
        let (params, answer) = upgrade.accept_deflate(Some(&settings)).unwrap();
        assert_eq!(params.client_max_window_bits, 11);
        let response = String::from_utf8(response_101(upgrade.key, None, Some(&answer))).unwrap();
        assert!(response.contains(&format!("\r\nSec-WebSocket-Extensions: {answer}\r\n")));
        // Turned off, nothing is accepted.
        assert_eq!(upgrade.accept_deflate(None), None);
        // No offer, no answer.
        let plain = request(GOOD);
        assert_eq!(
            validate_request(&plain)
                .unwrap()
                .accept_deflate(Some(&settings)),
            None
        );
    }

    #[test]
    fn two_host_fields_get_a_400() {
        // RFC 9112 section 3.2. Without the check the first Host was used.
        let request = request(&format!("Host: evil.example\r\n{GOOD}"));
        let error = validate_request(&request).unwrap_err();
        assert_eq!(
            error,
            HandshakeError::Malformed("more than one Host header field")
        );
        assert_eq!(error.status(), 400);
        assert!(String::from_utf8(error_response(&error))
            .unwrap()
            .starts_with("HTTP/1.1 400 Bad Request\r\n"));
    }

    #[test]
    fn two_sec_websocket_key_fields_get_a_400() {
        // RFC 6455 section 11.3.1: the key MUST NOT appear more than once,
        // even when both lines hold the same valid key.
        for second in ["dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA=="] {
            let request = request(&format!("{GOOD}Sec-WebSocket-Key: {second}\r\n"));
            let error = validate_request(&request).unwrap_err();
            assert_eq!(
                error,
                HandshakeError::Malformed("more than one Sec-WebSocket-Key header field"),
                "{second}"
            );
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn two_sec_websocket_accept_fields_are_refused() {
        // RFC 6455 section 11.3.3. The first line holds the right value, so
        // a client that looked only at the first would have accepted it.
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let right = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        for second in [
            right,
            "sec-websocket-accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
        ] {
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{right}{second}\r\n"
            );
            assert_eq!(
                validate_response(&response(&head), key, &[], None),
                Err(HandshakeError::Malformed(
                    "more than one Sec-WebSocket-Accept header field"
                )),
                "{second}"
            );
        }
    }

    #[test]
    fn generated_keys_are_16_random_bytes() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(base64::decode(a.as_bytes()).unwrap().len(), 16);
    }
}
