//! The client's one error type: every way a connection can fail, from the
//! URL to the closing handshake, each with the data a caller needs to act
//! on it (the address that refused, the HTTP status and headers of a refused
//! upgrade, the stage that timed out).

use crate::url::UrlError;
use rusty_socket_core::http::{Headers, Response};
use rusty_socket_core::{CloseCode, HandshakeError, SendError};
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the client was doing when a timeout expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Opening the TCP connection ([`crate::ClientBuilder::connect_timeout`]).
    Connect,
    /// The opening handshake ([`crate::ClientBuilder::handshake_timeout`]).
    Handshake,
    /// Waiting for a message, with a read timeout set by the caller.
    Read,
    /// Sending, with a write timeout set on the stream.
    Write,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connecting",
            Stage::Handshake => "the opening handshake",
            Stage::Read => "waiting for a message",
            Stage::Write => "sending",
        })
    }
}

/// A server's refusal of the opening handshake: any status but 101 (RFC
/// 6455 section 4.1: "If the status code received from the server is not
/// 101, the client handles the response per HTTP procedures").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status, such as 403 or 503.
    pub status: u16,
    /// The reason phrase, such as `Forbidden`.
    pub reason: String,
    /// The response's header fields (`Retry-After`, `WWW-Authenticate`, ...).
    pub headers: Headers,
    /// The response head as received: status line and header fields.
    pub head: String,
}

impl From<Response> for Rejection {
    fn from(response: Response) -> Rejection {
        Rejection {
            status: response.status,
            reason: response.reason,
            headers: response.headers,
            head: response.head,
        }
    }
}

impl Rejection {
    /// The value of the header field `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.status)
        } else {
            write!(f, "{} {}", self.status, self.reason)
        }
    }
}

/// Everything that can go wrong, from parsing the URL to the last read.
#[derive(Debug)]
pub enum Error {
    /// The URL is not a usable `ws://` or `wss://` URL.
    Url(UrlError),
    /// A `wss://` URL, and this build has no TLS: turn on the crate's `tls`
    /// feature.
    TlsNotEnabled,
    /// The server's certificate did not check out (an unknown issuer, a
    /// name it is not valid for, expired, ...): the TLS handshake failed
    /// before any HTTP was sent.
    #[cfg(feature = "tls")]
    Certificate(rustls::CertificateError),
    /// The TLS session failed otherwise (no protocol version or cipher in
    /// common, a bad record, an alert from the server).
    #[cfg(feature = "tls")]
    Tls(rustls::Error),
    /// The TLS configuration cannot be used: a bad PEM file, a host that is
    /// no TLS server name.
    #[cfg(feature = "tls")]
    TlsConfig(String),
    /// An extra header or subprotocol cannot be sent as given.
    InvalidRequest {
        /// The header name or subprotocol.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The host name could not be resolved.
    Resolve {
        /// The host that was looked up.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// No address of the host accepted the TCP connection; this is the
    /// error of the last one tried (`ConnectionRefused` for a closed port).
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Why it failed.
        source: io::Error,
    },
    /// A timeout expired.
    Timeout(Stage),
    /// The server answered the upgrade request with a status other than 101.
    Rejected(Rejection),
    /// The server's 101 response broke the handshake rules (a wrong
    /// `Sec-WebSocket-Accept`, an unrequested subprotocol, ...).
    Handshake(HandshakeError),
    /// The connection failed after the handshake: a protocol violation by
    /// the server (the core has already sent the close code it implies), a
    /// message over a limit, or an I/O error such as a reset. A server that
    /// drops the connection without a close frame shows up here as an I/O
    /// error of kind `UnexpectedEof` (close code 1006).
    WebSocket(rusty_socket_core::Error),
    /// A socket operation outside reading and writing frames failed (setting
    /// options, cloning the stream for [`crate::Client::split`]).
    Io(io::Error),
    /// Misuse: something was to be sent after a close frame was sent or
    /// received, or after the connection failed. (The clean end of reading
    /// is not an error: `read` returns `Ok(None)`.)
    AlreadyClosed,
    /// Misuse: a frame that RFC 6455 forbids was to be sent (a ping over 125
    /// bytes, a close code that may not be sent, ...). Nothing was sent.
    Send(SendError),
}

impl Error {
    /// The HTTP status of a refused handshake.
    pub fn status(&self) -> Option<u16> {
        self.rejection().map(|r| r.status)
    }

    /// The refused handshake's response, if that is what happened.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// The close code the server was sent when this error failed the
    /// connection: 1002, 1007 or 1009 for a protocol, UTF-8 or size
    /// violation by the server.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::WebSocket(e) => e.close_code(),
            _ => None,
        }
    }

    /// Whether a timeout expired.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Converts a core error met during `stage`: a timed-out read or write
    /// becomes [`Error::Timeout`], misuse [`Error::AlreadyClosed`] or
    /// [`Error::Send`], a refused upgrade [`Error::Rejected`].
    pub(crate) fn from_core(error: rusty_socket_core::Error, stage: Stage) -> Error {
        use rusty_socket_core::Error as Core;
        match error {
            Core::AlreadyClosed => Error::AlreadyClosed,
            Core::Send(error) => Error::Send(error),
            Core::Handshake(HandshakeError::Rejected(response)) => {
                Error::Rejected(Rejection::from(*response))
            }
            Core::Handshake(error) => Error::Handshake(error),
            Core::Io(error) if is_timeout(&error) => Error::Timeout(stage),
            other => Error::WebSocket(other),
        }
    }
}

