//! [`ServerConfig`]: every limit and timeout of the server in one place,
//! each default documented with the reason for it.

use rusty_socket_core::Config;
use std::net::IpAddr;
use std::time::Duration;

/// How a [`crate::Server`] listens, what it accepts, and when it gives up on
/// a peer. Start from [`ServerConfig::default`] (or [`ServerConfig::new`]) and
/// change what you need with the builder methods, which are named after the
/// fields:
///
/// ```
/// use rusty_socket_server::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig::new("127.0.0.1:0")
///     .max_connections(100)
///     .idle_timeout(Duration::from_secs(10));
/// assert_eq!(config.max_connections, 100);
/// assert_eq!(config.queue_len, 64); // the default
/// ```
///
/// The limits on what a client may send (frame and message sizes, RFC 6455
/// section 10.4) and the buffer sizes are the core's [`Config`], embedded as
/// [`ServerConfig::websocket`], with the core's defaults:
///
/// ```
/// use rusty_socket_core::Config;
/// use rusty_socket_server::ServerConfig;
/// let config = ServerConfig::new("127.0.0.1:0").websocket(
///     Config::default()
///         .max_message_size(64 << 10)
///         .max_frame_size(64 << 10),
/// );
/// assert_eq!(config.websocket.max_message_size, 64 << 10);
/// ```
///
/// The struct is `#[non_exhaustive]`: build it with [`ServerConfig::new`]
/// or [`ServerConfig::default`] and the setters, so that a new field is not
/// a breaking change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on, as `host:port`; port 0 picks a free port
    /// (see [`crate::Server::local_addr`]).
    ///
    /// Default: `127.0.0.1:8080`, reachable from this machine only.
    pub bind_addr: String,
    /// The most WebSocket connections open at once, if the machine allows
    /// that many. A client that asks for an upgrade beyond it is answered
    /// `503 Service Unavailable` with `Retry-After: 5` before any upgrade.
    /// Clients still in their opening handshake count separately, up to
    /// [`ServerConfig::max_handshakes`].
    ///
    /// The server also measures, when it is bound, how many connections the
    /// operating system lets it hold (file, thread and mapping limits, and
    /// memory; see [`rusty_socket_core::capacity`]) and takes the smaller of
    /// the two: [`crate::Stats::capacity`] says which, and why. It never
    /// starts a thread past that, so it refuses clients instead of falling
    /// over.
    ///
    /// Default: 100 000, more than a stock Linux allows (about 15 000, bound
    /// by `vm.max_map_count`), so that the OS limits decide: raise those to
    /// hold more (the README's table says which and how far).
    pub max_connections: usize,
    /// The most sockets in their opening handshake (or a plain HTTP request)
    /// at once. Beyond it new sockets are refused with a best-effort 503 and
    /// closed at once, so a flood of sockets that never speak cannot make the
    /// server spawn threads without bound. Each is a thread the capacity
    /// counts up front (see [`crate::Stats::capacity`]), so a larger value
    /// leaves room for fewer connections.
    ///
    /// Default: 256 (with the 10 s handshake timeout, a slow client flood
    /// needs more than 25 new sockets a second to reach it).
    pub max_handshakes: usize,
    /// What each connection enforces and how it buffers, the same knobs as
    /// a core [`rusty_socket_core::WebSocket`]'s:
    /// - [`Config::max_frame_size`] and [`Config::max_message_size`]: a
    ///   frame or message over them fails the connection with 1009, checked
    ///   on the header before anything is buffered (a frame larger than the
    ///   largest message is refused too);
    /// - [`Config::read_buffer_size`] and [`Config::max_read_buffer`]: the
    ///   reader thread's buffer, allocated on the first read, growing under
    ///   load and freed when the connection falls silent;
    /// - [`Config::write_buffer_size`]: the most a writer thread gathers
    ///   into one `write`;
    /// - [`Config::permessage_deflate`]: compression, on by default (see the
    ///   crate docs' "Compression").
    ///
    /// Default: [`Config::default`], each field documented there.
    pub websocket: Config,
    /// The time a client has to send its whole request head (and with
    /// `ServerConfig::tls`, to finish the TLS handshake before it),
    /// counted from the moment it was accepted. A client trickling a byte at a time cannot
    /// extend it: it is a deadline, not a per-read timeout.
    ///
    /// Default: 10 s.
    pub handshake_timeout: Duration,
    /// How often the server pings a connection from which it has received
    /// nothing for that long. A browser answers pings by itself.
    ///
    /// Default: 30 s, below the 60 s after which many proxies and NAT tables
    /// drop a silent TCP connection.
    pub ping_interval: Duration,
    /// A connection from which nothing at all (not even a pong) has arrived
    /// for this long is closed with code 1001 (going away): the peer is
    /// presumed dead, which is not a policy violation on its part.
    ///
    /// Default: 75 s: two unanswered pings and a margin.
    pub idle_timeout: Duration,
    /// After the server sends a close frame, how long it waits for the
    /// peer's close frame before closing the TCP connection anyway.
    ///
    /// Default: 5 s.
    pub close_timeout: Duration,
    /// How long one write to a slow client may block (its receive window
    /// stays full because it does not read) before the connection is
    /// dropped. It applies on a slow client's own writer thread (see
    /// [`ServerConfig::slow_write_after`]).
    ///
    /// Default: 30 s.
    pub write_timeout: Duration,
    /// The writer threads that send every connection's queue: a connection
    /// with nothing to send holds none (see [`crate::ServerHandle`]'s
    /// module docs, `writer.rs`). 0 picks one per CPU, at least 2 and at
    /// most 8.
    ///
    /// Default: 0.
    pub writer_threads: usize,
    /// How long a writer of the pool waits for a client to take its bytes
    /// before that client gets a writer thread of its own, so that one
    /// client that does not read holds up no one else.
    ///
    /// Default: 20 ms.
    pub slow_write_after: Duration,
    /// Writer threads for slow clients, at most. Past it, one more client
    /// that stops reading is dropped (as a full queue closes it with 1008).
    ///
    /// Default: 64.
    pub max_slow_writers: usize,
    /// The number of outgoing messages that may wait for a client's writer.
    /// A client that falls that far behind is closed with code 1008
    /// (policy violation): it is not keeping up, and holding more for it
    /// would let one slow reader grow the server's memory without bound.
    /// The queue grows as messages wait and is freed when it is empty.
    ///
    /// Default: 64 messages (2 KiB). A reader thread's broadcasts are
    /// gathered per `read` (see [`crate::ServerHandle::broadcast`]), so a
    /// burst of messages from one client usually takes one slot.
    pub queue_len: usize,
    /// The stack reserved for each server thread (readers and writers).
    /// A blocked thread only uses the few pages it touched, whatever is
    /// reserved; a small reservation keeps thousands of threads within the
    /// address space and makes a runaway recursion fail fast. Your
    /// [`crate::Handler`] runs on the reader thread, so leave room for it.
    ///
    /// Default: 128 KiB.
    pub stack_size: usize,
    /// The subprotocols this server speaks, in order of preference (RFC 6455
    /// section 1.9). Of those a client offers in `Sec-WebSocket-Protocol`,
    /// the server picks the first one in this list and names it in its
    /// answer ([`crate::ConnectionInfo::protocol`]); with none in common it
    /// answers without one, and the client decides whether to go on.
    ///
    /// Default: none.
    pub protocols: Vec<String>,
    /// Flood control: the data messages (text or binary) a connection may
    /// send per second, on average. Each connection has a token bucket of
    /// [`ServerConfig::message_burst`] tokens refilled at this rate; a
    /// message that finds it empty is dropped, not handed to the
    /// [`crate::Handler`], and the sender gets the text message
    /// `! rate limit: message dropped` (at most once a second). A client
    /// that goes on regardless, with more than `message_burst` messages
    /// dropped within 10 s, is closed with 1008 (policy violation) and
    /// reported as [`crate::Ending::RateLimited`]. Pings, pongs and closes
    /// are not counted.
    ///
    /// Default: 0, no limit.
    pub message_rate: u32,
    /// How many messages a connection may send at once, above
    /// [`ServerConfig::message_rate`]: the size of its token bucket, which
    /// a quiet connection refills. Also the number of drops within 10 s
    /// that closes a flooding connection. 0 means the same as
    /// `message_rate` (a second's worth). Unused without a rate.
    ///
    /// Default: 0.
    pub message_burst: u32,
    /// The most WebSocket connections open at once from one client address
    /// (see [`ServerConfig::trusted_proxies`] for what that address is).
    /// An upgrade past it is answered `429 Too Many Requests` with
    /// `Retry-After: 5`, before the upgrade: one machine cannot take every
    /// slot of [`ServerConfig::max_connections`] (which answers 503).
    /// Plain HTTP requests are not counted.
    ///
    /// Default: 0, no limit.
    pub max_connections_per_ip: usize,
    /// The reverse proxies whose word the server takes for the client's
    /// address. Behind a proxy every connection comes from the proxy's
    /// address; when the TCP peer is one of these exact addresses, the
    /// client's address is read from the request's `Forwarded` header
    /// (RFC 7239, its `for=` parameters) or, without one, from
    /// `X-Forwarded-For`: the right-most address that is not itself a
    /// trusted proxy. An entry that is not an address (`unknown`, an
    /// obfuscated `_name`) stops the search there, at the last trusted
    /// hop: what lies to its left was written by someone untrusted. From
    /// any other peer the headers are ignored, since any client can send
    /// them. The result is [`crate::ConnectionInfo::client_addr`], and
    /// what [`ServerConfig::max_connections_per_ip`] counts.
    ///
    /// Default: none; the client's address is the TCP peer's.
    pub trusted_proxies: Vec<IpAddr>,
    /// TLS on every accepted socket (`wss://` and `https://`): the
    /// certificate and key ([`crate::TlsConfig`]). Feature `tls`.
    ///
    /// Default: `None`, plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind_addr: "127.0.0.1:8080".to_owned(),
            max_connections: 100_000,
            max_handshakes: 256,
            websocket: Config::default(),
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            close_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            writer_threads: 0,
            slow_write_after: Duration::from_millis(20),
            max_slow_writers: 64,
            queue_len: 64,
            stack_size: 128 << 10,
            protocols: Vec::new(),
            message_rate: 0,
            message_burst: 0,
            max_connections_per_ip: 0,
            trusted_proxies: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name;
                self
            }
        )*
    };
}

