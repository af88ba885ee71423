//! Opening a connection: resolve, connect, handshake (RFC 6455 section 4.1),
//! with the knobs of [`ClientBuilder`].
//!
//! ```text
//! Url::parse ─> resolve (ToSocketAddrs) ─> TcpStream::connect_timeout,
//!               each address in turn         set_nodelay(true)
//!          ─> wss://: the TLS handshake (feature `tls`) ┐ under one
//!          ─> rusty_socket_core::connect               ┘ deadline ─> Client
//! ```

use crate::client::Client;
use crate::error::{is_timeout, Error, Result, Stage};
use crate::stream::Stream;
use crate::url::Url;
use rusty_socket_core::handshake::{self, ClientRequest};
use rusty_socket_core::http::is_token;
use rusty_socket_core::Config;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Header fields the handshake writes itself; setting them again would send
/// them twice.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
];

/// Connection options. [`ClientBuilder::new`] gives the defaults:
///
/// - connect timeout 10 s per address, handshake timeout 10 s;
/// - no extra headers, no subprotocols;
/// - the core's [`Config::default`] (16 MiB frames and messages).
///
/// ```no_run
/// use rusty_socket_client::ClientBuilder;
/// use std::time::Duration;
/// let client = ClientBuilder::new()
///     .connect_timeout(Some(Duration::from_secs(2)))
///     .header("Origin", "http://example.com")
///     .protocol("chat")
///     .connect("ws://127.0.0.1:8080/")?;
/// println!("server picked {:?}", client.protocol());
/// # Ok::<(), rusty_socket_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    connect_timeout: Option<Duration>,
    handshake_timeout: Option<Duration>,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    config: Config,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// The defaults listed above.
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            connect_timeout: Some(Duration::from_secs(10)),
            handshake_timeout: Some(Duration::from_secs(10)),
            headers: Vec::new(),
            protocols: Vec::new(),
            config: Config::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// How long to wait for the TCP connection to each resolved address;
    /// `None` waits as long as the operating system does (often minutes).
    pub fn connect_timeout(mut self, limit: Option<Duration>) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// How long the whole opening handshake may take, from the first byte
    /// of the TLS handshake (`wss://`) or of the request to the end of the
    /// response; `None` waits forever. The socket
    /// timeouts it sets are cleared once the connection is open.
    pub fn handshake_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handshake_timeout = limit;
        self
    }

    /// Adds a header field to the upgrade request, such as `Origin`,
    /// `Authorization` or `Cookie`. Checked when connecting: the name must be
    /// an HTTP token, the value must not contain control characters, and
    /// the fields the handshake sends itself (`Host`, `Upgrade`,
    /// `Sec-WebSocket-*`, ...) are refused.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol (section 1.9), in order of preference. The one
    /// the server picks, if any, is [`Client::protocol`]; a server that picks
    /// one not offered fails the handshake.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// The core's limits and buffer sizes.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How `wss://` servers are checked (default:
    /// [`TlsConfig::webpki_roots`](crate::TlsConfig::webpki_roots)).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Trusts the CA certificates of the PEM file at `path` too, besides
    /// the Mozilla roots: for a server with a private CA.
    ///
    /// # Errors
    /// As [`TlsConfig::add_ca_file`](crate::TlsConfig::add_ca_file).
    #[cfg(feature = "tls")]
    pub fn add_ca_file(mut self, path: impl AsRef<std::path::Path>) -> Result<Self> {
        let base = self.tls.take().unwrap_or_default();
        self.tls = Some(base.add_ca_file(path)?);
        Ok(self)
    }

    /// Uses a whole rustls client configuration for `wss://`.
    #[cfg(feature = "tls")]
    pub fn rustls_config(self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls(crate::tls::TlsConfig::from_rustls(config))
    }

    /// Parses `url` and connects. See [`ClientBuilder::connect_url`].
    ///
    /// # Errors
    /// [`Error::Url`] for a bad URL, then as [`ClientBuilder::connect_url`].
    pub fn connect(&self, url: &str) -> Result<Client> {
        self.connect_url(&Url::parse(url)?)
    }

    /// Resolves the host, connects to each address in turn until one
    /// accepts, and performs the opening handshake.
    ///
    /// # Errors
    /// - [`Error::TlsNotEnabled`]: a `wss://` URL without the `tls` feature;
    /// - [`Error::InvalidRequest`]: a header or subprotocol that cannot be sent;
    /// - [`Error::Resolve`]: the host name does not resolve;
    /// - [`Error::Connect`]: no address accepted (the last address's error);
    /// - [`Error::Timeout`]: with [`Stage::Connect`] when every address timed
    ///   out, [`Stage::Handshake`] when the server did not answer in time;
    /// - `Error::Certificate`, `Error::Tls` (feature `tls`): the server's
    ///   certificate does not check out, or the TLS handshake failed;
    /// - [`Error::Rejected`]: the server answered with another status than
    ///   101 (status, reason and headers inside);
    /// - [`Error::Handshake`]: the 101 response broke the rules.
    pub fn connect_url(&self, url: &Url) -> Result<Client> {
        self.check_request()?;
        if url.is_secure() && !cfg!(feature = "tls") {
            return Err(Error::TlsNotEnabled);
        }
        let tcp = self.open_tcp(url)?;
        tcp.set_nodelay(true).map_err(Error::Io)?;
        let deadline = self.handshake_timeout.map(|limit| Instant::now() + limit);
        let stream = self.stream(tcp, url, deadline)?;
        let key = handshake::generate_key().map_err(Error::Io)?;
        let host = url.host_header();
        let request = ClientRequest {
            host: &host,
            target: url.target(),
            key: &key,
            protocols: &self.protocols,
            extra_headers: &self.headers,
            extensions: None,
        };
        let (mut ws, response, protocol) =
            rusty_socket_core::connect(stream, &request, self.config)
                .map_err(|e| Error::from_core(e, Stage::Handshake))?;
        ws.get_mut().clear_deadline().map_err(Error::Io)?;
        Ok(Client::new(ws, response, protocol, url.clone()))
    }

    /// The connection's stream: the socket, or for `wss://` the TLS session
    /// on it once its handshake is done.
    fn stream(&self, tcp: TcpStream, url: &Url, deadline: Option<Instant>) -> Result<Stream> {
        #[cfg(feature = "tls")]
        if url.is_secure() {
            let tls = match &self.tls {
                Some(tls) => tls.connect(tcp, url.host(), deadline)?,
                None => crate::tls::TlsConfig::webpki_roots().connect(tcp, url.host(), deadline)?,
            };
            return Ok(Stream::tls(tls, deadline));
        }
        let _ = url;
        Ok(Stream::new(tcp, deadline))
    }

    /// Tries each address of `url`'s host until one accepts.
    fn open_tcp(&self, url: &Url) -> Result<TcpStream> {
        let addrs = url.resolve().map_err(|source| Error::Resolve {
            host: url.host().to_owned(),
            source,
        })?;
        let mut failures = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let attempt = match self.connect_timeout {
                Some(limit) => TcpStream::connect_timeout(&addr, limit),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(tcp) => return Ok(tcp),
                Err(source) => failures.push((addr, source)),
            }
        }
        Err(connect_error(failures))
    }

    fn check_request(&self) -> Result<()> {
        for (name, value) in &self.headers {
            let problem = if !is_token(name) {
                Some("a header name must be an HTTP token")
            } else if RESERVED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                Some("the handshake sets this header itself")
            } else if value.chars().any(|c| c.is_control() && c != '\t') {
                Some("a header value must not contain control characters")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(Error::InvalidRequest {
                    name: name.clone(),
                    problem,
                });
            }
        }
        if let Some(bad) = self.protocols.iter().find(|p| !is_token(p)) {
            return Err(Error::InvalidRequest {
                name: bad.clone(),
                problem: "a subprotocol must be an HTTP token",
            });
        }
        Ok(())
    }
}

