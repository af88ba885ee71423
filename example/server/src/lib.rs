//! # chat_server
//!
//! A chat on [`rusty_socket_server`], in rooms, with a few commands. The
//! binary (`cargo run` in `example/server`) serves it on `127.0.0.1:8080`,
//! along with a web page at `/`; this library is the same server for tests
//! and embedding.
//!
//! ## The protocol (text messages)
//!
//! | client sends       | who gets what                                         |
//! |--------------------|-------------------------------------------------------|
//! | (connects)         | it: `* welcome, NAME! type /help for commands`, then the lobby's history; the lobby: `* NAME joined` |
//! | `text`             | its room, sender included: `NAME: text`               |
//! | `/nick NEW`        | everyone: `* OLD is now NEW`                          |
//! | `/join ROOM`       | the old room: `* NAME left for #ROOM`; the new one: `* NAME joined`; it: `* you are now in #ROOM (N here)`, then the room's history |
//! | `/leave`           | as `/join lobby`                                      |
//! | `/rooms`           | it: `* rooms: lobby (3), rust (1)` (sorted, with member counts) |
//! | `/list`            | it: `* online in #ROOM: a, b, c` (its room, sorted)   |
//! | `/msg NAME text`   | NAME (in any room) and the sender: `[private] FROM -> NAME: text` |
//! | `/help`            | it: `* commands: /nick NAME, /join ROOM, /leave, /rooms, /list, /msg NAME text, /help` |
//! | `/foo`             | it: `! unknown command /foo (try /help)`              |
//! | (disconnects)      | its room: `* NAME left`, plus ` (timed out)`, ` (too slow to keep up)`, ` (flooding)` or ` (protocol error, CODE)` when the server closed it |
//!
//! Names are 1 to 24 letters, digits, `-` or `_`, unique; a newcomer is
//! `guest-N`, N being its connection id. Rooms are 1 to 32 of the same
//! characters (a leading `#` is dropped); `/join` creates a room, and a
//! room other than [`LOBBY`] goes when its last member leaves. Notices
//! start with `* `, errors with `! `. A chat message may be up to
//! [`MAX_CHAT_MESSAGE`] bytes.
//!
//! ## History
//!
//! Whoever enters a room (the lobby when it connects) gets its last chat
//! lines (not notices), [`DEFAULT_HISTORY`] by default, between a header
//! and a footer:
//!
//! ```text
//! --- history of #lobby (2 messages) ---
//! alice: hi
//! bob: hello
//! --- end of history ---
//! ```
//!
//! Nothing is sent for a room without history. [`HistoryLimits`] bounds
//! the memory: lines and bytes per room, and the number of rooms keeping
//! a history at once (the one that spoke least recently loses its own
//! first).
//!
//! ## Flood control
//!
//! The chat turns on the server's flood control ([`config`]): a client may
//! send [`DEFAULT_RATE`] messages a second, in bursts of up to
//! [`DEFAULT_BURST`]; past that its messages are dropped with a
//! `! rate limit: message dropped` notice, and a client that keeps going
//! is closed with 1008 (the room sees ` (flooding)`). One address may hold
//! [`DEFAULT_MAX_PER_IP`] connections; the next is answered `429 Too Many
//! Requests`. The binary's `--rate`, `--burst` and `--max-per-ip` change
//! them.
//!
//! ## Several nodes
//!
//! [`Chat::clustered`] makes the chat one node of several that share a
//! [`rusty_socket_server::broker::Broker`] (the binary's `--redis URL
//! --node NAME`): chat lines, notices, `/msg`, `/list`, `/rooms`, unique
//! names and history cross nodes, and a broker outage leaves each node
//! serving its own users. [`cluster`] has the protocol between nodes. The
//! binary stops gracefully on SIGTERM or SIGINT ([`Chat::stop`], then
//! close 1001). A clustered chat's `/health` adds `broker: up` or `down`,
//! and its `/stats` a `broker` object (state, node, peers, published,
//! received, dropped, reconnects).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod chat;
pub mod cluster;

pub use chat::{
    Chat, HistoryLimits, DEFAULT_HISTORY, DEFAULT_HISTORY_BYTES, DEFAULT_HISTORY_ROOMS,
    HISTORY_END, LOBBY, MAX_CHAT_MESSAGE, MAX_NAME_LEN, MAX_ROOM_LEN,
};

