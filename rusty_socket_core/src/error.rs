//! Errors, each of which knows what the peer should be told.
//!
//! RFC 6455 pairs every way a peer can go wrong with an answer: a bad frame
//! fails the connection with a close code (section 7.4.1), a bad handshake is
//! refused with an HTTP status (section 4.2.1). The variants below carry that
//! answer, so a caller can act on an error instead of parsing its message:
//! [`Error::close_code`] and [`HandshakeError::status`].

use crate::close::CloseCode;
use crate::connection::SendError;
use crate::deflate::{InflateError, NegotiationError};
use crate::http::Response;
use std::fmt;
use std::io;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong on a WebSocket connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The underlying stream failed. A peer that drops the TCP connection
    /// without a closing handshake shows up here as `UnexpectedEof`
    /// (what the RFC calls close code 1006, "abnormal closure").
    Io(io::Error),
    /// The peer broke a rule of the framing protocol (close code 1002).
    Protocol(ProtocolError),
    /// A frame or message exceeds a configured limit (close code 1009).
    Capacity(CapacityError),
    /// A text message is not valid UTF-8 (close code 1007, section 8.1).
    Utf8,
    /// A compressed message (permessage-deflate, RFC 7692) is not valid
    /// DEFLATE, or reaches back beyond the agreed window (close code 1007:
    /// "data within a message that was not consistent with the type of the
    /// message", section 7.4.1; the frames themselves were well formed).
    Compression(InflateError),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// Misuse: something was to be sent after a close frame was sent or
    /// received, or after the connection failed (section 5.5.1: nothing may
    /// follow a close). The clean end of reading is not this error but
    /// `Ok(None)` from `read`.
    AlreadyClosed,
    /// Misuse: a frame that RFC 6455 forbids was to be sent (a fragmented or
    /// oversized control frame, a continuation with nothing to continue, a
    /// close code that may not be sent, ...). Nothing was sent.
    Send(SendError),
}