/// One error for a failed connection: a timeout if every address timed out,
/// otherwise the last address's error.
fn connect_error(failures: Vec<(SocketAddr, std::io::Error)>) -> Error {
    if failures.iter().all(|(_, e)| is_timeout(e)) {
        return Error::Timeout(Stage::Connect);
    }
    match failures.into_iter().last() {
        Some((addr, source)) => Error::Connect { addr, source },
        // `Url::resolve` never returns an empty list.
        None => Error::Timeout(Stage::Connect),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_headers_and_protocols_are_refused_before_connecting() {
        let cases = [
            ClientBuilder::new().header("Bad Name", "x"),
            ClientBuilder::new().header("X-Ok", "a\r\nInjected: yes"),
            ClientBuilder::new().header("host", "evil"),
            ClientBuilder::new().header("Sec-WebSocket-Key", "x"),
            ClientBuilder::new().protocol("two words"),
            ClientBuilder::new().protocol(""),
        ];
        for builder in cases {
            // Port 1 is never reached: the request is checked first.
            let error = builder.connect("ws://127.0.0.1:1/").unwrap_err();
            assert!(matches!(error, Error::InvalidRequest { .. }), "{error}");
        }
        assert!(ClientBuilder::new()
            .header("Authorization", "Bearer a.b\tc")
            .protocol("v1.chat")
            .check_request()
            .is_ok());
    }

    #[test]
    fn url_errors_come_first() {
        let error = ClientBuilder::new().connect("http://h/").unwrap_err();
        assert!(
            matches!(error, Error::Url(crate::UrlError::UnsupportedScheme(_))),
            "{error}"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn wss_without_the_feature_says_so_before_connecting() {
        // Port 1 is never reached.
        let error = ClientBuilder::new()
            .connect("wss://127.0.0.1:1/")
            .unwrap_err();
        assert!(matches!(error, Error::TlsNotEnabled), "{error}");
        assert!(error.to_string().contains("`tls` feature"), "{error}");
    }
}
