//! # rusty_socket_client
//!
//! A blocking WebSocket client (RFC 6455) on top of [`rusty_socket_core`],
//! with nothing else but the standard library.
//!
//! ```text
//! "ws://host:port/path?query"
//!   └─ Url::parse (section 3) ─ resolve ─ TCP connect (per-address timeout)
//!        └─ opening handshake (section 4.1, whole-handshake deadline)
//!             └─ Client ── read / send_text / send_binary / ping / close
//!                  └─ split() ─ ClientReader (one thread)
//!                               ClientWriter (Clone + Send, any thread)
//! ```
//!
//! - [`url`]: the `ws://` and `wss://` URL parser.
//! - `tls` (feature `tls`, off by default): `wss://` through rustls, with
//!   the Mozilla roots of `webpki-roots` and any private CA you add
//!   (`TlsConfig`, `ClientBuilder::add_ca_file`); certificate errors are
//!   their own `Error::Certificate`, reported before any HTTP is sent.
//! - [`ClientBuilder`]: connect and handshake timeouts, extra request
//!   headers, subprotocols, the core's [`Config`].
//! - [`Client`]: one connection on one thread. Reading answers pings and
//!   closes by itself; a close from the server is a [`Message::Close`],
//!   followed by `Ok(None)`, the clean end.
//! - [`ClientReader`] / [`ClientWriter`]: the same connection on two
//!   threads, sharing its closing state; the writer can end a connection
//!   whose server never answers its close.
//! - [`Error`]: one error type; a refused upgrade keeps the server's status
//!   and headers ([`Rejection`]).
//!
//! ```
//! # // An echo server on loopback, made with the core, for the example to talk to.
//! # use rusty_socket_core::Config;
//! # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let url = format!("ws://{}/", listener.local_addr()?);
//! # std::thread::spawn(move || -> rusty_socket_core::Result<()> {
//! #     let mut ws = rusty_socket_core::accept(listener.accept()?.0, Config::default(), |_, _| None)?;
//! #     while let Some(message) = ws.read()? {
//! #         if message.is_data() { ws.write(message)?; }
//! #     }
//! #     Ok(())
//! # });
//! use rusty_socket_client::{Client, Message};
//! let mut client = Client::connect(&url)?; // url = "ws://127.0.0.1:PORT/", an echo server
//! client.send_text("hello")?;
//! assert_eq!(client.read()?, Some(Message::text("hello")));
//! client.close(1000, "bye")?;
//! // Messages already on their way, the server's close, then the clean end.
//! while let Some(message) = client.read()? {
//!     if let Message::Close(frame) = message {
//!         println!("server closed: {frame:?}");
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod client;
pub mod error;
mod split;
mod stream;
#[cfg(feature = "tls")]
pub mod tls;
pub mod url;

pub use builder::ClientBuilder;
pub use client::Client;
pub use error::{Error, Rejection, Result, Stage};
pub use rusty_socket_core::{CloseCode, CloseFrame, Config, Message};
pub use split::{ClientReader, ClientWriter};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use url::{Url, UrlError};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn halves_can_move_to_threads() {
        assert_send::<Client>();
        assert_send::<ClientReader>();
        assert_send_sync_clone::<ClientWriter>();
        assert_send::<Error>();
    }
}
