//! Where the server reports trouble: one line on stderr per event, naming
//! the peer and the reason. Nothing here stops the server.

use std::fmt::Arguments;
use std::net::SocketAddr;

/// Logs `what` about the connection from `peer`.
pub(crate) fn peer(peer: SocketAddr, what: Arguments<'_>) {
    eprintln!("rusty_socket_server: {peer}: {what}");
}

/// Logs `what` about the server as a whole.
pub(crate) fn server(what: Arguments<'_>) {
    eprintln!("rusty_socket_server: {what}");
}