/// Converts the outcome of a read. A connection reset after the closing
/// handshake (Autobahn's server aborts the TCP connection right after its
/// close) is already the clean end in the core: `Ok(None)`.
pub(crate) fn map_read(
    result: rusty_socket_core::Result<Option<rusty_socket_core::Message>>,
) -> Result<Option<rusty_socket_core::Message>> {
    result.map_err(|e| Error::from_core(e, Stage::Read))
}

/// Converts an error of the TLS handshake: a timeout, a certificate that
/// does not check out, another TLS failure, or plain I/O.
#[cfg(feature = "tls")]
pub(crate) fn from_tls_io(error: io::Error) -> Error {
    if is_timeout(&error) {
        return Error::Timeout(Stage::Handshake);
    }
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(tls) = tls {
        return match tls {
            rustls::Error::InvalidCertificate(e) => Error::Certificate(e.clone()),
            other => Error::Tls(other.clone()),
        };
    }
    Error::Io(error)
}

pub(crate) use rusty_socket_core::connection::is_timeout;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(e) => write!(f, "invalid URL: {e}"),
            Error::TlsNotEnabled => {
                f.write_str("wss:// needs TLS: build rusty_socket_client with its `tls` feature")
            }
            #[cfg(feature = "tls")]
            Error::Certificate(e) => {
                write!(f, "the server's certificate is not trusted: {e}")?;
                if matches!(e, rustls::CertificateError::UnknownIssuer) {
                    f.write_str(" (no trusted authority signed it; to trust a private CA, add it with TlsConfig::add_ca_file)")?;
                }
                Ok(())
            }
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "TLS failed: {e}"),
            #[cfg(feature = "tls")]
            Error::TlsConfig(problem) => write!(f, "cannot set up TLS: {problem}"),
            Error::InvalidRequest { name, problem } => write!(f, "cannot send {name:?}: {problem}"),
            Error::Resolve { host, source } => write!(f, "cannot resolve {host}: {source}"),
            Error::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Error::Timeout(stage) => write!(f, "timed out {stage}"),
            Error::Rejected(rejection) => {
                write!(f, "the server refused the WebSocket upgrade: {rejection}")
            }
            Error::Handshake(e) => write!(f, "opening handshake failed: {e}"),
            Error::WebSocket(e) => e.fmt(f),
            Error::Io(e) => write!(f, "I/O error: {e}"),
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
            Error::Url(e) => Some(e),
            Error::Resolve { source, .. } | Error::Connect { source, .. } | Error::Io(source) => {
                Some(source)
            }
            Error::Handshake(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            Error::WebSocket(e) => Some(e),
            Error::Send(e) => Some(e),
            _ => None,
        }
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::Url(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusty_socket_core::http::Limits;
    use rusty_socket_core::Decoded;

    #[test]
    fn a_rejection_keeps_status_reason_and_headers() {
        let head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nX-Why: busy\r\n\r\n";
        let Ok(Decoded::Complete(response, _)) = Response::parse(head, Limits::default()) else {
            panic!("a complete head");
        };
        let core =
            rusty_socket_core::Error::Handshake(HandshakeError::Rejected(Box::new(response)));
        let error = Error::from_core(core, Stage::Handshake);
        assert_eq!(error.status(), Some(503));
        let rejection = error.rejection().unwrap();
        assert_eq!(rejection.reason, "Service Unavailable");
        assert_eq!(rejection.header("retry-after"), Some("7"));
        assert_eq!(rejection.header("X-WHY"), Some("busy"));
        assert_eq!(
            error.to_string(),
            "the server refused the WebSocket upgrade: 503 Service Unavailable"
        );
    }

    #[test]
    fn core_errors_map_by_kind() {
        let timeout = rusty_socket_core::Error::Io(io::ErrorKind::WouldBlock.into());
        assert!(matches!(
            Error::from_core(timeout, Stage::Read),
            Error::Timeout(Stage::Read)
        ));
        let closed = rusty_socket_core::Error::AlreadyClosed;
        assert!(matches!(
            Error::from_core(closed, Stage::Write),
            Error::AlreadyClosed
        ));
        let refused = rusty_socket_core::Error::Send(SendError::ControlFrameTooLong(126));
        assert!(matches!(
            Error::from_core(refused, Stage::Write),
            Error::Send(SendError::ControlFrameTooLong(126))
        ));
        let utf8 = Error::from_core(rusty_socket_core::Error::Utf8, Stage::Read);
        assert!(matches!(utf8, Error::WebSocket(_)));
        assert_eq!(utf8.close_code(), Some(CloseCode::INVALID_PAYLOAD));
    }
}
