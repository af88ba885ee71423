//! # chat_server
//!
//! A chat room on [`rusty_socket_server`]: every line a client sends goes to
//! everyone, with a few commands. The binary (`cargo run` in
//! `example/server`) serves it on `127.0.0.1:8080`, along with a web page
//! at `/`; this library is the same server for tests and embedding.
//!
//! ## The protocol (text messages)
//!
//! | client sends       | who gets what                                         |
//! |--------------------|-------------------------------------------------------|
//! | (connects)         | it: `* welcome, NAME! type /help for commands`; others: `* NAME joined` |
//! | `text`             | everyone, sender included: `NAME: text`               |
//! | `/nick NEW`        | everyone: `* OLD is now NEW`                          |
//! | `/list`            | it: `* online: a, b, c` (sorted)                      |
//! | `/msg NAME text`   | NAME and the sender: `[private] FROM -> NAME: text`   |
//! | `/help`            | it: `* commands: /nick NAME, /list, /msg NAME text, /help` |
//! | `/foo`             | it: `! unknown command /foo (try /help)`              |
//! | (disconnects)      | the rest: `* NAME left`, plus ` (timed out)`, ` (too slow to keep up)` or ` (protocol error, CODE)` when the server closed it |
//!
//! Names are 1 to 24 letters, digits, `-` or `_`, unique; a newcomer is
//! `guest-N`, N being its connection id. Notices start with `* `, errors
//! with `! `. A chat message may be up to [`MAX_CHAT_MESSAGE`] bytes.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod chat;

pub use chat::{Chat, MAX_CHAT_MESSAGE, MAX_NAME_LEN};

use rusty_socket_server::{Config, Result, Server, ServerConfig, ServerHandle};

/// The chat page served at `/`: one self-contained HTML file.
pub const INDEX_HTML: &str = include_str!("../static/index.html");

/// The address the binary listens on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The server configuration of the chat on `addr`: the defaults, with the
/// largest WebSocket message at 64 KiB. Messages over [`MAX_CHAT_MESSAGE`]
/// but within that get a `! message too long` reply; anything larger fails
/// the connection with close code 1009 before it is buffered.
pub fn config(addr: &str) -> ServerConfig {
    ServerConfig::new(addr).websocket(
        Config::default()
            .max_message_size(64 << 10)
            .max_frame_size(64 << 10),
    )
}

/// Binds the chat on `addr` (port 0 picks a free port).
///
/// # Errors
/// If the address cannot be bound.
pub fn bind(addr: &str) -> Result<Server> {
    Server::bind(config(addr), Chat::new())
}

/// Starts the chat on `addr` on a thread of its own.
///
/// ```
/// let chat = chat_server::spawn("127.0.0.1:0")?;
/// println!("chat on ws://{}/", chat.local_addr());
/// chat.shutdown();
/// # Ok::<(), rusty_socket_server::Error>(())
/// ```
///
/// # Errors
/// If the address cannot be bound.
pub fn spawn(addr: &str) -> Result<ServerHandle> {
    bind(addr)?.spawn()
}

/// The examples of the repository's README, compiled by `cargo test` so that
/// they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
