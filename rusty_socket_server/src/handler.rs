//! What an application plugs into the server: the [`Handler`] callbacks,
//! the [`ConnectionInfo`] they receive, and [`HttpResponse`] for plain HTTP
//! routes served on the same port.

use crate::handle::ServerHandle;
use rusty_socket_core::deflate::DeflateParams;
use rusty_socket_core::http::Request;
use rusty_socket_core::{CloseCode, CloseFrame, Message};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

/// The server's name for one WebSocket connection: unique for the life of
/// the server, never reused, counting up from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the server knows about an open connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection's id.
    pub id: ConnectionId,
    /// The address of the TCP peer: the client's, or the reverse proxy's
    /// that it connected through.
    pub peer_addr: SocketAddr,
    /// The client's address: `peer_addr`'s, unless the peer is one of
    /// [`crate::ServerConfig::trusted_proxies`] and named the client in a
    /// `Forwarded` or `X-Forwarded-For` header. What
    /// [`crate::ServerConfig::max_connections_per_ip`] counts.
    pub client_addr: IpAddr,
    /// The request target of the upgrade request, such as `/chat?room=1`.
    pub target: String,
    /// When the upgrade completed.
    pub opened_at: SystemTime,
    /// The subprotocol agreed in the handshake, if any (see
    /// [`crate::ServerConfig::protocols`]).
    pub protocol: Option<String>,
    /// The permessage-deflate parameters agreed in the handshake (RFC
    /// 7692), if the client offered it and the server accepts it (see
    /// [`rusty_socket_core::Config::permessage_deflate`]).
    pub permessage_deflate: Option<DeflateParams>,
}

/// How a connection ended, as [`Handler::on_close`] learns it.
///
/// When the server closed the connection for a reason of its own (a
/// protocol error, a timeout, a full queue, a shutdown), that reason is
/// what is reported, whatever the peer did afterwards. Otherwise it is what
/// the peer did: answer or start the closing handshake, or vanish.
///
/// The enum is `#[non_exhaustive]`: match it with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// The closing handshake took place (RFC 6455 section 7.1.2): the peer
    /// sent this close frame, first or in answer to ours (from
    /// [`ServerHandle::close`], or the 1011 that follows a panicking
    /// callback). `None` when its close frame had no status code, which
    /// section 7.1.5 reports as 1005.
    Closed(Option<CloseFrame>),
    /// The peer broke the protocol, and the server failed the connection
    /// (section 7.1.7) with this code: 1002 (protocol error), 1007 (invalid
    /// UTF-8 in a text message) or 1009 (a frame or message over the
    /// limits of [`crate::ServerConfig::websocket`]).
    ProtocolError(CloseCode),
    /// Nothing arrived for [`crate::ServerConfig::idle_timeout`] (the server
    /// closed with 1001), or the peer did not answer the server's close
    /// within [`crate::ServerConfig::close_timeout`].
    Timeout,
    /// The client read too slowly: its outgoing queue
    /// ([`crate::ServerConfig::queue_len`]) overflowed and the server closed
    /// it with 1008 (policy violation).
    QueueFull,
    /// The client sent data messages faster than
    /// [`crate::ServerConfig::message_rate`] allows, and went on after its
    /// messages were dropped: the server closed it with 1008 (policy
    /// violation).
    RateLimited,
    /// The server shut down ([`ServerHandle::shutdown`]) and closed the
    /// connection with 1001 (going away).
    Shutdown,
    /// The connection broke: the peer vanished without a close frame, or a
    /// read or write failed. Section 7.1.5 calls this 1006 (abnormal
    /// closure), a code that is never sent.
    Abnormal,
}