impl ServerConfig {
    /// The defaults, listening on `bind_addr`.
    pub fn new(bind_addr: impl Into<String>) -> ServerConfig {
        ServerConfig {
            bind_addr: bind_addr.into(),
            ..ServerConfig::default()
        }
    }

    /// Sets [`ServerConfig::bind_addr`] (default `127.0.0.1:8080`).
    #[must_use]
    pub fn bind_addr(mut self, bind_addr: impl Into<String>) -> Self {
        self.bind_addr = bind_addr.into();
        self
    }

    /// Replaces [`ServerConfig::protocols`] (default: none).
    #[must_use]
    pub fn protocols<P: Into<String>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a subprotocol to [`ServerConfig::protocols`], after those
    /// already there.
    #[must_use]
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    setters! {
        /// Sets [`ServerConfig::max_connections`] (default 100 000).
        max_connections: usize;
        /// Sets [`ServerConfig::max_handshakes`] (default 256).
        max_handshakes: usize;
        /// Sets [`ServerConfig::handshake_timeout`] (default 10 s).
        handshake_timeout: Duration;
        /// Sets [`ServerConfig::ping_interval`] (default 30 s).
        ping_interval: Duration;
        /// Sets [`ServerConfig::idle_timeout`] (default 75 s).
        idle_timeout: Duration;
        /// Sets [`ServerConfig::close_timeout`] (default 5 s).
        close_timeout: Duration;
        /// Sets [`ServerConfig::write_timeout`] (default 30 s).
        write_timeout: Duration;
        /// Sets [`ServerConfig::writer_threads`] (default 0: one per CPU,
        /// 2 to 8).
        writer_threads: usize;
        /// Sets [`ServerConfig::slow_write_after`] (default 20 ms).
        slow_write_after: Duration;
        /// Sets [`ServerConfig::max_slow_writers`] (default 64).
        max_slow_writers: usize;
        /// Sets [`ServerConfig::queue_len`] (default 64).
        queue_len: usize;
        /// Sets [`ServerConfig::stack_size`] (default 128 KiB).
        stack_size: usize;
        /// Sets [`ServerConfig::websocket`] (default [`Config::default`]).
        websocket: Config;
        /// Sets [`ServerConfig::message_rate`] (default 0: no limit).
        message_rate: u32;
        /// Sets [`ServerConfig::message_burst`] (default 0: the rate).
        message_burst: u32;
        /// Sets [`ServerConfig::max_connections_per_ip`] (default 0: no
        /// limit).
        max_connections_per_ip: usize;
        /// Sets [`ServerConfig::trusted_proxies`] (default: none).
        trusted_proxies: Vec<IpAddr>;
    }