use rusty_socket_core::deflate::PerMessageDeflate;
use rusty_socket_server::{Config, Result, Server, ServerConfig, ServerHandle};

/// The chat page served at `/`: one self-contained HTML file.
pub const INDEX_HTML: &str = include_str!("../static/index.html");

/// The address the binary listens on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The messages a second a chat client may send, on average: far above
/// anyone typing, and a paste of a few lines goes through within the burst.
pub const DEFAULT_RATE: u32 = 20;

/// The messages a chat client may send at once, above [`DEFAULT_RATE`].
pub const DEFAULT_BURST: u32 = 40;

/// The chat connections one address may hold: a household or an office
/// behind one NAT, with a few tabs each, but not a script taking every
/// slot.
pub const DEFAULT_MAX_PER_IP: usize = 20;

/// The server configuration of the chat on `addr`: the defaults, with the
/// largest WebSocket message at 64 KiB, and flood control on
/// ([`DEFAULT_RATE`], [`DEFAULT_BURST`], [`DEFAULT_MAX_PER_IP`]; change
/// them with the setters). Messages over [`MAX_CHAT_MESSAGE`] but within
/// 64 KiB get a `! message too long` reply; anything larger fails the
/// connection with close code 1009 before it is buffered.
///
/// ```
/// let config = chat_server::config("127.0.0.1:0").max_connections_per_ip(100);
/// assert_eq!(config.message_rate, chat_server::DEFAULT_RATE);
/// ```
pub fn config(addr: &str) -> ServerConfig {
    ServerConfig::new(addr)
        .websocket(
            Config::default()
                .max_message_size(64 << 10)
                .max_frame_size(64 << 10),
        )
        .message_rate(DEFAULT_RATE)
        .message_burst(DEFAULT_BURST)
        .max_connections_per_ip(DEFAULT_MAX_PER_IP)
}

/// How the chat uses permessage-deflate (RFC 7692) with clients that offer
/// it (every browser does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deflate {
    /// Each connection keeps its compression context: chat lines refer
    /// back to earlier ones, the best ratio; each broadcast is compressed
    /// once per recipient.
    On,
    /// The server asks for `server_no_context_takeover`: each broadcast is
    /// compressed once and the same bytes go to everyone.
    Shared,
    /// Never compressed.
    Off,
}

/// `config` with permessage-deflate as `mode` says.
pub fn with_deflate(config: ServerConfig, mode: Deflate) -> ServerConfig {
    let websocket = config.websocket;
    let deflate = match mode {
        Deflate::On => Some(PerMessageDeflate::default()),
        Deflate::Shared => {
            let mut deflate = PerMessageDeflate::default();
            deflate.server.server_no_context_takeover = true;
            Some(deflate)
        }
        Deflate::Off => None,
    };
    config.websocket(websocket.permessage_deflate(deflate))
}

/// Binds the chat on `addr` (port 0 picks a free port), with [`config`].
///
/// # Errors
/// If the address cannot be bound.
pub fn bind(addr: &str) -> Result<Server> {
    bind_with(config(addr))
}

/// Binds the chat with `config`, such as [`config`] with other limits.
///
/// # Errors
/// If the address cannot be bound.
pub fn bind_with(config: ServerConfig) -> Result<Server> {
    bind_chat(config, Chat::new())
}

/// Binds `chat`, such as [`Chat::with_history`], with `config`.
///
/// ```
/// use chat_server::{Chat, HistoryLimits};
/// let limits = HistoryLimits { lines: 10, ..HistoryLimits::default() };
/// let server = chat_server::bind_chat(chat_server::config("127.0.0.1:0"), Chat::with_history(limits))?;
/// # drop(server);
/// # Ok::<(), rusty_socket_server::Error>(())
/// ```
///
/// # Errors
/// If the address cannot be bound.
pub fn bind_chat(config: ServerConfig, chat: Chat) -> Result<Server> {
    let same_chat = chat.clone();
    let server = Server::bind(config, chat)?;
    same_chat.attach(server.handle());
    Ok(server)
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