/// The application's side of the server. Every method has a default that
/// does nothing, so implement only what you need.
///
/// The callbacks of one connection run on that connection's reader thread,
/// one at a time and in order: `on_open`, then `on_message` for each text or
/// binary message, then `on_close` exactly once. Callbacks of different
/// connections run concurrently, hence `Sync`. A callback should not block
/// for long: while it runs, its connection's messages wait (other
/// connections are not affected). Sending never blocks: see
/// [`ServerHandle::send_to`].
///
/// A callback that panics closes its connection with code 1011 (internal
/// error); the server goes on.
///
/// ```no_run
/// use rusty_socket_server::{ConnectionId, Handler, Server, ServerConfig, ServerHandle};
/// use rusty_socket_core::Message;
///
/// /// Sends every message back to everyone.
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message(&self, server: &ServerHandle, _id: ConnectionId, message: Message) {
///         let _ = server.broadcast(message);
///     }
/// }
///
/// Server::bind(ServerConfig::new("127.0.0.1:9001"), Echo)?.run()?;
/// # Ok::<(), rusty_socket_server::Error>(())
/// ```
pub trait Handler: Send + Sync + 'static {
    /// An upgrade request that follows the RFC's rules has arrived from
    /// `peer_addr`; no answer has been sent yet. Return `Err(response)` to
    /// refuse it with that HTTP response instead of `101 Switching
    /// Protocols`: for example `403` for a page on an `Origin` you do not
    /// serve (a browser sends the page's origin, and RFC 6455 section 10.2
    /// leaves it to the server to check it), `401` without a valid token, or
    /// `404` for a path with no WebSocket behind it. The default accepts
    /// every request.
    ///
    /// ```
    /// use rusty_socket_core::http::Request;
    /// use rusty_socket_server::{Handler, HttpResponse};
    /// use std::net::SocketAddr;
    ///
    /// /// Only pages served from our own site may connect.
    /// struct SameSite;
    ///
    /// impl Handler for SameSite {
    ///     fn on_upgrade(&self, request: &Request, _peer: SocketAddr) -> Result<(), HttpResponse> {
    ///         match request.headers.get("origin") {
    ///             // Clients that are not browsers send no Origin.
    ///             None | Some("https://chat.example") => Ok(()),
    ///             Some(_) => Err(HttpResponse::text(403, "origin not allowed\n")),
    ///         }
    ///     }
    /// }
    /// ```
    fn on_upgrade(&self, request: &Request, peer_addr: SocketAddr) -> Result<(), HttpResponse> {
        let _ = (request, peer_addr);
        Ok(())
    }

    /// A client completed the opening handshake. It is already registered:
    /// messages sent to it from here are delivered after the handshake.
    fn on_open(&self, server: &ServerHandle, connection: &ConnectionInfo) {
        let _ = (server, connection);
    }

    /// A complete text or binary message arrived. Pings are answered by the
    /// server and are not reported here.
    fn on_message(&self, server: &ServerHandle, id: ConnectionId, message: Message) {
        let _ = (server, id, message);
    }

    /// The connection is over and no longer registered; `ending` says how
    /// it ended: a closing handshake, a protocol error, a timeout, a full
    /// queue, a flood, a shutdown, or a broken connection.
    fn on_close(&self, server: &ServerHandle, id: ConnectionId, ending: Ending) {
        let _ = (server, id, ending);
    }

    /// A plain HTTP request (one that does not ask for an upgrade). Return
    /// `Some` to answer it; `None` falls through to the built-in routes
    /// (`GET /health`, `GET /stats`) and then to `404 Not Found`.
    fn on_http(&self, request: &Request) -> Option<HttpResponse> {
        let _ = request;
        None
    }
}

/// An answer to a plain HTTP request. The server adds `Content-Length` and
/// `Connection: close` (one request per TCP connection).
///
/// ```
/// use rusty_socket_server::HttpResponse;
/// let page = HttpResponse::html("<h1>hi</h1>");
/// assert_eq!(page.status, 200);
/// assert!(String::from_utf8(page.encode()).unwrap().ends_with("\r\n\r\n<h1>hi</h1>"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code, such as 200.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// More header fields.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status`, `content_type` and `body`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(status, "text/plain; charset=utf-8", body)
    }

    /// A `200 OK` HTML page.
    pub fn html(body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(200, "text/html; charset=utf-8", body)
    }

    /// A `200 OK` JSON document.
    pub fn json(body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(200, "application/json", body)
    }

    /// Adds a header field.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The response as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            rusty_socket_core::handshake::reason_phrase(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}