impl Error {
    /// The close code to send to the peer when this error fails the
    /// connection: 1002, 1007 or 1009; `None` when no close frame is owed.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(_) => Some(CloseCode::PROTOCOL_ERROR),
            Error::Capacity(_) => Some(CloseCode::MESSAGE_TOO_BIG),
            Error::Utf8 | Error::Compression(_) => Some(CloseCode::INVALID_PAYLOAD),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Capacity(e) => write!(f, "capacity exceeded: {e}"),
            Error::Utf8 => f.write_str("invalid UTF-8 in a text message"),
            Error::Compression(e) => write!(f, "invalid compressed message: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::AlreadyClosed => {
                f.write_str("the connection is closed: nothing more may be sent")
            }
            Error::Send(e) => write!(f, "refused to send: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Capacity(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Compression(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<CapacityError> for Error {
    fn from(e: CapacityError) -> Self {
        Error::Capacity(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<crate::utf8::InvalidUtf8> for Error {
    fn from(_: crate::utf8::InvalidUtf8) -> Self {
        Error::Utf8
    }
}

/// A violation of the framing rules of sections 5 and 7; each fails the
/// connection with close code 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode that no negotiated extension defines (section 5.2).
    ReservedOpcode(u8),
    /// RSV1, RSV2 or RSV3 set without an extension that defines them (5.2).
    ReservedBits,
    /// A client sent an unmasked frame (section 5.1: the server MUST close).
    UnmaskedFrame,
    /// A server sent a masked frame (section 5.1: the client MUST close).
    MaskedFrame,
    /// A 64-bit payload length with its most significant bit set (5.2).
    PayloadLengthOverflow,
    /// A payload length not written in the minimal number of bytes (5.2).
    NonMinimalLength,
    /// A control frame with more than 125 bytes of payload (5.5).
    ControlFrameTooLong,
    /// A control frame without FIN: control frames cannot be fragmented (5.5).
    FragmentedControlFrame,
    /// A continuation frame with no fragmented message to continue (5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is unfinished (5.4).
    ExpectedContinuation,
    /// A close frame whose payload is a single byte (5.5.1).
    InvalidClosePayload,
    /// A close code that may not be sent on the wire (7.4).
    InvalidCloseCode(u16),
    /// A close reason that is not UTF-8 (5.5.1).
    InvalidCloseReason,
    /// RSV1, permessage-deflate's "Per-Message Compressed" bit, on a
    /// control frame or a continuation frame: only the first frame of a
    /// data message may carry it (RFC 7692 section 6).
    MisplacedCompressedBit,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set without an extension"),
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::PayloadLengthOverflow => {
                f.write_str("64-bit payload length has its top bit set")
            }
            ProtocolError::NonMinimalLength => {
                f.write_str("payload length not encoded in the minimal number of bytes")
            }
            ProtocolError::ControlFrameTooLong => {
                f.write_str("control frame payload longer than 125 bytes")
            }
            ProtocolError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message to continue")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            ProtocolError::InvalidClosePayload => f.write_str("close payload of one byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidCloseReason => f.write_str("close reason is not UTF-8"),
            ProtocolError::MisplacedCompressedBit => {
                f.write_str("RSV1 (compressed) on a control or continuation frame")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A limit from [`crate::Config`] was exceeded (close code 1009). The check
/// happens on the frame header, before any of the payload is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapacityError {
    /// One frame declares more payload than `max_frame_size`.
    FrameTooLarge {
        /// The payload length the header declared.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message would grow beyond `max_message_size`.
    MessageTooLarge {
        /// The size the message would reach.
        size: u64,
        /// The configured limit.
        max: usize,
    },
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapacityError::FrameTooLarge { size, max } => {
                write!(f, "frame of {size} bytes exceeds the limit of {max}")
            }
            CapacityError::MessageTooLarge { size, max } => {
                write!(f, "message of {size} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for CapacityError {}

/// Why an opening handshake failed (section 4). On the server side each
/// variant maps to the HTTP status the client receives ([`Self::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request or response head is not valid HTTP/1.1 syntax (400).
    Malformed(&'static str),
    /// The head is larger than the configured limit (431).
    HeadTooLarge,
    /// More header fields than the configured limit (431).
    TooManyHeaders,
    /// The request method is not GET (405).
    MethodNotAllowed,
    /// The request is not HTTP/1.1 or later (505).
    HttpVersion,
    /// A required header is missing or has the wrong value (400).
    MissingOrInvalidHeader(&'static str),
    /// `Sec-WebSocket-Version` is not 13 (426, with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// Client side: the server answered with a status other than 101. Its
    /// response head (status, reason, header fields such as `Retry-After`)
    /// is kept so that the caller can act on it or show it.
    Rejected(Box<Response>),
    /// Client side: `Sec-WebSocket-Accept` does not match the key we sent.
    InvalidAccept,
    /// Client side: the server chose a subprotocol or extension we did not offer.
    UnrequestedNegotiation(&'static str),
    /// Client side: the server's `permessage-deflate` answer breaks RFC 7692
    /// (a parameter we did not offer, a wider window than we asked, ...):
    /// section 5 says the client MUST fail the connection.
    InvalidExtension(Box<NegotiationError>),
    /// The peer closed the connection before the handshake completed.
    ConnectionClosed,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::HeadTooLarge | HandshakeError::TooManyHeaders => 431,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::HttpVersion => 505,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::Rejected(response) => response.status,
            _ => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            HandshakeError::HeadTooLarge => f.write_str("HTTP head too large"),
            HandshakeError::TooManyHeaders => f.write_str("too many HTTP header fields"),
            HandshakeError::MethodNotAllowed => f.write_str("method must be GET"),
            HandshakeError::HttpVersion => f.write_str("HTTP/1.1 or later is required"),
            HandshakeError::MissingOrInvalidHeader(name) => {
                write!(f, "missing or invalid {name} header")
            }
            HandshakeError::UnsupportedVersion => {
                f.write_str("unsupported Sec-WebSocket-Version (13 is required)")
            }
            HandshakeError::Rejected(response) => write!(
                f,
                "server refused the upgrade with status {} {}",
                response.status, response.reason
            ),
            HandshakeError::InvalidAccept => {
                f.write_str("Sec-WebSocket-Accept does not match the key")
            }
            HandshakeError::UnrequestedNegotiation(what) => {
                write!(f, "server selected a {what} that was not requested")
            }
            HandshakeError::ConnectionClosed => {
                f.write_str("connection closed during the opening handshake")
            }
            HandshakeError::InvalidExtension(e) => {
                write!(f, "invalid permessage-deflate response: {e}")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_stays_small() {
        // Results of every read carry one: keep them cheap to move.
        assert!(std::mem::size_of::<Error>() <= 32);
    }

    #[test]
    fn misuse_is_not_a_peer_error() {
        assert_eq!(Error::AlreadyClosed.close_code(), None);
        let refused = Error::Send(SendError::FragmentedControlFrame);
        assert_eq!(refused.close_code(), None);
        assert!(refused.to_string().contains("fragmented"));
    }
}
