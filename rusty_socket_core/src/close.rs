//! The closing handshake: close codes and close frame payloads (RFC 6455
//! sections 5.5.1, 7.1.5 and 7.4).
//!
//! A close frame's payload is either empty or a 2-byte big-endian
//! `close_code` followed by a UTF-8 `reason` (the whole payload, like every
//! control frame's, fits in 125 bytes, so the reason in 123). Section 7.4.1
//! defines the codes below 3000; 3000-3999 are registered with IANA by
//! libraries and frameworks, and 4000-4999 are for private use. Codes 1005,
//! 1006 and 1015 describe what happened locally and must never be sent.

use crate::error::ProtocolError;
use std::fmt;

/// A status code from a close frame (section 7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose for which the connection was established is done.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutting down, page closed).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint received a type of data it cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reported locally, never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame. Never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a text message was not valid UTF-8 (section 8.1).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later, for example when the server is overloaded.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: the TLS handshake failed. Reported locally, never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a close frame on the wire: 1000-1003,
    /// 1007-1014 and 3000-4999. Receiving any other code is a protocol error.
    ///
    /// ```
    /// use rusty_socket_core::CloseCode;
    /// assert!(CloseCode(1000).is_sendable());
    /// assert!(!CloseCode(1005).is_sendable());
    /// assert!(CloseCode(4000).is_sendable());
    /// ```
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The decoded payload of a close frame that carried a status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the connection is closing.
    pub code: CloseCode,
    /// A human-readable explanation, possibly empty (at most 123 bytes).
    pub reason: String,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`; the reason is cut, at a
    /// character boundary, to the 123 bytes that fit in a control frame.
    pub fn new(code: CloseCode, reason: &str) -> CloseFrame {
        CloseFrame {
            code,
            reason: truncate_reason(reason).to_owned(),
        }
    }
}

impl fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} ({})", self.code, self.reason)
        }
    }
}

/// The longest reason that fits: 125 bytes of control payload minus 2 for
/// the code.
pub const MAX_REASON_LEN: usize = 123;

/// Cuts `reason` to at most [`MAX_REASON_LEN`] bytes without splitting a
/// character.
pub fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_LEN {
        return reason;
    }
    let mut end = MAX_REASON_LEN;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Decodes a close frame payload (section 5.5.1).
///
/// Returns `None` for an empty payload (no status code, reported as 1005).
///
/// # Errors
/// A [`ProtocolError`] (close code 1002) for a 1-byte payload, a code that may
/// not be sent, or a reason that is not UTF-8.
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [high, low, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*high, *low]));
            if !code.is_sendable() {
                return Err(ProtocolError::InvalidCloseCode(code.0));
            }
            let reason =
                std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// Appends the payload of a close frame to `out`: nothing for `None`,
/// otherwise the code and the (truncated) reason.
pub fn encode_close_payload(frame: Option<&CloseFrame>, out: &mut Vec<u8>) {
    if let Some(frame) = frame {
        out.extend_from_slice(&frame.code.0.to_be_bytes());
        out.extend_from_slice(truncate_reason(&frame.reason).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_codes_follow_the_registry() {
        for code in 0u16..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode(code).is_sendable(), expected, "code {code}");
        }
    }

    #[test]
    fn payload_table() {
        /// The payload, and what it decodes to: `Some((code, reason))`.
        type Expected = Result<Option<(u16, &'static str)>, ProtocolError>;
        let cases: &[(&[u8], Expected)] = &[
            (b"", Ok(None)),
            (b"\x03", Err(ProtocolError::InvalidClosePayload)),
            (b"\x03\xe8", Ok(Some((1000, "")))),
            (b"\x03\xe8bye", Ok(Some((1000, "bye")))),
            (b"\x0f\xa0", Ok(Some((4000, "")))),
            (b"\x03\xed", Err(ProtocolError::InvalidCloseCode(1005))),
            (b"\x03\xee", Err(ProtocolError::InvalidCloseCode(1006))),
            (b"\x03\xf7", Err(ProtocolError::InvalidCloseCode(1015))),
            (b"\x00\x00", Err(ProtocolError::InvalidCloseCode(0))),
            (b"\x13\x88", Err(ProtocolError::InvalidCloseCode(5000))),
            (
                b"\x03\xe8\xce\xba\xe1",
                Err(ProtocolError::InvalidCloseReason),
            ),
        ];
        for (payload, expected) in cases {
            let got = parse_close_payload(payload).map(|frame| frame.map(|f| (f.code.0, f.reason)));
            let expected =
                (*expected).map(|frame| frame.map(|(code, reason)| (code, reason.to_owned())));
            assert_eq!(got, expected, "payload {payload:x?}");
        }
    }

    #[test]
    fn encode_then_parse_round_trips_and_truncates() {
        let long = "é".repeat(100); // 200 bytes
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, &long);
        let mut out = Vec::new();
        encode_close_payload(Some(&frame), &mut out);
        assert!(out.len() <= 125);
        let parsed = parse_close_payload(&out).unwrap().unwrap();
        assert_eq!(parsed.code, CloseCode::GOING_AWAY);
        assert_eq!(parsed.reason.len(), 122); // 61 whole 'é', never half of one
        let mut empty = Vec::new();
        encode_close_payload(None, &mut empty);
        assert!(empty.is_empty());
    }
}
