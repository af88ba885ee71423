//! # rusty_socket_server
//!
//! A WebSocket server (RFC 6455) on the standard library and
//! [`rusty_socket_core`]: a thread per connection, built so that no client
//! can hold up another and no peer can make the server hold unbounded
//! memory.
//!
//! ```
//! use rusty_socket_server::{ConnectionId, Handler, Message, Server, ServerConfig, ServerHandle};
//!
//! /// Every message goes to every client.
//! struct Broadcast;
//!
//! impl Handler for Broadcast {
//!     fn on_message(&self, server: &ServerHandle, _id: ConnectionId, message: Message) {
//!         let _ = server.broadcast(message);
//!     }
//! }
//!
//! // Port 0: the OS picks a free port. `run()` would serve on this thread;
//! // `spawn()` serves in the background and hands back a handle.
//! let server = Server::bind(ServerConfig::new("127.0.0.1:0"), Broadcast)?.spawn()?;
//!
//! // A client over loopback, made with the core's handshake.
//! use rusty_socket_core::connect;
//! use rusty_socket_core::handshake::{generate_key, ClientRequest};
//! let addr = server.local_addr().to_string();
//! let key = generate_key()?;
//! let request = ClientRequest { host: &addr, target: "/", key: &key, protocols: &[], extra_headers: &[], extensions: None };
//! let stream = std::net::TcpStream::connect(&addr)?;
//! let (mut client, _, _) = connect(stream, &request, rusty_socket_core::Config::default())?;
//! client.send("hello, everyone")?;
//! assert_eq!(client.read()?, Some(Message::text("hello, everyone")));
//!
//! drop(client);
//! server.shutdown(); // every client still there gets close 1001
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How a connection runs
//!
//! ```text
//!             accept loop ──spawn──> reader thread              writer pool (a few threads)
//!                                    handshake (deadline)
//!                                    read ─> Receiver ─> Handler ──> queue ─ ready list ─> write (batched)
//! ServerHandle::broadcast ─ encode once ─ Arc<Vec<u8>> ─ enqueue ──> queue of each client
//!                                     a client that stops reading ──> a slow-writer thread of its own
//! ```
//!
//! - The **reader thread** reads the request head (within
//!   [`ServerConfig::handshake_timeout`], a deadline a slow sender cannot
//!   extend), answers plain HTTP or the upgrade, then feeds the socket's
//!   bytes to the core's sans-IO [`rusty_socket_core::Receiver`] and calls
//!   the [`Handler`]. Its read timeout drives the pings and the idle
//!   timeout.
//! - The **writers** are a small pool of threads
//!   ([`ServerConfig::writer_threads`]) shared by every connection. A
//!   connection with something queued goes on their ready list once; a
//!   pool thread writes everything queued in one system call and moves on.
//!   An idle connection holds no writer thread, so a broadcast to thousands
//!   of idle clients starts no thread at all. A client that does not take
//!   its bytes within [`ServerConfig::slow_write_after`] gets a writer
//!   thread of its own while it stays slow, up to
//!   [`ServerConfig::max_slow_writers`]. The reader and the writers share
//!   one socket (`&TcpStream` reads and writes), so a connection costs one
//!   file descriptor and one thread.
//! - **Sending never blocks.** [`ServerHandle::broadcast`] encodes the frame
//!   once and pushes the same bytes to every queue, under a read lock,
//!   never writing a socket while holding it. A client whose queue
//!   is full is closed with **1008** (policy violation) and everyone else goes
//!   on.
//! - Thread stacks are small ([`ServerConfig::stack_size`], 128 KiB): a
//!   blocked thread only keeps the pages it touched, so thousands fit.
//!
//! ## Plain HTTP on the same port
//!
//! A request that does not ask for an upgrade gets the handler's route
//! ([`Handler::on_http`]), else `GET /health` (`ok`), `GET /stats` (JSON,
//! see [`Stats::to_json`]), else 404. A bad upgrade request gets the status
//! of its [`rusty_socket_core::HandshakeError`] (400, 405, 426, 431, 505);
//! past the server's capacity, 503 with `Retry-After: 5` (see below); past
//! [`ServerConfig::max_connections_per_ip`] for the client's address, 429
//! with `Retry-After: 5`. A valid upgrade request on
//! any path is a WebSocket connection, unless [`Handler::on_upgrade`]
//! refuses it with a response of its own (a 403 for a foreign `Origin`, a
//! 401 without a token, a 404 for a path it does not serve).
//!
//! ## Close codes the server sends
//!
//! | code | when |
//! |------|------|
//! | 1000-4999 | the client's own close code, echoed (section 5.5.1) |
//! | 1001 | [`ServerHandle::shutdown`]; or nothing received for [`ServerConfig::idle_timeout`] |
//! | 1002, 1007, 1009 | the client broke the protocol, sent invalid UTF-8, or exceeded a size limit |
//! | 1008 | the client's outgoing queue overflowed: it reads too slowly; or it kept sending past [`ServerConfig::message_rate`] |
//! | 1011 | a [`Handler`] callback panicked |
//!
//! ## Memory per connection, whatever the peer sends
//!
//! | what | bound | why |
//! |------|-------|-----|
//! | two thread stacks | [`ServerConfig::stack_size`] reserved each, a few pages resident | small on purpose |
//! | request head | 8 KiB + 1 KiB, for at most [`ServerConfig::handshake_timeout`] | a half-sent head is dropped at the deadline |
//! | read buffer | none while idle; [`Config::read_buffer_size`] (4 KiB), growing to [`Config::max_read_buffer`] (64 KiB) under load | freed when the connection falls silent |
//! | message being assembled | [`Config::max_message_size`] (in [`ServerConfig::websocket`]), only as bytes arrive | tiny fragments count towards it too (1009) |
//! | one frame | [`Config::max_frame_size`], checked on the header | a declared 2^40-byte frame is refused after 10 bytes (1009) |
//! | control frame | 125 bytes | section 5.5 |
//! | outgoing queue | [`ServerConfig::queue_len`] messages (32 bytes a slot, allocated up front) | full: closed with 1008 |
//! | pongs owed to a pinging client | in the same queue | a client that pings and never reads fills it: 1008 |
//! | writer batch | [`Config::write_buffer_size`] (64 KiB) + one frame; freed above 4 KiB | |
//! | permessage-deflate | nothing before the first compressed message; between messages the windows agreed (the defaults, 11 bits both ways with context takeover: 12 480 bytes); during one, the scratch of [`rusty_socket_core::deflate`]'s table | a compressed message counts against [`Config::max_message_size`] as it inflates (1009) |
//! | TLS session (feature `tls`) | the rustls session, about 6 KiB between messages; while a record is half received, its receive buffer holds up to one record (16 KiB and its overhead); the TLS handshake's stack is a short-lived thread's | the receive buffer is trimmed back before every blocking read |
//!
//! Broadcast frames are shared by all queues (one `Arc<Vec<u8>>`), so a
//! broadcast of M bytes to N clients holds M bytes, not N x M.
//!
//! ## Compression (permessage-deflate, RFC 7692)
//!
//! On by default for clients that offer it (every browser does):
//! [`Config::permessage_deflate`] in [`ServerConfig::websocket`] says what
//! the server accepts and how hard it compresses, `None` turns it off.
//! With context takeover (the default) every connection has its own
//! compressor, so a broadcast is compressed once per recipient; for
//! broadcast-heavy servers, ask every client for `server_no_context_takeover`
//! and each broadcast is compressed once for all of them, at some cost in
//! ratio:
//!
//! ```
//! use rusty_socket_core::deflate::PerMessageDeflate;
//! use rusty_socket_server::{Config, ServerConfig};
//! let mut deflate = PerMessageDeflate::default();
//! deflate.server.server_no_context_takeover = true;
//! let config = ServerConfig::new("127.0.0.1:0")
//!     .websocket(Config::default().permessage_deflate(Some(deflate)));
//! # let _ = config;
//! ```
//!
//! [`ConnectionInfo::permessage_deflate`] says what each connection agreed;
//! [`ServerHandle::send_uncompressed`] sends a secret uncompressed.
//!
//! ## TLS (`wss://`, `https://`)
//!
//! With the `tls` feature, `ServerConfig::tls` takes a `TlsConfig`
//! (a certificate chain and key as PEM, or a whole `rustls::ServerConfig`)
//! and every accepted socket speaks TLS: the handshake runs under
//! [`ServerConfig::handshake_timeout`], plain HTTP or garbage on the port
//! is dropped, and the rest (routes, limits, the handler) is unchanged.
//! The reader thread and the writers share each session through
//! [`rusty_socket_core::duplex`], whose locks are never held during socket
//! I/O; after its close frame a connection sends `close_notify`.
//!
//! ## How many connections: the capacity
//!
//! When it is bound, the server measures how many connections the machine
//! lets it hold ([`rusty_socket_core::capacity`]: the file limit, the thread
//! limits, `vm.max_map_count` at four mappings a thread, the memory
//! available) and takes the smaller of that and
//! [`ServerConfig::max_connections`]. `GET /stats` reports it
//! ([`Stats::capacity`]) with the limit that decided it. Past it, clients
//! are refused with `503 Service Unavailable` and `Retry-After: 5`; when
//! even the threads set aside for handshakes are taken, the accept loop
//! answers that 503 itself and starts no thread (on a TLS port, where
//! there is no handshake yet to carry HTTP, a TLS `internal_error` alert).
//! The server never starts a
//! thread the machine cannot give: on Linux such a thread aborts the whole
//! process inside `std`.
//!
//! ## Errors
//!
//! Problems with one connection are logged to stderr with the peer's
//! address and the reason, and end that connection only. Refusals for want
//! of capacity, and `accept` failing for want of descriptors or memory
//! (retried after a pause that grows from 10 ms to 1 s), are logged once
//! when they start and once when a connection is admitted again, with the
//! number refused.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Leaves first: each module imports only modules above it. (`handler`
// names `ServerHandle` in its callbacks' signatures, a type reference only.)
mod capacity;
mod config;
mod error;
mod handler;
mod log;
mod stats;

mod conn;
mod frames;
mod shared;
mod writer;

mod handle;
mod outbox;
mod proxy;
mod rate;
mod reader;
mod routes;
mod session;
mod socket;
#[cfg(feature = "tls")]
mod tls;

mod accept;
pub mod broker;
mod server;

#[cfg(test)]
mod testing;

pub use config::ServerConfig;
pub use error::{Error, Result};
pub use handle::ServerHandle;
pub use handler::{ConnectionId, ConnectionInfo, Ending, Handler, HttpResponse};
pub use rusty_socket_core::{CloseCode, CloseFrame, Config, Message};
pub use server::Server;
pub use stats::Stats;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
