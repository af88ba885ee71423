//! The one error type of the crate.

use crate::handler::ConnectionId;
use rusty_socket_core::CloseCode;
use std::fmt;
use std::io;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when starting a server or addressing a connection.
///
/// Problems with one peer (a bad handshake, a protocol violation, a dead
/// socket) never surface here: they end that connection, are logged to
/// stderr with the peer's address, and the server goes on.
///
/// The enum is `#[non_exhaustive]`: a match on it needs a `_` arm, so that
/// a new variant is not a breaking change.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding the listening socket, or spawning the accept thread, failed.
    Io(io::Error),
    /// No open connection has this id (it closed, or never existed).
    NotConnected(ConnectionId),
    /// The connection is closing: nothing more may be sent to it.
    Closing(ConnectionId),
    /// The connection's outgoing queue was full: the client reads too
    /// slowly. The server closes it with code 1008.
    QueueFull(ConnectionId),
    /// A ping or pong payload over 125 bytes, or a message kind that cannot
    /// be sent this way (use [`crate::ServerHandle::close`] for a close).
    InvalidMessage(&'static str),
    /// A close code that an endpoint may not send (RFC 6455 section 7.4:
    /// 1005, 1006 and 1015 only report what happened, and codes below 1000
    /// or from 1016 to 2999 are not assigned to applications); see
    /// [`CloseCode::is_sendable`].
    UnsendableCloseCode(CloseCode),
    /// The TLS certificate or key cannot be used (unreadable, bad PEM, a
    /// key that does not match the certificate).
    TlsConfig(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::NotConnected(id) => write!(f, "no open connection {id}"),
            Error::Closing(id) => write!(f, "connection {id} is closing"),
            Error::QueueFull(id) => {
                write!(
                    f,
                    "the outgoing queue of connection {id} is full; closing it (1008)"
                )
            }
            Error::InvalidMessage(why) => write!(f, "invalid message: {why}"),
            Error::TlsConfig(problem) => write!(f, "cannot set up TLS: {problem}"),
            Error::UnsendableCloseCode(code) => {
                write!(
                    f,
                    "close code {code} may not be sent (RFC 6455 section 7.4)"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