    /// Sets [`ServerConfig::tls`] (default `None`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: Option<crate::TlsConfig>) -> Self {
        self.tls = tls;
        self
    }

    /// Whether the port speaks TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the port speaks TLS: never without the `tls` feature.
    #[cfg(not(feature = "tls"))]
    pub(crate) fn uses_tls(&self) -> bool {
        false
    }

    /// Replaces zero durations and lengths, which would mean "block
    /// forever" to the socket API or "no room at all" to the queue, with the
    /// smallest usable values.
    pub(crate) fn sanitized(mut self) -> ServerConfig {
        let min = Duration::from_millis(1);
        for d in [
            &mut self.handshake_timeout,
            &mut self.ping_interval,
            &mut self.idle_timeout,
            &mut self.close_timeout,
            &mut self.write_timeout,
            &mut self.slow_write_after,
        ] {
            *d = (*d).max(min);
        }
        self.queue_len = self.queue_len.max(1);
        if self.writer_threads == 0 {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            self.writer_threads = cpus.clamp(2, 8);
        }
        self.max_handshakes = self.max_handshakes.max(1);
        self.stack_size = self.stack_size.max(32 << 10);
        if self.message_burst == 0 {
            self.message_burst = self.message_rate;
        }
        // No frame can be larger than the largest message.
        let ws = &mut self.websocket;
        ws.max_frame_size = ws.max_frame_size.min(ws.max_message_size);
        self
    }
}
